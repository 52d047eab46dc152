/*
 * vmm/virtio/net/net.c - virtio-net: lifecycle, config space, control queue and
 * snapshots (see net.h). The data path is in net_io.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/virtio/net/net_priv.h"

#define NET_SAVE_VERSION 1u

static struct log_ratelimit net_rl;

void net_guest_error(struct virtio_net *n, const char *what)
{
    if (log_ratelimit_ok(&net_rl, 10, 60))
        log_warn("virtio-net: guest error: %s; device needs reset", what);
    n->t->needs_reset(n->t->ctx);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

/* Swap the backend (under the lock, or before the device is shared). */
static int set_backend(struct virtio_net *n, int tap_fd)
{
    if (tap_fd >= 0) {
        int r = set_nonblock(tap_fd);
        if (r)
            return r;
        struct epoll_event ev = {.events = 0, .data.fd = tap_fd};
        if (epoll_ctl(n->ep_fd, EPOLL_CTL_ADD, tap_fd, &ev) < 0)
            return BURROW_ERR_SYSTEM;
    }
    if (n->tap_fd >= 0) {
        epoll_ctl(n->ep_fd, EPOLL_CTL_DEL, n->tap_fd, NULL);
        close(n->tap_fd);
    }
    n->tap_fd = tap_fd;
    n->tap_events = 0;
    n->tx_wait_out = false;
    n->rx_held = false; /* a frame of the old backend is not delivered */
    if (tap_fd >= 0)
        n->status |= VIRTIO_NET_S_LINK_UP;
    else
        n->status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
    return 0;
}

int virtio_net_create(const struct virtio_transport *t, int tap_fd, const uint8_t mac[NET_MAC_LEN],
                      struct virtio_net **out)
{
    if (sodium_init() < 0)
        return BURROW_ERR_SYSTEM;
    struct virtio_net *n = calloc(1, sizeof(*n));
    if (!n)
        return BURROW_ERR_NOMEM;
    pthread_mutex_init(&n->lock, NULL);
    n->t = t;
    n->tap_fd = -1;
    n->ep_fd = -1;
    n->timer_fd = -1;
    memcpy(n->mac, mac, NET_MAC_LEN);
    uint64_t now = clock_now_ns();
    net_bucket_init(&n->tx_bucket, 0, 0, now);
    net_bucket_init(&n->rx_bucket, 0, 0, now);
    int r = BURROW_ERR_NOMEM;
    if (!(n->rx_frame = malloc(NET_MAX_FRAME)))
        goto fail;
    r = BURROW_ERR_SYSTEM;
    n->ep_fd = epoll_create1(EPOLL_CLOEXEC);
    n->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (n->ep_fd < 0 || n->timer_fd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = n->timer_fd};
    if (epoll_ctl(n->ep_fd, EPOLL_CTL_ADD, n->timer_fd, &ev) < 0)
        goto fail;
    if ((r = set_backend(n, tap_fd)))
        goto fail;
    *out = n;
    return 0;
fail:
    if (tap_fd >= 0 && n->tap_fd != tap_fd)
        close(tap_fd); /* owned from the call on, even when it fails */
    virtio_net_destroy(n);
    return r;
}

void virtio_net_destroy(struct virtio_net *n)
{
    if (!n)
        return;
    if (n->tap_fd >= 0)
        close(n->tap_fd);
    if (n->timer_fd >= 0)
        close(n->timer_fd);
    if (n->ep_fd >= 0)
        close(n->ep_fd);
    free(n->rx_frame);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

void virtio_net_set_limit(struct virtio_net *n, uint64_t bytes_per_s, uint64_t burst)
{
    pthread_mutex_lock(&n->lock);
    uint64_t now = clock_now_ns();
    net_bucket_init(&n->tx_bucket, bytes_per_s, burst, now);
    net_bucket_init(&n->rx_bucket, bytes_per_s, burst, now);
    n->tx_wait_tokens = n->rx_wait_tokens = false;
    net_pump(n);
    pthread_mutex_unlock(&n->lock);
}

int virtio_net_attach(struct virtio_net *n, int tap_fd, const uint8_t mac[NET_MAC_LEN])
{
    pthread_mutex_lock(&n->lock);
    int r = 0;
    if (tap_fd >= 0 && (r = set_backend(n, tap_fd))) {
        pthread_mutex_unlock(&n->lock);
        close(tap_fd);
        return r;
    }
    memcpy(n->mac, mac, NET_MAC_LEN);
    if (n->active && (n->act.features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE)))
        n->status |= VIRTIO_NET_S_ANNOUNCE;
    n->t->signal_config(n->t->ctx);
    net_pump(n);
    pthread_mutex_unlock(&n->lock);
    return 0;
}

