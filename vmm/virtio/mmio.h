/*
 * vmm/virtio/mmio.h - the virtio-mmio transport, version 2 (modern only).
 *
 * Owns: the register file of one virtio-mmio slot (virtio 1.2 §4.2.2): the
 * status state machine, feature negotiation (acked must be a subset of
 * offered and include VIRTIO_F_VERSION_1), queue_sel bounds, the queue
 * registers (writable only between FEATURES_OK and DRIVER_OK), interrupt
 * status and the config generation. It hands the device its queues at
 * DRIVER_OK and implements struct virtio_transport for it.
 *
 * The register handler matches the bus callback (vmm/bus.h bus_io_fn), so
 * `bus_register_mmio(bus, base, VIRTIO_MMIO_SIZE, virtio_mmio_io, m)` wires
 * a slot. Interrupts leave through `irq` (an irqfd write in the VMM).
 */
#ifndef BURROW_VMM_VIRTIO_MMIO_H
#define BURROW_VMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdint.h>

#include "common/buf.h"
#include "vmm/virtio/queue.h"
#include "vmm/virtio/virtio.h"

#define VIRTIO_MMIO_SIZE   0x1000u
#define VIRTIO_MMIO_MAGIC  0x74726976u /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x57525542u /* "BURW" */

/* Register offsets (virtio 1.2 §4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000
#define VIRTIO_MMIO_VERSION             0x004
#define VIRTIO_MMIO_DEVICE_ID           0x008
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_SHM_SEL             0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW         0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH        0x0b4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100

#define VIRTIO_MMIO_INT_VRING  0x1u
#define VIRTIO_MMIO_INT_CONFIG 0x2u

/* Raise the slot's interrupt line (edge). */
typedef void (*virtio_irq_fn)(void *ctx);

struct virtio_mmio {
    pthread_mutex_t lock; /* register file; never held while waiting on the device */

    const struct virtio_dev_ops *ops;
    void *dev;
    const struct gmem *mem;
    virtio_irq_fn irq;
    void *irq_ctx;
    void (*requeue)(void *ctx, unsigned q); /* NULL: the next kick resumes */
    void *requeue_ctx;
    struct virtio_transport transport; /* handed to the device, points back here */

    /* Register file (saved in snapshots). */
    uint32_t status;     /* atomic: needs_reset ORs in from device threads */
    uint32_t isr;        /* atomic: interrupt status */
    uint32_t config_gen; /* atomic */
    uint32_t dev_features_sel;
    uint32_t drv_features_sel;
    uint64_t offered;
    uint64_t acked;
    uint32_t queue_sel;
    bool active; /* device activated at DRIVER_OK */
    struct vq vqs[VIRTIO_MAX_QUEUES];
};

/*
 * Set up a slot for a device. The device's transport pointer is
 * &m->transport; pass it to the device's create function.
 */
__attribute__((warn_unused_result)) int virtio_mmio_init(struct virtio_mmio *m,
                                                         const struct virtio_dev_ops *ops,
                                                         const struct gmem *mem, virtio_irq_fn irq,
                                                         void *irq_ctx);
/* How a device that yielded gets called back (the VMM: write the queue's kick eventfd). */
void virtio_mmio_set_requeue(struct virtio_mmio *m, void (*fn)(void *ctx, unsigned q), void *ctx);
/* Bind the device once it exists (it needed &m->transport to be created). */
void virtio_mmio_attach_dev(struct virtio_mmio *m, void *dev);
void virtio_mmio_destroy(struct virtio_mmio *m);

/* Bus handler: one register access at `offset` within the slot. */
void virtio_mmio_io(void *ctx, uint64_t offset, uint8_t *data, uint32_t len, int is_write);
/* A queue kick that arrived through an ioeventfd (event thread). */
void virtio_mmio_notify(struct virtio_mmio *m, unsigned q);

/* Snapshot the register file and queue state, then the device's own state. */
__attribute__((warn_unused_result)) int virtio_mmio_save(struct virtio_mmio *m, struct buf *out);
/* Restore and re-check everything as if the guest had just written it. */
__attribute__((warn_unused_result)) int virtio_mmio_restore(struct virtio_mmio *m, struct buf *in);

#endif /* BURROW_VMM_VIRTIO_MMIO_H */
