/* tests/unit/broker/users/test_totp.c - RFC 6238 codes, secrets, URIs and the replay table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/users/totp.h"
#include "common/err.h"
#include "tests/lib/testutil.h"

/* RFC 6238 appendix B, SHA1: the key "12345678901234567890" (base32 below). */
#define RFC_SECRET "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

static void test_rfc_vectors(void **state)
{
    (void)state;
    const uint8_t *key = (const uint8_t *)"12345678901234567890";
    /* The RFC's 8-digit values, cut to 6 digits. */
    assert_int_equal(totp_code(key, 20, 59 / 30), 287082);
    assert_int_equal(totp_code(key, 20, 1111111109 / 30), 81804);
    assert_int_equal(totp_code(key, 20, 1234567890 / 30), 5924);
    assert_int_equal(totp_code(key, 20, 2000000000 / 30), 279037);
    uint64_t step = 0;
    assert_int_equal(totp_check(RFC_SECRET, "005924", 1234567890, &step), 0);
    assert_int_equal(step, 1234567890 / 30);
    /* The step before and after are accepted, two steps away not. */
    assert_int_equal(totp_check(RFC_SECRET, "005924", 1234567890 + 30, &step), 0);
    assert_int_equal(totp_check(RFC_SECRET, "005924", 1234567890 - 30, &step), 0);
    assert_int_equal(totp_check(RFC_SECRET, "005924", 1234567890 + 60, &step), BURROW_ERR_PERM);
    /* Malformed codes. */
    assert_int_equal(totp_check(RFC_SECRET, "5924", 1234567890, &step), BURROW_ERR_PERM);
    assert_int_equal(totp_check(RFC_SECRET, "0059240", 1234567890, &step), BURROW_ERR_PERM);
    assert_int_equal(totp_check(RFC_SECRET, "00592a", 1234567890, &step), BURROW_ERR_PERM);
    assert_int_equal(totp_check("", "005924", 1234567890, &step), BURROW_ERR_INVALID);
}

static void test_secrets(void **state)
{
    (void)state;
    char a[TOTP_B32_MAX], b[TOTP_B32_MAX], uri[TOTP_URI_MAX];
    assert_int_equal(totp_new_secret(a), 0);
    assert_int_equal(totp_new_secret(b), 0);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
    assert_true(totp_secret_valid(a));
    assert_true(totp_secret_valid(""));
    assert_true(totp_secret_valid(RFC_SECRET));
    assert_false(totp_secret_valid("GEZDGNBVGY3TQOJQ"));                 /* too short */
    assert_false(totp_secret_valid("gezdgnbvgy3tqojqgezdgnbvgy3tqojq")); /* lower case */
    assert_false(totp_secret_valid("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1")); /* not base32 */
    assert_int_equal(totp_uri("alice", a, uri, sizeof(uri)), 0);
    assert_non_null(strstr(uri, "otpauth://totp/Burrow:alice?secret="));
    assert_non_null(strstr(uri, a));
}

static void test_replay(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("totp");
    int fd = totp_replay_open(dir);
    assert_true(fd >= 0);
    assert_int_equal(totp_replay_claim(fd, 10000, 100), 0);
    assert_int_equal(totp_replay_claim(fd, 10000, 100), BURROW_ERR_PERM); /* replayed */
    assert_int_equal(totp_replay_claim(fd, 10000, 99), BURROW_ERR_PERM);  /* older */
    assert_int_equal(totp_replay_claim(fd, 10001, 100), 0);               /* another user */
    assert_int_equal(totp_replay_claim(fd, 10000, 101), 0);
    /* Users whose uids share a slot keep their own steps (probing). */
    assert_int_equal(totp_replay_claim(fd, 10000 + 4096, 50), 0);
    assert_int_equal(totp_replay_claim(fd, 10000, 101), BURROW_ERR_PERM);
    /* A second open of the same table (another session) sees the same. */
    int fd2 = totp_replay_open(dir);
    assert_int_equal(totp_replay_claim(fd2, 10000, 101), BURROW_ERR_PERM);
    close(fd2);
    close(fd);
    assert_int_equal(totp_replay_claim(-1, 1, 1), BURROW_ERR_SYSTEM);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_vectors),
        cmocka_unit_test(test_secrets),
        cmocka_unit_test(test_replay),
    };
    return cmocka_run_group_tests_name("broker/users/totp", tests, NULL, NULL);
}
