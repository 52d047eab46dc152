/*
 * vmm/virtio/vsock/vsock_rx.c - virtio-vsock, device -> guest: the rx pump
 * (control packets and host data into the guest's receive buffers, round
 * robin over connections, bounded per pass) and the event queue (see
 * vsock.h). Called with the device lock held.
 */
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/virtio/vsock/vsock_conn.h"

static struct log_ratelimit rx_rl;

static void guest_warn(const char *what, uint32_t a, uint32_t b)
{
    if (log_ratelimit_ok(&rx_rl, 20, 60))
        log_warn("virtio-vsock: guest %s (%u, %u)", what, a, b);
}

/* ---- rx: device -> guest ---- */

static void reply_hdr(struct virtio_vsock *v, struct vsock_conn *c, uint16_t op, uint32_t len,
                      uint32_t flags, struct vsock_hdr *h)
{
    *h = (struct vsock_hdr){.src_cid = VSOCK_HOST_CID,
                            .dst_cid = v->guest_cid,
                            .src_port = c->local_port,
                            .dst_port = c->peer_port,
                            .len = len,
                            .type = VSOCK_TYPE_STREAM,
                            .op = op,
                            .flags = flags,
                            .buf_alloc = VSOCK_CONN_BUF,
                            .fwd_cnt = c->fwd_cnt};
    c->fwd_reported = c->fwd_cnt;
}

static void write_hdr(struct virtio_vsock *v, const struct vsock_hdr *h)
{
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_build(h, raw);
    vq_chain_write(&v->chain, 0, raw, sizeof(raw)); /* room checked by take_rx_chain */
}

/* 1 = chain in v->chain, 0 = none available, -1 = guest broke the ring. */
int vsock_take_chain(struct virtio_vsock *v, struct vq *q, uint64_t min_in)
{
    int got = vq_pop(q, v->act.mem, &v->chain);
    if (got == 0 && vq_enable_notify(q))
        got = vq_pop(q, v->act.mem, &v->chain);
    if (got > 0 && v->chain.in_bytes < min_in) {
        guest_warn("offered a receive buffer too small for a header", (uint32_t)v->chain.in_bytes,
                   (uint32_t)min_in);
        q->broken = true;
        got = BURROW_ERR_GUEST;
    }
    if (got < 0) {
        v->t->needs_reset(v->t->ctx);
        return -1;
    }
    return got;
}

static uint32_t send_ctrl(struct virtio_vsock *v, struct vsock_conn *c)
{
    struct vsock_hdr h;
    unsigned p = c->pending;
    if (p & PEND_RST) {
        reply_hdr(v, c, VSOCK_OP_RST, 0, 0, &h);
        write_hdr(v, &h);
        vsock_conn_free(v, c);
        return VSOCK_HDR_SIZE;
    }
    if (p & PEND_REQUEST) {
        reply_hdr(v, c, VSOCK_OP_REQUEST, 0, 0, &h);
        c->pending &= ~PEND_REQUEST;
    } else if (p & PEND_RESPONSE) {
        reply_hdr(v, c, VSOCK_OP_RESPONSE, 0, 0, &h);
        c->pending &= ~PEND_RESPONSE;
    } else if (p & PEND_SHUTDOWN) {
        reply_hdr(v, c, VSOCK_OP_SHUTDOWN, 0, c->shutdown_flags, &h);
        c->pending &= ~PEND_SHUTDOWN;
    } else {
        reply_hdr(v, c, VSOCK_OP_CREDIT_UPDATE, 0, 0, &h);
        c->pending &= ~PEND_CREDIT_UPDATE;
    }
    write_hdr(v, &h);
    return VSOCK_HDR_SIZE;
}

static bool wants_data(const struct vsock_conn *c)
{
    return c->state == CONN_ESTABLISHED && c->fd >= 0 && c->host_readable && !c->host_eof &&
           !c->guest_no_recv && vsock_credit_to_guest(c) > 0;
}

