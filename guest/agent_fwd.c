/*
 * guest/agent_fwd.c - listeners for the broker: ssh -R (a tcp port on the
 * guest's loopback) and ssh -A (the agent socket), and the hand-over of each
 * connection they accept to the session that claims it.
 *
 * A LISTEN session (its own process, like every session) drops to the user,
 * creates the listener as her, answers LISTENING with a random token, then
 * sends one ACCEPTED frame per connection made to it. The connection itself
 * cannot travel over the broker's socket, so the listener hands its
 * descriptor to the agent's main process (the hub) with the token and the
 * connection's id; the broker opens another session, OPEN(accept) with that
 * token and id, and that session's process asks the hub for the descriptor
 * and relays it like a tcp session.
 *
 * Descriptors only move between the agent's own processes, over one
 * SOCK_SEQPACKET socketpair the main process makes before any session
 * (close-on-exec: no user process inherits it); a claim must name the
 * 128-bit random token only the broker learned. At most FWD_PENDING_MAX
 * connections wait at once, each for FWD_PENDING_TTL_MS; then it is closed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "guest/agent.h"

#define FWD_PENDING_MAX    64
#define FWD_PENDING_TTL_MS 30000
#define FWD_CLAIM_WAIT_MS  5000
#define FWD_OUT_CAP        (4 * PROTO_FRAME_MAX)
#define FWD_ACCEPTED_MAX   (PROTO_HDR_LEN + 16 + PROTO_HOST_MAX) /* one ACCEPTED frame */

enum hub_type { HUB_OFFER = 1, HUB_CLAIM = 2, HUB_CANCEL = 3 };

/* One hub message; OFFER carries the connection, CLAIM the socket for the answer. */
struct hub_msg {
    uint8_t type;
    uint8_t token[PROTO_TOKEN_LEN];
    uint32_t id;
};

struct pending {
    int fd; /* -1: free slot */
    uint8_t token[PROTO_TOKEN_LEN];
    uint32_t id;
    int64_t deadline;
};

static struct {
    int main_fd;  /* the main process's end */
    int child_fd; /* every session's end */
    struct pending p[FWD_PENDING_MAX];
} hub = {.main_fd = -1, .child_fd = -1};

/* ---- the hub, in the main process ---- */

int fwd_hub_init(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return BURROW_ERR_SYSTEM;
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
    hub.main_fd = sv[0];
    hub.child_fd = sv[1];
    for (int i = 0; i < FWD_PENDING_MAX; i++)
        hub.p[i].fd = -1;
    return 0;
}

int fwd_hub_fd(void)
{
    return hub.main_fd;
}

void fwd_hub_in_child(void)
{
    if (hub.main_fd >= 0)
        close(hub.main_fd);
    hub.main_fd = -1;
    for (int i = 0; i < FWD_PENDING_MAX; i++) {
        if (hub.p[i].fd >= 0)
            close(hub.p[i].fd); /* a fork copied them: they are not this session's */
        hub.p[i].fd = -1;
    }
}

static void drop_pending(struct pending *p)
{
    close(p->fd);
    p->fd = -1;
}

static void hub_offer(const struct hub_msg *m, int fd)
{
    struct pending *free_slot = NULL;
    for (int i = 0; i < FWD_PENDING_MAX; i++) {
        struct pending *p = &hub.p[i];
        if (p->fd < 0) {
            if (!free_slot)
                free_slot = p;
        } else if (p->id == m->id && memcmp(p->token, m->token, PROTO_TOKEN_LEN) == 0) {
            free_slot = NULL; /* an id offered twice: keep the first */
            break;
        }
    }
    if (!free_slot) {
        close(fd); /* the peer in the guest sees the connection end */
        return;
    }
    free_slot->fd = fd;
    free_slot->id = m->id;
    memcpy(free_slot->token, m->token, PROTO_TOKEN_LEN);
    free_slot->deadline = clock_now_ms() + FWD_PENDING_TTL_MS;
}

