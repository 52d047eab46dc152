/*
 * tests/unit/vmm/virtio/test_net.c - virtio-net against simulated guest RAM,
 * with an AF_UNIX SOCK_DGRAM socketpair in place of the TAP (it keeps frame
 * boundaries the same way): tx/rx framing, held frames, backpressure, the
 * control queue (announce, MAC), malformed chains, snapshots and the rate
 * limit (fake clock for the bucket, real time for the device).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/net/ratelimit.h"
#include "vmm/virtio/net/net.h"

#define QN 64u

struct fx {
    struct sim s;
    struct virtio_mmio m;
    struct virtio_net *net;
    struct simq q[3];
    uint16_t next_desc[3];
    int peer; /* the "host network" end of the backend */
    unsigned requeues;
};

static const uint8_t mac0[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};

static void fx_requeue(void *ctx, unsigned q)
{
    (void)q;
    ((struct fx *)ctx)->requeues++;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    int sv[2];
    sim_init(&f->s);
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv))
        return -1;
    f->peer = sv[1];
    if (virtio_mmio_init(&f->m, &virtio_net_ops, &f->s.mem, sim_irq, &f->s) ||
        virtio_net_create(&f->m.transport, sv[0], mac0, &f->net))
        return -1;
    virtio_mmio_attach_dev(&f->m, f->net);
    virtio_mmio_set_requeue(&f->m, fx_requeue, f);
    for (unsigned i = 0; i < 3; i++)
        simq_layout(&f->q[i], i, QN);
    *state = f;
    return mmio_bring_up(&f->m, f->q, 3, 0) == 0xf ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_net_destroy(f->net);
    virtio_mmio_destroy(&f->m);
    sim_free(&f->s);
    close(f->peer);
    free(f);
    return 0;
}

static uint16_t take_desc(struct fx *f, unsigned qi)
{
    return (uint16_t)(f->next_desc[qi]++ % QN);
}

static uint32_t status(struct fx *f)
{
    return mmio_rd(&f->m, VIRTIO_MMIO_STATUS);
}

/* A frame of len bytes from mac0, the device's MAC (the device drops any other source). */
static void fill_frame(uint8_t *p, uint32_t len, uint8_t seed)
{
    for (uint32_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 7);
    if (len >= 12)
        memcpy(p + 6, mac0, 6);
}

/* Queue a tx chain: the header in one buffer, the frame in a second (no kick). */
static void tx_post(struct fx *f, uint32_t frame_len, uint8_t seed)
{
    uint64_t hdr = sim_alloc(&f->s, NET_HDR_SIZE);
    uint16_t d0 = take_desc(f, 1), d1 = take_desc(f, 1);
    if (frame_len) {
        uint64_t data = sim_alloc(&f->s, frame_len);
        fill_frame(sim_hva(&f->s, data), frame_len, seed);
        sim_desc(&f->s, f->q[1].desc, d0, hdr, NET_HDR_SIZE, VRING_DESC_F_NEXT, d1);
        sim_desc(&f->s, f->q[1].desc, d1, data, frame_len, 0, 0);
    } else {
        sim_desc(&f->s, f->q[1].desc, d0, hdr, NET_HDR_SIZE, 0, 0);
    }
    sim_avail(&f->s, &f->q[1], d0);
}

static void kick(struct fx *f, unsigned qi)
{
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/* Offer one rx buffer of `len` bytes; returns its guest address. */
static uint64_t rx_post(struct fx *f, uint32_t len)
{
    uint64_t b = sim_alloc(&f->s, len);
    uint16_t d = take_desc(f, 0);
    sim_desc(&f->s, f->q[0].desc, d, b, len, VRING_DESC_F_WRITE, 0);
    sim_avail(&f->s, &f->q[0], d);
    return b;
}

static ssize_t peer_recv(struct fx *f, uint8_t *buf, size_t len)
{
    return recv(f->peer, buf, len, MSG_DONTWAIT);
}

static bool host_fd_readable(struct fx *f)
{
    struct pollfd p = {.fd = virtio_net_host_fd(f->net), .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* ---- tests ---- */

static void test_config_and_features(void **state)
{
    struct fx *f = *state;
    uint64_t feat = mmio_features(&f->m);
    assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_MAC));
    assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_STATUS));
    assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ));
    assert_true(feat & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE));
    assert_false(feat & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
    assert_false(feat & (0x3u | 0xffu << 7)); /* no checksum or segmentation offload */
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
    uint32_t w0 = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG), w1 = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG + 4);
    assert_memory_equal(&w0, mac0, 4);
    assert_int_equal(w1 & 0xffff, 0x0100); /* mac[4]=0, mac[5]=1 */
    assert_int_equal(w1 >> 16, VIRTIO_NET_S_LINK_UP);
}

