/*
 * tests/testguest/agent_vq.c - the test guest's polled virtio-vsock driver
 * (virtio-mmio v2, VERSION_1 only): rx, tx and event queues of 16 entries,
 * one packet per descriptor. Interrupts are routed through the IOAPIC only
 * to wake an idle hlt; every queue is polled.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/testguest/agent.h"

#define VIRTIO_BASE 0xd0000000ul
#define IOAPIC      0xfec00000ul
#define QN          16
#define RXBUF       2048

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
struct vring {
    struct vdesc desc[QN];
    struct {
        uint16_t flags, idx, ring[QN], used_event;
    } avail __attribute__((aligned(8)));
    struct {
        uint16_t flags, idx;
        struct {
            uint32_t id, len;
        } ring[QN];
        uint16_t avail_event;
    } used __attribute__((aligned(8)));
    uint16_t last_used;
} __attribute__((aligned(4096)));

static struct vring rxq, txq, evq;
static uint8_t rxbuf[QN][RXBUF] __attribute__((aligned(64)));
static uint8_t txbuf[44 + RXBUF] __attribute__((aligned(64)));
static uint8_t evbuf[8];
static volatile uint32_t *vio;
uint64_t tgv_cid;

static uint32_t vr(uint32_t off)
{
    return vio[off / 4];
}
static void vw(uint32_t off, uint32_t v)
{
    vio[off / 4] = v;
}

static void vq_setup(unsigned q, struct vring *r)
{
    vw(0x30, q);
    if (vr(0x34) < QN)
        tg_fail("virtqueue too small");
    vw(0x38, QN);
    uint64_t d = (uint64_t)(uintptr_t)r->desc, a = (uint64_t)(uintptr_t)&r->avail,
             u = (uint64_t)(uintptr_t)&r->used;
    vw(0x80, (uint32_t)d), vw(0x84, (uint32_t)(d >> 32));
    vw(0x90, (uint32_t)a), vw(0x94, (uint32_t)(a >> 32));
    vw(0xa0, (uint32_t)u), vw(0xa4, (uint32_t)(u >> 32));
    vw(0x44, 1);
}

static void vq_give(struct vring *r, uint16_t id, void *buf, uint32_t len, int writable)
{
    r->desc[id] = (struct vdesc){(uint64_t)(uintptr_t)buf, len, (uint16_t)(writable ? 2 : 0), 0};
    r->avail.ring[r->avail.idx % QN] = id;
    barrier();
    r->avail.idx++;
    barrier();
}

static void rx_fill(void)
{
    for (uint16_t i = 0; i < QN; i++)
        vq_give(&rxq, i, rxbuf[i], RXBUF, 1);
    vw(0x50, 0);
}

/* Route a GSI to vector on APIC 0, edge, active high: wakes the idle hlt. */
static void ioapic_route(unsigned gsi, unsigned vector)
{
    volatile uint32_t *sel = (volatile uint32_t *)IOAPIC,
                      *win = (volatile uint32_t *)(IOAPIC + 0x10);
    *sel = 0x10 + 2 * gsi + 1;
    *win = 0;
    *sel = 0x10 + 2 * gsi;
    *win = vector;
}

void tgv_init(unsigned vector)
{
    for (unsigned i = 0; i < 8 && !vio; i++) {
        volatile uint32_t *p = (volatile uint32_t *)(VIRTIO_BASE + i * 0x1000ul);
        if (p[0] == 0x74726976u && p[2] == 19) {
            vio = p;
            ioapic_route(16 + i, vector);
        }
    }
    if (!vio)
        tg_fail("no virtio-vsock device");
    vw(0x70, 0);
    vw(0x70, 1);
    vw(0x70, 3);
    vw(0x24, 1), vw(0x20, 1); /* VERSION_1 */
    vw(0x24, 0), vw(0x20, 0);
    vw(0x70, 0xb);
    if (!(vr(0x70) & 8))
        tg_fail("vsock refused our features");
    memset(&rxq, 0, sizeof(rxq));
    memset(&txq, 0, sizeof(txq));
    memset(&evq, 0, sizeof(evq));
    vq_setup(0, &rxq);
    vq_setup(1, &txq);
    vq_setup(2, &evq);
    vw(0x70, 0xf);
    tgv_cid = vr(0x100) | (uint64_t)vr(0x104) << 32;
    rx_fill();
    vq_give(&evq, 0, evbuf, sizeof(evbuf), 1);
    vw(0x50, 2);
}

void tgv_send(const struct tgv_hdr *h, const void *data, uint32_t len)
{
    if (len > RXBUF)
        tg_fail("vsock tx: packet too large");
    memcpy(txbuf, h, sizeof(*h));
    if (len)
        memcpy(txbuf + sizeof(*h), data, len);
    uint16_t want = (uint16_t)(txq.used.idx + 1);
    vq_give(&txq, 0, txbuf, (uint32_t)sizeof(*h) + len, 0);
    vw(0x50, 1);
    uint64_t t0 = rdtsc();
    while (*(volatile uint16_t *)&txq.used.idx != want)
        if (rdtsc() - t0 > 20000000000ull)
            tg_fail("vsock tx stuck");
}

int tgv_rx_next(uint16_t *id, const uint8_t **pkt, uint32_t *len)
{
    if (*(volatile uint16_t *)&rxq.used.idx == rxq.last_used)
        return 0;
    barrier();
    uint16_t slot = rxq.last_used % QN;
    uint32_t i = rxq.used.ring[slot].id, l = rxq.used.ring[slot].len;
    rxq.last_used++;
    if (i >= QN)
        tg_fail("vsock rx: bad used id");
    *id = (uint16_t)i;
    *pkt = rxbuf[i];
    *len = l <= RXBUF ? l : RXBUF;
    return 1;
}

void tgv_rx_done(uint16_t id)
{
    vq_give(&rxq, id, rxbuf[id], RXBUF, 1);
    vw(0x50, 0);
}

int tgv_event_next(void)
{
    if (*(volatile uint16_t *)&evq.used.idx == evq.last_used)
        return 0;
    evq.last_used++;
    tgv_cid = vr(0x100) | (uint64_t)vr(0x104) << 32; /* a reset may come with a new CID */
    vq_give(&evq, 0, evbuf, sizeof(evbuf), 1);
    vw(0x50, 2);
    return 1;
}

uint32_t tgv_mark(void)
{
    return (uint32_t) * (volatile uint16_t *)&rxq.used.idx << 16 |
           *(volatile uint16_t *)&evq.used.idx;
}

int tgv_quiet_since(uint32_t mark)
{
    return tgv_mark() == mark && (mark >> 16) == rxq.last_used && (mark & 0xffff) == evq.last_used;
}
