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

/* ---- the privilege-separation rules ---- */

#define PRE  MPROTO_PREAUTH
#define POST MPROTO_POSTAUTH
#define ANY  (MPROTO_PREAUTH | MPROTO_POSTAUTH)

/*
 * One line a message: the direction it may travel, the phases it may come
 * in, its field count (min..max), whether a descriptor comes with it (1:
 * must, 0: must not), and what the receiver calls a wrong count or fd.
 * Counts are what the receiver accepts, which may be wider than what its
 * peer sends (the master's VM_* answers carry an empty second field).
 */
struct rule {
    int type;
    enum mproto_dir dir;
    unsigned phases;
    unsigned min, max;
    int fd;
    const char *malformed;
};

static const struct rule rules[] = {
    /* net child -> monitor: auth requests before the login, then CONNECT and channel reports */
    {MPROTO_PUBKEY, MPROTO_NET_TO_MONITOR, PRE, 3, 3, 0, "malformed PUBKEY"},
    {MPROTO_PASSWORD, MPROTO_NET_TO_MONITOR, PRE, 2, 2, 0, "malformed PASSWORD"},
    {MPROTO_KBDINT, MPROTO_NET_TO_MONITOR, PRE, 1, 1, 0, "malformed KBDINT"},
    {MPROTO_KBDINT_ANSWER, MPROTO_NET_TO_MONITOR, PRE, 2, 2, 0, "a KBDINT_ANSWER without a prompt"},
    {MPROTO_CONNECT, MPROTO_NET_TO_MONITOR, POST, 0, 0, 0,
     "not a CONNECT or a channel report after auth"},
    {MPROTO_CHAN_OPEN, MPROTO_NET_TO_MONITOR, POST, 3, 3, 0, "malformed channel report"},
    {MPROTO_CHAN_CLOSE, MPROTO_NET_TO_MONITOR, POST, 3, 3, 0, "malformed channel report"},
    /* monitor -> net child: verdicts before the login, then connections and the master's word */
    {MPROTO_AUTH_ENV, MPROTO_MONITOR_TO_NET, PRE, 1, 1, 0, NULL},
    {MPROTO_AUTH_PERMIT, MPROTO_MONITOR_TO_NET, PRE, 2, 2, 0, NULL},
    {MPROTO_AUTH_YES, MPROTO_MONITOR_TO_NET, PRE, 1, MPROTO_FIELDS, 0, NULL},
    {MPROTO_AUTH_NO, MPROTO_MONITOR_TO_NET, PRE, 0, MPROTO_FIELDS, 0, NULL},
    {MPROTO_AUTH_PARTIAL, MPROTO_MONITOR_TO_NET, PRE, 1, 1, 0, NULL},
    {MPROTO_KBDINT_PROMPT, MPROTO_MONITOR_TO_NET, PRE, 0, MPROTO_FIELDS, 0, NULL},
    {MPROTO_CONN_OK, MPROTO_MONITOR_TO_NET, POST, 0, MPROTO_FIELDS, 1, NULL},
    {MPROTO_CONN_ERR, MPROTO_MONITOR_TO_NET, POST, 1, 1, 0, NULL},
    {MPROTO_VM_GONE, MPROTO_MONITOR_TO_NET, POST, 0, MPROTO_FIELDS, 0, NULL},
    {MPROTO_END, MPROTO_MONITOR_TO_NET, POST, 0, MPROTO_FIELDS, 0, NULL},
    /* monitor -> master: the login's outcome, then VM requests and channel reports */
    {MPROTO_AUTH_OK, MPROTO_MONITOR_TO_MASTER, PRE, 2, 3, 0, NULL},
    {MPROTO_AUTH_FAIL, MPROTO_MONITOR_TO_MASTER, PRE, 1, 3, 0, NULL},
    {MPROTO_VM_REQ, MPROTO_MONITOR_TO_MASTER, POST, 1, 1, 0, NULL},
    {MPROTO_VM_CONNECT, MPROTO_MONITOR_TO_MASTER, POST, 1, 1, 0, NULL},
    {MPROTO_CHAN_OPEN, MPROTO_MONITOR_TO_MASTER, POST, 3, 3, 0, NULL},
    {MPROTO_CHAN_CLOSE, MPROTO_MONITOR_TO_MASTER, POST, 3, 3, 0, NULL},
    /* master -> monitor: only after the login (END, burrowctl session kill: any time) */
    {MPROTO_VM_OK, MPROTO_MASTER_TO_MONITOR, POST, 0, MPROTO_FIELDS, 0, NULL},
    {MPROTO_VM_ERR, MPROTO_MASTER_TO_MONITOR, POST, 0, MPROTO_FIELDS, 0, NULL},
    {MPROTO_VM_GONE, MPROTO_MASTER_TO_MONITOR, POST, 0, MPROTO_FIELDS, 0, NULL},
    {MPROTO_END, MPROTO_MASTER_TO_MONITOR, ANY, 0, MPROTO_FIELDS, 0, NULL},
    {MPROTO_VM_CONN, MPROTO_MASTER_TO_MONITOR, POST, 0, MPROTO_FIELDS, 1, NULL},
    {MPROTO_VM_CONN_ERR, MPROTO_MASTER_TO_MONITOR, POST, 0, MPROTO_FIELDS, 0, NULL},
};

int mproto_check(enum mproto_dir dir, enum mproto_phase phase, const struct mproto_msg *m,
                 int has_fd, const char **malformed)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const struct rule *r = &rules[i];
        if (r->type != m->type || r->dir != dir)
            continue;
        if (!(r->phases & (unsigned)phase))
            return BURROW_ERR_PERM;
        if (m->n < r->min || m->n > r->max || (has_fd != 0) != (r->fd != 0)) {
            if (malformed)
                *malformed = r->malformed;
            return BURROW_ERR_FORMAT;
        }
        return 0;
    }
    return BURROW_ERR_PERM;
}

int mproto_recv_checked(int fd, enum mproto_dir dir, enum mproto_phase phase, struct mproto_msg *m,
                        int *fd_out, long deadline_ms, const char **malformed)
{
    int passed = -1;
    if (fd_out)
        *fd_out = -1;
    if (malformed)
        *malformed = NULL;
    int r = deadline_ms == MPROTO_NOWAIT ? mproto_recv_fd(fd, m, &passed)
                                         : mproto_recv_wait(fd, m, &passed, deadline_ms);
    if (r != 0)
        return r;
    r = mproto_check(dir, phase, m, passed >= 0, malformed);
    if (r != 0 || !fd_out) {
        if (passed >= 0)
            close(passed);
        return r;
    }
    *fd_out = passed;
    return 0;
}
