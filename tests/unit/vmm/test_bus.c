/* tests/unit/vmm/test_bus.c - the trap bus refuses bad ranges and routes only whole accesses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/bus.h"

struct hit {
    uint64_t off;
    uint32_t len;
    int is_write, calls;
};

static void handler(void *ctx, uint64_t off, uint8_t *data, uint32_t len, int is_write)
{
    struct hit *h = ctx;
    h->off = off;
    h->len = len;
    h->is_write = is_write;
    h->calls++;
    if (!is_write)
        memset(data, 0x5a, len);
}

static void test_register_checks(void **state)
{
    (void)state;
    struct bus b;
    struct hit h = {0};
    bus_init(&b);
    assert_int_equal(bus_register_mmio(&b, 0x1000, 0x100, handler, &h), 0);
    assert_int_equal(bus_register_mmio(&b, 0x1080, 0x100, handler, &h), BURROW_ERR_EXISTS);
    assert_int_equal(bus_register_mmio(&b, 0xf80, 0x100, handler, &h), BURROW_ERR_EXISTS);
    assert_int_equal(bus_register_mmio(&b, 0x1100, 0x100, handler, &h), 0);
    assert_int_equal(bus_register_mmio(&b, 0x0, 0, handler, &h), BURROW_ERR_INVALID);
    assert_int_equal(bus_register_mmio(&b, UINT64_MAX - 4, 0x10, handler, &h), BURROW_ERR_INVALID);
    assert_int_equal(bus_register_pio(&b, 0xfff0, 0x20, handler, &h), BURROW_ERR_RANGE);
    assert_int_equal(bus_register_pio(&b, 0x3f8, 8, handler, &h), 0);
    for (unsigned i = 0; i < BUS_MAX_RANGES - 1; i++)
        assert_int_equal(bus_register_pio(&b, 0x1000 + i, 1, handler, &h), 0);
    assert_int_equal(bus_register_pio(&b, 0x2000, 1, handler, &h), BURROW_ERR_TOO_LARGE);
    bus_fini(&b);
}

static void test_dispatch(void **state)
{
    (void)state;
    struct bus b;
    struct hit h = {0};
    uint8_t data[8];
    bus_init(&b);
    assert_int_equal(bus_register_mmio(&b, 0xd0000000, 0x1000, handler, &h), 0);
    assert_int_equal(bus_dispatch(&b, BUS_MMIO, 0xd0000070, data, 4, 0), 0);
    assert_int_equal(h.off, 0x70);
    assert_int_equal(h.len, 4);
    assert_int_equal(data[0], 0x5a);
    /* straddling the end, outside, wrong space: nobody's, reads see all ones */
    assert_int_equal(bus_dispatch(&b, BUS_MMIO, 0xd0000ffe, data, 4, 0), BURROW_ERR_NOT_FOUND);
    assert_int_equal(data[0], 0xff);
    assert_int_equal(bus_dispatch(&b, BUS_MMIO, 0xcffffffc, data, 4, 1), BURROW_ERR_NOT_FOUND);
    assert_int_equal(bus_dispatch(&b, BUS_PIO, 0xd0000000, data, 1, 1), BURROW_ERR_NOT_FOUND);
    assert_int_equal(bus_dispatch(&b, BUS_MMIO, UINT64_MAX, data, 2, 0), BURROW_ERR_INVALID);
    assert_int_equal(h.calls, 1);
    bus_fini(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_checks),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests_name("vmm/bus", tests, NULL, NULL);
}
