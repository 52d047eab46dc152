/*
 * tests/testguest/agent_session.c - the test guest's minimal session side
 * of guest port 1024, so burrowd's kvm backend can be tested end to end
 * with the real OpenSSH client (`ssh user@host CMD`) against a test-guest
 * template.
 *
 * A connection whose first packet starts with a HELLO frame header speaks
 * the agent protocol (common/proto.h): HELLO -> HELLO, OPEN -> OPENED, then
 * the output of a built-in command, EOF(stdout), EXIT, and a vsock shutdown.
 * Any other connection is the plain echo the fork tests use.
 *
 * Built-in commands (OPEN exec; the command line is split on spaces):
 *   true | false | exit N | echo ARGS... | whoami | hostname | cat |
 *   mem write SEED | mem check SEED | mem check template
 *   fill SEED MIB | check SEED MIB | report MIB   (density tests, balloon.c)
 * `whoami` and `hostname` print what the last IDENTITY said; `cat` copies
 * STDIN frames to STDOUT until EOF(stdin); `mem` writes or checks the
 * pattern pages at TG_MEM_BASE (abi.h). Anything else: "not found" on
 * stderr, status 127. A shell (OPEN shell) is refused with status 1, other
 * open kinds with an ERROR frame. WINDOW, SIGNAL and unknown frames are
 * ignored. A frame larger than the per-connection buffer ends the
 * connection with an ERROR frame.
 *
 * The control port's SHUTDOWN (sync and unmount before an idle reap) is
 * answered here too: the test guest has no filesystem, so it answers 0.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/proto.h"
#include "tests/testguest/abi.h"
#include "tests/testguest/agent.h"

enum { S_UNDECIDED, S_ECHO, S_FRAMES };

struct tgs {
    int mode;
    int helloed, opened, cat;
    uint8_t in[8192];
    size_t in_len;
};
static struct tgs sess[TG_CONNS];
static char id_user[PROTO_NAME_MAX + 1] = "root";
static char id_host[PROTO_HOST_MAX + 1] = "testguest";
static uint8_t out_mem[4096];

void tgs_identity(struct proto_str user, struct proto_str hostname)
{
    if (proto_str_copy(user, id_user, sizeof(id_user)))
        id_user[0] = 0;
    if (proto_str_copy(hostname, id_host, sizeof(id_host)))
        id_host[0] = 0;
}

void tgs_open(unsigned slot)
{
    if (slot < TG_CONNS)
        memset(&sess[slot], 0, sizeof(sess[slot]));
}

static void flush(unsigned slot, struct buf *b)
{
    if (buf_used(b))
        tg_conn_send(slot, buf_data(b), (uint32_t)buf_used(b));
    buf_init_writer(b, out_mem, sizeof(out_mem));
}

/* Text on STDOUT/STDERR, in frames that fit the buffer. */
static void put_text(unsigned slot, struct buf *b, uint32_t type, const char *p, size_t n)
{
    while (n) {
        size_t k = n < 1024 ? n : 1024;
        if (proto_put_data(b, type, p, k)) {
            flush(slot, b);
            continue;
        }
        p += k;
        n -= k;
    }
}

static void finish(unsigned slot, struct buf *b, uint32_t status)
{
    struct proto_exit x = {PROTO_EXIT_STATUS, status & 255, 0};
    flush(slot, b);
    if (proto_put_eof(b, PROTO_STREAM_STDOUT) || proto_put_exit(b, &x))
        tg_fail("cannot encode EXIT");
    flush(slot, b);
    tg_conn_close(slot);
    sess[slot].mode = S_UNDECIDED;
}

static void refuse(unsigned slot, struct buf *b, const char *why)
{
    flush(slot, b);
    if (proto_put_error(b, BURROW_ERR_UNSUPPORTED, why) == 0)
        flush(slot, b);
    tg_conn_close(slot);
    sess[slot].mode = S_UNDECIDED;
}

/* The next space-separated word of [*p, end). */
static int word(const char **p, const char *end, const char **w, size_t *n)
{
    while (*p < end && **p == ' ')
        (*p)++;
    *w = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    *n = (size_t)(*p - *w);
    return *n != 0;
}

static int is(const char *w, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(w, lit, n) == 0;
}

/* ---- mem: what a fork, hibernation and resume keep of guest memory ---- */

static volatile uint64_t *mem_page(unsigned page)
{
    return (volatile uint64_t *)(TG_MEM_BASE + (uint64_t)page * 4096);
}

static void mem_fill(unsigned page, uint64_t seed)
{
    for (unsigned w = 0; w < 512; w++)
        mem_page(page)[w] = tg_blk_word(seed, page, w);
}

static int mem_holds(unsigned page, uint64_t seed)
{
    for (unsigned w = 0; w < 512; w++)
        if (mem_page(page)[w] != tg_blk_word(seed, page, w))
            return 0;
    return 1;
}

