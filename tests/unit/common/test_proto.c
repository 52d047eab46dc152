/*
 * tests/unit/common/test_proto.c - the agent protocol codec: round trips of
 * every frame type (hibernation's HIBERNATE, HIBERNATE_ANSWER and RESUME
 * included), framing (need-more, size limit, flags), every malformed
 * body (each truncation, trailing bytes, bad fields), encoder limits and
 * all-or-nothing writes, unknown types answered with an error frame.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/proto.h"

static uint8_t mem[2 * PROTO_FRAME_MAX];

static void put_u32_at(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Encode with `put`, then parse the one frame back. */
#define ENCODE(b, call)                                                                            \
    do {                                                                                           \
        buf_init_writer(&(b), mem, sizeof(mem));                                                   \
        assert_int_equal((call), 0);                                                               \
    } while (0)

static void parse_one(struct buf *b, struct proto_frame *f)
{
    assert_int_equal(proto_frame_parse(buf_data(b), buf_used(b), f), 0);
    assert_int_equal(f->size, buf_used(b));
}

/* A frame with the same header and its body cut to `len` bytes. */
static struct proto_frame cut(const struct proto_frame *f, uint32_t len)
{
    struct proto_frame c = *f;
    c.len = len;
    c.size = PROTO_HDR_LEN + len;
    return c;
}

/* Every strict prefix of the body must be refused, without reading past it. */
typedef int (*decode_fn)(const struct proto_frame *f, void *out);
static void all_truncations_fail(const struct proto_frame *f, decode_fn fn, void *out)
{
    for (uint32_t n = 0; n < f->len; n++) {
        struct proto_frame c = cut(f, n);
        assert_int_not_equal(fn(&c, out), 0);
    }
}

/* A trailing byte must be refused (strict frames). */
static void trailing_fails(struct buf *b, decode_fn fn, void *out)
{
    struct proto_frame f;
    assert_int_equal(buf_put_u8(b, 0), 0);
    assert_int_equal(buf_poke_u32_le(b, 0, (uint32_t)(buf_used(b) - PROTO_HDR_LEN)), 0);
    parse_one(b, &f);
    assert_int_equal(fn(&f, out), BURROW_ERR_TRAILING);
}

static void test_framing(void **state)
{
    (void)state;
    struct proto_frame f;
    uint8_t hdr[PROTO_HDR_LEN + 4] = {4, 0, 0, 0, PROTO_SIGNAL, 0, 0, 0, 2, 0, 0, 0};
    for (size_t n = 0; n < sizeof(hdr); n++)
        assert_int_equal(proto_frame_parse(hdr, n, &f), BURROW_ERR_AGAIN);
    assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), &f), 0);
    assert_int_equal(f.type, PROTO_SIGNAL);
    assert_int_equal(f.len, 4);
    assert_ptr_equal(f.body, hdr + PROTO_HDR_LEN);

    /* The hard maximum: the announced length alone is enough to refuse. */
    uint8_t big[PROTO_HDR_LEN] = {0};
    uint32_t too_big = PROTO_BODY_MAX + 1;
    memcpy(big, &too_big, 4);
    assert_int_equal(proto_frame_parse(big, sizeof(big), &f), BURROW_ERR_TOO_LARGE);
    uint32_t max = PROTO_BODY_MAX;
    memcpy(big, &max, 4);
    assert_int_equal(proto_frame_parse(big, sizeof(big), &f), BURROW_ERR_AGAIN);

    /* Reserved flags. */
    hdr[6] = 1;
    assert_int_equal(proto_frame_parse(hdr, sizeof(hdr), &f), BURROW_ERR_FORMAT);

    /* Two frames back to back through a buf. */
    struct buf b, in;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_signal(&b, 2), 0);
    assert_int_equal(proto_put_eof(&b, PROTO_STREAM_STDIN), 0);
    buf_init_reader(&in, buf_data(&b), buf_used(&b));
    assert_int_equal(proto_frame_next(&in, &f), 0);
    assert_int_equal(f.type, PROTO_SIGNAL);
    assert_int_equal(proto_frame_next(&in, &f), 0);
    assert_int_equal(f.type, PROTO_EOF);
    assert_int_equal(proto_frame_next(&in, &f), BURROW_ERR_AGAIN);
}

