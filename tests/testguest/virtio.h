/*
 * tests/testguest/virtio.h - the test guest's virtio-mmio v2 helpers
 * (VERSION_1 only, split rings, no indirect descriptors, no event-idx),
 * shared by every driver: agent_vq.c (vsock for the agent), vsock_mode.c,
 * dev_modes.c (blk, rng), balloon.c. Everything is polled at CPL3; interrupts only
 * wake an idle vCPU (tg_vq_irq + TG_PRIV_IDLE_IRQS).
 */
#ifndef BURROW_TESTS_TESTGUEST_VIRTIO_H
#define BURROW_TESTS_TESTGUEST_VIRTIO_H

#include <stdint.h>

#define TG_VIRTIO_BASE  0xd0000000ul
#define TG_VIRTIO_SLOTS 8
#define TGQ_MAX         256 /* largest ring a struct tg_vq holds */

enum {
    TG_VIRTIO_ID_BLK = 2,
    TG_VIRTIO_ID_RNG = 4,
    TG_VIRTIO_ID_BALLOON = 5,
    TG_VIRTIO_ID_VSOCK = 19
};

struct tg_vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

/* One split ring, laid out so the device can use it in place. */
struct tg_vq {
    struct tg_vdesc desc[TGQ_MAX];
    struct {
        uint16_t flags, idx, ring[TGQ_MAX], used_event;
    } avail __attribute__((aligned(8)));
    struct {
        uint16_t flags, idx;
        struct {
            uint32_t id, len;
        } ring[TGQ_MAX];
        uint16_t avail_event;
    } used __attribute__((aligned(8)));
    uint16_t size, last_used;
} __attribute__((aligned(4096)));

struct tg_vdev {
    volatile uint32_t *regs;
    unsigned slot; /* its GSI is 16 + slot */
};

/* One buffer of a chain. */
struct tg_vbuf {
    void *p;
    uint32_t len;
    int writable;
};

/* The first device with this id; 0 if there is none. */
int tg_vdev_find(uint32_t device_id, struct tg_vdev *d);
/* Reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 is added), FEATURES_OK; fails the guest if
 * refused. */
void tg_vdev_start(struct tg_vdev *d, uint32_t features_lo);
/* Set queue q up on r with size entries (before tg_vdev_ready). */
void tg_vq_setup(struct tg_vdev *d, unsigned q, struct tg_vq *r, uint16_t size);
void tg_vdev_ready(struct tg_vdev *d); /* DRIVER_OK */
uint32_t tg_vdev_cfg32(const struct tg_vdev *d, uint32_t off);
void tg_vdev_cfg_write32(const struct tg_vdev *d, uint32_t off, uint32_t v);
/* Route the device's GSI to vector on APIC 0 (edge, active high). */
void tg_vdev_route_irq(const struct tg_vdev *d, unsigned vector);

/* Publish a chain on descriptors head..head+n-1 (the caller owns those ids). */
void tg_vq_add(struct tg_vq *r, uint16_t head, const struct tg_vbuf *b, unsigned n);
void tg_vq_kick(const struct tg_vdev *d, unsigned q);
/* The next used entry, or 0. */
int tg_vq_used(struct tg_vq *r, uint32_t *id, uint32_t *len);
/* Spin for the next used entry; fails the guest (naming what) after ~10 s or a NEEDS_RESET. */
void tg_vq_wait(const struct tg_vdev *d, struct tg_vq *r, uint32_t *id, uint32_t *len,
                const char *what);
/* Interrupts for this queue's used updates on (1) or suppressed (0). */
void tg_vq_irq(struct tg_vq *r, int on);
/* 1 while the device's used index is ahead of what we consumed. */
int tg_vq_pending(const struct tg_vq *r);

#endif /* BURROW_TESTS_TESTGUEST_VIRTIO_H */
