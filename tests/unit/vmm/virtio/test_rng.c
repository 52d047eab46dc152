/* tests/unit/vmm/virtio/test_rng.c - virtio-rng fills buffers with fresh bytes, bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/rng.h"

struct fx {
    struct sim s;
    struct virtio_mmio m;
    struct virtio_rng *rng;
    struct simq q;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    sim_init(&f->s);
    if (virtio_mmio_init(&f->m, &virtio_rng_ops, &f->s.mem, sim_irq, &f->s) ||
        virtio_rng_create(&f->m.transport, &f->rng))
        return -1;
    virtio_mmio_attach_dev(&f->m, f->rng);
    simq_layout(&f->q, 0, 16);
    if (mmio_bring_up(&f->m, &f->q, 1, 0) != 0xf)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_rng_destroy(f->rng);
    virtio_mmio_destroy(&f->m);
    sim_free(&f->s);
    free(f);
    return 0;
}

static uint32_t request(struct fx *f, uint64_t buf, uint32_t len)
{
    uint16_t head = f->q.avail_idx % f->q.num;
    sim_desc(&f->s, f->q.desc, head, buf, len, VRING_DESC_F_WRITE, 0);
    sim_avail(&f->s, &f->q, head);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    uint32_t id = UINT32_MAX, got = UINT32_MAX;
    assert_int_equal(sim_take_used(&f->s, &f->q, &id, &got), 1);
    assert_int_equal(id, head);
    return got;
}

static void test_fresh_bytes(void **state)
{
    struct fx *f = *state;
    uint64_t a = sim_alloc(&f->s, 64), b = sim_alloc(&f->s, 64);
    unsigned irqs = f->s.irqs;
    assert_int_equal(request(f, a, 64), 64);
    assert_int_equal(request(f, b, 64), 64);
    assert_true(f->s.irqs > irqs);
    static const uint8_t zero[64];
    assert_memory_not_equal(sim_hva(&f->s, a), zero, 64);
    assert_memory_not_equal(sim_hva(&f->s, a), sim_hva(&f->s, b), 64);
}

static void test_huge_buffer_capped(void **state)
{
    struct fx *f = *state;
    uint64_t big = sim_alloc(&f->s, 1 << 20);
    assert_int_equal(request(f, big, 1 << 20), RNG_MAX_PER_REQUEST);
    /* nothing past the cap was touched */
    static const uint8_t zero[4096];
    assert_memory_equal(sim_hva(&f->s, big + RNG_MAX_PER_REQUEST), zero, sizeof(zero));
}

static void test_zero_length_and_readable_only(void **state)
{
    struct fx *f = *state;
    uint64_t a = sim_alloc(&f->s, 16);
    sim_desc(&f->s, f->q.desc, 0, a, 16, 0, 0); /* readable: nothing to fill */
    sim_avail(&f->s, &f->q, 0);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    uint32_t id, len;
    assert_int_equal(sim_take_used(&f->s, &f->q, &id, &len), 1);
    assert_int_equal(len, 0);
    assert_int_equal(request(f, a, 0), 0);
}

static void test_malformed_chain_needs_reset(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->q.desc, 0, SIM_BASE + SIM_SIZE, 16, VRING_DESC_F_WRITE, 0);
    sim_avail(&f->s, &f->q, 0);
    unsigned irqs = f->s.irqs;
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(f->s.irqs, irqs + 1);
    /* after a reset and a fresh bring-up the device works again */
    simq_layout(&f->q, 1, 16); /* fresh rings elsewhere, as a driver would allocate */
    assert_int_equal(mmio_bring_up(&f->m, &f->q, 1, 0), 0xf);
    assert_int_equal(request(f, sim_alloc(&f->s, 8), 8), 8);
}

static void test_reset_stops_processing(void **state)
{
    struct fx *f = *state;
    uint64_t a = sim_alloc(&f->s, 8);
    sim_desc(&f->s, f->q.desc, 0, a, 8, VRING_DESC_F_WRITE, 0);
    sim_avail(&f->s, &f->q, 0);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    virtio_mmio_notify(&f->m, 0);
    assert_int_equal(sim_used_idx(&f->s, &f->q), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fresh_bytes),
        T(test_huge_buffer_capped),
        T(test_zero_length_and_readable_only),
        T(test_malformed_chain_needs_reset),
        T(test_reset_stops_processing),
    };
    return cmocka_run_group_tests_name("vmm/virtio/rng", tests, NULL, NULL);
}
