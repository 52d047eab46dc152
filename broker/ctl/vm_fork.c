/*
 * broker/ctl/vm_fork.c - `burrowctl vm fork [--template NAME] [--user NAME]
 * [--count N]`: start VMM processes forked from the active build of a
 * template (vmm/fork.c).
 *
 * Each VMM process detaches (fork, setsid, fork), registers under
 * run_dir/vm/<id>/ (vmm/registry.c), restores, sends the fork signal and
 * reports back through a pipe once the guest said READY on port 1025:
 *     OK <id> <pid> <restore_ns> <ready_ns>     or     ERR <reason>
 * The command prints one line per VM:
 *     <id> pid <pid> restore <ms> ms ready <ms> ms
 * Times count from the request (before the fork) to the vCPUs starting
 * (restore) and to READY (ready).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/userdb.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/pool.h"
#include "vmm/registry.h"
#include "vmm/template.h"

static const char vm_fork_usage[] =
    "usage: burrowctl vm fork [--template NAME] [--user NAME] [--count N]";

#define READY_TIMEOUT_MS 30000

struct fork_request {
    const struct burrow_config *cfg;
    char template_name[TEMPLATE_NAME_MAX + 1];
    char build[TEMPLATE_BUILD_MAX + 1];
    char build_dir[CONFIG_PATH_MAX + 128];
    char home_disk[CONFIG_PATH_MAX + 128]; /* "" = none */
    struct fork_identity id;
    uint64_t request_ns;
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

static void vmm_fail(struct fork_vm *f, struct vm_record *rec, int report_fd, const char *fmt,
                     const char *detail)
{
    report(report_fd, fmt, detail);
    fork_vm_destroy(f);
    registry_remove(rec->dir);
    _exit(1);
}

/* Read one claim line from a claimer (bounded). */
static int read_claim(int fd, struct pool_claim *c)
{
    char line[POOL_LINE_MAX];
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < sizeof(line) && !memchr(line, '\n', got)) {
        if (poll(&p, 1, 5000) <= 0)
            return BURROW_ERR_TIMEOUT;
        ssize_t n = read(fd, line + got, sizeof(line) - 1 - got);
        if (n <= 0)
            return BURROW_ERR_CLOSED;
        got += (size_t)n;
    }
    line[got] = '\0';
    char *nl = strchr(line, '\n');
    if (!nl)
        return BURROW_ERR_TOO_LARGE;
    *nl = '\0';
    return pool_claim_decode(line, c);
}

/*
 * A pooled VMM waits (vCPUs not started) until claimed or told to stop.
 * Returns the claimer's fd (the report goes there) with fc->id, the disk and
 * *request_ns set; exits the process on SIGTERM.
 */
