/* tests/agent/client.c - the agent tier's protocol client (see client.h). */
#include "tests/agent/client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"

static int64_t ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cl_connect(struct cl *c, const char *path)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strncpy(un.sun_path, path, sizeof(un.sun_path) - 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    buf_init_writer(&c->in, c->in_mem, sizeof(c->in_mem));
    return 0;
}

void cl_close(struct cl *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int cl_send_raw(struct cl *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static uint8_t scratch[PROTO_FRAME_MAX];

#define SEND_WITH(c, call)                                                                         \
    do {                                                                                           \
        struct buf b_;                                                                             \
        buf_init_writer(&b_, scratch, sizeof(scratch));                                            \
        struct buf *b = &b_;                                                                       \
        if (call)                                                                                  \
            return -1;                                                                             \
        return cl_send_raw(c, buf_data(b), buf_used(b));                                           \
    } while (0)

int cl_send_hello(struct cl *c)
{
    struct proto_hello h = {.version = PROTO_VERSION, .role = PROTO_ROLE_BROKER};
    SEND_WITH(c, proto_put_hello(b, &h));
}
int cl_send_open(struct cl *c, const struct proto_open *o)
{
    SEND_WITH(c, proto_put_open(b, o));
}
int cl_send_data(struct cl *c, const void *p, size_t n)
{
    SEND_WITH(c, proto_put_data(b, PROTO_STDIN, p, n));
}
int cl_send_eof(struct cl *c)
{
    SEND_WITH(c, proto_put_eof(b, PROTO_STREAM_STDIN));
}
int cl_send_window(struct cl *c, uint32_t cols, uint32_t rows)
{
    struct proto_window w = {.cols = cols, .rows = rows};
    SEND_WITH(c, proto_put_window(b, &w));
}
int cl_send_signal(struct cl *c, uint32_t signo)
{
    SEND_WITH(c, proto_put_signal(b, signo));
}

/* Make room and read whatever is there (waiting up to timeout_ms). */
static int fill(struct cl *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    if (n == 0)
        return BURROW_ERR_TIMEOUT;
    if (n < 0)
        return errno == EINTR ? 0 : BURROW_ERR_SYSTEM;
    buf_compact(&c->in);
    size_t room = sizeof(c->in_mem) - buf_used(&c->in);
    uint8_t *w;
    if (buf_reserve(&c->in, room, &w))
        return BURROW_ERR_TOO_LARGE;
    ssize_t r = recv(c->fd, w, room, MSG_DONTWAIT);
    c->in.len -= room - (r > 0 ? (size_t)r : 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        return BURROW_ERR_CLOSED;
    return 0;
}

int cl_read_frame(struct cl *c, struct proto_frame *f, int timeout_ms)
{
    int64_t deadline = ms() + timeout_ms;
    for (;;) {
        int r = proto_frame_next(&c->in, f);
        if (r != BURROW_ERR_AGAIN)
            return r;
        int64_t left = deadline - ms();
        if (left <= 0)
            return BURROW_ERR_TIMEOUT;
        r = fill(c, (int)left);
        if (r)
            return r;
    }
}

static void append(uint8_t **p, size_t *len, size_t *cap, const uint8_t *d, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 4096);
        while (nc < *len + n + 1)
            nc *= 2;
        *p = realloc(*p, nc);
        if (!*p)
            abort();
        *cap = nc;
    }
    memcpy(*p + *len, d, n);
    *len += n;
    (*p)[*len] = 0; /* keep it printable as a string */
}

void res_take(struct result *res, const struct proto_frame *f)
{
    const uint8_t *d;
    size_t n;
    switch (f->type) {
    case PROTO_STDOUT:
        if (proto_get_data(f, &d, &n) == 0)
            append(&res->out, &res->out_len, &res->out_cap, d, n);
        break;
    case PROTO_STDERR:
        if (proto_get_data(f, &d, &n) == 0)
            append(&res->err, &res->err_len, &res->err_cap, d, n);
        break;
    case PROTO_EXIT:
        if (proto_get_exit(f, &res->exit) == 0)
            res->got_exit = 1;
        break;
    case PROTO_EOF:
        res->got_eof = 1;
        break;
    case PROTO_ERROR: {
        struct proto_error e;
        if (proto_get_error(f, &e) == 0) {
            res->got_error = 1;
            res->error_code = e.code;
            if (proto_str_copy(e.text, res->error_text, sizeof(res->error_text)))
                res->error_text[0] = 0;
        }
        break;
    }
    }
}

int cl_start(struct cl *c, const struct proto_open *o, struct result *res)
{
    struct proto_frame f;
    if (cl_send_hello(c) || cl_send_open(c, o))
        return BURROW_ERR_CLOSED;
    int r = cl_read_frame(c, &f, 5000);
    if (r)
        return r;
    if (f.type != PROTO_HELLO)
        return BURROW_ERR_PROTOCOL;
    r = cl_read_frame(c, &f, 10000);
    if (r)
        return r;
    struct proto_opened op;
    if (f.type == PROTO_OPENED && proto_get_opened(&f, &op) == 0) {
        c->pid = op.pid;
        return 0;
    }
    res_take(res, &f);
    return res->got_error ? (res->error_code ? res->error_code : BURROW_ERR_PROTOCOL)
                          : BURROW_ERR_PROTOCOL;
}

int cl_wait_output(struct cl *c, struct result *res, const char *needle, int timeout_ms)
{
    int64_t deadline = ms() + timeout_ms;
    while (!(res->out && strstr((char *)res->out, needle))) {
        struct proto_frame f;
        int64_t left = deadline - ms();
        if (left <= 0 || res->got_exit || res->closed)
            return -1;
        int r = cl_read_frame(c, &f, (int)left);
        if (r) {
            res->closed = 1;
            return -1;
        }
        res_take(res, &f);
    }
    return 0;
}

int cl_run(struct cl *c, const void *in, size_t len, int send_eof, struct result *res,
           int timeout_ms, int tcp)
{
    const uint8_t *p = in;
    size_t sent = 0;
    int eof_sent = !send_eof;
    int64_t deadline = ms() + timeout_ms;
    static uint8_t frame[PROTO_FRAME_MAX];
    size_t frame_len = 0, frame_off = 0;
    for (;;) {
        if (res->got_exit || (tcp && res->got_eof && eof_sent && sent == len))
            return 0;
        /* Prepare the next outgoing frame. */
        if (frame_off == frame_len && (sent < len || !eof_sent)) {
            struct buf b;
            buf_init_writer(&b, frame, sizeof(frame));
            size_t chunk = len - sent > PROTO_DATA_MAX ? PROTO_DATA_MAX : len - sent;
            int r = chunk ? proto_put_data(&b, PROTO_STDIN, p + sent, chunk)
                          : proto_put_eof(&b, PROTO_STREAM_STDIN);
            if (r)
                return r;
            if (chunk)
                sent += chunk;
            else
                eof_sent = 1;
            frame_len = buf_used(&b);
            frame_off = 0;
        }
        struct proto_frame f;
        int r;
        while ((r = proto_frame_next(&c->in, &f)) == 0)
            res_take(res, &f);
        if (r != BURROW_ERR_AGAIN)
            return r;
        if (res->got_exit)
            continue;
        int64_t left = deadline - ms();
        if (left <= 0)
            return BURROW_ERR_TIMEOUT;
        struct pollfd pf = {.fd = c->fd, .events = POLLIN | (frame_off < frame_len ? POLLOUT : 0)};
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        if (pf.revents & POLLOUT) {
            ssize_t w =
                send(c->fd, frame + frame_off, frame_len - frame_off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                frame_off += (size_t)w;
        }
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            r = fill(c, 0);
            if (r == BURROW_ERR_CLOSED) {
                while (proto_frame_next(&c->in, &f) == 0)
                    res_take(res, &f);
                res->closed = 1;
                return res->got_exit || (tcp && res->got_eof) ? 0 : BURROW_ERR_CLOSED;
            }
        }
    }
}

void res_free(struct result *res)
{
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof(*res));
}

void open_init(struct proto_open *o, uint32_t kind, const char *user, const char *command)
{
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->user = proto_str_c(user);
    o->term = proto_str_c(NULL);
    o->command = proto_str_c(command);
    o->host = proto_str_c(NULL);
}
