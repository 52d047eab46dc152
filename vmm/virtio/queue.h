/*
 * vmm/virtio/queue.h - split virtqueues (virtio 1.2 §2.7), device side.
 *
 * Owns: struct vq (the queue registers the driver wrote plus the device's
 * shadow indices) and the descriptor-chain walker. Every value the guest
 * wrote is untrusted: ring addresses are checked when the driver sets
 * QUEUE_READY (vq_validate), every index and descriptor on each pop, and a
 * malformed chain marks the queue broken (the device then asks the transport
 * for DEVICE_NEEDS_RESET). Host pointers come only from gmem_ptr().
 *
 * Threading: a queue is used by one thread at a time (its device's lock).
 */
#ifndef BURROW_VMM_VIRTIO_QUEUE_H
#define BURROW_VMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/gmem.h"

#define VRING_DESC_F_NEXT          1u
#define VRING_DESC_F_WRITE         2u
#define VRING_DESC_F_INDIRECT      4u
#define VRING_AVAIL_F_NO_INTERRUPT 1u

#define VQ_SIZE_MAX        1024u      /* largest ring any device offers */
#define VQ_MAX_IOV         260u       /* buffers per chain (blk: 256 data + hdr + status) */
#define VQ_MAX_CHAIN_BYTES (1u << 30) /* total bytes one chain may describe */

struct vq {
    /* Registers written by the driver (via the transport). */
    uint16_t num;     /* ring size the driver chose; 0 = max */
    uint16_t num_max; /* what the device offers */
    bool ready;
    uint64_t desc_gpa;  /* descriptor table */
    uint64_t avail_gpa; /* "driver area" */
    uint64_t used_gpa;  /* "device area" */

    /* Device shadow state (saved in snapshots). */
    uint16_t last_avail;     /* next avail ring slot the device will consume */
    uint16_t used_idx;       /* next used ring slot the device will fill */
    uint16_t signalled_used; /* used_idx at the last interrupt (event-idx) */
    bool signalled_valid;
    bool event_idx; /* VIRTIO_F_RING_EVENT_IDX negotiated */
    bool indirect;  /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
    bool broken;    /* a malformed chain was seen: no more processing */

    /* Host views of the rings; set by vq_validate, NULL when not ready. */
    uint8_t *desc;
    uint8_t *avail;
    uint8_t *used;
};

/* One buffer of a chain: a host pointer into guest memory. */
struct vq_buf {
    uint8_t *p;
    uint32_t len;
};

/*
 * A popped chain: readable (driver->device) buffers first, then writable ones.
 * Zero-length descriptors are skipped.
 */
struct vq_chain {
    uint16_t head;
    unsigned nr_out; /* readable buffers: bufs[0 .. nr_out) */
    unsigned nr_in;  /* writable buffers: bufs[nr_out .. nr_out + nr_in) */
    uint64_t out_bytes;
    uint64_t in_bytes;
    struct vq_buf bufs[VQ_MAX_IOV];
};

/* Fresh, unconfigured queue offering at most num_max entries. */
void vq_init(struct vq *q, uint16_t num_max);
/* Back to the state after vq_init (device reset). */
void vq_reset(struct vq *q);
/*
 * Check size (power of two, <= num_max), alignment (desc 16, avail 2,
 * used 4) and that each ring lies wholly inside one guest memory region;
 * on success record host pointers. 0 or BURROW_ERR_GUEST (nothing changed).
 */
__attribute__((warn_unused_result)) int vq_validate(struct vq *q, const struct gmem *mem);
/* Ring size in use. */
uint16_t vq_size(const struct vq *q);

/*
 * Take the next available chain. 1 = got one, 0 = ring empty,
 * BURROW_ERR_GUEST = malformed (queue marked broken, nothing consumed).
 * Refuses: avail idx moving by more than the ring size, head/next out of
 * range, loops and chains longer than the table, more than VQ_MAX_IOV
 * buffers, nested or misplaced indirect tables, indirect tables whose
 * length is zero, not a multiple of 16 or too long, readable after writable,
 * and any buffer not wholly inside guest memory.
 */
__attribute__((warn_unused_result)) int vq_pop(struct vq *q, const struct gmem *mem,
                                               struct vq_chain *c);
/*
 * A device's notify drains a queue with this, at most *budget chains a pass
 * (VIRTIO_BUDGET): 1 = the next chain (counted), 0 = the ring is empty and
 * the driver's next kick is asked for (nothing raced in), BURROW_ERR_AGAIN =
 * the budget is spent with chains left (the device requeues itself, so a
 * guest refilling as fast as it drains cannot starve the others),
 * BURROW_ERR_GUEST = malformed (see vq_pop).
 */
__attribute__((warn_unused_result)) int vq_next(struct vq *q, const struct gmem *mem,
                                                struct vq_chain *c, unsigned *budget);
/* Give a chain back unconsumed (e.g. no room on the host side yet). */
void vq_unpop(struct vq *q);
/* Return a chain to the driver with `len` bytes written. */
void vq_push(struct vq *q, uint16_t head, uint32_t len);
/* Should the driver be interrupted for what was pushed since the last signal? */
bool vq_should_signal(struct vq *q);
/*
 * Ask the driver for a kick on the next available buffer (event-idx: publish
 * avail_event). Returns true if buffers are already available, so the caller
 * must keep processing instead of sleeping.
 */
bool vq_enable_notify(struct vq *q);
/* True when the ring has chains the device has not popped. */
bool vq_has_avail(struct vq *q);

/* Copy helpers over a chain's readable / writable buffers, starting at `off`. */
size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len);
size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len);
/*
 * Build an iovec over the readable (out) or writable (in) part of a chain,
 * skipping the first `off` bytes and covering at most `max` bytes.
 * Returns the number of iovecs written (<= iov_max).
 */
unsigned vq_chain_iov(const struct vq_chain *c, bool writable, size_t off, size_t max,
                      struct iovec *iov, unsigned iov_max);

#endif /* BURROW_VMM_VIRTIO_QUEUE_H */
