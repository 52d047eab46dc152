/*
 * vmm/virtio/blk.h - virtio-blk over a raw (sparse) image file.
 *
 * Owns: the medium (an fd held under an OFD lock: exclusive for read-write,
 * shared for read-only) and the request queue. Requests: IN, OUT, FLUSH
 * (fdatasync), GET_ID, DISCARD (punch hole). Requests run synchronously on
 * the thread that saw the kick, straight between guest memory and the file
 * (preadv/pwritev over the chain's buffers, no bounce copy); no request is
 * ever in flight when the device lock is free, so snapshots need no drain.
 *
 * A slot may start empty (capacity 0). FLUSH and DISCARD are offered from
 * the start because the guest fixes features at probe; attaching a medium
 * later sets the capacity, bumps the config generation and raises a
 * config-change interrupt.
 */
#ifndef BURROW_VMM_VIRTIO_BLK_H
#define BURROW_VMM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/virtio.h"

#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO       5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH    9
#define VIRTIO_BLK_F_DISCARD  13

#define VIRTIO_BLK_T_IN      0u
#define VIRTIO_BLK_T_OUT     1u
#define VIRTIO_BLK_T_FLUSH   4u
#define VIRTIO_BLK_T_GET_ID  8u
#define VIRTIO_BLK_T_DISCARD 11u

#define VIRTIO_BLK_S_OK     0u
#define VIRTIO_BLK_S_IOERR  1u
#define VIRTIO_BLK_S_UNSUPP 2u

#define VIRTIO_BLK_ID_BYTES       20u
#define BLK_SECTOR                512u
#define BLK_QUEUE_MAX             256u
#define BLK_SEG_MAX               254u       /* data buffers per request */
#define BLK_MAX_DISCARD_SECTORS   (1u << 21) /* 1 GiB per segment */
#define BLK_MAX_DISCARD_SEG       32u
#define BLK_DISCARD_ALIGN_SECTORS 8u /* 4 KiB */
#define BLK_CONFIG_SIZE           60u

struct virtio_blk;

extern const struct virtio_dev_ops virtio_blk_ops;

/*
 * path NULL: an empty slot. read_only: offer VIRTIO_BLK_F_RO (fixed for the
 * device's life). serial: GET_ID answer (up to 20 bytes, may be NULL).
 */
__attribute__((warn_unused_result)) int virtio_blk_create(const struct virtio_transport *t,
                                                          const char *path, bool read_only,
                                                          const char *serial,
                                                          struct virtio_blk **out);
void virtio_blk_destroy(struct virtio_blk *b);

/*
 * Attach an image to an empty slot: lock it, set the capacity, bump the
 * config generation and raise a config interrupt. BURROW_ERR_BUSY if another
 * holder has it locked, BURROW_ERR_EXISTS if the slot already has a medium.
 */
__attribute__((warn_unused_result)) int virtio_blk_attach(struct virtio_blk *b, const char *path,
                                                          bool read_only);
/*
 * The same for an image the caller opened and OFD-locked (blk_image_open_locked),
 * possibly in another process (a pool claim passes it over a unix socket).
 * Takes ownership of fd, also on failure; BURROW_ERR_INVALID if it is not a
 * regular file or not writable for a writable medium.
 */
__attribute__((warn_unused_result)) int virtio_blk_attach_fd(struct virtio_blk *b, int fd,
                                                             bool read_only);
/* Drop the medium (and its lock); capacity becomes 0, config interrupt. */
void virtio_blk_detach(struct virtio_blk *b);
uint64_t virtio_blk_capacity(struct virtio_blk *b);
/* fdatasync the medium (a VM about to be hibernated); 0 without one. */
__attribute__((warn_unused_result)) int virtio_blk_sync(struct virtio_blk *b);

/*
 * Open `path` and take its OFD lock (exclusive unless read_only) without
 * waiting: BURROW_ERR_BUSY if held elsewhere. Shared so other modules
 * (fork, resize, delete) can refuse an image in use.
 */
__attribute__((warn_unused_result)) int blk_image_open_locked(const char *path, bool read_only,
                                                              int *fd_out);

#endif /* BURROW_VMM_VIRTIO_BLK_H */
