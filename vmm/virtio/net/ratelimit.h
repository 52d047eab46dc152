/*
 * vmm/virtio/net/ratelimit.h - a token bucket (bytes per second with a burst), the
 * per-VM bandwidth limit of the virtio-net device.
 *
 * Owns: nothing but the bucket's arithmetic. Time is passed in (CLOCK_MONOTONIC
 * nanoseconds), so the unit tests drive it with a fake clock. A packet may be
 * sent whenever the bucket is not empty and then takes its full size, so the
 * level may go negative by at most one packet: no packet is ever too big for
 * a small burst, and the long-run rate still holds (the debt is paid back
 * before the next packet).
 */
#ifndef BURROW_VMM_VIRTIO_NET_RATELIMIT_H
#define BURROW_VMM_VIRTIO_NET_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct net_bucket {
    uint64_t rate;  /* bytes per second; 0 = unlimited */
    uint64_t burst; /* largest level the bucket fills up to, bytes */
    int64_t level;  /* tokens now; < 0 while a packet's debt is paid back */
    uint64_t rem;   /* sub-byte remainder of the refill (rate * ns) */
    uint64_t last_ns;
};

/* rate 0 turns the limit off. A burst of 0 means rate / 20 (50 ms), at least 128 KiB. */
void net_bucket_init(struct net_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns);
/* May a packet go now? Refills first. */
bool net_bucket_ok(struct net_bucket *b, uint64_t now_ns);
/* A packet of `bytes` went. */
void net_bucket_take(struct net_bucket *b, uint64_t bytes);
/* Nanoseconds until net_bucket_ok would be true (0: now). */
uint64_t net_bucket_wait_ns(const struct net_bucket *b);

#endif /* BURROW_VMM_VIRTIO_NET_RATELIMIT_H */
