/*
 * tests/unit/broker/users/test_hostkeys.c - host keys: first start generates the
 * three keys (0600, with .pub files and no temp files left), a second load
 * reads the same keys (same fingerprints), load without generate never
 * creates anything, and a corrupt key file is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/users/hostkeys.h"
#include "tests/lib/testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp("hostkeys");
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static void test_generate_then_reload(void **state)
{
    (void)state;
    struct hostkeys a, b;
    char keydir[512], path[600];
    struct stat st;
    snprintf(keydir, sizeof(keydir), "%s/keys", dir);
    assert_int_equal(hostkeys_load(&a, keydir, 1), 0);
    assert_true(hostkeys_any_generated(&a));
    assert_int_equal(stat(keydir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    for (int i = 0; i < HOSTKEYS_N; i++) {
        assert_non_null(a.k[i].key);
        assert_memory_equal(a.k[i].fingerprint, "SHA256:", 7);
        snprintf(path, sizeof(path), "%s/%s", keydir, a.k[i].file);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        snprintf(path, sizeof(path), "%s/%s.pub", keydir, a.k[i].file);
        assert_int_equal(access(path, R_OK), 0);
        snprintf(path, sizeof(path), "%s/%s.tmp", keydir, a.k[i].file);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    assert_int_equal(hostkeys_load(&b, keydir, 1), 0);
    assert_false(hostkeys_any_generated(&b));
    for (int i = 0; i < HOSTKEYS_N; i++)
        assert_string_equal(a.k[i].fingerprint, b.k[i].fingerprint);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    hostkeys_print(&b, keydir, f);
    fclose(f);
    assert_non_null(strstr(out, "ssh-ed25519"));
    assert_non_null(strstr(out, b.k[0].fingerprint));
    free(out);
    hostkeys_free(&a);
    hostkeys_free(&b);
}

static void test_no_generate(void **state)
{
    (void)state;
    struct hostkeys a;
    char keydir[512];
    snprintf(keydir, sizeof(keydir), "%s/none", dir);
    assert_int_equal(hostkeys_load(&a, keydir, 0), 0);
    for (int i = 0; i < HOSTKEYS_N; i++)
        assert_null(a.k[i].key);
    assert_int_not_equal(access(keydir, F_OK), 0);
}

static void test_corrupt_key(void **state)
{
    (void)state;
    struct hostkeys a;
    char keydir[512], path[600];
    snprintf(keydir, sizeof(keydir), "%s/bad", dir);
    mkdir(keydir, 0700);
    snprintf(path, sizeof(path), "%s/ssh_host_ed25519_key", keydir);
    tu_write_file(path, "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n");
    assert_int_not_equal(hostkeys_load(&a, keydir, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generate_then_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_generate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_key, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/users/hostkeys", tests, NULL, NULL);
}
