/*
 * broker/backend_kvm.c - the kvm backend of burrowd's VM manager: each
 * user's environment is a VM forked from the active build of the template
 * `[vm] template` (vmm/fork.h, docs/fork.md).
 *
 * Per VM the master forks a child that closes every inherited fd but the
 * ready pipe, calls setsid (so the VM outlives a master restart and is
 * re-adopted from run_dir/vm/<id>/) and forks the VMM process as PID 1 of a
 * new pid namespace (vmm/jail/jail.h), reports its host pid and exits; the
 * master watches the VMM through a pidfd. The VMM process:
 *   - publishes the registry entry vmmgr.c created (`meta`: its own pid and
 *     start time, user, template, build), so `burrowctl vm list|kill` see it;
 *   - maps the build copy-on-write and restores it (fork_vm_create), with her
 *     identity (name, uid, gid, shell, /home/NAME, hostname burrow-NAME) and
 *     her state_dir/users/NAME/home.img attached to the empty blk slot (OFD
 *     lock: a second VM for her is refused);
 *   - serves the host side of vsock at run_dir/vm/<id>/vsock.sock, owned by
 *     her session uid (broker/sandbox.h) and 0600, so the session process
 *     reaches it after dropping privileges and `CONNECT 1024` as with the
 *     sandbox;
 *   - writes 'R' to the master's ready pipe once the agent said READY;
 *   - on SIGTERM (idle reap, `vm kill`) sends the agent SHUTDOWN (sync and
 *     unmount the home disk), waits for its answer (bounded), stops the VM
 *     and exits 0 (the master removes the registry directory). A VM that stops on its own
 *     (power-off, reset, crash) makes the process exit 1: "died unexpectedly".
 *
 *   - enters the jail (jail_enter: cgroup, namespaces, pivot_root, its own
 *     uid, no capabilities, seccomp) before any guest code runs;
 *   - keeps dir/conns, its count of session connections, for idle decisions.
 *
 * Not done here: the warm pool; a burrowd VM is always a fresh fork.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/kvm_vmm.h"
#include "broker/netpolicy.h"
#include "broker/sandbox.h"
#include "broker/vmmgr.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/jail/jail.h"
#include "vmm/template.h"

/* [net] enabled and `burrowctl net apply`'s work done: VMs may get a TAP. */
static int net_ready;

_Static_assert(VMMGR_MAX <= NETPOLICY_PORTS_MAX, "every VM slot has a bound bridge port");

/* The VM's network from [net]: TAP bvm<slot>, address .2+slot and MAC 02:b0:<address>. */
static int kvm_prepare_net(const struct burrow_config *cfg, const struct vm *vm,
                           struct kvm_vmm_args *req)
{
    if (!cfg->net.enabled)
        return 0;
    if (!net_ready) {
        log_error("kvm: [net] enabled but the network policy is not in place; no VM starts "
                  "without it");
        return BURROW_ERR_UNSUPPORTED;
    }
    struct netpolicy np;
    netpolicy_from_config(cfg, &np);
    struct proto_net *n = &req->net;
    if (netpolicy_vm_addr(&np, vm->slot, &n->addr)) {
        log_error("kvm: [net] subnet has no address for VM slot %u", vm->slot);
        return BURROW_ERR_RANGE;
    }
    n->prefix = np.subnet.len;
    n->gateway = netpolicy_gateway(&np);
    for (unsigned i = 0; i < cfg->net.dns.n && i < PROTO_DNS_MAX; i++)
        n->dns[n->nr_dns++] = cfg->net.dns.v[i].addr;
    /* The plan's MAC for this port: the only one its bridge port passes (netpolicy.h). */
    if (netpolicy_vm_mac(&np, vm->slot, n->mac))
        return BURROW_ERR_RANGE;
    snprintf(req->net_tap, sizeof(req->net_tap), "%s%u", NETPOLICY_TAP_PREFIX, vm->slot);
    snprintf(req->net_bridge, sizeof(req->net_bridge), "%s", cfg->net.bridge);
    req->net_rate = (uint64_t)cfg->net.bandwidth_mbit * 1000000 / 8;
    req->net_enabled = 1;
    return 0;
}

