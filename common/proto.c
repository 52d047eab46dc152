/*
 * common/proto.c - the agent protocol codec (see proto.h for the format).
 *
 * Freestanding-safe: uses only common/buf.c and memcpy/memcmp/memchr/strlen/strcmp.
 * Every decoder reads through a struct buf reader over the frame body, checks
 * every length against its limit and refuses trailing bytes (except where a
 * frame reserves room for later fields: HELLO, IDENTITY, READY).
 */
#include "common/proto.h"

#include <string.h>

#include "common/err.h"

/* ---- framing ---- */

static uint32_t load_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t load_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int proto_frame_parse(const void *data, size_t avail, struct proto_frame *f)
{
    const uint8_t *p = data;
    if (avail < PROTO_HDR_LEN)
        return BURROW_ERR_AGAIN;
    uint32_t len = load_u32(p);
    uint16_t flags = load_u16(p + 6);
    if (len > PROTO_BODY_MAX)
        return BURROW_ERR_TOO_LARGE;
    if (flags != 0)
        return BURROW_ERR_FORMAT;
    if (avail - PROTO_HDR_LEN < len)
        return BURROW_ERR_AGAIN;
    f->len = len;
    f->type = load_u16(p + 4);
    f->flags = flags;
    f->body = p + PROTO_HDR_LEN;
    f->size = PROTO_HDR_LEN + (size_t)len;
    return 0;
}

int proto_frame_next(struct buf *in, struct proto_frame *f)
{
    int r = proto_frame_parse(buf_ptr(in), buf_len(in), f);
    if (r)
        return r;
    return buf_skip(in, f->size);
}

static const char *const type_names[] = {
    [PROTO_HELLO] = "hello",
    [PROTO_ERROR] = "error",
    [PROTO_OPEN] = "open",
    [PROTO_OPENED] = "opened",
    [PROTO_STDIN] = "stdin",
    [PROTO_STDOUT] = "stdout",
    [PROTO_STDERR] = "stderr",
    [PROTO_EOF] = "eof",
    [PROTO_WINDOW] = "window",
    [PROTO_SIGNAL] = "signal",
    [PROTO_EXIT] = "exit",
    [PROTO_LISTENING] = "listening",
    [PROTO_ACCEPTED] = "accepted",
    [PROTO_IDENTITY] = "identity",
    [PROTO_READY] = "ready",
    [PROTO_HEARTBEAT] = "heartbeat",
    [PROTO_SHUTDOWN] = "shutdown",
    [PROTO_SHUTDOWN_ANSWER] = "shutdown-answer",
    [PROTO_HIBERNATE] = "hibernate",
    [PROTO_HIBERNATE_ANSWER] = "hibernate-answer",
    [PROTO_RESUME] = "resume",
    [PROTO_RECLAIM] = "reclaim",
    [PROTO_RECLAIM_ANSWER] = "reclaim-answer",
};

int proto_type_known(uint32_t type)
{
    return type < sizeof(type_names) / sizeof(type_names[0]) && type_names[type] != NULL;
}

const char *proto_type_name(uint32_t type)
{
    return proto_type_known(type) ? type_names[type] : "unknown";
}

/* ---- strings ---- */

struct proto_str proto_str_c(const char *s)
{
    struct proto_str r = {s ? s : "", s ? (uint32_t)strlen(s) : 0};
    return r;
}

int proto_str_eq(struct proto_str s, const char *c)
{
    size_t n = strlen(c);
    return n == s.len && (n == 0 || memcmp(s.p, c, n) == 0);
}

int proto_str_copy(struct proto_str s, char *out, size_t outsz)
{
    if (outsz == 0 || s.len > outsz - 1)
        return BURROW_ERR_TOO_LARGE;
    if (s.len)
        memcpy(out, s.p, s.len);
    out[s.len] = '\0';
    return 0;
}

/* A string field: at most max bytes, no embedded NUL. */
static int get_str(struct buf *b, struct proto_str *s, size_t max)
{
    const uint8_t *p;
    size_t n;
    int r = buf_get_string_ptr(b, &p, &n, max);
    if (r)
        return r;
    if (n && memchr(p, 0, n))
        return BURROW_ERR_FORMAT;
    s->p = (const char *)p;
    s->len = (uint32_t)n;
    return 0;
}

/* ---- encoder frame wrapper: all or nothing ---- */

struct enc {
    struct buf *b;
    size_t start;
    int r;
    int bad_field; /* r describes a field, not a full buffer */
};

static void enc_begin(struct enc *e, struct buf *b, uint32_t type)
{
    e->b = b;
    e->start = buf_used(b);
    e->bad_field = 0;
    e->r = buf_put_u32_le(b, 0);
    if (!e->r)
        e->r = buf_put_u16_le(b, (uint16_t)type);
    if (!e->r)
        e->r = buf_put_u16_le(b, 0);
}

