/*
 * vmm/virtio/virtio.h - the contract between a virtio device and its
 * transport.
 *
 * Owns: struct virtio_dev_ops (what a device provides), struct
 * virtio_transport (what a transport provides to a device) and struct
 * virtio_activation (what a device gets at DRIVER_OK). The two sides never
 * write into each other's structs: the transport calls the device through its
 * const ops table, the device calls back through the const transport it was
 * given at creation. Devices depend on nothing else from the VMM but gmem.
 */
#ifndef BURROW_VMM_VIRTIO_VIRTIO_H
#define BURROW_VMM_VIRTIO_VIRTIO_H

#include <stdint.h>

#include "common/buf.h"
#include "vmm/gmem.h"

/* Device status bits (virtio 1.2 §2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01u
#define VIRTIO_STATUS_DRIVER      0x02u
#define VIRTIO_STATUS_DRIVER_OK   0x04u
#define VIRTIO_STATUS_FEATURES_OK 0x08u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED      0x80u

/* Transport-level feature bits every device may offer. */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

#define VIRTIO_BIT(n) (1ull << (n))

/* Device IDs (virtio 1.2 §5). */
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG   4
#define VIRTIO_ID_VSOCK 19

#define VIRTIO_MAX_QUEUES 8

struct vq;

/* What a device learns when the driver sets DRIVER_OK. */
struct virtio_activation {
    const struct gmem *mem;
    struct vq *vqs; /* nr_queues entries, owned by the transport */
    unsigned nr_queues;
    uint64_t features; /* negotiated: acked, always a subset of offered */
};

/*
 * Implemented by the transport. Safe to call from any thread and with the
 * device's own lock held: they only touch atomics and the interrupt line.
 */
struct virtio_transport {
    void *ctx;
    /* Used buffers were added to queue q; the caller already applied event-idx. */
    void (*signal_queue)(void *ctx, unsigned q);
    /* Device config changed: bump the config generation, raise a config interrupt. */
    void (*signal_config)(void *ctx);
    /* The guest broke the device contract: set DEVICE_NEEDS_RESET, config interrupt. */
    void (*needs_reset)(void *ctx);
    /*
     * A device stopped early on queue q to let other devices run (its budget
     * ran out): have notify(q) called again soon from the event loop.
     */
    void (*requeue)(void *ctx, unsigned q);
};

/* Chains a device handles per notify before it yields and requeues. */
#define VIRTIO_BUDGET 256u

/*
 * Implemented by a device. `dev` is the device's own pointer. The transport
 * calls config/features/activate/reset from vCPU threads and notify from
 * whichever thread saw the kick; devices lock their own state.
 */
struct virtio_dev_ops {
    const char *name;
    uint32_t device_id;
    unsigned nr_queues;
    uint16_t queue_max;
    uint32_t config_size;
    uint64_t (*features)(void *dev);
    /* off + len <= config_size is checked by the transport. */
    void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
    void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
    /* Queues are validated; a nonzero return puts the device in NEEDS_RESET. */
    int (*activate)(void *dev, const struct virtio_activation *act);
    void (*notify)(void *dev, unsigned q);
    /* Stop using the queues and guest memory; forget in-flight requests. */
    void (*reset)(void *dev);
    /* Device-specific state for snapshots (may be NULL: nothing to save). */
    int (*save)(void *dev, struct buf *out);
    int (*restore)(void *dev, struct buf *in);
};

/* Little-endian helpers for config space and packet headers (host is x86-64). */
static inline void virtio_config_copy(uint8_t *dst, const void *cfg, uint32_t cfg_size,
                                      uint32_t off, uint32_t len)
{
    const uint8_t *src = cfg;
    for (uint32_t i = 0; i < len; i++)
        dst[i] = (off + i < cfg_size) ? src[off + i] : 0;
}

#endif /* BURROW_VMM_VIRTIO_VIRTIO_H */
