/* tests/unit/common/test_vsockconn.c - the CONNECT / OK lines of a VM's vsock socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/vsockconn.h"

static void test_format(void **state)
{
    (void)state;
    char line[VSOCKCONN_LINE_MAX];
    assert_int_equal(vsockconn_put_connect(line, sizeof(line), 1024), strlen("CONNECT 1024\n"));
    assert_string_equal(line, "CONNECT 1024\n");
    assert_int_equal(vsockconn_put_ok(line, sizeof(line), 1073741824u), strlen("OK 1073741824\n"));
    assert_string_equal(line, "OK 1073741824\n");
    /* The longest line fits the documented size. */
    assert_true(vsockconn_put_connect(line, sizeof(line), UINT32_MAX) > 0);
    assert_int_equal(vsockconn_put_connect(line, 8, 1024), BURROW_ERR_TOO_LARGE);
}

static void test_parse_accepts(void **state)
{
    (void)state;
    uint32_t port = 0;
    assert_int_equal(vsockconn_parse_connect("CONNECT 1024", &port), 0);
    assert_int_equal(port, 1024);
    assert_int_equal(vsockconn_parse_connect("CONNECT 4294967295", &port), 0);
    assert_int_equal(port, UINT32_MAX);
    assert_int_equal(vsockconn_parse_ok("OK 0", &port), 0);
    assert_int_equal(port, 0);
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",           "CONNECT",    "CONNECT ",   "CONNECT 4294967296", "CONNECT -1",
        "CONNECT +1", "CONNECT 1 ", "CONNECT  1", "connect 1024",       "CONNECT1024",
        "OK 1024",    "CONNECT 1x",
    };
    uint32_t port = 7;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(vsockconn_parse_connect(bad[i], &port), BURROW_ERR_PROTOCOL);
    assert_int_equal(port, 7); /* untouched on a refusal */
    assert_int_equal(vsockconn_parse_ok("OK", &port), BURROW_ERR_PROTOCOL);
    assert_int_equal(vsockconn_parse_ok("OK 12 34", &port), BURROW_ERR_PROTOCOL);
    assert_int_equal(vsockconn_parse_ok("CONNECT 1024", &port), BURROW_ERR_PROTOCOL);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static const uint32_t ports[] = {0, 1, 1024, 1025, 65535, 1u << 30, UINT32_MAX};
    for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
        char line[VSOCKCONN_LINE_MAX];
        uint32_t got = 0;
        int n = vsockconn_put_connect(line, sizeof(line), ports[i]);
        assert_true(n > 0 && line[n - 1] == '\n');
        line[n - 1] = '\0';
        assert_int_equal(vsockconn_parse_connect(line, &got), 0);
        assert_int_equal(got, ports[i]);
        n = vsockconn_put_ok(line, sizeof(line), ports[i]);
        line[n - 1] = '\0';
        assert_int_equal(vsockconn_parse_ok(line, &got), 0);
        assert_int_equal(got, ports[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_accepts),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests_name("common/vsockconn", tests, NULL, NULL);
}
