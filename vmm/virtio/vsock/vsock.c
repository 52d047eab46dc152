/*
 * vmm/virtio/vsock/vsock.c - virtio-vsock, guest side: the three queues, packet
 * parsing and the connection state machine (see vsock.h). The host sockets
 * live in vsock_host.c.
 */
#include "vmm/virtio/vsock/vsock.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/virtio/vsock/vsock_conn.h"

static struct log_ratelimit vs_rl;

static void guest_warn(const char *what, uint32_t a, uint32_t b)
{
    if (log_ratelimit_ok(&vs_rl, 20, 60))
        log_warn("virtio-vsock: guest %s (%u, %u)", what, a, b);
}

int vsock_hdr_parse(const uint8_t *raw, size_t len, struct vsock_hdr *h)
{
    struct buf b;
    int r;
    buf_init_reader(&b, raw, len);
    if ((r = buf_get_u64_le(&b, &h->src_cid)) || (r = buf_get_u64_le(&b, &h->dst_cid)) ||
        (r = buf_get_u32_le(&b, &h->src_port)) || (r = buf_get_u32_le(&b, &h->dst_port)) ||
        (r = buf_get_u32_le(&b, &h->len)) || (r = buf_get_u16_le(&b, &h->type)) ||
        (r = buf_get_u16_le(&b, &h->op)) || (r = buf_get_u32_le(&b, &h->flags)) ||
        (r = buf_get_u32_le(&b, &h->buf_alloc)) || (r = buf_get_u32_le(&b, &h->fwd_cnt)))
        return r;
    return buf_get_end(&b);
}

void vsock_hdr_build(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
    struct buf b;
    buf_init_writer(&b, raw, VSOCK_HDR_SIZE);
    /* Cannot fail: exactly VSOCK_HDR_SIZE bytes into a buffer of that size. */
    int r = buf_put_u64_le(&b, h->src_cid) | buf_put_u64_le(&b, h->dst_cid) |
            buf_put_u32_le(&b, h->src_port) | buf_put_u32_le(&b, h->dst_port) |
            buf_put_u32_le(&b, h->len) | buf_put_u16_le(&b, h->type) | buf_put_u16_le(&b, h->op) |
            buf_put_u32_le(&b, h->flags) | buf_put_u32_le(&b, h->buf_alloc) |
            buf_put_u32_le(&b, h->fwd_cnt);
    (void)r;
}

/* ---- connections ---- */

static struct vsock_conn *conn_find(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vsock_conn *c = &v->conns[i];
        /* Handshaking host clients have no ports yet: the guest cannot address them. */
        if (c->state != CONN_FREE && c->state != CONN_HANDSHAKE && c->local_port == local &&
            c->peer_port == peer)
            return c;
    }
    return NULL;
}

struct vsock_conn *vsock_conn_alloc(struct virtio_vsock *v)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
        struct vsock_conn *c = &v->conns[i];
        if (c->state == CONN_FREE) {
            uint32_t gen = c->gen;
            memset(c, 0, sizeof(*c));
            c->gen = gen;
            c->fd = -1;
            c->state = CONN_HANDSHAKE;
            return c;
        }
    }
    return NULL;
}

static void close_host(struct vsock_conn *c)
{
    if (c->fd >= 0)
        close(c->fd); /* also leaves the epoll set */
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->buf_len = c->buf_head = 0;
}

void vsock_conn_free(struct virtio_vsock *v, struct vsock_conn *c)
{
    (void)v;
    close_host(c);
    uint32_t gen = c->gen + 1;
    memset(c, 0, sizeof(*c));
    c->gen = gen;
    c->fd = -1;
}

void vsock_conn_abort(struct virtio_vsock *v, struct vsock_conn *c)
{
    /* The guest never heard of it: just forget it. */
    if (c->state == CONN_HANDSHAKE ||
        (c->state == CONN_CONNECTING && (c->pending & PEND_REQUEST))) {
        vsock_conn_free(v, c);
        return;
    }
    close_host(c);
    c->state = CONN_CLOSING;
    c->pending = PEND_RST;
}

static void free_all(struct virtio_vsock *v)
{
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        if (v->conns[i].state != CONN_FREE)
            vsock_conn_free(v, &v->conns[i]);
    v->rst_len = 0;
}

