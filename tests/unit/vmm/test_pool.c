/*
 * tests/unit/vmm/test_pool.c - the warm pool's claim line: round trip (with
 * allow_root and a network), and every malformed line refused (wrong verb,
 * missing or extra fields, numbers out of range, characters outside
 * [A-Za-z0-9/._+-], overlong fields, bad network parts); identities that
 * cannot be encoded are refused too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/pool.h"

static struct pool_claim sample(void)
{
    struct pool_claim c;
    memset(&c, 0, sizeof(c));
    c.request_ns = 123456789012345ull;
    c.id.uid = 10000;
    c.id.gid = 10001;
    snprintf(c.id.user, sizeof(c.id.user), "alice");
    snprintf(c.id.hostname, sizeof(c.id.hostname), "alice-vm");
    snprintf(c.id.shell, sizeof(c.id.shell), "/bin/bash");
    snprintf(c.id.home, sizeof(c.id.home), "/home/alice");
    snprintf(c.home_disk, sizeof(c.home_disk), "/var/lib/burrow/users/alice/home.img");
    return c;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct pool_claim c = sample(), d;
    char line[POOL_LINE_MAX];
    assert_int_equal(pool_claim_encode(&c, line, sizeof(line)), 0);
    assert_int_equal(line[strlen(line) - 1], '\n');
    line[strlen(line) - 1] = '\0';
    assert_int_equal(pool_claim_decode(line, &d), 0);
    assert_memory_equal(&c, &d, sizeof(c));
    /* No disk travels as "-". */
    c.home_disk[0] = '\0';
    assert_int_equal(pool_claim_encode(&c, line, sizeof(line)), 0);
    assert_non_null(strstr(line, " -\n"));
    line[strlen(line) - 1] = '\0';
    assert_int_equal(pool_claim_decode(line, &d), 0);
    assert_string_equal(d.home_disk, "");
}

static void test_round_trip_root_and_network(void **state)
{
    (void)state;
    struct pool_claim c = sample(), d;
    c.id.allow_root = 1;
    c.id.net_enabled = 1;
    c.id.net.addr = 0x0ad50007;    /* 10.213.0.7 */
    c.id.net.gateway = 0x0ad50001; /* 10.213.0.1 */
    c.id.net.prefix = 16;
    c.id.net.nr_dns = 2;
    c.id.net.dns[0] = 0x01010101;
    c.id.net.dns[1] = 0x08080808;
    const uint8_t mac[6] = {0x02, 0xab, 0x00, 0x10, 0xfe, 0x01};
    memcpy(c.net_mac, mac, 6);
    c.net_rate = 1250000;
    char line[POOL_LINE_MAX];
    assert_int_equal(pool_claim_encode(&c, line, sizeof(line)), 0);
    assert_non_null(
        strstr(line, " 1 10.213.0.7/16/10.213.0.1/02ab0010fe01/1250000/1.1.1.1+8.8.8.8\n"));
    line[strlen(line) - 1] = '\0';
    assert_int_equal(pool_claim_decode(line, &d), 0);
    assert_memory_equal(&c, &d, sizeof(c));
    /* no DNS */
    c.id.net.nr_dns = 0;
    memset(c.id.net.dns, 0, sizeof(c.id.net.dns));
    assert_int_equal(pool_claim_encode(&c, line, sizeof(line)), 0);
    line[strlen(line) - 1] = '\0';
    assert_int_equal(pool_claim_decode(line, &d), 0);
    assert_memory_equal(&c, &d, sizeof(c));
}

static void test_bad_network(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/16/10.0.0.1/020000000001/0",     /* 5 parts */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/16/10.0.0.1/020000000001/0/-/x", /* 7 */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/31/10.0.0.1/020000000001/0/-",   /* prefix */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/0/10.0.0.1/020000000001/0/-",    /* prefix */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.256/16/10.0.0.1/020000000001/0/-",
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/16/10.0.0.1/02000000000/0/-", /* MAC */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/16/10.0.0.1/02000000000G/0/-",
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/16/10.0.0.1/020000000001/x/-", /* rate */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2/16/10.0.0.1/020000000001/0/1.1.1.1+"
        "2.2.2.2+3.3.3.3+4.4.4.4+5.5.5.5", /* too many DNS servers */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 10.0.0.2//16/10.0.0.1/020000000001/0/-",
        "CLAIM 1 2 3 u h /bin/sh /home/u - 2 -", /* an unknown flag */
        "CLAIM 1 2 3 u h /bin/sh /home/u - x -",
    };
    struct pool_claim c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pool_claim_decode(bad[i], &c) == 0)
            fail_msg("accepted: %s", bad[i]);
    assert_int_equal(pool_claim_decode("CLAIM 1 2 3 u h /bin/sh /home/u - 1 -", &c), 0);
    assert_int_equal(c.id.allow_root, 1);
    assert_int_equal(c.id.net_enabled, 0);
}

static void test_bad_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "CLAIM",
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0",           /* a field missing */
        "CLAIM 1 2 3 u h /bin/sh /home/u - 0 - extra",   /* one too many */
        "GRAB 1 2 3 u h /bin/sh /home/u -",              /* verb */
        "CLAIM  1 2 3 u h /bin/sh /home/u -",            /* empty field */
        "CLAIM 1 2 3 u h /bin/sh /home/u - ",            /* trailing space */
        "CLAIM x 2 3 u h /bin/sh /home/u -",             /* not a number */
        "CLAIM -1 2 3 u h /bin/sh /home/u -",            /* sign */
        "CLAIM 1 4294967296 3 u h /bin/sh /home/u -",    /* uid > u32 */
        "CLAIM 99999999999999999999999 2 3 u h /s /h -", /* u64 overflow */
        "CLAIM 1 2 3 u;rm h /bin/sh /home/u -",          /* shell metacharacter */
        "CLAIM 1 2 3 u h /bin/sh /home/u /x\ty",         /* tab */
        "CLAIM 1 2 3 u h\n /bin/sh /home/u -",           /* newline inside */
    };
    struct pool_claim c;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pool_claim_decode(bad[i], &c) == 0)
            fail_msg("accepted: %s", bad[i]);
    /* A user name longer than FORK_NAME_MAX. */
    char line[POOL_LINE_MAX];
    char user[FORK_NAME_MAX + 2];
    memset(user, 'a', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    snprintf(line, sizeof(line), "CLAIM 1 2 3 %s h /bin/sh /home/u -", user);
    assert_int_not_equal(pool_claim_decode(line, &c), 0);
}

static void test_unencodable(void **state)
{
    (void)state;
    struct pool_claim c = sample();
    char line[POOL_LINE_MAX];
    snprintf(c.id.user, sizeof(c.id.user), "al ice");
    assert_int_equal(pool_claim_encode(&c, line, sizeof(line)), BURROW_ERR_INVALID);
    c = sample();
    c.id.shell[0] = '\0';
    assert_int_equal(pool_claim_encode(&c, line, sizeof(line)), BURROW_ERR_INVALID);
    c = sample();
    assert_int_equal(pool_claim_encode(&c, line, 20), BURROW_ERR_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_round_trip_root_and_network),
        cmocka_unit_test(test_bad_network), cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_unencodable),
    };
    return cmocka_run_group_tests_name("vmm/pool", tests, NULL, NULL);
}
