/*
 * vmm/ctlport.h - the host's side of the agent control protocol (port 1025,
 * docs/guest.md), free of any transport: bytes in, frames out.
 *
 * Owns: the reassembly of the agent's byte stream into whole frames
 * (struct ctlport_rx) and the host's greeting (the agent's HELLO checked,
 * ours and the IDENTITY it answers with: fresh entropy, the wall clock).
 * Its two users move the bytes as they must: the VMM's control port
 * (vmm/fork.c, on the device thread over a vsock connection) and the
 * sandbox backend's supervisor (broker/vm/sbx_super.c, blocking on a unix
 * socket until READY).
 */
#ifndef BURROW_VMM_CTLPORT_H
#define BURROW_VMM_CTLPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/proto.h"
#include "vmm/identity.h"

/* The agent's stream, buffered until a frame is whole (two frames' room). */
struct ctlport_rx {
    uint8_t buf[PROTO_FRAME_MAX * 2];
    size_t len;
    size_t consumed; /* bytes of the frame ctlport_rx_next last returned */
};

void ctlport_rx_reset(struct ctlport_rx *rx);
/*
 * Where the next bytes go: a pointer and *room (0: the buffer is full of a
 * frame that can never be whole, which ctlport_rx_next refused already).
 * ctlport_rx_added says how many were put there.
 */
uint8_t *ctlport_rx_space(struct ctlport_rx *rx, size_t *room);
void ctlport_rx_added(struct ctlport_rx *rx, size_t n);
/*
 * The next whole frame: 0 (f points into the buffer until the next call),
 * BURROW_ERR_AGAIN (more bytes needed), or the codec's error (the stream is
 * broken). The frame returned before is dropped first.
 */
__attribute__((warn_unused_result)) int ctlport_rx_next(struct ctlport_rx *rx,
                                                        struct proto_frame *f);

/* The agent's HELLO checked, and ours (role VMM) put into reply: 0 or the codec's error. */
__attribute__((warn_unused_result)) int ctlport_answer_hello(const struct proto_frame *f,
                                                             struct buf *reply);
/*
 * IDENTITY for who into b: fresh entropy (copied to entropy_out unless
 * NULL), the wall clock, PROTO_ID_F_HOME_DISK when home_disk, and mac as
 * the network's MAC when the network is on and mac is not NULL (the MAC
 * the VM's device really got). 0 or the codec's error.
 */
__attribute__((warn_unused_result)) int ctlport_put_identity(struct buf *b,
                                                             const struct fork_identity *who,
                                                             bool home_disk, const uint8_t *mac,
                                                             uint8_t *entropy_out);

#endif /* BURROW_VMM_CTLPORT_H */
