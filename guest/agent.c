/*
 * guest/agent.c - burrow-agent's main process: options, the session
 * listener, the control connection and the reaper.
 *
 * Model: a single-threaded poll loop here; one forked process per session
 * (agent_session.c) so a session's pty, buffers and children are its own and
 * a crash or a stall reaches one session only. The main process is a child
 * subreaper: orphans of sessions come back to it and are reaped.
 *
 *   burrow-agent [--listen vsock:1024|unix:PATH] [--control vsock:2:1025|unix:PATH|none]
 *                [--etc DIR] [--hooks DIR] [--hook-timeout S] [--home-root DIR]
 *                [--home-dev NAME|none] [--home-timeout S] [--random PATH]
 *                [--sftp-server PATH] [--heartbeat S | --heartbeat-ms MS] [--no-clock]
 *                [--allow-root] [-v]
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "guest/agent.h"

static void usage(void)
{
    fprintf(stderr, "usage: burrow-agent [--listen vsock:PORT|unix:PATH] [--control "
                    "vsock:CID:PORT|unix:PATH|none]\n"
                    "       [--etc DIR] [--hooks DIR] [--hook-timeout S] [--home-root DIR]\n"
                    "       [--home-dev NAME|none] [--home-timeout S] [--random PATH]\n"
                    "       [--sftp-server PATH] [--heartbeat S | --heartbeat-ms MS] [--no-clock]\n"
                    "       [--allow-root] [-v]\n");
}

static int copy_opt(char *dst, size_t sz, const char *v)
{
    if (strlen(v) >= sz)
        return -1;
    strcpy(dst, v);
    return 0;
}

/* A decimal integer in [min, max]. */
static int range_opt(int *dst, const char *v, long min, long max)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end || errno || x < min || x > max)
        return -1;
    *dst = (int)x;
    return 0;
}

static int int_opt(int *dst, const char *v)
{
    return range_opt(dst, v, 0, 3600);
}

static int parse_args(int argc, char **argv, struct agent_config *cfg, int *verbose)
{
    enum {
        O_LISTEN = 256,
        O_CONTROL,
        O_ETC,
        O_HOOKS,
        O_HOOK_TIMEOUT,
        O_HOME_ROOT,
        O_HOME_DEV,
        O_HOME_TIMEOUT,
        O_RANDOM,
        O_SFTP,
        O_HEARTBEAT,
        O_HEARTBEAT_MS,
        O_NO_CLOCK,
        O_ALLOW_ROOT
    };
    static const struct option opts[] = {{"listen", 1, 0, O_LISTEN},
                                         {"control", 1, 0, O_CONTROL},
                                         {"etc", 1, 0, O_ETC},
                                         {"hooks", 1, 0, O_HOOKS},
                                         {"hook-timeout", 1, 0, O_HOOK_TIMEOUT},
                                         {"home-root", 1, 0, O_HOME_ROOT},
                                         {"home-dev", 1, 0, O_HOME_DEV},
                                         {"home-timeout", 1, 0, O_HOME_TIMEOUT},
                                         {"random", 1, 0, O_RANDOM},
                                         {"sftp-server", 1, 0, O_SFTP},
                                         {"heartbeat", 1, 0, O_HEARTBEAT},
                                         {"heartbeat-ms", 1, 0, O_HEARTBEAT_MS},
                                         {"no-clock", 0, 0, O_NO_CLOCK},
                                         {"allow-root", 0, 0, O_ALLOW_ROOT},
                                         {"verbose", 0, 0, 'v'},
                                         {0, 0, 0, 0}};
    const char *listen = "vsock:1024", *control = "vsock:2:1025", *home_dev = NULL;
    int hooks_set = 0, c, bad = 0;
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->etc, "/etc");
    strcpy(cfg->home_root, "/home");
    strcpy(cfg->random_dev, "/dev/random");
    strcpy(cfg->sftp_server, "/usr/lib/openssh/sftp-server");
    cfg->hook_timeout_s = 10;
    cfg->home_timeout_s = 10;
    cfg->heartbeat_ms = AGENT_HEARTBEAT_MS;
    while ((c = getopt_long(argc, argv, "v", opts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            listen = optarg;
            break;
        case O_CONTROL:
            control = optarg;
            break;
        case O_ETC:
            bad |= copy_opt(cfg->etc, sizeof(cfg->etc), optarg);
            break;
        case O_HOOKS:
            bad |= copy_opt(cfg->hooks, sizeof(cfg->hooks), optarg);
            hooks_set = 1;
            break;
        case O_HOOK_TIMEOUT:
            bad |= int_opt(&cfg->hook_timeout_s, optarg);
            break;
        case O_HOME_ROOT:
            bad |= copy_opt(cfg->home_root, sizeof(cfg->home_root), optarg);
            break;
        case O_HOME_DEV:
            home_dev = optarg;
            break;
        case O_HOME_TIMEOUT:
            bad |= int_opt(&cfg->home_timeout_s, optarg);
            break;
        case O_RANDOM:
            bad |= copy_opt(cfg->random_dev, sizeof(cfg->random_dev), optarg);
            break;
        case O_SFTP:
            bad |= copy_opt(cfg->sftp_server, sizeof(cfg->sftp_server), optarg);
            break;
        case O_HEARTBEAT:
            bad |= range_opt(&cfg->heartbeat_ms, optarg, 1, 3600);
            cfg->heartbeat_ms *= 1000;
            break;
        case O_HEARTBEAT_MS:
            bad |= range_opt(&cfg->heartbeat_ms, optarg, 10, 3600 * 1000);
            break;
        case O_NO_CLOCK:
            cfg->no_clock = 1;
            break;
        case O_ALLOW_ROOT:
            cfg->allow_root = 1;
            break;
        case 'v':
            *verbose = 1;
            break;
        default:
            return -1;
        }
    }
    if (bad || optind != argc || addr_parse(listen, &cfg->listen, 1) ||
        cfg->listen.kind == ADDR_NONE || addr_parse(control, &cfg->control, 0))
        return -1;
    if (!hooks_set && snprintf(cfg->hooks, sizeof(cfg->hooks), "%s/burrow/post-fork.d", cfg->etc) >=
                          (int)sizeof(cfg->hooks))
        return -1;
    /* The home disk is the guest's virtio-blk slot; on the host it is the host's business. */
    if (!home_dev)
        home_dev = cfg->control.kind == ADDR_VSOCK ? "vda" : "none";
    if (strcmp(home_dev, "none") != 0 &&
        (copy_opt(cfg->home_dev, sizeof(cfg->home_dev), home_dev) || strchr(home_dev, '/')))
        return -1;
    return 0;
}

