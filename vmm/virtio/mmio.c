/* vmm/virtio/mmio.c - virtio-mmio v2 register file (see mmio.h). */
#include "vmm/virtio/mmio.h"

#include <string.h>

#include "common/err.h"
#include "common/log.h"

#define SAVE_MAGIC   0x4f494d56u /* "VMIO" */
#define SAVE_VERSION 1u

static struct log_ratelimit mmio_rl;

static void guest_warn(struct virtio_mmio *m, const char *what, uint64_t v)
{
    if (log_ratelimit_ok(&mmio_rl, 20, 60))
        log_warn("virtio-mmio %s: guest %s (0x%llx)", m->ops->name, what, (unsigned long long)v);
}

static uint32_t status_load(const struct virtio_mmio *m)
{
    return __atomic_load_n(&m->status, __ATOMIC_ACQUIRE);
}

static void raise_irq(struct virtio_mmio *m, uint32_t bits)
{
    __atomic_fetch_or(&m->isr, bits, __ATOMIC_SEQ_CST);
    if (m->irq)
        m->irq(m->irq_ctx);
}

static void tr_signal_queue(void *ctx, unsigned q)
{
    (void)q; /* one interrupt line per slot: the ISR bit says "some queue" */
    raise_irq(ctx, VIRTIO_MMIO_INT_VRING);
}

static void tr_signal_config(void *ctx)
{
    struct virtio_mmio *m = ctx;
    /* Bump before the interrupt so the driver's re-read sees a new generation. */
    __atomic_fetch_add(&m->config_gen, 1, __ATOMIC_SEQ_CST);
    raise_irq(m, VIRTIO_MMIO_INT_CONFIG);
}

static void tr_needs_reset(void *ctx)
{
    struct virtio_mmio *m = ctx;
    uint32_t old = __atomic_fetch_or(&m->status, VIRTIO_STATUS_NEEDS_RESET, __ATOMIC_SEQ_CST);
    if (!(old & VIRTIO_STATUS_NEEDS_RESET)) {
        log_warn("virtio-mmio %s: device needs reset", m->ops->name);
        tr_signal_config(m);
    }
}

static void tr_requeue(void *ctx, unsigned q)
{
    struct virtio_mmio *m = ctx;
    if (m->requeue)
        m->requeue(m->requeue_ctx, q);
}

void virtio_mmio_set_requeue(struct virtio_mmio *m, void (*fn)(void *ctx, unsigned q), void *ctx)
{
    m->requeue = fn;
    m->requeue_ctx = ctx;
}

int virtio_mmio_init(struct virtio_mmio *m, const struct virtio_dev_ops *ops,
                     const struct gmem *mem, virtio_irq_fn irq, void *irq_ctx)
{
    if (!ops || !mem || ops->nr_queues == 0 || ops->nr_queues > VIRTIO_MAX_QUEUES ||
        ops->queue_max == 0 || ops->queue_max > VQ_SIZE_MAX ||
        (ops->queue_max & (ops->queue_max - 1)))
        return BURROW_ERR_INVALID;
    memset(m, 0, sizeof(*m));
    if (pthread_mutex_init(&m->lock, NULL))
        return BURROW_ERR_SYSTEM;
    m->ops = ops;
    m->mem = mem;
    m->irq = irq;
    m->irq_ctx = irq_ctx;
    m->transport = (struct virtio_transport){.ctx = m,
                                             .signal_queue = tr_signal_queue,
                                             .signal_config = tr_signal_config,
                                             .needs_reset = tr_needs_reset,
                                             .requeue = tr_requeue};
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        vq_init(&m->vqs[i], i < ops->nr_queues ? ops->queue_max : 0);
    return 0;
}

void virtio_mmio_attach_dev(struct virtio_mmio *m, void *dev)
{
    m->dev = dev;
    /* Features are fixed for the device's lifetime: the guest probes them once. */
    m->offered = m->ops->features(dev) | VIRTIO_BIT(VIRTIO_F_VERSION_1);
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
    pthread_mutex_destroy(&m->lock);
}

