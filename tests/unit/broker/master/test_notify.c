/*
 * tests/unit/broker/master/test_notify.c - readiness notification over a test
 * NOTIFY_SOCKET (path and abstract), nothing without the variable, bad values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/master/notify.h"
#include "tests/lib/testutil.h"

static int bound(const char *name, int abstract)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    memcpy(sa.sun_path + (abstract ? 1 : 0), name, len);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (abstract ? 1 : 0));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sl), 0);
    return fd;
}

static void test_path_socket(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("notify"), path[512], buf[64];
    snprintf(path, sizeof(path), "%s/n.sock", dir);
    int fd = bound(path, 0);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(notify_send("READY=1"), 0);
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_int_equal(n, 7);
    buf[n] = 0;
    assert_string_equal(buf, "READY=1");
    close(fd);
    tu_rmrf(dir);
    free(dir);
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64], env[80], buf[64];
    snprintf(name, sizeof(name), "burrow-notify-test-%d", (int)getpid());
    int fd = bound(name, 1);
    snprintf(env, sizeof(env), "@%s", name);
    setenv("NOTIFY_SOCKET", env, 1);
    assert_int_equal(notify_send("STOPPING=1"), 0);
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_int_equal(n, 10);
    close(fd);
}

static void test_unset_and_bad(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_not_equal(notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "/nonexistent/burrow/notify.sock", 1);
    assert_int_not_equal(notify_send("READY=1"), 0);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_unset_and_bad),
    };
    return cmocka_run_group_tests_name("broker/master/notify", tests, NULL, NULL);
}
