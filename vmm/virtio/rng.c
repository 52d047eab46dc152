/* vmm/virtio/rng.c - virtio-rng backed by libsodium (see rng.h). */
#include "vmm/virtio/rng.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>

#include "common/err.h"
#include "vmm/virtio/queue.h"

struct virtio_rng {
    pthread_mutex_t lock; /* guards everything below */
    const struct virtio_transport *t;
    bool active;
    struct virtio_activation act;
    struct vq_chain chain; /* scratch: too big for the stack of a vCPU thread */
};

int virtio_rng_create(const struct virtio_transport *t, struct virtio_rng **out)
{
    if (sodium_init() < 0)
        return BURROW_ERR_SYSTEM;
    struct virtio_rng *r = calloc(1, sizeof(*r));
    if (!r)
        return BURROW_ERR_NOMEM;
    pthread_mutex_init(&r->lock, NULL);
    r->t = t;
    *out = r;
    return 0;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static uint64_t rng_features(void *dev)
{
    (void)dev;
    return VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX);
}

static void rng_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    (void)dev;
    (void)off;
    for (uint32_t i = 0; i < len; i++)
        data[i] = 0;
}

static int rng_activate(void *dev, const struct virtio_activation *act)
{
    struct virtio_rng *r = dev;
    pthread_mutex_lock(&r->lock);
    r->act = *act;
    r->active = true;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static void rng_reset(void *dev)
{
    struct virtio_rng *r = dev;
    pthread_mutex_lock(&r->lock);
    r->active = false;
    pthread_mutex_unlock(&r->lock);
}

static uint32_t fill_chain(const struct vq_chain *c)
{
    uint32_t done = 0;
    for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && done < RNG_MAX_PER_REQUEST; i++) {
        uint32_t n = c->bufs[i].len;
        if (n > RNG_MAX_PER_REQUEST - done)
            n = RNG_MAX_PER_REQUEST - done;
        randombytes_buf(c->bufs[i].p, n);
        done += n;
    }
    return done;
}

static void rng_notify(void *dev, unsigned qi)
{
    struct virtio_rng *r = dev;
    pthread_mutex_lock(&r->lock);
    if (!r->active || qi != 0)
        goto out;
    struct vq *q = &r->act.vqs[0];
    bool pushed = false;
    unsigned budget = VIRTIO_BUDGET;
    int got;
    while ((got = vq_next(q, r->act.mem, &r->chain, &budget)) > 0) {
        vq_push(q, r->chain.head, fill_chain(&r->chain));
        pushed = true;
    }
    if (got == BURROW_ERR_AGAIN)
        r->t->requeue(r->t->ctx, 0);
    else if (got < 0)
        r->t->needs_reset(r->t->ctx);
    if (pushed && vq_should_signal(q))
        r->t->signal_queue(r->t->ctx, 0);
out:
    pthread_mutex_unlock(&r->lock);
}

const struct virtio_dev_ops virtio_rng_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .nr_queues = 1,
    .queue_max = RNG_QUEUE_MAX,
    .config_size = 0,
    .features = rng_features,
    .config_read = rng_config_read,
    .activate = rng_activate,
    .notify = rng_notify,
    .reset = rng_reset,
};
