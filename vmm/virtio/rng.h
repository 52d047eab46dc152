/*
 * vmm/virtio/rng.h - virtio-rng (entropy source, device ID 4).
 *
 * Owns: one request queue; every writable buffer the guest offers is filled
 * with bytes from libsodium's randombytes_buf (the host CSPRNG). At most
 * RNG_MAX_PER_REQUEST bytes are returned per chain, so a guest offering a
 * huge buffer gets a short answer instead of stalling the device thread.
 */
#ifndef BURROW_VMM_VIRTIO_RNG_H
#define BURROW_VMM_VIRTIO_RNG_H

#include "vmm/virtio/virtio.h"

#define RNG_QUEUE_MAX       64u
#define RNG_MAX_PER_REQUEST (64u * 1024)

struct virtio_rng;

extern const struct virtio_dev_ops virtio_rng_ops;

__attribute__((warn_unused_result)) int virtio_rng_create(const struct virtio_transport *t,
                                                          struct virtio_rng **out);
void virtio_rng_destroy(struct virtio_rng *r);

#endif /* BURROW_VMM_VIRTIO_RNG_H */
