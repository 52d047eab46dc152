/*
 * tests/unit/vmm/virtio/sim_driver.h - a tiny simulated guest for the
 * virtio unit tests: guest RAM is a malloc'd region registered in a struct
 * gmem, and these helpers play the driver's side of the split ring and of
 * the virtio-mmio register protocol. Header-only (static inline) because only
 * the tests/lib sources are shared between test binaries.
 */
#ifndef BURROW_TESTS_UNIT_VMM_VIRTIO_SIM_DRIVER_H
#define BURROW_TESTS_UNIT_VMM_VIRTIO_SIM_DRIVER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/gmem.h"
#include "vmm/virtio/mmio.h"
#include "vmm/virtio/queue.h"

#define SIM_BASE 0x100000ull
#define SIM_SIZE (4u << 20)
#define SIM_DATA (SIM_BASE + (1u << 20)) /* buffers above the rings */

struct sim {
    struct gmem mem;
    uint8_t *ram;
    uint64_t next_data; /* bump allocator for buffers */
    unsigned irqs;      /* interrupts raised by the transport */
};

struct simq {
    uint16_t num;
    uint64_t desc, avail, used;
    uint16_t avail_idx;
    uint16_t used_seen;
};

/* Guest RAM the caller mapped (SIM_SIZE bytes at SIM_BASE; the caller unmaps it). */
static inline void sim_init_ram(struct sim *s, uint8_t *ram)
{
    memset(s, 0, sizeof(*s));
    s->ram = ram;
    gmem_init(&s->mem);
    if (!s->ram || gmem_add_region(&s->mem, SIM_BASE, s->ram, SIM_SIZE))
        abort();
    s->next_data = SIM_DATA;
}

static inline void sim_init(struct sim *s)
{
#ifdef SIM_REUSE_RAM /* fuzzers: one buffer for the whole run, cleared per input */
    static uint8_t *ram;
    if (!ram)
        ram = malloc(SIM_SIZE);
    if (ram)
        memset(ram, 0, SIM_SIZE);
    sim_init_ram(s, ram);
#else
    sim_init_ram(s, calloc(1, SIM_SIZE));
#endif
}

static inline void sim_free(struct sim *s)
{
#ifndef SIM_REUSE_RAM
    free(s->ram);
#endif
    s->ram = NULL;
}

static inline void *sim_hva(struct sim *s, uint64_t gpa)
{
    return s->ram + (gpa - SIM_BASE);
}

/* A guest buffer of len bytes (16-byte aligned), zeroed. */
static inline uint64_t sim_alloc(struct sim *s, uint32_t len)
{
    uint64_t g = s->next_data;
    s->next_data = (s->next_data + len + 15) & ~15ull;
    if (s->next_data > SIM_BASE + SIM_SIZE)
        abort();
    memset(sim_hva(s, g), 0, len);
    return g;
}

/* Lay out queue `idx` (0..7) at a fixed place below SIM_DATA. */
static inline void simq_layout(struct simq *q, unsigned idx, uint16_t num)
{
    memset(q, 0, sizeof(*q));
    uint64_t base = SIM_BASE + (uint64_t)idx * 0x20000;
    q->num = num;
    q->desc = base;
    q->avail = base + 16ull * num;
    q->used = (q->avail + 6 + 2ull * num + 4095) & ~4095ull;
}

static inline void simq_to_vq(const struct simq *sq, struct vq *q)
{
    q->num = sq->num;
    q->desc_gpa = sq->desc;
    q->avail_gpa = sq->avail;
    q->used_gpa = sq->used;
}

static inline void sim_desc(struct sim *s, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                            uint16_t flags, uint16_t next)
{
    uint8_t *d = sim_hva(s, table + 16ull * i);
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

static inline void sim_set_avail_idx(struct sim *s, struct simq *q, uint16_t idx)
{
    q->avail_idx = idx;
    memcpy(sim_hva(s, q->avail + 2), &idx, 2);
}

static inline void sim_avail(struct sim *s, struct simq *q, uint16_t head)
{
    memcpy(sim_hva(s, q->avail + 4 + 2ull * (q->avail_idx % q->num)), &head, 2);
    sim_set_avail_idx(s, q, (uint16_t)(q->avail_idx + 1));
}

static inline uint16_t sim_used_idx(struct sim *s, const struct simq *q)
{
    uint16_t v;
    memcpy(&v, sim_hva(s, q->used + 2), 2);
    return v;
}

/* Next used element the driver has not consumed; 0 if none. */
static inline int sim_take_used(struct sim *s, struct simq *q, uint32_t *id, uint32_t *len)
{
    if (sim_used_idx(s, q) == q->used_seen)
        return 0;
    uint8_t *e = sim_hva(s, q->used + 4 + 8ull * (q->used_seen % q->num));
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
    q->used_seen++;
    return 1;
}

static inline void sim_used_event(struct sim *s, const struct simq *q, uint16_t v)
{
    memcpy(sim_hva(s, q->avail + 4 + 2ull * q->num), &v, 2);
}

/* ---- virtio-mmio register helpers ---- */

static inline uint32_t mmio_rd(struct virtio_mmio *m, uint64_t off)
{
    uint32_t v = 0xdeadbeef;
    virtio_mmio_io(m, off, (uint8_t *)&v, 4, 0);
    return v;
}

static inline void mmio_wr(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
    virtio_mmio_io(m, off, (uint8_t *)&v, 4, 1);
}

static inline void sim_irq(void *ctx)
{
    ((struct sim *)ctx)->irqs++;
}

static inline uint64_t mmio_features(struct virtio_mmio *m)
{
    mmio_wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t lo = mmio_rd(m, VIRTIO_MMIO_DEVICE_FEATURES);
    mmio_wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    uint64_t hi = mmio_rd(m, VIRTIO_MMIO_DEVICE_FEATURES);
    return lo | hi << 32;
}

static inline void mmio_ack_features(struct virtio_mmio *m, uint64_t f)
{
    mmio_wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    mmio_wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
    mmio_wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    mmio_wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

static inline void mmio_setup_queue(struct virtio_mmio *m, unsigned idx, const struct simq *q)
{
    mmio_wr(m, VIRTIO_MMIO_QUEUE_SEL, idx);
    mmio_wr(m, VIRTIO_MMIO_QUEUE_NUM, q->num);
    mmio_wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc);
    mmio_wr(m, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc >> 32));
    mmio_wr(m, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)q->avail);
    mmio_wr(m, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(q->avail >> 32));
    mmio_wr(m, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)q->used);
    mmio_wr(m, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(q->used >> 32));
    mmio_wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
}

/*
 * The whole driver init sequence: reset, ACK, DRIVER, features (all offered
 * ones, minus `drop`), FEATURES_OK, queues, DRIVER_OK. Returns the status.
 */
static inline uint32_t mmio_bring_up(struct virtio_mmio *m, struct simq *qs, unsigned nq,
                                     uint64_t drop)
{
    mmio_wr(m, VIRTIO_MMIO_STATUS, 0);
    mmio_wr(m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    mmio_wr(m, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    mmio_ack_features(m, mmio_features(m) & ~drop);
    uint32_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    mmio_wr(m, VIRTIO_MMIO_STATUS, st);
    for (unsigned i = 0; i < nq; i++)
        mmio_setup_queue(m, i, &qs[i]);
    mmio_wr(m, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
    return mmio_rd(m, VIRTIO_MMIO_STATUS);
}

#endif /* BURROW_TESTS_UNIT_VMM_VIRTIO_SIM_DRIVER_H */
