/* tests/unit/broker/test_authflow.c - [auth] methods chains and the TOTP step. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/authflow.h"
#include "common/err.h"

static struct af_policy policy(const char *text, int password_auth)
{
    struct af_policy p = {.password_auth = password_auth};
    char why[160];
    assert_int_equal(authflow_parse(text, &p, why, sizeof(why)), 0);
    return p;
}

static void test_parse(void **state)
{
    struct af_policy p = {0};
    char why[160];
    (void)state;
    assert_int_equal(
        authflow_parse("publickey,keyboard-interactive password", &p, why, sizeof(why)), 0);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.len[0], 2);
    assert_int_equal(p.m[0][1], AF_KBDINT);
    static const char *const bad[] = {"",
                                      "publickey,",
                                      ",publickey",
                                      "hostbased",
                                      "publickey,,password",
                                      "a b c d e f g h i",
                                      "publickey,publickey,publickey,publickey,publickey"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(authflow_parse(bad[i], &p, why, sizeof(why)), 0);
    assert_int_equal(authflow_mask("publickey,keyboard-interactive"), AF_PUBLICKEY | AF_KBDINT);
    assert_int_equal(authflow_mask("publickey,gssapi"), -1);
    char names[64];
    authflow_names(AF_PASSWORD | AF_KBDINT, names, sizeof(names));
    assert_string_equal(names, "password,keyboard-interactive");
}

static void test_any(void **state)
{
    (void)state;
    struct af_policy p = policy("any", 1);
    struct af_state st = {0};
    assert_int_equal(authflow_next(&p, &st), AF_PUBLICKEY | AF_PASSWORD | AF_KBDINT);
    assert_false(authflow_kbdint_wants_code(&st)); /* first: the password */
    assert_int_equal(authflow_record(&st, AF_PUBLICKEY, 0), 0);
    assert_true(authflow_complete(&p, &st));
    /* Without password_auth, only keys (keyboard-interactive would ask a password). */
    struct af_policy q = policy("any", 0);
    struct af_state st0 = {0};
    assert_int_equal(authflow_next(&q, &st0), AF_PUBLICKEY);
}

static void test_totp_user(void **state)
{
    (void)state;
    struct af_policy p = policy("any", 0);
    struct af_state st = {.totp_required = 1};
    assert_int_equal(authflow_next(&p, &st), AF_PUBLICKEY);
    assert_int_equal(authflow_record(&st, AF_PUBLICKEY, 0), 0);
    /* A key alone is not enough: the code, even without password_auth. */
    assert_false(authflow_complete(&p, &st));
    assert_int_equal(authflow_next(&p, &st), AF_KBDINT);
    assert_true(authflow_kbdint_wants_code(&st));
    assert_int_equal(authflow_record(&st, AF_KBDINT, 1), 0);
    assert_true(authflow_complete(&p, &st));
    /* Password first, then the code. */
    struct af_policy q = policy("any", 1);
    struct af_state st2 = {.totp_required = 1};
    assert_int_equal(authflow_record(&st2, AF_PASSWORD, 0), 0);
    assert_int_equal(authflow_next(&q, &st2), AF_KBDINT);
    assert_true(authflow_kbdint_wants_code(&st2));
}

static void test_chains(void **state)
{
    (void)state;
    struct af_policy p = policy("publickey,keyboard-interactive password,keyboard-interactive", 1);
    struct af_state st = {0};
    assert_int_equal(authflow_next(&p, &st), AF_PUBLICKEY | AF_PASSWORD);
    assert_int_equal(authflow_record(&st, AF_PUBLICKEY, 0), 0);
    assert_false(authflow_complete(&p, &st));
    assert_int_equal(authflow_next(&p, &st), AF_KBDINT);
    /* No TOTP secret: keyboard-interactive asks the password. */
    assert_false(authflow_kbdint_wants_code(&st));
    assert_int_equal(authflow_record(&st, AF_KBDINT, 0), 0);
    assert_true(authflow_complete(&p, &st));
    /* With a secret, the chain's keyboard-interactive is the code. */
    struct af_state t = {.totp_required = 1};
    assert_int_equal(authflow_record(&t, AF_PUBLICKEY, 0), 0);
    assert_true(authflow_kbdint_wants_code(&t));
    assert_int_equal(authflow_record(&t, AF_KBDINT, 1), 0);
    assert_true(authflow_complete(&p, &t));
    /* A chain's second method is not offered first; a method outside every chain never. */
    struct af_policy k = policy("publickey,password", 1);
    struct af_state s0 = {0};
    assert_int_equal(authflow_next(&k, &s0), AF_PUBLICKEY);
    assert_int_equal(authflow_record(&s0, AF_PUBLICKEY, 0), 0);
    assert_int_equal(authflow_next(&k, &s0), AF_PASSWORD);
    /* ... and a TOTP user who completes that chain still gives the code. */
    struct af_state s1 = {.totp_required = 1};
    assert_int_equal(authflow_record(&s1, AF_PUBLICKEY, 0), 0);
    assert_int_equal(authflow_record(&s1, AF_PASSWORD, 0), 0);
    assert_false(authflow_complete(&k, &s1));
    assert_int_equal(authflow_next(&k, &s1), AF_KBDINT);
    /* Without password_auth a password step cannot be taken. */
    struct af_policy k0 = policy("publickey,password", 0);
    assert_int_equal(authflow_next(&k0, &s0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_any),
        cmocka_unit_test(test_totp_user),
        cmocka_unit_test(test_chains),
    };
    return cmocka_run_group_tests_name("broker/authflow", tests, NULL, NULL);
}