static void test_hello(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    struct proto_hello h = {.version = PROTO_VERSION, .role = PROTO_ROLE_BROKER}, out;
    ENCODE(b, proto_put_hello(&b, &h));
    parse_one(&b, &f);
    assert_int_equal(f.type, PROTO_HELLO);
    assert_int_equal(proto_get_hello(&f, &out), 0);
    assert_int_equal(out.version, PROTO_VERSION);
    assert_int_equal(out.role, PROTO_ROLE_BROKER);
    assert_int_equal(proto_hello_check(&out), 0);
    all_truncations_fail(&f, (decode_fn)proto_get_hello, &out);
    out.version = 0;
    assert_int_equal(proto_hello_check(&out), BURROW_ERR_VERSION);
    /* Wrong magic. */
    mem[PROTO_HDR_LEN] ^= 0xff;
    assert_int_equal(proto_get_hello(&f, &out), BURROW_ERR_VERSION);
    /* Not a hello at all. */
    struct proto_frame other = f;
    other.type = PROTO_OPEN;
    assert_int_equal(proto_get_hello(&other, &out), BURROW_ERR_PROTOCOL);
}

static void test_error_and_unknown(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    struct proto_error e;
    ENCODE(b, proto_put_error(&b, BURROW_ERR_PERM, "root login is not allowed"));
    parse_one(&b, &f);
    assert_int_equal(proto_get_error(&f, &e), 0);
    assert_int_equal(e.code, BURROW_ERR_PERM);
    assert_true(proto_str_eq(e.text, "root login is not allowed"));
    all_truncations_fail(&f, (decode_fn)proto_get_error, &e);
    trailing_fails(&b, (decode_fn)proto_get_error, &e);

    assert_false(proto_type_known(999));
    assert_false(proto_type_known(0));
    assert_true(proto_type_known(PROTO_SHUTDOWN_ANSWER));
    assert_string_equal(proto_type_name(PROTO_OPEN), "open");
    assert_string_equal(proto_type_name(999), "unknown");
    ENCODE(b, proto_put_error_unknown(&b, 999));
    parse_one(&b, &f);
    assert_int_equal(f.type, PROTO_ERROR);
    assert_int_equal(proto_get_error(&f, &e), 0);
    assert_int_equal(e.code, BURROW_ERR_UNSUPPORTED);
    assert_true(proto_str_eq(e.text, "unknown frame type 999"));

    /* Long texts are cut to the limit, not refused. */
    static char longtext[PROTO_TEXT_MAX + 100];
    memset(longtext, 'x', sizeof(longtext) - 1);
    ENCODE(b, proto_put_error(&b, -1, longtext));
    parse_one(&b, &f);
    assert_int_equal(proto_get_error(&f, &e), 0);
    assert_int_equal(e.text.len, PROTO_TEXT_MAX);
}

static void fill_open(struct proto_open *o)
{
    memset(o, 0, sizeof(*o));
    o->kind = PROTO_OPEN_EXEC;
    o->flags = PROTO_OPEN_F_PTY;
    o->user = proto_str_c("alice");
    o->term = proto_str_c("xterm-256color");
    o->window = (struct proto_window){80, 24, 640, 480};
    o->n_modes = 2;
    o->modes[0] = (struct proto_tty_mode){53, 0};
    o->modes[1] = (struct proto_tty_mode){1, 3};
    o->n_env = 2;
    o->env[0] = (struct proto_env){proto_str_c("LANG"), proto_str_c("C.UTF-8")};
    o->env[1] = (struct proto_env){proto_str_c("LC_ALL"), proto_str_c("")};
    o->command = proto_str_c("echo hi");
    o->host = proto_str_c(NULL);
}

static void test_open(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    static struct proto_open o, out;
    fill_open(&o);
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), 0);
    assert_int_equal(out.kind, PROTO_OPEN_EXEC);
    assert_int_equal(out.flags, PROTO_OPEN_F_PTY);
    assert_true(proto_str_eq(out.user, "alice"));
    assert_true(proto_str_eq(out.term, "xterm-256color"));
    assert_int_equal(out.window.cols, 80);
    assert_int_equal(out.window.ypixel, 480);
    assert_int_equal(out.n_modes, 2);
    assert_int_equal(out.modes[1].op, 1);
    assert_int_equal(out.modes[1].value, 3);
    assert_int_equal(out.n_env, 2);
    assert_true(proto_str_eq(out.env[0].value, "C.UTF-8"));
    assert_true(proto_str_eq(out.env[1].value, ""));
    assert_true(proto_str_eq(out.command, "echo hi"));
    /* Zero-copy: strings point into the frame. */
    assert_true((const uint8_t *)out.user.p > f.body &&
                (const uint8_t *)out.user.p < f.body + f.len);
    all_truncations_fail(&f, (decode_fn)proto_get_open, &out);
    trailing_fails(&b, (decode_fn)proto_get_open, &out);

    /* tcp */
    fill_open(&o);
    o.kind = PROTO_OPEN_TCP;
    o.flags = 0;
    o.host = proto_str_c("127.0.0.1");
    o.port = 8080;
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), 0);
    assert_int_equal(out.port, 8080);
    assert_true(proto_str_eq(out.host, "127.0.0.1"));
}