int virtio_net_host_fd(struct virtio_net *n)
{
    return n->ep_fd;
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
    pthread_mutex_lock(&n->lock);
    *out = n->stats;
    pthread_mutex_unlock(&n->lock);
}

void virtio_net_get_config(struct virtio_net *n, uint8_t mac[NET_MAC_LEN], uint16_t *status)
{
    pthread_mutex_lock(&n->lock);
    memcpy(mac, n->mac, NET_MAC_LEN);
    *status = n->status;
    pthread_mutex_unlock(&n->lock);
}

void virtio_net_mac_from_seed(const void *seed, size_t len, uint8_t mac[NET_MAC_LEN])
{
    uint8_t h[16];
    crypto_generichash(h, sizeof(h), seed, len, NULL, 0);
    mac[0] = 0x02; /* locally administered, unicast */
    memcpy(mac + 1, h, NET_MAC_LEN - 1);
}

/* ---- virtio_dev_ops ---- */

static uint64_t net_features(void *dev)
{
    (void)dev;
    return VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) |
           VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
           VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) |
           VIRTIO_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR);
}

static void net_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_net *n = dev;
    uint8_t cfg[NET_CONFIG_SIZE];
    pthread_mutex_lock(&n->lock);
    memcpy(cfg, n->mac, NET_MAC_LEN);
    cfg[6] = (uint8_t)n->status;
    cfg[7] = (uint8_t)(n->status >> 8);
    pthread_mutex_unlock(&n->lock);
    cfg[8] = 1; /* max_virtqueue_pairs (only read with VIRTIO_NET_F_MQ, never offered) */
    cfg[9] = 0;
    virtio_config_copy(data, cfg, sizeof(cfg), off, len);
}

/* The MAC is read-only through config space in a modern device: writes are ignored. */
static void net_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
    (void)dev;
    (void)off;
    (void)data;
    (void)len;
}

static int net_activate(void *dev, const struct virtio_activation *act)
{
    struct virtio_net *n = dev;
    pthread_mutex_lock(&n->lock);
    n->act = *act;
    n->active = true;
    n->rx_no_buffers = false;
    net_pump(n);
    pthread_mutex_unlock(&n->lock);
    return 0;
}

static void net_reset(void *dev)
{
    struct virtio_net *n = dev;
    pthread_mutex_lock(&n->lock);
    n->active = false;
    n->rx_held = false;
    n->rx_no_buffers = false;
    n->tx_wait_out = false;
    n->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
    net_update_waits(n); /* stop watching the backend */
    pthread_mutex_unlock(&n->lock);
}

/* One control command: class and command byte, data; the ack byte is returned. */
static uint8_t ctrl_command(struct virtio_net *n, const struct vq_chain *c)
{
    uint8_t hdr[2];
    vq_chain_read(c, 0, hdr, sizeof(hdr));
    uint64_t data_len = c->out_bytes - 2;
    if (hdr[0] == VIRTIO_NET_CTRL_ANNOUNCE && hdr[1] == VIRTIO_NET_CTRL_ANNOUNCE_ACK &&
        (n->act.features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE))) {
        n->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
        return VIRTIO_NET_OK;
    }
    if (hdr[0] == VIRTIO_NET_CTRL_MAC && hdr[1] == VIRTIO_NET_CTRL_MAC_ADDR_SET &&
        (n->act.features & VIRTIO_BIT(VIRTIO_NET_F_CTRL_MAC_ADDR)) && data_len == NET_MAC_LEN) {
        uint8_t mac[NET_MAC_LEN];
        vq_chain_read(c, 2, mac, sizeof(mac));
        /*
         * The MAC is the host's to choose (virtio_net_attach): the driver may
         * only confirm it (the agent sets the fork's MAC on eth0 and Linux
         * tells us), never change it, so `ip link set address` fails in the
         * guest instead of sending frames the host would drop.
         */
        return memcmp(mac, n->mac, NET_MAC_LEN) == 0 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
    }
    return VIRTIO_NET_ERR; /* classes we never offered (RX, VLAN, MQ, offloads) */
}