void tgs_mem_template(void)
{
    for (unsigned p = 0; p < TG_MEM_PAGES; p++)
        mem_fill(p, TG_MEM_TEMPLATE_SEED);
}

static uint64_t number(const char *w, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && w[i] >= '0' && w[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(w[i] - '0');
    return v;
}

static void put_num(unsigned slot, struct buf *b, uint64_t v)
{
    char d[24];
    int n = 0;
    do
        d[sizeof(d) - 1 - n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof(d));
    put_text(slot, b, PROTO_STDOUT, d + sizeof(d) - n, (size_t)n);
}

/* `mem write SEED`: even pages; `mem check SEED|template`: even SEED, odd the template's. */
static void run_mem(unsigned slot, struct buf *b, const char *p, const char *end)
{
    const char *w, *a;
    size_t n, an;
    if (!word(&p, end, &w, &n) || !word(&p, end, &a, &an)) {
        put_text(slot, b, PROTO_STDERR, "usage: mem write|check SEED\n", 29);
        return finish(slot, b, 2);
    }
    uint64_t seed = is(a, an, "template") ? TG_MEM_TEMPLATE_SEED : number(a, an);
    unsigned written = 0, kept = 0;
    for (unsigned pg = 0; pg < TG_MEM_PAGES; pg++) {
        uint64_t want = pg % 2 == 0 ? seed : TG_MEM_TEMPLATE_SEED;
        if (is(w, n, "write") && pg % 2 == 0) {
            mem_fill(pg, seed);
            written++;
        } else if (is(w, n, "check") && !mem_holds(pg, want)) {
            put_text(slot, b, PROTO_STDOUT, "mem bad page ", 13);
            put_num(slot, b, pg);
            put_text(slot, b, PROTO_STDOUT, "\n", 1);
            return finish(slot, b, 1);
        } else if (is(w, n, "check")) {
            *(pg % 2 == 0 ? &written : &kept) += 1;
        }
    }
    put_text(slot, b, PROTO_STDOUT, "mem ok pattern=", 15);
    put_num(slot, b, written);
    put_text(slot, b, PROTO_STDOUT, " template=", 10);
    put_num(slot, b, kept);
    put_text(slot, b, PROTO_STDOUT, "\n", 1);
    finish(slot, b, 0);
}

/* The next word as a decimal number (at most 9 digits); 0 when absent. */
static uint64_t next_number(const char **p, const char *end)
{
    const char *w;
    size_t n;
    return word(p, end, &w, &n) ? number(w, n < 9 ? n : 9) : 0;
}

/* fill SEED MIB | check SEED MIB (seed 0: the template's bytes) | report MIB (balloon.c). */
static void memory_command(unsigned slot, struct buf *b, const char *w, size_t n, const char *p,
                           const char *end)
{
    if (is(w, n, "report")) {
        unsigned mib = (unsigned)next_number(&p, end);
        if (!tgb_present()) {
            put_text(slot, b, PROTO_STDERR, "no balloon\n", 11);
            return finish(slot, b, 1);
        }
        put_text(slot, b, PROTO_STDOUT, "reported ", 9);
        put_num(slot, b, tgb_report_fill(mib) / 1024);
        put_text(slot, b, PROTO_STDOUT, " KiB\n", 5);
        return finish(slot, b, 0);
    }
    uint64_t seed = next_number(&p, end), bad = 0;
    unsigned mib = (unsigned)next_number(&p, end);
    if (is(w, n, "fill")) {
        tgb_fill(seed, mib);
        put_text(slot, b, PROTO_STDOUT, "filled\n", 7);
        return finish(slot, b, 0);
    }
    if (tgb_check(seed, mib, &bad)) {
        put_text(slot, b, PROTO_STDOUT, "match\n", 6);
        return finish(slot, b, 0);
    }
    put_text(slot, b, PROTO_STDOUT, "mismatch at ", 12);
    put_num(slot, b, bad);
    put_text(slot, b, PROTO_STDOUT, "\n", 1);
    finish(slot, b, 1);
}

static void run(unsigned slot, struct buf *b, struct proto_str cmd)
{
    const char *p = cmd.p, *end = cmd.p + cmd.len, *w;
    size_t n;
    if (!word(&p, end, &w, &n) || is(w, n, "true"))
        return finish(slot, b, 0);
    if (is(w, n, "false"))
        return finish(slot, b, 1);
    if (is(w, n, "exit"))
        return finish(slot, b, word(&p, end, &w, &n) ? (uint32_t)(number(w, n) & 255) : 0);
    if (is(w, n, "echo")) {
        int first = 1;
        while (word(&p, end, &w, &n)) {
            if (!first)
                put_text(slot, b, PROTO_STDOUT, " ", 1);
            put_text(slot, b, PROTO_STDOUT, w, n);
            first = 0;
        }
        put_text(slot, b, PROTO_STDOUT, "\n", 1);
        return finish(slot, b, 0);
    }
    if (is(w, n, "whoami") || is(w, n, "hostname")) {
        const char *v = is(w, n, "whoami") ? id_user : id_host;
        put_text(slot, b, PROTO_STDOUT, v, strlen(v));
        put_text(slot, b, PROTO_STDOUT, "\n", 1);
        return finish(slot, b, 0);
    }
    if (is(w, n, "mem"))
        return run_mem(slot, b, p, end);
    if (is(w, n, "fill") || is(w, n, "check") || is(w, n, "report"))
        return memory_command(slot, b, w, n, p, end);
    if (is(w, n, "cat")) {
        sess[slot].cat = 1;
        return flush(slot, b);
    }
    put_text(slot, b, PROTO_STDERR, "testguest: ", 11);
    put_text(slot, b, PROTO_STDERR, w, n);
    put_text(slot, b, PROTO_STDERR, ": not found\n", 12);
    finish(slot, b, 127);
}

static void on_open(unsigned slot, struct buf *b, const struct proto_frame *f)
{
    static struct proto_open o; /* large: not on the small CPL3 stack */
    if (proto_get_open(f, &o))
        return refuse(slot, b, "bad OPEN frame");
    if (o.kind != PROTO_OPEN_EXEC && o.kind != PROTO_OPEN_SHELL)
        return refuse(slot, b, "the test guest runs built-in commands only");
    struct proto_opened op = {1};
    if (proto_put_opened(b, &op))
        tg_fail("cannot encode OPENED");
    sess[slot].opened = 1;
    if (o.kind == PROTO_OPEN_SHELL) {
        put_text(slot, b, PROTO_STDERR, "testguest: no shell here\n", 25);
        return finish(slot, b, 1);
    }
    run(slot, b, o.command);
}

static void on_frame(unsigned slot, struct buf *b, const struct proto_frame *f)
{
    struct tgs *s = &sess[slot];
    if (!s->helloed) {
        struct proto_hello h, mine = {PROTO_VERSION, PROTO_ROLE_AGENT, 0};
        if (f->type != PROTO_HELLO || proto_get_hello(f, &h) || proto_hello_check(&h))
            return refuse(slot, b, "expected HELLO");
        if (proto_put_hello(b, &mine))
            tg_fail("cannot encode HELLO");
        s->helloed = 1;
        return;
    }
    if (!s->opened) {
        if (f->type != PROTO_OPEN)
            return refuse(slot, b, "expected OPEN");
        return on_open(slot, b, f);
    }
    const uint8_t *d;
    size_t n;
    uint32_t stream;
    if (s->cat && f->type == PROTO_STDIN && proto_get_data(f, &d, &n) == 0)
        put_text(slot, b, PROTO_STDOUT, (const char *)d, n);
    else if (s->cat && f->type == PROTO_EOF && proto_get_eof(f, &stream) == 0 &&
             stream == PROTO_STREAM_STDIN)
        finish(slot, b, 0);
}

/* A HELLO frame header: small length, type HELLO, flags 0. */
static int looks_like_hello(const uint8_t *p, uint32_t len)
{
    return len >= PROTO_HDR_LEN && p[4] == PROTO_HELLO && p[5] == 0 && p[6] == 0 && p[7] == 0 &&
           p[2] == 0 && p[3] == 0 && p[1] == 0 && p[0] <= 64;
}

int tgs_data(unsigned slot, const uint8_t *p, uint32_t len)
{
    if (slot >= TG_CONNS)
        return 0;
    struct tgs *s = &sess[slot];
    if (s->mode == S_UNDECIDED)
        s->mode = looks_like_hello(p, len) ? S_FRAMES : S_ECHO;
    if (s->mode == S_ECHO)
        return 0;
    struct buf b;
    buf_init_writer(&b, out_mem, sizeof(out_mem));
    if (len > sizeof(s->in) - s->in_len) {
        refuse(slot, &b, "frame too large for the test guest");
        return 1;
    }
    memcpy(s->in + s->in_len, p, len);
    s->in_len += len;
    struct proto_frame f;
    size_t off = 0;
    int r;
    while (s->mode == S_FRAMES && (r = proto_frame_parse(s->in + off, s->in_len - off, &f)) == 0) {
        on_frame(slot, &b, &f);
        off += f.size;
    }
    if (s->mode != S_FRAMES) /* finished or refused: the connection is gone */
        return 1;
    if (r != BURROW_ERR_AGAIN) {
        refuse(slot, &b, "malformed frame");
        return 1;
    }
    memmove(s->in, s->in + off, s->in_len - off);
    s->in_len -= off;
    flush(slot, &b);
    return 1;
}

int tgs_shutdown_answer(struct buf *b)
{
    struct proto_shutdown_answer a = {0, proto_str_c("test guest: nothing to unmount")};
    return proto_put_shutdown_answer(b, &a);
}

int tgs_hibernate_answer(struct buf *b)
{
    struct proto_hibernate_answer a = {0, proto_str_c("test guest: disk flushed")};
    return proto_put_hibernate_answer(b, &a);
}
