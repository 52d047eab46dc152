/*
 * tests/testguest/agent_vq.c - the agent mode's polled virtio-vsock driver
 * (on virtio.c's helpers): rx, tx and event queues of 16 entries, one
 * packet per descriptor. Interrupts are routed through the IOAPIC only to
 * wake an idle hlt; every queue is polled.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/testguest/agent.h"
#include "tests/testguest/virtio.h"

#define QN    16
#define RXBUF 2048

static struct tg_vq rxq, txq, evq;
static uint8_t rxbuf[QN][RXBUF] __attribute__((aligned(64)));
static uint8_t txbuf[44 + RXBUF] __attribute__((aligned(64)));
static uint8_t evbuf[8];
static struct tg_vdev vdev;
uint64_t tgv_cid;

static void give(struct tg_vq *r, uint16_t id, void *buf, uint32_t len, int writable)
{
    struct tg_vbuf b = {buf, len, writable};
    tg_vq_add(r, id, &b, 1);
}

static void read_cid(void)
{
    tgv_cid = tg_vdev_cfg32(&vdev, 0) | (uint64_t)tg_vdev_cfg32(&vdev, 4) << 32;
}

void tgv_init(unsigned vector)
{
    if (!tg_vdev_find(TG_VIRTIO_ID_VSOCK, &vdev))
        tg_fail("no virtio-vsock device");
    tg_vdev_route_irq(&vdev, vector);
    tg_vdev_start(&vdev, 0);
    tg_vq_setup(&vdev, 0, &rxq, QN);
    tg_vq_setup(&vdev, 1, &txq, QN);
    tg_vq_setup(&vdev, 2, &evq, QN);
    tg_vdev_ready(&vdev);
    read_cid();
    for (uint16_t i = 0; i < QN; i++)
        give(&rxq, i, rxbuf[i], RXBUF, 1);
    tg_vq_kick(&vdev, 0);
    give(&evq, 0, evbuf, sizeof(evbuf), 1);
    tg_vq_kick(&vdev, 2);
}

void tgv_send(const struct tgv_hdr *h, const void *data, uint32_t len)
{
    if (len > RXBUF)
        tg_fail("vsock tx: packet too large");
    memcpy(txbuf, h, sizeof(*h));
    if (len)
        memcpy(txbuf + sizeof(*h), data, len);
    give(&txq, 0, txbuf, (uint32_t)sizeof(*h) + len, 0);
    tg_vq_kick(&vdev, 1);
    uint32_t id, l;
    tg_vq_wait(&vdev, &txq, &id, &l, "vsock tx stuck");
}

int tgv_rx_next(uint16_t *id, const uint8_t **pkt, uint32_t *len)
{
    uint32_t i, l;
    if (!tg_vq_used(&rxq, &i, &l))
        return 0;
    *id = (uint16_t)i;
    *pkt = rxbuf[i];
    *len = l <= RXBUF ? l : RXBUF;
    return 1;
}

void tgv_rx_done(uint16_t id)
{
    give(&rxq, id, rxbuf[id], RXBUF, 1);
    tg_vq_kick(&vdev, 0);
}

int tgv_event_next(void)
{
    uint32_t id, l;
    if (!tg_vq_used(&evq, &id, &l))
        return 0;
    read_cid(); /* a reset may come with a new CID */
    give(&evq, 0, evbuf, sizeof(evbuf), 1);
    tg_vq_kick(&vdev, 2);
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
