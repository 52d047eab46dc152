/* tests/unit/vmm/virtio/test_mmio.c - the virtio-mmio register file enforces the driver protocol.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/mmio.h"

#define FAKE_FEATURE 3 /* a device feature bit the fake offers */

struct fake {
    int activations, resets, notifies;
    unsigned last_notify;
    uint64_t features;
    uint8_t config[8];
    int fail_activate;
};

static uint64_t fake_features(void *dev)
{
    (void)dev;
    return VIRTIO_BIT(FAKE_FEATURE) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
}

static void fake_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct fake *f = dev;
    virtio_config_copy(data, f->config, sizeof(f->config), off, len);
}

static void fake_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
    struct fake *f = dev;
    memcpy(f->config + off, data, len);
}

static int fake_activate(void *dev, const struct virtio_activation *a)
{
    struct fake *f = dev;
    f->features = a->features;
    if (f->fail_activate)
        return BURROW_ERR_INVALID;
    f->activations++;
    return 0;
}

static void fake_notify(void *dev, unsigned q)
{
    struct fake *f = dev;
    f->notifies++;
    f->last_notify = q;
}

static void fake_reset(void *dev)
{
    ((struct fake *)dev)->resets++;
}

static const struct virtio_dev_ops fake_ops = {
    .name = "fake",
    .device_id = 42,
    .nr_queues = 2,
    .queue_max = 64,
    .config_size = 8,
    .features = fake_features,
    .config_read = fake_config_read,
    .config_write = fake_config_write,
    .activate = fake_activate,
    .notify = fake_notify,
    .reset = fake_reset,
};

struct fx {
    struct sim s;
    struct virtio_mmio m;
    struct fake dev;
    struct simq q[2];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    sim_init(&f->s);
    if (virtio_mmio_init(&f->m, &fake_ops, &f->s.mem, sim_irq, &f->s))
        return -1;
    virtio_mmio_attach_dev(&f->m, &f->dev);
    simq_layout(&f->q[0], 0, 64);
    simq_layout(&f->q[1], 1, 16);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_mmio_destroy(&f->m);
    sim_free(&f->s);
    free(f);
    return 0;
}

static const uint32_t ST_AD = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
static const uint32_t ST_FOK =
    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

static void test_identity(void **state)
{
    struct fx *f = *state;
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_VERSION), 2);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_DEVICE_ID), 42);
    uint64_t feats = mmio_features(&f->m);
    assert_true(feats & VIRTIO_BIT(VIRTIO_F_VERSION_1));
    assert_true(feats & VIRTIO_BIT(FAKE_FEATURE));
    mmio_wr(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_DEVICE_FEATURES), 0);
}

static void test_full_bring_up(void **state)
{
    struct fx *f = *state;
    uint32_t st = mmio_bring_up(&f->m, f->q, 2, 0);
    assert_int_equal(st, ST_FOK | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(f->dev.activations, 1);
    assert_true(f->dev.features & VIRTIO_BIT(FAKE_FEATURE));
    assert_true(f->m.vqs[0].ready && f->m.vqs[1].ready);
    assert_true(f->m.vqs[0].event_idx);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    assert_int_equal(f->dev.notifies, 1);
    assert_int_equal(f->dev.last_notify, 1);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 2); /* no such queue */
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
    assert_int_equal(f->dev.notifies, 1);
}

static void negotiate(struct fx *f, uint64_t acked)
{
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_AD);
    mmio_ack_features(&f->m, acked);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_FOK);
}

static void test_unoffered_feature_refused(void **state)
{
    struct fx *f = *state;
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5));
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_STATUS), ST_AD); /* FEATURES_OK not taken */
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    negotiate(f, VIRTIO_BIT(FAKE_FEATURE)); /* legacy driver: no VERSION_1 */
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_STATUS), ST_AD);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    /* a bank we never offered */
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_AD);
    mmio_ack_features(&f->m, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    mmio_wr(&f->m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
    mmio_wr(&f->m, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_FOK);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_STATUS), ST_FOK);
    assert_int_equal(f->m.acked, VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void test_features_frozen_after_features_ok(void **state)
{
    struct fx *f = *state;
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    mmio_ack_features(&f->m, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(FAKE_FEATURE));
    assert_int_equal(f->m.acked, VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void test_status_order(void **state)
{
    struct fx *f = *state;
    /* DRIVER_OK without FEATURES_OK */
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_AD | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(f->dev.activations, 0);
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    /* clearing bits without a reset is ignored */
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_STATUS), ST_FOK);
    /* the driver cannot set NEEDS_RESET itself */
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_FOK | VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_STATUS), ST_FOK);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(f->dev.resets, 1);
    assert_int_equal(f->m.acked, 0);
}

