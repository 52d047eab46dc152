/*
 * tests/testguest/virtio.c - virtio-mmio v2 register access and split-ring
 * helpers for the test guest's polled drivers (see virtio.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/testguest/agent.h"
#include "tests/testguest/cpu.h"
#include "tests/testguest/virtio.h"

#define IOAPIC 0xfec00000ul

enum {
    R_MAGIC = 0x00,
    R_DEVICE_ID = 0x08,
    R_DRV_FEATURES = 0x20,
    R_DRV_FEATURES_SEL = 0x24,
    R_QUEUE_SEL = 0x30,
    R_QUEUE_NUM_MAX = 0x34,
    R_QUEUE_NUM = 0x38,
    R_QUEUE_READY = 0x44,
    R_QUEUE_NOTIFY = 0x50,
    R_STATUS = 0x70,
    R_DESC_LO = 0x80,
    R_AVAIL_LO = 0x90,
    R_USED_LO = 0xa0,
    R_CONFIG = 0x100,
};
enum { S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8, S_NEEDS_RESET = 0x40 };

static uint32_t rd(const struct tg_vdev *d, uint32_t off)
{
    return d->regs[off / 4];
}
static void wr(const struct tg_vdev *d, uint32_t off, uint32_t v)
{
    d->regs[off / 4] = v;
}
static void wr64(const struct tg_vdev *d, uint32_t off, const volatile void *p)
{
    uint64_t a = (uint64_t)(uintptr_t)p;
    wr(d, off, (uint32_t)a);
    wr(d, off + 4, (uint32_t)(a >> 32));
}

int tg_vdev_find(uint32_t device_id, struct tg_vdev *d)
{
    for (unsigned i = 0; i < TG_VIRTIO_SLOTS; i++) {
        volatile uint32_t *p = (volatile uint32_t *)(TG_VIRTIO_BASE + i * 0x1000ul);
        if (p[R_MAGIC / 4] == 0x74726976u && p[R_DEVICE_ID / 4] == device_id) {
            d->regs = p;
            d->slot = i;
            return 1;
        }
    }
    return 0;
}

void tg_vdev_start(struct tg_vdev *d, uint32_t features_lo)
{
    wr(d, R_STATUS, 0);
    wr(d, R_STATUS, S_ACK);
    wr(d, R_STATUS, S_ACK | S_DRIVER);
    wr(d, R_DRV_FEATURES_SEL, 1), wr(d, R_DRV_FEATURES, 1); /* VERSION_1 (bit 32) */
    wr(d, R_DRV_FEATURES_SEL, 0), wr(d, R_DRV_FEATURES, features_lo);
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    if (!(rd(d, R_STATUS) & S_FEATURES_OK))
        tg_fail("virtio device refused our features");
}

void tg_vq_setup(struct tg_vdev *d, unsigned q, struct tg_vq *r, uint16_t size)
{
    memset(r, 0, sizeof(*r));
    r->size = size;
    wr(d, R_QUEUE_SEL, q);
    if (size > TGQ_MAX || rd(d, R_QUEUE_NUM_MAX) < size)
        tg_fail("virtqueue too small");
    wr(d, R_QUEUE_NUM, size);
    wr64(d, R_DESC_LO, r->desc);
    wr64(d, R_AVAIL_LO, &r->avail);
    wr64(d, R_USED_LO, &r->used);
    wr(d, R_QUEUE_READY, 1);
}

void tg_vdev_ready(struct tg_vdev *d)
{
    wr(d, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    if (rd(d, R_STATUS) & S_NEEDS_RESET)
        tg_fail("virtio device needs reset after DRIVER_OK");
}

uint32_t tg_vdev_cfg32(const struct tg_vdev *d, uint32_t off)
{
    return rd(d, R_CONFIG + off);
}

void tg_vdev_cfg_write32(const struct tg_vdev *d, uint32_t off, uint32_t v)
{
    wr(d, R_CONFIG + off, v);
}

void tg_vdev_route_irq(const struct tg_vdev *d, unsigned vector)
{
    volatile uint32_t *sel = (volatile uint32_t *)IOAPIC,
                      *win = (volatile uint32_t *)(IOAPIC + 0x10);
    unsigned gsi = 16 + d->slot;
    *sel = 0x10 + 2 * gsi + 1;
    *win = 0;
    *sel = 0x10 + 2 * gsi;
    *win = vector;
}

void tg_vq_add(struct tg_vq *r, uint16_t head, const struct tg_vbuf *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint16_t id = (uint16_t)(head + i);
        r->desc[id] = (struct tg_vdesc){(uint64_t)(uintptr_t)b[i].p, b[i].len,
                                        (uint16_t)((b[i].writable ? 2 : 0) | (i + 1 < n ? 1 : 0)),
                                        (uint16_t)(id + 1)};
    }
    r->avail.ring[r->avail.idx % r->size] = head;
    barrier(); /* descriptors before the index that publishes them */
    r->avail.idx++;
    barrier();
}

void tg_vq_kick(const struct tg_vdev *d, unsigned q)
{
    wr(d, R_QUEUE_NOTIFY, q);
}

int tg_vq_pending(const struct tg_vq *r)
{
    return *(const volatile uint16_t *)&r->used.idx != r->last_used;
}

int tg_vq_used(struct tg_vq *r, uint32_t *id, uint32_t *len)
{
    if (!tg_vq_pending(r))
        return 0;
    barrier(); /* the entry after the index that published it */
    uint16_t slot = r->last_used % r->size;
    *id = r->used.ring[slot].id;
    *len = r->used.ring[slot].len;
    r->last_used++;
    if (*id >= r->size)
        tg_fail("virtio: device returned a bad used id");
    return 1;
}

void tg_vq_wait(const struct tg_vdev *d, struct tg_vq *r, uint32_t *id, uint32_t *len,
                const char *what)
{
    uint64_t t0 = rdtsc(), checked = t0;
    while (!tg_vq_used(r, id, len)) {
        uint64_t t = rdtsc();
        if (t - checked > 100000000ull) { /* a register read is an exit: now and then only */
            checked = t;
            if (t - t0 > 20000000000ull || (rd(d, R_STATUS) & S_NEEDS_RESET))
                tg_fail(what);
        }
        __asm__ volatile("pause");
    }
}

void tg_vq_irq(struct tg_vq *r, int on)
{
    *(volatile uint16_t *)&r->avail.flags = on ? 0 : 1; /* VRING_AVAIL_F_NO_INTERRUPT */
    barrier();
}
