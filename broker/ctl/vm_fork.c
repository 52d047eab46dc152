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

/* The VMM process: never returns. */
static void __attribute__((noreturn)) vmm_process(const struct fork_request *req, int report_fd)
{
    static struct fork_vm f;
    struct vm_record rec;
    memset(&rec, 0, sizeof(rec));
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
    struct fork_config fc = {.build_dir = req->build_dir,
                             .vsock_uds = vsock,
                             .home_disk = req->home_disk[0] ? req->home_disk : NULL,
                             .id = req->id,
                             .console_fd = console};
    char why[512] = "";
    snprintf(rec.user, sizeof(rec.user), "%s", req->id.user);
    snprintf(rec.template_name, sizeof(rec.template_name), "%s", req->template_name);
    snprintf(rec.build, sizeof(rec.build), "%s", req->build);
    rec.started = (uint64_t)time(NULL);
    /* Registered before the restore, so `template rm` never races a starting fork. */
    if ((r = registry_publish(&rec)) == 0 && (r = fork_vm_create(&f, &fc, why, sizeof(why))) == 0)
        r = fork_vm_start(&f);
    if (r) {
        report(report_fd, "ERR %s\n", why[0] ? why : burrow_strerror(r));
        fork_vm_destroy(&f);
        registry_remove(rec.dir);
        _exit(1);
    }
    r = control_port_wait_ready(&f.cp, 0, READY_TIMEOUT_MS);
    if (r) {
        report(report_fd, "ERR the guest did not report READY: %s\n",
               r == BURROW_ERR_CLOSED ? f.m.vm->exit.detail : burrow_strerror(r));
        fork_vm_destroy(&f);
        registry_remove(rec.dir);
        _exit(1);
    }
    report(report_fd, "OK %s %d %llu %llu\n", rec.id, (int)getpid(),
           (unsigned long long)(f.t.restored_ns - req->request_ns),
           (unsigned long long)(f.cp.ready_ns - req->request_ns));
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

static int fork_one(struct fork_request *req)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return cli_err(EXIT_RUNTIME, "pipe: %s", strerror(errno));
    req->request_ns = fork_now_ns();
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
        vmm_process(req, p[1]);
    }
    close(p[1]);
    int st;
    waitpid(pid, &st, 0);
    char line[600];
    int r = read_report(p[0], line, sizeof(line));
    close(p[0]);
    if (r)
        return cli_err(EXIT_RUNTIME, "the VMM process did not report (%s)", burrow_strerror(r));
    if (strncmp(line, "ERR ", 4) == 0)
        return cli_err(EXIT_RUNTIME, "fork failed: %s", line + 4);
    char id[REGISTRY_ID_LEN + 1];
    int vpid;
    unsigned long long restore_ns, ready_ns;
    if (sscanf(line, "OK %12s %d %llu %llu", id, &vpid, &restore_ns, &ready_ns) != 4)
        return cli_err(EXIT_RUNTIME, "the VMM process reported '%s'", line);
    printf("%s pid %d restore %.3f ms ready %.3f ms\n", id, vpid, restore_ns / 1e6,
           ready_ns / 1e6);
    fflush(stdout);
    return EXIT_OK;
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
    return EXIT_OK;
}
