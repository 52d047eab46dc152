/* vmm/vmmproc.c - the VMM process of a forked VM (see vmmproc.h). */
#include "vmm/vmmproc.h"
#include "vmm/jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/exepath.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/hibernate.h"
#include "vmm/virtio/net/tap.h"
#include "vmm/pool.h"
#include "vmm/registry.h"
#include "vmm/virtio/net/net.h"
#include "vmm/virtio/vsock/vsock.h"
#include "vmm/vmmctl.h"

/*
 * A fork's READY: milliseconds on an idle host, seconds when forty VMs start
 * at once on two cores (over 30 s in the emulated nested L1). It bounds a
 * guest that never comes up, below the session's 120 s wait for its VM.
 */
#define READY_TIMEOUT_MS    90000
#define SHUTDOWN_TIMEOUT_MS 5000
#define DISK_BUSY_WAIT_MS   5000
/* The re-executed VMM finds its arguments and report pipe at fixed descriptors. */
#define VMM_ARGS_FD   3
#define VMM_REPORT_FD 4

/* What crosses the re-exec (a memfd): the request and whether to wait in the pool. */
struct vmm_exec_args {
    struct vmm_request req;
    int pooled;
};

static void report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int fd, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0 && fd >= 0) {
        ssize_t w = write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        (void)w;
    }
}

static void redirect(int target, const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, target);
        close(fd);
    }
}

/* ---- the VMM process ---------------------------------------------------- */

/* Everything the process holds; static: the VM's threads use it until exit. */
struct vmm_state {
    const struct vmm_request *req;
    int pooled;
    struct fork_vm f;
    struct vm_record rec;
    struct fork_config fc; /* f.cp points at fc.id: it must outlive the VM */
    struct fork_net net;
    int report_fd;
    int conns_fd;
    unsigned conns_last;
    struct vmmctl ctl; /* control.sock, the memory record, the idle policy */
    sigset_t sigs;
    struct hib_vmm hib;       /* hibernate.sock and the pagemap */
    struct hib_resume resume; /* with req->hib_image: the image being resumed */
};

/*
 * Unregister before reporting: the requester acts on the ERR at once (burrowctl
 * exits, a user retries), and a record still saying "running" would show a VM
 * that is not there (`vm list`, "user already has a VM"). detail may live in
 * the VM (its exit reason), so the line is formatted before the teardown.
 */
static void __attribute__((noreturn))
vmm_fail(struct vmm_state *s, const char *fmt, const char *detail)
{
    char line[600];
    snprintf(line, sizeof(line), fmt, detail);
    fork_vm_destroy(&s->f);
    registry_remove(s->rec.dir);
    report(s->report_fd, "%s", line);
    _exit(1);
}

/* The fresh fork's TAP, as root before the jail, and its MAC (see vmm_request). */
static int open_net(struct vmm_state *s, char *why, size_t whysz)
{
    const struct vmm_request *req = s->req;
    int r = tap_create(req->net_tap, req->net_bridge, &s->net.tap_fd, why, whysz);
    if (r)
        return r;
    memcpy(s->net.mac, req->net_mac, sizeof(s->net.mac));
    static const uint8_t zero[6];
    if (!memcmp(s->net.mac, zero, sizeof(zero))) {
        /* From the identity and this VM's id: two forks for one user still differ. */
        char seed[300];
        int n = snprintf(seed, sizeof(seed), "%s/%u/%s/%s", req->id.user, req->id.uid,
                         req->id.hostname, s->rec.id);
        virtio_net_mac_from_seed(seed, n > 0 ? (size_t)n : 0, s->net.mac);
    }
    s->net.rate = req->net_rate;
    s->fc.net = &s->net;
    return 0;
}

