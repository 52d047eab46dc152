/*
 * guest/agent_control.c - the control connection to the host (CID 2 port
 * 1025, served by the VMM; a unix socket in tests and the sandbox).
 *
 * On start and after every failure (a vsock transport reset after a fork
 * looks exactly like one) the agent reconnects with backoff, says HELLO,
 * waits for IDENTITY (or RESUME after a resume from a hibernated image:
 * only the clock, entropy and network are applied), applies it and answers
 * READY; sessions are served only between READY and the next failure.
 * HEARTBEAT goes out periodically; SHUTDOWN is answered after sync and
 * unmount, HIBERNATE after a sync, RECLAIM after dropping caches and
 * compacting (agent_reclaim.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "guest/agent.h"

#define BACKOFF_MIN_MS  50
#define BACKOFF_MAX_MS  2000
#define SEND_TIMEOUT_MS 5000

struct control {
    const struct agent_config *cfg;
    struct agent_state *st;
    int fd;
    int got_hello;
    struct buf in;
    uint8_t in_mem[2 * PROTO_FRAME_MAX];
    int64_t next_connect_ms;
    int backoff_ms;
    int64_t next_heartbeat_ms;
    uint64_t seq;
};

struct control *control_new(const struct agent_config *cfg, struct agent_state *st)
{
    struct control *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->cfg = cfg;
    c->st = st;
    c->fd = -1;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->next_connect_ms = clock_now_ms();
    buf_init_writer(&c->in, c->in_mem, sizeof(c->in_mem));
    return c;
}

int control_fd(const struct control *c)
{
    return c->fd;
}

int64_t control_deadline_ms(const struct control *c)
{
    return c->fd < 0 ? c->next_connect_ms : c->next_heartbeat_ms;
}

static void disconnect(struct control *c, const char *why)
{
    if (c->fd >= 0) {
        log_info("control connection lost (%s); reconnecting", why);
        close(c->fd);
    }
    c->fd = -1;
    c->got_hello = 0;
    c->st->ready = 0; /* a reset may mean a fork: no session until the new identity */
    buf_reset(&c->in);
    /*
     * The first reconnect is immediate: after a fork the new identity is
     * what every session is waiting for. Failed attempts back off.
     */
    c->next_connect_ms = clock_now_ms();
}

/* Send whatever the encoder put in `out`; a failure drops the connection. */
static int send_buf(struct control *c, struct buf *out, int r)
{
    if (r == 0)
        r = net_write_all(c->fd, buf_data(out), buf_used(out), SEND_TIMEOUT_MS);
    if (r)
        disconnect(c, burrow_strerror(r));
    return r;
}

static void try_connect(struct control *c)
{
    c->fd = net_connect(&c->cfg->control);
    if (c->fd < 0) {
        c->next_connect_ms = clock_now_ms() + c->backoff_ms;
        c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
        return;
    }
    log_info("control connected");
    uint8_t mem[64];
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    struct proto_hello h = {.version = PROTO_VERSION, .role = PROTO_ROLE_AGENT};
    if (send_buf(c, &out, proto_put_hello(&out, &h)) == 0) {
        c->backoff_ms = BACKOFF_MIN_MS;
        c->next_heartbeat_ms = clock_now_ms() + c->cfg->heartbeat_ms;
    }
}

static void on_identity(struct control *c, const struct proto_frame *f)
{
    static struct proto_identity id;
    static char texts[PROTO_STEP_COUNT][256];
    static uint8_t mem[PROTO_FRAME_MAX];
    struct proto_ready rd;
    int r = proto_get_identity(f, &id);
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    if (r) {
        log_warn_r(r, "malformed identity");
        send_buf(c, &out, proto_put_error(&out, r, "malformed identity"));
        return;
    }
    identity_apply(c->cfg, c->st, &id, &rd, texts);
    explicit_bzero(&id.entropy, sizeof(id.entropy));
    for (int i = 0; i < PROTO_STEP_COUNT; i++)
        if (rd.outcome[i] == PROTO_STEP_FAILED)
            log_warn("identity step %d failed: %s", i, texts[i]);
    if (send_buf(c, &out, proto_put_ready(&out, &rd)) == 0) {
        c->st->ready = 1;
        log_info("ready");
    }
}

static void on_resume(struct control *c, const struct proto_frame *f)
{
    static struct proto_resume rs;
    static char texts[PROTO_STEP_COUNT][256];
    static uint8_t mem[PROTO_FRAME_MAX];
    struct proto_ready rd;
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    int r = proto_get_resume(f, &rs);
    if (r) {
        log_warn_r(r, "malformed resume");
        send_buf(c, &out, proto_put_error(&out, r, "malformed resume"));
        return;
    }
    identity_resume(c->cfg, &rs, &rd, texts);
    explicit_bzero(&rs.entropy, sizeof(rs.entropy));
    log_info("resumed after %llu ms on disk", (unsigned long long)rs.slept_ms);
    if (send_buf(c, &out, proto_put_ready(&out, &rd)) == 0) {
        c->st->ready = 1;
        log_info("ready");
    }
}

