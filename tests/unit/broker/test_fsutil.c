/*
 * tests/unit/broker/test_fsutil.c - fs_connect_unix_at (broker/fsutil.h):
 * a socket in a directory someone else may write is reached only as
 * itself, never through a planted symlink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/fsutil.h"
#include "common/err.h"
#include "tests/lib/testutil.h"

struct fx {
    char *dir;  /* the directory the "sandbox" writes */
    char *host; /* elsewhere: a socket the host owns */
    int dirfd;
    int agent;      /* listening: dir/agent.sock */
    int host_sock;  /* listening: host/host.sock */
    char path[200]; /* host/host.sock */
};

static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* Whether a connection is waiting on a listener (accepts and closes it). */
static int took_connection(int lfd)
{
    int c = accept(lfd, NULL, NULL);
    if (c < 0) {
        assert_int_equal(errno, EAGAIN);
        return 0;
    }
    close(c);
    return 1;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char p[256];
    f->dir = tu_mkdtemp("fsconn");
    f->host = tu_mkdtemp("fshost");
    snprintf(p, sizeof(p), "%s/agent.sock", f->dir);
    f->agent = listen_at(p);
    snprintf(f->path, sizeof(f->path), "%s/host.sock", f->host);
    f->host_sock = listen_at(f->path);
    f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(f->dirfd >= 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close(f->agent);
    close(f->host_sock);
    close(f->dirfd);
    tu_rmrf(f->dir);
    tu_rmrf(f->host);
    free(f->dir);
    free(f->host);
    free(f);
    return 0;
}

static void test_connects_to_the_socket_itself(void **state)
{
    struct fx *f = *state;
    int fd = fs_connect_unix_at(f->dirfd, "agent.sock");
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(took_connection(f->agent));
    close(fd);
}

/* The sandbox's root replaced agent.sock with a symlink to a host socket. */
static void test_symlink_refused(void **state)
{
    struct fx *f = *state;
    char p[256];
    snprintf(p, sizeof(p), "%s/agent.sock", f->dir);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink(f->path, p), 0);
    assert_int_equal(fs_connect_unix_at(f->dirfd, "agent.sock"), BURROW_ERR_PERM);
    assert_false(took_connection(f->host_sock));
    /* A relative link inside the directory is refused the same way. */
    snprintf(p, sizeof(p), "%s/rel.sock", f->dir);
    assert_int_equal(symlink("agent.sock", p), 0);
    assert_int_equal(fs_connect_unix_at(f->dirfd, "rel.sock"), BURROW_ERR_PERM);
}

static void test_bad_entries(void **state)
{
    struct fx *f = *state;
    char p[256];
    snprintf(p, sizeof(p), "%s/file", f->dir);
    tu_write_file(p, "not a socket");
    snprintf(p, sizeof(p), "%s/sub", f->dir);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(fs_connect_unix_at(f->dirfd, "file"), BURROW_ERR_PERM);
    assert_int_equal(fs_connect_unix_at(f->dirfd, "sub"), BURROW_ERR_PERM);
    assert_int_equal(fs_connect_unix_at(f->dirfd, "missing"), BURROW_ERR_NOT_FOUND);
    assert_int_equal(fs_connect_unix_at(f->dirfd, "sub/x"), BURROW_ERR_INVALID);
    assert_int_equal(fs_connect_unix_at(f->dirfd, ".."), BURROW_ERR_INVALID);
    assert_int_equal(fs_connect_unix_at(f->dirfd, ""), BURROW_ERR_INVALID);
    assert_false(took_connection(f->agent));
}

/* A socket nobody listens on any more. */
static void test_dead_socket(void **state)
{
    struct fx *f = *state;
    close(f->agent);
    f->agent = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0); /* for teardown */
    assert_int_equal(fs_connect_unix_at(f->dirfd, "agent.sock"), BURROW_ERR_CLOSED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connects_to_the_socket_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_socket, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/fsutil", tests, NULL, NULL);
}