static void test_bad_queue_sel(void **state)
{
    struct fx *f = *state;
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    uint32_t sels[] = {2, 8, 1000, 0xffffffff};
    for (unsigned i = 0; i < 4; i++) {
        mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_SEL, sels[i]);
        assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
        assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_QUEUE_READY), 0);
        mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NUM, 16);
        mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
        mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_READY, 1);
    }
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        assert_false(f->m.vqs[i].ready);
        assert_int_equal(f->m.vqs[i].desc_gpa, 0);
    }
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_SEL, 1);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
}

static void test_queue_regs_gated(void **state)
{
    struct fx *f = *state;
    /* before FEATURES_OK */
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_AD);
    mmio_setup_queue(&f->m, 0, &f->q[0]);
    assert_false(f->m.vqs[0].ready);
    assert_int_equal(f->m.vqs[0].desc_gpa, 0);
    /* after DRIVER_OK */
    assert_int_equal(mmio_bring_up(&f->m, f->q, 1, 0), ST_FOK | VIRTIO_STATUS_DRIVER_OK);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_SEL, 1);
    mmio_setup_queue(&f->m, 1, &f->q[1]);
    assert_false(f->m.vqs[1].ready);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_SEL, 0);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x5000);
    assert_int_equal(f->m.vqs[0].desc_gpa, f->q[0].desc);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_READY, 0);
    assert_true(f->m.vqs[0].ready);
}

static void expect_ready_refused(struct fx *f, const struct simq *q)
{
    unsigned irqs = f->s.irqs;
    uint32_t gen = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);
    mmio_setup_queue(&f->m, 0, q);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(f->s.irqs, irqs + 1);
    assert_int_not_equal(mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), gen);
    /* DRIVER_OK does not activate a device that needs a reset */
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, ST_FOK | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(f->dev.activations, 0);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    assert_false(mmio_rd(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_bad_rings_refused_at_ready(void **state)
{
    struct fx *f = *state;
    struct simq q;
    uint16_t bad_nums[] = {0, 3, 128};
    for (unsigned i = 0; i < 3; i++) {
        negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
        q = f->q[0];
        q.num = bad_nums[i];
        expect_ready_refused(f, &q);
    }
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    q = f->q[0];
    q.desc += 4; /* unaligned */
    expect_ready_refused(f, &q);
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    q = f->q[0];
    q.used = SIM_BASE + SIM_SIZE - 64; /* runs off guest RAM */
    expect_ready_refused(f, &q);
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    q = f->q[0];
    q.avail = 0xfffffffffffff000ull;
    expect_ready_refused(f, &q);
}

static void test_queue_size_change(void **state)
{
    struct fx *f = *state;
    negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
    struct simq q = f->q[0];
    q.num = 32;
    mmio_setup_queue(&f->m, 0, &q);
    assert_int_equal(f->m.vqs[0].num, 32);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NUM, 8); /* ready queue: refused */
    assert_int_equal(f->m.vqs[0].num, 32);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_READY, 0); /* disable, resize, re-enable */
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NUM, 8);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_QUEUE_READY), 1);
    assert_int_equal(f->m.vqs[0].num, 8);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NUM, 0x10010); /* > 16 bits */
    assert_int_equal(f->m.vqs[0].num, 8);
}