static void device_reset(struct virtio_mmio *m)
{
    if (m->dev && m->ops->reset)
        m->ops->reset(m->dev); /* the device stops touching the queues first */
    for (unsigned i = 0; i < m->ops->nr_queues; i++)
        vq_reset(&m->vqs[i]);
    m->acked = 0;
    m->dev_features_sel = m->drv_features_sel = 0;
    m->queue_sel = 0;
    __atomic_store_n(&m->active, false, __ATOMIC_RELEASE);
    __atomic_store_n(&m->isr, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&m->status, 0, __ATOMIC_SEQ_CST);
}

static struct vq *selected_queue(struct virtio_mmio *m)
{
    if (m->queue_sel >= m->ops->nr_queues)
        return NULL;
    return &m->vqs[m->queue_sel];
}

static int activate(struct virtio_mmio *m)
{
    struct virtio_activation act = {
        .mem = m->mem, .vqs = m->vqs, .nr_queues = m->ops->nr_queues, .features = m->acked};
    for (unsigned i = 0; i < m->ops->nr_queues; i++) {
        m->vqs[i].event_idx = m->acked & VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
        m->vqs[i].indirect = m->acked & VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC);
    }
    int r = m->ops->activate ? m->ops->activate(m->dev, &act) : 0;
    if (r)
        return r;
    __atomic_store_n(&m->active, true, __ATOMIC_RELEASE); /* read by virtio_mmio_notify */
    return 0;
}

static bool features_acceptable(const struct virtio_mmio *m)
{
    return (m->acked & ~m->offered) == 0 && (m->acked & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

/* Each step needs the one before it (virtio 1.2 §3.1.1); FAILED is always allowed. */
static void write_status(struct virtio_mmio *m, uint32_t v)
{
    if (v == 0) {
        device_reset(m);
        return;
    }
    uint32_t old = status_load(m);
    uint32_t keep = old & VIRTIO_STATUS_NEEDS_RESET; /* the device owns this bit */
    v &= ~VIRTIO_STATUS_NEEDS_RESET;
    old &= ~VIRTIO_STATUS_NEEDS_RESET;
    uint32_t added = v & ~old;
    if (old & ~v) {
        guest_warn(m, "cleared status bits without a reset", v);
        return;
    }
    if (((added & VIRTIO_STATUS_DRIVER) && !(v & VIRTIO_STATUS_ACKNOWLEDGE)) ||
        ((added & VIRTIO_STATUS_FEATURES_OK) && !(v & VIRTIO_STATUS_DRIVER)) ||
        ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK))) {
        guest_warn(m, "skipped a status step", v);
        return;
    }
    if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_acceptable(m)) {
        guest_warn(m, "acked features that were not offered or no VERSION_1", m->acked);
        v &= ~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
        added &= ~(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    }
    __atomic_fetch_or(&m->status, v | keep, __ATOMIC_SEQ_CST);
    if ((added & VIRTIO_STATUS_DRIVER_OK) && !(keep)) {
        int r = activate(m);
        if (r) {
            log_warn_r(r, "virtio-mmio %s: activation failed", m->ops->name);
            tr_needs_reset(m);
        }
    }
}

static bool queue_regs_writable(const struct virtio_mmio *m)
{
    uint32_t s = status_load(m);
    return (s & VIRTIO_STATUS_FEATURES_OK) && !(s & VIRTIO_STATUS_DRIVER_OK) &&
           !(s & VIRTIO_STATUS_FAILED);
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
    if (high)
        *v = (*v & 0xffffffffull) | ((uint64_t)val << 32);
    else
        *v = (*v & ~0xffffffffull) | val;
}

