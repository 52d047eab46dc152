/* tests/unit/broker/test_sshalgo.c - [ssh] kex/hostkey_algorithms/ciphers/macs: the
 * names each list may hold, and that libssh takes the defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/config.h"
#include "broker/sshalgo.h"
#include "common/err.h"

static void test_defaults_valid(void **state)
{
    char why[160];
    (void)state;
    assert_int_equal(sshalgo_check(SSHALGO_KEX, SSHALGO_DEFAULT_KEX, why, sizeof(why)), 0);
    assert_int_equal(sshalgo_check(SSHALGO_HOSTKEY, SSHALGO_DEFAULT_HOSTKEY, why, sizeof(why)), 0);
    assert_int_equal(sshalgo_check(SSHALGO_CIPHER, SSHALGO_DEFAULT_CIPHER, why, sizeof(why)), 0);
    assert_int_equal(sshalgo_check(SSHALGO_MAC, SSHALGO_DEFAULT_MAC, why, sizeof(why)), 0);
    /* What ssh-audit fails or warns about is not in the defaults. */
    assert_null(strstr(SSHALGO_DEFAULT_KEX, "ecdh-sha2"));
    assert_null(strstr(SSHALGO_DEFAULT_HOSTKEY, "ecdsa"));
    assert_null(strstr(SSHALGO_DEFAULT_MAC ",", "-256,"));
    assert_null(strstr(SSHALGO_DEFAULT_MAC ",", "-512,"));
}

static void test_bad_lists(void **state)
{
    char why[160];
    (void)state;
    assert_int_equal(sshalgo_check(SSHALGO_KEX, "curve25519-sha256,nope", why, sizeof(why)),
                     BURROW_ERR_UNSUPPORTED);
    assert_non_null(strstr(why, "'nope'"));
    assert_int_equal(sshalgo_check(SSHALGO_CIPHER, "none", why, sizeof(why)),
                     BURROW_ERR_UNSUPPORTED);
    /* A name of another kind is not accepted. */
    assert_int_equal(sshalgo_check(SSHALGO_MAC, "aes128-ctr", why, sizeof(why)),
                     BURROW_ERR_UNSUPPORTED);
    assert_int_equal(sshalgo_check(SSHALGO_KEX, "", why, sizeof(why)), BURROW_ERR_FORMAT);
    assert_int_equal(sshalgo_check(SSHALGO_KEX, "curve25519-sha256,", why, sizeof(why)),
                     BURROW_ERR_FORMAT);
    assert_int_equal(sshalgo_check(SSHALGO_KEX, ",curve25519-sha256", why, sizeof(why)),
                     BURROW_ERR_FORMAT);
    assert_int_equal(sshalgo_check(SSHALGO_HOSTKEY, "ssh-ed25519,ssh-ed25519", why, sizeof(why)),
                     BURROW_ERR_FORMAT);
    assert_non_null(strstr(why, "twice"));
    /* A prefix of a real name is not that name. */
    assert_int_equal(sshalgo_check(SSHALGO_HOSTKEY, "ssh-ed2551", why, sizeof(why)),
                     BURROW_ERR_UNSUPPORTED);
    char longlist[SSHALGO_LIST_MAX + 8];
    memset(longlist, 'a', sizeof(longlist) - 1);
    longlist[sizeof(longlist) - 1] = 0;
    assert_int_equal(sshalgo_check(SSHALGO_KEX, longlist, why, sizeof(why)), BURROW_ERR_TOO_LARGE);
}

static void test_libssh_takes_them(void **state)
{
    struct burrow_config cfg;
    (void)state;
    config_defaults(&cfg);
    assert_string_equal(cfg.ssh.kex, SSHALGO_DEFAULT_KEX);
    ssh_bind b = ssh_bind_new();
    assert_non_null(b);
    assert_int_equal(sshalgo_apply(b, &cfg), 0);
    /* Every name the checker lets through, libssh takes too. */
    snprintf(cfg.ssh.ciphers, sizeof(cfg.ssh.ciphers), "%s",
             "aes256-cbc,aes192-cbc,aes128-cbc,3des-cbc,aes256-ctr");
    snprintf(cfg.ssh.kex, sizeof(cfg.ssh.kex), "%s",
             "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
             "diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,"
             "diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,"
             "diffie-hellman-group1-sha1");
    snprintf(cfg.ssh.macs, sizeof(cfg.ssh.macs), "%s",
             "hmac-sha1-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1");
    snprintf(cfg.ssh.hostkey_algorithms, sizeof(cfg.ssh.hostkey_algorithms), "%s",
             "ecdsa-sha2-nistp256,ssh-rsa");
    assert_int_equal(sshalgo_apply(b, &cfg), 0);
    ssh_bind_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_valid),
        cmocka_unit_test(test_bad_lists),
        cmocka_unit_test(test_libssh_takes_them),
    };
    return cmocka_run_group_tests_name("broker/sshalgo", tests, NULL, NULL);
}