static int pool_wait_claim(struct fork_vm *f, struct vm_record *rec, struct fork_config *fc,
                           sigset_t *sigs, int report_fd, uint64_t *request_ns)
{
    int lfd;
    int r = pool_listen(rec->dir, &lfd);
    if (r)
        vmm_fail(f, rec, report_fd, "ERR cannot listen for claims: %s\n", burrow_strerror(r));
    report(report_fd, "POOL %s %d\n", rec->id, (int)getpid());
    close(report_fd);
    struct timespec zero = {0, 0};
    char marker[700];
    snprintf(marker, sizeof(marker), "%s/claimed", rec->dir);
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
        if ((r = read_claim(cfd, &c)) == 0 && (r = fork_vm_reset_time(f)) == 0 && c.home_disk[0])
            r = fork_vm_attach_home(f, c.home_disk, why, sizeof(why));
        if (r) {
            report(cfd, "ERR claim refused: %s\n", why[0] ? why : burrow_strerror(r));
            close(cfd);
            unlink(marker); /* still in the pool */
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
vmm_process(const struct fork_request *req, int report_fd, int pooled)
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
    int r = registry_create(req->cfg->paths.run_dir, &rec);
    if (r) {
        report(report_fd, "ERR cannot register under %s/vm: %s\n", req->cfg->paths.run_dir,
               r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
        _exit(1);
    }
    char path[700], vsock[700];
    redirect(STDIN_FILENO, "/dev/null", O_RDONLY);
    snprintf(path, sizeof(path), "%s/vmm.log", rec.dir);
    redirect(STDOUT_FILENO, path, O_WRONLY | O_CREAT | O_APPEND);
    redirect(STDERR_FILENO, path, O_WRONLY | O_CREAT | O_APPEND);
    snprintf(path, sizeof(path), "%s/console.log", rec.dir);
    int console = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    snprintf(vsock, sizeof(vsock), "%s/vsock.sock", rec.dir);
    fc = (struct fork_config){.build_dir = req->build_dir,
                              .vsock_uds = vsock,
                              .home_disk = !pooled && req->home_disk[0] ? req->home_disk : NULL,
                              .id = req->id,
                              .console_fd = console};
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
    if (pooled) {
        report_fd = pool_wait_claim(&f, &rec, &fc, &set, report_fd, &request_ns);
        f.t.restored_ns = fork_now_ns();
        snprintf(rec.state, sizeof(rec.state), "running");
        rec.started = (uint64_t)time(NULL);
        if ((r = registry_publish(&rec)))
            vmm_fail(&f, &rec, report_fd, "ERR %s\n", burrow_strerror(r));
    }
    if ((r = fork_vm_start(&f)))
        vmm_fail(&f, &rec, report_fd, "ERR cannot start the VM: %s\n", burrow_strerror(r));
    r = control_port_wait_ready(&f.cp, 0, READY_TIMEOUT_MS);
    if (r)
        vmm_fail(&f, &rec, report_fd, "ERR the guest did not report READY: %s\n",
                 r == BURROW_ERR_CLOSED ? f.m.vm->exit.detail : burrow_strerror(r));
    report(report_fd, "OK %s %d %llu %llu\n", rec.id, (int)getpid(),
           (unsigned long long)(f.t.restored_ns - request_ns),
           (unsigned long long)(f.cp.ready_ns - request_ns));
    close(report_fd);
    log_info("VM %s running (build %s, user %s)", rec.id, rec.build, rec.user);
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
static int read_report(int fd, char *line, size_t sz)
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

/* Start a detached VMM process; its report line lands in line. */
static int spawn_vmm(struct fork_request *req, int pooled, char *line, size_t sz)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return cli_err(EXIT_RUNTIME, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return cli_err(EXIT_RUNTIME, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        setsid();
        pid_t g = fork();
        if (g != 0)
            _exit(g < 0 ? 1 : 0);
        vmm_process(req, p[1], pooled);
    }
    close(p[1]);
    int st;
    waitpid(pid, &st, 0);
    int r = read_report(p[0], line, sz);
    close(p[0]);
    if (r)
        return cli_err(EXIT_RUNTIME, "the VMM process did not report (%s)", burrow_strerror(r));
    if (strncmp(line, "ERR ", 4) == 0)
        return cli_err(EXIT_RUNTIME, "fork failed: %s", line + 4);
    return EXIT_OK;
}

static int print_report(const char *line, int from_pool)
{
    char id[REGISTRY_ID_LEN + 1];
    int vpid;
    unsigned long long restore_ns, ready_ns;
    if (strncmp(line, "ERR ", 4) == 0)
        return cli_err(EXIT_RUNTIME, "fork failed: %s", line + 4);
    if (sscanf(line, "OK %12s %d %llu %llu", id, &vpid, &restore_ns, &ready_ns) != 4)
        return cli_err(EXIT_RUNTIME, "the VMM process reported '%s'", line);
    printf("%s pid %d restore %.3f ms ready %.3f ms%s\n", id, vpid, restore_ns / 1e6,
           ready_ns / 1e6, from_pool ? " (pool)" : "");
    fflush(stdout);
    return EXIT_OK;
}

static int fork_one(struct fork_request *req)
{
    char line[600];
    req->request_ns = fork_now_ns();
    if (req->cfg->vm.pool_size > 0) {
        struct pool_claim c = {.request_ns = req->request_ns, .id = req->id};
        snprintf(c.home_disk, sizeof(c.home_disk), "%s", req->home_disk);
        int r = pool_take(req->cfg->paths.run_dir, req->build, &c, line, sizeof(line));
        if (r == 0)
            return print_report(line, 1);
        if (r != BURROW_ERR_NOT_FOUND)
            return cli_err(EXIT_RUNTIME, "pool: %s", burrow_strerror(r));
    }
    int rc = spawn_vmm(req, 0, line, sizeof(line));
    return rc ? rc : print_report(line, 0);
}

/* Keep [vm] pool_size restored VMs of the active build waiting; retire other builds'. */
static void pool_top_up(struct fork_request *req)
{
    const char *run_dir = req->cfg->paths.run_dir;
    pool_retire_others(run_dir, req->build);
    unsigned have = pool_count(run_dir, req->build);
    for (unsigned i = have; i < req->cfg->vm.pool_size; i++) {
        char line[600];
        if (spawn_vmm(req, 1, line, sizeof(line)) != EXIT_OK)
            break;
    }
}

static int fork_identity_for(struct fork_request *req, struct ctl_ctx *ctx, const char *user)
{
    struct fork_identity *id = &req->id;
    if (!user) {
        snprintf(id->user, sizeof(id->user), "guest");
        id->uid = id->gid = 1000;
        snprintf(id->shell, sizeof(id->shell), "/bin/sh");
        snprintf(id->home, sizeof(id->home), "/home/guest");
        snprintf(id->hostname, sizeof(id->hostname), "burrow");
        return EXIT_OK;
    }
    (void)ctx;
    struct userdb db;
    struct user_record rec;
    char err[256];
    if (userdb_open(&db, req->cfg, 0))
        return cli_err(EXIT_RUNTIME, "cannot open the user database");
    int r = userdb_get(&db, user, &rec, err, sizeof(err));
    if (r) {
        userdb_close(&db);
        return cli_err(EXIT_RUNTIME, "user %s: %s", user, err);
    }
    snprintf(id->user, sizeof(id->user), "%s", rec.name);
    id->uid = rec.uid;
    id->gid = rec.gid;
    snprintf(id->shell, sizeof(id->shell), "%s", rec.shell);
    snprintf(id->home, sizeof(id->home), "/home/%s", rec.name);
    snprintf(id->hostname, sizeof(id->hostname), "%s", rec.name);
    if (rec.disk_size &&
        userdb_path(&db, rec.name, "home.img", req->home_disk, sizeof(req->home_disk))) {
        userdb_close(&db);
        return cli_err(EXIT_RUNTIME, "user %s: home disk path too long", user);
    }
    userdb_close(&db);
    /* One VM per user: the disk lock says so too, but users without a disk need this. */
    struct vm_record *v;
    size_t n;
    if (registry_list(req->cfg->paths.run_dir, &v, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(v[i].user, rec.name) == 0) {
                int rc = cli_err(EXIT_RUNTIME, "user %s already has a VM (%s, pid %d)", rec.name,
                                 v[i].id, (int)v[i].pid);
                free(v);
                return rc;
            }
        }
        free(v);
    }
    return EXIT_OK;
}

int ctl_vm_fork(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"template", required_argument, NULL, 't'},
                                         {"user", required_argument, NULL, 'u'},
                                         {"count", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    const char *tname = NULL, *user = NULL;
    unsigned long count = 1;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 't':
            tname = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'n':
            errno = 0;
            count = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || count < 1 || count > 1000)
                return cli_err(EXIT_USAGE, "--count: 1..1000");
            break;
        default:
            return cli_err(EXIT_USAGE, "%s", vm_fork_usage);
        }
    }
    if (optind != argc)
        return cli_err(EXIT_USAGE, "%s", vm_fork_usage);
    static struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    static struct fork_request req;
    memset(&req, 0, sizeof(req));
    req.cfg = &cfg;
    if (!tname)
        tname = cfg.vm.template_name;
    if (!template_name_ok(tname))
        return cli_err(EXIT_USAGE, "--template: '%s' is not a template name", tname);
    memcpy(req.template_name, tname, strlen(tname) + 1); /* template_name_ok bounds it */
    if (user && count > 1)
        return cli_err(EXIT_USAGE, "--user allows one VM (--count 1)");
    char tdir[CONFIG_PATH_MAX + 16];
    snprintf(tdir, sizeof(tdir), "%s/templates", cfg.paths.state_dir);
    /* Resolve the symlink once: this fork keeps its build even if it is switched. */
    if (template_active(tdir, tname, req.build, sizeof(req.build)))
        return cli_err(EXIT_RUNTIME, "template %s has no active build in %s", tname, tdir);
    snprintf(req.build_dir, sizeof(req.build_dir), "%s/%s", tdir, req.build);
    if ((rc = fork_identity_for(&req, ctx, user)) != EXIT_OK)
        return rc;
    for (unsigned long i = 0; i < count; i++)
        if ((rc = fork_one(&req)) != EXIT_OK)
            return rc;
    pool_top_up(&req);
    return EXIT_OK;
}