/* Answer on reply_fd: one byte (1 found, 0 not) with the connection attached. */
static void hub_claim(const struct hub_msg *m, int reply_fd)
{
    uint8_t found = 0;
    int fd = -1;
    struct pending *hit = NULL;
    for (int i = 0; i < FWD_PENDING_MAX && !hit; i++)
        if (hub.p[i].fd >= 0 && hub.p[i].id == m->id &&
            memcmp(hub.p[i].token, m->token, PROTO_TOKEN_LEN) == 0)
            hit = &hub.p[i];
    if (hit) {
        found = 1;
        fd = hit->fd;
    }
    if (fdpass_send(reply_fd, &found, 1, fd, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        log_debug("claim answer: %s", strerror(errno));
    if (hit)
        drop_pending(hit); /* exactly once: the claimer has its own copy now */
    close(reply_fd);
}

static void hub_cancel(const struct hub_msg *m)
{
    for (int i = 0; i < FWD_PENDING_MAX; i++)
        if (hub.p[i].fd >= 0 && memcmp(hub.p[i].token, m->token, PROTO_TOKEN_LEN) == 0)
            drop_pending(&hub.p[i]);
}

void fwd_hub_step(void)
{
    for (;;) {
        struct hub_msg m;
        int fd = -1, flags = 0;
        ssize_t n = fdpass_recv(hub.main_fd, &m, sizeof(m), &fd, MSG_DONTWAIT, &flags);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if ((size_t)n != sizeof(m) || (flags & MSG_TRUNC)) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        if (m.type == HUB_OFFER && fd >= 0)
            hub_offer(&m, fd);
        else if (m.type == HUB_CLAIM && fd >= 0)
            hub_claim(&m, fd);
        else if (m.type == HUB_CANCEL && fd < 0)
            hub_cancel(&m);
        else if (fd >= 0)
            close(fd);
    }
    int64_t now = clock_now_ms();
    for (int i = 0; i < FWD_PENDING_MAX; i++)
        if (hub.p[i].fd >= 0 && hub.p[i].deadline <= now)
            drop_pending(&hub.p[i]);
}

int64_t fwd_hub_deadline(void)
{
    int64_t d = INT64_MAX;
    for (int i = 0; i < FWD_PENDING_MAX; i++)
        if (hub.p[i].fd >= 0 && hub.p[i].deadline < d)
            d = hub.p[i].deadline;
    return d;
}

/* ---- a session's side ---- */

static int hub_send(enum hub_type type, const uint8_t *token, uint32_t id, int fd)
{
    struct hub_msg m;
    memset(&m, 0, sizeof(m));
    m.type = (uint8_t)type;
    memcpy(m.token, token, PROTO_TOKEN_LEN);
    m.id = id;
    ssize_t n;
    do {
        n = fdpass_send(hub.child_fd, &m, sizeof(m), fd, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(m) ? 0 : BURROW_ERR_SYSTEM;
}

int fwd_claim(const uint8_t *token, uint32_t id, int *fd_out, char *err, size_t errsz)
{
    int sv[2];
    *fd_out = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "socketpair: %s", strerror(errno));
    int r = hub_send(HUB_CLAIM, token, id, sv[1]);
    close(sv[1]);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    uint8_t found = 0;
    int fd = -1;
    if (r == 0 && poll(&p, 1, FWD_CLAIM_WAIT_MS) == 1 &&
        fdpass_recv(sv[0], &found, 1, &fd, 0, NULL) == 1 && found == 1 && fd >= 0) {
        close(sv[0]);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        *fd_out = fd;
        return 0;
    }
    if (fd >= 0)
        close(fd);
    close(sv[0]);
    return errmsg(err, errsz, BURROW_ERR_NOT_FOUND,
                  "no such connection waiting (expired or already taken)");
}

/* ---- a LISTEN session ---- */

struct listener {
    int sock; /* the broker */
    struct buf *out;
    int fd[2]; /* tcp: 127.0.0.1 and ::1; unix: one */
    int n_fd;
    char dir[64], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct proto_listening ans;
    uint32_t next_id;
};

static void __attribute__((noreturn)) listener_end(struct listener *l, int code)
{
    if (l->path[0])
        unlink(l->path);
    if (l->dir[0])
        rmdir(l->dir);
    (void)hub_send(HUB_CANCEL, l->ans.token, 0, -1);
    if (buf_len(l->out))
        (void)net_write_all(l->sock, buf_ptr(l->out), buf_len(l->out), 5000);
    close(l->sock);
    _exit(code);
}

static void __attribute__((noreturn)) listener_fail(struct listener *l, int code, const char *why)
{
    if (proto_put_error(l->out, code, why))
        buf_reset(l->out);
    listener_end(l, 1);
}

static int bind_tcp(int family, uint16_t port, uint16_t *bound)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(port);
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*a);
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        a->sin6_addr = in6addr_loopback;
        len = sizeof(*a);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    *bound = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                     : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

/*
 * sshd with GatewayPorts=no: the guest's loopback only, whatever address the
 * client named. IPv4 decides the port (a free one for 0); ::1 gets the same
 * port where it can.
 */
static void listen_tcp(struct listener *l, uint32_t port)
{
    uint16_t bound = 0, bound6 = 0;
    l->fd[0] = bind_tcp(AF_INET, (uint16_t)port, &bound);
    if (l->fd[0] < 0) {
        char why[128];
        snprintf(why, sizeof(why), "cannot listen on 127.0.0.1:%u: %s", (unsigned)port,
                 strerror(errno));
        listener_fail(l, BURROW_ERR_SYSTEM, why);
    }
    l->n_fd = 1;
    int fd6 = bind_tcp(AF_INET6, bound, &bound6);
    if (fd6 >= 0)
        l->fd[l->n_fd++] = fd6;
    l->ans.port = bound;
}

/* The agent socket: a fresh 0700 directory of hers in /tmp, the socket 0600 in it. */
static void listen_unix(struct listener *l)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(l->dir, sizeof(l->dir), "/tmp/burrow-agent-XXXXXX");
    if (!mkdtemp(l->dir)) {
        l->dir[0] = '\0';
        listener_fail(l, BURROW_ERR_SYSTEM, "cannot make a directory for the agent socket");
    }
    snprintf(l->path, sizeof(l->path), "%s/agent.sock", l->dir);
    memcpy(sa.sun_path, l->path, strlen(l->path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    mode_t old = umask(0177);
    int r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 16) < 0) {
        if (fd >= 0)
            close(fd);
        l->path[0] = '\0';
        listener_fail(l, BURROW_ERR_SYSTEM, "cannot create the agent socket");
    }
    l->fd[l->n_fd++] = fd;
    l->ans.path = proto_str_c(l->path);
}

/* The peer of an accepted connection, as ACCEPTED names it. */
static void peer_of(const struct sockaddr_storage *ss, char *host, size_t hostsz, uint32_t *port)
{
    host[0] = '\0';
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hostsz);
        *port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hostsz);
        *port = ntohs(a->sin6_port);
    }
}