#define ENC(e, call)                                                                               \
    do {                                                                                           \
        if (!(e)->r)                                                                               \
            (e)->r = (call);                                                                       \
    } while (0)

/* A string field, validated before it is written. */
static void enc_str(struct enc *e, struct proto_str s, size_t max)
{
    if (e->r)
        return;
    if (s.len > max || (s.len && (s.p == NULL || memchr(s.p, 0, s.len)))) {
        e->r = s.len > max ? BURROW_ERR_TOO_LARGE : BURROW_ERR_INVALID;
        e->bad_field = 1;
        return;
    }
    e->r = buf_put_string(e->b, s.p, s.len);
}

static void enc_fail(struct enc *e, int err)
{
    if (!e->r) {
        e->r = err;
        e->bad_field = 1;
    }
}

static int enc_end(struct enc *e)
{
    if (!e->r) {
        size_t body = buf_used(e->b) - e->start - PROTO_HDR_LEN;
        if (body > PROTO_BODY_MAX)
            enc_fail(e, BURROW_ERR_TOO_LARGE);
        else
            e->r = buf_poke_u32_le(e->b, e->start, (uint32_t)body);
    }
    if (e->r) {
        /* Roll back the partial frame; buf fields are shared within common/. */
        e->b->len = e->start;
        /* A fixed writer that ran out of room: the caller should flush and retry. */
        if (e->r == BURROW_ERR_TOO_LARGE && !e->bad_field)
            return BURROW_ERR_AGAIN;
    }
    return e->r;
}

/* ---- decoder wrapper ---- */

/* Decoders chain their reads on a local `int r`: the first failure sticks. */
#define DEC(call)                                                                                  \
    do {                                                                                           \
        if (!r)                                                                                    \
            r = (call);                                                                            \
    } while (0)

static int dec_begin(struct buf *b, const struct proto_frame *f, uint32_t type)
{
    if (f->type != type)
        return BURROW_ERR_PROTOCOL;
    buf_init_reader(b, f->body, f->len);
    return 0;
}

/* ---- HELLO ---- */

int proto_hello_check(const struct proto_hello *h)
{
    return h->version >= PROTO_VERSION_MIN ? 0 : BURROW_ERR_VERSION;
}

int proto_put_hello(struct buf *b, const struct proto_hello *h)
{
    struct enc e;
    enc_begin(&e, b, PROTO_HELLO);
    ENC(&e, buf_put_u32_le(b, PROTO_MAGIC));
    ENC(&e, buf_put_u32_le(b, h->version));
    ENC(&e, buf_put_u32_le(b, h->role));
    ENC(&e, buf_put_u64_le(b, h->features));
    return enc_end(&e);
}

int proto_get_hello(const struct proto_frame *f, struct proto_hello *out)
{
    struct buf b;
    uint32_t magic;
    int r = dec_begin(&b, f, PROTO_HELLO);
    DEC(buf_get_u32_le(&b, &magic));
    if (!r && magic != PROTO_MAGIC)
        r = BURROW_ERR_VERSION;
    DEC(buf_get_u32_le(&b, &out->version));
    DEC(buf_get_u32_le(&b, &out->role));
    DEC(buf_get_u64_le(&b, &out->features));
    return r; /* later versions may append fields */
}

/* ---- ERROR ---- */

int proto_put_error(struct buf *b, int32_t code, const char *text)
{
    struct proto_str s = proto_str_c(text);
    if (s.len > PROTO_TEXT_MAX)
        s.len = PROTO_TEXT_MAX;
    struct enc e;
    enc_begin(&e, b, PROTO_ERROR);
    ENC(&e, buf_put_u32_le(b, (uint32_t)code));
    enc_str(&e, s, PROTO_TEXT_MAX);
    return enc_end(&e);
}

int proto_put_error_unknown(struct buf *b, uint32_t type)
{
    char text[40] = "unknown frame type ";
    char digits[12];
    size_t n = 0, pos = strlen(text);
    do {
        digits[n++] = (char)('0' + type % 10);
        type /= 10;
    } while (type && n < sizeof(digits));
    while (n)
        text[pos++] = digits[--n];
    text[pos] = '\0';
    return proto_put_error(b, BURROW_ERR_UNSUPPORTED, text);
}

int proto_get_error(const struct proto_frame *f, struct proto_error *out)
{
    struct buf b;
    uint32_t code;
    int r = dec_begin(&b, f, PROTO_ERROR);
    DEC(buf_get_u32_le(&b, &code));
    DEC(get_str(&b, &out->text, PROTO_TEXT_MAX));
    DEC(buf_get_end(&b));
    out->code = (int32_t)code;
    return r;
}

/* ---- OPEN ---- */