/* Map and restore; a home disk still locked by a VM that just ended gets a moment. */
static int create_vm(struct vmm_state *s, char *why, size_t whysz)
{
    int tap = s->fc.net ? s->net.tap_fd : -1;
    int r = BURROW_ERR_BUSY;
    for (int waited = 0; r == BURROW_ERR_BUSY && waited <= DISK_BUSY_WAIT_MS; waited += 100) {
        if (waited)
            usleep(100 * 1000);
        why[0] = '\0';
        if (tap >= 0) /* fork_vm_create owns (and on failure closes) the fd it gets */
            s->net.tap_fd = fcntl(tap, F_DUPFD_CLOEXEC, 3);
        r = fork_vm_create(&s->f, &s->fc, why, whysz);
        if (r == BURROW_ERR_BUSY)
            fork_vm_destroy(&s->f);
    }
    if (tap >= 0)
        close(tap);
    return r;
}

/* vsock.sock to the one uid that may connect (burrowd: her session uid), 0600. */
static int hand_socket(const char *path, uint32_t owner)
{
    if (owner == VMM_SOCK_ROOT)
        return 0;
    return chown(path, owner, owner) == 0 && chmod(path, 0600) == 0 ? 0 : BURROW_ERR_SYSTEM;
}

static int hand_socket_in(const char *dir, uint32_t owner)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/vsock.sock", dir);
    return hand_socket(path, owner);
}

/*
 * Session connections (vsock minus the agent's control connection) in
 * dir/conns, for idle decisions: a restarted burrowd does not count the
 * sessions that outlived it. Fixed width, one pwrite: never half a number.
 */
static void write_conns(struct vmm_state *s)
{
    struct fork_vm *f = &s->f;
    unsigned n = virtio_vsock_nr_conns(f->m.devices.vsock);
    pthread_mutex_lock(&f->cp.lock);
    if (f->cp.fd >= 0 && n > 0)
        n--;
    pthread_mutex_unlock(&f->cp.lock);
    if (n == s->conns_last || s->conns_fd < 0)
        return;
    char line[16];
    int len = snprintf(line, sizeof(line), "%10u\n", n);
    if (pwrite(s->conns_fd, line, (size_t)len, 0) == len)
        s->conns_last = n;
}

/* Apply a claim to the paused VM: clock and TSC back, the home disk and the network in. */
static int apply_claim(struct vmm_state *s, int cfd, struct pool_claim *c, char *why, size_t whysz)
{
    int disk_fd, tap_fd;
    int r = pool_read_claim(cfd, c, &disk_fd, &tap_fd);
    if (r)
        return r;
    if (!(r = fork_vm_reset_time(&s->f)) && disk_fd >= 0) {
        r = fork_vm_attach_home_fd(&s->f, disk_fd, c->home_disk, why, whysz);
        disk_fd = -1; /* taken */
    }
    if (!r && tap_fd >= 0) {
        s->net = (struct fork_net){.tap_fd = tap_fd, .rate = c->net_rate};
        memcpy(s->net.mac, c->net_mac, sizeof(s->net.mac));
        r = fork_vm_attach_net(&s->f, &s->net, &c->id, why, whysz);
        tap_fd = -1; /* taken */
    }
    if (disk_fd >= 0)
        close(disk_fd);
    if (tap_fd >= 0)
        close(tap_fd);
    /* The pool waited without a file size limit: now the one its disk sets. */
    if (!r && (r = jail_limit_file_size(fork_vm_file_size_limit(&s->f))))
        snprintf(why, whysz, "cannot limit the file size: %s", strerror(errno));
    return r;
}

/*
 * A pooled VMM waits (vCPUs not started) until claimed or told to stop.
 * Returns the claimer's fd (the report goes there) with the identity, disk
 * and network applied and *request_ns set; exits the process on SIGTERM.
 */
static int pool_wait_claim(struct vmm_state *s, int lfd, uint64_t *request_ns)
{
    int r;
    report(s->report_fd, "POOL %s %d\n", s->rec.id, (int)jail_host_pid());
    close(s->report_fd);
    s->report_fd = -1;
    struct timespec zero = {0, 0};
    for (;;) {
        if (sigtimedwait(&s->sigs, NULL, &zero) > 0) {
            close(lfd);
            fork_vm_destroy(&s->f);
            registry_remove(s->rec.dir);
            _exit(0);
        }
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        static struct pool_claim c;
        char why[512] = "";
        if ((r = apply_claim(s, cfd, &c, why, sizeof(why)))) {
            /* Still in the pool: the claimer removes its marker (we cannot, jailed). */
            report(cfd, POOL_REFUSED ": %s\n", why[0] ? why : burrow_strerror(r));
            close(cfd);
            continue;
        }
        close(lfd);
        s->fc.id = c.id;
        *request_ns = c.request_ns;
        snprintf(s->rec.user, sizeof(s->rec.user), "%s", c.id.user);
        return cfd;
    }
}

