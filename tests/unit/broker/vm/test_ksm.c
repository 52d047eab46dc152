/*
 * tests/unit/broker/vm/test_ksm.c - [vm] ksm against a fake /sys/kernel/mm/ksm:
 * run 0 is switched to 1, run 1 and run 2 are left as found (nothing
 * written), a kernel without KSM is reported as such; the counters are
 * parsed and malformed ones refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "broker/vm/ksm.h"
#include "common/err.h"
#include "common/log.h"
#include "tests/lib/testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp("ksm");
    tu_write_in(dir, "run", "0\n");
    tu_write_in(dir, "pages_shared", "12\n");
    tu_write_in(dir, "pages_sharing", "345\n");
    tu_write_in(dir, "pages_unshared", "6\n");
    tu_write_in(dir, "pages_volatile", "7\n");
    tu_write_in(dir, "full_scans", "8\n");
    tu_write_in(dir, "pages_to_scan", "100\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static void test_switches_run_on_only_from_zero(void **state)
{
    (void)state;
    enum ksm_outcome o;
    assert_int_equal(ksm_switch_on(dir, LOG_LVL_INFO, &o), 0);
    assert_int_equal(o, KSM_SWITCHED_ON);
    char *t = tu_read_in(dir, "run");
    assert_string_equal(t, "1\n");
    free(t);
    t = tu_read_in(dir, "pages_to_scan"); /* nothing else is Burrow's to change */
    assert_string_equal(t, "100\n");
    free(t);

    /* Already on: nothing written (a marker value shows any write). */
    tu_write_in(dir, "run", "1");
    assert_int_equal(ksm_switch_on(dir, LOG_LVL_INFO, &o), 0);
    assert_int_equal(o, KSM_WAS_ON);
    t = tu_read_in(dir, "run");
    assert_string_equal(t, "1");
    free(t);

    /* Unmerging: someone else's decision, left as found. */
    tu_write_in(dir, "run", "2\n");
    assert_int_equal(ksm_switch_on(dir, LOG_LVL_INFO, &o), 0);
    assert_int_equal(o, KSM_LEFT_ALONE);
    t = tu_read_in(dir, "run");
    assert_string_equal(t, "2\n");
    free(t);
}

static void test_no_ksm_and_bad_run(void **state)
{
    (void)state;
    enum ksm_outcome o;
    struct ksm_state k;
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/none", dir);
    assert_int_equal(ksm_switch_on(missing, LOG_LVL_INFO, &o), BURROW_ERR_NOT_FOUND);
    assert_int_equal(ksm_read(missing, &k), BURROW_ERR_NOT_FOUND);
    tu_write_in(dir, "run", "on\n");
    assert_int_equal(ksm_switch_on(dir, LOG_LVL_INFO, &o), BURROW_ERR_FORMAT);
    char *t = tu_read_in(dir, "run");
    assert_string_equal(t, "on\n");
    free(t);
}

static void test_read_counters(void **state)
{
    (void)state;
    struct ksm_state k;
    assert_int_equal(ksm_read(dir, &k), 0);
    assert_int_equal(k.run, 0);
    assert_int_equal(k.pages_shared, 12);
    assert_int_equal(k.pages_sharing, 345);
    assert_int_equal(k.pages_unshared, 6);
    assert_int_equal(k.pages_volatile, 7);
    assert_int_equal(k.full_scans, 8);
    tu_write_in(dir, "pages_sharing", "-3\n");
    assert_int_equal(ksm_read(dir, &k), BURROW_ERR_FORMAT);
    tu_write_in(dir, "pages_sharing", "99999999999999999999999\n");
    assert_int_equal(ksm_read(dir, &k), BURROW_ERR_FORMAT);
    tu_write_in(dir, "pages_sharing", "");
    assert_int_equal(ksm_read(dir, &k), BURROW_ERR_FORMAT);
    tu_write_in(dir, "pages_sharing", "5 6\n");
    assert_int_equal(ksm_read(dir, &k), BURROW_ERR_FORMAT);
}

int main(void)
{
    log_init("test_ksm", LOG_LVL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_switches_run_on_only_from_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_ksm_and_bad_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_counters, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/vm/ksm", tests, NULL, NULL);
}