/* The flags and port each kind may carry. */
static int open_kind_valid(const struct proto_open *o)
{
    switch (o->kind) {
    case PROTO_OPEN_SHELL:
    case PROTO_OPEN_EXEC:
    case PROTO_OPEN_SUBSYSTEM:
        return (o->flags & ~PROTO_OPEN_F_PTY) || o->port != 0 ? BURROW_ERR_RANGE : 0;
    case PROTO_OPEN_TCP:
        return o->flags || o->port == 0 || o->port > 65535 ? BURROW_ERR_RANGE : 0;
    case PROTO_OPEN_LISTEN:
        if (o->flags & ~PROTO_OPEN_F_UNIX || o->port > 65535)
            return BURROW_ERR_RANGE;
        return (o->flags & PROTO_OPEN_F_UNIX) && o->port ? BURROW_ERR_RANGE : 0;
    case PROTO_OPEN_ACCEPT:
        return o->flags || o->port != 0 || o->conn_id == 0 ? BURROW_ERR_RANGE : 0;
    }
    return BURROW_ERR_RANGE;
}

static int open_fields_valid(const struct proto_open *o)
{
    int r = open_kind_valid(o);
    if (r)
        return r;
    if (o->n_modes > PROTO_MODES_MAX || o->n_env > PROTO_ENV_MAX)
        return BURROW_ERR_TOO_LARGE;
    for (uint32_t i = 0; i < o->n_modes; i++)
        if (o->modes[i].op == 0)
            return BURROW_ERR_RANGE;
    return 0;
}

int proto_put_open(struct buf *b, const struct proto_open *o)
{
    struct enc e;
    enc_begin(&e, b, PROTO_OPEN);
    int r = open_fields_valid(o);
    if (r)
        enc_fail(&e, r);
    ENC(&e, buf_put_u32_le(b, o->kind));
    ENC(&e, buf_put_u32_le(b, o->flags));
    enc_str(&e, o->user, PROTO_NAME_MAX);
    enc_str(&e, o->term, PROTO_NAME_MAX);
    ENC(&e, buf_put_u32_le(b, o->window.cols));
    ENC(&e, buf_put_u32_le(b, o->window.rows));
    ENC(&e, buf_put_u32_le(b, o->window.xpixel));
    ENC(&e, buf_put_u32_le(b, o->window.ypixel));
    ENC(&e, buf_put_u32_le(b, o->n_modes));
    for (uint32_t i = 0; !e.r && i < o->n_modes; i++) {
        ENC(&e, buf_put_u8(b, o->modes[i].op));
        ENC(&e, buf_put_u32_le(b, o->modes[i].value));
    }
    ENC(&e, buf_put_u32_le(b, o->n_env));
    for (uint32_t i = 0; !e.r && i < o->n_env; i++) {
        enc_str(&e, o->env[i].name, PROTO_NAME_MAX);
        enc_str(&e, o->env[i].value, PROTO_ENV_VALUE_MAX);
    }
    enc_str(&e, o->command, PROTO_COMMAND_MAX);
    enc_str(&e, o->host, PROTO_HOST_MAX);
    ENC(&e, buf_put_u32_le(b, o->port));
    if (o->kind == PROTO_OPEN_ACCEPT) {
        ENC(&e, buf_put_bytes(b, o->token, PROTO_TOKEN_LEN));
        ENC(&e, buf_put_u32_le(b, o->conn_id));
    }
    return enc_end(&e);
}

int proto_get_open(const struct proto_frame *f, struct proto_open *o)
{
    struct buf b;
    int r = dec_begin(&b, f, PROTO_OPEN);
    DEC(buf_get_u32_le(&b, &o->kind));
    DEC(buf_get_u32_le(&b, &o->flags));
    DEC(get_str(&b, &o->user, PROTO_NAME_MAX));
    DEC(get_str(&b, &o->term, PROTO_NAME_MAX));
    DEC(buf_get_u32_le(&b, &o->window.cols));
    DEC(buf_get_u32_le(&b, &o->window.rows));
    DEC(buf_get_u32_le(&b, &o->window.xpixel));
    DEC(buf_get_u32_le(&b, &o->window.ypixel));
    DEC(buf_get_u32_le(&b, &o->n_modes));
    if (!r && o->n_modes > PROTO_MODES_MAX)
        r = BURROW_ERR_TOO_LARGE;
    for (uint32_t i = 0; !r && i < o->n_modes; i++) {
        r = buf_get_u8(&b, &o->modes[i].op);
        DEC(buf_get_u32_le(&b, &o->modes[i].value));
    }
    DEC(buf_get_u32_le(&b, &o->n_env));
    if (!r && o->n_env > PROTO_ENV_MAX)
        r = BURROW_ERR_TOO_LARGE;
    for (uint32_t i = 0; !r && i < o->n_env; i++) {
        r = get_str(&b, &o->env[i].name, PROTO_NAME_MAX);
        DEC(get_str(&b, &o->env[i].value, PROTO_ENV_VALUE_MAX));
        if (!r && (o->env[i].name.len == 0 || memchr(o->env[i].name.p, '=', o->env[i].name.len)))
            r = BURROW_ERR_FORMAT;
    }
    DEC(get_str(&b, &o->command, PROTO_COMMAND_MAX));
    DEC(get_str(&b, &o->host, PROTO_HOST_MAX));
    DEC(buf_get_u32_le(&b, &o->port));
    memset(o->token, 0, sizeof(o->token));
    o->conn_id = 0;
    if (!r && o->kind == PROTO_OPEN_ACCEPT) {
        DEC(buf_get_bytes(&b, o->token, PROTO_TOKEN_LEN));
        DEC(buf_get_u32_le(&b, &o->conn_id));
    }
    DEC(buf_get_end(&b));
    DEC(open_fields_valid(o));
    return r;
}

