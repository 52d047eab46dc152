/*
 * broker/vm/sbx_super.c - the sandbox backend's supervisor process and its
 * vm_backend_ops (see backend_sandbox.c for the namespaces and mounts).
 *
 * The supervisor is the sandbox's equivalent of a VMM process: it serves
 * the agent's control connection (HELLO, IDENTITY -> READY, SHUTDOWN) and
 * the vsock-style socket run_dir/vm/<id>/vsock.sock, owned by the user's
 * session uid, where each "CONNECT 1024\n" becomes a connection to the
 * agent's unix socket. It writes "OK" to the master's ready pipe once the
 * agent is READY, and exits when the sandbox's PID 1 dies or after a stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/vm/backend_sandbox.h"
#include "broker/cluster/cluster.h"
#include "broker/fsutil.h"
#include "broker/users/homedisk.h"
#include "broker/users/hostuid.h"
#include "broker/vm/vmident.h"
#include "common/atomicfile.h"
#include "common/clock.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/vsockconn.h"
#include "vmm/ctlport.h"
#include "vmm/registry.h"

#define SUP_CONNS_MAX        256
#define SUP_BUF              (64u * 1024)
#define SUP_READY_TIMEOUT_MS 30000
#define SUP_STOP_TIMEOUT_MS  10000

struct conn {
    int cfd, afd;  /* client (session process), agent */
    int connected; /* CONNECT line handled */
    char line[64];
    size_t line_len;
    uint8_t c2a[SUP_BUF], a2c[SUP_BUF];
    size_t c2a_len, a2c_len;
    int c_eof, a_eof; /* read side reached EOF */
};

struct sup {
    struct sbx x;
    int ctl_lfd, ctl_fd, vs_lfd, sig_fd;
    struct ctlport_rx ctl_rx; /* the agent's control stream (vmm/ctlport.h) */
    unsigned long heartbeats; /* read since READY (logged at the stop) */
    struct conn *conns[SUP_CONNS_MAX];
    unsigned n_conns;
    /*
     * run_dir/vm/<id>/agent, opened before the sandbox exists: its /run/burrow,
     * which root inside the sandbox may change (allow_root), so agent.sock is
     * only ever connected through fs_connect_unix_at (no symlink followed).
     */
    int agent_dirfd;
};

static int listen_unix(const char *path, uid_t owner)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    strcpy(sa.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || chown(path, owner, owner) != 0 ||
        chmod(path, 0600) != 0 || listen(fd, 64) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 1000);
            continue;
        }
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* --- control connection ---------------------------------------------------- */

/* One read of what the agent sent, never waiting: 0, BURROW_ERR_AGAIN, _CLOSED or _SYSTEM. */
static int ctl_fill(struct sup *s)
{
    size_t room;
    uint8_t *space = ctlport_rx_space(&s->ctl_rx, &room);
    if (room == 0)
        return BURROW_ERR_PROTOCOL; /* a frame never fits: ctlport_rx_next refused it already */
    ssize_t n = recv(s->ctl_fd, space, room, MSG_DONTWAIT);
    if (n == 0)
        return BURROW_ERR_CLOSED;
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? BURROW_ERR_AGAIN : BURROW_ERR_SYSTEM;
    ctlport_rx_added(&s->ctl_rx, (size_t)n);
    return 0;
}

/* Next control frame within the deadline; it stays valid until the next call. */
static int ctl_next(struct sup *s, struct proto_frame *f, long deadline)
{
    for (;;) {
        int r = ctlport_rx_next(&s->ctl_rx, f);
        if (r != BURROW_ERR_AGAIN)
            return r;
        long left = deadline - clock_now_ms();
        struct pollfd p = {.fd = s->ctl_fd, .events = POLLIN};
        if (left <= 0)
            return BURROW_ERR_TIMEOUT;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        r = ctl_fill(s);
        if (r != 0 && r != BURROW_ERR_AGAIN)
            return r;
    }
}

/*
 * Between READY and a stop the agent only sends heartbeats: read what is
 * there without waiting and drop every whole frame. Reading is what keeps
 * the control socket from filling up (the agent would block in send, and
 * every new session with it) and poll from reporting the same bytes for
 * ever. 0, or a negative code when the agent is gone or broke the framing.
 */
