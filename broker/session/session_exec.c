/* broker/session/session_exec.c - a session process from the master: new pid namespace, re-exec
 * (see session_exec.h). */
#include "broker/session/session_exec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "broker/users/hostkeys.h"
#include "broker/session/netchild.h"
#include "common/err.h"
#include "common/log.h"

/* Fixed fds of a session process (set before the exec). */
enum { SESSION_FD_TCP = 3, SESSION_FD_MASTER = 4, SESSION_FD_CONFIG = 5 };

/* The master's configuration as burrow.ini text (config_dump), rewound: the session loads it. */
static int config_memfd(const struct burrow_config *cfg)
{
    int fd = memfd_create("burrow-session-config", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    int copy = dup(fd);
    FILE *f = copy >= 0 ? fdopen(copy, "w") : NULL;
    if (!f) {
        if (copy >= 0)
            close(copy);
        close(fd);
        return -1;
    }
    config_dump(cfg, f);
    if (fclose(f) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* In the cloned child: the fixed fds, nothing else of the master's, then burrowd afresh. */
static void __attribute__((noreturn))
exec_session(int tcp_fd, int master_fd, int config_fd, char *const argv[])
{
    /* Through fds above 5 first: a dup2 onto 3, 4 or 5 must not close another of the three. */
    int t = fcntl(tcp_fd, F_DUPFD, 10), m = fcntl(master_fd, F_DUPFD, 10);
    int c = fcntl(config_fd, F_DUPFD, 10);
    if (t < 0 || m < 0 || c < 0 || dup2(t, SESSION_FD_TCP) < 0 || dup2(m, SESSION_FD_MASTER) < 0 ||
        dup2(c, SESSION_FD_CONFIG) < 0 ||
        syscall(SYS_close_range, SESSION_FD_CONFIG + 1, ~0u, 0) != 0)
        _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the master takes its signals by signalfd */
    execv("/proc/self/exe", argv);
    _exit(127);
}

pid_t session_spawn(const struct burrow_config *cfg, int tcp_fd, int master_fd, const char *addr,
                    const char *config_path, const char *kind_arg)
{
    char level[8];
    snprintf(level, sizeof(level), "%d", (int)log_get_level());
    /* The config path is for ps (which daemon a session belongs to); the text is on fd 5. */
    char *argv[] = {"burrowd",    (char *)kind_arg,    (char *)addr, level,
                    (char *)"-c", (char *)config_path, NULL};
    int config_fd = config_memfd(cfg);
    if (config_fd < 0)
        return -1;
    /*
     * clone without a new stack is fork into a new pid namespace: the child
     * is PID 1 there and still the master's child (it waits for it, signals
     * it). It only moves fds and execs, so glibc's view of the child (its
     * cached thread id) never matters.
     */
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0)
        exec_session(tcp_fd, master_fd, config_fd, argv);
    int e = errno;
    close(config_fd);
    errno = e;
    return pid;
}

static void pid1_exit(int sig)
{
    _exit(128 + sig);
}

/*
 * PID 1 of its namespace ignores every signal it has no handler for (but
 * SIGKILL from the master's namespace): SIGTERM and SIGINT end it (and with
 * it the net child), SIGALRM too (a peer session's login grace time, whose
 * default action PID 1 would ignore), SIGHUP and SIGPIPE are ignored as before.
 */
static void session_pid1_signals(void)
{
    struct sigaction end = {.sa_handler = pid1_exit}, ign = {.sa_handler = SIG_IGN};
    sigaction(SIGTERM, &end, NULL);
    sigaction(SIGINT, &end, NULL);
    sigaction(SIGALRM, &end, NULL);
    sigaction(SIGHUP, &ign, NULL);
    sigaction(SIGPIPE, &ign, NULL);
}

/* argv: burrowd SESSION_EXEC_ARG|SESSION_PEER_ARG ADDR LEVEL -c PATH, as session_spawn wrote it. */
static int args_ok(int argc, char **argv, int *level)
{
    struct in6_addr a6;
    char *end;
    if (argc != 6 || strcmp(argv[4], "-c") != 0 || strlen(argv[2]) >= SESSION_ADDR_MAX ||
        (inet_pton(AF_INET, argv[2], &a6) != 1 && inet_pton(AF_INET6, argv[2], &a6) != 1))
        return 0;
    long v = strtol(argv[3], &end, 10);
    if (*end || end == argv[3] || v < LOG_LVL_ERROR || v > LOG_LVL_DEBUG)
        return 0;
    *level = (int)v;
    return 1;
}

int session_exec_main(int argc, char **argv, session_main_fn run)
{
    static struct burrow_config cfg;
    char err[CONFIG_ERR_MAX], path[32];
    int level;
    struct hostkeys hk;
    ssh_bind bind = NULL;
    if (!args_ok(argc, argv, &level)) {
        log_error("%s: burrowd starts session processes itself", argv[1]);
        return 2;
    }
    log_set_level((enum log_level)level);
    session_pid1_signals();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", SESSION_FD_CONFIG);
    int r = config_load(&cfg, path, 0, err, sizeof(err));
    close(SESSION_FD_CONFIG);
    if (r != 0) {
        log_error("session %s: the master's configuration: %s", argv[2], err);
        return 1;
    }
    if (ssh_init() != SSH_OK || hostkeys_load(&hk, cfg.ssh.host_key_dir, 0) != 0) {
        log_error("session %s: host keys unavailable in %s", argv[2], cfg.ssh.host_key_dir);
        return 1;
    }
    if (hostkeys_server_bind(&hk, &cfg, &bind) != 0) {
        log_error("session %s: no usable host key in %s or [ssh] algorithm list", argv[2],
                  cfg.ssh.host_key_dir);
        return 1;
    }
    struct session_args a = {
        .fd = SESSION_FD_TCP, .mfd = SESSION_FD_MASTER, .cfg = &cfg, .bind = bind, .addr = argv[2]};
    return run(&a);
}