static void test_open_limits(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    static struct proto_open o, out;
    uint8_t small[16];

    fill_open(&o);
    o.kind = 9;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0); /* all or nothing */
    fill_open(&o);
    o.n_env = PROTO_ENV_MAX + 1;
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_TOO_LARGE);
    fill_open(&o);
    o.user = proto_str_c("a-name-that-is-far-too-long-for-the-limit-of-sixty-four-bytes-xxxx");
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_TOO_LARGE);
    fill_open(&o);
    o.user = (struct proto_str){"al\0ce", 5};
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_INVALID);
    fill_open(&o);
    o.kind = PROTO_OPEN_TCP;
    o.port = 0;
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE);
    o.port = 70000;
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);

    /* A buffer that is simply too small: AGAIN, nothing written. */
    fill_open(&o);
    buf_init_writer(&b, small, sizeof(small));
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_AGAIN);
    assert_int_equal(buf_used(&b), 0);

    /* Decoder side: hostile counts and strings, patched into a valid frame. */
    fill_open(&o);
    o.n_modes = 0;
    o.n_env = 0;
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    size_t modes_at = PROTO_HDR_LEN + 8 + 4 + 5 + 4 + 14 + 16;
    uint32_t huge = PROTO_MODES_MAX + 1;
    memcpy(mem + modes_at, &huge, 4);
    assert_int_equal(proto_get_open(&f, &out), BURROW_ERR_TOO_LARGE);
    huge = 0;
    memcpy(mem + modes_at, &huge, 4);
    assert_int_equal(proto_get_open(&f, &out), 0);
    mem[PROTO_HDR_LEN + 8 + 4 + 2] = 0; /* a NUL inside "alice" */
    assert_int_equal(proto_get_open(&f, &out), BURROW_ERR_FORMAT);
    mem[PROTO_HDR_LEN + 8 + 4 + 2] = 'i';
    mem[PROTO_HDR_LEN] = 0; /* kind 0 */
    assert_int_equal(proto_get_open(&f, &out), BURROW_ERR_RANGE);
    mem[PROTO_HDR_LEN] = PROTO_OPEN_SHELL;
    mem[PROTO_HDR_LEN + 4] = 0x80; /* unknown flag */
    assert_int_equal(proto_get_open(&f, &out), BURROW_ERR_RANGE);

    /* An environment name with '=' or empty. */
    fill_open(&o);
    o.n_env = 1;
    o.env[0] = (struct proto_env){proto_str_c("A=B"), proto_str_c("x")};
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), BURROW_ERR_FORMAT);
    o.env[0] = (struct proto_env){proto_str_c(""), proto_str_c("x")};
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), BURROW_ERR_FORMAT);
}

