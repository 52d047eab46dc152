/* tests/unit/vmm/test_evloop.c - the event thread runs callbacks for ready fds, and stops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/evloop.h"

static _Atomic int calls, bad_args;
static _Atomic uint64_t total;

/* Runs on the event thread: no cmocka asserts here, only records. */
static void on_ready(void *ctx, int fd, uint32_t events)
{
    uint64_t n;
    if (!(events & EPOLLIN) || ctx != &calls)
        bad_args++;
    if (read(fd, &n, sizeof(n)) == sizeof(n))
        total += n;
    calls++;
}

static void wait_for(uint64_t want)
{
    for (int i = 0; i < 2000 && total < want; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void test_run_and_stop(void **state)
{
    (void)state;
    struct evloop *l = NULL;
    int fd = eventfd(0, EFD_NONBLOCK), fd2 = eventfd(0, EFD_NONBLOCK);
    uint64_t three = 3, four = 4;
    assert_int_equal(evloop_new(&l), 0);
    assert_int_equal(evloop_add(l, fd, EPOLLIN, on_ready, &calls), 0);
    assert_int_equal(evloop_add(l, fd, EPOLLIN, on_ready, &calls), BURROW_ERR_EXISTS);
    assert_int_equal(evloop_add(l, -1, EPOLLIN, on_ready, &calls), BURROW_ERR_INVALID);
    assert_int_equal(evloop_start(l), 0);
    assert_int_equal(write(fd, &three, 8), 8);
    wait_for(3);
    assert_int_equal(total, 3);
    /* added while running, and removed: no more callbacks for it */
    assert_int_equal(evloop_add(l, fd2, EPOLLIN, on_ready, &calls), 0);
    assert_int_equal(write(fd2, &four, 8), 8);
    wait_for(7);
    assert_int_equal(total, 7);
    assert_int_equal(evloop_del(l, fd2), 0);
    assert_int_equal(evloop_del(l, fd2), BURROW_ERR_NOT_FOUND);
    int before = calls;
    assert_int_equal(write(fd2, &four, 8), 8);
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
    assert_int_equal(calls, before);
    assert_int_equal(bad_args, 0);
    evloop_join(l); /* stops and joins */
    evloop_free(l);
    close(fd);
    close(fd2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_and_stop),
    };
    return cmocka_run_group_tests_name("vmm/evloop", tests, NULL, NULL);
}
