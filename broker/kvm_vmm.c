/*
 * broker/kvm_vmm.c - the kvm backend's VMM process (see backend_kvm.c for
 * the whole picture, kvm_vmm.h for its interface).
 */
#include "broker/kvm_vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/jail/jail.h"
#include "vmm/net/tap.h"
#include "vmm/registry.h"
#include "vmm/virtio/vsock.h"

#define KVM_READY_TIMEOUT_MS    30000
#define KVM_SHUTDOWN_TIMEOUT_MS 5000
#define KVM_DISK_BUSY_WAIT_MS   5000

static void __attribute__((noreturn))
vmm_exit(struct fork_vm *f, const struct kvm_vmm_args *vm, int code)
{
    fork_vm_destroy(f);
    registry_remove(vm->dir);
    _exit(code);
}

static void identity_for(struct fork_identity *id, const struct user_record *rec)
{
    memset(id, 0, sizeof(*id));
    snprintf(id->user, sizeof(id->user), "%s", rec->name);
    id->uid = rec->uid;
    id->gid = rec->gid;
    snprintf(id->shell, sizeof(id->shell), "%s", rec->shell);
    snprintf(id->home, sizeof(id->home), "/home/%s", rec->name);
    snprintf(id->hostname, sizeof(id->hostname), "burrow-%s", rec->name);
}

/* The VM's TAP ([net] enabled): kept open here, each fork attempt gets a dup. */
static int vm_tap = -1;
static struct fork_net vm_net;

static int open_net(const struct kvm_vmm_args *vm)
{
    char why[300];
    int r = tap_create(vm->net_tap, vm->net_bridge, &vm_tap, why, sizeof(why));
    if (r) {
        log_error("vm %s: %s", vm->id, why);
        return r;
    }
    memcpy(vm_net.mac, vm->net.mac, sizeof(vm_net.mac));
    vm_net.rate = vm->net_rate;
    return 0;
}

/* Map and restore; a home disk still locked by a VM that just ended gets a moment. */
static int create_with_disk(struct fork_vm *f, struct fork_config *fc,
                            const struct kvm_vmm_args *vm)
{
    char why[512] = "";
    int r = BURROW_ERR_BUSY;
    for (int waited = 0; r == BURROW_ERR_BUSY && waited <= KVM_DISK_BUSY_WAIT_MS; waited += 100) {
        if (waited)
            usleep(100 * 1000);
        why[0] = 0;
        if (fc->net) /* fork_vm_create owns (and on failure closes) the fd it gets */
            vm_net.tap_fd = fcntl(vm_tap, F_DUPFD_CLOEXEC, 3);
        r = fork_vm_create(f, fc, why, sizeof(why));
        if (r == BURROW_ERR_BUSY)
            fork_vm_destroy(f);
    }
    if (r)
        log_error("vm %s: cannot fork %s: %s", vm->id, fc->build_dir,
                  why[0] ? why : burrow_strerror(r));
    return r;
}

/*
 * Session connections (vsock minus the agent's control connection) in
 * dir/conns, for the master's idle decision (vm_backend_ops.active): a
 * restarted master does not count sessions that outlived it.
 */
static void write_conns(struct fork_vm *f, int fd, unsigned *last)
{
    unsigned n = virtio_vsock_nr_conns(f->m.devices.vsock);
    pthread_mutex_lock(&f->cp.lock);
    if (f->cp.fd >= 0 && n > 0)
        n--;
    pthread_mutex_unlock(&f->cp.lock);
    if (n == *last || fd < 0)
        return;
    /* Fixed width, one pwrite: a reader never sees a half-written count. */
    char line[16];
    int len = snprintf(line, sizeof(line), "%10u\n", n);
    if (pwrite(fd, line, (size_t)len, 0) == len)
        *last = n;
}