static int ctl_drain(struct sup *s)
{
    struct proto_frame f;
    int r = ctl_fill(s);
    if (r != 0 && r != BURROW_ERR_AGAIN)
        return r;
    while ((r = ctlport_rx_next(&s->ctl_rx, &f)) == 0)
        s->heartbeats += f.type == PROTO_HEARTBEAT;
    return r == BURROW_ERR_AGAIN ? 0 : r;
}

/* The agent's HELLO answered: ours and the IDENTITY (vmm/ctlport.h). */
static int send_greeting(struct sup *s, const struct proto_frame *hello)
{
    static uint8_t mem[PROTO_FRAME_MAX * 2];
    static struct fork_identity who;
    struct buf b;
    if (sodium_init() < 0) /* the entropy comes from libsodium's generator */
        return BURROW_ERR_SYSTEM;
    vm_identity(s->x.cfg, s->x.rec, &who);
    buf_init_writer(&b, mem, sizeof(mem));
    int r = ctlport_answer_hello(hello, &b);
    if (r == 0)
        r = ctlport_put_identity(&b, &who, false, NULL, NULL);
    if (r != 0)
        return r;
    return send_all(s->ctl_fd, buf_data(&b), buf_used(&b)) == 0 ? 0 : BURROW_ERR_CLOSED;
}

/* Accept the agent's control connection and wait for READY. */
static int agent_handshake(struct sup *s)
{
    long deadline = clock_now_ms() + SUP_READY_TIMEOUT_MS;
    struct proto_frame f;
    struct pollfd p = {.fd = s->ctl_lfd, .events = POLLIN};
    while (s->ctl_fd < 0) {
        long left = deadline - clock_now_ms();
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR))
            return BURROW_ERR_TIMEOUT;
        s->ctl_fd = accept4(s->ctl_lfd, NULL, NULL, SOCK_CLOEXEC);
        int st;
        if (waitpid(s->x.child, &st, WNOHANG) == s->x.child)
            return BURROW_ERR_CLOSED;
    }
    int r = ctl_next(s, &f, deadline);
    if (r != 0 || (r = send_greeting(s, &f)) != 0)
        return r;
    for (;;) {
        if ((r = ctl_next(s, &f, deadline)) != 0)
            return r;
        if (f.type == PROTO_READY) {
            struct proto_ready rd;
            if ((r = proto_get_ready(&f, &rd)) != 0)
                return r;
            for (int i = 0; i < PROTO_STEP_COUNT; i++)
                /* The sandbox shares the host kernel's RNG: nothing to reseed. */
                if (rd.outcome[i] == PROTO_STEP_FAILED && i != PROTO_STEP_ENTROPY)
                    log_warn("sandbox %s: agent step %d failed: %.*s", s->x.vm->id, i,
                             (int)rd.text[i].len, rd.text[i].p);
            return 0;
        }
        if (f.type == PROTO_ERROR)
            return BURROW_ERR_PROTOCOL;
    }
}

/* --- the vsock-style socket --------------------------------------------- */

/* The open connections' count, for the master; a failed write is retried at the next change. */
static void write_conns(struct sup *s)
{
    char path[VMMGR_PATH_MAX + 16], text[16];
    snprintf(path, sizeof(path), "%s/conns", s->x.dir);
    int n = snprintf(text, sizeof(text), "%u\n", s->n_conns);
    if (fs_write_atomic(path, text, (size_t)n, 0644) != 0)
        log_debug("sandbox %s: cannot write %s: %s", s->x.dir, path, strerror(errno));
}

static void conn_free(struct sup *s, unsigned i)
{
    struct conn *c = s->conns[i];
    close(c->cfd);
    if (c->afd >= 0)
        close(c->afd);
    free(c);
    s->conns[i] = NULL;
    s->n_conns--;
    write_conns(s);
}

