/* tests/unit/broker/test_envpolicy.c - [ssh] accept_env / permit_user_environment lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/envpolicy.h"
#include "common/err.h"

static void test_match(void **state)
{
    (void)state;
    assert_true(envpolicy_match(ENVPOLICY_DEFAULT_ACCEPT, "LANG"));
    assert_true(envpolicy_match(ENVPOLICY_DEFAULT_ACCEPT, "LC_ALL"));
    assert_true(envpolicy_match(ENVPOLICY_DEFAULT_ACCEPT, "LC_"));
    assert_false(envpolicy_match(ENVPOLICY_DEFAULT_ACCEPT, "LANGUAGE"));
    assert_false(envpolicy_match(ENVPOLICY_DEFAULT_ACCEPT, "PATH"));
    assert_false(envpolicy_match(ENVPOLICY_DEFAULT_ACCEPT, "XLANG"));
    assert_true(envpolicy_match("  GIT_*\tTZ ", "TZ"));
    assert_true(envpolicy_match("GIT_? FOO", "GIT_A"));
    assert_false(envpolicy_match("GIT_? FOO", "GIT_AB"));
    assert_false(envpolicy_match("", "LANG"));
    /* Booleans: permit_user_environment's yes and no. */
    assert_false(envpolicy_match("no", "GREETING"));
    assert_true(envpolicy_match("yes", "GREETING"));
    assert_true(envpolicy_match("yes", "LD_PRELOAD"));
}

static void test_check(void **state)
{
    char why[160];
    (void)state;
    assert_int_equal(envpolicy_check(ENVPOLICY_DEFAULT_ACCEPT, 0, why, sizeof(why)), 0);
    assert_int_equal(envpolicy_check("", 0, why, sizeof(why)), 0);
    assert_int_equal(envpolicy_check("yes", 1, why, sizeof(why)), 0);
    assert_int_equal(envpolicy_check("A,B", 0, why, sizeof(why)), BURROW_ERR_FORMAT);
    assert_non_null(strstr(why, "'A,B'"));
    assert_int_equal(envpolicy_check("A=B", 0, why, sizeof(why)), BURROW_ERR_FORMAT);
    assert_int_equal(envpolicy_check("[A]", 0, why, sizeof(why)), BURROW_ERR_FORMAT);
    char many[ENVPOLICY_PATTERNS_MAX * 3 + 8] = "";
    for (int i = 0; i <= ENVPOLICY_PATTERNS_MAX; i++)
        strcat(many, "A ");
    assert_int_equal(envpolicy_check(many, 0, why, sizeof(why)), BURROW_ERR_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests_name("broker/envpolicy", tests, NULL, NULL);
}
