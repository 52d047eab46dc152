/*
 * tests/unit/broker/test_mproto.c - master <-> session messages: round trips
 * over a real SEQPACKET socketpair, field limits, malformed messages, EOF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/mproto.h"
#include "common/err.h"

static int sp[2];

static int setup(void **state)
{
    (void)state;
    return socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp);
}

static int teardown(void **state)
{
    (void)state;
    close(sp[0]);
    close(sp[1]);
    return 0;
}

static void test_roundtrip(void **state)
{
    (void)state;
    struct mproto_msg m;
    const char *f[2] = {"alice", "publickey"};
    assert_int_equal(mproto_send(sp[0], MPROTO_AUTH_OK, 2, f), 0);
    assert_int_equal(mproto_recv(sp[1], &m), 0);
    assert_int_equal(m.type, MPROTO_AUTH_OK);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.f[0], "alice");
    assert_string_equal(m.f[1], "publickey");
    const char *g[2] = {"/run/burrow/vm/sbx-alice/vsock.sock", NULL};
    assert_int_equal(mproto_send(sp[1], MPROTO_VM_OK, 2, g), 0);
    assert_int_equal(mproto_recv(sp[0], &m), 0);
    assert_int_equal(m.type, MPROTO_VM_OK);
    assert_string_equal(m.f[0], g[0]);
    assert_string_equal(m.f[1], ""); /* NULL travels as empty */
}

static void test_nothing_ready(void **state)
{
    (void)state;
    struct mproto_msg m;
    assert_int_equal(mproto_recv(sp[1], &m), BURROW_ERR_AGAIN);
}

static void test_limits(void **state)
{
    (void)state;
    char big[MPROTO_FIELD_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    const char *f[1] = {big};
    assert_int_equal(mproto_send(sp[0], MPROTO_VM_REQ, 1, f), BURROW_ERR_TOO_LARGE);
    big[MPROTO_FIELD_MAX] = 0; /* exactly the maximum is fine */
    struct mproto_msg m;
    assert_int_equal(mproto_send(sp[0], MPROTO_VM_REQ, 1, f), 0);
    assert_int_equal(mproto_recv(sp[1], &m), 0);
    assert_int_equal(strlen(m.f[0]), MPROTO_FIELD_MAX);
    const char *four[4] = {"a", "b", "c", "d"};
    assert_int_equal(mproto_send(sp[0], MPROTO_VM_REQ, 4, four), BURROW_ERR_INVALID);
    assert_int_equal(mproto_send(sp[0], 300, 0, NULL), BURROW_ERR_INVALID);
}

static void test_malformed(void **state)
{
    (void)state;
    struct mproto_msg m;
    /* empty */
    assert_int_not_equal(mproto_decode("", 0, &m), 0);
    /* a string whose length runs past the end */
    const uint8_t trunc[] = {3, 10, 0, 0, 0, 'a', 'b'};
    assert_int_not_equal(mproto_decode(trunc, sizeof(trunc), &m), 0);
    /* an embedded NUL */
    const uint8_t nul[] = {3, 3, 0, 0, 0, 'a', 0, 'b'};
    assert_int_not_equal(mproto_decode(nul, sizeof(nul), &m), 0);
    /* a fourth field */
    const uint8_t many[] = {3, 1, 0, 0, 0, 'a', 1, 0, 0, 0, 'b', 1, 0, 0, 0, 'c', 1, 0, 0, 0, 'd'};
    assert_int_equal(mproto_decode(many, sizeof(many), &m), BURROW_ERR_TRAILING);
    /* a field longer than the maximum */
    uint8_t longf[1 + 4 + MPROTO_FIELD_MAX + 1];
    memset(longf, 'x', sizeof(longf));
    longf[0] = 3;
    uint32_t n = MPROTO_FIELD_MAX + 1;
    memcpy(longf + 1, &n, 4);
    assert_int_not_equal(mproto_decode(longf, sizeof(longf), &m), 0);
    /* an oversized datagram is refused by recv */
    uint8_t huge[MPROTO_MSG_MAX + 100];
    memset(huge, 1, sizeof(huge));
    assert_int_equal(send(sp[0], huge, sizeof(huge), 0), (ssize_t)sizeof(huge));
    assert_int_equal(mproto_recv(sp[1], &m), BURROW_ERR_TOO_LARGE);
}

static void test_eof(void **state)
{
    (void)state;
    struct mproto_msg m;
    close(sp[0]);
    sp[0] = -1;
    assert_int_equal(mproto_recv(sp[1], &m), BURROW_ERR_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/mproto", tests, NULL, NULL);
}