static void accept_conn(struct sup *s)
{
    int fd = accept4(s->vs_lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (unsigned i = 0; i < SUP_CONNS_MAX; i++) {
        if (s->conns[i])
            continue;
        struct conn *c = calloc(1, sizeof(*c));
        if (!c)
            break;
        c->cfd = fd;
        c->afd = -1;
        s->conns[i] = c;
        s->n_conns++;
        write_conns(s);
        return;
    }
    close(fd);
}

/* Read the "CONNECT <port>\n" line; 1 done, 0 more needed, -1 refuse. */
static int conn_handshake(struct sup *s, struct conn *c)
{
    while (c->line_len < sizeof(c->line) - 1) {
        ssize_t n = read(c->cfd, c->line + c->line_len, 1);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;
        if (c->line[c->line_len] == '\n') {
            c->line[c->line_len] = 0;
            uint32_t port;
            if (vsockconn_parse_connect(c->line, &port) != 0 || port != PROTO_SESSION_PORT)
                return -1;
            c->afd = fs_connect_unix_at(s->agent_dirfd, "agent.sock");
            if (c->afd < 0) {
                if (c->afd == BURROW_ERR_PERM)
                    log_warn("sandbox %s: its agent.sock is not a socket (a symlink?): refused",
                             s->x.vm->id);
                c->afd = -1;
                return -1;
            }
            fcntl(c->afd, F_SETFL, O_NONBLOCK);
            char ok[VSOCKCONN_LINE_MAX];
            int len = vsockconn_put_ok(ok, sizeof(ok), PROTO_SESSION_PORT);
            if (len < 0 || send(c->cfd, ok, (size_t)len, MSG_NOSIGNAL) != len)
                return -1;
            c->connected = 1;
            return 1;
        }
        c->line_len++;
    }
    return -1;
}

/* Move bytes from -> buffer -> to. Returns -1 when the pair is finished. */
static void relay(int from, int to, uint8_t *b, size_t *len, int *eof)
{
    if (!*eof && *len < SUP_BUF) {
        ssize_t n = read(from, b + *len, SUP_BUF - *len);
        if (n > 0)
            *len += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            *eof = 1;
    }
    if (*len > 0) {
        ssize_t w = send(to, b, *len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            memmove(b, b + w, *len - (size_t)w);
            *len -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            *eof = 1;
            *len = 0;
        }
    }
    if (*eof && *len == 0)
        shutdown(to, SHUT_WR);
}

static void service_conn(struct sup *s, unsigned i, short cre, short are)
{
    struct conn *c = s->conns[i];
    if (!c->connected) {
        if ((cre & (POLLHUP | POLLERR)) || (cre && conn_handshake(s, c) < 0))
            conn_free(s, i);
        return;
    }
    relay(c->cfd, c->afd, c->c2a, &c->c2a_len, &c->c_eof);
    relay(c->afd, c->cfd, c->a2c, &c->a2c_len, &c->a_eof);
    /* A hung-up side is reported by every poll: end the pair rather than spin.
     * The session closed (nothing more can reach it), or the agent is gone
     * and everything it sent has been delivered. */
    int client_gone = (cre & (POLLHUP | POLLERR)) != 0;
    int agent_gone = (are & POLLERR) || ((are & POLLHUP) && c->a_eof && !c->a2c_len);
    if (client_gone || agent_gone || (c->c_eof && c->a_eof && !c->c2a_len && !c->a2c_len))
        conn_free(s, i);
}

/* --- stop ------------------------------------------------------------------ */

static void graceful_stop(struct sup *s)
{
    static uint8_t mem[256];
    struct buf b;
    struct proto_frame f;
    struct proto_shutdown sd = {.flags = 0};
    log_info("sandbox %s: stopping (%lu heartbeats from its agent)", s->x.vm->id, s->heartbeats);
    buf_init_writer(&b, mem, sizeof(mem));
    if (s->ctl_fd >= 0 && proto_put_shutdown(&b, &sd) == 0 &&
        send_all(s->ctl_fd, buf_data(&b), buf_used(&b)) == 0) {
        long deadline = clock_now_ms() + SUP_STOP_TIMEOUT_MS;
        while (ctl_next(s, &f, deadline) == 0) {
            struct proto_shutdown_answer a;
            if (f.type != PROTO_SHUTDOWN_ANSWER)
                continue;
            if (proto_get_shutdown_answer(&f, &a) == 0 && a.code != 0)
                log_warn("sandbox %s: agent shutdown: %.*s", s->x.vm->id, (int)a.text.len,
                         a.text.p);
            break;
        }
    }
    kill(s->x.child, SIGKILL);
    waitpid(s->x.child, NULL, 0);
}

static void cleanup_exit(struct sup *s, int code)
{
    char p[VMMGR_PATH_MAX + 32];
    snprintf(p, sizeof(p), "%s/vsock.sock", s->x.dir);
    unlink(p);
    _exit(code);
}

static void supervise(struct sup *s)
{
    struct pollfd pf[3 + 2 * SUP_CONNS_MAX];
    unsigned idx[SUP_CONNS_MAX];
    for (;;) {
        unsigned n = 0, k = 0;
        pf[n++] = (struct pollfd){.fd = s->sig_fd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = s->vs_lfd, .events = POLLIN};
        pf[n++] = (struct pollfd){.fd = s->ctl_fd, .events = POLLIN};
        for (unsigned i = 0; i < SUP_CONNS_MAX; i++) {
            struct conn *c = s->conns[i];
            if (!c)
                continue;
            idx[k++] = i;
            short ce =
                (!c->c_eof && c->c2a_len < SUP_BUF ? POLLIN : 0) | (c->a2c_len ? POLLOUT : 0);
            short ae =
                (!c->a_eof && c->a2c_len < SUP_BUF ? POLLIN : 0) | (c->c2a_len ? POLLOUT : 0);
            pf[n++] = (struct pollfd){.fd = c->cfd, .events = c->connected ? ce : POLLIN};
            pf[n++] = (struct pollfd){.fd = c->afd, .events = c->connected ? ae : 0};
        }
        if (poll(pf, n, -1) < 0 && errno != EINTR)
            cleanup_exit(s, 1);
        if (pf[0].revents) {
            struct signalfd_siginfo si;
            while (read(s->sig_fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    graceful_stop(s);
                    cleanup_exit(s, 0);
                }
                int st;
                if (si.ssi_signo == SIGCHLD && waitpid(s->x.child, &st, WNOHANG) == s->x.child) {
                    log_warn("sandbox %s: its init ended (status 0x%x)", s->x.vm->id, st);
                    cleanup_exit(s, 1);
                }
            }
        }
        if (pf[1].revents & POLLIN)
            accept_conn(s);
        if (pf[2].revents && ctl_drain(s) != 0) {
            log_warn("sandbox %s: the agent's control connection ended", s->x.vm->id);
            close(s->ctl_fd);
            s->ctl_fd = -1;
        }
        for (unsigned j = 0; j < k; j++) {
            unsigned i = idx[j];
            if (s->conns[i] && (pf[3 + 2 * j].revents || pf[4 + 2 * j].revents))
                service_conn(s, i, pf[3 + 2 * j].revents, pf[4 + 2 * j].revents);
        }
    }
}

/*
 * Lock her home image. A sandbox that just died may still hold it for a
 * moment (its loop device lets go when its mount namespace is torn down), so
 * wait a little; the master is not blocked, the session waits for OK.
 */
static int lock_home(const struct burrow_config *cfg, const struct user_record *rec)
{
    char home[CONFIG_PATH_MAX * 2];
    int fd = -1;
    if (cluster_enabled(cfg)) /* her disk is an NBD export (docs/cluster.md) */
        return cluster_home_open(cfg, rec->name, getpid(), &fd) == 0 ? fd : -2;
    snprintf(home, sizeof(home), "%s/users/%s/home.img", cfg->paths.state_dir, rec->name);
    for (int i = 0; i < 100; i++) {
        int r = homedisk_open_locked(home, &fd);
        if (r == 0)
            return fd;
        if (r != BURROW_ERR_BUSY)
            return -1; /* no home disk: an empty /home/<user> in the tmpfs */
        usleep(100 * 1000);
    }
    log_error("sandbox: the home disk of %s stays in use by another VM", rec->name);
    return -2;
}

static void supervisor_main(struct vmmgr *m, struct uservm *vm, const struct user_record *rec,
                            int ready_fd)
{
    static struct sup sup;
    struct sup *s = &sup;
    char p[VMMGR_PATH_MAX + 32];
    sigset_t mask;

    setsid();
    prctl(PR_SET_NAME, "burrow-sandbox", 0, 0, 0);
    int home_fd = lock_home(m->cfg, rec);
    if (home_fd == -2)
        _exit(2);
    /* Fixed fds: 3 = ready pipe, 4 = home image; nothing else of the master's. */
    if (dup2(ready_fd, 3) < 0 || (home_fd >= 0 && dup2(home_fd, 4) < 0))
        _exit(2);
    close_range(home_fd >= 0 ? 5 : 4, ~0u, 0);
    memset(s, 0, sizeof(*s));
    s->ctl_fd = -1;
    s->x.home_fd = home_fd >= 0 ? 4 : -1;
    if (sbx_setup_dirs(&s->x, m->cfg, vm, rec, m->guest_image) != 0) {
        log_error("sandbox %s: cannot create its directories: %s", vm->id, strerror(errno));
        _exit(3);
    }
    s->agent_dirfd = open(s->x.agentdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if ((size_t)snprintf(p, sizeof(p), "%s/control.sock", s->x.agentdir) >= sizeof(p) ||
        s->agent_dirfd < 0)
        _exit(3);
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s->sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    s->ctl_lfd = listen_unix(p, s->x.base);
    if (s->sig_fd < 0 || s->ctl_lfd < 0 || sbx_spawn(&s->x) != 0) {
        log_error("sandbox %s: cannot start: %s", vm->id, strerror(errno));
        _exit(4);
    }
    int r = agent_handshake(s);
    if (r != 0) {
        log_error("sandbox %s: the agent did not become ready: %s", vm->id, burrow_strerror(r));
        kill(s->x.child, SIGKILL);
        _exit(5);
    }
    close(s->ctl_lfd);
    if ((size_t)snprintf(p, sizeof(p), "%s/vsock.sock", s->x.dir) >= sizeof(p))
        _exit(6);
    uid_t session_uid;
    s->vs_lfd = hostuid_session(rec->uid, &session_uid) == 0 ? listen_unix(p, session_uid) : -1;
    struct vm_record reg;
    memset(&reg, 0, sizeof(reg));
    memcpy(reg.id, vm->id, sizeof(reg.id));
    snprintf(reg.dir, sizeof(reg.dir), "%s", vm->dir);
    snprintf(reg.user, sizeof(reg.user), "%s", rec->name);
    snprintf(reg.template_name, sizeof(reg.template_name), "%s", vm->reg_template);
    snprintf(reg.build, sizeof(reg.build), "sandbox");
    reg.started = (uint64_t)time(NULL);
    if (s->vs_lfd < 0 || registry_publish(&reg) != 0 || write(3, "OK\n", 3) != 3) {
        kill(s->x.child, SIGKILL);
        _exit(6);
    }
    close(3);
    write_conns(s);
    supervise(s);
}

/* --- vm_backend_ops ------------------------------------------------------ */

static int sbx_start(struct vmmgr *m, struct uservm *vm, const struct user_record *rec)
{
    int ready[2];
    if (access(m->guest_image, R_OK) != 0) {
        log_error("sandbox: guest image %s: %s", m->guest_image, strerror(errno));
        return BURROW_ERR_NOT_FOUND;
    }
    if (pipe2(ready, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        supervisor_main(m, vm, rec, ready[1]);
        _exit(1);
    }
    close(ready[1]);
    if (pid < 0) {
        close(ready[0]);
        return BURROW_ERR_SYSTEM;
    }
    vm->pid = pid;
    vm->ready_fd = ready[0];
    return 0;
}

const struct vm_backend_ops backend_sandbox = {
    .name = "sandbox",
    .start = sbx_start,
    .stop = vmmgr_signal_stop,
    .active = vmmgr_read_conns,
};
