/*
 * vmm/virtio/vsock/vsock_host.c - virtio-vsock, host side: the listening unix
 * socket and Firecracker's "CONNECT <port>\n" / "OK <hostport>\n" handshake,
 * guest connections to internal handlers or `<uds>_<port>`, and moving bytes
 * between host sockets and guest buffers (see vsock.h). Called with the
 * device lock held.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/vsockconn.h"
#include "vmm/virtio/vsock/vsock_conn.h"

#define TAG_SPECIAL     (1ull << 63)
#define TAG_LISTEN      (TAG_SPECIAL | 0)
#define TAG_WAKE        (TAG_SPECIAL | 1)
#define PORT_SUFFIX_MAX 11 /* "_4294967295" */

static struct log_ratelimit host_rl;

static uint64_t conn_tag(const struct virtio_vsock *v, const struct vsock_conn *c)
{
    return ((uint64_t)(c->gen & 0x7fffffffu) << 32) | (uint64_t)(c - v->conns);
}

static int epoll_add(int epfd, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? BURROW_ERR_SYSTEM : 0;
}

int vsock_host_init(struct virtio_vsock *v, const char *uds_path)
{
    v->listen_fd = -1;
    v->wake_fd = -1;
    v->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (v->epfd < 0)
        return BURROW_ERR_SYSTEM;
    v->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (v->wake_fd < 0 || epoll_add(v->epfd, v->wake_fd, EPOLLIN, TAG_WAKE))
        return BURROW_ERR_SYSTEM;
    if (!uds_path)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(uds_path);
    /* `<path>_<port>` must fit too. */
    if (len == 0 || len + PORT_SUFFIX_MAX >= sizeof(sa.sun_path) ||
        len + PORT_SUFFIX_MAX >= sizeof(v->uds_path))
        return BURROW_ERR_TOO_LARGE;
    memcpy(sa.sun_path, uds_path, len + 1);
    v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (v->listen_fd < 0)
        return BURROW_ERR_SYSTEM;
    if (bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)))
        return errno == EADDRINUSE ? BURROW_ERR_EXISTS : BURROW_ERR_SYSTEM;
    memcpy(v->uds_path, uds_path, len + 1); /* ours to unlink from now on */
    if (listen(v->listen_fd, 128) || epoll_add(v->epfd, v->listen_fd, EPOLLIN, TAG_LISTEN))
        return BURROW_ERR_SYSTEM;
    return 0;
}

void vsock_host_fini(struct virtio_vsock *v)
{
    if (v->listen_fd >= 0)
        close(v->listen_fd);
    if (v->uds_path[0])
        unlink(v->uds_path);
    if (v->wake_fd >= 0)
        close(v->wake_fd);
    if (v->epfd >= 0)
        close(v->epfd);
    v->listen_fd = v->wake_fd = v->epfd = -1;
}

int virtio_vsock_host_fd(struct virtio_vsock *v)
{
    return v->epfd;
}

void vsock_wake(struct virtio_vsock *v)
{
    uint64_t one = 1;
    ssize_t r = write(v->wake_fd, &one, sizeof(one));
    (void)r; /* EAGAIN means a wake is already pending */
}

int vsock_host_watch(struct virtio_vsock *v, struct vsock_conn *c)
{
    /* Edge-triggered: readiness is remembered in the conn until EAGAIN. */
    return epoll_add(v->epfd, c->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, conn_tag(v, c));
}

int vsock_host_connect(struct virtio_vsock *v, uint32_t port, uint32_t guest_port, bool *internal)
{
    *internal = false;
    for (unsigned i = 0; i < v->nr_handlers; i++) {
        if (v->handlers[i].port != port)
            continue;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
            return -1;
        v->handlers[i].fn(v->handlers[i].ctx, sv[1], guest_port);
        *internal = true;
        return sv[0];
    }
    if (!v->uds_path[0])
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int plen = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds_path, port);
    if (plen < 0 || (size_t)plen >= sizeof(sa.sun_path))
        return -1; /* cannot happen: init left room for the suffix */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* A unix connect completes at once or fails (EAGAIN: backlog full, refuse too). */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        close(fd);
        return -1;
    }
    return fd;
}