uint32_t vsock_credit_to_guest(const struct vsock_conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void queue_rst(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
    if (v->rst_len >= VSOCK_RST_QUEUE) {
        guest_warn("outran the RST queue; dropping an RST", local, peer);
        return;
    }
    v->rst_queue[v->rst_len].local_port = local;
    v->rst_queue[v->rst_len].peer_port = peer;
    v->rst_len++;
}

static void maybe_credit_update(struct vsock_conn *c)
{
    /*
     * The guest stalls once rx_cnt - fwd_reported reaches VSOCK_CONN_BUF. We
     * report at half a buffer of progress, which the host draining a full
     * buffer always reaches, so a reading host never leaves the guest stuck.
     */
    if (c->fwd_cnt - c->fwd_reported >= VSOCK_CONN_BUF / 2)
        c->pending |= PEND_CREDIT_UPDATE;
}

void vsock_conn_maybe_finish(struct vsock_conn *c)
{
    if (c->buf_len)
        return;
    bool done = (c->guest_no_send && c->guest_no_recv) || (c->guest_no_send && c->host_eof) ||
                c->state == CONN_CLOSING;
    if (!done)
        return;
    close_host(c);
    c->state = CONN_CLOSING;
    c->pending = PEND_RST;
}

void vsock_conn_flushed(struct virtio_vsock *v, struct vsock_conn *c)
{
    (void)v;
    maybe_credit_update(c);
    if (c->buf_len == 0 && c->guest_no_send && !c->host_shut_wr && c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        c->host_shut_wr = true;
    }
    vsock_conn_maybe_finish(c);
}

/* ---- tx: guest -> device ---- */

static void guest_connect(struct virtio_vsock *v, const struct vsock_hdr *h)
{
    struct vsock_conn *c = vsock_conn_alloc(v);
    bool internal = false;
    int fd = c ? vsock_host_connect(v, h->dst_port, h->src_port, &internal) : -1;
    if (fd < 0) {
        if (c)
            vsock_conn_free(v, c);
        queue_rst(v, h->dst_port, h->src_port);
        return;
    }
    c->fd = fd;
    c->internal = internal;
    c->local_port = h->dst_port;
    c->peer_port = h->src_port;
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    c->state = CONN_ESTABLISHED;
    c->pending = PEND_RESPONSE;
    c->host_readable = c->host_writable = true;
    if (vsock_host_watch(v, c)) {
        vsock_conn_free(v, c);
        queue_rst(v, h->dst_port, h->src_port);
    }
}

static void guest_shutdown(struct vsock_conn *c, uint32_t flags)
{
    if (flags & VSOCK_SHUTDOWN_RCV)
        c->guest_no_recv = true;
    if (flags & VSOCK_SHUTDOWN_SEND)
        c->guest_no_send = true;
    if (c->guest_no_send && c->buf_len == 0 && !c->host_shut_wr && c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        c->host_shut_wr = true;
    }
    vsock_conn_maybe_finish(c);
}

static void guest_data(struct virtio_vsock *v, struct vsock_conn *c, const struct vsock_hdr *h)
{
    if (c->state != CONN_ESTABLISHED || c->guest_no_send) {
        guest_warn("sent data on a connection not open for it", h->src_port, h->dst_port);
        vsock_conn_abort(v, c);
        return;
    }
    unsigned n = vq_chain_iov(&v->chain, false, VSOCK_HDR_SIZE, h->len, v->iov, VQ_MAX_IOV);
    int r = vsock_host_send(v, c, v->iov, n, h->len);
    if (r == BURROW_ERR_GUEST)
        guest_warn("sent beyond its credit", h->src_port, h->len);
    if (r) {
        vsock_conn_abort(v, c);
        return;
    }
    vsock_count_session(v, c, h->len);
    maybe_credit_update(c);
}

static void conn_packet(struct virtio_vsock *v, struct vsock_conn *c, const struct vsock_hdr *h)
{
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case VSOCK_OP_RESPONSE:
        if (c->state != CONN_CONNECTING || (c->pending & PEND_REQUEST) || vsock_host_accepted(c)) {
            vsock_conn_abort(v, c);
            break;
        }
        c->state = CONN_ESTABLISHED;
        c->host_readable = true; /* bytes may wait behind the CONNECT line: no new edge */
        break;
    case VSOCK_OP_RW:
        guest_data(v, c, h);
        break;
    case VSOCK_OP_CREDIT_UPDATE:
        break; /* the new credit was recorded above */
    case VSOCK_OP_CREDIT_REQUEST:
        c->pending |= PEND_CREDIT_UPDATE;
        break;
    case VSOCK_OP_SHUTDOWN:
        guest_shutdown(c, h->flags);
        break;
    case VSOCK_OP_RST:
        /* A host client's REQUEST refused: the session says so, the VMM's log says where. */
        if (c->state == CONN_CONNECTING && log_ratelimit_ok(&vs_rl, 20, 60))
            log_info("virtio-vsock: the guest refused a connection to its port %u", c->peer_port);
        vsock_conn_free(v, c);
        break;
    default: /* REQUEST on an existing connection, unknown ops */
        guest_warn("sent an unexpected op", h->op, h->src_port);
        vsock_conn_abort(v, c);
        break;
    }
}