/* ---- OPENED ---- */

int proto_put_opened(struct buf *b, const struct proto_opened *o)
{
    struct enc e;
    enc_begin(&e, b, PROTO_OPENED);
    ENC(&e, buf_put_u32_le(b, o->pid));
    return enc_end(&e);
}

int proto_get_opened(const struct proto_frame *f, struct proto_opened *o)
{
    struct buf b;
    int r = dec_begin(&b, f, PROTO_OPENED);
    DEC(buf_get_u32_le(&b, &o->pid));
    DEC(buf_get_end(&b));
    return r;
}

/* ---- STDIN / STDOUT / STDERR ---- */

static int is_data_type(uint32_t type)
{
    return type == PROTO_STDIN || type == PROTO_STDOUT || type == PROTO_STDERR;
}

int proto_put_data(struct buf *b, uint32_t type, const void *data, size_t len)
{
    struct enc e;
    enc_begin(&e, b, type);
    if (!is_data_type(type))
        enc_fail(&e, BURROW_ERR_INVALID);
    else if (len > PROTO_DATA_MAX)
        enc_fail(&e, BURROW_ERR_TOO_LARGE);
    if (len)
        ENC(&e, buf_put_bytes(b, data, len));
    return enc_end(&e);
}

int proto_get_data(const struct proto_frame *f, const uint8_t **data, size_t *len)
{
    if (!is_data_type(f->type))
        return BURROW_ERR_PROTOCOL;
    if (f->len > PROTO_DATA_MAX)
        return BURROW_ERR_TOO_LARGE;
    *data = f->body;
    *len = f->len;
    return 0;
}

/* ---- small fixed frames ---- */

static int put_u32_frame(struct buf *b, uint32_t type, uint32_t v)
{
    struct enc e;
    enc_begin(&e, b, type);
    ENC(&e, buf_put_u32_le(b, v));
    return enc_end(&e);
}

static int get_u32_frame(const struct proto_frame *f, uint32_t type, uint32_t *v)
{
    struct buf b;
    int r = dec_begin(&b, f, type);
    DEC(buf_get_u32_le(&b, v));
    DEC(buf_get_end(&b));
    return r;
}

int proto_put_eof(struct buf *b, uint32_t stream)
{
    if (stream > PROTO_STREAM_STDERR)
        return BURROW_ERR_RANGE;
    return put_u32_frame(b, PROTO_EOF, stream);
}

int proto_get_eof(const struct proto_frame *f, uint32_t *stream)
{
    int r = get_u32_frame(f, PROTO_EOF, stream);
    if (!r && *stream > PROTO_STREAM_STDERR)
        r = BURROW_ERR_RANGE;
    return r;
}

#define PROTO_SIGNAL_MAX 64u /* Linux: 1..64 */

int proto_put_signal(struct buf *b, uint32_t signo)
{
    if (signo == 0 || signo > PROTO_SIGNAL_MAX)
        return BURROW_ERR_RANGE;
    return put_u32_frame(b, PROTO_SIGNAL, signo);
}

int proto_get_signal(const struct proto_frame *f, uint32_t *signo)
{
    int r = get_u32_frame(f, PROTO_SIGNAL, signo);
    if (!r && (*signo == 0 || *signo > PROTO_SIGNAL_MAX))
        r = BURROW_ERR_RANGE;
    return r;
}

/* Window sizes are bounded so a peer cannot ask for absurd terminals. */
#define PROTO_WINDOW_DIM_MAX 65535u

static int window_valid(const struct proto_window *w)
{
    return w->cols <= PROTO_WINDOW_DIM_MAX && w->rows <= PROTO_WINDOW_DIM_MAX &&
           w->xpixel <= PROTO_WINDOW_DIM_MAX && w->ypixel <= PROTO_WINDOW_DIM_MAX;
}