/* dir/conns, opened before the jail (the jailed VMM cannot create files there). */
static int open_conns(const struct kvm_vmm_args *vm)
{
    char path[sizeof(vm->dir) + 16];
    snprintf(path, sizeof(path), "%s/conns", vm->dir);
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/*
 * The VMM jail (vmm/jail/jail.h) once the VM, its memory, disk and sockets
 * exist and before guest code runs. run_dir/vm/<id>/ stays visible at the
 * same path; it becomes root:<vm gid> 0711: the VM's uid and her session
 * uid may traverse it (to vsock.sock), neither may rewrite meta.
 */
static int vmm_jail(struct fork_vm *f, const struct kvm_vmm_args *vm)
{
    char why[400];
    enum sc_mode mode = vm->seccomp_log ? SC_MODE_LOG : SC_MODE_ENFORCE;
    int r = jail_enter_vm(vm->dir, vm->id, f->m.vm->ram_size, f->m.vm->nr_vcpus,
                          fork_vm_file_size_limit(f), mode, why, sizeof(why));
    if (r)
        log_error("vm %s: %s", vm->id, why);
    return r;
}

/* SIGTERM: the agent syncs and unmounts the home disk, then the VM stops. */
static void graceful_stop(struct fork_vm *f, const struct kvm_vmm_args *vm)
{
    int32_t code = 0;
    char text[128] = "";
    int r = control_port_shutdown(&f->cp, KVM_SHUTDOWN_TIMEOUT_MS, &code, text, sizeof(text));
    if (r)
        log_warn("vm %s: the agent did not answer SHUTDOWN (%s); stopping anyway", vm->id,
                 burrow_strerror(r));
    else if (code)
        log_warn("vm %s: agent shutdown: %s (%s)", vm->id, burrow_strerror(code), text);
    else
        log_info("vm %s: agent synced and unmounted the home disk%s%s", vm->id, text[0] ? ": " : "",
                 text);
    vm_request_stop(f->m.vm, VM_STOP_HOST, 0, "stopped by burrowd");
}

void kvm_vmm_main(const struct kvm_vmm_args *vm)
{
    const struct user_record *rec = &vm->rec;
    static struct fork_vm f;
    static struct fork_config fc; /* f.cp points at fc.id: it must outlive the VM */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Exactly these blocked (the master's mask is not ours), before any thread exists. */
    sigprocmask(SIG_SETMASK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    prctl(PR_SET_NAME, "burrow-vmm", 0, 0, 0);
    if (chdir("/") != 0)
        _exit(2);
    struct vm_record reg;
    memset(&reg, 0, sizeof(reg));
    memcpy(reg.id, vm->id, sizeof(reg.id) - 1);
    snprintf(reg.dir, sizeof(reg.dir), "%s", vm->dir);
    snprintf(reg.user, sizeof(reg.user), "%s", rec->name);
    snprintf(reg.template_name, sizeof(reg.template_name), "%.63s", vm->template_name);
    snprintf(reg.build, sizeof(reg.build), "%s", vm->build);
    snprintf(reg.state, sizeof(reg.state), "running");
    reg.started = (uint64_t)time(NULL);
    /* Registered before the restore, so `template rm` never races this fork. */
    if (registry_publish(&reg) != 0) {
        log_error("vm %s: cannot write its registry entry", vm->id);
        _exit(2);
    }
    char console[sizeof(vm->dir) + 16];
    snprintf(console, sizeof(console), "%s/console.log", vm->dir);
    fc = (struct fork_config){.build_dir = vm->build_dir,
                              .vsock_uds = vm->sock,
                              .home_disk = vm->home_disk[0] ? vm->home_disk : NULL,
                              .console_fd =
                                  open(console, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)};
    identity_for(&fc.id, rec);
    f.mem_fd = -1;
    if (vm->net_enabled) {
        if (open_net(vm) != 0)
            vmm_exit(&f, vm, 3);
        fc.net = &vm_net;
        fc.id.net_enabled = 1;
        fc.id.net = vm->net;
    }
    if (create_with_disk(&f, &fc, vm) != 0)
        vmm_exit(&f, vm, 3);
    if (vm_tap >= 0)
        close(vm_tap); /* the device holds its own fd */
    /* Only her session processes may connect (they run as her session uid). */
    uid_t su = vm->sock_owner;
    if (chown(vm->sock, su, su) != 0 || chmod(vm->sock, 0600) != 0) {
        log_error("vm %s: cannot hand %s to uid %u: %s", vm->id, vm->sock, (unsigned)su,
                  strerror(errno));
        vmm_exit(&f, vm, 4);
    }
    int conns_fd = open_conns(vm);
    if (vmm_jail(&f, vm) != 0)
        vmm_exit(&f, vm, 7);
    int r = fork_vm_start(&f);
    if (r == 0)
        r = control_port_wait_ready(&f.cp, 0, KVM_READY_TIMEOUT_MS);
    if (r) {
        log_error("vm %s: the guest did not report READY: %s", vm->id,
                  r == BURROW_ERR_CLOSED ? f.m.vm->exit.detail : burrow_strerror(r));
        vmm_exit(&f, vm, 5);
    }
    log_info("vm %s: forked from %s in %.1f ms (guest ready)", vm->id, vm->build,
             (double)(f.cp.ready_ns - f.t.start_ns) / 1e6);
    if (write(3, "R", 1) != 1)
        vmm_exit(&f, vm, 6);
    close(3);
    int planned = 0;
    unsigned conns = ~0u;
    struct timespec tick = {0, 200000000L};
    while (!f.m.vm->stopping) {
        write_conns(&f, conns_fd, &conns);
        if (sigtimedwait(&set, NULL, &tick) > 0) {
            planned = 1;
            graceful_stop(&f, vm);
        }
    }
    struct vm_exit_info info;
    vm_wait(f.m.vm, &info);
    if (!planned)
        log_warn("vm %s: the VM stopped: %s", vm->id, info.detail);
    vmm_exit(&f, vm, planned ? 0 : 1);
}

void kvm_vmm_exec(const struct kvm_vmm_args *a)
{
    static struct kvm_vmm_args copy;
    copy = *a;
    explicit_bzero(copy.rec.password_hash, sizeof(copy.rec.password_hash));
    copy.log_level = (int)log_get_level();
    int fd = memfd_create("burrow-vmm-args", 0);
    if (fd < 0 || write(fd, &copy, sizeof(copy)) != (ssize_t)sizeof(copy) ||
        lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, KVM_VMM_ARGS_FD) < 0)
        _exit(2);
    if (fd != KVM_VMM_ARGS_FD)
        close(fd);
    char *argv[] = {"burrowd", KVM_VMM_EXEC_ARG, NULL};
    execv("/proc/self/exe", argv);
    log_error("kvm: cannot re-execute burrowd for the VMM process: %s", strerror(errno));
    _exit(2);
}

/* Every string field must be NUL-terminated inside its array. */
static int args_terminated(const struct kvm_vmm_args *a)
{
    const char *fields[] = {a->id,        a->dir,       a->sock,     a->template_name, a->build,
                            a->build_dir, a->home_disk, a->rec.name, a->rec.shell};
    const size_t sizes[] = {
        sizeof(a->id),       sizeof(a->dir),       sizeof(a->sock),      sizeof(a->template_name),
        sizeof(a->build),    sizeof(a->build_dir), sizeof(a->home_disk), sizeof(a->rec.name),
        sizeof(a->rec.shell)};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (!memchr(fields[i], 0, sizes[i]))
            return 0;
    return 1;
}

int kvm_vmm_exec_main(void)
{
    static struct kvm_vmm_args a;
    ssize_t n = pread(KVM_VMM_ARGS_FD, &a, sizeof(a), 0);
    close(KVM_VMM_ARGS_FD);
    if (n != (ssize_t)sizeof(a) || !args_terminated(&a) || a.log_level < LOG_LVL_ERROR ||
        a.log_level > LOG_LVL_DEBUG) {
        log_error("%s: no valid arguments on fd %d (burrowd starts VMM processes itself)",
                  KVM_VMM_EXEC_ARG, KVM_VMM_ARGS_FD);
        return 2;
    }
    log_set_level((enum log_level)a.log_level);
    kvm_vmm_main(&a);
}