static void tx_packet(struct virtio_vsock *v)
{
    const struct vq_chain *ch = &v->chain;
    uint8_t raw[VSOCK_HDR_SIZE];
    struct vsock_hdr h;
    if (vq_chain_read(ch, 0, raw, sizeof(raw)) != sizeof(raw) ||
        vsock_hdr_parse(raw, sizeof(raw), &h)) {
        guest_warn("sent a packet shorter than its header", (uint32_t)ch->out_bytes, 0);
        return;
    }
    if (h.src_cid != v->guest_cid || h.dst_cid != VSOCK_HOST_CID) {
        guest_warn("sent a packet with foreign CIDs", (uint32_t)h.src_cid, (uint32_t)h.dst_cid);
        return;
    }
    struct vsock_conn *c = conn_find(v, h.dst_port, h.src_port);
    if (h.len > VSOCK_MAX_PKT || h.len > ch->out_bytes - VSOCK_HDR_SIZE ||
        h.type != VSOCK_TYPE_STREAM) {
        guest_warn("sent a packet with a bad length or type", h.len, h.type);
        if (c)
            vsock_conn_abort(v, c);
        else if (h.op != VSOCK_OP_RST)
            queue_rst(v, h.dst_port, h.src_port);
        return;
    }
    if (c)
        conn_packet(v, c, &h);
    else if (h.op == VSOCK_OP_REQUEST)
        guest_connect(v, &h);
    else if (h.op != VSOCK_OP_RST)
        queue_rst(v, h.dst_port, h.src_port);
}

static void tx_process(struct virtio_vsock *v)
{
    struct vq *q = &v->act.vqs[VSOCK_TXQ];
    unsigned budget = VSOCK_BUDGET;
    bool pushed = false;
    for (; budget; budget--) {
        int got = vsock_take_chain(v, q, 0);
        if (got <= 0)
            break;
        tx_packet(v);
        vq_push(q, v->chain.head, 0);
        pushed = true;
    }
    if (pushed && vq_should_signal(q))
        v->t->signal_queue(v->t->ctx, VSOCK_TXQ);
    if (!budget)
        vsock_wake(v);
    vsock_rx_pump(v); /* replies, and new credit may let host data flow */
}

void virtio_vsock_transport_reset(struct virtio_vsock *v)
{
    pthread_mutex_lock(&v->lock);
    free_all(v); /* the guest resets every socket itself; no RSTs */
    v->event_pending = true;
    vsock_event_pump(v);
    pthread_mutex_unlock(&v->lock);
}

/* ---- lifecycle and virtio_dev_ops ---- */

int virtio_vsock_create(const struct virtio_transport *t, uint64_t guest_cid, const char *uds_path,
                        struct virtio_vsock **out)
{
    if (guest_cid < 3 || guest_cid > 0xffffffffu - 1)
        return BURROW_ERR_INVALID;
    struct virtio_vsock *v = calloc(1, sizeof(*v));
    if (!v)
        return BURROW_ERR_NOMEM;
    pthread_mutex_init(&v->lock, NULL);
    v->t = t;
    v->guest_cid = guest_cid;
    v->next_ephemeral = VSOCK_EPHEMERAL_BASE;
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        v->conns[i].fd = -1;
    int r = vsock_host_init(v, uds_path);
    if (r) {
        vsock_host_fini(v);
        pthread_mutex_destroy(&v->lock);
        free(v);
        return r;
    }
    *out = v;
    return 0;
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
    if (!v)
        return;
    free_all(v);
    vsock_host_fini(v);
    pthread_mutex_destroy(&v->lock);
    free(v);
}

