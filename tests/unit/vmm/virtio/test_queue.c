/* tests/unit/vmm/virtio/test_queue.c - the split-ring walker refuses every malformed ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/queue.h"

#define F_N VRING_DESC_F_NEXT
#define F_W VRING_DESC_F_WRITE
#define F_I VRING_DESC_F_INDIRECT

struct fx {
    struct sim s;
    struct simq sq;
    struct vq q;
    struct vq_chain c;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    sim_init(&f->s);
    simq_layout(&f->sq, 0, 16);
    vq_init(&f->q, 256);
    simq_to_vq(&f->sq, &f->q);
    f->q.indirect = true;
    if (vq_validate(&f->q, &f->s.mem))
        return -1;
    f->q.ready = true;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sim_free(&f->s);
    free(f);
    return 0;
}

static void test_validate_rejects_bad_rings(void **state)
{
    struct fx *f = *state;
    struct vq q;
    uint16_t bad_sizes[] = {0, 3, 100, 512};
    for (unsigned i = 0; i < 4; i++) {
        vq_init(&q, 256);
        simq_to_vq(&f->sq, &q);
        q.num = bad_sizes[i];
        assert_int_equal(vq_validate(&q, &f->s.mem), BURROW_ERR_GUEST);
        assert_null(q.desc);
    }
    vq_init(&q, 256);
    simq_to_vq(&f->sq, &q);
    q.desc_gpa += 8; /* descriptor table must be 16-aligned */
    assert_int_equal(vq_validate(&q, &f->s.mem), BURROW_ERR_GUEST);
    simq_to_vq(&f->sq, &q);
    q.avail_gpa += 1;
    assert_int_equal(vq_validate(&q, &f->s.mem), BURROW_ERR_GUEST);
    simq_to_vq(&f->sq, &q);
    q.used_gpa += 2;
    assert_int_equal(vq_validate(&q, &f->s.mem), BURROW_ERR_GUEST);
    simq_to_vq(&f->sq, &q);
    q.used_gpa = SIM_BASE + SIM_SIZE - 16; /* used ring runs off the end of RAM */
    assert_int_equal(vq_validate(&q, &f->s.mem), BURROW_ERR_GUEST);
    simq_to_vq(&f->sq, &q);
    q.desc_gpa = 0x1000; /* below RAM */
    assert_int_equal(vq_validate(&q, &f->s.mem), BURROW_ERR_GUEST);
    simq_to_vq(&f->sq, &q);
    q.avail_gpa = UINT64_MAX - 1; /* wraps */
    assert_int_equal(vq_validate(&q, &f->s.mem), BURROW_ERR_GUEST);
    simq_to_vq(&f->sq, &q);
    assert_int_equal(vq_validate(&q, &f->s.mem), 0);
}

static void test_pop_push_roundtrip(void **state)
{
    struct fx *f = *state;
    uint64_t a = sim_alloc(&f->s, 100), b = sim_alloc(&f->s, 50);
    memset(sim_hva(&f->s, a), 'x', 100);
    sim_desc(&f->s, f->sq.desc, 3, a, 100, F_N, 7);
    sim_desc(&f->s, f->sq.desc, 7, b, 50, F_W, 0);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 0); /* nothing available yet */
    sim_avail(&f->s, &f->sq, 3);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    assert_int_equal(f->c.head, 3);
    assert_int_equal(f->c.nr_out, 1);
    assert_int_equal(f->c.nr_in, 1);
    assert_int_equal(f->c.out_bytes, 100);
    assert_int_equal(f->c.in_bytes, 50);
    assert_ptr_equal(f->c.bufs[0].p, sim_hva(&f->s, a));
    char tmp[100];
    assert_int_equal(vq_chain_read(&f->c, 10, tmp, 200), 90);
    assert_int_equal(tmp[0], 'x');
    assert_int_equal(vq_chain_write(&f->c, 40, "hello world", 11), 10);
    assert_memory_equal(sim_hva(&f->s, b + 40), "hello worl", 10);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 0);
    vq_push(&f->q, 3, 50);
    uint32_t id, len;
    assert_int_equal(sim_take_used(&f->s, &f->sq, &id, &len), 1);
    assert_int_equal(id, 3);
    assert_int_equal(len, 50);
    assert_false(f->q.broken);
}

static void expect_broken(struct fx *f)
{
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), BURROW_ERR_GUEST);
    assert_true(f->q.broken);
    /* A broken queue stays broken: nothing else is consumed. */
    uint16_t before = f->q.last_avail;
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), BURROW_ERR_GUEST);
    assert_int_equal(f->q.last_avail, before);
    assert_false(vq_has_avail(&f->q));
}

static void test_avail_index_jump(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 0, sim_alloc(&f->s, 8), 8, 0, 0);
    sim_set_avail_idx(&f->s, &f->sq, 17); /* ring size 16 */
    expect_broken(f);
}

static void test_avail_index_full_ring_ok(void **state)
{
    struct fx *f = *state;
    uint64_t buf = sim_alloc(&f->s, 8);
    for (unsigned i = 0; i < 16; i++) {
        sim_desc(&f->s, f->sq.desc, i, buf, 8, 0, 0);
        sim_avail(&f->s, &f->sq, (uint16_t)i);
    }
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 0);
}

