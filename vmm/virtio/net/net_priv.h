/*
 * vmm/virtio/net/net_priv.h - virtio-net internals shared by net.c (config,
 * control queue, lifecycle, snapshots) and net_io.c (the rx/tx pumps and
 * the backend). Not for other modules.
 */
#ifndef BURROW_VMM_VIRTIO_NET_PRIV_H
#define BURROW_VMM_VIRTIO_NET_PRIV_H

#include <pthread.h>
#include <stdbool.h>

#include "vmm/virtio/net/ratelimit.h"
#include "vmm/virtio/net/net.h"
#include "vmm/virtio/queue.h"

struct virtio_net {
    pthread_mutex_t lock; /* guards everything below */
    const struct virtio_transport *t;
    bool active;
    struct virtio_activation act;

    uint8_t mac[NET_MAC_LEN];
    uint16_t status; /* VIRTIO_NET_S_* as the config space shows it */

    int tap_fd;          /* backend, non-blocking; -1: none (link down) */
    int ep_fd;           /* epoll: tap_fd and timer_fd */
    int timer_fd;        /* rate limit: fires when a waiting direction has tokens again */
    uint32_t tap_events; /* interest registered for tap_fd in ep_fd */

    struct net_bucket tx_bucket, rx_bucket;
    bool tx_wait_out;    /* the backend refused a write: wait for EPOLLOUT */
    bool tx_wait_tokens; /* tx out of tokens: wait for the timer */
    bool rx_wait_tokens; /* rx out of tokens: wait for the timer */
    bool rx_no_buffers;  /* a frame is held but the guest offered no rx chain */

    uint8_t *rx_frame; /* NET_MAX_FRAME bytes: the frame read from the backend */
    uint32_t rx_len;
    bool rx_held; /* rx_frame holds a frame not yet delivered */

    struct virtio_net_stats stats;
    struct vq_chain chain; /* scratch: too big for a vCPU thread's stack */
};

/* Run whatever can run: tx queue, rx delivery; then re-arm epoll interest and timer. */
void net_pump(struct virtio_net *n);
/* The tap fd's epoll interest and the timer, from the wait flags. */
void net_update_waits(struct virtio_net *n);
/* The guest broke the contract on a queue. */
void net_guest_error(struct virtio_net *n, const char *what);

#endif /* BURROW_VMM_VIRTIO_NET_PRIV_H */
