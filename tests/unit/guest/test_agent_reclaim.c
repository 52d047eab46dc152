/*
 * tests/unit/guest/test_agent_reclaim.c - the agent's RECLAIM
 * (guest/agent_reclaim.c) against a fake /proc: the flags decide which knobs
 * are written (drop_caches 3, compact_memory 1), MemFree is read before and
 * after, a kernel without compaction is fine, a knob that cannot be written
 * is reported in the answer's code.
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

#include "guest/agent_reclaim.c"
#include "tests/lib/testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    char p[512];
    dir = tu_mkdtemp("reclaim");
    snprintf(p, sizeof(p), "%s/sys", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/sys/vm", dir);
    mkdir(p, 0755);
    tu_write_in(dir, "meminfo",
                "MemTotal:         131072 kB\nMemFree:           40960 kB\n"
                "MemAvailable:      90000 kB\n");
    tu_write_in(dir, "sys/vm/drop_caches", "0\n");
    tu_write_in(dir, "sys/vm/compact_memory", "");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static void expect_file(const char *rel, const char *want)
{
    char *t = tu_read_in(dir, rel);
    assert_non_null(t);
    assert_string_equal(t, want);
    free(t);
}

static void test_drop_and_compact(void **state)
{
    (void)state;
    struct proto_reclaim_answer a;
    agent_reclaim(dir, PROTO_RECLAIM_F_DROP_CACHES | PROTO_RECLAIM_F_COMPACT, &a);
    assert_int_equal(a.code, 0);
    assert_int_equal(a.free_before_kib, 40960);
    assert_int_equal(a.free_after_kib, 40960);
    expect_file("sys/vm/drop_caches", "3\n");
    expect_file("sys/vm/compact_memory", "1\n");
}

static void test_flags_choose_the_steps(void **state)
{
    (void)state;
    struct proto_reclaim_answer a;
    agent_reclaim(dir, PROTO_RECLAIM_F_COMPACT, &a);
    expect_file("sys/vm/drop_caches", "0\n");
    expect_file("sys/vm/compact_memory", "1\n");
    tu_write_in(dir, "sys/vm/compact_memory", "");
    agent_reclaim(dir, 0, &a);
    assert_int_equal(a.code, 0);
    expect_file("sys/vm/drop_caches", "0\n");
    expect_file("sys/vm/compact_memory", "");
}

static void test_no_compaction_and_failures(void **state)
{
    (void)state;
    struct proto_reclaim_answer a;
    char p[512];
    snprintf(p, sizeof(p), "%s/sys/vm/compact_memory", dir);
    unlink(p); /* a kernel without CONFIG_COMPACTION */
    agent_reclaim(dir, PROTO_RECLAIM_F_DROP_CACHES | PROTO_RECLAIM_F_COMPACT, &a);
    assert_int_equal(a.code, 0);
    expect_file("sys/vm/drop_caches", "3\n");
    /* A knob that is there but cannot be opened for writing: the answer says so. */
    snprintf(p, sizeof(p), "%s/sys/vm/drop_caches", dir);
    unlink(p);
    assert_int_equal(mkdir(p, 0755), 0);
    agent_reclaim(dir, PROTO_RECLAIM_F_DROP_CACHES, &a);
    assert_int_equal(a.code, BURROW_ERR_SYSTEM);
    /* No meminfo: MemFree unknown (0), the rest still runs. */
    snprintf(p, sizeof(p), "%s/meminfo", dir);
    unlink(p);
    agent_reclaim(dir, 0, &a);
    assert_int_equal(a.free_before_kib, 0);
    assert_int_equal(a.code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drop_and_compact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flags_choose_the_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_compaction_and_failures, setup, teardown),
    };
    return cmocka_run_group_tests_name("guest/agent_reclaim", tests, NULL, NULL);
}
