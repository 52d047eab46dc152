/*
 * tests/unit/vmm/virtio/vsock_guest.h - a simulated virtio-vsock driver for
 * the unit tests and the vsock fuzzer: rx buffers of RXBUF bytes each, one
 * tx staging buffer, packets in and out as (struct vsock_hdr, payload).
 */
#ifndef BURROW_TESTS_UNIT_VMM_VIRTIO_VSOCK_GUEST_H
#define BURROW_TESTS_UNIT_VMM_VIRTIO_VSOCK_GUEST_H

#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/vsock/vsock.h"

#define GV_CID   3u
#define GV_QSIZE 64u
#define GV_RXBUF 4096u

struct gv {
    struct sim s;
    struct virtio_mmio m;
    struct virtio_vsock *v;
    struct simq q[3];
    uint64_t rx_addr[GV_QSIZE];
    uint64_t tx_buf;
    uint64_t ev_buf;
};

static inline void gv_post_rx(struct gv *g, uint16_t id)
{
    sim_desc(&g->s, g->q[0].desc, id, g->rx_addr[id], GV_RXBUF, VRING_DESC_F_WRITE, 0);
    sim_avail(&g->s, &g->q[0], id);
}

/* Bring the device up with every rx buffer posted; uds may be NULL. */
static inline int gv_init(struct gv *g, const char *uds)
{
    memset(g, 0, sizeof(*g));
    sim_init(&g->s);
    if (virtio_mmio_init(&g->m, &virtio_vsock_ops, &g->s.mem, sim_irq, &g->s) ||
        virtio_vsock_create(&g->m.transport, GV_CID, uds, &g->v))
        return -1;
    virtio_mmio_attach_dev(&g->m, g->v);
    for (unsigned i = 0; i < 3; i++)
        simq_layout(&g->q[i], i, GV_QSIZE);
    if (mmio_bring_up(&g->m, g->q, 3, 0) != 0xf)
        return -1;
    for (uint16_t i = 0; i < GV_QSIZE; i++) {
        g->rx_addr[i] = sim_alloc(&g->s, GV_RXBUF);
        gv_post_rx(g, i);
    }
    g->tx_buf = sim_alloc(&g->s, VSOCK_HDR_SIZE + VSOCK_MAX_PKT + 4096);
    g->ev_buf = sim_alloc(&g->s, 16);
    sim_desc(&g->s, g->q[2].desc, 0, g->ev_buf, 4, VRING_DESC_F_WRITE, 0);
    sim_avail(&g->s, &g->q[2], 0);
    mmio_wr(&g->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    mmio_wr(&g->m, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
    return 0;
}

static inline void gv_fini(struct gv *g)
{
    virtio_vsock_destroy(g->v);
    virtio_mmio_destroy(&g->m);
    sim_free(&g->s);
}

/* Put raw bytes (header + payload as given) on the tx queue and kick. */
static inline void gv_send_raw(struct gv *g, const void *bytes, uint32_t len, uint32_t desc_len)
{
    memcpy(sim_hva(&g->s, g->tx_buf), bytes, len);
    uint16_t id = g->q[1].avail_idx % GV_QSIZE;
    sim_desc(&g->s, g->q[1].desc, id, g->tx_buf, desc_len, 0, 0);
    sim_avail(&g->s, &g->q[1], id);
    mmio_wr(&g->m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
}

/* A guest packet from guest port gport to host port hport. */
static inline void gv_send(struct gv *g, uint16_t op, uint32_t gport, uint32_t hport,
                           const void *data, uint32_t len, uint32_t flags, uint32_t buf_alloc,
                           uint32_t fwd_cnt)
{
    struct vsock_hdr h = {.src_cid = GV_CID,
                          .dst_cid = VSOCK_HOST_CID,
                          .src_port = gport,
                          .dst_port = hport,
                          .len = len,
                          .type = VSOCK_TYPE_STREAM,
                          .op = op,
                          .flags = flags,
                          .buf_alloc = buf_alloc,
                          .fwd_cnt = fwd_cnt};
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_build(&h, raw);
    memcpy(sim_hva(&g->s, g->tx_buf), raw, sizeof(raw));
    if (len)
        memcpy(sim_hva(&g->s, g->tx_buf + VSOCK_HDR_SIZE), data, len);
    uint16_t id = g->q[1].avail_idx % GV_QSIZE;
    sim_desc(&g->s, g->q[1].desc, id, g->tx_buf, VSOCK_HDR_SIZE + len, 0, 0);
    sim_avail(&g->s, &g->q[1], id);
    mmio_wr(&g->m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
}

/*
 * Next packet the device delivered: 1 with *h and up to `max` payload bytes
 * in data, 0 if none. The buffer is re-posted (without a kick).
 */
static inline int gv_recv(struct gv *g, struct vsock_hdr *h, void *data, size_t max)
{
    uint32_t id, len;
    if (!sim_take_used(&g->s, &g->q[0], &id, &len))
        return 0;
    if (id >= GV_QSIZE || len < VSOCK_HDR_SIZE || len > GV_RXBUF)
        abort();
    const uint8_t *p = sim_hva(&g->s, g->rx_addr[id]);
    if (vsock_hdr_parse(p, VSOCK_HDR_SIZE, h))
        abort();
    if (h->len != len - VSOCK_HDR_SIZE)
        abort();
    if (data)
        memcpy(data, p + VSOCK_HDR_SIZE, h->len < max ? h->len : max);
    gv_post_rx(g, (uint16_t)id);
    return 1;
}

static inline void gv_kick_rx(struct gv *g)
{
    mmio_wr(&g->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static inline void gv_host(struct gv *g)
{
    for (int i = 0; i < 4; i++)
        virtio_vsock_host_process(g->v);
}

#endif /* BURROW_TESTS_UNIT_VMM_VIRTIO_VSOCK_GUEST_H */
