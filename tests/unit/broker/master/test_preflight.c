/*
 * tests/unit/broker/master/test_preflight.c - burrowd's start-up checks: a run_dir
 * under a directory others cannot search is named with its mode; the
 * sandbox without a guest image and kvm without a template are refused
 * with the command that fixes them; the audit file's place is checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "broker/master/preflight.h"
#include "tests/lib/testutil.h"

static char problems[4096];

static void collect(void *ctx, const char *p)
{
    (void)ctx;
    strncat(problems, p, sizeof(problems) - strlen(problems) - 2);
    strcat(problems, "\n");
}

static void test_unsearchable(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("preflight"), path[512], bad[512];
    unsigned mode = 0;
    snprintf(path, sizeof(path), "%s/a/run", dir);
    chmod(dir, 0700);
    assert_int_equal(preflight_unsearchable(path, bad, sizeof(bad), &mode), 1);
    assert_string_equal(bad, dir);
    assert_int_equal(mode, 0700);
    chmod(dir, 0711);
    assert_int_equal(preflight_unsearchable(path, bad, sizeof(bad), &mode), 0);
    tu_rmrf(dir);
    free(dir);
}

static void test_checks(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("preflight"), img[512];
    struct burrow_config cfg;
    struct preflight pf;
    chmod(dir, 0700);
    config_defaults(&cfg);
    cfg.vm.backend = VM_BACKEND_SANDBOX;
    snprintf(cfg.paths.state_dir, sizeof(cfg.paths.state_dir), "%s/state", dir);
    snprintf(cfg.paths.run_dir, sizeof(cfg.paths.run_dir), "%s/run", dir);
    snprintf(cfg.audit.file, sizeof(cfg.audit.file), "/proc/nonexistent/dir/audit.log");
    problems[0] = 0;
    assert_int_equal(preflight_check(&cfg, &pf, collect, NULL), 3);
    assert_non_null(strstr(problems, "the sandbox backend needs a guest image"));
    assert_non_null(strstr(problems, "install -D -m 0644 build/guest/initramfs.cpio.gz"));
    assert_non_null(strstr(problems, "is mode 0700"));
    assert_non_null(strstr(problems, "chmod o+x"));
    assert_non_null(strstr(problems, "[audit] file = /proc/nonexistent/dir/audit.log"));

    /* fixed: an image in the state directory, a searchable run_dir, no audit file */
    chmod(dir, 0755);
    snprintf(img, sizeof(img), "%s/state/sandbox", dir);
    assert_int_equal(mkdir(cfg.paths.state_dir, 0755), 0);
    assert_int_equal(mkdir(img, 0755), 0);
    strcat(img, "/initramfs.cpio.gz");
    tu_write_file(img, "x");
    cfg.audit.file[0] = 0;
    problems[0] = 0;
    assert_int_equal(preflight_check(&cfg, &pf, collect, NULL), 0);
    assert_string_equal(pf.guest_image, img);
    assert_string_equal(pf.be->name, "sandbox");
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsearchable),
        cmocka_unit_test(test_checks),
    };
    return cmocka_run_group_tests_name("broker/master/preflight", tests, NULL, NULL);
}