/* ssh -R / ssh -A: LISTEN and ACCEPT opens, LISTENING and ACCEPTED frames. */
static void test_listeners(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    static struct proto_open o, out;
    uint8_t token[PROTO_TOKEN_LEN];
    for (size_t i = 0; i < sizeof(token); i++)
        token[i] = (uint8_t)(0xa0 + i);

    /* LISTEN: tcp with port 0 (any), unix without a port. */
    memset(&o, 0, sizeof(o));
    o.kind = PROTO_OPEN_LISTEN;
    o.user = proto_str_c("alice");
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), 0);
    assert_int_equal(out.kind, PROTO_OPEN_LISTEN);
    assert_int_equal(out.port, 0);
    o.flags = PROTO_OPEN_F_UNIX;
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), 0);
    assert_int_equal(out.flags, PROTO_OPEN_F_UNIX);
    o.port = 22;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE); /* unix has no port */
    o.flags = PROTO_OPEN_F_PTY;
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE);
    o.flags = 0;
    o.port = 65536;
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE);
    /* UNIX is LISTEN's flag only. */
    o.kind = PROTO_OPEN_TCP;
    o.port = 80;
    o.flags = PROTO_OPEN_F_UNIX;
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);

    /* ACCEPT: the token and id follow the port on the wire, for this kind only. */
    memset(&o, 0, sizeof(o));
    o.kind = PROTO_OPEN_ACCEPT;
    o.user = proto_str_c("alice");
    memcpy(o.token, token, sizeof(token));
    o.conn_id = 7;
    ENCODE(b, proto_put_open(&b, &o));
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), 0);
    assert_memory_equal(out.token, token, sizeof(token));
    assert_int_equal(out.conn_id, 7);
    all_truncations_fail(&f, (decode_fn)proto_get_open, &out);
    trailing_fails(&b, (decode_fn)proto_get_open, &out);
    o.conn_id = 0;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_open(&b, &o), BURROW_ERR_RANGE);
    /* Other kinds carry no token: an exec OPEN is as long as before. */
    fill_open(&o);
    memcpy(o.token, token, sizeof(token));
    o.conn_id = 9;
    ENCODE(b, proto_put_open(&b, &o));
    size_t with = buf_used(&b);
    fill_open(&o);
    ENCODE(b, proto_put_open(&b, &o));
    assert_int_equal(buf_used(&b), with);
    parse_one(&b, &f);
    assert_int_equal(proto_get_open(&f, &out), 0);
    assert_int_equal(out.conn_id, 0);

    /* LISTENING */
    struct proto_listening l = {.port = 40001, .path = proto_str_c("/tmp/burrow-agent.x/s")}, lo;
    memcpy(l.token, token, sizeof(token));
    ENCODE(b, proto_put_listening(&b, &l));
    parse_one(&b, &f);
    assert_int_equal(proto_get_listening(&f, &lo), 0);
    assert_int_equal(lo.port, 40001);
    assert_true(proto_str_eq(lo.path, "/tmp/burrow-agent.x/s"));
    assert_memory_equal(lo.token, token, sizeof(token));
    all_truncations_fail(&f, (decode_fn)proto_get_listening, &lo);
    trailing_fails(&b, (decode_fn)proto_get_listening, &lo);
    l.port = 65536;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_listening(&b, &l), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);

    /* ACCEPTED */
    struct proto_accepted a = {.id = 3, .origin = proto_str_c("127.0.0.1"), .origin_port = 5555};
    struct proto_accepted ao;
    ENCODE(b, proto_put_accepted(&b, &a));
    parse_one(&b, &f);
    assert_int_equal(proto_get_accepted(&f, &ao), 0);
    assert_int_equal(ao.id, 3);
    assert_true(proto_str_eq(ao.origin, "127.0.0.1"));
    assert_int_equal(ao.origin_port, 5555);
    all_truncations_fail(&f, (decode_fn)proto_get_accepted, &ao);
    trailing_fails(&b, (decode_fn)proto_get_accepted, &ao);
    /* Hostile values, patched in: id 0 and a port above 65535 are refused. */
    ENCODE(b, proto_put_accepted(&b, &a));
    parse_one(&b, &f);
    memset(mem + PROTO_HDR_LEN, 0, 4);
    assert_int_equal(proto_get_accepted(&f, &ao), BURROW_ERR_RANGE);
    ENCODE(b, proto_put_accepted(&b, &a));
    parse_one(&b, &f);
    uint32_t big = 70000;
    memcpy(mem + f.size - 4, &big, 4);
    assert_int_equal(proto_get_accepted(&f, &ao), BURROW_ERR_RANGE);
    a.id = 0;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_accepted(&b, &a), BURROW_ERR_RANGE);
    assert_string_equal(proto_type_name(PROTO_ACCEPTED), "accepted");
    assert_string_equal(proto_type_name(PROTO_LISTENING), "listening");
}

static void test_data(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    static uint8_t payload[PROTO_DATA_MAX + 1];
    const uint8_t *d;
    size_t n;
    memset(payload, 0xa5, sizeof(payload));
    uint32_t types[] = {PROTO_STDIN, PROTO_STDOUT, PROTO_STDERR};
    for (int i = 0; i < 3; i++) {
        ENCODE(b, proto_put_data(&b, types[i], payload, PROTO_DATA_MAX));
        parse_one(&b, &f);
        assert_int_equal(f.type, types[i]);
        assert_int_equal(proto_get_data(&f, &d, &n), 0);
        assert_int_equal(n, PROTO_DATA_MAX);
        assert_memory_equal(d, payload, n);
    }
    ENCODE(b, proto_put_data(&b, PROTO_STDOUT, NULL, 0));
    parse_one(&b, &f);
    assert_int_equal(proto_get_data(&f, &d, &n), 0);
    assert_int_equal(n, 0);

    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_data(&b, PROTO_STDOUT, payload, PROTO_DATA_MAX + 1),
                     BURROW_ERR_TOO_LARGE);
    assert_int_equal(proto_put_data(&b, PROTO_OPEN, payload, 1), BURROW_ERR_INVALID);
    assert_int_equal(buf_used(&b), 0);
    /* A peer's oversize data frame (legal frame size, too much data). */
    f.type = PROTO_STDOUT;
    f.len = PROTO_DATA_MAX + 1;
    f.body = payload;
    assert_int_equal(proto_get_data(&f, &d, &n), BURROW_ERR_TOO_LARGE);
    f.type = PROTO_EXIT;
    assert_int_equal(proto_get_data(&f, &d, &n), BURROW_ERR_PROTOCOL);
}