/* SIGTERM for a running VM: the agent syncs and unmounts the home disk, then it stops. */
static void graceful_stop(struct vmm_state *s, int sig)
{
    int32_t code = 0;
    char text[128] = "";
    int r = control_port_shutdown(&s->f.cp, SHUTDOWN_TIMEOUT_MS, &code, text, sizeof(text));
    if (r)
        log_warn("vm %s: the agent did not answer SHUTDOWN (%s); stopping anyway", s->rec.id,
                 burrow_strerror(r));
    else if (code)
        log_warn("vm %s: agent shutdown: %s (%s)", s->rec.id, burrow_strerror(code), text);
    else
        log_info("vm %s: agent synced and unmounted the home disk%s%s", s->rec.id,
                 text[0] ? ": " : "", text);
    vm_request_stop(s->f.m.vm, VM_STOP_HOST, 0, "signal %d", sig);
}

/* Blocked before any thread exists, so only sigtimedwait sees them. */
static void block_stop_signals(struct vmm_state *s)
{
    sigemptyset(&s->sigs);
    sigaddset(&s->sigs, SIGTERM);
    sigaddset(&s->sigs, SIGINT);
    sigaddset(&s->sigs, SIGHUP);
    sigprocmask(SIG_SETMASK, &s->sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
}

/* The registry record, logs and console: before anything can fail visibly. */
static void vmm_register(struct vmm_state *s)
{
    const struct vmm_request *req = s->req;
    int r = registry_create(req->run_dir, &s->rec);
    if (r) {
        report(s->report_fd, "ERR cannot register under %s/vm: %s\n", req->run_dir,
               r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
        _exit(1);
    }
    char path[700];
    redirect(STDIN_FILENO, "/dev/null", O_RDONLY);
    if (!req->log_inherit) {
        snprintf(path, sizeof(path), "%s/vmm.log", s->rec.dir);
        redirect(STDOUT_FILENO, path, O_WRONLY | O_CREAT | O_APPEND);
        redirect(STDERR_FILENO, path, O_WRONLY | O_CREAT | O_APPEND);
    }
    log_set_level(req->log_level > LOG_LVL_INFO ? req->log_level : LOG_LVL_INFO);
    snprintf(path, sizeof(path), "%s/console.log", s->rec.dir);
    s->fc.console_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    /* dir/conns, opened before the jail (the jailed VMM cannot create files there). */
    snprintf(path, sizeof(path), "%s/conns", s->rec.dir);
    s->conns_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    snprintf(s->rec.user, sizeof(s->rec.user), "%s", s->pooled ? "-" : req->id.user);
    snprintf(s->rec.template_name, sizeof(s->rec.template_name), "%s", req->template_name);
    snprintf(s->rec.build, sizeof(s->rec.build), "%s", req->build);
    snprintf(s->rec.state, sizeof(s->rec.state), "%s", s->pooled ? "pool" : "running");
    s->rec.started = (uint64_t)time(NULL);
    if (req->ksm_switched)
        log_info("ksm: switched on (%s was 0) for this VM: [vm] ksm = yes",
                 "/sys/kernel/mm/ksm/run");
}

/* Restore the VM as root: its memory, disk, TAP and sockets exist before the jail. */
static void vmm_restore(struct vmm_state *s)
{
    const struct vmm_request *req = s->req;
    static char vsock[700];
    char why[512] = "";
    snprintf(vsock, sizeof(vsock), "%s/vsock.sock", s->rec.dir);
    s->fc.build_dir = req->build_dir;
    s->fc.vsock_uds = vsock;
    s->fc.home_disk = !s->pooled && req->home_disk[0] ? req->home_disk : NULL;
    s->fc.id = req->id;
    s->fc.ksm = req->ksm != 0;
    s->f.mem_fd = -1;
    int r;
    if (!s->pooled && req->net_tap[0] && (r = open_net(s, why, sizeof(why)))) {
        registry_remove(s->rec.dir); /* no VM yet: nothing else to undo */
        report(s->report_fd, "ERR %s\n", why);
        _exit(1);
    }
    /* Registered before the restore, so `template rm` never races a starting fork. */
    if ((r = registry_publish(&s->rec)))
        vmm_fail(s, "ERR %s\n", burrow_strerror(r));
    if (req->hib_image[0]) {
        if ((r = hib_resume_open(&s->resume, req->hib_image, req->build, why, sizeof(why))))
            vmm_fail(s, "ERR %s\n", why);
        s->fc.resume = &s->resume;
    }
    if ((r = create_vm(s, why, sizeof(why))) ||
        (s->fc.resume && (r = hib_resume_finish(&s->resume, &s->f, why, sizeof(why)))))
        vmm_fail(s, "ERR %s\n", why[0] ? why : burrow_strerror(r));
    hib_resume_close(&s->resume);
    /* Hibernation requests come on dir/hibernate.sock (made now: the jail cannot). */
    if ((r = hib_vmm_init(&s->hib, s->rec.dir)))
        log_warn("vm %s: no hibernation for this VM: %s", s->rec.id,
                 r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
    if (!s->pooled && hand_socket(vsock, req->sock_owner))
        vmm_fail(s, "ERR cannot hand vsock.sock to its owner: %s\n", strerror(errno));
    /* Made as root like the VM's other files: the jailed VMM cannot create them. */
    if ((r = vmmctl_open(&s->ctl, s->rec.dir)))
        vmm_fail(s, "ERR cannot make the VM's control socket and memory record: %s\n",
                 r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
}

/* Saved to disk: nothing of the VM is left to run (vmm/hibernate.h). */
static void __attribute__((noreturn)) vmm_hibernated(struct vmm_state *s)
{
    log_info("vm %s: hibernated; the VMM exits", s->rec.id);
    hib_vmm_fini(&s->hib);
    fork_vm_destroy(&s->f);
    registry_remove(s->rec.dir);
    _exit(0);
}

/* Running until a signal, a hibernation or the guest stops it; the exit code says which. */
static void __attribute__((noreturn)) vmm_run(struct vmm_state *s)
{
    int planned = 0;
    struct timespec zero = {0, 0};
    struct hib_vmm_meta meta = {s->rec.id, s->rec.user, s->rec.build};
    vmmctl_start(&s->ctl, &s->f, s->req->idle_reclaim, clock_now_ns());
    while (!s->f.m.vm->stopping) {
        write_conns(s);
        vmmctl_tick(&s->ctl, clock_now_ns());
        /* The loop's tick: a request on control.sock or hibernate.sock, or 200 ms. */
        struct pollfd p[2] = {{.fd = s->ctl.listen_fd, .events = POLLIN},
                              {.fd = s->hib.listen_fd, .events = POLLIN}};
        if (poll(p, 2, 200) > 0) {
            if (p[0].revents)
                vmmctl_serve(&s->ctl, 0);
            if (p[1].revents && hib_vmm_serve(&s->hib, &s->f, &meta))
                vmm_hibernated(s);
        }
        int sig = sigtimedwait(&s->sigs, NULL, &zero);
        if (sig > 0) {
            planned = 1;
            graceful_stop(s, sig);
        }
    }
    struct vm_exit_info info;
    vm_wait(s->f.m.vm, &info);
    if (planned)
        log_info("vm %s: stopped: %s", s->rec.id, info.detail);
    else
        log_warn("vm %s: the VM stopped on its own: %s", s->rec.id, info.detail);
    fork_vm_destroy(&s->f);
    registry_remove(s->rec.dir);
    _exit(planned ? 0 : 1);
}

static void log_restore(const struct vmm_state *s)
{
    const struct fork_vm *f = &s->f;
    const struct vm_timings *vt = &f->m.vm->t;
    log_info("vm %s: running (build %s, user %s); restore: files %.2f ms, VM %.2f ms (open %.2f, "
             "create %.2f, memslots %.2f, irqchip %.2f, vCPUs %.2f), state %.2f ms",
             s->rec.id, s->rec.build, s->rec.user, (f->t.files_ns - f->t.start_ns) / 1e6,
             (f->t.machine_ns - f->t.files_ns) / 1e6, vt->open_ns / 1e6, vt->create_ns / 1e6,
             vt->memory_ns / 1e6, vt->irqchip_ns / 1e6, vt->vcpus_ns / 1e6,
             (f->t.state_ns - f->t.machine_ns) / 1e6);
}

/* The VMM process: never returns. pooled: wait to be claimed before starting. */
static void __attribute__((noreturn))
vmm_process(const struct vmm_request *req, int report_fd, int pooled)
{
    static struct vmm_state s;
    s = (struct vmm_state){.req = req, .pooled = pooled, .report_fd = report_fd, .conns_fd = -1};
    s.ctl.listen_fd = s.ctl.record_fd = -1;
    s.net.tap_fd = -1;
    s.resume.fd = s.hib.listen_fd = s.hib.pagemap_fd = -1;
    block_stop_signals(&s);
    prctl(PR_SET_NAME, "burrow-vmm", 0, 0, 0);
    if (chdir("/") < 0) {
        report(report_fd, "ERR chdir /: %s\n", strerror(errno));
        _exit(1);
    }
    /* Only fds this process opens itself may reach the jail. */
    int keep[1] = {report_fd};
    if (jail_close_inherited(keep, 1) != 0) {
        report(report_fd, "ERR close inherited fds: %s\n", strerror(errno));
        _exit(1);
    }
    vmm_register(&s);
    vmm_restore(&s);
    uint64_t request_ns = req->request_ns;
    int claim_fd = -1, r;
    char why[512] = "";
    if (pooled && (r = pool_listen(s.rec.dir, &claim_fd)))
        vmm_fail(&s, "ERR cannot listen for claims: %s\n", burrow_strerror(r));
    /*
     * Confined once the VM, its memory, disk and sockets exist, before any
     * guest code runs; a pooled VMM before it waits (its claimer passes the
     * home disk and the TAP as descriptors and rewrites its record).
     */
    enum sc_mode mode = req->seccomp_log ? SC_MODE_LOG : SC_MODE_ENFORCE;
    uint64_t fsize = pooled ? JAIL_FSIZE_UNLIMITED : fork_vm_file_size_limit(&s.f);
    if ((r = jail_enter_vm(s.rec.dir, s.rec.id, s.f.m.vm->ram_size, s.f.m.vm->nr_vcpus, fsize, mode,
                           why, sizeof(why))))
        vmm_fail(&s, "ERR %s\n", why);
    if (pooled) {
        s.report_fd = pool_wait_claim(&s, claim_fd, &request_ns);
        s.f.t.restored_ns = clock_now_ns();
    }
    if ((r = fork_vm_start(&s.f)))
        vmm_fail(&s, "ERR cannot start the VM: %s\n", burrow_strerror(r));
    r = control_port_wait_ready(&s.f.cp, 0, READY_TIMEOUT_MS);
    if (r) {
        /* The console's last line says why (it goes with the run directory). */
        char last[200] = "";
        uart_console_tail(&s.f.m.vm->console, last, sizeof(last), 1);
        last[strcspn(last, "\n")] = '\0';
        snprintf(why, sizeof(why), "%s%s%s",
                 r == BURROW_ERR_CLOSED ? s.f.m.vm->exit.detail : burrow_strerror(r),
                 last[0] ? "; console: " : "", last);
        vmm_fail(&s, "ERR the guest did not report READY: %s\n", why);
    }
    report(s.report_fd, "OK %s %d %llu %llu%s\n", s.rec.id, (int)jail_host_pid(),
           (unsigned long long)(s.f.t.restored_ns - request_ns),
           (unsigned long long)(s.f.cp.ready_ns - request_ns),
           pooled           ? " pool"
           : s.f.cp.resumed ? " resume"
                            : "");
    close(s.report_fd);
    s.report_fd = -1;
    log_restore(&s);
    vmm_run(&s);
}

/* ---- starting one: fork, pid namespace, re-exec -------------------------- */

/* In the new pid namespace's PID 1: the request into a memfd, then exec ourselves. */
static void __attribute__((noreturn))
vmm_exec(const struct vmm_request *req, int pooled, int report_fd)
{
    static struct vmm_exec_args a;
    a.req = *req;
    a.pooled = pooled;
    int fd = memfd_create("burrow-vmm-args", MFD_CLOEXEC);
    if (fd < 0 || write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a) || lseek(fd, 0, SEEK_SET) != 0) {
        report(report_fd, "ERR cannot pass the VMM its request: %s\n", strerror(errno));
        _exit(1);
    }
    /* Fixed descriptors for the new image; the kernel drops CLOEXEC on dup2's copy. */
    int rep = fcntl(report_fd, F_DUPFD_CLOEXEC, 10);
    if (rep < 0 || dup2(fd, VMM_ARGS_FD) < 0 || dup2(rep, VMM_REPORT_FD) < 0) {
        report(report_fd, "ERR cannot pass the VMM its descriptors: %s\n", strerror(errno));
        _exit(1);
    }
    /*
     * burrow-vmm links only the VMM (no libssh and its crypto and Kerberos
     * libraries, whose relocated data every VMM would hold privately); a
     * build or install without it re-executes the calling binary, which
     * serves too.
     */
    char *argv[] = {"burrow-vmm", VMM_EXEC_ARG, NULL};
    char path[PATH_MAX];
    if (exepath_beside(VMM_PROGRAM_REL, path, sizeof(path)) == 0 && access(path, X_OK) == 0)
        execv(path, argv);
    execv("/proc/self/exe", argv);
    report(VMM_REPORT_FD, "ERR cannot re-execute for the VMM process: %s\n", strerror(errno));
    _exit(1);
}

/* Every string field must end inside its array; the numbers within their ranges. */
static int args_ok(const struct vmm_exec_args *a)
{
    const struct vmm_request *r = &a->req;
    const struct fork_identity *id = &r->id;
    const char *fields[] = {r->run_dir,   r->template_name, r->build,    r->build_dir, r->home_disk,
                            r->net_tap,   r->net_bridge,    id->user,    id->shell,    id->home,
                            id->hostname, r->user_dir,      r->hib_image};
    const size_t sizes[] = {sizeof(r->run_dir),    sizeof(r->template_name), sizeof(r->build),
                            sizeof(r->build_dir),  sizeof(r->home_disk),     sizeof(r->net_tap),
                            sizeof(r->net_bridge), sizeof(id->user),         sizeof(id->shell),
                            sizeof(id->home),      sizeof(id->hostname),     sizeof(r->user_dir),
                            sizeof(r->hib_image)};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        if (!memchr(fields[i], 0, sizes[i]))
            return 0;
    return r->log_level >= LOG_LVL_ERROR && r->log_level <= LOG_LVL_DEBUG &&
           id->net.nr_dns <= PROTO_DNS_MAX && (a->pooled == 0 || a->pooled == 1) &&
           (r->log_inherit == 0 || r->log_inherit == 1) && (r->ksm == 0 || r->ksm == 1) &&
           (r->ksm_switched == 0 || r->ksm_switched == 1);
}

int vmm_exec_main(void)
{
    static struct vmm_exec_args a;
    /* One malloc arena: a thread's own arena is ~100 KiB resident per thread, per VM. */
    mallopt(M_ARENA_MAX, 1);
    ssize_t n = pread(VMM_ARGS_FD, &a, sizeof(a), 0);
    close(VMM_ARGS_FD);
    if (n != (ssize_t)sizeof(a) || !args_ok(&a)) {
        log_error("%s: no valid request on fd %d (burrowd and burrowctl start VMM processes "
                  "themselves)",
                  VMM_EXEC_ARG, VMM_ARGS_FD);
        report(VMM_REPORT_FD, "ERR the VMM process got no valid request\n");
        _exit(2);
    }
    fcntl(VMM_REPORT_FD, F_SETFD, FD_CLOEXEC);
    vmm_process(&a.req, VMM_REPORT_FD, a.pooled);
}

/*
 * Start a detached VMM process: fork, setsid, a new pid namespace whose
 * PID 1 re-executes into the VMM; the middle process writes "PID <pid>" to
 * out_fd and exits. The VMM writes its report to out_fd itself.
 */
static int vmm_spawn(const struct vmm_request *req, int pooled, int out_fd)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return BURROW_ERR_SYSTEM;
    if (pid == 0) {
        setsid();
        pid_t g = -1;
        if (jail_pidns_fork(&g) != 0) {
            report(out_fd, "ERR cannot make the VMM's pid namespace: %s\n", strerror(errno));
            _exit(1);
        }
        if (g > 0) {
            report(out_fd, "PID %d\n", (int)g);
            _exit(0);
        }
        vmm_exec(req, pooled, out_fd);
    }
    int st;
    waitpid(pid, &st, 0); /* the middle process exits at once */
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : BURROW_ERR_SYSTEM;
}

int vmm_spawn_pooled(const struct vmm_request *req, int out_fd)
{
    return vmm_spawn(req, 1, out_fd);
}

/* ---- claiming from the pool ------------------------------------------------ */

/* The TAP of a claim, created here as root (the pooled VMM is jailed). */
static int claim_tap(const struct vmm_request *req, int *tap_fd)
{
    char why[300];
    int r = tap_create(req->net_tap, req->net_bridge, tap_fd, why, sizeof(why));
    if (r)
        log_warn("pool: %s", why);
    return r;
}

/*
 * Claim a pooled VM for req: 0 with its report written to out_fd (after a
 * "PID" line), BURROW_ERR_NOT_FOUND when none is free (nothing written).
 */
static int vmm_claim(const struct vmm_request *req, int out_fd)
{
    struct pool_claim c = {.request_ns = req->request_ns, .id = req->id, .net_rate = req->net_rate};
    size_t disk_len = strlen(req->home_disk);
    /* A disk path the claim line cannot carry goes to a fresh VMM instead. */
    if (disk_len >= sizeof(c.home_disk))
        return BURROW_ERR_NOT_FOUND;
    memcpy(c.home_disk, req->home_disk, disk_len + 1);
    memcpy(c.net_mac, req->net_mac, sizeof(c.net_mac));
    if (pool_count(req->run_dir, req->build) == 0)
        return BURROW_ERR_NOT_FOUND;
    int tap_fd = -1, r;
    if (req->net_tap[0]) {
        if (!req->id.net_enabled)
            return BURROW_ERR_NOT_FOUND; /* a TAP without addresses: fresh forks only */
        if ((r = claim_tap(req, &tap_fd)))
            return BURROW_ERR_NOT_FOUND;
    }
    struct vm_record rec;
    char line[600];
    r = pool_take(req->run_dir, req->build, &c, tap_fd, &rec, line, sizeof(line));
    if (tap_fd >= 0)
        close(tap_fd); /* the VMM has its own now; the link goes with the last one */
    if (r)
        return r;
    if (strncmp(line, POOL_REFUSED, strlen(POOL_REFUSED)) == 0) {
        /* It stays in the pool; this request gets a fresh VMM, which will say if it fails too. */
        log_warn("pool: %s", line + 4);
        return BURROW_ERR_NOT_FOUND;
    }
    if (strncmp(line, "OK ", 3) == 0 && hand_socket_in(rec.dir, req->sock_owner) != 0)
        log_warn("pool: cannot hand %s/vsock.sock to uid %u: %s", rec.dir, req->sock_owner,
                 strerror(errno));
    report(out_fd, "PID %d\n%s\n", (int)rec.pid, line);
    return 0;
}

int vmm_fork_report(struct vmm_request *req, int out_fd)
{
    /* A user's next VM resumes her hibernated one, if she has one (vmm/hibernate.h). */
    if (req->user_dir[0] && !req->hib_image[0])
        return hib_fork_report(req, out_fd);
    if (!req->request_ns) /* burrowd's counts from the login's request */
        req->request_ns = clock_now_ns();
    /* A fork with a TAP but no addresses (burrowctl vm fork --net-tap alone) is always fresh. */
    if (req->pool_size > 0) {
        int r = vmm_claim(req, out_fd);
        if (r == 0)
            return 0;
        /* No free pooled VM, or an identity the claim line cannot carry: a fresh VMM. */
        if (r != BURROW_ERR_NOT_FOUND)
            log_info("pool: %s; forking a fresh VMM", burrow_strerror(r));
    }
    return vmm_spawn(req, 0, out_fd);
}

/* Read one line from fd (bounded wait): 0, BURROW_ERR_CLOSED at EOF, TIMEOUT. */
static int read_line(int fd, char *line, size_t sz)
{
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < sz) {
        int n = poll(&p, 1, READY_TIMEOUT_MS + 10000);
        if (n <= 0)
            return BURROW_ERR_TIMEOUT;
        ssize_t k = read(fd, line + got, 1); /* byte by byte: the next line is someone's */
        if (k <= 0)
            break;
        if (line[got] == '\n') {
            line[got] = '\0';
            return 0;
        }
        got++;
    }
    line[got] = '\0';
    return got ? 0 : BURROW_ERR_CLOSED;
}

/* The report after the PID line: the line that says how the VMM ended up. */
static int read_report(int fd, char *line, size_t sz)
{
    int r;
    pid_t pid;
    while ((r = read_line(fd, line, sz)) == 0) {
        if (strncmp(line, "REFUSED ", 8) == 0)
            log_warn("%s; forking a fresh VM", line + 8);
        else if (vmm_parse_pid(line, &pid) != 0)
            break;
    }
    return r;
}

int vmm_fork(struct vmm_request *req, char *line, size_t sz)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return BURROW_ERR_SYSTEM;
    int r = vmm_fork_report(req, p[1]);
    close(p[1]);
    if (!r)
        r = read_report(p[0], line, sz);
    close(p[0]);
    return r;
}

