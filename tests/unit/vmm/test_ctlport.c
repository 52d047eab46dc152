/*
 * tests/unit/vmm/test_ctlport.c - the host's side of the control protocol
 * without a transport: frames reassembled from any split of the byte
 * stream, a broken stream refused, and the greeting (HELLO + IDENTITY).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/proto.h"
#include "vmm/ctlport.h"

static struct ctlport_rx rx; /* too big for a test's stack */

/* HELLO (agent), READY, HEARTBEAT 7: the stream an agent starts with. */
static size_t agent_stream(uint8_t *mem, size_t cap)
{
    struct buf b;
    buf_init_writer(&b, mem, cap);
    struct proto_hello h = {.version = PROTO_VERSION, .role = PROTO_ROLE_AGENT};
    struct proto_ready rd;
    memset(&rd, 0, sizeof(rd));
    struct proto_heartbeat hb = {.seq = 7};
    assert_int_equal(proto_put_hello(&b, &h), 0);
    assert_int_equal(proto_put_ready(&b, &rd), 0);
    assert_int_equal(proto_put_heartbeat(&b, &hb), 0);
    return buf_used(&b);
}

/* Feed the stream in pieces of `step` bytes; collect the frame types. */
static unsigned feed_in_steps(const uint8_t *s, size_t len, size_t step, uint16_t *types)
{
    unsigned n = 0;
    ctlport_rx_reset(&rx);
    for (size_t off = 0; off < len; off += step) {
        size_t room, k = len - off < step ? len - off : step;
        uint8_t *space = ctlport_rx_space(&rx, &room);
        assert_true(room >= k);
        memcpy(space, s + off, k);
        ctlport_rx_added(&rx, k);
        struct proto_frame f;
        int r;
        while ((r = ctlport_rx_next(&rx, &f)) == 0)
            types[n++] = f.type;
        assert_int_equal(r, BURROW_ERR_AGAIN);
    }
    return n;
}

static void test_frames_from_any_split(void **state)
{
    (void)state;
    uint8_t s[256];
    size_t len = agent_stream(s, sizeof(s));
    for (size_t step = 1; step <= len; step++) {
        uint16_t types[8];
        assert_int_equal(feed_in_steps(s, len, step, types), 3);
        assert_int_equal(types[0], PROTO_HELLO);
        assert_int_equal(types[1], PROTO_READY);
        assert_int_equal(types[2], PROTO_HEARTBEAT);
    }
}

static void test_broken_stream_refused(void **state)
{
    (void)state;
    uint8_t junk[PROTO_HDR_LEN];
    memset(junk, 0xff, sizeof(junk)); /* a length no frame may have */
    ctlport_rx_reset(&rx);
    size_t room;
    memcpy(ctlport_rx_space(&rx, &room), junk, sizeof(junk));
    ctlport_rx_added(&rx, sizeof(junk));
    struct proto_frame f;
    int r = ctlport_rx_next(&rx, &f);
    assert_true(r != 0 && r != BURROW_ERR_AGAIN);
}

static void test_greeting(void **state)
{
    (void)state;
    uint8_t in[64], out[4096], entropy[PROTO_ENTROPY_LEN];
    struct buf b;
    buf_init_writer(&b, in, sizeof(in));
    struct proto_hello h = {.version = PROTO_VERSION, .role = PROTO_ROLE_AGENT};
    assert_int_equal(proto_put_hello(&b, &h), 0);
    struct proto_frame f;
    assert_int_equal(proto_frame_parse(in, buf_used(&b), &f), 0);

    struct fork_identity who;
    memset(&who, 0, sizeof(who));
    strcpy(who.user, "alice");
    strcpy(who.hostname, "alice-vm");
    strcpy(who.shell, "/bin/sh");
    strcpy(who.home, "/home/alice");
    who.uid = who.gid = 1000;
    who.net_enabled = 1;
    who.net.prefix = 24;
    static const uint8_t mac[6] = {0x02, 1, 2, 3, 4, 5};
    buf_init_writer(&b, out, sizeof(out));
    assert_int_equal(ctlport_answer_hello(&f, &b), 0);
    assert_int_equal(ctlport_put_identity(&b, &who, true, mac, entropy), 0);

    size_t off = 0;
    assert_int_equal(proto_frame_parse(out, buf_used(&b), &f), 0);
    struct proto_hello mine;
    assert_int_equal(proto_get_hello(&f, &mine), 0);
    assert_int_equal(mine.role, PROTO_ROLE_VMM);
    off += f.size;
    assert_int_equal(proto_frame_parse(out + off, buf_used(&b) - off, &f), 0);
    struct proto_identity pi;
    assert_int_equal(proto_get_identity(&f, &pi), 0);
    assert_true(pi.flags & PROTO_ID_F_HOME_DISK);
    assert_true(pi.flags & PROTO_ID_F_NET);
    assert_memory_equal(pi.net.mac, mac, sizeof(mac));
    assert_memory_equal(pi.entropy, entropy, sizeof(entropy));
    assert_true(pi.time_sec > 0);
    assert_int_equal(pi.user.len, strlen("alice"));

    /* An agent older than the oldest version this codec speaks gets no greeting. */
    buf_init_writer(&b, in, sizeof(in));
    h.version = PROTO_VERSION_MIN - 1;
    assert_int_equal(proto_put_hello(&b, &h), 0);
    assert_int_equal(proto_frame_parse(in, buf_used(&b), &f), 0);
    buf_init_writer(&b, out, sizeof(out));
    assert_int_equal(ctlport_answer_hello(&f, &b), BURROW_ERR_VERSION);
    assert_int_equal(buf_used(&b), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_from_any_split),
        cmocka_unit_test(test_broken_stream_refused),
        cmocka_unit_test(test_greeting),
    };
    return cmocka_run_group_tests_name("vmm/ctlport", tests, NULL, NULL);
}