static void test_small_frames(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    uint32_t v;
    ENCODE(b, proto_put_eof(&b, PROTO_STREAM_STDOUT));
    parse_one(&b, &f);
    assert_int_equal(proto_get_eof(&f, &v), 0);
    assert_int_equal(v, PROTO_STREAM_STDOUT);
    all_truncations_fail(&f, (decode_fn)proto_get_eof, &v);
    trailing_fails(&b, (decode_fn)proto_get_eof, &v);
    mem[PROTO_HDR_LEN] = 7;
    f.len = 4;
    assert_int_equal(proto_get_eof(&f, &v), BURROW_ERR_RANGE);
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_eof(&b, 3), BURROW_ERR_RANGE);

    ENCODE(b, proto_put_signal(&b, 15));
    parse_one(&b, &f);
    assert_int_equal(proto_get_signal(&f, &v), 0);
    assert_int_equal(v, 15);
    all_truncations_fail(&f, (decode_fn)proto_get_signal, &v);
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_signal(&b, 0), BURROW_ERR_RANGE);
    assert_int_equal(proto_put_signal(&b, 65), BURROW_ERR_RANGE);

    struct proto_window w = {132, 50, 0, 0}, wo;
    ENCODE(b, proto_put_window(&b, &w));
    parse_one(&b, &f);
    assert_int_equal(proto_get_window(&f, &wo), 0);
    assert_int_equal(wo.cols, 132);
    assert_int_equal(wo.rows, 50);
    all_truncations_fail(&f, (decode_fn)proto_get_window, &wo);
    trailing_fails(&b, (decode_fn)proto_get_window, &wo);
    w.cols = 70000;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_window(&b, &w), BURROW_ERR_RANGE);

    struct proto_exit x = {PROTO_EXIT_SIGNAL, 9, 1}, xo;
    ENCODE(b, proto_put_exit(&b, &x));
    parse_one(&b, &f);
    assert_int_equal(proto_get_exit(&f, &xo), 0);
    assert_int_equal(xo.kind, PROTO_EXIT_SIGNAL);
    assert_int_equal(xo.value, 9);
    assert_int_equal(xo.core_dumped, 1);
    all_truncations_fail(&f, (decode_fn)proto_get_exit, &xo);
    trailing_fails(&b, (decode_fn)proto_get_exit, &xo);
    x = (struct proto_exit){PROTO_EXIT_STATUS, 256, 0};
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_exit(&b, &x), BURROW_ERR_RANGE);
    x = (struct proto_exit){7, 0, 0};
    assert_int_equal(proto_put_exit(&b, &x), BURROW_ERR_RANGE);

    struct proto_opened op = {1234}, opo;
    ENCODE(b, proto_put_opened(&b, &op));
    parse_one(&b, &f);
    assert_int_equal(proto_get_opened(&f, &opo), 0);
    assert_int_equal(opo.pid, 1234);
    all_truncations_fail(&f, (decode_fn)proto_get_opened, &opo);

    struct proto_heartbeat h = {42}, ho;
    ENCODE(b, proto_put_heartbeat(&b, &h));
    parse_one(&b, &f);
    assert_int_equal(proto_get_heartbeat(&f, &ho), 0);
    assert_int_equal(ho.seq, 42);
    all_truncations_fail(&f, (decode_fn)proto_get_heartbeat, &ho);

    struct proto_shutdown s = {PROTO_SHUTDOWN_F_POWEROFF}, so;
    ENCODE(b, proto_put_shutdown(&b, &s));
    parse_one(&b, &f);
    assert_int_equal(proto_get_shutdown(&f, &so), 0);
    assert_int_equal(so.flags, PROTO_SHUTDOWN_F_POWEROFF);
    s.flags = 0x10;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_shutdown(&b, &s), BURROW_ERR_RANGE);

    struct proto_shutdown_answer a = {BURROW_ERR_BUSY, proto_str_c("busy, detached")}, ao;
    ENCODE(b, proto_put_shutdown_answer(&b, &a));
    parse_one(&b, &f);
    assert_int_equal(proto_get_shutdown_answer(&f, &ao), 0);
    assert_int_equal(ao.code, BURROW_ERR_BUSY);
    assert_true(proto_str_eq(ao.text, "busy, detached"));
    all_truncations_fail(&f, (decode_fn)proto_get_shutdown_answer, &ao);
    trailing_fails(&b, (decode_fn)proto_get_shutdown_answer, &ao);
}

