/* vmm/vmmproc.c - detached VMM processes for forked VMs (see vmmproc.h). */
#include "vmm/vmmproc.h"
#include "vmm/jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/net/tap.h"
#include "vmm/virtio/net.h"
#include "vmm/pool.h"
#include "vmm/registry.h"

#define READY_TIMEOUT_MS 30000

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

/*
 * Unregister before reporting: the requester acts on the ERR at once (burrowctl
 * exits, a user retries), and a record still saying "running" would show a VM
 * that is not there (`vm list`, "user already has a VM"). detail may live in
 * the VM (its exit reason), so the line is formatted before the teardown.
 */
static void vmm_fail(struct fork_vm *f, struct vm_record *rec, int report_fd, const char *fmt,
                     const char *detail)
{
    char line[600];
    snprintf(line, sizeof(line), fmt, detail);
    fork_vm_destroy(f);
    registry_remove(rec->dir);
    report(report_fd, "%s", line);
    _exit(1);
}

/* Read one claim line from a claimer (bounded), and the disk fd if it sent one. */
static int read_claim(int fd, struct pool_claim *c, int *disk_fd)
{
    char line[POOL_LINE_MAX];
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < sizeof(line) && !memchr(line, '\n', got)) {
        if (poll(&p, 1, 5000) <= 0)
            return BURROW_ERR_TIMEOUT;
        ssize_t n = fdpass_recv(fd, line + got, sizeof(line) - 1 - got, disk_fd, 0, NULL);
        if (n <= 0)
            return BURROW_ERR_CLOSED;
        got += (size_t)n;
    }
    line[got] = '\0';
    char *nl = strchr(line, '\n');
    if (!nl)
        return BURROW_ERR_TOO_LARGE;
    *nl = '\0';
    int r = pool_claim_decode(line, c);
    /* A disk path needs its descriptor, and a descriptor needs a path. */
    if (!r && (c->home_disk[0] != '\0') != (*disk_fd >= 0))
        r = BURROW_ERR_INVALID;
    return r;
}

/* Apply a claim to the paused VM: clock and TSC back, the home disk in. */
static int apply_claim(struct fork_vm *f, int cfd, struct pool_claim *c, char *why, size_t whysz)
{
    int disk_fd = -1;
    int r = read_claim(cfd, c, &disk_fd);
    if (!r)
        r = fork_vm_reset_time(f);
    if (!r && disk_fd >= 0) {
        r = fork_vm_attach_home_fd(f, disk_fd, c->home_disk, why, whysz);
        disk_fd = -1; /* taken */
    }
    if (disk_fd >= 0)
        close(disk_fd);
    /* The pool waited without a file size limit: now the one its disk sets. */
    if (!r && (r = jail_limit_file_size(fork_vm_file_size_limit(f))))
        snprintf(why, whysz, "cannot limit the file size: %s", strerror(errno));
    return r;
}

/*
 * A pooled VMM waits (vCPUs not started) until claimed or told to stop.
 * Returns the claimer's fd (the report goes there) with fc->id, the disk and
 * *request_ns set; exits the process on SIGTERM.
 */
static int pool_wait_claim(struct fork_vm *f, struct vm_record *rec, struct fork_config *fc,
                           sigset_t *sigs, int lfd, int report_fd, uint64_t *request_ns)
{
    int r;
    report(report_fd, "POOL %s %d\n", rec->id, (int)jail_host_pid());
    close(report_fd);
    struct timespec zero = {0, 0};
    for (;;) {
        if (sigtimedwait(sigs, NULL, &zero) > 0) {
            close(lfd);
            fork_vm_destroy(f);
            registry_remove(rec->dir);
            _exit(0);
        }
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            continue;
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        struct pool_claim c;
        char why[512] = "";
        if ((r = apply_claim(f, cfd, &c, why, sizeof(why)))) {
            /* Still in the pool: the claimer removes its marker (we cannot, jailed). */
            report(cfd, POOL_REFUSED ": %s\n", why[0] ? why : burrow_strerror(r));
            close(cfd);
            continue;
        }
        close(lfd);
        fc->id = c.id;
        *request_ns = c.request_ns;
        snprintf(rec->user, sizeof(rec->user), "%s", c.id.user);
        return cfd;
    }
}

