/*
 * tests/unit/vmm/test_rootfs.c - `template build --rootfs debian` input
 * checks and helpers (vmm/rootfs.c): Debian package names (policy 5.6.1),
 * --packages lists (shell metacharacters, option-looking names, empty and
 * oversized entries refused), the kind, the command line with burrow.root=,
 * the sparse image copy, the builder run (status and arguments), scratch
 * removal, and the manifest keys a rootfs build writes.
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

#include "common/err.h"
#include "tests/lib/testutil.h"
#include "vmm/rootfs.h"
#include "vmm/template.h"

static int name_ok(const char *s)
{
    return rootfs_pkg_name_ok(s, strlen(s));
}

static void test_pkg_names(void **state)
{
    (void)state;
    static const char *const good[] = {"vim",        "vim-tiny", "g++",    "libc6.1", "0ad",
                                       "python3.11", "xz-utils", "r-base", "aa"};
    static const char *const bad[] = {"",    "a",        "-rf",    "+x",        ".hidden",
                                      "Vim", "vim tiny", "vim;ls", "$(reboot)", "`id`",
                                      "a/b", "a_b",      "vim\n",  "a:amd64",   "pkg=1.0",
                                      "x*",  "a,b",      "--foo",  "é"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(name_ok(good[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(name_ok(bad[i]));
    char longname[ROOTFS_PKG_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname));
    longname[ROOTFS_PKG_NAME_MAX] = '\0';
    assert_true(name_ok(longname));
    longname[ROOTFS_PKG_NAME_MAX] = 'a';
    longname[ROOTFS_PKG_NAME_MAX + 1] = '\0';
    assert_false(name_ok(longname));
}

static void test_pkg_lists(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(rootfs_packages_check("vim", why, sizeof(why)), 0);
    assert_int_equal(rootfs_packages_check("vim,git,build-essential,g++", why, sizeof(why)), 0);
    static const char *const bad[] = {
        "",         ",",          "vim,",      ",vim",    "vim,,git",
        "vim git",  "vim;reboot", "vim,$(id)", "vim,-rf", "vim,--print-debs",
        "vim\ngit", "vim,Git"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(rootfs_packages_check(bad[i], why, sizeof(why)), BURROW_ERR_INVALID);
        assert_non_null(strstr(why, "--packages"));
    }
    /* the message names the offending entry */
    assert_int_equal(rootfs_packages_check("vim,bad;name,git", why, sizeof(why)),
                     BURROW_ERR_INVALID);
    assert_non_null(strstr(why, "'bad;name'"));
    /* count and length limits */
    char list[ROOTFS_PKGS_LEN_MAX + 64] = "";
    for (int i = 0; i < ROOTFS_PKGS_MAX; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%sp%02d", i ? "," : "", i);
    assert_int_equal(rootfs_packages_check(list, why, sizeof(why)), 0);
    strcat(list, ",zz");
    assert_int_equal(rootfs_packages_check(list, why, sizeof(why)), BURROW_ERR_INVALID);
    assert_non_null(strstr(why, "more than"));
    memset(list, 'a', ROOTFS_PKGS_LEN_MAX + 1);
    list[ROOTFS_PKGS_LEN_MAX + 1] = '\0';
    assert_int_equal(rootfs_packages_check(list, why, sizeof(why)), BURROW_ERR_INVALID);
    assert_non_null(strstr(why, "longer than"));
}

static void test_kind_and_cmdline(void **state)
{
    (void)state;
    assert_true(rootfs_kind_ok("debian"));
    assert_false(rootfs_kind_ok("Debian"));
    assert_false(rootfs_kind_ok("ubuntu"));
    assert_false(rootfs_kind_ok(""));
    char out[128];
    assert_int_equal(rootfs_cmdline("console=ttyS0 quiet", out, sizeof(out)), 0);
    assert_string_equal(out, "console=ttyS0 quiet burrow.root=/dev/vdb");
    assert_int_equal(rootfs_cmdline("", out, sizeof(out)), 0);
    assert_string_equal(out, "burrow.root=/dev/vdb");
    /* an administrator's own burrow.root= is kept as given */
    assert_int_equal(rootfs_cmdline("quiet burrow.root=/dev/vdc", out, sizeof(out)), 0);
    assert_string_equal(out, "quiet burrow.root=/dev/vdc");
    assert_int_equal(rootfs_cmdline(NULL, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "console=ttyS0"));
    assert_non_null(strstr(out, " burrow.root=/dev/vdb"));
    assert_int_equal(rootfs_cmdline("0123456789", out, 20), BURROW_ERR_TOO_LARGE);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_copy_image(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("rootfs");
    char src[512], dst[512], why[256];
    snprintf(src, sizeof(src), "%s/src.img", dir);
    snprintf(dst, sizeof(dst), "%s/dst.img", dir);
    /* 4 MiB: data at 0 and at 3 MiB, holes between */
    FILE *f = fopen(src, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 4 << 20), 0);
    fputs("superblock", f);
    fseek(f, 3 << 20, SEEK_SET);
    fputs("inode table", f);
    fclose(f);
    assert_int_equal(rootfs_copy_image(src, dst, why, sizeof(why)), 0);
    struct stat st;
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_size, 4 << 20);
    assert_true(st.st_blocks * 512 < (1 << 20)); /* sparse */
    char buf[16] = "";
    f = fopen(dst, "r");
    fseek(f, 3 << 20, SEEK_SET);
    assert_non_null(fgets(buf, 12, f));
    fclose(f);
    assert_string_equal(buf, "inode table");
    /* the destination must not exist; empty or missing sources refused */
    assert_int_equal(rootfs_copy_image(src, dst, why, sizeof(why)), BURROW_ERR_SYSTEM);
    write_file(src, "", 0644);
    unlink(dst);
    assert_int_equal(rootfs_copy_image(src, dst, why, sizeof(why)), BURROW_ERR_INVALID);
    assert_int_equal(access(dst, F_OK), -1);
    tu_rmrf(dir);
    free(dir);
}