int proto_put_window(struct buf *b, const struct proto_window *w)
{
    if (!window_valid(w))
        return BURROW_ERR_RANGE;
    struct enc e;
    enc_begin(&e, b, PROTO_WINDOW);
    ENC(&e, buf_put_u32_le(b, w->cols));
    ENC(&e, buf_put_u32_le(b, w->rows));
    ENC(&e, buf_put_u32_le(b, w->xpixel));
    ENC(&e, buf_put_u32_le(b, w->ypixel));
    return enc_end(&e);
}

int proto_get_window(const struct proto_frame *f, struct proto_window *w)
{
    struct buf b;
    int r = dec_begin(&b, f, PROTO_WINDOW);
    DEC(buf_get_u32_le(&b, &w->cols));
    DEC(buf_get_u32_le(&b, &w->rows));
    DEC(buf_get_u32_le(&b, &w->xpixel));
    DEC(buf_get_u32_le(&b, &w->ypixel));
    DEC(buf_get_end(&b));
    if (!r && !window_valid(w))
        r = BURROW_ERR_RANGE;
    return r;
}

static int exit_valid(const struct proto_exit *x)
{
    if (x->kind == PROTO_EXIT_STATUS)
        return x->value <= 255 && !x->core_dumped;
    if (x->kind == PROTO_EXIT_SIGNAL)
        return x->value >= 1 && x->value <= PROTO_SIGNAL_MAX && x->core_dumped <= 1;
    return 0;
}

int proto_put_exit(struct buf *b, const struct proto_exit *x)
{
    if (!exit_valid(x))
        return BURROW_ERR_RANGE;
    struct enc e;
    enc_begin(&e, b, PROTO_EXIT);
    ENC(&e, buf_put_u32_le(b, x->kind));
    ENC(&e, buf_put_u32_le(b, x->value));
    ENC(&e, buf_put_u32_le(b, x->core_dumped));
    return enc_end(&e);
}

int proto_get_exit(const struct proto_frame *f, struct proto_exit *x)
{
    struct buf b;
    int r = dec_begin(&b, f, PROTO_EXIT);
    DEC(buf_get_u32_le(&b, &x->kind));
    DEC(buf_get_u32_le(&b, &x->value));
    DEC(buf_get_u32_le(&b, &x->core_dumped));
    DEC(buf_get_end(&b));
    if (!r && !exit_valid(x))
        r = BURROW_ERR_RANGE;
    return r;
}

/* ---- LISTENING, ACCEPTED ---- */

int proto_put_listening(struct buf *b, const struct proto_listening *l)
{
    struct enc e;
    enc_begin(&e, b, PROTO_LISTENING);
    if (l->port > 65535)
        enc_fail(&e, BURROW_ERR_RANGE);
    ENC(&e, buf_put_u32_le(b, l->port));
    enc_str(&e, l->path, PROTO_PATH_MAX);
    ENC(&e, buf_put_bytes(b, l->token, PROTO_TOKEN_LEN));
    return enc_end(&e);
}

int proto_get_listening(const struct proto_frame *f, struct proto_listening *l)
{
    struct buf b;
    int r = dec_begin(&b, f, PROTO_LISTENING);
    DEC(buf_get_u32_le(&b, &l->port));
    DEC(get_str(&b, &l->path, PROTO_PATH_MAX));
    DEC(buf_get_bytes(&b, l->token, PROTO_TOKEN_LEN));
    DEC(buf_get_end(&b));
    if (!r && l->port > 65535)
        r = BURROW_ERR_RANGE;
    return r;
}

int proto_put_accepted(struct buf *b, const struct proto_accepted *a)
{
    struct enc e;
    enc_begin(&e, b, PROTO_ACCEPTED);
    if (a->id == 0 || a->origin_port > 65535)
        enc_fail(&e, BURROW_ERR_RANGE);
    ENC(&e, buf_put_u32_le(b, a->id));
    enc_str(&e, a->origin, PROTO_HOST_MAX);
    ENC(&e, buf_put_u32_le(b, a->origin_port));
    return enc_end(&e);
}

int proto_get_accepted(const struct proto_frame *f, struct proto_accepted *a)
{
    struct buf b;
    int r = dec_begin(&b, f, PROTO_ACCEPTED);
    DEC(buf_get_u32_le(&b, &a->id));
    DEC(get_str(&b, &a->origin, PROTO_HOST_MAX));
    DEC(buf_get_u32_le(&b, &a->origin_port));
    DEC(buf_get_end(&b));
    if (!r && (a->id == 0 || a->origin_port > 65535))
        r = BURROW_ERR_RANGE;
    return r;
}

/* ---- IDENTITY ---- */

#define PROTO_ID_F_KNOWN (PROTO_ID_F_HOME_DISK | PROTO_ID_F_ALLOW_ROOT | PROTO_ID_F_NET)

