/*
 * tests/unit/broker/test_mproto.c - master/monitor/net child messages: round
 * trips over a real SEQPACKET socketpair, field limits, malformed messages,
 * EOF, descriptors passed along (kept, or closed when unwanted), and the
 * privilege-separation table (who may send what, when, in which form).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/mproto.h"
#include "common/clock.h"
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

/* Raw sendmsg of bytes with n descriptors (to hand-craft what a hostile peer sends). */
static void send_raw(int fd, const void *data, size_t len, const int *fds, int n)
{
    union {
        char buf[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(&ctl, 0, sizeof(ctl));
    mh.msg_control = ctl.buf;
    mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    assert_int_equal(sendmsg(fd, &mh, 0), (ssize_t)len);
}

/* 1 if nobody holds the read end of pipe p any more (a write fails with EPIPE). */
static int read_end_gone(const int p[2])
{
    return write(p[1], "x", 1) < 0 && errno == EPIPE;
}

static void test_pass_fd(void **state)
{
    (void)state;
    int p[2], got = -1;
    char c = 0;
    struct mproto_msg m;
    assert_int_equal(pipe(p), 0);
    const char *f[1] = {NULL};
    assert_int_equal(mproto_send_fd(sp[0], MPROTO_CONN_OK, 0, f, p[0]), 0);
    close(p[0]); /* from here on only the passed copy holds the read end */
    assert_int_equal(mproto_recv_fd(sp[1], &m, &got), 0);
    assert_int_equal(m.type, MPROTO_CONN_OK);
    assert_int_equal(m.n, 0);
    assert_true(got >= 0);
    assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(p[1], "k", 1), 1);
    assert_int_equal(read(got, &c, 1), 1);
    assert_int_equal(c, 'k');
    close(got);
    assert_true(read_end_gone(p));
    close(p[1]);
    /* A message without a descriptor: *fd_out is -1. */
    const char *g[1] = {"no"};
    assert_int_equal(mproto_send(sp[0], MPROTO_CONN_ERR, 1, g), 0);
    assert_int_equal(mproto_recv_fd(sp[1], &m, &got), 0);
    assert_int_equal(got, -1);
}

static void test_unwanted_fds_closed(void **state)
{
    (void)state;
    int p[2], q[2], got = 7;
    struct mproto_msg m;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(q), 0);
    const char *f[1] = {NULL};
    /* mproto_recv does not take descriptors: one that came along is closed. */
    assert_int_equal(mproto_send_fd(sp[0], MPROTO_CONN_OK, 0, f, p[0]), 0);
    close(p[0]);
    assert_int_equal(mproto_recv(sp[1], &m), 0);
    assert_true(read_end_gone(p));
    /* Two in one message: the first is kept, the second closed. */
    const uint8_t ok[] = {MPROTO_CONN_OK};
    int two[2] = {q[0], q[0]};
    assert_int_equal(pipe(p), 0);
    two[1] = p[0];
    send_raw(sp[0], ok, sizeof(ok), two, 2);
    close(p[0]);
    close(q[0]);
    assert_int_equal(mproto_recv_fd(sp[1], &m, &got), 0);
    assert_true(got >= 0);
    assert_true(read_end_gone(p));
    assert_false(read_end_gone(q));
    close(got);
    close(p[1]);
    close(q[1]);
    /* A malformed message: its descriptor is closed and none is returned. */
    const uint8_t bad[] = {MPROTO_CONN_OK, 10, 0, 0, 0, 'a'};
    assert_int_equal(pipe(p), 0);
    send_raw(sp[0], bad, sizeof(bad), &p[0], 1);
    close(p[0]);
    assert_int_not_equal(mproto_recv_fd(sp[1], &m, &got), 0);
    assert_int_equal(got, -1);
    assert_true(read_end_gone(p));
    close(p[1]);
}

static void test_recv_wait(void **state)
{
    (void)state;
    struct mproto_msg m;
    long t0 = clock_now_ms();
    assert_int_equal(mproto_recv_wait(sp[1], &m, NULL, t0 + 50), BURROW_ERR_TIMEOUT);
    assert_true(clock_now_ms() - t0 >= 50);
    const char *f[1] = {"alice"};
    assert_int_equal(mproto_send(sp[0], MPROTO_VM_REQ, 1, f), 0);
    assert_int_equal(mproto_recv_wait(sp[1], &m, NULL, -1), 0);
    assert_int_equal(m.type, MPROTO_VM_REQ);
    assert_string_equal(m.f[0], "alice");
    close(sp[0]);
    sp[0] = -1;
    assert_int_equal(mproto_recv_wait(sp[1], &m, NULL, -1), BURROW_ERR_CLOSED);
}

static struct mproto_msg msg_of(int type, unsigned n)
{
    struct mproto_msg m;
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.n = n;
    return m;
}

