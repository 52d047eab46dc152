/*
 * vmm/virtio/net/net_io.c - virtio-net data path: guest tx chains to the
 * backend, backend frames into guest rx chains, the rate limit and the
 * backend's epoll interest (see net.h).
 *
 * Every wait is explicit, so the level-triggered epoll set never spins:
 *   - tx_wait_out: the backend refused a write; the chain went back to the
 *     ring and EPOLLOUT is watched;
 *   - rx_no_buffers: a frame is held but the guest has no rx chain; EPOLLIN
 *     is not watched until the guest kicks the rx queue;
 *   - tx/rx_wait_tokens: the bucket is empty; the timerfd is armed for when
 *     it is not.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/virtio/net/net_priv.h"

static struct log_ratelimit io_rl;

static void backend_warn(const char *what, int err)
{
    if (log_ratelimit_ok(&io_rl, 10, 60))
        log_warn("virtio-net: backend %s: %s", what, strerror(err));
}

/*
 * The backend is gone for good (a TAP whose interface was deleted reports
 * EPOLLERR and EBADFD forever; a stream peer hung up). epoll reports ERR and
 * HUP whatever the interest, so the fd must leave the set, or the event
 * thread would spin. The link goes down and the guest is told.
 */
static void backend_lost(struct virtio_net *n)
{
    if (n->tap_fd < 0)
        return;
    if (log_ratelimit_ok(&io_rl, 10, 60))
        log_warn("virtio-net: backend lost; link down");
    epoll_ctl(n->ep_fd, EPOLL_CTL_DEL, n->tap_fd, NULL);
    close(n->tap_fd);
    n->tap_fd = -1;
    n->tap_events = 0;
    n->tx_wait_out = false;
    n->rx_held = false;
    n->status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
    n->t->signal_config(n->t->ctx);
}

/* ---- tx: guest → backend ---- */

/*
 * A frame leaves only from the device's own MAC: a guest that changed eth0's
 * address behind the device's back (or forges frames) sends nothing out
 * (the host's bridge filter checks the same, and the IPv4 address too:
 * broker/vm/netpolicy.h).
 */
static bool tx_source_ok(const struct virtio_net *n, const struct vq_chain *c)
{
    uint8_t src[NET_MAC_LEN];
    vq_chain_read(c, NET_HDR_SIZE + NET_MAC_LEN, src, sizeof(src));
    return memcmp(src, n->mac, NET_MAC_LEN) == 0;
}

/* One tx chain. 1 = consumed, 0 = must wait (chain given back), <0 = guest error. */
static int tx_one(struct virtio_net *n, struct vq *q)
{
    struct vq_chain *c = &n->chain;
    if (c->nr_in) {
        net_guest_error(n, "tx chain with a device-writable buffer");
        return BURROW_ERR_GUEST;
    }
    if (c->out_bytes < NET_HDR_SIZE) {
        net_guest_error(n, "tx chain shorter than virtio_net_hdr");
        return BURROW_ERR_GUEST;
    }
    /* The header carries nothing we use: no offload was offered. */
    uint64_t len = c->out_bytes - NET_HDR_SIZE;
    if (len < NET_MIN_FRAME || len > NET_MAX_FRAME || n->tap_fd < 0 || !tx_source_ok(n, c)) {
        n->stats.tx_dropped++;
        vq_push(q, c->head, 0);
        return 1;
    }
    struct iovec iov[VQ_MAX_IOV];
    unsigned nio = vq_chain_iov(c, false, NET_HDR_SIZE, len, iov, VQ_MAX_IOV);
    ssize_t w = writev(n->tap_fd, iov, (int)nio);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
        vq_unpop(q);
        n->tx_wait_out = true;
        return 0;
    }
    if (w < 0) {
        backend_warn("write", errno); /* e.g. EIO while the TAP is down: the frame is lost */
        n->stats.tx_dropped++;
    } else {
        n->stats.tx_packets++;
        n->stats.tx_bytes += len;
        net_bucket_take(&n->tx_bucket, len);
    }
    vq_push(q, c->head, 0);
    return 1;
}

static void tx_pump(struct virtio_net *n)
{
    if (n->act.nr_queues <= NET_QUEUE_TX)
        return;
    struct vq *q = &n->act.vqs[NET_QUEUE_TX];
    bool pushed = false;
    for (unsigned budget = VIRTIO_BUDGET; !n->tx_wait_out; budget--) {
        if (!budget) {
            n->t->requeue(n->t->ctx, NET_QUEUE_TX);
            break;
        }
        if (!net_bucket_ok(&n->tx_bucket, clock_now_ns())) {
            n->tx_wait_tokens = true;
            n->stats.tx_throttled++;
            break;
        }
        int got = vq_pop(q, n->act.mem, &n->chain);
        if (got < 0) {
            net_guest_error(n, "malformed tx chain");
            break;
        }
        if (got == 0) {
            if (!vq_enable_notify(q))
                break;
            continue;
        }
        int r = tx_one(n, q);
        if (r < 0)
            break;
        pushed |= r == 1;
    }
    if (pushed && vq_should_signal(q))
        n->t->signal_queue(n->t->ctx, NET_QUEUE_TX);
}

/* ---- rx: backend → guest ---- */

/* Read one frame into rx_frame. true = got one. */
static bool rx_read(struct virtio_net *n)
{
    for (;;) {
        ssize_t r = read(n->tap_fd, n->rx_frame, NET_MAX_FRAME);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EBADFD)
                backend_lost(n);
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                backend_warn("read", errno);
            return false;
        }
        if ((size_t)r < NET_MIN_FRAME) { /* runt, or an empty datagram: nothing to deliver */
            n->stats.rx_dropped++;
            continue;
        }
        n->rx_len = (uint32_t)r;
        n->rx_held = true;
        return true;
    }
}