/* One connection: to the hub with its id, then ACCEPTED to the broker. */
static void take_connection(struct listener *l, int lfd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    if (++l->next_id == 0)
        l->next_id = 1;
    struct proto_accepted a = {.id = l->next_id};
    char host[INET6_ADDRSTRLEN];
    peer_of(&ss, host, sizeof(host), &a.origin_port);
    a.origin = proto_str_c(host);
    int r = hub_send(HUB_OFFER, l->ans.token, a.id, fd);
    close(fd);
    if (r == 0 && proto_put_accepted(l->out, &a))
        listener_fail(l, BURROW_ERR_INVALID, "internal: no room for ACCEPTED");
}

static void flush(struct listener *l)
{
    ssize_t n = send(l->sock, buf_ptr(l->out), buf_len(l->out), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0 && buf_skip(l->out, (size_t)n))
        listener_end(l, 1);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        listener_end(l, 0);
    buf_compact(l->out);
}

/* The broker sends nothing after OPEN: its close (or any byte) ends the listener. */
static void __attribute__((noreturn)) serve(struct listener *l)
{
    for (;;) {
        struct pollfd p[3] = {{.fd = l->sock, .events = POLLIN}};
        int room = FWD_OUT_CAP - buf_used(l->out) >= FWD_ACCEPTED_MAX;
        if (buf_len(l->out))
            p[0].events |= POLLOUT;
        for (int i = 0; i < l->n_fd; i++)
            p[1 + i] = (struct pollfd){.fd = room ? l->fd[i] : -1, .events = POLLIN};
        if (poll(p, (nfds_t)(1 + l->n_fd), -1) < 0) {
            if (errno == EINTR)
                continue;
            listener_end(l, 1);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            listener_end(l, 0);
        if (p[0].revents & POLLOUT)
            flush(l);
        for (int i = 0; i < l->n_fd; i++)
            if (p[1 + i].revents)
                take_connection(l, l->fd[i]);
    }
}

void fwd_listen_session(int sock, struct buf *out, const struct agent_config *cfg,
                        const struct agent_state *st, const struct proto_open *o)
{
    static struct listener l;
    static uint8_t out_mem[FWD_OUT_CAP];
    struct agent_user u;
    gid_t groups[AGENT_GROUPS_MAX];
    int n_groups = 0;
    char err[256];
    memset(&l, 0, sizeof(l));
    l.sock = sock;
    l.fd[0] = l.fd[1] = -1;
    /* The session's buffer holds our HELLO; from here on a bigger one of our own. */
    struct buf big;
    buf_init_writer(&big, out_mem, sizeof(out_mem));
    if (buf_put_bytes(&big, buf_ptr(out), buf_len(out)))
        _exit(1);
    l.out = &big;
    if (getrandom(l.ans.token, sizeof(l.ans.token), 0) != (ssize_t)sizeof(l.ans.token))
        listener_fail(&l, BURROW_ERR_SYSTEM, "no randomness for the listener's token");
    int r = users_for_session(cfg, st, o->user, &u, err, sizeof(err));
    if (r)
        listener_fail(&l, r, err);
    if (o->host.len) /* the broker names no address: loopback only */
        listener_fail(&l, BURROW_ERR_INVALID, "a listener takes no address");
    if (users_groups(cfg->etc, u.name, u.gid, groups, &n_groups) ||
        users_drop_to(&u, groups, n_groups))
        listener_fail(&l, BURROW_ERR_SYSTEM, "cannot become the user");
    if (o->flags & PROTO_OPEN_F_UNIX)
        listen_unix(&l);
    else
        listen_tcp(&l, o->port);
    struct proto_opened opened = {.pid = 0};
    if (proto_put_opened(l.out, &opened) || proto_put_listening(l.out, &l.ans))
        listener_fail(&l, BURROW_ERR_INVALID, "internal");
    serve(&l);
}