static void test_head_out_of_range(void **state)
{
    struct fx *f = *state;
    sim_avail(&f->s, &f->sq, 16);
    expect_broken(f);
}

static void test_next_out_of_range(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 0, sim_alloc(&f->s, 8), 8, F_N, 16);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_loop_refused(void **state)
{
    struct fx *f = *state;
    uint64_t b = sim_alloc(&f->s, 8);
    sim_desc(&f->s, f->sq.desc, 0, b, 8, F_N, 1);
    sim_desc(&f->s, f->sq.desc, 1, b, 8, F_N, 2);
    sim_desc(&f->s, f->sq.desc, 2, b, 8, F_N, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_self_loop_refused(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 5, sim_alloc(&f->s, 8), 0, F_N, 5); /* zero-length too */
    sim_avail(&f->s, &f->sq, 5);
    expect_broken(f);
}

static void test_buffer_outside_memory(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 0, SIM_BASE + SIM_SIZE - 4, 8, 0, 0); /* straddles the end */
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_huge_buffer(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 0, SIM_DATA, UINT32_MAX, 0, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_wrapping_address(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 0, UINT64_MAX - 3, 16, 0, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_zero_length_skipped(void **state)
{
    struct fx *f = *state;
    /* A zero-length descriptor's address is never dereferenced, even if bogus. */
    sim_desc(&f->s, f->sq.desc, 0, 0xdead0000, 0, F_N, 1);
    sim_desc(&f->s, f->sq.desc, 1, sim_alloc(&f->s, 4), 4, F_W, 0);
    sim_avail(&f->s, &f->sq, 0);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    assert_int_equal(f->c.nr_out, 0);
    assert_int_equal(f->c.nr_in, 1);
}

static void test_readable_after_writable(void **state)
{
    struct fx *f = *state;
    uint64_t b = sim_alloc(&f->s, 8);
    sim_desc(&f->s, f->sq.desc, 0, b, 8, F_W | F_N, 1);
    sim_desc(&f->s, f->sq.desc, 1, b, 8, 0, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

/* Indirect table at gpa `t` with n entries chained 0->1->..->n-1. */
static uint64_t make_indirect(struct fx *f, unsigned n)
{
    uint64_t t = sim_alloc(&f->s, 16 * n), b = sim_alloc(&f->s, 8);
    for (unsigned i = 0; i < n; i++)
        sim_desc(&f->s, t, i, b, 8, i + 1 < n ? F_N : 0, (uint16_t)(i + 1));
    return t;
}

static void test_indirect_ok(void **state)
{
    struct fx *f = *state;
    uint64_t t = make_indirect(f, 4);
    sim_desc(&f->s, f->sq.desc, 2, t, 64, F_I, 0);
    sim_avail(&f->s, &f->sq, 2);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    assert_int_equal(f->c.head, 2);
    assert_int_equal(f->c.nr_out, 4);
    assert_int_equal(f->c.out_bytes, 32);
}

static void test_indirect_without_feature(void **state)
{
    struct fx *f = *state;
    f->q.indirect = false;
    sim_desc(&f->s, f->sq.desc, 0, make_indirect(f, 2), 32, F_I, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_indirect_bad_length(void **state)
{
    struct fx *f = *state;
    uint32_t lens[] = {0, 24, 16 * (VQ_SIZE_MAX + 1)};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(setup((void **)&f), 0);
        sim_desc(&f->s, f->sq.desc, 0, make_indirect(f, 2), lens[i], F_I, 0);
        sim_avail(&f->s, &f->sq, 0);
        expect_broken(f);
        teardown((void **)&f);
    }
    /* the fixture's own f is untouched */
}

static void test_indirect_nested(void **state)
{
    struct fx *f = *state;
    uint64_t inner = make_indirect(f, 2), outer = sim_alloc(&f->s, 16);
    sim_desc(&f->s, outer, 0, inner, 32, F_I, 0);
    sim_desc(&f->s, f->sq.desc, 0, outer, 16, F_I, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_indirect_with_next(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 0, make_indirect(f, 2), 32, F_I | F_N, 1);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_indirect_outside_memory(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->sq.desc, 0, SIM_BASE + SIM_SIZE - 16, 32, F_I, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_indirect_loop_and_next(void **state)
{
    struct fx *f = *state;
    uint64_t t = make_indirect(f, 3);
    sim_desc(&f->s, t, 2, sim_alloc(&f->s, 8), 8, F_N, 0); /* loops back to 0 */
    sim_desc(&f->s, f->sq.desc, 0, t, 48, F_I, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);

    assert_int_equal(setup((void **)&f), 0);
    t = make_indirect(f, 3);
    sim_desc(&f->s, t, 2, sim_alloc(&f->s, 8), 8, F_N, 3); /* next beyond the table */
    sim_desc(&f->s, f->sq.desc, 0, t, 48, F_I, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
    teardown((void **)&f);
}

static void test_overlong_chain(void **state)
{
    struct fx *f = *state;
    /* An indirect table lets a chain exceed VQ_MAX_IOV buffers without a loop. */
    uint64_t t = make_indirect(f, VQ_MAX_IOV + 1);
    sim_desc(&f->s, f->sq.desc, 0, t, 16 * (VQ_MAX_IOV + 1), F_I, 0);
    sim_avail(&f->s, &f->sq, 0);
    expect_broken(f);
}

static void test_max_chain_accepted(void **state)
{
    struct fx *f = *state;
    uint64_t t = make_indirect(f, VQ_MAX_IOV);
    sim_desc(&f->s, f->sq.desc, 0, t, 16 * VQ_MAX_IOV, F_I, 0);
    sim_avail(&f->s, &f->sq, 0);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    assert_int_equal(f->c.nr_out, VQ_MAX_IOV);
}

static void test_event_idx_suppression(void **state)
{
    struct fx *f = *state;
    f->q.event_idx = true;
    uint64_t b = sim_alloc(&f->s, 8);
    for (unsigned i = 0; i < 4; i++) {
        sim_desc(&f->s, f->sq.desc, i, b, 8, F_W, 0);
        sim_avail(&f->s, &f->sq, (uint16_t)i);
    }
    sim_used_event(&f->s, &f->sq, 2); /* interrupt me when used idx passes 2 */
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    vq_push(&f->q, f->c.head, 0);
    assert_true(vq_should_signal(&f->q)); /* first signal always goes out */
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    vq_push(&f->q, f->c.head, 0); /* used idx 2: event 2 not yet passed */
    assert_false(vq_should_signal(&f->q));
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    vq_push(&f->q, f->c.head, 0); /* used idx 3: passed event 2 */
    assert_true(vq_should_signal(&f->q));
    /* enable_notify publishes avail_event = last_avail and reports pending work */
    assert_true(vq_enable_notify(&f->q));
    uint16_t ev;
    memcpy(&ev, sim_hva(&f->s, f->sq.used + 4 + 8 * 16), 2);
    assert_int_equal(ev, 3);
}

static void test_no_interrupt_flag(void **state)
{
    struct fx *f = *state;
    uint16_t flags = VRING_AVAIL_F_NO_INTERRUPT;
    memcpy(sim_hva(&f->s, f->sq.avail), &flags, 2);
    vq_push(&f->q, 0, 0);
    assert_false(vq_should_signal(&f->q));
    flags = 0;
    memcpy(sim_hva(&f->s, f->sq.avail), &flags, 2);
    assert_true(vq_should_signal(&f->q));
}

static void test_not_ready_pops_nothing(void **state)
{
    struct fx *f = *state;
    f->q.ready = false;
    sim_desc(&f->s, f->sq.desc, 0, sim_alloc(&f->s, 8), 8, 0, 0);
    sim_avail(&f->s, &f->sq, 0);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 0);
    assert_false(vq_has_avail(&f->q));
}

static void test_chain_iov(void **state)
{
    struct fx *f = *state;
    uint64_t a = sim_alloc(&f->s, 10), b = sim_alloc(&f->s, 20), c = sim_alloc(&f->s, 30);
    sim_desc(&f->s, f->sq.desc, 0, a, 10, F_N, 1);
    sim_desc(&f->s, f->sq.desc, 1, b, 20, F_N | F_W, 2);
    sim_desc(&f->s, f->sq.desc, 2, c, 30, F_W, 0);
    sim_avail(&f->s, &f->sq, 0);
    assert_int_equal(vq_pop(&f->q, &f->s.mem, &f->c), 1);
    struct iovec iov[4];
    assert_int_equal(vq_chain_iov(&f->c, true, 5, 40, iov, 4), 2);
    assert_ptr_equal(iov[0].iov_base, sim_hva(&f->s, b + 5));
    assert_int_equal(iov[0].iov_len, 15);
    assert_int_equal(iov[1].iov_len, 25);
    assert_int_equal(vq_chain_iov(&f->c, false, 0, 100, iov, 4), 1);
    assert_int_equal(iov[0].iov_len, 10);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_validate_rejects_bad_rings),
        T(test_pop_push_roundtrip),
        T(test_avail_index_jump),
        T(test_avail_index_full_ring_ok),
        T(test_head_out_of_range),
        T(test_next_out_of_range),
        T(test_loop_refused),
        T(test_self_loop_refused),
        T(test_buffer_outside_memory),
        T(test_huge_buffer),
        T(test_wrapping_address),
        T(test_zero_length_skipped),
        T(test_readable_after_writable),
        T(test_indirect_ok),
        T(test_indirect_without_feature),
        T(test_indirect_bad_length),
        T(test_indirect_nested),
        T(test_indirect_with_next),
        T(test_indirect_outside_memory),
        T(test_indirect_loop_and_next),
        T(test_overlong_chain),
        T(test_max_chain_accepted),
        T(test_event_idx_suppression),
        T(test_no_interrupt_flag),
        T(test_not_ready_pops_nothing),
        T(test_chain_iov),
    };
    return cmocka_run_group_tests_name("vmm/virtio/queue", tests, NULL, NULL);
}
