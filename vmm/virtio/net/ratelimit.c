/* vmm/virtio/net/ratelimit.c - token bucket (see ratelimit.h). */
#include "vmm/virtio/net/ratelimit.h"

#define NS_PER_S      1000000000ull
#define MIN_BURST     (128u * 1024)
#define MAX_REFILL_NS (10ull * NS_PER_S) /* a longer gap fills the bucket anyway */

void net_bucket_init(struct net_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_ns)
{
    if (burst == 0)
        burst = rate / 20;
    if (burst < MIN_BURST)
        burst = MIN_BURST;
    if (burst > INT64_MAX / 2)
        burst = INT64_MAX / 2;
    b->rate = rate;
    b->burst = burst;
    b->level = (int64_t)burst;
    b->rem = 0;
    b->last_ns = now_ns;
}

static void refill(struct net_bucket *b, uint64_t now_ns)
{
    if (now_ns <= b->last_ns)
        return;
    uint64_t dt = now_ns - b->last_ns;
    b->last_ns = now_ns;
    if (dt > MAX_REFILL_NS)
        dt = MAX_REFILL_NS;
    /* 128-bit: rate (up to ~2^40 B/s) times up to 10 s of nanoseconds overflows 64 bits. */
    unsigned __int128 acc = (unsigned __int128)b->rate * dt + b->rem;
    unsigned __int128 add = acc / NS_PER_S;
    b->rem = (uint64_t)(acc % NS_PER_S);
    if (add > b->burst * 2)
        add = b->burst * 2; /* level >= -burst here, so this still fills it */
    b->level += (int64_t)add;
    if (b->level >= (int64_t)b->burst) {
        b->level = (int64_t)b->burst;
        b->rem = 0;
    }
}

bool net_bucket_ok(struct net_bucket *b, uint64_t now_ns)
{
    if (!b->rate)
        return true;
    refill(b, now_ns);
    return b->level > 0;
}

void net_bucket_take(struct net_bucket *b, uint64_t bytes)
{
    if (!b->rate)
        return;
    if (bytes > b->burst)
        bytes = b->burst; /* keeps level >= -burst; packets are far smaller anyway */
    b->level -= (int64_t)bytes;
}

uint64_t net_bucket_wait_ns(const struct net_bucket *b)
{
    if (!b->rate || b->level > 0)
        return 0;
    /* Tokens needed to reach level 1, minus what the remainder already holds. */
    unsigned __int128 need = ((unsigned __int128)(uint64_t)(1 - b->level)) * NS_PER_S;
    need = need > b->rem ? need - b->rem : 0;
    return (uint64_t)((need + b->rate - 1) / b->rate);
}