/* Deliver the held frame. 1 = delivered or dropped, 0 = no rx chain, <0 = guest error. */
static int rx_deliver(struct virtio_net *n, struct vq *q)
{
    struct vq_chain *c = &n->chain;
    int got = vq_pop(q, n->act.mem, c);
    if (got < 0) {
        net_guest_error(n, "malformed rx chain");
        return got;
    }
    if (got == 0) {
        if (vq_enable_notify(q))
            return rx_deliver(n, q); /* raced with the driver adding one: once more */
        return 0;
    }
    if (c->nr_out || c->in_bytes < NET_HDR_SIZE) {
        net_guest_error(n, "rx chain with readable buffers or no room for virtio_net_hdr");
        return BURROW_ERR_GUEST;
    }
    if (c->in_bytes - NET_HDR_SIZE < n->rx_len) {
        /* Too big for this guest's buffers (no MRG_RXBUF): drop it, keep the chain. */
        vq_unpop(q);
        n->stats.rx_dropped++;
        n->rx_held = false;
        return 1;
    }
    uint8_t hdr[NET_HDR_SIZE] = {0};
    hdr[10] = 1; /* num_buffers = 1 (le16) */
    vq_chain_write(c, 0, hdr, sizeof(hdr));
    vq_chain_write(c, NET_HDR_SIZE, n->rx_frame, n->rx_len);
    vq_push(q, c->head, NET_HDR_SIZE + n->rx_len);
    n->stats.rx_packets++;
    n->stats.rx_bytes += n->rx_len;
    net_bucket_take(&n->rx_bucket, n->rx_len);
    n->rx_held = false;
    return 2;
}

static void rx_pump(struct virtio_net *n)
{
    struct vq *q = &n->act.vqs[NET_QUEUE_RX];
    bool pushed = false;
    for (unsigned budget = VIRTIO_BUDGET; n->tap_fd >= 0 && !n->rx_no_buffers; budget--) {
        if (!budget) {
            n->t->requeue(n->t->ctx, NET_QUEUE_RX);
            break;
        }
        if (!n->rx_held) {
            if (!net_bucket_ok(&n->rx_bucket, clock_now_ns())) {
                n->rx_wait_tokens = true;
                n->stats.rx_throttled++;
                break;
            }
            if (!rx_read(n))
                break; /* nothing to read: EPOLLIN stays watched */
        }
        int r = rx_deliver(n, q);
        if (r < 0)
            break;
        if (r == 0) {
            n->rx_no_buffers = true;
            break;
        }
        pushed |= r == 2;
    }
    if (pushed && vq_should_signal(q))
        n->t->signal_queue(n->t->ctx, NET_QUEUE_RX);
}

/* ---- waits ---- */

void net_update_waits(struct virtio_net *n)
{
    uint32_t ev = 0;
    if (n->active && n->tap_fd >= 0) {
        if (!n->rx_no_buffers && !n->rx_wait_tokens)
            ev |= EPOLLIN;
        if (n->tx_wait_out)
            ev |= EPOLLOUT;
    }
    if (n->tap_fd >= 0 && ev != n->tap_events) {
        struct epoll_event e = {.events = ev, .data.fd = n->tap_fd};
        if (epoll_ctl(n->ep_fd, EPOLL_CTL_MOD, n->tap_fd, &e) == 0)
            n->tap_events = ev;
    }
    uint64_t wait = 0;
    if (n->active && n->tx_wait_tokens)
        wait = net_bucket_wait_ns(&n->tx_bucket);
    if (n->active && n->rx_wait_tokens) {
        uint64_t w = net_bucket_wait_ns(&n->rx_bucket);
        if (!wait || (w && w < wait))
            wait = w;
    }
    if ((n->tx_wait_tokens || n->rx_wait_tokens) && n->active && !wait)
        wait = 1; /* tokens already there: fire at once rather than never */
    struct itimerspec its = {.it_value = {.tv_sec = (time_t)(wait / 1000000000ull),
                                          .tv_nsec = (long)(wait % 1000000000ull)}};
    timerfd_settime(n->timer_fd, 0, &its, NULL); /* all zero disarms */
}

void net_pump(struct virtio_net *n)
{
    if (n->active) {
        if (n->tx_wait_tokens && net_bucket_ok(&n->tx_bucket, clock_now_ns()))
            n->tx_wait_tokens = false;
        if (n->rx_wait_tokens && net_bucket_ok(&n->rx_bucket, clock_now_ns()))
            n->rx_wait_tokens = false;
        if (!n->tx_wait_tokens)
            tx_pump(n);
        if (!n->rx_wait_tokens)
            rx_pump(n);
    }
    net_update_waits(n);
}

void virtio_net_host_process(struct virtio_net *n)
{
    struct epoll_event evs[4];
    pthread_mutex_lock(&n->lock);
    int nr = epoll_wait(n->ep_fd, evs, 4, 0);
    for (int i = 0; i < nr; i++) {
        if (evs[i].data.fd == n->timer_fd) {
            uint64_t ticks;
            ssize_t r = read(n->timer_fd, &ticks, sizeof(ticks));
            (void)r;
        } else if (evs[i].data.fd == n->tap_fd && (evs[i].events & (EPOLLERR | EPOLLHUP))) {
            backend_lost(n);
        } else if (evs[i].data.fd == n->tap_fd && (evs[i].events & EPOLLOUT)) {
            n->tx_wait_out = false;
        }
    }
    net_pump(n);
    pthread_mutex_unlock(&n->lock);
}
