/*
 * tests/testguest/vsock_mode.c - `testguest.mode=echo` with a virtio-vsock
 * device: a polled echo server on guest port 1024 for the KVM tier and
 * `make bench-vsock`.
 *
 * Every host-initiated connection to port 1024 (up to VC_MAX at once) gets
 * each byte back. `testguest.vsock_connect=P[,P...]` also opens a
 * connection to host CID 2 port P (the VMM's `<uds>_P` listener), prints
 * "testguest: vsock connect port=P ok|refused", sends one greeting line
 * "testguest cid=C port=P\n" and then echoes on it too.
 *
 * Data path, built for multi-MiB transfers: rx buffers of 64 KiB; each RW
 * payload is copied once into its connection's ring (VC_BUF, the credit we
 * advertise) and the rx buffer goes straight back; the echo leaves from that
 * ring as a two-descriptor chain [header][ring bytes], no second copy.
 * Credit both ways: we send only within the host's buf_alloc/fwd_cnt, and
 * report our fwd_cnt (bytes the device has taken back out of the ring) in
 * every packet and in a CREDIT_UPDATE after each quarter ring. A host
 * SHUTDOWN(SEND) is answered with our SHUTDOWN once everything is echoed.
 *
 * Idle: after SPIN_CYCLES with nothing to do, the queues' interrupts are
 * switched on and the vCPU halts (TG_PRIV_IDLE_IRQS) until the device
 * signals, so a waiting guest leaves the host's CPUs to the VMM. The event
 * queue gets one buffer and is otherwise ignored (no TRANSPORT_RESET
 * handling: this mode is never snapshotted).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/testguest/abi.h"
#include "tests/testguest/console.h"
#include "tests/testguest/cpu.h"
#include "tests/testguest/virtio.h"

void tg_vsock_main(const char *cmdline) __attribute__((noreturn));

#define ECHO_PORT   1024
#define HOST_CID    2
#define HDR         44
#define RXQ_N       64
#define RXB         (HDR + 65536)
#define TXQ_N       256
#define TX_SLOTS    (TXQ_N / 2) /* two descriptors each */
#define MAX_PKT     65536
#define VC_MAX      64
#define VC_BUF      (128u * 1024) /* per-connection ring = the credit we give */
#define LAPIC       0xfee00000ul
#define SPIN_CYCLES 200000ull /* ~70-100 us of polling before halting: a round trip's wake-up */

enum {
    OP_REQUEST = 1,
    OP_RESPONSE,
    OP_RST,
    OP_SHUTDOWN,
    OP_RW,
    OP_CREDIT_UPDATE,
    OP_CREDIT_REQUEST
};
enum { SHUT_RCV = 1, SHUT_SEND = 2 };

struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct hdr) == HDR, "virtio_vsock_hdr is 44 bytes");

enum { VC_FREE, VC_CONNECTING, VC_OPEN };

struct vconn {
    int state;
    uint32_t gen; /* tx slots remember it: a completion for an older connection is ignored */
    uint32_t lport, pport;
    uint32_t rx_cnt;   /* bytes put into the ring */
    uint32_t tx_cnt;   /* bytes queued for the host */
    uint32_t done_cnt; /* bytes the device took back out of the ring */
    uint32_t bias;     /* greeting bytes: in the ring but never sent by the host */
    uint32_t fwd_reported;
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    int peer_done;  /* the host sent SHUTDOWN(SEND) */
    int shut_sent;  /* our SHUTDOWN is out; the device's RST ends it */
    int need_reply; /* CREDIT_REQUEST seen, or credit to report */
};

struct tx_slot {
    int busy;
    int conn;
    uint32_t gen, len;
    struct hdr h;
};

static struct tg_vdev dev;
static struct tg_vq rxq, txq, evq;
static uint8_t rxbuf[RXQ_N][RXB] __attribute__((aligned(4096)));
static uint8_t rings[VC_MAX][VC_BUF] __attribute__((aligned(4096)));
static uint8_t evbuf[8];
static struct vconn conns[VC_MAX];
static struct tx_slot slots[TX_SLOTS];
static unsigned slots_busy;
static uint64_t cid;
static int rx_returned, tx_added;
static uint32_t next_gen = 1;
static uint64_t conns_served;