/*
 * Whatever started the agent may have left descriptors open without
 * O_CLOEXEC; they would reach every user process. Keep only 0-2.
 */
static void close_inherited_fds(void)
{
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
    if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
        return;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int self = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != self)
            fcntl(fd, F_SETFD, FD_CLOEXEC); /* closing while iterating is unsafe */
    }
    closedir(d);
}

static void reap_all(int sigfd)
{
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof(si)) > 0)
        ;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

static void accept_sessions(int lfd, int sigfd, const struct agent_config *cfg,
                            struct agent_state *st, struct control *ctl)
{
    for (;;) {
        /* Nonblocking: every write to the broker has a timeout (net_write_all). */
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: try on the next wakeup */
        pid_t pid = fork();
        if (pid == 0) {
            fwd_hub_in_child();
            close(lfd);
            close(sigfd);
            if (ctl && control_fd(ctl) >= 0)
                close(control_fd(ctl));
            session_main(fd, cfg, st);
        }
        if (pid < 0)
            log_warn("fork for a session: %s", strerror(errno));
        close(fd);
    }
}

int main(int argc, char **argv)
{
    static struct agent_config cfg;
    static struct agent_state st;
    int verbose = 0;
    if (parse_args(argc, argv, &cfg, &verbose)) {
        usage();
        return 2;
    }
    close_inherited_fds();
    log_init("burrow-agent", verbose ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    int lfd = net_listen(&cfg.listen);
    if (sigfd < 0 || lfd < 0 || fwd_hub_init() != 0) {
        log_error("listen: %s", strerror(errno));
        return 1;
    }
    struct control *ctl = NULL;
    if (cfg.control.kind == ADDR_NONE) {
        st.ready = 1; /* no host to wait for: serve at once */
        st.allow_root = cfg.allow_root;
    } else if (!(ctl = control_new(&cfg, &st))) {
        log_error("out of memory");
        return 1;
    }
    log_info("listening");

    for (;;) {
        struct pollfd p[4] = {{.fd = sigfd, .events = POLLIN},
                              {.fd = st.ready ? lfd : -1, .events = POLLIN},
                              {.fd = ctl ? control_fd(ctl) : -1, .events = POLLIN},
                              {.fd = fwd_hub_fd(), .events = POLLIN}};
        int64_t deadline = fwd_hub_deadline();
        if (ctl && control_deadline_ms(ctl) < deadline)
            deadline = control_deadline_ms(ctl);
        int timeout = -1;
        if (deadline != INT64_MAX) {
            int64_t left = deadline - clock_now_ms();
            timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        if (poll(p, 4, timeout) < 0 && errno != EINTR)
            break;
        fwd_hub_step(); /* offers, claims, expiry */
        if (p[0].revents) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo != SIGCHLD) {
                    log_info("signal %u: exiting", si.ssi_signo);
                    return 0;
                }
            }
            reap_all(sigfd);
        }
        if (ctl && control_step(ctl, p[2].revents != 0)) {
            log_info("power-off requested");
            return AGENT_EXIT_POWEROFF;
        }
        if (p[1].revents && st.ready)
            accept_sessions(lfd, sigfd, &cfg, &st, ctl);
    }
    log_error("poll: %s", strerror(errno));
    return 1;
}
