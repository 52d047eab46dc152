/* tests/unit/broker/users/test_homedisk.c - real ext4 home images: creation
 * (owner, size, skeleton, sparseness), grow-only resize, the OFD lock, and
 * cleanup when an e2fsprogs step fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/users/homedisk.h"
#include "common/err.h"
#include "tests/lib/testutil.h"
#include "tests/unit/broker/users/e2fs_check.h"

struct fixture {
    char *dir;
    char img[512];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("homedisk");
    snprintf(f->img, sizeof(f->img), "%s/home.img", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    homedisk_test_set_tool_dir(NULL);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_create(void **state)
{
    struct fixture *f = *state;
    char err[HOMEDISK_ERR_MAX] = "";
    /* 40M + 1 byte rounds up to the next MiB */
    int r = homedisk_create(f->img, (40ull << 20) + 1, 12345, 12346, err, sizeof(err));
    if (r < 0)
        fail_msg("create: %s", err);
    struct stat st;
    assert_int_equal(stat(f->img, &st), 0);
    assert_true((uint64_t)st.st_size == 41ull << 20);
    assert_int_equal(st.st_mode & 07777, 0600);
    /* sparse: far fewer blocks allocated than the apparent size */
    assert_true((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size / 2);
    unsigned uid = 0, gid = 0;
    assert_int_equal(e2_owner(f->img, "/", &uid, &gid), 0);
    assert_int_equal(uid, 12345);
    assert_int_equal(gid, 12346);
    assert_int_equal(e2_owner(f->img, "/.profile", &uid, &gid), 0);
    assert_int_equal(uid, 12345);
    assert_int_equal(gid, 12346);
    assert_true(e2_fs_bytes(f->img) == 41ull << 20);
    assert_true(e2_clean(f->img));
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "debugfs -R 'cat /.profile' '%s' 2>/dev/null", f->img);
    char *profile = e2_capture(cmd);
    assert_non_null(profile);
    assert_string_equal(profile, homedisk_profile);
    free(profile);
    /* only the image is left: no temp file, no skeleton directory */
    assert_int_equal(dir_entries(f->dir), 1);
    /* never over an existing image */
    assert_int_equal(homedisk_create(f->img, 32ull << 20, 1, 1, err, sizeof(err)),
                     BURROW_ERR_EXISTS);
}

static void test_create_bad_size(void **state)
{
    struct fixture *f = *state;
    char err[HOMEDISK_ERR_MAX];
    assert_int_equal(homedisk_create(f->img, HOMEDISK_SIZE_MIN - 1, 1000, 1000, err, sizeof(err)),
                     BURROW_ERR_RANGE);
    assert_int_equal(homedisk_create(f->img, HOMEDISK_SIZE_MAX + 1, 1000, 1000, err, sizeof(err)),
                     BURROW_ERR_RANGE);
    assert_int_equal(dir_entries(f->dir), 0);
}

/* A failing mke2fs (or a missing one) leaves nothing behind. */
static void test_create_tool_failure_cleans_up(void **state)
{
    struct fixture *f = *state;
    char err[HOMEDISK_ERR_MAX], tools[600], script[700];
    snprintf(tools, sizeof(tools), "%s/tools", f->dir);
    assert_int_equal(mkdir(tools, 0755), 0);
    snprintf(f->img, sizeof(f->img), "%s/img/home.img", f->dir);
    char imgdir[600];
    snprintf(imgdir, sizeof(imgdir), "%s/img", f->dir);
    assert_int_equal(mkdir(imgdir, 0700), 0);
    homedisk_test_set_tool_dir(tools);
    assert_int_equal(homedisk_create(f->img, 32ull << 20, 1000, 1000, err, sizeof(err)),
                     BURROW_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "mke2fs not found"));
    assert_int_equal(dir_entries(imgdir), 0);
    snprintf(script, sizeof(script), "%s/mke2fs", tools);
    tu_write_file(script, "#!/bin/sh\necho \"mke2fs: disk on fire\" >&2\nexit 1\n");
    assert_int_equal(chmod(script, 0755), 0);
    assert_int_equal(homedisk_create(f->img, 32ull << 20, 1000, 1000, err, sizeof(err)),
                     BURROW_ERR_SYSTEM);
    assert_non_null(strstr(err, "disk on fire"));
    assert_int_equal(dir_entries(imgdir), 0);
}

static void test_resize_grows_only(void **state)
{
    struct fixture *f = *state;
    char err[HOMEDISK_ERR_MAX] = "";
    assert_int_equal(homedisk_create(f->img, 32ull << 20, 10000, 10000, err, sizeof(err)), 0);
    struct stat before;
    assert_int_equal(stat(f->img, &before), 0);
    assert_int_equal(homedisk_resize(f->img, 32ull << 20, SC_MODE_ENFORCE, err, sizeof(err)),
                     BURROW_ERR_RANGE);
    assert_int_equal(homedisk_resize(f->img, 20ull << 20, SC_MODE_ENFORCE, err, sizeof(err)),
                     BURROW_ERR_RANGE);
    assert_non_null(strstr(err, "only grow"));
    struct stat after;
    assert_int_equal(stat(f->img, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_true(after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
                after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    int r = homedisk_resize(f->img, 48ull << 20, SC_MODE_ENFORCE, err, sizeof(err));
    if (r < 0)
        fail_msg("resize: %s", err);
    uint64_t size;
    assert_int_equal(homedisk_size(f->img, &size), 0);
    assert_true(size == 48ull << 20);
    assert_true(e2_fs_bytes(f->img) == 48ull << 20);
    assert_true(e2_clean(f->img));
    unsigned uid, gid;
    assert_int_equal(e2_owner(f->img, "/.profile", &uid, &gid), 0);
    assert_int_equal(uid, 10000);
}

static void test_lock(void **state)
{
    struct fixture *f = *state;
    char err[HOMEDISK_ERR_MAX] = "";
    int fd, fd2;
    assert_int_equal(homedisk_open_locked(f->img, &fd), BURROW_ERR_NOT_FOUND);
    assert_int_equal(homedisk_create(f->img, 32ull << 20, 10000, 10000, err, sizeof(err)), 0);
    assert_int_equal(homedisk_is_locked(f->img), 0);
    assert_int_equal(homedisk_open_locked(f->img, &fd), 0);
    assert_int_equal(homedisk_is_locked(f->img), 1);
    /* a second open file description conflicts, even in this process */
    assert_int_equal(homedisk_open_locked(f->img, &fd2), BURROW_ERR_BUSY);
    assert_int_equal(homedisk_resize(f->img, 64ull << 20, SC_MODE_ENFORCE, err, sizeof(err)),
                     BURROW_ERR_BUSY);
    assert_non_null(strstr(err, "in use"));
    uint64_t size;
    assert_int_equal(homedisk_size(f->img, &size), 0);
    assert_true(size == 32ull << 20);
    /* the lock belongs to the open file description: a child holding the
     * inherited fd keeps it after the parent closes its copy */
    pid_t pid = fork();
    if (pid == 0) {
        sleep(10);
        _exit(0);
    }
    close(fd); /* closing one copy is not homedisk_unlock(), which releases it */
    assert_int_equal(homedisk_is_locked(f->img), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(homedisk_is_locked(f->img), 0);
    assert_int_equal(homedisk_open_locked(f->img, &fd2), 0);
    homedisk_unlock(fd2);
    assert_int_equal(homedisk_is_locked(f->img), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bad_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_tool_failure_cleans_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resize_grows_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/users/homedisk", tests, NULL, NULL);
}