/* Our fwd_cnt for the host: ring bytes done, less the greeting it never sent. */
static uint32_t fwd_of(const struct vconn *c)
{
    return c->done_cnt > c->bias ? c->done_cnt - c->bias : 0;
}

static int poll_tx(void);
static void kick_pending(void);

/* Queue one packet; data (if any) lies in the connection's ring. 0 if the tx ring is full. */
static int tx_packet(int ci, uint32_t lport, uint32_t pport, uint16_t op, uint32_t flags,
                     const uint8_t *data, uint32_t len)
{
    if (slots_busy == TX_SLOTS)
        return 0;
    unsigned s = 0;
    while (slots[s].busy)
        s++;
    struct tx_slot *t = &slots[s];
    struct vconn *c = ci >= 0 ? &conns[ci] : NULL;
    t->busy = 1;
    t->conn = ci;
    t->gen = c ? c->gen : 0;
    t->len = len;
    t->h = (struct hdr){cid, HOST_CID, lport, pport, len, 1, op, flags, VC_BUF, c ? fwd_of(c) : 0};
    if (c)
        c->fwd_reported = fwd_of(c);
    struct tg_vbuf b[2] = {{&t->h, HDR, 0}, {(void *)(uintptr_t)data, len, 0}};
    tg_vq_add(&txq, (uint16_t)(2 * s), b, len ? 2 : 1);
    slots_busy++;
    tx_added = 1;
    return 1;
}

static void rst(uint32_t lport, uint32_t pport)
{
    while (!tx_packet(-1, lport, pport, OP_RST, 0, NULL, 0)) {
        kick_pending(); /* the tx ring is full: let the device drain it */
        poll_tx();
    }
}

static void conn_free(struct vconn *c)
{
    c->state = VC_FREE;
}

static struct vconn *conn_find(uint32_t lport, uint32_t pport)
{
    for (unsigned i = 0; i < VC_MAX; i++)
        if (conns[i].state != VC_FREE && conns[i].lport == lport && conns[i].pport == pport)
            return &conns[i];
    return NULL;
}

static struct vconn *conn_new(uint32_t lport, uint32_t pport, int state)
{
    for (unsigned i = 0; i < VC_MAX; i++) {
        struct vconn *c = &conns[i];
        if (c->state != VC_FREE)
            continue;
        memset(c, 0, sizeof(*c));
        c->state = state;
        c->gen = next_gen++;
        c->lport = lport;
        c->pport = pport;
        return c;
    }
    return NULL;
}

static void conn_data(struct vconn *c, const uint8_t *p, uint32_t len)
{
    if (c->rx_cnt - c->done_cnt + len > VC_BUF) {
        tg_puts("testguest: vsock host sent beyond our credit\n");
        rst(c->lport, c->pport);
        conn_free(c);
        return;
    }
    uint32_t at = c->rx_cnt % VC_BUF, first = VC_BUF - at < len ? VC_BUF - at : len;
    uint8_t *ring = rings[c - conns];
    memcpy(ring + at, p, first);
    memcpy(ring, p + first, len - first);
    c->rx_cnt += len;
}

static void on_request(const struct hdr *h)
{
    struct vconn *c = h->dst_port == ECHO_PORT ? conn_new(h->dst_port, h->src_port, VC_OPEN) : NULL;
    if (!c) {
        rst(h->dst_port, h->src_port);
        return;
    }
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    conns_served++;
    tx_packet((int)(c - conns), c->lport, c->pport, OP_RESPONSE, 0, NULL, 0);
}

