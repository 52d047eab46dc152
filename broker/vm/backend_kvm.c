/*
 * broker/vm/backend_kvm.c - the kvm backend of burrowd's VM manager: each
 * user's environment is a VM forked from the active build of the template
 * `[vm] template` (vmm/fork.h, docs/fork.md), in the one VMM process that
 * `burrowctl vm fork` starts too (vmm/vmmproc.h).
 *
 * A login that needs a VM: the master forks a short-lived starter that
 * closes every inherited descriptor but the report pipe and runs
 * vmm_fork_report: it claims a pooled VM of the active build ([vm]
 * pool_size > 0; the home disk's descriptor and, with [net] enabled, the
 * TAP's go along) or, with the pool empty, starts a fresh VMM process
 * (fork, setsid, a new pid namespace, a re-exec of burrowd). The master
 * reads "PID <pid>" (it watches that process through a pidfd) and then the
 * report: OK (the guest said READY; the VM's id and run directory come with
 * it) or ERR. The VMM:
 *   - registers under run_dir/vm/<id>/ (`burrowctl vm list|kill` see it);
 *   - maps the build copy-on-write and restores it with her identity
 *     (broker/vm/vmident.h: name, uid, gid, shell, /home/NAME, burrow-NAME,
 *     allow_root) and her state_dir/users/NAME/home.img on the empty blk
 *     slot (OFD lock: a second VM for her is refused); in a cluster her
 *     disk is an NBD export instead, served as a file by a bridge the
 *     starter starts (broker/cluster/cluster.h, cluster_home_bridge), and
 *     nothing is hibernated or resumed (an image is local to one host, her
 *     next VM may start on another);
 *   - serves the host side of vsock at dir/vsock.sock, owned by her session
 *     uid (broker/users/hostuid.h) and 0600, so her session processes reach it
 *     after dropping privileges;
 *   - enters its jail before any guest code runs, keeps dir/conns;
 *   - on SIGTERM (idle reap, `vm kill`) has the agent sync and unmount the
 *     home disk, stops and exits 0; a VM that stops on its own exits 1
 *     ("died unexpectedly");
 *   - on a hibernate request (vm.idle_hibernate, `vm hibernate`;
 *     broker/vm/kvm_hibernate.c) saves itself to state_dir/users/NAME/hibernate/
 *     and exits 0; her next login resumes it instead of forking (the
 *     starter, vmm_fork_report, sees the image).
 *
 * The warm pool: the master keeps pool_size pooled VMMs of the active build
 * in the background (a tick, never on the login path), retires those of
 * another build after a template switch and the surplus after a SIGHUP that
 * lowered pool_size. Pooled VMMs are registry records like running ones, so
 * a restarted master finds them (and counts, retires or claims them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/cluster/cluster.h"
#include "broker/vm/ksm.h"
#include "broker/vm/netpolicy.h"
#include "broker/users/hostuid.h"
#include "broker/vm/vmident.h"
#include "broker/vm/vmmgr.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/jail/jail.h"
#include "vmm/pool.h"
#include "vmm/virtio/net/net.h"
#include "vmm/vmmproc.h"

#define KVM_POOL_SPAWN_MAX 8  /* pooled VMMs starting at once */
#define KVM_POOL_CHECK_S   2  /* how often the pool is looked at */
#define KVM_POOL_SPAWN_S   60 /* a pooled VMM that has not reported by then is given up */

/* [net] enabled and `burrowctl net apply`'s work done: VMs may get a TAP. */
static int net_ready;

/* The warm pool as the master sees it. */
static struct {
    char build[TEMPLATE_BUILD_MAX + 1]; /* the active build it was last filled for */
    struct {
        int fd; /* the starting pooled VMM's report pipe, -1: free */
        long since;
    } spawn[KVM_POOL_SPAWN_MAX];
    long next_check;
} pool = {.spawn = {[0 ... KVM_POOL_SPAWN_MAX - 1] = {.fd = -1}}};