static void test_rules_direction_and_phase(void **state)
{
    (void)state;
    struct mproto_msg m = msg_of(MPROTO_CONNECT, 0);
    /* CONNECT: the net child's, after auth only. */
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_POSTAUTH, &m, 0, NULL), 0);
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_PREAUTH, &m, 0, NULL),
                     BURROW_ERR_PERM);
    assert_int_equal(mproto_check(MPROTO_MONITOR_TO_MASTER, MPROTO_POSTAUTH, &m, 0, NULL),
                     BURROW_ERR_PERM);
    /* Auth requests: before auth only; a master's message never from the net child. */
    m = msg_of(MPROTO_PASSWORD, 2);
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_PREAUTH, &m, 0, NULL), 0);
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_POSTAUTH, &m, 0, NULL),
                     BURROW_ERR_PERM);
    m = msg_of(MPROTO_VM_CONN, 0);
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_POSTAUTH, &m, 1, NULL),
                     BURROW_ERR_PERM);
    assert_int_equal(mproto_check(MPROTO_MASTER_TO_MONITOR, MPROTO_POSTAUTH, &m, 1, NULL), 0);
    /* The master: VM requests after AUTH_OK only, AUTH_OK once; END at any time. */
    m = msg_of(MPROTO_VM_REQ, 1);
    assert_int_equal(mproto_check(MPROTO_MONITOR_TO_MASTER, MPROTO_PREAUTH, &m, 0, NULL),
                     BURROW_ERR_PERM);
    m = msg_of(MPROTO_AUTH_OK, 3);
    assert_int_equal(mproto_check(MPROTO_MONITOR_TO_MASTER, MPROTO_POSTAUTH, &m, 0, NULL),
                     BURROW_ERR_PERM);
    m = msg_of(MPROTO_END, 1);
    assert_int_equal(mproto_check(MPROTO_MASTER_TO_MONITOR, MPROTO_PREAUTH, &m, 0, NULL), 0);
    m = msg_of(99, 0);
    assert_int_equal(mproto_check(MPROTO_MASTER_TO_MONITOR, MPROTO_POSTAUTH, &m, 0, NULL),
                     BURROW_ERR_PERM);
}

static void test_rules_form(void **state)
{
    (void)state;
    const char *what = NULL;
    struct mproto_msg m = msg_of(MPROTO_PUBKEY, 2);
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_PREAUTH, &m, 0, &what),
                     BURROW_ERR_FORMAT);
    assert_string_equal(what, "malformed PUBKEY");
    m.n = 3; /* a descriptor may not travel with it */
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_PREAUTH, &m, 1, NULL),
                     BURROW_ERR_FORMAT);
    assert_int_equal(mproto_check(MPROTO_NET_TO_MONITOR, MPROTO_PREAUTH, &m, 0, NULL), 0);
    /* CONN_OK must bring its descriptor. */
    m = msg_of(MPROTO_CONN_OK, 0);
    assert_int_equal(mproto_check(MPROTO_MONITOR_TO_NET, MPROTO_POSTAUTH, &m, 0, NULL),
                     BURROW_ERR_FORMAT);
    assert_int_equal(mproto_check(MPROTO_MONITOR_TO_NET, MPROTO_POSTAUTH, &m, 1, NULL), 0);
    m = msg_of(MPROTO_CHAN_OPEN, 2);
    assert_int_equal(mproto_check(MPROTO_MONITOR_TO_MASTER, MPROTO_POSTAUTH, &m, 0, NULL),
                     BURROW_ERR_FORMAT);
}

static void test_recv_checked(void **state)
{
    (void)state;
    struct mproto_msg m;
    int p[2], got = 7;
    const char *what = "x";
    assert_int_equal(pipe(p), 0);
    /* A refused message's descriptor is closed, not handed over. */
    const char *none[1] = {NULL};
    assert_int_equal(mproto_send_fd(sp[0], MPROTO_CONN_OK, 0, none, p[0]), 0);
    close(p[0]);
    assert_int_equal(mproto_recv_checked(sp[1], MPROTO_MONITOR_TO_NET, MPROTO_PREAUTH, &m, &got,
                                         MPROTO_NOWAIT, &what),
                     BURROW_ERR_PERM);
    assert_int_equal(got, -1);
    assert_null(what);
    assert_true(read_end_gone(p));
    close(p[1]);
    /* Nothing there: as mproto_recv. */
    assert_int_equal(mproto_recv_checked(sp[1], MPROTO_MONITOR_TO_NET, MPROTO_PREAUTH, &m, NULL,
                                         MPROTO_NOWAIT, NULL),
                     BURROW_ERR_AGAIN);
    const char *f[1] = {"alice"};
    assert_int_equal(mproto_send(sp[0], MPROTO_KBDINT, 1, f), 0);
    assert_int_equal(mproto_recv_checked(sp[1], MPROTO_NET_TO_MONITOR, MPROTO_PREAUTH, &m, NULL,
                                         clock_now_ms() + 1000, NULL),
                     0);
    assert_string_equal(m.f[0], "alice");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pass_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recv_wait, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwanted_fds_closed, setup, teardown),
        cmocka_unit_test(test_rules_direction_and_phase),
        cmocka_unit_test(test_rules_form),
        cmocka_unit_test_setup_teardown(test_recv_checked, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/mproto", tests, NULL, NULL);
}