/* The builder gets exactly its six arguments, no shell; its status is ours. */
static void test_build_image_runs_script(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("rootfs");
    char script[512], args[512], img[512], work[512], why[256];
    snprintf(script, sizeof(script), "%s/builder.sh", dir);
    snprintf(args, sizeof(args), "%s/args", dir);
    snprintf(img, sizeof(img), "%s/out.img", dir);
    snprintf(work, sizeof(work), "%s/work", dir);
    char text[1024];
    snprintf(text, sizeof(text),
             "#!/bin/sh\nprintf '%%s\\n' \"$#\" \"$@\" >%s\n"
             "[ \"$4\" = fail ] && exit 3\nexit 0\n",
             args);
    write_file(script, text, 0755);
    struct rootfs_build rb = {.script = script,
                              .image = img,
                              .work_dir = work,
                              .initrd = "/x/initramfs.cpio.gz",
                              .cache_dir = "/x/cache",
                              .packages = "vim,git"};
    assert_int_equal(rootfs_build_image(&rb, why, sizeof(why)), 0);
    FILE *f = fopen(args, "r");
    assert_non_null(f);
    char got[1024] = "";
    size_t n = fread(got, 1, sizeof(got) - 1, f);
    fclose(f);
    got[n] = '\0';
    char want[2048];
    snprintf(want, sizeof(want), "5\n%s\n%s\n/x/initramfs.cpio.gz\n/x/cache\nvim,git\n", img, work);
    assert_string_equal(got, want);
    rb.cache_dir = "fail";
    assert_int_equal(rootfs_build_image(&rb, why, sizeof(why)), BURROW_ERR_SYSTEM);
    assert_non_null(strstr(why, "status 3"));
    rb.script = "/nonexistent/builder";
    assert_int_equal(rootfs_build_image(&rb, why, sizeof(why)), BURROW_ERR_SYSTEM);
    assert_non_null(strstr(why, "status 127"));
    tu_rmrf(dir);
    free(dir);
}

static void test_rm_tree(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("rootfs");
    char p[512], outside[512];
    snprintf(outside, sizeof(outside), "%s/keep", dir);
    write_file(outside, "keep", 0644);
    static const char *const dirs[] = {"work", "work/root", "work/root/usr", "work/root/usr/bin"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
        assert_int_equal(mkdir(p, 0755), 0);
    }
    snprintf(p, sizeof(p), "%s/work/root/usr/bin/ro", dir);
    write_file(p, "x", 0444);
    /* a symlink out of the tree is removed, never followed */
    snprintf(p, sizeof(p), "%s/work/root/link", dir);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof(p), "%s/work", dir);
    rootfs_rm_tree(p);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(access(outside, F_OK), 0);
    tu_rmrf(dir);
    free(dir);
}

static void test_manifest_keys(void **state)
{
    (void)state;
    const char *m = "format = 1\nname = deb\nrootfs = debian\nrootfs_image = rootfs.img\n"
                    "rootfs_blake2b = 00ff\nrootfs_packages = vim,git\n"
                    "rootfs_device = /dev/vdb\n";
    char v[64];
    assert_int_equal(template_manifest_get(m, "rootfs", v, sizeof(v)), 0);
    assert_string_equal(v, "debian");
    assert_int_equal(template_manifest_get(m, "rootfs_image", v, sizeof(v)), 0);
    assert_string_equal(v, ROOTFS_IMAGE_FILE);
    assert_int_equal(template_manifest_get(m, "rootfs_packages", v, sizeof(v)), 0);
    assert_string_equal(v, "vim,git");
    assert_int_equal(template_manifest_get(m, "rootfs_device", v, sizeof(v)), 0);
    assert_string_equal(v, ROOTFS_GUEST_DEV);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkg_names),
        cmocka_unit_test(test_pkg_lists),
        cmocka_unit_test(test_kind_and_cmdline),
        cmocka_unit_test(test_copy_image),
        cmocka_unit_test(test_build_image_runs_script),
        cmocka_unit_test(test_rm_tree),
        cmocka_unit_test(test_manifest_keys),
    };
    return cmocka_run_group_tests_name("vmm/rootfs", tests, NULL, NULL);
}