/* What every VMM request of this burrowd shares: paths, the active build, the pool. */
static int kvm_request_base(const struct burrow_config *cfg, struct vmm_request *req)
{
    char tdir[CONFIG_PATH_MAX + 16];
    memset(req, 0, sizeof(*req));
    snprintf(tdir, sizeof(tdir), "%s/templates", cfg->paths.state_dir);
    if (!template_name_ok(cfg->vm.template_name) ||
        template_active(tdir, cfg->vm.template_name, req->build, sizeof(req->build)) != 0)
        return BURROW_ERR_NOT_FOUND;
    if ((size_t)snprintf(req->build_dir, sizeof(req->build_dir), "%s/%s", tdir, req->build) >=
            sizeof(req->build_dir) ||
        (size_t)snprintf(req->run_dir, sizeof(req->run_dir), "%s", cfg->paths.run_dir) >=
            sizeof(req->run_dir))
        return BURROW_ERR_TOO_LARGE;
    /* template_name_ok bounds it */
    memcpy(req->template_name, cfg->vm.template_name, strlen(cfg->vm.template_name) + 1);
    req->pool_size = cfg->vm.pool_size;
    req->seccomp_log = cfg->security.seccomp;
    req->log_level = (int)log_get_level();
    req->log_inherit = 1; /* VM lifecycle lines go where burrowd's go (the journal) */
    req->sock_owner = VMM_SOCK_ROOT;
    req->ksm = cfg->vm.ksm;
    req->idle_reclaim = cfg->vm.idle_reclaim;
    return 0;
}

_Static_assert(VMMGR_MAX <= NETPOLICY_PORTS_MAX, "every VM slot has a bound bridge port");

/* The VM's network from [net]: TAP bvm<slot>, address .2+slot and the plan's MAC. */
static int kvm_prepare_net(const struct burrow_config *cfg, const struct uservm *vm,
                           struct vmm_request *req)
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
    struct proto_net *n = &req->id.net;
    if (netpolicy_vm_addr(&np, vm->slot, &n->addr)) {
        log_error("kvm: [net] subnet has no address for VM slot %u", vm->slot);
        return BURROW_ERR_RANGE;
    }
    n->prefix = np.subnet.len;
    n->gateway = netpolicy_gateway(&np);
    for (unsigned i = 0; i < cfg->net.dns.n && i < PROTO_DNS_MAX; i++)
        n->dns[n->nr_dns++] = cfg->net.dns.v[i].addr;
    /* The plan's MAC for this port: the only one its bridge port passes (netpolicy.h). */
    if (netpolicy_vm_mac(&np, vm->slot, req->net_mac))
        return BURROW_ERR_RANGE;
    snprintf(req->net_tap, sizeof(req->net_tap), "%s%u", NETPOLICY_TAP_PREFIX, vm->slot);
    snprintf(req->net_bridge, sizeof(req->net_bridge), "%s", cfg->net.bridge);
    req->net_rate = (uint64_t)cfg->net.bandwidth_mbit * 1000000 / 8;
    req->id.net_enabled = 1;
    return 0;
}

/* Who reaches the VM's vsock socket, when the request counts from, its network. */
static int kvm_prepare_session(const struct burrow_config *cfg, const struct uservm *vm,
                               const struct user_record *rec, struct vmm_request *req)
{
    if (hostuid_session(rec->uid, &req->sock_owner) != 0) {
        log_error("kvm: %s: uid %u has no session uid", rec->name, rec->uid);
        return BURROW_ERR_RANGE;
    }
    req->request_ns = vm->request_ns;
    return kvm_prepare_net(cfg, vm, req);
}

/* Resolve the build, identity and disk in the master: errors show up at once. */
static int kvm_prepare(const struct vmmgr *m, const struct uservm *vm,
                       const struct user_record *rec, struct vmm_request *req)
{
    const struct burrow_config *cfg = m->cfg;
    int r = kvm_request_base(cfg, req);
    if (r == BURROW_ERR_NOT_FOUND)
        log_error("kvm: template %s has no active build in %s/templates (burrowctl template "
                  "build)",
                  cfg->vm.template_name, cfg->paths.state_dir);
    if (r)
        return r;
    struct stat st;
    vm_identity(cfg, rec, &req->id);
    if (cluster_enabled(cfg)) /* her NBD disk: the starter's bridge names its file */
        return kvm_prepare_session(cfg, vm, rec, req);
    if ((size_t)snprintf(req->home_disk, sizeof(req->home_disk), "%s/users/%s/home.img",
                         cfg->paths.state_dir, rec->name) >= sizeof(req->home_disk))
        return BURROW_ERR_TOO_LARGE;
    if (stat(req->home_disk, &st) != 0 || !S_ISREG(st.st_mode))
        req->home_disk[0] = 0; /* no home disk: the guest keeps /home/NAME in RAM */
    /* Her hibernated VM, if she has one, is resumed instead (vmm/hibernate.h). */
    if (vmmgr_user_dir(cfg, rec->name, req->user_dir, sizeof(req->user_dir)))
        return BURROW_ERR_TOO_LARGE;
    return kvm_prepare_session(cfg, vm, rec, req);
}