/* The VMM process: never returns. pooled: wait to be claimed before starting. */
static void __attribute__((noreturn))
vmm_process(const struct vmm_request *req, int report_fd, int pooled)
{
    static struct fork_vm f;
    static struct vm_record rec;
    static struct fork_config fc; /* f.cp points at fc.id: it must outlive the VM */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked before any thread exists, so only sigtimedwait below sees them. */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
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
    int r = registry_create(req->run_dir, &rec);
    if (r) {
        report(report_fd, "ERR cannot register under %s/vm: %s\n", req->run_dir,
               r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
        _exit(1);
    }
    char path[700], vsock[700];
    redirect(STDIN_FILENO, "/dev/null", O_RDONLY);
    snprintf(path, sizeof(path), "%s/vmm.log", rec.dir);
    redirect(STDOUT_FILENO, path, O_WRONLY | O_CREAT | O_APPEND);
    redirect(STDERR_FILENO, path, O_WRONLY | O_CREAT | O_APPEND);
    if (log_get_level() < LOG_LVL_INFO)
        log_set_level(LOG_LVL_INFO); /* vmm.log: start, timings, stop reason */
    snprintf(path, sizeof(path), "%s/console.log", rec.dir);
    int console = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    snprintf(vsock, sizeof(vsock), "%s/vsock.sock", rec.dir);
    fc = (struct fork_config){.build_dir = req->build_dir,
                              .vsock_uds = vsock,
                              .home_disk = !pooled && req->home_disk[0] ? req->home_disk : NULL,
                              .id = req->id,
                              .console_fd = console};
    static struct fork_net net;
    if (!pooled && req->net_tap[0]) {
        /* As root, before the jail: the VM's TAP, up and on its bridge. */
        if ((r = tap_create(req->net_tap, req->net_bridge, &net.tap_fd, path, sizeof(path)))) {
            registry_remove(rec.dir); /* no VM yet: nothing else to undo */
            report(report_fd, "ERR %s\n", path);
            _exit(1);
        }
        memcpy(net.mac, req->net_mac, sizeof(net.mac));
        static const uint8_t zero[6];
        if (!memcmp(net.mac, zero, sizeof(zero))) {
            /* From the identity and this VM's id: two forks for one user still differ. */
            char seed[300];
            int n = snprintf(seed, sizeof(seed), "%s/%u/%s/%s", req->id.user, req->id.uid,
                             req->id.hostname, rec.id);
            virtio_net_mac_from_seed(seed, n > 0 ? (size_t)n : 0, net.mac);
        }
        net.rate = req->net_rate;
        fc.net = &net;
    }
    char why[512] = "";
    snprintf(rec.user, sizeof(rec.user), "%s", pooled ? "-" : req->id.user);
    snprintf(rec.template_name, sizeof(rec.template_name), "%s", req->template_name);
    snprintf(rec.build, sizeof(rec.build), "%s", req->build);
    snprintf(rec.state, sizeof(rec.state), "%s", pooled ? "pool" : "running");
    rec.started = (uint64_t)time(NULL);
    /* Registered before the restore, so `template rm` never races a starting fork. */
    if ((r = registry_publish(&rec)) || (r = fork_vm_create(&f, &fc, why, sizeof(why))))
        vmm_fail(&f, &rec, report_fd, "ERR %s\n", why[0] ? why : burrow_strerror(r));
    uint64_t request_ns = req->request_ns;
    int claim_fd = -1;
    if (pooled && (r = pool_listen(rec.dir, &claim_fd)))
        vmm_fail(&f, &rec, report_fd, "ERR cannot listen for claims: %s\n", burrow_strerror(r));
    /*
     * Confined once the VM, its memory, disk and sockets exist, before any
     * guest code runs; a pooled VMM before it waits (its claimer passes the
     * home disk as a descriptor and rewrites its record).
     */
    enum sc_mode mode = req->seccomp_log ? SC_MODE_LOG : SC_MODE_ENFORCE;
    uint64_t fsize = pooled ? JAIL_FSIZE_UNLIMITED : fork_vm_file_size_limit(&f);
    if ((r = jail_enter_vm(rec.dir, rec.id, f.m.vm->ram_size, f.m.vm->nr_vcpus, fsize, mode, why,
                           sizeof(why))))
        vmm_fail(&f, &rec, report_fd, "ERR %s\n", why);
    if (pooled) {
        report_fd = pool_wait_claim(&f, &rec, &fc, &set, claim_fd, report_fd, &request_ns);
        f.t.restored_ns = fork_now_ns();
    }
    if ((r = fork_vm_start(&f)))
        vmm_fail(&f, &rec, report_fd, "ERR cannot start the VM: %s\n", burrow_strerror(r));
    r = control_port_wait_ready(&f.cp, 0, READY_TIMEOUT_MS);
    if (r) {
        /* The console's last line says why (it goes with the run directory). */
        char last[200] = "";
        vm_console_tail(f.m.vm, last, sizeof(last), 1);
        last[strcspn(last, "\n")] = '\0';
        snprintf(why, sizeof(why), "%s%s%s",
                 r == BURROW_ERR_CLOSED ? f.m.vm->exit.detail : burrow_strerror(r),
                 last[0] ? "; console: " : "", last);
        vmm_fail(&f, &rec, report_fd, "ERR the guest did not report READY: %s\n", why);
    }
    report(report_fd, "OK %s %d %llu %llu\n", rec.id, (int)jail_host_pid(),
           (unsigned long long)(f.t.restored_ns - request_ns),
           (unsigned long long)(f.cp.ready_ns - request_ns));
    close(report_fd);
    const struct vm_timings *vt = &f.m.vm->t;
    log_info("VM %s running (build %s, user %s); restore: files %.2f ms, VM %.2f ms (open %.2f, "
             "create %.2f, memslots %.2f, irqchip %.2f, vCPUs %.2f), state %.2f ms",
             rec.id, rec.build, rec.user, (f.t.files_ns - f.t.start_ns) / 1e6,
             (f.t.machine_ns - f.t.files_ns) / 1e6, vt->open_ns / 1e6, vt->create_ns / 1e6,
             vt->memory_ns / 1e6, vt->irqchip_ns / 1e6, vt->vcpus_ns / 1e6,
             (f.t.state_ns - f.t.machine_ns) / 1e6);
    struct timespec tick = {0, 200000000L};
    while (!f.m.vm->stopping) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (sig > 0)
            vm_request_stop(f.m.vm, VM_STOP_HOST, 0, "signal %d", sig);
    }
    struct vm_exit_info info;
    vm_wait(f.m.vm, &info);
    log_info("VM %s stopped: %s", rec.id, info.detail);
    fork_vm_destroy(&f);
    registry_remove(rec.dir);
    _exit(0);
}