/* Bytes pushed, or 0 when nothing was sent (the chain goes back). */
static uint32_t send_data(struct virtio_vsock *v, struct vsock_conn *c)
{
    uint64_t room = v->chain.in_bytes - VSOCK_HDR_SIZE;
    uint32_t max = vsock_credit_to_guest(c);
    if (max > VSOCK_MAX_PKT)
        max = VSOCK_MAX_PKT;
    if (max > room)
        max = (uint32_t)room;
    if (max == 0)
        return 0;
    unsigned n = vq_chain_iov(&v->chain, true, VSOCK_HDR_SIZE, max, v->iov, VQ_MAX_IOV);
    int r = vsock_host_recv(c, v->iov, n);
    if (r > 0) {
        struct vsock_hdr h;
        reply_hdr(v, c, VSOCK_OP_RW, (uint32_t)r, 0, &h);
        write_hdr(v, &h);
        c->tx_cnt += (uint32_t)r;
        vsock_count_session(v, c, (uint32_t)r);
        return VSOCK_HDR_SIZE + (uint32_t)r;
    }
    c->host_readable = false;
    if (r == 0) {
        c->host_eof = true; /* the host will send no more: tell the guest, keep its side open */
        c->pending |= PEND_SHUTDOWN;
        c->shutdown_flags |= VSOCK_SHUTDOWN_SEND;
        vsock_conn_maybe_finish(c);
    } else if (r != BURROW_ERR_AGAIN) {
        vsock_conn_abort(v, c);
    }
    return 0;
}

/* Next connection with something for the guest, round-robin. */
static struct vsock_conn *next_rx_work(struct virtio_vsock *v)
{
    for (unsigned k = 0; k < VSOCK_MAX_CONNS; k++) {
        unsigned i = (v->rr + k) % VSOCK_MAX_CONNS;
        struct vsock_conn *c = &v->conns[i];
        if (c->state == CONN_FREE || c->state == CONN_HANDSHAKE)
            continue;
        if (c->pending || wants_data(c)) {
            v->rr = i + 1;
            return c;
        }
    }
    return NULL;
}

void vsock_rx_pump(struct virtio_vsock *v)
{
    if (!v->active)
        return;
    struct vq *q = &v->act.vqs[VSOCK_RXQ];
    unsigned budget = VSOCK_BUDGET;
    bool pushed = false;
    while (budget) {
        struct vsock_conn *c = NULL;
        if (!v->rst_len && !(c = next_rx_work(v)))
            break;
        /* Linux posts 4 KiB buffers; one that cannot carry a byte of payload is hostile. */
        int got = vsock_take_chain(v, q, VSOCK_HDR_SIZE + 1);
        if (got <= 0)
            break;
        budget--;
        uint32_t used;
        if (!c) {
            struct vsock_conn tmp = {.local_port = v->rst_queue[0].local_port,
                                     .peer_port = v->rst_queue[0].peer_port};
            struct vsock_hdr h;
            reply_hdr(v, &tmp, VSOCK_OP_RST, 0, 0, &h);
            write_hdr(v, &h);
            memmove(v->rst_queue, v->rst_queue + 1, --v->rst_len * sizeof(v->rst_queue[0]));
            used = VSOCK_HDR_SIZE;
        } else if (c->pending) {
            used = send_ctrl(v, c);
        } else if (!(used = send_data(v, c))) {
            vq_unpop(q);
            continue;
        }
        vq_push(q, v->chain.head, used);
        pushed = true;
    }
    if (pushed && vq_should_signal(q))
        v->t->signal_queue(v->t->ctx, VSOCK_RXQ);
    if (!budget)
        vsock_wake(v);
}

/* ---- event queue ---- */

void vsock_event_pump(struct virtio_vsock *v)
{
    if (!v->active || !v->event_pending)
        return;
    struct vq *q = &v->act.vqs[VSOCK_EVQ];
    if (vsock_take_chain(v, q, 4) <= 0)
        return;
    uint32_t id = VSOCK_EVENT_TRANSPORT_RESET; /* le32; host is little-endian */
    vq_chain_write(&v->chain, 0, &id, sizeof(id));
    vq_push(q, v->chain.head, sizeof(id));
    v->event_pending = false;
    if (vq_should_signal(q))
        v->t->signal_queue(v->t->ctx, VSOCK_EVQ);
}