/* The network block of IDENTITY and RESUME (PROTO_ID_F_NET). */
static void put_net(struct enc *e, const struct proto_net *n)
{
    struct buf *b = e->b;
    if (n->prefix < 1 || n->prefix > 32 || n->nr_dns > PROTO_DNS_MAX)
        enc_fail(e, BURROW_ERR_RANGE);
    ENC(e, buf_put_bytes(b, n->mac, sizeof(n->mac)));
    ENC(e, buf_put_u32_le(b, n->addr));
    ENC(e, buf_put_u32_le(b, n->prefix));
    ENC(e, buf_put_u32_le(b, n->gateway));
    ENC(e, buf_put_u32_le(b, n->nr_dns));
    for (uint32_t i = 0; !e->r && i < n->nr_dns && i < PROTO_DNS_MAX; i++)
        ENC(e, buf_put_u32_le(b, n->dns[i]));
}

int proto_put_identity(struct buf *b, const struct proto_identity *id)
{
    struct enc e;
    enc_begin(&e, b, PROTO_IDENTITY);
    if (id->time_nsec >= 1000000000u || id->user.len == 0)
        enc_fail(&e, BURROW_ERR_RANGE);
    enc_str(&e, id->user, PROTO_NAME_MAX);
    ENC(&e, buf_put_u32_le(b, id->uid));
    ENC(&e, buf_put_u32_le(b, id->gid));
    enc_str(&e, id->shell, PROTO_PATH_MAX);
    enc_str(&e, id->home, PROTO_PATH_MAX);
    enc_str(&e, id->hostname, PROTO_HOST_MAX);
    ENC(&e, buf_put_bytes(b, id->entropy, PROTO_ENTROPY_LEN));
    ENC(&e, buf_put_u64_le(b, (uint64_t)id->time_sec));
    ENC(&e, buf_put_u32_le(b, id->time_nsec));
    ENC(&e, buf_put_u32_le(b, id->flags));
    if (id->flags & PROTO_ID_F_NET)
        put_net(&e, &id->net);
    return enc_end(&e);
}

static int get_net(struct buf *b, struct proto_net *n)
{
    int r = 0;
    DEC(buf_get_bytes(b, n->mac, sizeof(n->mac)));
    DEC(buf_get_u32_le(b, &n->addr));
    DEC(buf_get_u32_le(b, &n->prefix));
    DEC(buf_get_u32_le(b, &n->gateway));
    DEC(buf_get_u32_le(b, &n->nr_dns));
    if (!r && (n->prefix < 1 || n->prefix > 32 || n->nr_dns > PROTO_DNS_MAX))
        r = BURROW_ERR_RANGE;
    for (uint32_t i = 0; !r && i < n->nr_dns; i++)
        DEC(buf_get_u32_le(b, &n->dns[i]));
    return r;
}

int proto_get_identity(const struct proto_frame *f, struct proto_identity *id)
{
    struct buf b;
    uint64_t sec;
    int r = dec_begin(&b, f, PROTO_IDENTITY);
    DEC(get_str(&b, &id->user, PROTO_NAME_MAX));
    DEC(buf_get_u32_le(&b, &id->uid));
    DEC(buf_get_u32_le(&b, &id->gid));
    DEC(get_str(&b, &id->shell, PROTO_PATH_MAX));
    DEC(get_str(&b, &id->home, PROTO_PATH_MAX));
    DEC(get_str(&b, &id->hostname, PROTO_HOST_MAX));
    DEC(buf_get_bytes(&b, id->entropy, PROTO_ENTROPY_LEN));
    DEC(buf_get_u64_le(&b, &sec));
    DEC(buf_get_u32_le(&b, &id->time_nsec));
    DEC(buf_get_u32_le(&b, &id->flags));
    if (r)
        return r;
    id->time_sec = (int64_t)sec;
    if (id->time_nsec >= 1000000000u || id->user.len == 0)
        return BURROW_ERR_RANGE;
    /* Unknown flag bits and trailing bytes are later fields: ignored. */
    id->flags &= PROTO_ID_F_KNOWN;
    memset(&id->net, 0, sizeof(id->net));
    if (id->flags & PROTO_ID_F_NET)
        return get_net(&b, &id->net);
    return 0;
}

/* ---- READY ---- */

int proto_put_ready(struct buf *b, const struct proto_ready *rd)
{
    struct enc e;
    enc_begin(&e, b, PROTO_READY);
    ENC(&e, buf_put_u32_le(b, PROTO_STEP_COUNT));
    for (uint32_t i = 0; !e.r && i < PROTO_STEP_COUNT; i++) {
        if (rd->outcome[i] > PROTO_STEP_SKIPPED)
            enc_fail(&e, BURROW_ERR_RANGE);
        ENC(&e, buf_put_u32_le(b, rd->outcome[i]));
        struct proto_str t = rd->text[i];
        if (t.len > PROTO_TEXT_MAX)
            t.len = PROTO_TEXT_MAX;
        enc_str(&e, t.p ? t : proto_str_c(NULL), PROTO_TEXT_MAX);
    }
    return enc_end(&e);
}

