/*
 * tests/unit/guest/test_agent_skel.c - guest/agent_skel.c: the image's
 * default login shell for /bin/sh users, and /etc/skel copied into a home
 * once, as the user: missing files only, Burrow's generated .profile
 * replaced, the user's own files kept, planted symlinks not followed, the
 * trusted.burrow.skel mark stops a second copy. The copy tests need root
 * (they drop to a test uid); elsewhere they are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/users/homedisk.h"
#include "guest/agent_skel.c"
#include "tests/lib/testutil.h"

#define TUID 23456

static char *dir;

static void path(char *out, size_t sz, const char *rel)
{
    snprintf(out, sz, "%s/%s", dir, rel);
}

static void mkd(const char *rel)
{
    char p[512];
    path(p, sizeof(p), rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void put(const char *rel, const char *text)
{
    char p[512];
    path(p, sizeof(p), rel);
    tu_write_file(p, text);
}

static char *get(const char *rel)
{
    char p[512];
    path(p, sizeof(p), rel);
    return tu_read_file(p, NULL);
}

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp("skel");
    chmod(dir, 0755); /* the copy runs as the test uid */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static void test_default_shell(void **state)
{
    (void)state;
    char shell[64] = "/bin/sh";
    mkd("etc");
    char etc[512];
    path(etc, sizeof(etc), "etc");
    identity_default_shell(etc, shell, sizeof(shell)); /* no file: unchanged */
    assert_string_equal(shell, "/bin/sh");
    mkd("etc/burrow");
    put("etc/burrow/default-shell", "/bin/true\n");
    identity_default_shell(etc, shell, sizeof(shell));
    assert_string_equal(shell, "/bin/true");
    static const char *const bad[] = {"/nonexistent/shell\n", "bin/true\n", "/bin/true:x\n",
                                      "/bin/true extra\n", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(shell, sizeof(shell), "/bin/sh");
        put("etc/burrow/default-shell", bad[i]);
        identity_default_shell(etc, shell, sizeof(shell));
        assert_string_equal(shell, "/bin/sh");
    }
    /* too long for the caller's buffer: unchanged */
    char tiny[8] = "/bin/sh";
    put("etc/burrow/default-shell", "/usr/bin/true\n");
    identity_default_shell(etc, tiny, sizeof(tiny));
    assert_string_equal(tiny, "/bin/sh");
}

/* etc/skel with files, a subdirectory and a symlink; a home owned by TUID. */
static void make_world(struct agent_config *cfg, struct agent_user *u)
{
    memset(cfg, 0, sizeof(*cfg));
    memset(u, 0, sizeof(*u));
    mkd("etc");
    mkd("etc/skel");
    mkd("etc/skel/.config");
    put("etc/skel/.bashrc", "debian bashrc\n");
    put("etc/skel/.profile", "# ~/.profile: executed by the command interpreter\n");
    put("etc/skel/.bash_logout", "logout\n");
    put("etc/skel/.config/app", "cfg\n");
    char p[512], t[512];
    path(p, sizeof(p), "etc/skel/link");
    assert_int_equal(symlink("/etc/passwd", p), 0);
    mkd("home");
    path(p, sizeof(p), "home");
    assert_int_equal(chown(p, TUID, TUID), 0);
    path(cfg->etc, sizeof(cfg->etc), "etc");
    path(u->home, sizeof(u->home), "home");
    snprintf(u->name, sizeof(u->name), "tuser");
    u->uid = TUID;
    u->gid = TUID;
    (void)t;
}

static void put_as_user(const char *rel, const char *text)
{
    char p[512];
    put(rel, text);
    path(p, sizeof(p), rel);
    assert_int_equal(lchown(p, TUID, TUID), 0);
}

static void test_skel_copy(void **state)
{
    (void)state;
    if (getuid() != 0)
        skip();
    struct agent_config cfg;
    struct agent_user u;
    make_world(&cfg, &u);
    put_as_user("home/.profile", homedisk_profile); /* what user add writes */
    put_as_user("home/.bashrc", "mine\n");          /* the user's own: kept */
    char note[512];
    assert_int_equal(skel_apply(&cfg, &u, note, sizeof(note)), 0);
    assert_non_null(strstr(note, "3 files from"));
    char *s = get("home/.bashrc");
    assert_string_equal(s, "mine\n");
    free(s);
    s = get("home/.profile");
    assert_non_null(strstr(s, "executed by the command interpreter"));
    free(s);
    s = get("home/.config/app");
    assert_string_equal(s, "cfg\n");
    free(s);
    char p[512];
    struct stat st;
    path(p, sizeof(p), "home/.bash_logout");
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_uid, TUID); /* copied as the user */
    assert_int_equal(st.st_mode & 0777, 0644);
    path(p, sizeof(p), "home/link");
    assert_int_equal(lstat(p, &st), -1); /* symlinks in skel are not copied */
    /* once per home: with the mark, a deleted file does not come back */
    path(p, sizeof(p), "home");
    char mark;
    if (getxattr(p, "trusted.burrow.skel", &mark, 1) == 1) {
        path(p, sizeof(p), "home/.bash_logout");
        unlink(p);
        assert_int_equal(skel_apply(&cfg, &u, note, sizeof(note)), 0);
        assert_string_equal(note, "");
        assert_int_equal(access(p, F_OK), -1);
    }
}

static void test_skel_planted_symlink(void **state)
{
    (void)state;
    if (getuid() != 0)
        skip();
    struct agent_config cfg;
    struct agent_user u;
    make_world(&cfg, &u);
    /* a root-only file and a home whose .bash_logout points at it */
    put("secret", "root only\n");
    char p[512], target[512];
    path(target, sizeof(target), "secret");
    assert_int_equal(chmod(target, 0600), 0);
    path(p, sizeof(p), "home/.bash_logout");
    assert_int_equal(symlink(target, p), 0);
    assert_int_equal(lchown(p, TUID, TUID), 0);
    char note[512];
    assert_int_equal(skel_apply(&cfg, &u, note, sizeof(note)), 0);
    char *s = get("secret");
    assert_string_equal(s, "root only\n");
    free(s);
    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_uid, 0);
}

static void test_skel_nothing_to_do(void **state)
{
    (void)state;
    struct agent_config cfg;
    struct agent_user u;
    memset(&cfg, 0, sizeof(cfg));
    memset(&u, 0, sizeof(u));
    mkd("etc"); /* no skel */
    mkd("home");
    path(cfg.etc, sizeof(cfg.etc), "etc");
    path(u.home, sizeof(u.home), "home");
    u.uid = TUID;
    char note[64] = "x";
    assert_int_equal(skel_apply(&cfg, &u, note, sizeof(note)), 0);
    assert_string_equal(note, "");
    /* root's home never gets it */
    mkd("etc/skel");
    put("etc/skel/.bashrc", "x\n");
    u.uid = 0;
    assert_int_equal(skel_apply(&cfg, &u, note, sizeof(note)), 0);
    assert_string_equal(note, "");
    char p[512];
    path(p, sizeof(p), "home/.bashrc");
    assert_int_equal(access(p, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_shell, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skel_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skel_planted_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skel_nothing_to_do, setup, teardown),
    };
    return cmocka_run_group_tests_name("guest/agent_skel", tests, NULL, NULL);
}