void vmm_pool_top_up(const struct vmm_request *req)
{
    pool_retire_others(req->run_dir, req->build);
    unsigned have = pool_count(req->run_dir, req->build);
    for (unsigned i = have; i < req->pool_size; i++) {
        int p[2];
        char line[600];
        if (pipe2(p, O_CLOEXEC) < 0)
            break;
        int r = vmm_spawn(req, 1, p[1]);
        close(p[1]);
        if (!r)
            r = read_report(p[0], line, sizeof(line));
        close(p[0]);
        if (r || strncmp(line, "POOL ", 5) != 0)
            break;
    }
}

/* ---- the report ------------------------------------------------------------ */

int vmm_parse_pid(const char *line, pid_t *pid)
{
    int v;
    char tail;
    if (sscanf(line, "PID %d%c", &v, &tail) != 1 || v <= 1)
        return BURROW_ERR_FORMAT;
    *pid = v;
    return 0;
}

int vmm_parse_report(const char *line, struct vmm_report *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(line, "ERR ", 4) == 0) {
        snprintf(out->error, sizeof(out->error), "%s", line + 4);
        return BURROW_ERR_GUEST;
    }
    int pid, used = 0;
    unsigned long long restore_ns, ready_ns;
    if (sscanf(line, "OK %12s %d %llu %llu%n", out->id, &pid, &restore_ns, &ready_ns, &used) != 4 ||
        !registry_id_ok(out->id) || pid <= 1)
        return BURROW_ERR_FORMAT;
    const char *rest = line + used;
    if (strcmp(rest, " pool") == 0)
        out->from_pool = 1;
    else if (strcmp(rest, " resume") == 0)
        out->resumed = 1;
    else if (*rest)
        return BURROW_ERR_FORMAT;
    out->pid = pid;
    out->restore_ns = restore_ns;
    out->ready_ns = ready_ns;
    return 0;
}

void vmm_note_report(const char *run_dir, const struct vmm_report *rep)
{
    struct vm_record rec;
    if (registry_get(run_dir, rep->id, &rec) != 0)
        return;
    snprintf(rec.origin, sizeof(rec.origin), "%s",
             rep->from_pool ? "pool"
             : rep->resumed ? "resume"
                            : "fresh");
    rec.restore_ns = rep->restore_ns;
    rec.ready_ns = rep->ready_ns;
    if (registry_write(&rec) != 0)
        log_warn("vm %s: cannot note its start in its record: %s", rep->id, strerror(errno));
}