void kvm_backend_check(const struct burrow_config *cfg)
{
    char tdir[CONFIG_PATH_MAX + 16], build[TEMPLATE_BUILD_MAX + 1];
    struct template_info *t = NULL;
    size_t n = 0;
    enum ksm_outcome ksm;
    if (cfg->vm.ksm && ksm_switch_on(KSM_SYSFS, LOG_LVL_INFO, &ksm) == 0 && ksm == KSM_WAS_ON)
        log_info("ksm: on (%s/run = 1); VMs' memory is mergeable", KSM_SYSFS);
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
    log_info("kvm: warm pool of %u VM(s) of %s", cfg->vm.pool_size, build);
}

/* --- vm_backend_ops: starting a user's VM --------------------------------- */

/*
 * The starter: a child of the master with nothing of it but the report pipe
 * (fd 3), which claims or spawns (blocking there, not in the master).
 */
/*
 * Copy the VMM's report to out; a PID line first hands her disk's bridge
 * to that process, so the disk lives as long as the VMM serving it.
 */
static void relay_report(int in, int out, int owner_fd)
{
    char line[1024];
    size_t got = 0;
    pid_t pid;
    while (read(in, line + got, 1) == 1) { /* a few short lines */
        int eol = line[got++] == '\n';
        if (!eol && got < sizeof(line))
            continue;
        if (eol) {
            line[got - 1] = '\0';
            if (vmm_parse_pid(line, &pid) == 0 && cluster_home_handover(owner_fd, pid) != 0)
                log_warn("kvm: cannot hand her disk's bridge to pid %d: %s", (int)pid,
                         strerror(errno));
            line[got - 1] = '\n';
        }
        if (write(out, line, got) != (ssize_t)got)
            return;
        got = 0;
    }
    if (got && write(out, line, got) != (ssize_t)got) /* a last line without its newline */
        return;
}

/*
 * In a cluster: her home disk is the NBD export behind a bridge (docs/cluster.md),
 * whose file the VMM (or the pool claim) opens like home.img; the report
 * goes through relay_report.
 */