static ssize_t send_iov(int fd, const struct iovec *iov, unsigned n)
{
    struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = n};
    ssize_t w;
    do
        w = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    return w;
}

/* Append iov[] minus its first `skip` bytes to the connection's ring buffer. */
static int buffer_rest(struct vsock_conn *c, const struct iovec *iov, unsigned n, size_t skip)
{
    if (!c->buf) {
        c->buf = malloc(VSOCK_CONN_BUF);
        if (!c->buf)
            return BURROW_ERR_NOMEM;
        c->buf_head = 0;
    }
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        p += skip;
        len -= skip;
        skip = 0;
        while (len) {
            uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
            size_t chunk = VSOCK_CONN_BUF - tail < len ? VSOCK_CONN_BUF - tail : len;
            memcpy(c->buf + tail, p, chunk);
            c->buf_len += (uint32_t)chunk;
            p += chunk;
            len -= chunk;
        }
    }
    return 0;
}

int vsock_host_send(struct virtio_vsock *v, struct vsock_conn *c, const struct iovec *iov,
                    unsigned n, uint32_t len)
{
    (void)v;
    /*
     * The guest's credit is what we last told it: VSOCK_CONN_BUF minus bytes
     * not yet reported forwarded. Buffered bytes never exceed that, so this
     * also bounds the buffer.
     */
    if (len > VSOCK_CONN_BUF - (c->rx_cnt - c->fwd_reported))
        return BURROW_ERR_GUEST;
    if (c->fd < 0)
        return BURROW_ERR_CLOSED;
    size_t done = 0;
    if (c->buf_len == 0 && len) { /* straight from guest memory, no copy */
        ssize_t w = send_iov(c->fd, iov, n);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return BURROW_ERR_CLOSED;
        if (w < 0)
            c->host_writable = false;
        done = w > 0 ? (size_t)w : 0;
    }
    if (done < len) {
        int r = buffer_rest(c, iov, n, done);
        if (r)
            return r;
    }
    c->rx_cnt += len;
    c->fwd_cnt += (uint32_t)done;
    return 0;
}

int vsock_host_flush(struct vsock_conn *c)
{
    while (c->buf_len && c->fd >= 0) {
        uint32_t first =
            VSOCK_CONN_BUF - c->buf_head < c->buf_len ? VSOCK_CONN_BUF - c->buf_head : c->buf_len;
        struct iovec iov[2] = {{c->buf + c->buf_head, first}, {c->buf, c->buf_len - first}};
        ssize_t w = send_iov(c->fd, iov, c->buf_len > first ? 2 : 1);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->host_writable = false;
            return 0;
        }
        if (w <= 0)
            return BURROW_ERR_CLOSED;
        c->buf_head = (c->buf_head + (uint32_t)w) % VSOCK_CONN_BUF;
        c->buf_len -= (uint32_t)w;
        c->fwd_cnt += (uint32_t)w;
    }
    if (c->buf_len == 0 && c->buf) { /* idle connections hold no buffer */
        free(c->buf);
        c->buf = NULL;
        c->buf_head = 0;
    }
    return 0;
}

int vsock_host_recv(struct vsock_conn *c, struct iovec *iov, unsigned n)
{
    ssize_t r;
    do
        r = readv(c->fd, iov, (int)n);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? BURROW_ERR_AGAIN : BURROW_ERR_SYSTEM;
    return (int)r;
}

int vsock_host_accepted(struct vsock_conn *c)
{
    char line[VSOCKCONN_LINE_MAX];
    int len = vsockconn_put_ok(line, sizeof(line), c->local_port);
    if (len < 0)
        return len;
    struct iovec iov = {line, (size_t)len};
    return send_iov(c->fd, &iov, 1) == len ? 0 : BURROW_ERR_CLOSED;
}