/* Bounded by the frame size anyway; this keeps a hostile count cheap. */
#define PROTO_STEPS_WIRE_MAX 64u

int proto_get_ready(const struct proto_frame *f, struct proto_ready *rd)
{
    struct buf b;
    uint32_t n;
    int r = dec_begin(&b, f, PROTO_READY);
    DEC(buf_get_u32_le(&b, &n));
    if (!r && n > PROTO_STEPS_WIRE_MAX)
        r = BURROW_ERR_TOO_LARGE;
    for (uint32_t i = 0; i < PROTO_STEP_COUNT; i++) {
        rd->outcome[i] = PROTO_STEP_NONE;
        rd->text[i] = proto_str_c(NULL);
    }
    for (uint32_t i = 0; !r && i < n; i++) {
        uint32_t outcome;
        struct proto_str text;
        r = buf_get_u32_le(&b, &outcome);
        DEC(get_str(&b, &text, PROTO_TEXT_MAX));
        if (!r && outcome > PROTO_STEP_SKIPPED)
            r = BURROW_ERR_RANGE;
        if (!r && i < PROTO_STEP_COUNT) {
            rd->outcome[i] = outcome;
            rd->text[i] = text;
        }
    }
    return r; /* trailing bytes: room for later fields */
}

/* ---- HEARTBEAT, SHUTDOWN ---- */

int proto_put_heartbeat(struct buf *b, const struct proto_heartbeat *h)
{
    struct enc e;
    enc_begin(&e, b, PROTO_HEARTBEAT);
    ENC(&e, buf_put_u64_le(b, h->seq));
    return enc_end(&e);
}

int proto_get_heartbeat(const struct proto_frame *f, struct proto_heartbeat *h)
{
    struct buf b;
    int r = dec_begin(&b, f, PROTO_HEARTBEAT);
    DEC(buf_get_u64_le(&b, &h->seq));
    DEC(buf_get_end(&b));
    return r;
}

int proto_put_shutdown(struct buf *b, const struct proto_shutdown *s)
{
    if (s->flags & ~PROTO_SHUTDOWN_F_POWEROFF)
        return BURROW_ERR_RANGE;
    return put_u32_frame(b, PROTO_SHUTDOWN, s->flags);
}

int proto_get_shutdown(const struct proto_frame *f, struct proto_shutdown *s)
{
    int r = get_u32_frame(f, PROTO_SHUTDOWN, &s->flags);
    if (!r && (s->flags & ~PROTO_SHUTDOWN_F_POWEROFF))
        r = BURROW_ERR_RANGE;
    return r;
}

/* SHUTDOWN_ANSWER and HIBERNATE_ANSWER: a code and a text. */
static int put_answer(struct buf *b, uint32_t type, int32_t code, struct proto_str text)
{
    struct enc e;
    enc_begin(&e, b, type);
    ENC(&e, buf_put_u32_le(b, (uint32_t)code));
    enc_str(&e, text, PROTO_TEXT_MAX);
    return enc_end(&e);
}

static int get_answer(const struct proto_frame *f, uint32_t type, int32_t *code,
                      struct proto_str *text)
{
    struct buf b;
    uint32_t c;
    int r = dec_begin(&b, f, type);
    DEC(buf_get_u32_le(&b, &c));
    DEC(get_str(&b, text, PROTO_TEXT_MAX));
    DEC(buf_get_end(&b));
    *code = (int32_t)c;
    return r;
}

int proto_put_shutdown_answer(struct buf *b, const struct proto_shutdown_answer *a)
{
    return put_answer(b, PROTO_SHUTDOWN_ANSWER, a->code, a->text);
}

int proto_get_shutdown_answer(const struct proto_frame *f, struct proto_shutdown_answer *a)
{
    return get_answer(f, PROTO_SHUTDOWN_ANSWER, &a->code, &a->text);
}

/* ---- HIBERNATE, HIBERNATE_ANSWER, RESUME ---- */

int proto_put_hibernate(struct buf *b, const struct proto_hibernate *h)
{
    if (h->flags)
        return BURROW_ERR_RANGE;
    return put_u32_frame(b, PROTO_HIBERNATE, h->flags);
}

int proto_get_hibernate(const struct proto_frame *f, struct proto_hibernate *h)
{
    int r = get_u32_frame(f, PROTO_HIBERNATE, &h->flags);
    if (!r && h->flags)
        r = BURROW_ERR_RANGE;
    return r;
}

int proto_put_hibernate_answer(struct buf *b, const struct proto_hibernate_answer *a)
{
    return put_answer(b, PROTO_HIBERNATE_ANSWER, a->code, a->text);
}

int proto_get_hibernate_answer(const struct proto_frame *f, struct proto_hibernate_answer *a)
{
    return get_answer(f, PROTO_HIBERNATE_ANSWER, &a->code, &a->text);
}