/* The idle policy's request and answer: flags bounded both ways, strict bodies. */
static void test_reclaim(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    struct proto_reclaim rc = {PROTO_RECLAIM_F_DROP_CACHES | PROTO_RECLAIM_F_COMPACT}, rco;
    ENCODE(b, proto_put_reclaim(&b, &rc));
    parse_one(&b, &f);
    assert_int_equal(f.type, PROTO_RECLAIM);
    assert_string_equal(proto_type_name(f.type), "reclaim");
    assert_int_equal(proto_get_reclaim(&f, &rco), 0);
    assert_int_equal(rco.flags, rc.flags);
    all_truncations_fail(&f, (decode_fn)proto_get_reclaim, &rco);
    trailing_fails(&b, (decode_fn)proto_get_reclaim, &rco);
    /* A flag this codec does not know: refused by the encoder and the decoder. */
    rc.flags = 0x4;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_reclaim(&b, &rc), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);
    uint8_t raw[] = {4, 0, 0, 0, PROTO_RECLAIM, 0, 0, 0, 0x81, 0, 0, 0};
    assert_int_equal(proto_frame_parse(raw, sizeof(raw), &f), 0);
    assert_int_equal(proto_get_reclaim(&f, &rco), BURROW_ERR_RANGE);

    struct proto_reclaim_answer a = {0, 90000, 120000}, ao;
    ENCODE(b, proto_put_reclaim_answer(&b, &a));
    parse_one(&b, &f);
    assert_int_equal(proto_get_reclaim_answer(&f, &ao), 0);
    assert_int_equal(ao.code, 0);
    assert_int_equal(ao.free_before_kib, 90000);
    assert_int_equal(ao.free_after_kib, 120000);
    assert_int_equal(proto_get_reclaim(&f, &rco), BURROW_ERR_PROTOCOL);
    all_truncations_fail(&f, (decode_fn)proto_get_reclaim_answer, &ao);
    trailing_fails(&b, (decode_fn)proto_get_reclaim_answer, &ao);
    a.code = BURROW_ERR_SYSTEM;
    ENCODE(b, proto_put_reclaim_answer(&b, &a));
    parse_one(&b, &f);
    assert_int_equal(proto_get_reclaim_answer(&f, &ao), 0);
    assert_int_equal(ao.code, BURROW_ERR_SYSTEM);
}

static void test_identity(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    struct proto_identity id = {.user = proto_str_c("alice"),
                                .uid = 60001,
                                .gid = 60001,
                                .shell = proto_str_c("/bin/bash"),
                                .home = proto_str_c("/home/alice"),
                                .hostname = proto_str_c("alice-vm"),
                                .time_sec = 1790000000,
                                .time_nsec = 999999999,
                                .flags = PROTO_ID_F_HOME_DISK},
                          out;
    for (int i = 0; i < PROTO_ENTROPY_LEN; i++)
        id.entropy[i] = (uint8_t)i;
    ENCODE(b, proto_put_identity(&b, &id));
    parse_one(&b, &f);
    assert_int_equal(proto_get_identity(&f, &out), 0);
    assert_true(proto_str_eq(out.user, "alice"));
    assert_int_equal(out.uid, 60001);
    assert_true(proto_str_eq(out.shell, "/bin/bash"));
    assert_true(proto_str_eq(out.home, "/home/alice"));
    assert_true(proto_str_eq(out.hostname, "alice-vm"));
    assert_memory_equal(out.entropy, id.entropy, PROTO_ENTROPY_LEN);
    assert_int_equal(out.time_sec, 1790000000);
    assert_int_equal(out.time_nsec, 999999999);
    assert_int_equal(out.flags, PROTO_ID_F_HOME_DISK);
    all_truncations_fail(&f, (decode_fn)proto_get_identity, &out);

    /* Later fields (trailing bytes) and unknown flags are tolerated. */
    assert_int_equal(buf_put_u32_le(&b, 0xdeadbeef), 0);
    assert_int_equal(buf_poke_u32_le(&b, 0, (uint32_t)(buf_used(&b) - PROTO_HDR_LEN)), 0);
    parse_one(&b, &f);
    assert_int_equal(proto_get_identity(&f, &out), 0);

    /* The network block (PROTO_ID_F_NET): round trip, truncation, ranges. */
    id.flags = PROTO_ID_F_NET;
    id.net = (struct proto_net){.mac = {2, 1, 2, 3, 4, 5},
                                .addr = 0x0ad50002,
                                .prefix = 16,
                                .gateway = 0x0ad50001,
                                .nr_dns = 2,
                                .dns = {0x0ad50001, 0x01010101}};
    ENCODE(b, proto_put_identity(&b, &id));
    parse_one(&b, &f);
    assert_int_equal(proto_get_identity(&f, &out), 0);
    assert_int_equal(out.flags, PROTO_ID_F_NET);
    assert_memory_equal(out.net.mac, id.net.mac, 6);
    assert_int_equal(out.net.addr, 0x0ad50002);
    assert_int_equal(out.net.prefix, 16);
    assert_int_equal(out.net.gateway, 0x0ad50001);
    assert_int_equal(out.net.nr_dns, 2);
    assert_int_equal(out.net.dns[1], 0x01010101);
    all_truncations_fail(&f, (decode_fn)proto_get_identity, &out);
    id.net.prefix = 33;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_identity(&b, &id), BURROW_ERR_RANGE);
    id.net.prefix = 16;
    id.net.nr_dns = PROTO_DNS_MAX + 1;
    assert_int_equal(proto_put_identity(&b, &id), BURROW_ERR_RANGE);
    id.net.nr_dns = 0;
    id.flags = 0;

    id.time_nsec = 1000000000;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_identity(&b, &id), BURROW_ERR_RANGE);
    id.time_nsec = 0;
    id.user = proto_str_c("");
    assert_int_equal(proto_put_identity(&b, &id), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);
}