/* Resolve the build and the disk in the master: errors show up at once. */
static int kvm_prepare(const struct vmmgr *m, const struct vm *vm, const struct user_record *rec,
                       struct kvm_vmm_args *req)
{
    const struct burrow_config *cfg = m->cfg;
    char tdir[CONFIG_PATH_MAX + 16];
    struct stat st;
    memset(req, 0, sizeof(*req));
    snprintf(tdir, sizeof(tdir), "%s/templates", cfg->paths.state_dir);
    if (!template_name_ok(cfg->vm.template_name) ||
        template_active(tdir, cfg->vm.template_name, req->build, sizeof(req->build)) != 0) {
        log_error("kvm: template %s has no active build in %s (burrowctl template build)",
                  cfg->vm.template_name, tdir);
        return BURROW_ERR_NOT_FOUND;
    }
    if ((size_t)snprintf(req->build_dir, sizeof(req->build_dir), "%s/%s", tdir, req->build) >=
            sizeof(req->build_dir) ||
        (size_t)snprintf(req->home_disk, sizeof(req->home_disk), "%s/users/%s/home.img",
                         cfg->paths.state_dir, rec->name) >= sizeof(req->home_disk))
        return BURROW_ERR_TOO_LARGE;
    if (stat(req->home_disk, &st) != 0 || !S_ISREG(st.st_mode))
        req->home_disk[0] = 0; /* no home disk: the guest keeps /home/NAME in RAM */
    snprintf(req->id, sizeof(req->id), "%s", vm->id);
    snprintf(req->template_name, sizeof(req->template_name), "%s", cfg->vm.template_name);
    if ((size_t)snprintf(req->dir, sizeof(req->dir), "%s", vm->dir) >= sizeof(req->dir) ||
        (size_t)snprintf(req->sock, sizeof(req->sock), "%s", vm->sock) >= sizeof(req->sock))
        return BURROW_ERR_TOO_LARGE;
    if (sandbox_session_uid(rec->uid, &req->sock_owner) != 0) {
        log_error("kvm: %s: uid %u has no session uid", rec->name, rec->uid);
        return BURROW_ERR_RANGE;
    }
    req->seccomp_log = cfg->security.seccomp;
    req->rec = *rec;
    return kvm_prepare_net(cfg, vm, req);
}

void kvm_backend_check(const struct burrow_config *cfg)
{
    char tdir[CONFIG_PATH_MAX + 16], build[TEMPLATE_BUILD_MAX + 1];
    struct template_info *t = NULL;
    size_t n = 0;
    if (cfg->net.enabled) {
        struct netpolicy np;
        char err[512];
        netpolicy_from_config(cfg, &np);
        net_ready = netpolicy_apply(&np, err, sizeof(err)) == 0;
        if (net_ready)
            log_info("net: bridge %s, NAT and egress policy in place", np.bridge);
        else
            log_error("net: cannot set up VM networking (%s): VMs will not start", err);
    }
    snprintf(tdir, sizeof(tdir), "%s/templates", cfg->paths.state_dir);
    if (template_active(tdir, cfg->vm.template_name, build, sizeof(build)) != 0) {
        log_warn("kvm: template %s has no active build in %s: logins fail until `burrowctl "
                 "template build --name %s ...`",
                 cfg->vm.template_name, tdir, cfg->vm.template_name);
        return;
    }
    if (template_list(tdir, &t, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].build, build) == 0 &&
            (t[i].mem_mib != cfg->vm.memory_mb || t[i].vcpus != cfg->vm.vcpus))
            log_info("kvm: forks of %s get its %u MiB and %u vCPU(s) ([vm] memory_mb = %u, "
                     "vcpus = %u apply to template builds and the sandbox)",
                     build, t[i].mem_mib, t[i].vcpus, cfg->vm.memory_mb, cfg->vm.vcpus);
    free(t);
}

/* --- vm_backend_ops ------------------------------------------------------ */

/*
 * Read the VMM's host pid from the intermediate child ("P<pid>\n", written
 * before it exits): a pid namespace applies only to children, so the VMM is
 * a grandchild and the master needs its pid for the pidfd.
 */
static int read_vmm_pid(int fd, pid_t *pid)
{
    char line[32];
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < sizeof(line) && !memchr(line, '\n', got)) {
        if (poll(&p, 1, 5000) <= 0)
            return BURROW_ERR_TIMEOUT;
        ssize_t n = read(fd, line + got, 1); /* byte by byte: 'R' follows later */
        if (n <= 0)
            return BURROW_ERR_CLOSED;
        got += (size_t)n;
    }
    line[got] = 0;
    int v;
    if (sscanf(line, "P%d\n", &v) != 1 || v <= 1)
        return BURROW_ERR_PROTOCOL;
    *pid = v;
    return 0;
}

static int kvm_start(struct vmmgr *m, struct vm *vm, const struct user_record *rec)
{
    static struct kvm_vmm_args req;
    int ready[2];
    int r = kvm_prepare(m, vm, rec, &req);
    if (r)
        return r;
    if (pipe2(ready, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* Fixed fds: 0-2 (the log), 3 = ready pipe; nothing else of the master's. */
        int keep[1] = {3};
        if (dup2(ready[1], 3) < 0 || jail_close_inherited(keep, 1) != 0)
            _exit(2);
        setsid();
        pid_t g = -1;
        if (jail_pidns_fork(&g) != 0)
            _exit(2);
        if (g > 0) {
            char line[32];
            int n = snprintf(line, sizeof(line), "P%d\n", (int)g);
            _exit(write(3, line, (size_t)n) == n ? 0 : 2);
        }
        kvm_vmm_exec(&req);
    }
    close(ready[1]);
    if (pid < 0) {
        close(ready[0]);
        return BURROW_ERR_SYSTEM;
    }
    pid_t vmm = -1;
    r = read_vmm_pid(ready[0], &vmm);
    waitpid(pid, NULL, 0);
    if (r) {
        log_error("kvm: the VMM process did not start: %s", burrow_strerror(r));
        close(ready[0]);
        return r;
    }
    vm->pid = vmm;
    vm->ready_fd = ready[0];
    return 0;
}

const struct vm_backend_ops backend_kvm = {
    .name = "kvm",
    .start = kvm_start,
    .stop = vmmgr_signal_stop,
    .active = vmmgr_read_conns,
};