int proto_put_resume(struct buf *b, const struct proto_resume *rs)
{
    struct enc e;
    enc_begin(&e, b, PROTO_RESUME);
    if (rs->time_nsec >= 1000000000u)
        enc_fail(&e, BURROW_ERR_RANGE);
    ENC(&e, buf_put_bytes(b, rs->entropy, PROTO_ENTROPY_LEN));
    ENC(&e, buf_put_u64_le(b, (uint64_t)rs->time_sec));
    ENC(&e, buf_put_u32_le(b, rs->time_nsec));
    ENC(&e, buf_put_u32_le(b, rs->flags & PROTO_ID_F_NET));
    ENC(&e, buf_put_u64_le(b, rs->slept_ms));
    if (rs->flags & PROTO_ID_F_NET)
        put_net(&e, &rs->net);
    return enc_end(&e);
}

int proto_get_resume(const struct proto_frame *f, struct proto_resume *rs)
{
    struct buf b;
    uint64_t sec;
    int r = dec_begin(&b, f, PROTO_RESUME);
    DEC(buf_get_bytes(&b, rs->entropy, PROTO_ENTROPY_LEN));
    DEC(buf_get_u64_le(&b, &sec));
    DEC(buf_get_u32_le(&b, &rs->time_nsec));
    DEC(buf_get_u32_le(&b, &rs->flags));
    DEC(buf_get_u64_le(&b, &rs->slept_ms));
    if (r)
        return r;
    rs->time_sec = (int64_t)sec;
    if (rs->time_nsec >= 1000000000u)
        return BURROW_ERR_RANGE;
    /* As in IDENTITY: unknown flag bits and trailing bytes are later fields. */
    rs->flags &= PROTO_ID_F_NET;
    memset(&rs->net, 0, sizeof(rs->net));
    if (rs->flags & PROTO_ID_F_NET)
        return get_net(&b, &rs->net);
    return 0;
}

/* ---- RECLAIM ---- */

int proto_put_reclaim(struct buf *b, const struct proto_reclaim *rc)
{
    if (rc->flags & ~PROTO_RECLAIM_F_KNOWN)
        return BURROW_ERR_RANGE;
    return put_u32_frame(b, PROTO_RECLAIM, rc->flags);
}

int proto_get_reclaim(const struct proto_frame *f, struct proto_reclaim *rc)
{
    int r = get_u32_frame(f, PROTO_RECLAIM, &rc->flags);
    if (!r && (rc->flags & ~PROTO_RECLAIM_F_KNOWN))
        r = BURROW_ERR_RANGE;
    return r;
}

int proto_put_reclaim_answer(struct buf *b, const struct proto_reclaim_answer *a)
{
    struct enc e;
    enc_begin(&e, b, PROTO_RECLAIM_ANSWER);
    ENC(&e, buf_put_u32_le(b, (uint32_t)a->code));
    ENC(&e, buf_put_u64_le(b, a->free_before_kib));
    ENC(&e, buf_put_u64_le(b, a->free_after_kib));
    return enc_end(&e);
}

int proto_get_reclaim_answer(const struct proto_frame *f, struct proto_reclaim_answer *a)
{
    struct buf b;
    uint32_t code;
    int r = dec_begin(&b, f, PROTO_RECLAIM_ANSWER);
    DEC(buf_get_u32_le(&b, &code));
    DEC(buf_get_u64_le(&b, &a->free_before_kib));
    DEC(buf_get_u64_le(&b, &a->free_after_kib));
    DEC(buf_get_end(&b));
    a->code = (int32_t)code;
    return r;
}

/* ---- signal names (Linux x86-64 numbering) ---- */

static const struct {
    const char *name;
    uint32_t signo;
} signal_names[] = {
    {"HUP", 1},     {"INT", 2},   {"QUIT", 3},   {"ILL", 4},   {"TRAP", 5},  {"ABRT", 6},
    {"BUS", 7},     {"FPE", 8},   {"KILL", 9},   {"USR1", 10}, {"SEGV", 11}, {"USR2", 12},
    {"PIPE", 13},   {"ALRM", 14}, {"TERM", 15},  {"CHLD", 17}, {"CONT", 18}, {"STOP", 19},
    {"TSTP", 20},   {"TTIN", 21}, {"TTOU", 22},  {"URG", 23},  {"XCPU", 24}, {"XFSZ", 25},
    {"VTALRM", 26}, {"PROF", 27}, {"WINCH", 28}, {"IO", 29},   {"PWR", 30},  {"SYS", 31},
};

uint32_t proto_signal_from_name(const char *name)
{
    if (name == NULL)
        return 0;
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
        if (strcmp(signal_names[i].name, name) == 0)
            return signal_names[i].signo;
    return 0;
}

const char *proto_signal_name(uint32_t signo)
{
    for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
        if (signal_names[i].signo == signo)
            return signal_names[i].name;
    return NULL;
}