static void test_tx_reaches_backend(void **state)
{
    struct fx *f = *state;
    tx_post(f, 1500, 3);
    tx_post(f, 60, 9);
    kick(f, 1);
    uint8_t got[2000], want[1500];
    fill_frame(want, 1500, 3);
    assert_int_equal(peer_recv(f, got, sizeof(got)), 1500);
    assert_memory_equal(got, want, 1500);
    fill_frame(want, 60, 9);
    assert_int_equal(peer_recv(f, got, sizeof(got)), 60);
    assert_memory_equal(got, want, 60);
    uint32_t id, len;
    assert_int_equal(sim_take_used(&f->s, &f->q[1], &id, &len), 1);
    assert_int_equal(len, 0);
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.tx_packets, 2);
    assert_int_equal(st.tx_bytes, 1560);
}

static void test_tx_header_split_over_buffers(void **state)
{
    struct fx *f = *state;
    /* 5 + 7 bytes of header, then header tail and frame start in one buffer. */
    uint64_t a = sim_alloc(&f->s, 5), b = sim_alloc(&f->s, 7 + 20);
    fill_frame(sim_hva(&f->s, b + 7), 20, 1);
    sim_desc(&f->s, f->q[1].desc, 0, a, 5, VRING_DESC_F_NEXT, 1);
    sim_desc(&f->s, f->q[1].desc, 1, b, 27, 0, 0);
    sim_avail(&f->s, &f->q[1], 0);
    kick(f, 1);
    uint8_t got[64], want[20];
    fill_frame(want, 20, 1);
    assert_int_equal(peer_recv(f, got, sizeof(got)), 20);
    assert_memory_equal(got, want, 20);
}

static void test_tx_zero_and_huge_frames_dropped(void **state)
{
    struct fx *f = *state;
    tx_post(f, 0, 0);                 /* header only */
    tx_post(f, 10, 0);                /* shorter than an Ethernet header */
    tx_post(f, NET_MAX_FRAME + 1, 0); /* over the bound */
    tx_post(f, 100, 5);
    kick(f, 1);
    uint8_t got[256];
    assert_int_equal(peer_recv(f, got, sizeof(got)), 100); /* only the good one */
    assert_true(peer_recv(f, got, sizeof(got)) < 0);
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.tx_dropped, 3);
    assert_int_equal(sim_used_idx(&f->s, &f->q[1]), 4); /* every chain went back */
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_tx_malformed_needs_reset(void **state)
{
    struct fx *f = *state;
    uint64_t a = sim_alloc(&f->s, 64);
    sim_desc(&f->s, f->q[1].desc, 0, a, 64, VRING_DESC_F_WRITE, 0); /* writable in tx */
    sim_avail(&f->s, &f->q[1], 0);
    kick(f, 1);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
}

static void test_tx_short_header_needs_reset(void **state)
{
    struct fx *f = *state;
    uint64_t a = sim_alloc(&f->s, 8);
    sim_desc(&f->s, f->q[1].desc, 0, a, 8, 0, 0);
    sim_avail(&f->s, &f->q[1], 0);
    kick(f, 1);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    uint8_t got[16];
    assert_true(peer_recv(f, got, sizeof(got)) < 0);
}