static void ctrl_process(struct virtio_net *n)
{
    struct vq *q = &n->act.vqs[NET_QUEUE_CTRL];
    bool pushed = false;
    for (unsigned budget = VIRTIO_BUDGET;; budget--) {
        if (!budget) {
            n->t->requeue(n->t->ctx, NET_QUEUE_CTRL);
            break;
        }
        int got = vq_pop(q, n->act.mem, &n->chain);
        if (got < 0) {
            net_guest_error(n, "malformed control chain");
            break;
        }
        if (got == 0) {
            if (!vq_enable_notify(q))
                break;
            continue;
        }
        if (n->chain.out_bytes < 2 || n->chain.in_bytes < 1) {
            net_guest_error(n, "control command without header or ack byte");
            break;
        }
        uint8_t ack = ctrl_command(n, &n->chain);
        vq_chain_write(&n->chain, 0, &ack, 1);
        vq_push(q, n->chain.head, 1);
        pushed = true;
    }
    if (pushed && vq_should_signal(q))
        n->t->signal_queue(n->t->ctx, NET_QUEUE_CTRL);
}

static void net_notify(void *dev, unsigned qi)
{
    struct virtio_net *n = dev;
    pthread_mutex_lock(&n->lock);
    if (!n->active || qi >= n->act.nr_queues)
        goto out;
    if (qi == NET_QUEUE_CTRL) {
        ctrl_process(n);
        goto out;
    }
    if (qi == NET_QUEUE_RX)
        n->rx_no_buffers = false; /* the guest added rx buffers */
    net_pump(n);
out:
    pthread_mutex_unlock(&n->lock);
}

/* Saved: version, MAC, status. The backend, held frames and buckets never survive a snapshot. */
static int net_save(void *dev, struct buf *out)
{
    struct virtio_net *n = dev;
    int r;
    pthread_mutex_lock(&n->lock);
    if (!(r = buf_put_u8(out, NET_SAVE_VERSION)) && !(r = buf_put_bytes(out, n->mac, NET_MAC_LEN)))
        r = buf_put_u16_le(out, n->status);
    pthread_mutex_unlock(&n->lock);
    return r;
}

static int net_restore(void *dev, struct buf *in)
{
    struct virtio_net *n = dev;
    uint8_t version, mac[NET_MAC_LEN];
    uint16_t status;
    int r;
    if ((r = buf_get_u8(in, &version)) || (r = buf_get_bytes(in, mac, NET_MAC_LEN)) ||
        (r = buf_get_u16_le(in, &status)) || (r = buf_get_end(in)))
        return r;
    if (version != NET_SAVE_VERSION)
        return BURROW_ERR_VERSION;
    if (status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE))
        return BURROW_ERR_FORMAT;
    pthread_mutex_lock(&n->lock);
    memcpy(n->mac, mac, NET_MAC_LEN);
    /* The link is up only if this VM has a backend, whatever the template had. */
    n->status =
        (uint16_t)((status & VIRTIO_NET_S_ANNOUNCE) | (n->tap_fd >= 0 ? VIRTIO_NET_S_LINK_UP : 0));
    n->rx_held = false;
    net_pump(n);
    pthread_mutex_unlock(&n->lock);
    return 0;
}

const struct virtio_dev_ops virtio_net_ops = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .nr_queues = 3,
    .queue_max = NET_QUEUE_MAX,
    .config_size = NET_CONFIG_SIZE,
    .features = net_features,
    .config_read = net_config_read,
    .config_write = net_config_write,
    .activate = net_activate,
    .notify = net_notify,
    .reset = net_reset,
    .save = net_save,
    .restore = net_restore,
};
