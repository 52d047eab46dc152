/* tests/unit/broker/users/test_usercert.c - OpenSSH user certificates made by ssh-keygen -s:
 * parsing, the CA signature (ed25519, RSA, ECDSA), validity, principals, critical
 * options and extensions, tampering and hostile blobs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "broker/users/authkeys.h"
#include "broker/users/usercert.h"
#include "common/err.h"
#include "tests/unit/broker/users/testcerts.h"

#define NOW 1800000000ull /* 2027 */

static uint8_t blob[USERCERT_MAX];

/* "TYPE BASE64" into blob; its length. */
static size_t decode(const char *text)
{
    size_t len = 0;
    const char *b64 = strchr(text, ' ') + 1;
    assert_int_equal(sodium_base642bin(blob, sizeof(blob), b64, strlen(b64), NULL, &len, NULL,
                                       sodium_base64_VARIANT_ORIGINAL),
                     0);
    return len;
}

/* Parse and verify text; the parse result code. */
static int load(const char *text, struct usercert *c, char *why)
{
    size_t len = decode(text);
    int r = usercert_parse(blob, len, c, why, 160);
    return r ? r : usercert_verify(c, why, 160);
}

static void test_plain(void **state)
{
    (void)state;
    struct usercert c;
    char why[160];
    assert_int_equal(load(TC_PLAIN, &c, why), 0);
    assert_string_equal(c.type_name, "ssh-ed25519-cert-v01@openssh.com");
    assert_string_equal(c.key_id, "id-plain");
    assert_int_equal(c.type, USERCERT_TYPE_USER);
    assert_int_equal(c.n_principals, 2);
    assert_true(usercert_has_principal(&c, "alice"));
    assert_true(usercert_has_principal(&c, "ops"));
    assert_false(usercert_has_principal(&c, "alic"));
    assert_int_equal(c.restrict_flags, 0); /* ssh-keygen's default extensions permit all */
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", NOW, why, sizeof(why)), 0);
    /* principals= of a cert-authority line instead of the user's name. */
    assert_int_equal(usercert_check(&c, "bob", "ops", "192.0.2.1", NOW, why, sizeof(why)), 0);
    assert_int_equal(usercert_check(&c, "bob", NULL, "192.0.2.1", NOW, why, sizeof(why)),
                     BURROW_ERR_PERM);
    assert_non_null(strstr(why, "principal"));
    assert_int_equal(usercert_check(&c, "alice", "x,y", "192.0.2.1", NOW, why, sizeof(why)),
                     BURROW_ERR_PERM);
}

static void test_ca_kinds(void **state)
{
    (void)state;
    struct usercert c;
    char why[160];
    assert_int_equal(load(TC_RSA, &c, why), 0);
    assert_int_equal(load(TC_EC, &c, why), 0);
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", NOW, why, sizeof(why)), 0);
}

static void test_refusals(void **state)
{
    (void)state;
    struct usercert c;
    char why[160];
    assert_int_equal(load(TC_EXPIRED, &c, why), 0);
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", NOW, why, sizeof(why)),
                     BURROW_ERR_PERM);
    assert_string_equal(why, "certificate expired");
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", 1500000000, why, sizeof(why)),
                     BURROW_ERR_PERM);
    assert_string_equal(why, "certificate not yet valid");
    assert_int_equal(load(TC_HOST, &c, why), 0);
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", NOW, why, sizeof(why)),
                     BURROW_ERR_PERM);
    assert_string_equal(why, "not a user certificate");
    assert_int_equal(load(TC_NOPRINC, &c, why), 0);
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", NOW, why, sizeof(why)),
                     BURROW_ERR_PERM);
    assert_int_equal(load(TC_UNKNOWN, &c, why), 0);
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", NOW, why, sizeof(why)),
                     BURROW_ERR_UNSUPPORTED);
    assert_non_null(strstr(why, "frobnicate"));
}

static void test_options(void **state)
{
    (void)state;
    struct usercert c;
    char why[160];
    assert_int_equal(load(TC_OPTS, &c, why), 0);
    assert_string_equal(c.force_command, "echo forced");
    assert_string_equal(c.source_address, "10.0.0.0/8");
    assert_int_equal(c.restrict_flags, AUTHKEY_NO_PTY | AUTHKEY_NO_PORT_FWD);
    assert_int_equal(usercert_check(&c, "alice", NULL, "10.1.2.3", NOW, why, sizeof(why)), 0);
    assert_int_equal(usercert_check(&c, "alice", NULL, "192.0.2.1", NOW, why, sizeof(why)),
                     BURROW_ERR_PERM);
    assert_non_null(strstr(why, "source-address"));
}

static void test_tampering(void **state)
{
    (void)state;
    struct usercert c;
    char why[160];
    size_t len = decode(TC_PLAIN);
    /* Any byte the CA signed, changed: the signature no longer holds. */
    for (size_t at = 40; at < len - 120; at += 17) {
        blob[at] ^= 0x01;
        if (usercert_parse(blob, len, &c, why, sizeof(why)) == 0)
            assert_int_not_equal(usercert_verify(&c, why, sizeof(why)), 0);
        blob[at] ^= 0x01;
    }
    blob[len - 1] ^= 0x01; /* the signature itself */
    assert_int_equal(usercert_parse(blob, len, &c, why, sizeof(why)), 0);
    assert_int_equal(usercert_verify(&c, why, sizeof(why)), BURROW_ERR_PERM);
    blob[len - 1] ^= 0x01;
    /* Every truncation is refused without reading past it; a trailing byte too. */
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(usercert_parse(blob, n, &c, why, sizeof(why)), 0);
    blob[len] = 0;
    assert_int_not_equal(usercert_parse(blob, len + 1, &c, why, sizeof(why)), 0);
    assert_int_equal(usercert_parse(blob, USERCERT_MAX + 1, &c, why, sizeof(why)),
                     BURROW_ERR_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),     cmocka_unit_test(test_ca_kinds),
        cmocka_unit_test(test_refusals),  cmocka_unit_test(test_options),
        cmocka_unit_test(test_tampering),
    };
    return cmocka_run_group_tests_name("broker/users/usercert", tests, NULL, NULL);
}