static void test_out_of_range_address_needs_reset(void **state)
{
    struct fx *f = *state;
    sim_desc(&f->s, f->q[1].desc, 0, SIM_BASE + SIM_SIZE - 8, 64, 0, 0);
    sim_avail(&f->s, &f->q[1], 0);
    kick(f, 1);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(sim_used_idx(&f->s, &f->q[1]), 0);
}

static void test_rx_delivers_frame(void **state)
{
    struct fx *f = *state;
    uint64_t b = rx_post(f, NET_HDR_SIZE + 1518);
    kick(f, 0);
    uint8_t frame[1514];
    fill_frame(frame, sizeof(frame), 42);
    assert_int_equal(send(f->peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
    unsigned irqs = f->s.irqs;
    assert_true(host_fd_readable(f));
    virtio_net_host_process(f->net);
    uint32_t id, len;
    assert_int_equal(sim_take_used(&f->s, &f->q[0], &id, &len), 1);
    assert_int_equal(len, NET_HDR_SIZE + sizeof(frame));
    uint8_t *p = sim_hva(&f->s, b);
    static const uint8_t zero[10];
    assert_memory_equal(p, zero, 10);        /* flags, gso: nothing */
    assert_int_equal(p[10] | p[11] << 8, 1); /* num_buffers */
    assert_memory_equal(p + NET_HDR_SIZE, frame, sizeof(frame));
    assert_true(f->s.irqs > irqs);
}

static void test_rx_waits_for_buffers_without_spinning(void **state)
{
    struct fx *f = *state;
    uint8_t frame[100];
    fill_frame(frame, sizeof(frame), 1);
    assert_int_equal(send(f->peer, frame, 100, 0), 100);
    assert_int_equal(send(f->peer, frame, 60, 0), 60);
    virtio_net_host_process(f->net);   /* no rx buffers: the first frame is held */
    assert_false(host_fd_readable(f)); /* ...and the backend is not watched: no busy loop */
    uint64_t b1 = rx_post(f, 2048), b2 = rx_post(f, 2048);
    kick(f, 0);
    assert_int_equal(sim_used_idx(&f->s, &f->q[0]), 2);
    assert_memory_equal((uint8_t *)sim_hva(&f->s, b1) + NET_HDR_SIZE, frame, 100);
    assert_memory_equal((uint8_t *)sim_hva(&f->s, b2) + NET_HDR_SIZE, frame, 60);
}

static void test_rx_frame_too_big_for_buffer_dropped(void **state)
{
    struct fx *f = *state;
    uint64_t b = rx_post(f, NET_HDR_SIZE + 200);
    kick(f, 0);
    uint8_t big[4000], small[150];
    fill_frame(big, sizeof(big), 0);
    fill_frame(small, sizeof(small), 8);
    assert_int_equal(send(f->peer, big, sizeof(big), 0), (ssize_t)sizeof(big));
    assert_int_equal(send(f->peer, small, sizeof(small), 0), (ssize_t)sizeof(small));
    virtio_net_host_process(f->net);
    uint32_t id, len;
    assert_int_equal(sim_take_used(&f->s, &f->q[0], &id, &len), 1);
    assert_int_equal(len, NET_HDR_SIZE + sizeof(small)); /* the same chain got the next frame */
    assert_memory_equal((uint8_t *)sim_hva(&f->s, b) + NET_HDR_SIZE, small, sizeof(small));
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.rx_dropped, 1);
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_rx_malformed_needs_reset(void **state)
{
    struct fx *f = *state;
    uint64_t b = sim_alloc(&f->s, 2048);
    sim_desc(&f->s, f->q[0].desc, 0, b, 2048, 0, 0); /* readable buffer in rx */
    sim_avail(&f->s, &f->q[0], 0);
    kick(f, 0);
    uint8_t frame[64] = {0};
    assert_int_equal(send(f->peer, frame, sizeof(frame), 0), 64);
    virtio_net_host_process(f->net);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(sim_used_idx(&f->s, &f->q[0]), 0);
}

static void test_rx_buffer_smaller_than_header_needs_reset(void **state)
{
    struct fx *f = *state;
    rx_post(f, 4);
    kick(f, 0);
    uint8_t frame[64] = {0};
    assert_int_equal(send(f->peer, frame, sizeof(frame), 0), 64);
    virtio_net_host_process(f->net);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_tx_backpressure_resumes(void **state)
{
    struct fx *f = *state;
    /* A fresh backend whose send buffer holds only a few frames (attach swaps it in). */
    int sv[2], small = 4096;
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    close(f->peer);
    f->peer = sv[1];
    assert_int_equal(virtio_net_attach(f->net, sv[0], mac0), 0);
    unsigned sent = 0;
    for (unsigned i = 0; i < 30; i++)
        tx_post(f, 1400, (uint8_t)i);
    kick(f, 1);
    uint16_t used = sim_used_idx(&f->s, &f->q[1]);
    assert_true(used < 30); /* the backend filled up; the rest stays in the ring */
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    uint8_t got[2000], want[1400];
    for (int spins = 0; sent < 30 && spins < 1000; spins++) {
        ssize_t n = peer_recv(f, got, sizeof(got));
        if (n > 0) {
            fill_frame(want, 1400, (uint8_t)sent);
            assert_int_equal(n, 1400);
            assert_memory_equal(got, want, 1400); /* order kept across the wait */
            sent++;
            continue;
        }
        virtio_net_host_process(f->net); /* EPOLLOUT: write what is left */
    }
    assert_int_equal(sent, 30);
    assert_int_equal(sim_used_idx(&f->s, &f->q[1]), 30);
}

static void test_tx_budget_yields(void **state)
{
    struct fx *f = *state;
    virtio_net_destroy(f->net); /* a bigger ring so one pass can exceed the budget */
    virtio_mmio_destroy(&f->m);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    close(f->peer);
    f->peer = sv[1];
    int big = 4 << 20;
    setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    assert_int_equal(virtio_mmio_init(&f->m, &virtio_net_ops, &f->s.mem, sim_irq, &f->s), 0);
    assert_int_equal(virtio_net_create(&f->m.transport, sv[0], mac0, &f->net), 0);
    virtio_mmio_attach_dev(&f->m, f->net);
    virtio_mmio_set_requeue(&f->m, fx_requeue, f);
    simq_layout(&f->q[1], 1, 256);
    simq_layout(&f->q[0], 0, 16);
    simq_layout(&f->q[2], 2, 16);
    assert_int_equal(mmio_bring_up(&f->m, f->q, 3, 0), 0xf);
    uint64_t hdr = sim_alloc(&f->s, NET_HDR_SIZE + 20);
    for (unsigned i = 0; i < 256; i++)
        sim_desc(&f->s, f->q[1].desc, i, hdr, NET_HDR_SIZE + 20, 0, 0);
    for (unsigned i = 0; i < 256; i++)
        sim_avail(&f->s, &f->q[1], (uint16_t)i);
    unsigned rq = f->requeues;
    kick(f, 1);
    assert_int_equal(sim_used_idx(&f->s, &f->q[1]), 256);
    assert_int_equal(f->requeues, rq + 1); /* a full budget yields to the other devices */
    for (unsigned i = 0; i < 10; i++)
        sim_avail(&f->s, &f->q[1], (uint16_t)i);
    rq = f->requeues;
    kick(f, 1);
    assert_int_equal(sim_used_idx(&f->s, &f->q[1]), 266);
    assert_int_equal(f->requeues, rq); /* under budget: no yield */
}

/* A control command: class, cmd, data; returns the ack byte (0xee if untouched). */
static uint8_t ctrl(struct fx *f, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    uint64_t h = sim_alloc(&f->s, 2), d = sim_alloc(&f->s, len ? len : 1), a = sim_alloc(&f->s, 1);
    uint8_t *hp = sim_hva(&f->s, h);
    hp[0] = cls;
    hp[1] = cmd;
    *(uint8_t *)sim_hva(&f->s, a) = 0xee;
    uint16_t d0 = take_desc(f, 2), d1 = take_desc(f, 2), d2 = take_desc(f, 2);
    if (len) {
        memcpy(sim_hva(&f->s, d), data, len);
        sim_desc(&f->s, f->q[2].desc, d0, h, 2, VRING_DESC_F_NEXT, d1);
        sim_desc(&f->s, f->q[2].desc, d1, d, len, VRING_DESC_F_NEXT, d2);
    } else {
        sim_desc(&f->s, f->q[2].desc, d0, h, 2, VRING_DESC_F_NEXT, d2);
    }
    sim_desc(&f->s, f->q[2].desc, d2, a, 1, VRING_DESC_F_WRITE, 0);
    sim_avail(&f->s, &f->q[2], d0);
    kick(f, 2);
    return *(uint8_t *)sim_hva(&f->s, a);
}

static void test_fork_announce_and_ack(void **state)
{
    struct fx *f = *state;
    uint8_t mac[6];
    virtio_net_mac_from_seed("alice/vm-7", 10, mac);
    assert_int_equal(mac[0], 0x02);
    uint8_t other[6];
    virtio_net_mac_from_seed("bob/vm-8", 8, other);
    assert_memory_not_equal(mac, other, 6);
    uint32_t gen = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);
    assert_int_equal(virtio_net_attach(f->net, -1, mac), 0);
    assert_int_not_equal(mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), gen);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    uint8_t cmac[6];
    uint16_t st;
    virtio_net_get_config(f->net, cmac, &st);
    assert_memory_equal(cmac, mac, 6);
    assert_int_equal(st, VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
    assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
                     VIRTIO_NET_OK);
    virtio_net_get_config(f->net, cmac, &st);
    assert_int_equal(st, VIRTIO_NET_S_LINK_UP);
}

/* The driver may confirm the MAC the host chose, never change it. */
static void test_ctrl_mac_set_and_unknown(void **state)
{
    struct fx *f = *state;
    const uint8_t other[6] = {0x02, 1, 2, 3, 4, 5}, mcast[6] = {0x03, 1, 2, 3, 4, 5};
    assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac0, 6),
                     VIRTIO_NET_OK);
    assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, other, 6),
                     VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mcast, 6),
                     VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac0, 5),
                     VIRTIO_NET_ERR);
    assert_int_equal(ctrl(f, 0 /* RX: not offered */, 0, "\1", 1), VIRTIO_NET_ERR);
    uint8_t cmac[6];
    uint16_t st;
    virtio_net_get_config(f->net, cmac, &st);
    assert_memory_equal(cmac, mac0, 6);
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