/* Hibernation: HIBERNATE (no flags yet), its answer, and RESUME instead of IDENTITY. */
static void test_hibernation_frames(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    struct proto_hibernate h = {0}, ho;
    ENCODE(b, proto_put_hibernate(&b, &h));
    parse_one(&b, &f);
    assert_int_equal(f.type, PROTO_HIBERNATE);
    assert_string_equal(proto_type_name(PROTO_HIBERNATE), "hibernate");
    assert_int_equal(proto_get_hibernate(&f, &ho), 0);
    all_truncations_fail(&f, (decode_fn)proto_get_hibernate, &ho);
    trailing_fails(&b, (decode_fn)proto_get_hibernate, &ho);
    h.flags = 1;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_hibernate(&b, &h), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);
    /* A flag this codec does not know is refused: the agent must not guess. */
    ENCODE(b, proto_put_hibernate(&b, &(struct proto_hibernate){0}));
    mem[PROTO_HDR_LEN] = 2;
    parse_one(&b, &f);
    assert_int_equal(proto_get_hibernate(&f, &ho), BURROW_ERR_RANGE);
    /* Another frame's decoder refuses it. */
    assert_int_equal(proto_get_shutdown(&f, &(struct proto_shutdown){0}), BURROW_ERR_PROTOCOL);

    struct proto_hibernate_answer a = {BURROW_ERR_SYSTEM, proto_str_c("syncfs /home/a: EIO")}, ao;
    ENCODE(b, proto_put_hibernate_answer(&b, &a));
    parse_one(&b, &f);
    assert_int_equal(proto_get_hibernate_answer(&f, &ao), 0);
    assert_int_equal(ao.code, BURROW_ERR_SYSTEM);
    assert_true(proto_str_eq(ao.text, "syncfs /home/a: EIO"));
    assert_int_equal(proto_get_shutdown_answer(&f, &(struct proto_shutdown_answer){0}),
                     BURROW_ERR_PROTOCOL);
    all_truncations_fail(&f, (decode_fn)proto_get_hibernate_answer, &ao);
    trailing_fails(&b, (decode_fn)proto_get_hibernate_answer, &ao);

    struct proto_resume rs = {.time_sec = 1796000000, .time_nsec = 5, .slept_ms = 3600000}, ro;
    for (int i = 0; i < PROTO_ENTROPY_LEN; i++)
        rs.entropy[i] = (uint8_t)(i * 7);
    ENCODE(b, proto_put_resume(&b, &rs));
    parse_one(&b, &f);
    assert_int_equal(proto_get_resume(&f, &ro), 0);
    assert_memory_equal(ro.entropy, rs.entropy, PROTO_ENTROPY_LEN);
    assert_int_equal(ro.time_sec, 1796000000);
    assert_int_equal(ro.time_nsec, 5);
    assert_int_equal(ro.slept_ms, 3600000);
    assert_int_equal(ro.flags, 0);
    all_truncations_fail(&f, (decode_fn)proto_get_resume, &ro);
    /* Later fields and unknown flags are tolerated, as in IDENTITY. */
    mem[PROTO_HDR_LEN + PROTO_ENTROPY_LEN + 12] |= 0x80;
    assert_int_equal(buf_put_u32_le(&b, 0xdeadbeef), 0);
    assert_int_equal(buf_poke_u32_le(&b, 0, (uint32_t)(buf_used(&b) - PROTO_HDR_LEN)), 0);
    parse_one(&b, &f);
    assert_int_equal(proto_get_resume(&f, &ro), 0);
    assert_int_equal(ro.flags, 0);
    /* With the network: round trip and every truncation; bad ranges refused both ways. */
    rs.flags = PROTO_ID_F_NET | PROTO_ID_F_HOME_DISK; /* only NET goes on the wire */
    rs.net = (struct proto_net){.mac = {2, 9, 8, 7, 6, 5},
                                .addr = 0x0ad50003,
                                .prefix = 24,
                                .gateway = 0x0ad50001,
                                .nr_dns = 1,
                                .dns = {0x08080808}};
    ENCODE(b, proto_put_resume(&b, &rs));
    parse_one(&b, &f);
    assert_int_equal(proto_get_resume(&f, &ro), 0);
    assert_int_equal(ro.flags, PROTO_ID_F_NET);
    assert_memory_equal(ro.net.mac, rs.net.mac, 6);
    assert_int_equal(ro.net.addr, 0x0ad50003);
    assert_int_equal(ro.net.dns[0], 0x08080808);
    all_truncations_fail(&f, (decode_fn)proto_get_resume, &ro);
    rs.net.prefix = 0;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_resume(&b, &rs), BURROW_ERR_RANGE);
    rs.net.prefix = 24;
    rs.time_nsec = 1000000000;
    assert_int_equal(proto_put_resume(&b, &rs), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);
    rs.time_nsec = 0;
    ENCODE(b, proto_put_resume(&b, &rs));
    put_u32_at(mem + PROTO_HDR_LEN + PROTO_ENTROPY_LEN + 8, 1000000000); /* time_nsec */
    parse_one(&b, &f);
    assert_int_equal(proto_get_resume(&f, &ro), BURROW_ERR_RANGE);
}