static void write_queue_ready(struct virtio_mmio *m, struct vq *q, uint32_t v)
{
    if (!v) {
        q->ready = false;
        q->desc = q->avail = q->used = NULL;
        return;
    }
    if (vq_validate(q, m->mem)) {
        guest_warn(m, "set QUEUE_READY on an invalid ring (size/alignment/range)", q->desc_gpa);
        q->ready = false;
        tr_needs_reset(m);
        return;
    }
    q->ready = true;
}

/* Queue registers; only between FEATURES_OK and DRIVER_OK, only for a valid queue_sel. */
static void write_queue_reg(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
    struct vq *q = selected_queue(m);
    if (!q) {
        guest_warn(m, "wrote a queue register with queue_sel out of range", m->queue_sel);
        return;
    }
    if (!queue_regs_writable(m)) {
        guest_warn(m, "wrote a queue register outside FEATURES_OK..DRIVER_OK", off);
        return;
    }
    if (q->ready && off != VIRTIO_MMIO_QUEUE_READY) {
        guest_warn(m, "changed a queue that is ready", off);
        return;
    }
    switch (off) {
    case VIRTIO_MMIO_QUEUE_NUM:
        q->num = (uint16_t)(v > 0xffff ? 0 : v); /* checked at QUEUE_READY */
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        write_queue_ready(m, q, v);
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        set_half(&q->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        set_half(&q->avail_gpa, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        set_half(&q->used_gpa, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
        break;
    }
}

static void write_driver_features(struct virtio_mmio *m, uint32_t v)
{
    uint32_t s = status_load(m);
    if (!(s & VIRTIO_STATUS_DRIVER) || (s & VIRTIO_STATUS_FEATURES_OK)) {
        guest_warn(m, "wrote driver features outside DRIVER..FEATURES_OK", v);
        return;
    }
    if (m->drv_features_sel > 1) {
        if (v)
            guest_warn(m, "acked features in a selector bank we never offered",
                       m->drv_features_sel);
        return;
    }
    set_half(&m->acked, m->drv_features_sel == 1, v);
}

/* Returns the queue to notify (outside the lock), or -1. */
static int reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        m->dev_features_sel = v;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        m->drv_features_sel = v;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        write_driver_features(m, v);
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        m->queue_sel = v; /* bounded at every use by selected_queue() */
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
    case VIRTIO_MMIO_QUEUE_READY:
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        write_queue_reg(m, off, v);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        if (v < m->ops->nr_queues && m->active)
            return (int)v;
        if (v >= m->ops->nr_queues)
            guest_warn(m, "notified a queue that does not exist", v);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        __atomic_fetch_and(&m->isr, ~v, __ATOMIC_SEQ_CST);
        break;
    case VIRTIO_MMIO_STATUS:
        write_status(m, v);
        break;
    case VIRTIO_MMIO_SHM_SEL:
        break;
    default:
        guest_warn(m, "wrote an unknown or read-only register", off);
        break;
    }
    return -1;
}

static uint32_t reg_read(struct virtio_mmio *m, uint64_t off)
{
    struct vq *q;
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION:
        return 2;
    case VIRTIO_MMIO_DEVICE_ID:
        return m->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        if (m->dev_features_sel > 1)
            return 0;
        return (uint32_t)(m->offered >> (32 * m->dev_features_sel));
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        q = selected_queue(m);
        return q ? q->num_max : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        q = selected_queue(m);
        return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return __atomic_load_n(&m->isr, __ATOMIC_SEQ_CST);
    case VIRTIO_MMIO_STATUS:
        return status_load(m);
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
        return 0xffffffffu; /* no shared memory regions */
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return __atomic_load_n(&m->config_gen, __ATOMIC_SEQ_CST);
    default:
        return 0;
    }
}