static void on_response(struct vconn *c)
{
    static const char hello[] = "testguest cid=";
    char line[64];
    size_t n = 0;
    for (const char *s = hello; *s; s++)
        line[n++] = *s;
    char num[24];
    int k = 0;
    for (uint64_t v = cid; k == 0 || v; v /= 10)
        num[k++] = (char)('0' + v % 10);
    while (k)
        line[n++] = num[--k];
    for (const char *s = " port="; *s; s++)
        line[n++] = *s;
    for (uint32_t v = c->pport; k == 0 || v; v /= 10)
        num[k++] = (char)('0' + v % 10);
    while (k)
        line[n++] = num[--k];
    line[n++] = '\n';
    c->state = VC_OPEN;
    c->bias = (uint32_t)n;
    conn_data(c, (const uint8_t *)line, (uint32_t)n);
    tg_puts("testguest: vsock connect port=");
    tg_putu(c->pport);
    tg_puts(" ok\n");
}

static void on_packet(const struct hdr *h, const uint8_t *data)
{
    if (h->dst_cid != cid || h->src_cid != HOST_CID || h->type != 1)
        return;
    struct vconn *c = conn_find(h->dst_port, h->src_port);
    if (h->op == OP_REQUEST && !c) {
        on_request(h);
        return;
    }
    if (!c) {
        if (h->op != OP_RST)
            rst(h->dst_port, h->src_port);
        return;
    }
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case OP_RESPONSE:
        if (c->state == VC_CONNECTING)
            on_response(c);
        break;
    case OP_RST:
        if (c->state == VC_CONNECTING) {
            tg_puts("testguest: vsock connect port=");
            tg_putu(c->pport);
            tg_puts(" refused\n");
        }
        conn_free(c);
        break;
    case OP_SHUTDOWN:
        if (h->flags & SHUT_RCV) { /* nobody reads our echo any more */
            rst(c->lport, c->pport);
            conn_free(c);
        } else if (h->flags & SHUT_SEND) {
            c->peer_done = 1;
        }
        break;
    case OP_RW:
        if (c->state == VC_OPEN && !c->peer_done)
            conn_data(c, data, h->len);
        break;
    case OP_CREDIT_REQUEST:
        c->need_reply = 1;
        break;
    case OP_REQUEST: /* on a connection that exists: the host lost track, reset it */
        rst(c->lport, c->pport);
        conn_free(c);
        break;
    default:
        break;
    }
}

static int poll_rx(void)
{
    uint32_t id, len;
    int n = 0;
    while (tg_vq_used(&rxq, &id, &len)) {
        struct hdr h;
        memcpy(&h, rxbuf[id], HDR);
        if (len >= HDR && len <= RXB && h.len <= len - HDR)
            on_packet(&h, rxbuf[id] + HDR);
        struct tg_vbuf b = {rxbuf[id], RXB, 1};
        tg_vq_add(&rxq, (uint16_t)id, &b, 1);
        rx_returned = 1;
        n++;
    }
    return n;
}

static int poll_tx(void)
{
    uint32_t id, len;
    int n = 0;
    while (tg_vq_used(&txq, &id, &len)) {
        struct tx_slot *t = &slots[id / 2];
        if ((id & 1) || !t->busy)
            tg_fail("vsock tx: device returned a chain we did not give");
        struct vconn *c = t->conn >= 0 ? &conns[t->conn] : NULL;
        if (c && c->state != VC_FREE && c->gen == t->gen)
            c->done_cnt += t->len; /* the device processes tx in order: the ring's oldest bytes */
        t->busy = 0;
        slots_busy--;
        n++;
    }
    return n;
}

/* Queue whatever each connection may send now. */
static int pump(void)
{
    int n = 0;
    for (unsigned i = 0; i < VC_MAX; i++) {
        struct vconn *c = &conns[i];
        if (c->state != VC_OPEN || c->shut_sent)
            continue;
        for (;;) {
            uint32_t have = c->rx_cnt - c->tx_cnt;
            uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
            uint32_t credit = in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
            uint32_t at = c->tx_cnt % VC_BUF, k = have;
            if (k > credit)
                k = credit;
            if (k > VC_BUF - at)
                k = VC_BUF - at;
            if (k > MAX_PKT)
                k = MAX_PKT;
            if (!k || !tx_packet((int)i, c->lport, c->pport, OP_RW, 0, rings[i] + at, k))
                break;
            c->tx_cnt += k;
            n++;
        }
        if ((c->need_reply || fwd_of(c) - c->fwd_reported >= VC_BUF / 4) &&
            tx_packet((int)i, c->lport, c->pport, OP_CREDIT_UPDATE, 0, NULL, 0)) {
            c->need_reply = 0;
            n++;
        }
        if (c->peer_done && c->done_cnt == c->rx_cnt &&
            tx_packet((int)i, c->lport, c->pport, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND, NULL, 0)) {
            c->shut_sent = 1;
            n++;
        }
    }
    return n;
}