static uint32_t alloc_local_port(struct virtio_vsock *v)
{
    for (;;) {
        uint32_t p = v->next_ephemeral++;
        if (v->next_ephemeral < VSOCK_EPHEMERAL_BASE)
            v->next_ephemeral = VSOCK_EPHEMERAL_BASE;
        bool used = false;
        for (unsigned i = 0; i < VSOCK_MAX_CONNS && !used; i++)
            used = v->conns[i].state != CONN_FREE && v->conns[i].local_port == p;
        if (!used) /* at most VSOCK_MAX_CONNS ports are taken, so this ends */
            return p;
    }
}

/* Read the CONNECT line a byte at a time so no payload behind it is consumed. */
static void handshake(struct virtio_vsock *v, struct vsock_conn *c)
{
    for (;;) {
        char ch;
        ssize_t r = read(c->fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->host_readable = false;
            return;
        }
        if (r <= 0 || (ch != '\n' && c->line_len >= VSOCK_LINE_MAX - 1)) {
            vsock_conn_free(v, c); /* closed socket: Firecracker's answer to a bad request */
            return;
        }
        if (ch != '\n') {
            c->line[c->line_len++] = ch;
            continue;
        }
        c->line[c->line_len] = '\0';
        uint32_t port;
        if (vsockconn_parse_connect(c->line, &port)) {
            if (log_ratelimit_ok(&host_rl, 10, 60))
                log_warn("virtio-vsock: host client sent a bad CONNECT line");
            vsock_conn_free(v, c);
            return;
        }
        c->peer_port = port;
        c->local_port = alloc_local_port(v);
        c->state = CONN_CONNECTING;
        c->pending |= PEND_REQUEST;
        return;
    }
}

static void accept_clients(struct virtio_vsock *v)
{
    for (;;) {
        int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error: the next edge retries */
        struct vsock_conn *c = vsock_conn_alloc(v);
        if (!c) {
            if (log_ratelimit_ok(&host_rl, 10, 60))
                log_warn("virtio-vsock: %u connections; refusing a host client", VSOCK_MAX_CONNS);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = CONN_HANDSHAKE;
        c->host_readable = true;
        if (vsock_host_watch(v, c)) {
            vsock_conn_free(v, c);
            continue;
        }
        handshake(v, c); /* the line may already be there */
    }
}

static void conn_event(struct virtio_vsock *v, uint64_t tag, uint32_t ev)
{
    uint32_t idx = (uint32_t)tag;
    if (idx >= VSOCK_MAX_CONNS)
        return;
    struct vsock_conn *c = &v->conns[idx];
    if (c->state == CONN_FREE || c->fd < 0 || conn_tag(v, c) != tag)
        return; /* freed (and maybe reused) since the event was queued */
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->host_readable = true;
    if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        c->host_writable = true;
    if (c->state == CONN_HANDSHAKE) {
        handshake(v, c);
        return;
    }
    if (c->state == CONN_CONNECTING && (ev & (EPOLLHUP | EPOLLERR))) {
        vsock_conn_abort(v, c); /* the client gave up before the guest answered */
        return;
    }
    if (c->host_writable && c->buf_len) {
        if (vsock_host_flush(c)) {
            vsock_conn_abort(v, c);
            return;
        }
        vsock_conn_flushed(v, c);
    }
}

void vsock_host_events(struct virtio_vsock *v)
{
    struct epoll_event evs[64];
    int n;
    do {
        n = epoll_wait(v->epfd, evs, 64, 0);
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64;
            if (tag == TAG_LISTEN) {
                accept_clients(v);
            } else if (tag == TAG_WAKE) {
                uint64_t cnt;
                ssize_t r = read(v->wake_fd, &cnt, sizeof(cnt));
                (void)r;
            } else {
                conn_event(v, tag, evs[i].events);
            }
        }
    } while (n == 64);
}