static int kvm_fork_on_nbd(const struct burrow_config *cfg, struct vmm_request *req, int out)
{
    int owner_fd, p[2];
    if (cluster_home_bridge(cfg, req->id.user, req->home_disk, sizeof(req->home_disk), &owner_fd) !=
        0) {
        dprintf(out, "ERR her home disk (NBD export %s) is not available\n", req->id.user);
        _exit(1); /* reported: the starter ends here */
    }
    if (pipe2(p, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    int r = vmm_fork_report(req, p[1]);
    close(p[1]);
    if (r == 0)
        relay_report(p[0], out, owner_fd);
    close(p[0]);
    close(owner_fd);
    return r;
}

static void __attribute__((noreturn))
kvm_starter(const struct burrow_config *cfg, struct vmm_request *req, int report_fd)
{
    int keep[1] = {3};
    if (dup2(report_fd, 3) < 0 || jail_close_inherited(keep, 1) != 0)
        _exit(2);
    int r = cluster_enabled(cfg) ? kvm_fork_on_nbd(cfg, req, 3) : vmm_fork_report(req, 3);
    if (r) {
        dprintf(3, "ERR cannot start the VMM process: %s\n",
                r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
        _exit(1);
    }
    _exit(0);
}

static int kvm_start(struct vmmgr *m, struct uservm *vm, const struct user_record *rec)
{
    static struct vmm_request req;
    int p[2];
    int r = kvm_prepare(m, vm, rec, &req);
    if (r)
        return r;
    if (pipe2(p, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        kvm_starter(m->cfg, &req, p[1]);
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return BURROW_ERR_SYSTEM;
    }
    vm->helper = pid;
    vm->ready_fd = p[0];
    return 0;
}

/* OK from the VMM: the VM is hers; a claimed one brings its own id and directory. */
static int kvm_started(struct vmmgr *m, struct uservm *vm, const char *line)
{
    struct vmm_report rep;
    if (vmm_parse_report(line, &rep) != 0 || (vm->pid > 1 && rep.pid != vm->pid))
        return BURROW_ERR_PROTOCOL;
    if ((size_t)snprintf(vm->dir, sizeof(vm->dir), "%s/vm/%s", m->cfg->paths.run_dir, rep.id) >=
            sizeof(vm->dir) ||
        (size_t)snprintf(vm->sock, sizeof(vm->sock), "%s/vsock.sock", vm->dir) >= sizeof(vm->sock))
        return BURROW_ERR_TOO_LARGE;
    snprintf(vm->id, sizeof(vm->id), "%s", rep.id);
    vm->fork_us = (long)(rep.restore_ns / 1000);
    vm->from_pool = rep.from_pool;
    vm->resumed = rep.resumed;
    vmm_note_report(m->cfg->paths.run_dir, &rep);
    log_debug("vm %s: %s for %s: vCPUs running %.1f ms and READY %.1f ms after the request", vm->id,
              rep.from_pool ? "claimed from the pool"
              : rep.resumed ? "resumed from her hibernated image"
                            : "forked fresh",
              vm->user, rep.restore_ns / 1e6, rep.ready_ns / 1e6);
    if (rep.from_pool)
        pool.next_check = 0; /* refill soon, in the background */
    return 0;
}

/* --- the warm pool ---------------------------------------------------------- */

static unsigned pool_inflight(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < KVM_POOL_SPAWN_MAX; i++)
        n += pool.spawn[i].fd >= 0;
    return n;
}

static void pool_spawn_done(unsigned i)
{
    close(pool.spawn[i].fd);
    pool.spawn[i].fd = -1;
}

static int pool_spawn_one(const struct vmm_request *req, long now)
{
    for (unsigned i = 0; i < KVM_POOL_SPAWN_MAX; i++) {
        if (pool.spawn[i].fd >= 0)
            continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0)
            return BURROW_ERR_SYSTEM;
        int r = vmm_spawn_pooled(req, p[1]);
        close(p[1]);
        if (r) {
            close(p[0]);
            return r;
        }
        pool.spawn[i].fd = p[0];
        pool.spawn[i].since = now;
        return 0;
    }
    return BURROW_ERR_AGAIN;
}

/* The active build's pool up to pool_size (and not beyond), other builds' retired. */
static void kvm_pool_tick(struct vmmgr *m, long now)
{
    for (unsigned i = 0; i < KVM_POOL_SPAWN_MAX; i++)
        if (pool.spawn[i].fd >= 0 && now - pool.spawn[i].since > KVM_POOL_SPAWN_S) {
            log_warn("pool: a pooled VMM did not report within %d s", KVM_POOL_SPAWN_S);
            pool_spawn_done(i);
        }
    if (now < pool.next_check)
        return;
    pool.next_check = now + KVM_POOL_CHECK_S;
    static struct vmm_request req;
    if (kvm_request_base(m->cfg, &req) != 0)
        return; /* no active build: kvm_backend_check said so */
    vm_identity_guest(m->cfg, &req.id);
    if (strcmp(req.build, pool.build) != 0) {
        if (pool.build[0])
            log_info("pool: template %s switched to %s: pooled VMs of other builds retired",
                     req.template_name, req.build);
        snprintf(pool.build, sizeof(pool.build), "%s", req.build);
    }
    pool_retire_others(req.run_dir, req.build);
    unsigned have = pool_count(req.run_dir, req.build), inflight = pool_inflight();
    if (have > req.pool_size) {
        pool_retire_extra(req.run_dir, req.build, req.pool_size);
        return;
    }
    for (unsigned n = have + inflight; n < req.pool_size; n++) {
        int r = pool_spawn_one(&req, now);
        if (r == BURROW_ERR_AGAIN)
            break;
        if (r) {
            log_warn("pool: cannot start a pooled VMM: %s",
                     r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
            break;
        }
    }
}

static unsigned kvm_pollfds(struct vmmgr *m, int *fds, unsigned max)
{
    (void)m;
    unsigned n = 0;
    for (unsigned i = 0; i < KVM_POOL_SPAWN_MAX && n < max; i++)
        if (pool.spawn[i].fd >= 0)
            fds[n++] = pool.spawn[i].fd;
    return n;
}

/* A starting pooled VMM's report: POOL (it waits now), ERR, or its end. */
static int kvm_event(struct vmmgr *m, int fd)
{
    (void)m;
    for (unsigned i = 0; i < KVM_POOL_SPAWN_MAX; i++) {
        if (pool.spawn[i].fd != fd)
            continue;
        char buf[600];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 1;
        buf[n > 0 ? n : 0] = '\0';
        char *err = strstr(buf, "ERR ");
        if (err) {
            err[strcspn(err, "\n")] = '\0';
            log_warn("pool: a pooled VMM failed: %s", err + 4);
        }
        /* PID first, then POOL or ERR: done once anything but the PID line arrived. */
        if (n <= 0 || err || strstr(buf, "POOL "))
            pool_spawn_done(i);
        return 1;
    }
    return 0;
}

const struct vm_backend_ops backend_kvm = {
    .name = "kvm",
    .own_registry = 1,
    .start = kvm_start,
    .started = kvm_started,
    .stop = vmmgr_signal_stop,
    .active = vmmgr_read_conns,
    .tick = kvm_pool_tick,
    .pollfds = kvm_pollfds,
    .event = kvm_event,
    .hibernate = kvm_hibernate,
};