static void connect_ports(const char *list)
{
    uint32_t port = 0;
    int digits = 0;
    for (const char *p = list;; p++) {
        if (*p >= '0' && *p <= '9') {
            port = port * 10 + (uint32_t)(*p - '0');
            digits = 1;
            continue;
        }
        if (digits) {
            struct vconn *c = conn_new(49152 + port % 16384, port, VC_CONNECTING);
            if (!c)
                tg_fail("vsock: no free connection for connect");
            c->peer_buf_alloc = 0;
            tx_packet((int)(c - conns), c->lport, port, OP_REQUEST, 0, NULL, 0);
        }
        port = 0;
        digits = 0;
        if (!*p)
            break;
    }
}

static void kick_pending(void)
{
    if (rx_returned)
        tg_vq_kick(&dev, 0);
    if (tx_added)
        tg_vq_kick(&dev, 1);
    rx_returned = tx_added = 0;
}

/* Sleep until the device has something for us (see the file comment). */
static void idle(void)
{
    volatile unsigned long long *irqs = &((struct tg_mailbox *)TG_MAILBOX)->dev_irqs;
    uint64_t seen = *irqs;
    tg_vq_irq(&rxq, 1);
    tg_vq_irq(&txq, 1);
    if (!tg_vq_pending(&rxq) && !tg_vq_pending(&txq))
        tg_priv(TG_PRIV_IDLE_IRQS, 0, seen);
    tg_vq_irq(&rxq, 0);
    tg_vq_irq(&txq, 0);
}

void tg_vsock_main(const char *cmdline)
{
    if (!tg_vdev_find(TG_VIRTIO_ID_VSOCK, &dev))
        tg_fail("no virtio-vsock device");
    tg_priv_install();
    *(volatile uint32_t *)(LAPIC + 0xf0) = 0x1ff; /* APIC on: device interrupts wake the idle hlt */
    tg_vdev_route_irq(&dev, TG_DEV_VECTOR);
    tg_vdev_start(&dev, 0);
    tg_vq_setup(&dev, 0, &rxq, RXQ_N);
    tg_vq_setup(&dev, 1, &txq, TXQ_N);
    tg_vq_setup(&dev, 2, &evq, 4);
    tg_vdev_ready(&dev);
    cid = tg_vdev_cfg32(&dev, 0) | (uint64_t)tg_vdev_cfg32(&dev, 4) << 32;
    tg_vq_irq(&rxq, 0);
    tg_vq_irq(&txq, 0);
    tg_vq_irq(&evq, 0);
    for (uint16_t i = 0; i < RXQ_N; i++) {
        struct tg_vbuf b = {rxbuf[i], RXB, 1};
        tg_vq_add(&rxq, i, &b, 1);
    }
    struct tg_vbuf eb = {evbuf, sizeof(evbuf), 1};
    tg_vq_add(&evq, 0, &eb, 1);
    tg_vq_kick(&dev, 0);
    tg_vq_kick(&dev, 2);
    tg_puts("testguest: vsock echo cid=");
    tg_putu(cid);
    tg_puts(" port=1024 ready\n");
    char list[64];
    if (tg_cmdline_get(cmdline, "testguest.vsock_connect", list, sizeof(list))) {
        connect_ports(list);
        kick_pending();
    }
    uint64_t last_work = rdtsc();
    for (;;) {
        int work = poll_tx();
        work += poll_rx();
        work += pump();
        kick_pending();
        if (work)
            last_work = rdtsc();
        else if (rdtsc() - last_work > SPIN_CYCLES)
            idle();
        else
            __asm__ volatile("pause");
    }
}