static void on_hibernate(struct control *c, const struct proto_frame *f)
{
    struct proto_hibernate h;
    uint8_t mem[PROTO_TEXT_MAX + 64];
    char text[256];
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    if (proto_get_hibernate(f, &h)) {
        send_buf(c, &out, proto_put_error(&out, BURROW_ERR_PROTOCOL, "malformed hibernate"));
        return;
    }
    struct proto_hibernate_answer a = {.code = identity_hibernate(c->st, text, sizeof(text)),
                                       .text = proto_str_c(text)};
    log_info("hibernate: %s", text);
    send_buf(c, &out, proto_put_hibernate_answer(&out, &a));
}

/* Returns 1 when the host asked for a power-off and has been answered. */
static int on_shutdown(struct control *c, const struct proto_frame *f)
{
    struct proto_shutdown s;
    uint8_t mem[PROTO_TEXT_MAX + 64];
    char text[256];
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    if (proto_get_shutdown(f, &s)) {
        send_buf(c, &out, proto_put_error(&out, BURROW_ERR_PROTOCOL, "malformed shutdown"));
        return 0;
    }
    c->st->ready = 0; /* no new sessions while going down */
    struct proto_shutdown_answer a = {.code = identity_shutdown(c->st, text, sizeof(text)),
                                      .text = proto_str_c(text)};
    log_info("shutdown: %s", text);
    if (send_buf(c, &out, proto_put_shutdown_answer(&out, &a)))
        return 0;
    return (s.flags & PROTO_SHUTDOWN_F_POWEROFF) != 0;
}

/* The VMM's idle policy: caches dropped, memory compacted, MemFree before and after. */
static void on_reclaim(struct control *c, const struct proto_frame *f)
{
    uint8_t mem[64];
    struct buf out;
    struct proto_reclaim rq;
    buf_init_writer(&out, mem, sizeof(mem));
    if (proto_get_reclaim(f, &rq)) {
        send_buf(c, &out, proto_put_error(&out, BURROW_ERR_PROTOCOL, "malformed reclaim"));
        return;
    }
    struct proto_reclaim_answer a;
    agent_reclaim("/proc", rq.flags, &a);
    log_info("reclaim: MemFree %llu -> %llu KiB%s", (unsigned long long)a.free_before_kib,
             (unsigned long long)a.free_after_kib, a.code ? " (a step failed)" : "");
    send_buf(c, &out, proto_put_reclaim_answer(&out, &a));
}

static int handle(struct control *c, const struct proto_frame *f)
{
    uint8_t mem[PROTO_TEXT_MAX + 64];
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    if (!c->got_hello) {
        struct proto_hello h;
        if (f->type != PROTO_HELLO || proto_get_hello(f, &h) || proto_hello_check(&h)) {
            send_buf(c, &out, proto_put_error(&out, BURROW_ERR_VERSION, "expected hello"));
            disconnect(c, "no hello");
            return 0;
        }
        c->got_hello = 1;
        return 0;
    }
    switch (f->type) {
    case PROTO_IDENTITY:
        on_identity(c, f);
        return 0;
    case PROTO_SHUTDOWN:
        return on_shutdown(c, f);
    case PROTO_HIBERNATE:
        on_hibernate(c, f);
        return 0;
    case PROTO_RESUME:
        on_resume(c, f);
        return 0;
    case PROTO_RECLAIM:
        on_reclaim(c, f);
        return 0;
    case PROTO_HEARTBEAT:
        return 0;
    case PROTO_ERROR: {
        struct proto_error e;
        if (proto_get_error(f, &e) == 0)
            log_warn("host says: %.*s", (int)e.text.len, e.text.p);
        return 0;
    }
    default:
        if (!proto_type_known(f->type))
            send_buf(c, &out, proto_put_error_unknown(&out, f->type));
        else
            send_buf(c, &out, proto_put_error(&out, BURROW_ERR_PROTOCOL, "unexpected frame"));
        return 0;
    }
}

static int read_frames(struct control *c)
{
    uint8_t *p;
    buf_compact(&c->in);
    size_t room = sizeof(c->in_mem) - buf_used(&c->in);
    if (room == 0 || buf_reserve(&c->in, room, &p)) {
        disconnect(c, "input full");
        return 0;
    }
    ssize_t n = recv(c->fd, p, room, MSG_DONTWAIT);
    c->in.len -= room - (n > 0 ? (size_t)n : 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        disconnect(c, n == 0 ? "closed" : strerror(errno));
        return 0;
    }
    for (;;) {
        struct proto_frame f;
        int r = proto_frame_next(&c->in, &f);
        if (r == BURROW_ERR_AGAIN)
            return 0;
        if (r) {
            disconnect(c, burrow_strerror(r));
            return 0;
        }
        if (handle(c, &f))
            return 1;
        if (c->fd < 0)
            return 0;
    }
}

int control_step(struct control *c, int readable)
{
    if (c->fd < 0) {
        if (clock_now_ms() >= c->next_connect_ms)
            try_connect(c);
        return 0;
    }
    if (readable && read_frames(c))
        return 1;
    if (c->fd >= 0 && clock_now_ms() >= c->next_heartbeat_ms) {
        uint8_t mem[32];
        struct buf out;
        buf_init_writer(&out, mem, sizeof(mem));
        struct proto_heartbeat h = {.seq = ++c->seq};
        send_buf(c, &out, proto_put_heartbeat(&out, &h));
        c->next_heartbeat_ms = clock_now_ms() + c->cfg->heartbeat_ms;
    }
    return 0;
}
