/*
 * tests/fuzz/proto.c - libFuzzer harness for the agent protocol codec.
 * Splits the input into frames and runs every typed decoder on each; a frame
 * that decodes must re-encode (where the codec has an encoder for it) and
 * decode again to the same values (OPEN, IDENTITY, RECLAIM and its answer).
 */
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "common/proto.h"

static uint8_t out_mem[2 * PROTO_FRAME_MAX];

static void check_open(const struct proto_frame *f)
{
    static struct proto_open o, o2;
    if (proto_get_open(f, &o))
        return;
    struct buf b;
    struct proto_frame f2;
    buf_init_writer(&b, out_mem, sizeof(out_mem));
    if (proto_put_open(&b, &o) || proto_frame_parse(buf_data(&b), buf_used(&b), &f2) ||
        proto_get_open(&f2, &o2))
        __builtin_trap();
    if (o2.kind != o.kind || o2.n_env != o.n_env || o2.n_modes != o.n_modes ||
        o2.conn_id != o.conn_id || memcmp(o2.token, o.token, sizeof(o.token)) ||
        o2.command.len != o.command.len || memcmp(o2.command.p, o.command.p, o.command.len))
        __builtin_trap();
}

static void check_identity(const struct proto_frame *f)
{
    struct proto_identity id, id2;
    if (proto_get_identity(f, &id))
        return;
    struct buf b;
    struct proto_frame f2;
    buf_init_writer(&b, out_mem, sizeof(out_mem));
    if (proto_put_identity(&b, &id) || proto_frame_parse(buf_data(&b), buf_used(&b), &f2) ||
        proto_get_identity(&f2, &id2) || id2.uid != id.uid || id2.time_sec != id.time_sec ||
        memcmp(id2.entropy, id.entropy, sizeof(id.entropy)))
        __builtin_trap();
}

static void check_resume(const struct proto_frame *f)
{
    struct proto_resume rs, rs2;
    if (proto_get_resume(f, &rs))
        return;
    struct buf b;
    struct proto_frame f2;
    buf_init_writer(&b, out_mem, sizeof(out_mem));
    if (proto_put_resume(&b, &rs) || proto_frame_parse(buf_data(&b), buf_used(&b), &f2) ||
        proto_get_resume(&f2, &rs2) || rs2.time_sec != rs.time_sec || rs2.flags != rs.flags ||
        rs2.slept_ms != rs.slept_ms || rs2.net.addr != rs.net.addr ||
        memcmp(rs2.entropy, rs.entropy, sizeof(rs.entropy)))
        __builtin_trap();
}

/* The idle policy's frames: whatever decodes re-encodes to the same values. */
static void check_reclaim(const struct proto_frame *f)
{
    struct proto_reclaim q, q2;
    struct proto_reclaim_answer a, a2;
    struct buf b;
    struct proto_frame f2;
    buf_init_writer(&b, out_mem, sizeof(out_mem));
    if (proto_get_reclaim(f, &q) == 0 &&
        (proto_put_reclaim(&b, &q) || proto_frame_parse(buf_data(&b), buf_used(&b), &f2) ||
         proto_get_reclaim(&f2, &q2) || q2.flags != q.flags))
        __builtin_trap();
    buf_init_writer(&b, out_mem, sizeof(out_mem));
    if (proto_get_reclaim_answer(f, &a) == 0 &&
        (proto_put_reclaim_answer(&b, &a) || proto_frame_parse(buf_data(&b), buf_used(&b), &f2) ||
         proto_get_reclaim_answer(&f2, &a2) || a2.code != a.code ||
         a2.free_before_kib != a.free_before_kib || a2.free_after_kib != a.free_after_kib))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf in;
    struct proto_frame f;
    buf_init_reader(&in, data, size);
    while (proto_frame_next(&in, &f) == 0) {
        struct proto_hello h;
        struct proto_error e;
        struct proto_opened op;
        struct proto_window w;
        struct proto_exit x;
        struct proto_ready r;
        struct proto_heartbeat hb;
        struct proto_shutdown s;
        struct proto_shutdown_answer a;
        struct proto_listening li;
        struct proto_accepted ac;
        struct proto_hibernate hi;
        struct proto_hibernate_answer ha;
        const uint8_t *d;
        size_t n;
        uint32_t v;
        int rc = 0;
        rc |= proto_get_hello(&f, &h) == 0 && proto_hello_check(&h);
        rc |= proto_get_error(&f, &e);
        rc |= proto_get_opened(&f, &op);
        rc |= proto_get_data(&f, &d, &n);
        rc |= proto_get_eof(&f, &v);
        rc |= proto_get_window(&f, &w);
        rc |= proto_get_signal(&f, &v);
        rc |= proto_get_exit(&f, &x);
        rc |= proto_get_ready(&f, &r);
        rc |= proto_get_heartbeat(&f, &hb);
        rc |= proto_get_shutdown(&f, &s);
        rc |= proto_get_shutdown_answer(&f, &a);
        rc |= proto_get_listening(&f, &li);
        rc |= proto_get_accepted(&f, &ac);
        rc |= proto_get_hibernate(&f, &hi);
        rc |= proto_get_hibernate_answer(&f, &ha);
        (void)rc;
        check_open(&f);
        check_identity(&f);
        check_resume(&f);
        check_reclaim(&f);
        if (!proto_type_known(f.type)) {
            struct buf b;
            buf_init_writer(&b, out_mem, sizeof(out_mem));
            if (proto_put_error_unknown(&b, f.type))
                __builtin_trap();
        }
    }
    return 0;
}