static void test_ready(void **state)
{
    (void)state;
    struct buf b;
    struct proto_frame f;
    struct proto_ready r = {0}, out;
    for (int i = 0; i < PROTO_STEP_COUNT; i++) {
        r.outcome[i] = PROTO_STEP_OK;
        r.text[i] = proto_str_c("fine");
    }
    r.outcome[PROTO_STEP_HOME] = PROTO_STEP_FAILED;
    r.text[PROTO_STEP_HOME] = proto_str_c("vda has no capacity after 10 s");
    ENCODE(b, proto_put_ready(&b, &r));
    parse_one(&b, &f);
    assert_int_equal(proto_get_ready(&f, &out), 0);
    assert_int_equal(out.outcome[PROTO_STEP_HOME], PROTO_STEP_FAILED);
    assert_true(proto_str_eq(out.text[PROTO_STEP_HOME], "vda has no capacity after 10 s"));
    assert_int_equal(out.outcome[PROTO_STEP_HOOKS], PROTO_STEP_OK);
    all_truncations_fail(&f, (decode_fn)proto_get_ready, &out);

    /* A newer peer's extra step is skipped; an older peer's missing ones read NONE. */
    uint8_t body[256];
    struct buf w;
    buf_init_writer(&w, body, sizeof(body));
    assert_int_equal(buf_put_u32_le(&w, PROTO_HDR_LEN), 0); /* patched below */
    assert_int_equal(buf_put_u16_le(&w, PROTO_READY), 0);
    assert_int_equal(buf_put_u16_le(&w, 0), 0);
    assert_int_equal(buf_put_u32_le(&w, 1), 0);
    assert_int_equal(buf_put_u32_le(&w, PROTO_STEP_SKIPPED), 0);
    assert_int_equal(buf_put_cstring(&w, "x"), 0);
    assert_int_equal(buf_poke_u32_le(&w, 0, (uint32_t)(buf_used(&w) - PROTO_HDR_LEN)), 0);
    parse_one(&w, &f);
    assert_int_equal(proto_get_ready(&f, &out), 0);
    assert_int_equal(out.outcome[0], PROTO_STEP_SKIPPED);
    assert_int_equal(out.outcome[PROTO_STEP_HOOKS], PROTO_STEP_NONE);

    /* An outcome outside the enum. */
    r.outcome[0] = 9;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(proto_put_ready(&b, &r), BURROW_ERR_RANGE);
    assert_int_equal(buf_used(&b), 0);
}

static void test_signal_names(void **state)
{
    (void)state;
    assert_int_equal(proto_signal_from_name("INT"), 2);
    assert_int_equal(proto_signal_from_name("TERM"), 15);
    assert_int_equal(proto_signal_from_name("SIGTERM"), 0);
    assert_int_equal(proto_signal_from_name(NULL), 0);
    assert_string_equal(proto_signal_name(9), "KILL");
    assert_null(proto_signal_name(0));
    assert_null(proto_signal_name(40));
}

static void test_str_helpers(void **state)
{
    (void)state;
    char out[4];
    assert_int_equal(proto_str_copy(proto_str_c("abc"), out, sizeof(out)), 0);
    assert_string_equal(out, "abc");
    assert_int_equal(proto_str_copy(proto_str_c("abcd"), out, sizeof(out)), BURROW_ERR_TOO_LARGE);
    assert_true(proto_str_eq(proto_str_c(NULL), ""));
    assert_false(proto_str_eq(proto_str_c("ab"), "abc"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_error_and_unknown),
        cmocka_unit_test(test_open),
        cmocka_unit_test(test_open_limits),
        cmocka_unit_test(test_listeners),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_small_frames),
        cmocka_unit_test(test_reclaim),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_hibernation_frames),
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_signal_names),
        cmocka_unit_test(test_str_helpers),
    };
    return cmocka_run_group_tests_name("common/proto", tests, NULL, NULL);
}