int virtio_vsock_register_port(struct virtio_vsock *v, uint32_t port, vsock_accept_fn fn, void *ctx)
{
    int r = 0;
    pthread_mutex_lock(&v->lock);
    for (unsigned i = 0; i < v->nr_handlers; i++)
        if (v->handlers[i].port == port)
            r = BURROW_ERR_EXISTS;
    if (!r && v->nr_handlers >= VSOCK_MAX_HANDLERS)
        r = BURROW_ERR_TOO_LARGE;
    if (!r)
        v->handlers[v->nr_handlers++] = (struct vsock_handler){.port = port, .fn = fn, .ctx = ctx};
    pthread_mutex_unlock(&v->lock);
    return r;
}

void vsock_count_session(struct virtio_vsock *v, const struct vsock_conn *c, uint32_t bytes)
{
    if (!c->internal)
        __atomic_fetch_add(&v->session_bytes, bytes, __ATOMIC_RELAXED);
}

uint64_t virtio_vsock_session_bytes(struct virtio_vsock *v)
{
    return __atomic_load_n(&v->session_bytes, __ATOMIC_RELAXED);
}

unsigned virtio_vsock_nr_conns(struct virtio_vsock *v)
{
    unsigned n = 0;
    pthread_mutex_lock(&v->lock);
    for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
        n += v->conns[i].state != CONN_FREE;
    pthread_mutex_unlock(&v->lock);
    return n;
}

void virtio_vsock_host_process(struct virtio_vsock *v)
{
    pthread_mutex_lock(&v->lock);
    vsock_host_events(v);
    if (v->active) {
        tx_process(v); /* picks up work a spent budget left behind; ends with an rx pump */
        vsock_event_pump(v);
    }
    pthread_mutex_unlock(&v->lock);
}

static uint64_t vsock_features(void *dev)
{
    (void)dev;
    return VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
}

static void vsock_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_vsock *v = dev;
    pthread_mutex_lock(&v->lock);
    uint64_t cid = v->guest_cid; /* le64 guest_cid */
    pthread_mutex_unlock(&v->lock);
    virtio_config_copy(data, &cid, sizeof(cid), off, len);
}

static int vsock_activate(void *dev, const struct virtio_activation *act)
{
    struct virtio_vsock *v = dev;
    pthread_mutex_lock(&v->lock);
    v->act = *act;
    v->active = true;
    vsock_event_pump(v);
    vsock_rx_pump(v);
    pthread_mutex_unlock(&v->lock);
    return 0;
}

static void vsock_notify(void *dev, unsigned q)
{
    struct virtio_vsock *v = dev;
    pthread_mutex_lock(&v->lock);
    if (v->active) {
        if (q == VSOCK_TXQ)
            tx_process(v);
        else if (q == VSOCK_RXQ)
            vsock_rx_pump(v);
        else if (q == VSOCK_EVQ)
            vsock_event_pump(v);
    }
    pthread_mutex_unlock(&v->lock);
}

static void vsock_reset(void *dev)
{
    struct virtio_vsock *v = dev;
    pthread_mutex_lock(&v->lock);
    v->active = false;
    free_all(v); /* the driver is gone, and with it every guest socket */
    pthread_mutex_unlock(&v->lock);
}

static int vsock_save(void *dev, struct buf *out)
{
    struct virtio_vsock *v = dev;
    int r;
    pthread_mutex_lock(&v->lock);
    if (!(r = buf_put_u64_le(out, v->guest_cid)))
        r = buf_put_u8(out, v->event_pending);
    pthread_mutex_unlock(&v->lock);
    return r;
}

static int vsock_restore(void *dev, struct buf *in)
{
    struct virtio_vsock *v = dev;
    uint64_t cid;
    uint8_t pending;
    int r;
    if ((r = buf_get_u64_le(in, &cid)) || (r = buf_get_u8(in, &pending)) || (r = buf_get_end(in)))
        return r;
    if (cid < 3 || cid > 0xffffffffu - 1)
        return BURROW_ERR_FORMAT;
    pthread_mutex_lock(&v->lock);
    free_all(v); /* host sockets never survive a snapshot */
    v->guest_cid = cid;
    v->event_pending = pending;
    vsock_event_pump(v);
    pthread_mutex_unlock(&v->lock);
    return 0;
}

const struct virtio_dev_ops virtio_vsock_ops = {
    .name = "vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .nr_queues = 3,
    .queue_max = VSOCK_QUEUE_MAX,
    .config_size = 8,
    .features = vsock_features,
    .config_read = vsock_config_read,
    .activate = vsock_activate,
    .notify = vsock_notify,
    .reset = vsock_reset,
    .save = vsock_save,
    .restore = vsock_restore,
};