static void test_config_space(void **state)
{
    struct fx *f = *state;
    memcpy(f->dev.config, "ABCDEFGH", 8);
    uint8_t b[8];
    virtio_mmio_io(&f->m, VIRTIO_MMIO_CONFIG + 2, b, 2, 0);
    assert_memory_equal(b, "CD", 2);
    memset(b, 0x77, sizeof(b));
    virtio_mmio_io(&f->m, VIRTIO_MMIO_CONFIG + 6, b, 4, 0); /* crosses the end */
    assert_memory_equal(b, "\0\0\0\0", 4);
    virtio_mmio_io(&f->m, VIRTIO_MMIO_SIZE - 2, b, 4, 0); /* crosses the slot */
    virtio_mmio_io(&f->m, VIRTIO_MMIO_CONFIG, (uint8_t *)"xy", 2, 1);
    assert_memory_equal(f->dev.config, "xyCDEFGH", 8);
    virtio_mmio_io(&f->m, VIRTIO_MMIO_CONFIG + 7, (uint8_t *)"zz", 2, 1); /* refused */
    assert_int_equal(f->dev.config[7], 'H');
    /* registers are 32-bit only */
    uint16_t v = 0xffff;
    virtio_mmio_io(&f->m, VIRTIO_MMIO_MAGIC_VALUE, (uint8_t *)&v, 2, 0);
    assert_int_equal(v, 0);
}

static void test_interrupt_status_and_ack(void **state)
{
    struct fx *f = *state;
    mmio_bring_up(&f->m, f->q, 2, 0);
    f->m.transport.signal_queue(f->m.transport.ctx, 0);
    f->m.transport.signal_config(f->m.transport.ctx);
    assert_int_equal(f->s.irqs, 2);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
    mmio_wr(&f->m, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), 1);
}

static void test_activation_failure_needs_reset(void **state)
{
    struct fx *f = *state;
    f->dev.fail_activate = 1;
    uint32_t st = mmio_bring_up(&f->m, f->q, 2, 0);
    assert_true(st & VIRTIO_STATUS_NEEDS_RESET);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(f->dev.notifies, 0);
}

static void test_save_restore(void **state)
{
    struct fx *f = *state;
    mmio_bring_up(&f->m, f->q, 2, VIRTIO_BIT(FAKE_FEATURE));
    f->m.vqs[0].last_avail = 5;
    f->m.vqs[0].used_idx = 4;
    struct buf *b = buf_new(1 << 16);
    assert_int_equal(virtio_mmio_save(&f->m, b), 0);

    struct virtio_mmio m2;
    struct fake d2 = {0};
    assert_int_equal(virtio_mmio_init(&m2, &fake_ops, &f->s.mem, sim_irq, &f->s), 0);
    virtio_mmio_attach_dev(&m2, &d2);
    assert_int_equal(virtio_mmio_restore(&m2, b), 0);
    assert_int_equal(mmio_rd(&m2, VIRTIO_MMIO_STATUS), ST_FOK | VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(m2.acked, f->m.acked);
    assert_int_equal(m2.vqs[0].last_avail, 5);
    assert_int_equal(m2.vqs[0].used_idx, 4);
    assert_true(m2.vqs[1].ready);
    assert_int_equal(d2.activations, 1);
    assert_int_equal(d2.notifies, 2); /* every queue looked at once after restore */

    /* A tampered image (ring moved outside RAM) is refused and leaves the slot reset. */
    struct buf in;
    uint8_t *copy = malloc(buf_used(b));
    memcpy(copy, buf_data(b), buf_used(b));
    size_t q0 = 4 * 8 + 8 + 4 + 1 + 4; /* header fields before queue 0 */
    uint64_t bad = 0xf0000000;
    uint64_t was;
    memcpy(&was, copy + q0 + 2 + 1, 8);
    assert_int_equal(was, f->q[0].desc); /* the offset really is queue 0's desc_gpa */
    memcpy(copy + q0 + 2 + 1, &bad, 8);
    buf_init_reader(&in, copy, buf_used(b));
    assert_int_not_equal(virtio_mmio_restore(&m2, &in), 0);
    assert_int_equal(mmio_rd(&m2, VIRTIO_MMIO_STATUS), 0);
    /* Truncated image */
    buf_init_reader(&in, copy, 20);
    assert_int_not_equal(virtio_mmio_restore(&m2, &in), 0);
    free(copy);
    buf_free(b);
    virtio_mmio_destroy(&m2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_identity),
        T(test_full_bring_up),
        T(test_unoffered_feature_refused),
        T(test_features_frozen_after_features_ok),
        T(test_status_order),
        T(test_bad_queue_sel),
        T(test_queue_regs_gated),
        T(test_bad_rings_refused_at_ready),
        T(test_queue_size_change),
        T(test_config_space),
        T(test_interrupt_status_and_ack),
        T(test_activation_failure_needs_reset),
        T(test_save_restore),
    };
    return cmocka_run_group_tests_name("vmm/virtio/mmio", tests, NULL, NULL);
}