static void config_access(struct virtio_mmio *m, uint64_t off, uint8_t *data, uint32_t len,
                          int is_write)
{
    uint64_t coff = off - VIRTIO_MMIO_CONFIG;
    if (coff + len > m->ops->config_size || !m->dev) {
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    if (is_write) {
        if (m->ops->config_write)
            m->ops->config_write(m->dev, (uint32_t)coff, data, len);
    } else {
        m->ops->config_read(m->dev, (uint32_t)coff, data, len);
    }
}

void virtio_mmio_io(void *ctx, uint64_t offset, uint8_t *data, uint32_t len, int is_write)
{
    struct virtio_mmio *m = ctx;
    int notify = -1;
    if (len == 0 || len > 8 || offset >= VIRTIO_MMIO_SIZE || len > VIRTIO_MMIO_SIZE - offset) {
        if (!is_write)
            memset(data, 0, len > 8 ? 8 : len);
        return;
    }
    pthread_mutex_lock(&m->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        config_access(m, offset, data, len, is_write);
    } else if (len != 4 || (offset & 3)) {
        /* Registers are 32-bit only (virtio 1.2 §4.2.2.2). */
        guest_warn(m, "used a non-32-bit register access", offset);
        if (!is_write)
            memset(data, 0, len);
    } else if (is_write) {
        uint32_t v;
        memcpy(&v, data, 4);
        notify = reg_write(m, offset, v);
    } else {
        uint32_t v = reg_read(m, offset);
        memcpy(data, &v, 4);
    }
    pthread_mutex_unlock(&m->lock);
    /* Outside the register lock: the device may take its time and its own lock. */
    if (notify >= 0 && m->ops->notify)
        m->ops->notify(m->dev, (unsigned)notify);
}

void virtio_mmio_notify(struct virtio_mmio *m, unsigned q)
{
    if (q < m->ops->nr_queues && __atomic_load_n(&m->active, __ATOMIC_ACQUIRE) && m->ops->notify)
        m->ops->notify(m->dev, q);
}

static int save_queue(const struct vq *q, struct buf *out)
{
    int r;
    if ((r = buf_put_u16_le(out, q->num)) || (r = buf_put_u8(out, q->ready)) ||
        (r = buf_put_u64_le(out, q->desc_gpa)) || (r = buf_put_u64_le(out, q->avail_gpa)) ||
        (r = buf_put_u64_le(out, q->used_gpa)) || (r = buf_put_u16_le(out, q->last_avail)) ||
        (r = buf_put_u16_le(out, q->used_idx)) || (r = buf_put_u16_le(out, q->signalled_used)) ||
        (r = buf_put_u8(out, q->signalled_valid)) || (r = buf_put_u8(out, q->broken)))
        return r;
    return 0;
}

int virtio_mmio_save(struct virtio_mmio *m, struct buf *out)
{
    int r;
    pthread_mutex_lock(&m->lock);
    if ((r = buf_put_u32_le(out, SAVE_MAGIC)) || (r = buf_put_u32_le(out, SAVE_VERSION)) ||
        (r = buf_put_u32_le(out, m->ops->device_id)) || (r = buf_put_u32_le(out, status_load(m))) ||
        (r = buf_put_u32_le(out, __atomic_load_n(&m->isr, __ATOMIC_SEQ_CST))) ||
        (r = buf_put_u32_le(out, __atomic_load_n(&m->config_gen, __ATOMIC_SEQ_CST))) ||
        (r = buf_put_u32_le(out, m->dev_features_sel)) ||
        (r = buf_put_u32_le(out, m->drv_features_sel)) || (r = buf_put_u64_le(out, m->acked)) ||
        (r = buf_put_u32_le(out, m->queue_sel)) || (r = buf_put_u8(out, m->active)) ||
        (r = buf_put_u32_le(out, m->ops->nr_queues)))
        goto out;
    for (unsigned i = 0; i < m->ops->nr_queues; i++)
        if ((r = save_queue(&m->vqs[i], out)))
            goto out;
    /* Device state, length-prefixed so a reader can bound it. */
    size_t len_pos = buf_used(out);
    if ((r = buf_put_u32_le(out, 0)))
        goto out;
    if (m->ops->save && (r = m->ops->save(m->dev, out)))
        goto out;
    r = buf_poke_u32_le(out, len_pos, (uint32_t)(buf_used(out) - len_pos - 4));
out:
    pthread_mutex_unlock(&m->lock);
    return r;
}

static int restore_queue(struct virtio_mmio *m, struct vq *q, struct buf *in)
{
    uint8_t ready, sv, broken;
    int r;
    if ((r = buf_get_u16_le(in, &q->num)) || (r = buf_get_u8(in, &ready)) ||
        (r = buf_get_u64_le(in, &q->desc_gpa)) || (r = buf_get_u64_le(in, &q->avail_gpa)) ||
        (r = buf_get_u64_le(in, &q->used_gpa)) || (r = buf_get_u16_le(in, &q->last_avail)) ||
        (r = buf_get_u16_le(in, &q->used_idx)) || (r = buf_get_u16_le(in, &q->signalled_used)) ||
        (r = buf_get_u8(in, &sv)) || (r = buf_get_u8(in, &broken)))
        return r;
    q->signalled_valid = sv;
    q->ready = false;
    if (ready) {
        /* Re-checked exactly as if the guest had just set QUEUE_READY. */
        if (vq_validate(q, m->mem))
            return BURROW_ERR_FORMAT;
        q->ready = true;
    }
    q->broken = broken;
    return 0;
}

int virtio_mmio_restore(struct virtio_mmio *m, struct buf *in)
{
    uint32_t magic, ver, id, status, isr, gen, nq, dev_len;
    uint8_t active;
    int r;
    pthread_mutex_lock(&m->lock);
    device_reset(m);
    if ((r = buf_get_u32_le(in, &magic)) || (r = buf_get_u32_le(in, &ver)) ||
        (r = buf_get_u32_le(in, &id)) || (r = buf_get_u32_le(in, &status)) ||
        (r = buf_get_u32_le(in, &isr)) || (r = buf_get_u32_le(in, &gen)) ||
        (r = buf_get_u32_le(in, &m->dev_features_sel)) ||
        (r = buf_get_u32_le(in, &m->drv_features_sel)) || (r = buf_get_u64_le(in, &m->acked)) ||
        (r = buf_get_u32_le(in, &m->queue_sel)) || (r = buf_get_u8(in, &active)) ||
        (r = buf_get_u32_le(in, &nq)))
        goto fail;
    r = BURROW_ERR_FORMAT;
    if (magic != SAVE_MAGIC || ver != SAVE_VERSION || id != m->ops->device_id ||
        nq != m->ops->nr_queues || (m->acked & ~m->offered))
        goto fail;
    for (unsigned i = 0; i < nq; i++)
        if ((r = restore_queue(m, &m->vqs[i], in)))
            goto fail;
    if ((r = buf_get_u32_le(in, &dev_len)))
        goto fail;
    r = BURROW_ERR_FORMAT;
    if (dev_len > buf_len(in))
        goto fail;
    __atomic_store_n(&m->isr, isr & 3u, __ATOMIC_SEQ_CST);
    __atomic_store_n(&m->config_gen, gen, __ATOMIC_SEQ_CST);
    __atomic_store_n(&m->status, status, __ATOMIC_SEQ_CST);
    if (active && (status & VIRTIO_STATUS_DRIVER_OK) && (r = activate(m)))
        goto fail;
    struct buf dev;
    buf_init_reader(&dev, buf_ptr(in), dev_len);
    if (m->ops->restore && (r = m->ops->restore(m->dev, &dev)))
        goto fail;
    if ((r = buf_skip(in, dev_len)))
        goto fail;
    pthread_mutex_unlock(&m->lock);
    /* Kicks pending at snapshot time were lost with the ioeventfds: look at every queue once. */
    if (m->active)
        for (unsigned i = 0; i < nq; i++)
            virtio_mmio_notify(m, i);
    return 0;
fail:
    device_reset(m);
    pthread_mutex_unlock(&m->lock);
    return r;
}