/*
 * A guest that forges its source MAC (another VM's, say) sends nothing: the
 * frame is dropped and counted, the chain goes back, the device stays up.
 */
static void test_tx_foreign_source_mac_dropped(void **state)
{
    struct fx *f = *state;
    uint8_t got[256], want[100];
    tx_post(f, 100, 4);
    uint64_t hdr = sim_alloc(&f->s, NET_HDR_SIZE + 100);
    uint8_t *frame = sim_hva(&f->s, hdr + NET_HDR_SIZE);
    fill_frame(frame, 100, 4);
    frame[11] ^= 1; /* another station's address */
    uint16_t d = take_desc(f, 1);
    sim_desc(&f->s, f->q[1].desc, d, hdr, NET_HDR_SIZE + 100, 0, 0);
    sim_avail(&f->s, &f->q[1], d);
    kick(f, 1);
    fill_frame(want, 100, 4);
    assert_int_equal(peer_recv(f, got, sizeof(got)), 100); /* the first, from mac0 */
    assert_memory_equal(got, want, 100);
    assert_true(peer_recv(f, got, sizeof(got)) < 0); /* the forged one never left */
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.tx_packets, 1);
    assert_int_equal(st.tx_dropped, 1);
    assert_int_equal(sim_used_idx(&f->s, &f->q[1]), 2);
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_ctrl_without_ack_byte_needs_reset(void **state)
{
    struct fx *f = *state;
    uint64_t h = sim_alloc(&f->s, 2);
    sim_desc(&f->s, f->q[2].desc, 0, h, 2, 0, 0);
    sim_avail(&f->s, &f->q[2], 0);
    kick(f, 2);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_no_backend_link_down_and_drops(void **state)
{
    struct fx *f = *state;
    struct virtio_mmio m;
    struct virtio_net *n;
    assert_int_equal(virtio_mmio_init(&m, &virtio_net_ops, &f->s.mem, sim_irq, &f->s), 0);
    assert_int_equal(virtio_net_create(&m.transport, -1, mac0, &n), 0);
    virtio_mmio_attach_dev(&m, n);
    uint8_t mac[6];
    uint16_t st;
    virtio_net_get_config(n, mac, &st);
    assert_int_equal(st, 0);
    virtio_net_host_process(n); /* nothing to do, returns at once */
    virtio_net_destroy(n);
    virtio_mmio_destroy(&m);
}

/* A backend that hangs up for good (a deleted TAP: EPOLLERR) leaves the epoll set: link down, no
 * spin. */
static void test_backend_lost_link_down(void **state)
{
    struct fx *f = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(virtio_net_attach(f->net, sv[0], mac0), 0);
    uint32_t gen = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);
    close(sv[1]); /* the peer hangs up: EPOLLHUP from now on */
    assert_true(host_fd_readable(f));
    virtio_net_host_process(f->net);
    uint8_t mac[6];
    uint16_t st;
    virtio_net_get_config(f->net, mac, &st);
    assert_false(st & VIRTIO_NET_S_LINK_UP);
    assert_int_not_equal(mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), gen);
    assert_false(host_fd_readable(f)); /* nothing left to wake the event loop */
    tx_post(f, 60, 1);
    kick(f, 1); /* frames without a backend are dropped, chains returned */
    assert_int_equal(sim_used_idx(&f->s, &f->q[1]), 1);
    assert_false(status(f) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_snapshot_roundtrip_and_tamper(void **state)
{
    struct fx *f = *state;
    const uint8_t mac[6] = {0x02, 9, 9, 9, 9, 9};
    assert_int_equal(virtio_net_attach(f->net, -1, mac), 0);
    uint8_t mem[64];
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    assert_int_equal(virtio_net_ops.save(f->net, &out), 0);
    size_t len = buf_used(&out);

    struct virtio_mmio m;
    struct virtio_net *n;
    assert_int_equal(virtio_mmio_init(&m, &virtio_net_ops, &f->s.mem, sim_irq, &f->s), 0);
    assert_int_equal(virtio_net_create(&m.transport, -1, mac0, &n), 0);
    virtio_mmio_attach_dev(&m, n);
    struct buf in;
    buf_init_reader(&in, mem, len);
    assert_int_equal(virtio_net_ops.restore(n, &in), 0);
    uint8_t got[6];
    uint16_t st;
    virtio_net_get_config(n, got, &st);
    assert_memory_equal(got, mac, 6);
    assert_int_equal(st, VIRTIO_NET_S_ANNOUNCE); /* no backend here: link down */

    uint8_t bad[64];
    memcpy(bad, mem, len);
    bad[0] = 99; /* version */
    buf_init_reader(&in, bad, len);
    assert_int_equal(virtio_net_ops.restore(n, &in), BURROW_ERR_VERSION);
    memcpy(bad, mem, len);
    bad[7] |= 0x80; /* unknown status bit */
    buf_init_reader(&in, bad, len);
    assert_int_equal(virtio_net_ops.restore(n, &in), BURROW_ERR_FORMAT);
    buf_init_reader(&in, mem, len - 1);
    assert_int_not_equal(virtio_net_ops.restore(n, &in), 0);
    virtio_net_get_config(n, got, &st);
    assert_memory_equal(got, mac, 6); /* bad input changed nothing */
    virtio_net_destroy(n);
    virtio_mmio_destroy(&m);
}

/* The bucket alone, on a fake clock: 1 MB/s over 10 simulated seconds of 1500-byte packets. */
static void test_bucket_rate_fake_clock(void **state)
{
    (void)state;
    struct net_bucket b;
    const uint64_t rate = 1000000, t_end = 10ull * 1000000000ull;
    net_bucket_init(&b, rate, 0, 0);
    assert_int_equal(b.burst, 128u * 1024);
    uint64_t now = 0, sent = 0;
    while (now < t_end) {
        if (net_bucket_ok(&b, now)) {
            net_bucket_take(&b, 1500);
            sent += 1500;
            continue;
        }
        uint64_t w = net_bucket_wait_ns(&b);
        assert_true(w > 0);
        now += w;
    }
    double expect = (double)rate * 10 + (double)b.burst;
    assert_true(sent > expect * 0.99 && sent < expect * 1.01);
    net_bucket_init(&b, 0, 0, 0);
    assert_true(net_bucket_ok(&b, 0)); /* rate 0: unlimited */
    assert_int_equal(net_bucket_wait_ns(&b), 0);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The device in real time: 4 MB/s for 0.8 s of tx must come within 10% of rate * t + burst. */
static void test_device_rate_limit_real_time(void **state)
{
    struct fx *f = *state;
    const uint64_t rate = 4000000, burst = 128 * 1024;
    int big = 4 << 20;
    setsockopt(f->peer, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    virtio_net_set_limit(f->net, rate, burst);
    uint64_t frame_gpa = sim_alloc(&f->s, NET_HDR_SIZE + 1500);
    fill_frame(sim_hva(&f->s, frame_gpa + NET_HDR_SIZE), 1500, 1);
    uint64_t t0 = mono_ns(), bytes = 0;
    uint8_t sink[2048];
    uint16_t posted = 0;
    while (mono_ns() - t0 < 800000000ull) {
        /* keep the ring full: one-descriptor chains reusing one buffer */
        while ((uint16_t)(posted - sim_used_idx(&f->s, &f->q[1])) < QN) {
            uint16_t d = posted % QN;
            sim_desc(&f->s, f->q[1].desc, d, frame_gpa, NET_HDR_SIZE + 1500, 0, 0);
            sim_avail(&f->s, &f->q[1], d);
            posted++;
        }
        kick(f, 1);
        struct pollfd p = {.fd = virtio_net_host_fd(f->net), .events = POLLIN};
        if (poll(&p, 1, 5) == 1)
            virtio_net_host_process(f->net);
        ssize_t n;
        while ((n = peer_recv(f, sink, sizeof(sink))) > 0)
            bytes += (uint64_t)n;
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    double expect = (double)rate * secs + (double)burst;
    print_message("rate limit: %.0f bytes in %.3f s, expected %.0f (%.1f%%)\n", (double)bytes, secs,
                  expect, 100.0 * (double)bytes / expect);
    assert_true((double)bytes > expect * 0.9 && (double)bytes < expect * 1.1);
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_true(st.tx_throttled > 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_and_features),
        T(test_tx_reaches_backend),
        T(test_tx_header_split_over_buffers),
        T(test_tx_zero_and_huge_frames_dropped),
        T(test_tx_malformed_needs_reset),
        T(test_tx_short_header_needs_reset),
        T(test_out_of_range_address_needs_reset),
        T(test_rx_delivers_frame),
        T(test_rx_waits_for_buffers_without_spinning),
        T(test_rx_frame_too_big_for_buffer_dropped),
        T(test_rx_malformed_needs_reset),
        T(test_rx_buffer_smaller_than_header_needs_reset),
        T(test_tx_backpressure_resumes),
        T(test_tx_budget_yields),
        T(test_fork_announce_and_ack),
        T(test_ctrl_mac_set_and_unknown),
        T(test_tx_foreign_source_mac_dropped),
        T(test_ctrl_without_ack_byte_needs_reset),
        T(test_no_backend_link_down_and_drops),
        T(test_backend_lost_link_down),
        T(test_snapshot_roundtrip_and_tamper),
        T(test_bucket_rate_fake_clock),
        T(test_device_rate_limit_real_time),
    };
    return cmocka_run_group_tests_name("vmm/virtio/net", tests, NULL, NULL);
}
