/*
 * guest/agent_net.c - the agent's pluggable transport: AF_VSOCK in the guest,
 * AF_UNIX on the host (tests, the broker's sandbox backend), and framed reads
 * with timeouts for the handshake and the control channel.
 *
 * musl ships no <linux/vm_sockets.h>, so struct sockaddr_vm is spelled here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "guest/agent.h"

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

struct sockaddr_vm_ {
    unsigned short svm_family;
    unsigned short svm_reserved1;
    unsigned int svm_port;
    unsigned int svm_cid;
    unsigned char svm_zero[4];
};
#define VMADDR_CID_ANY_ 0xffffffffu

static int parse_u32(const char *s, uint32_t *v)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || end == s || *end || x > 0xffffffffUL)
        return BURROW_ERR_INVALID;
    *v = (uint32_t)x;
    return 0;
}

int addr_parse(const char *s, struct agent_addr *a, int for_listen)
{
    memset(a, 0, sizeof(*a));
    if (strcmp(s, "none") == 0)
        return 0;
    if (strncmp(s, "unix:", 5) == 0) {
        if (strlen(s + 5) == 0 || strlen(s + 5) >= sizeof(a->path))
            return BURROW_ERR_INVALID;
        a->kind = ADDR_UNIX;
        strcpy(a->path, s + 5);
        return 0;
    }
    if (strncmp(s, "vsock:", 6) == 0) {
        const char *rest = s + 6, *colon = strchr(rest, ':');
        a->kind = ADDR_VSOCK;
        a->cid = VMADDR_CID_ANY_;
        if (colon) {
            char cid[16];
            if ((size_t)(colon - rest) >= sizeof(cid))
                return BURROW_ERR_INVALID;
            memcpy(cid, rest, (size_t)(colon - rest));
            cid[colon - rest] = '\0';
            if (parse_u32(cid, &a->cid))
                return BURROW_ERR_INVALID;
            rest = colon + 1;
        } else if (!for_listen) {
            a->cid = 2; /* the host */
        }
        if (parse_u32(rest, &a->port) || a->port == 0)
            return BURROW_ERR_INVALID;
        return 0;
    }
    return BURROW_ERR_INVALID;
}

static int make_sockaddr(const struct agent_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->kind == ADDR_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, a->path, strlen(a->path) + 1);
        *len = sizeof(*un);
        return AF_UNIX;
    }
    if (a->kind == ADDR_VSOCK) {
        struct sockaddr_vm_ *vm = (struct sockaddr_vm_ *)ss;
        vm->svm_family = AF_VSOCK;
        vm->svm_port = a->port;
        vm->svm_cid = a->cid;
        *len = sizeof(*vm);
        return AF_VSOCK;
    }
    errno = EINVAL;
    return -1;
}

int net_listen(const struct agent_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int family = make_sockaddr(a, &ss, &len);
    if (family < 0)
        return -1;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (family == AF_UNIX)
        unlink(a->path); /* a stale socket from an earlier run */
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int net_connect(const struct agent_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int family = make_sockaddr(a, &ss, &len);
    if (family < 0)
        return -1;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - clock_now_ms();
        if (left <= 0)
            return BURROW_ERR_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return BURROW_ERR_SYSTEM;
    }
}

int net_write_all(int fd, const void *p, size_t n, int timeout_ms)
{
    const uint8_t *c = p;
    int64_t deadline = clock_now_ms() + timeout_ms;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r)
                return r;
            continue;
        }
        return w < 0 && errno == EPIPE ? BURROW_ERR_CLOSED : BURROW_ERR_SYSTEM;
    }
    return 0;
}

int net_read_frame(int fd, struct buf *in, struct proto_frame *f, int timeout_ms)
{
    int64_t deadline = clock_now_ms() + timeout_ms;
    for (;;) {
        int r = proto_frame_next(in, f);
        if (r != BURROW_ERR_AGAIN)
            return r;
        buf_compact(in);
        uint8_t *p;
        size_t room = PROTO_FRAME_MAX; /* callers give buffers of 2 * PROTO_FRAME_MAX */
        if (buf_reserve(in, room, &p))
            return BURROW_ERR_TOO_LARGE;
        ssize_t n = recv(fd, p, room, MSG_DONTWAIT);
        in->len -= room - (n > 0 ? (size_t)n : 0);
        if (n > 0)
            continue;
        if (n == 0)
            return BURROW_ERR_CLOSED;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return errno == ECONNRESET ? BURROW_ERR_CLOSED : BURROW_ERR_SYSTEM;
        r = wait_fd(fd, POLLIN, deadline);
        if (r)
            return r;
    }
}

int tcp_connect(const char *host, uint16_t port, char *err, size_t errsz)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    int r = getaddrinfo(host, service, &hints, &res);
    if (r)
        return errmsg(err, errsz, -1, "%s: %s", host, gai_strerror(r));
    int fd = -1, e = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return errmsg(err, errsz, -1, "connect %s:%u: %s", host, (unsigned)port, strerror(e));
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return fd;
}
