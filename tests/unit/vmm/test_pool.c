/*
 * tests/unit/vmm/test_pool.c - the warm pool's claim line: round trip, and
 * every malformed line refused (wrong verb, missing or extra fields,
 * numbers out of range, characters outside [A-Za-z0-9/._+-], overlong
 * fields); identities that cannot be encoded are refused too.
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

static void test_bad_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "CLAIM",
        "CLAIM 1 2 3 u h /bin/sh /home/u",               /* a field missing */
        "CLAIM 1 2 3 u h /bin/sh /home/u - extra",       /* one too many */
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
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bad_lines),
        cmocka_unit_test(test_unencodable),
    };
    return cmocka_run_group_tests_name("vmm/pool", tests, NULL, NULL);
}
