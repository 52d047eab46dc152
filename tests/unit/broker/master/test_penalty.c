/*
 * tests/unit/broker/master/test_penalty.c - admission control: MaxStartups random
 * early drop (edges and the linear ramp) and per-source penalties (threshold,
 * doubling, cap, IPv6 /64 grouping, clearing, expiry).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "broker/master/penalty.h"

static struct penalty pen;

static struct sockaddr_storage v4(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s = (void *)&ss;
    memset(&ss, 0, sizeof(ss));
    s->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *s = (void *)&ss;
    memset(&ss, 0, sizeof(ss));
    s->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
    return ss;
}

static void test_startups_edges(void **state)
{
    (void)state;
    struct config_startups ms = {.start = 10, .rate = 30, .full = 100};
    for (unsigned r = 0; r < 100; r++) {
        assert_false(penalty_startups_drop(&ms, 9, r));  /* below start: never */
        assert_true(penalty_startups_drop(&ms, 100, r)); /* at full: always */
        assert_true(penalty_startups_drop(&ms, 150, r));
    }
}

static void test_startups_ramp(void **state)
{
    (void)state;
    struct config_startups ms = {.start = 10, .rate = 30, .full = 100};
    unsigned at_start = 0, midway = 0;
    for (unsigned r = 0; r < 100; r++) {
        at_start += (unsigned)penalty_startups_drop(&ms, 10, r);
        midway += (unsigned)penalty_startups_drop(&ms, 55, r);
    }
    assert_int_equal(at_start, 30); /* rate% at start */
    assert_int_equal(midway, 65);   /* halfway between 30% and 100% */
    struct config_startups single = {.start = 5, .rate = 100, .full = 5};
    assert_false(penalty_startups_drop(&single, 4, 0));
    assert_true(penalty_startups_drop(&single, 5, 99));
}

static void test_penalty_threshold_and_doubling(void **state)
{
    (void)state;
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
    memset(&pen, 0, sizeof(pen));
    penalty_strike(&pen, &a, 1000);
    penalty_strike(&pen, &a, 1000);
    assert_int_equal(penalty_refused(&pen, &a, 1000), 0); /* two strikes: still allowed */
    penalty_strike(&pen, &a, 1000);
    assert_int_equal(penalty_refused(&pen, &a, 1000), PENALTY_BASE_S);
    assert_int_equal(penalty_refused(&pen, &b, 1000), 0); /* other sources unaffected */
    penalty_strike(&pen, &a, 1010);
    assert_int_equal(penalty_refused(&pen, &a, 1010), 2 * PENALTY_BASE_S);
    for (int i = 0; i < 20; i++)
        penalty_strike(&pen, &a, 1020);
    assert_int_equal(penalty_refused(&pen, &a, 1020), PENALTY_MAX_S);     /* capped */
    assert_int_equal(penalty_refused(&pen, &a, 1020 + PENALTY_MAX_S), 0); /* served */
}

static void test_penalty_clear_and_expiry(void **state)
{
    (void)state;
    struct sockaddr_storage a = v4("198.51.100.7");
    memset(&pen, 0, sizeof(pen));
    for (int i = 0; i < 3; i++)
        penalty_strike(&pen, &a, 50);
    assert_true(penalty_refused(&pen, &a, 50) > 0);
    penalty_clear(&pen, &a);
    assert_int_equal(penalty_refused(&pen, &a, 50), 0);
    penalty_strike(&pen, &a, 100);
    penalty_strike(&pen, &a, 100);
    /* An hour later the old strikes are forgotten: one more is not enough. */
    penalty_strike(&pen, &a, 100 + PENALTY_FORGET_S + 1);
    assert_int_equal(penalty_refused(&pen, &a, 100 + PENALTY_FORGET_S + 1), 0);
}

static void test_penalty_ipv6_prefix(void **state)
{
    (void)state;
    struct sockaddr_storage a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2::ffff"),
                            c = v6("2001:db8:1:3::1");
    memset(&pen, 0, sizeof(pen));
    for (int i = 0; i < 3; i++)
        penalty_strike(&pen, &a, 10);
    assert_true(penalty_refused(&pen, &b, 10) > 0);     /* same /64 */
    assert_int_equal(penalty_refused(&pen, &c, 10), 0); /* another /64 */
}

static void test_penalty_table_full(void **state)
{
    (void)state;
    char ip[32];
    memset(&pen, 0, sizeof(pen));
    /* More sources than the table holds: the oldest entry is recycled, no crash. */
    for (int i = 0; i < PENALTY_TABLE + 50; i++) {
        snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
        struct sockaddr_storage s = v4(ip);
        penalty_strike(&pen, &s, i);
    }
    struct sockaddr_storage last = v4(ip);
    penalty_strike(&pen, &last, 1100);
    penalty_strike(&pen, &last, 1100);
    assert_true(penalty_refused(&pen, &last, 1100) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startups_edges),
        cmocka_unit_test(test_startups_ramp),
        cmocka_unit_test(test_penalty_threshold_and_doubling),
        cmocka_unit_test(test_penalty_clear_and_expiry),
        cmocka_unit_test(test_penalty_ipv6_prefix),
        cmocka_unit_test(test_penalty_table_full),
    };
    return cmocka_run_group_tests_name("broker/master/penalty", tests, NULL, NULL);
}
