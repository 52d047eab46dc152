/* broker/session/agentconn.c - connect to a VM's agent through its vsock socket. */
#include "broker/session/agentconn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/vsockconn.h"

/* Wait for fd to become readable before the deadline. */
static int wait_readable(int fd, long deadline)
{
    for (;;) {
        long left = deadline - clock_now_ms();
        if (left <= 0)
            return BURROW_ERR_TIMEOUT;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return BURROW_ERR_SYSTEM;
    }
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return BURROW_ERR_SYSTEM;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read "OK <n>\n" byte by byte (no over-read: the agent's frames follow). */
static int vsock_ok(int fd, long deadline)
{
    char line[64];
    size_t got = 0;
    for (;;) {
        int r = wait_readable(fd, deadline);
        if (r != 0)
            return r;
        ssize_t k = read(fd, line + got, 1);
        if (k == 0)
            return BURROW_ERR_CLOSED;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return BURROW_ERR_SYSTEM;
        }
        if (line[got] == '\n')
            break;
        if (++got >= sizeof(line) - 1)
            return BURROW_ERR_PROTOCOL;
    }
    line[got] = 0;
    uint32_t port;
    return vsockconn_parse_ok(line, &port);
}

/* Read exactly one frame into mem; *f points into mem. */
static int read_frame(int fd, uint8_t *mem, size_t cap, struct proto_frame *f, long deadline)
{
    size_t have = 0;
    for (;;) {
        int r = proto_frame_parse(mem, have, f);
        if (r == 0)
            return have == f->size ? 0 : BURROW_ERR_PROTOCOL;
        if (r != BURROW_ERR_AGAIN)
            return r;
        /* Read only up to the end of this frame so nothing is lost. */
        size_t want = PROTO_HDR_LEN;
        if (have >= PROTO_HDR_LEN) {
            uint32_t len = (uint32_t)mem[0] | (uint32_t)mem[1] << 8 | (uint32_t)mem[2] << 16 |
                           (uint32_t)mem[3] << 24;
            want = PROTO_HDR_LEN + len;
        }
        if (want > cap)
            return BURROW_ERR_TOO_LARGE;
        r = wait_readable(fd, deadline);
        if (r != 0)
            return r;
        ssize_t k = read(fd, mem + have, want - have);
        if (k == 0)
            return BURROW_ERR_CLOSED;
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return BURROW_ERR_SYSTEM;
        }
        have += (size_t)k;
    }
}

static int send_frames(int fd, const struct proto_open *o)
{
    static uint8_t mem[PROTO_FRAME_MAX * 2];
    struct buf b;
    struct proto_hello h = {.version = PROTO_VERSION, .role = PROTO_ROLE_BROKER};
    buf_init_writer(&b, mem, sizeof(mem));
    int r = proto_put_hello(&b, &h);
    if (r == 0)
        r = proto_put_open(&b, o);
    if (r != 0)
        return r;
    return write_all(fd, buf_data(&b), buf_used(&b));
}

/* A listener's LISTENING frame, copied out of the frame (whose memory is reused). */
static int take_listening(const struct proto_frame *f, struct agentconn_listener *l, char *err,
                          size_t errsz)
{
    struct proto_listening pl;
    int r = proto_get_listening(f, &pl);
    if (r == 0)
        r = proto_str_copy(pl.path, l->path, sizeof(l->path));
    if (r != 0)
        return errmsg(err, errsz, r, "unexpected answer from the environment's agent");
    l->port = pl.port;
    memcpy(l->token, pl.token, sizeof(l->token));
    return 0;
}

/*
 * HELLO and OPEN out, HELLO and OPENED (or the agent's ERROR) back, and for
 * a listener (l not NULL) its LISTENING.
 */
static int handshake(int fd, const struct proto_open *o, struct agentconn_listener *l, char *err,
                     size_t errsz)
{
    static uint8_t mem[PROTO_FRAME_MAX];
    struct proto_frame f;
    long deadline = clock_now_ms() + AGENTCONN_TIMEOUT_MS;
    int r = send_frames(fd, o);
    if (r != 0)
        return errmsg(err, errsz, r, "cannot talk to the environment's agent");
    for (int step = 0; step < (l ? 3 : 2); step++) {
        r = read_frame(fd, mem, sizeof(mem), &f, deadline);
        if (r != 0)
            return errmsg(err, errsz, r, "the environment's agent closed the connection");
        if (f.type == PROTO_ERROR) {
            struct proto_error e;
            if (proto_get_error(&f, &e) == 0)
                snprintf(err, errsz, "%.*s", (int)e.text.len, e.text.p);
            else
                snprintf(err, errsz, "the environment's agent refused the session");
            return BURROW_ERR_PERM;
        }
        if (step == 0) {
            struct proto_hello h;
            if ((r = proto_get_hello(&f, &h)) != 0 || (r = proto_hello_check(&h)) != 0)
                return errmsg(err, errsz, r,
                              "the environment's agent speaks another protocol version");
        } else if (step == 2) {
            if ((r = take_listening(&f, l, err, errsz)) != 0)
                return r;
        } else {
            struct proto_opened op;
            if ((r = proto_get_opened(&f, &op)) != 0)
                return errmsg(err, errsz, r, "unexpected answer from the environment's agent");
        }
    }
    return 0;
}

int agentconn_open(const char *sock_path, int *fd_out, char *err, size_t errsz)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char line[32];
    if (strlen(sock_path) >= sizeof(sa.sun_path))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "socket path too long");
    strcpy(sa.sun_path, sock_path);
    /* Non-blocking: a unix connect either completes at once or the backlog is full. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int busy = errno == EAGAIN;
        snprintf(err, errsz,
                 busy ? "your environment is busy; try again"
                      : "your environment is not running (%s)",
                 strerror(errno));
        close(fd);
        return busy ? BURROW_ERR_BUSY : BURROW_ERR_CLOSED;
    }
    /* A dozen bytes into a fresh socket's buffer: never blocks. */
    int n = vsockconn_put_connect(line, sizeof(line), AGENTCONN_PORT);
    if (n < 0 || write_all(fd, line, (size_t)n) != 0 || fcntl(fd, F_SETFL, 0) != 0) {
        snprintf(err, errsz, "the environment's agent is not answering");
        close(fd);
        return BURROW_ERR_CLOSED;
    }
    *fd_out = fd;
    return 0;
}

int agentconn_await_ok(int fd, char *err, size_t errsz)
{
    int r = vsock_ok(fd, clock_now_ms() + AGENTCONN_TIMEOUT_MS);
    if (r == BURROW_ERR_TIMEOUT)
        snprintf(err, errsz, "the environment's agent is not answering");
    else if (r == BURROW_ERR_CLOSED)
        snprintf(err, errsz, "the environment refused the connection to its agent");
    else if (r != 0)
        snprintf(err, errsz, "the environment's agent is not answering (%s)", burrow_strerror(r));
    return r;
}

int agentconn_start(int fd, const struct proto_open *o, char *err, size_t errsz)
{
    int r = handshake(fd, o, NULL, err, errsz);
    if (r == 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return r;
}

int agentconn_listen(int fd, const struct proto_open *o, struct agentconn_listener *l, char *err,
                     size_t errsz)
{
    int r = handshake(fd, o, l, err, errsz);
    if (r == 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return r;
}
