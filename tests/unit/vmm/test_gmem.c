/* tests/unit/vmm/test_gmem.c - guest address translation refuses every out-of-range access. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/gmem.h"

static uint8_t low[4096], high[4096];

static void setup_two(struct gmem *m)
{
    gmem_init(m);
    assert_int_equal(gmem_add_region(m, 0, low, sizeof(low)), 0);
    assert_int_equal(gmem_add_region(m, 0x10000, high, sizeof(high)), 0);
}

static void test_ptr_bounds(void **state)
{
    (void)state;
    struct gmem m;
    setup_two(&m);
    assert_ptr_equal(gmem_ptr(&m, 0, 4096), low);
    assert_ptr_equal(gmem_ptr(&m, 4095, 1), low + 4095);
    assert_null(gmem_ptr(&m, 4095, 2));
    assert_null(gmem_ptr(&m, 4096, 1));
    assert_ptr_equal(gmem_ptr(&m, 0x10010, 16), high + 16);
    assert_null(gmem_ptr(&m, 0x10010, UINT64_MAX));
    assert_null(gmem_ptr(&m, UINT64_MAX, 2));
}

static void test_add_refuses_overlap_and_overflow(void **state)
{
    (void)state;
    struct gmem m;
    setup_two(&m);
    assert_int_equal(gmem_add_region(&m, 0x800, high, 4096), BURROW_ERR_EXISTS);
    assert_int_equal(gmem_add_region(&m, UINT64_MAX - 10, high, 4096), BURROW_ERR_INVALID);
    assert_int_equal(gmem_add_region(&m, 0x20000, high, 0), BURROW_ERR_INVALID);
    assert_int_equal(gmem_total(&m), 8192);
}

static void test_copy_is_all_or_nothing(void **state)
{
    (void)state;
    struct gmem m;
    setup_two(&m);
    memset(low, 0, sizeof(low));
    uint8_t src[32];
    memset(src, 0x5a, sizeof(src));
    assert_int_equal(gmem_write(&m, 4096 - 16, src, 32), BURROW_ERR_RANGE);
    assert_int_equal(low[4095], 0);
    assert_int_equal(gmem_write(&m, 100, src, 32), 0);
    uint8_t dst[32];
    assert_int_equal(gmem_read(&m, dst, 100, 32), 0);
    assert_memory_equal(dst, src, 32);
    assert_int_equal(gmem_read(&m, dst, UINT64_MAX - 4, 32), BURROW_ERR_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ptr_bounds),
        cmocka_unit_test(test_add_refuses_overlap_and_overflow),
        cmocka_unit_test(test_copy_is_all_or_nothing),
    };
    return cmocka_run_group_tests_name("vmm/gmem", tests, NULL, NULL);
}