/* Read the VMM's one-line report (bounded wait). */
int vmm_read_report(int fd, char *line, size_t sz)
{
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < sz) {
        int n = poll(&p, 1, READY_TIMEOUT_MS + 10000);
        if (n <= 0)
            return BURROW_ERR_TIMEOUT;
        ssize_t k = read(fd, line + got, sz - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (memchr(line, '\n', got))
            break;
    }
    line[got] = '\0';
    char *nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    return got ? 0 : BURROW_ERR_CLOSED;
}

int vmm_spawn_start(const struct vmm_request *req, int pooled, int *report_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return BURROW_ERR_SYSTEM;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return BURROW_ERR_SYSTEM;
    }
    if (pid == 0) {
        close(p[0]);
        setsid();
        /* The VMM is PID 1 of a new pid namespace (before its VM exists: jail.h). */
        pid_t g = -1;
        if (jail_pidns_fork(&g) != 0 || g != 0)
            _exit(g < 0 ? 1 : 0);
        vmm_process(req, p[1], pooled);
    }
    close(p[1]);
    int st;
    waitpid(pid, &st, 0); /* the middle process exits at once */
    *report_fd = p[0];
    return 0;
}

static int spawn_wait(const struct vmm_request *req, int pooled, char *line, size_t sz)
{
    int fd;
    int r = vmm_spawn_start(req, pooled, &fd);
    if (r)
        return r;
    r = vmm_read_report(fd, line, sz);
    close(fd);
    return r;
}

int vmm_fork(struct vmm_request *req, char *line, size_t sz, int *from_pool)
{
    *from_pool = 0;
    req->request_ns = fork_now_ns();
    size_t disk_len = strlen(req->home_disk);
    /* A disk path the claim line cannot carry goes to a fresh VMM instead. */
    /* A fork with a network is never claimed from the pool: its VMM is jailed already. */
    if (req->pool_size > 0 && !req->net_tap[0] &&
        disk_len < sizeof(((struct pool_claim *)0)->home_disk)) {
        struct pool_claim c = {.request_ns = req->request_ns, .id = req->id};
        memcpy(c.home_disk, req->home_disk, disk_len + 1);
        int r = pool_take(req->run_dir, req->build, &c, line, sz);
        if (r == 0) {
            *from_pool = 1;
            return 0;
        }
        /* No free pooled VM, or an identity the claim line cannot carry: a fresh VMM. */
        if (r != BURROW_ERR_NOT_FOUND)
            log_info("pool: %s; forking a fresh VMM", burrow_strerror(r));
    }
    return spawn_wait(req, 0, line, sz);
}

void vmm_pool_top_up(const struct vmm_request *req)
{
    pool_retire_others(req->run_dir, req->build);
    unsigned have = pool_count(req->run_dir, req->build);
    for (unsigned i = have; i < req->pool_size; i++) {
        char line[600];
        if (spawn_wait(req, 1, line, sizeof(line)) || strncmp(line, "POOL ", 5) != 0)
            break;
    }
}

int vmm_parse_report(const char *line, struct vmm_report *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(line, "ERR ", 4) == 0) {
        snprintf(out->error, sizeof(out->error), "%s", line + 4);
        return BURROW_ERR_GUEST;
    }
    int pid;
    unsigned long long restore_ns, ready_ns;
    char tail;
    if (sscanf(line, "OK %12s %d %llu %llu%c", out->id, &pid, &restore_ns, &ready_ns, &tail) != 4 ||
        !registry_id_ok(out->id) || pid <= 1)
        return BURROW_ERR_FORMAT;
    out->pid = pid;
    out->restore_ns = restore_ns;
    out->ready_ns = ready_ns;
    return 0;
}
