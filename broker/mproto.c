/* broker/mproto.c - master <-> session messages (see mproto.h). */
#include "broker/mproto.h"

#include <errno.h>
#include <poll.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/fdpass.h"

/* One message into b: type and fields. */
static int encode(struct buf *b, int type, unsigned n, const char *const *fields)
{
    if (n > MPROTO_FIELDS || type < 0 || type > 255)
        return BURROW_ERR_INVALID;
    int r = buf_put_u8(b, (uint8_t)type);
    for (unsigned i = 0; r == 0 && i < n; i++) {
        const char *s = fields[i] ? fields[i] : "";
        if (strlen(s) > MPROTO_FIELD_MAX)
            return BURROW_ERR_TOO_LARGE;
        r = buf_put_cstring(b, s);
    }
    return r;
}

int mproto_send_fd(int fd, int type, unsigned n, const char *const *fields, int pass_fd)
{
    uint8_t mem[MPROTO_MSG_MAX];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    int r = encode(&b, type, n, fields);
    if (r != 0)
        return r;
    ssize_t w;
    do {
        w = fdpass_send(fd, buf_data(&b), buf_used(&b), pass_fd, MSG_NOSIGNAL);
    } while (w < 0 && errno == EINTR);
    int e = errno;
    explicit_bzero(mem, buf_used(&b)); /* a PASSWORD message holds a password */
    if (w < 0)
        return e == EPIPE || e == ECONNRESET ? BURROW_ERR_CLOSED : BURROW_ERR_SYSTEM;
    return (size_t)w == buf_used(&b) ? 0 : BURROW_ERR_TRUNCATED;
}

int mproto_send(int fd, int type, unsigned n, const char *const *fields)
{
    return mproto_send_fd(fd, type, n, fields, -1);
}

int mproto_decode(const void *data, size_t len, struct mproto_msg *m)
{
    struct buf b;
    uint8_t type;
    buf_init_reader(&b, data, len);
    memset(m, 0, sizeof(*m));
    int r = buf_get_u8(&b, &type);
    if (r != 0)
        return r;
    m->type = type;
    while (buf_len(&b) > 0) {
        if (m->n >= MPROTO_FIELDS)
            return BURROW_ERR_TRAILING;
        r = buf_get_cstring(&b, m->f[m->n], sizeof(m->f[m->n]), NULL);
        if (r != 0)
            return r;
        m->n++;
    }
    return 0;
}

int mproto_recv_fd(int fd, struct mproto_msg *m, int *fd_out)
{
    uint8_t mem[MPROTO_MSG_MAX + 1];
    int passed = -1, flags = 0;
    ssize_t n;
    if (fd_out)
        *fd_out = -1;
    do {
        n = fdpass_recv(fd, mem, sizeof(mem), fd_out ? &passed : NULL, MSG_DONTWAIT, &flags);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN       ? BURROW_ERR_AGAIN
               : errno == ECONNRESET ? BURROW_ERR_CLOSED
                                     : BURROW_ERR_SYSTEM;
    int r = n == 0                                              ? BURROW_ERR_CLOSED
            : (flags & MSG_TRUNC) || (size_t)n > MPROTO_MSG_MAX ? BURROW_ERR_TOO_LARGE
                                                                : mproto_decode(mem, (size_t)n, m);
    explicit_bzero(mem, (size_t)n < sizeof(mem) ? (size_t)n : sizeof(mem)); /* passwords */
    if (r != 0 && passed >= 0) {
        close(passed);
        passed = -1;
    }
    if (fd_out)
        *fd_out = passed;
    return r;
}

int mproto_recv(int fd, struct mproto_msg *m)
{
    return mproto_recv_fd(fd, m, NULL);
}

int mproto_recv_wait(int fd, struct mproto_msg *m, int *fd_out, long deadline_ms)
{
    for (;;) {
        int left = -1;
        if (deadline_ms >= 0) {
            long l = deadline_ms - clock_now_ms();
            if (l <= 0)
                return BURROW_ERR_TIMEOUT;
            left = (int)l;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, left) < 0 && errno != EINTR)
            return BURROW_ERR_SYSTEM;
        int r = mproto_recv_fd(fd, m, fd_out);
        if (r != BURROW_ERR_AGAIN)
            return r;
    }
}
