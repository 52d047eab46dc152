/*
 * vmm/virtio/vsock/vsock.h - virtio-vsock, entirely in the VMM (no vhost: its
 * kernel state would not survive a VM fork).
 *
 * Owns: the rx/tx/event queues, every stream connection between the guest
 * and the host (state machine REQUEST/RESPONSE/RW/CREDIT_UPDATE/
 * CREDIT_REQUEST/SHUTDOWN/RST, credit flow control both ways) and the host
 * side: a unix socket speaking Firecracker's protocol. A host client connects
 * to `uds_path`, writes "CONNECT <port>\n" and gets "OK <hostport>\n" once
 * the guest accepted, or a closed socket. A guest connection to CID 2 port P
 * goes to the internal handler registered for P (it receives one end of a
 * socketpair), else to the unix socket `<uds_path>_<P>` if it accepts, else
 * the guest gets RST.
 *
 * Data moves straight between guest buffers and host sockets (readv/writev
 * over the descriptor chain); only bytes the host socket cannot take yet are
 * copied into a per-connection buffer of VSOCK_CONN_BUF bytes, which is
 * also the credit the guest gets, so a guest or host that stops reading
 * stalls its own connection and nothing else. A guest that sends beyond its
 * credit gets RST.
 *
 * Threading: every entry point takes the device lock. The host side is an
 * epoll fd (virtio_vsock_host_fd) the VMM's event loop watches; call
 * virtio_vsock_host_process when it is readable.
 */
#ifndef BURROW_VMM_VIRTIO_VSOCK_H
#define BURROW_VMM_VIRTIO_VSOCK_H

#include <stdint.h>

#include "vmm/virtio/virtio.h"

#define VSOCK_HOST_CID  2u
#define VSOCK_QUEUE_MAX 256u
#define VSOCK_MAX_CONNS 256u
#define VSOCK_CONN_BUF  (256u * 1024) /* per-connection guest->host buffer = guest credit */
#define VSOCK_MAX_PKT   (64u * 1024)  /* payload bytes per packet, either way */
#define VSOCK_HDR_SIZE  44u

#define VSOCK_OP_REQUEST            1u
#define VSOCK_OP_RESPONSE           2u
#define VSOCK_OP_RST                3u
#define VSOCK_OP_SHUTDOWN           4u
#define VSOCK_OP_RW                 5u
#define VSOCK_OP_CREDIT_UPDATE      6u
#define VSOCK_OP_CREDIT_REQUEST     7u
#define VSOCK_TYPE_STREAM           1u
#define VSOCK_SHUTDOWN_RCV          1u
#define VSOCK_SHUTDOWN_SEND         2u
#define VSOCK_EVENT_TRANSPORT_RESET 0u

/* A virtio_vsock_hdr (virtio 1.2 §5.10.6), host byte order. */
struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
};

/* Parse / build the 44-byte little-endian header (through struct buf). */
__attribute__((warn_unused_result)) int vsock_hdr_parse(const uint8_t *raw, size_t len,
                                                        struct vsock_hdr *h);
void vsock_hdr_build(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE]);

struct virtio_vsock;

extern const struct virtio_dev_ops virtio_vsock_ops;

/*
 * guest_cid >= 3. uds_path NULL: no host listener and no `<path>_<P>`
 * forwarding (internal handlers still work). The path must not exist.
 */
__attribute__((warn_unused_result)) int virtio_vsock_create(const struct virtio_transport *t,
                                                            uint64_t guest_cid,
                                                            const char *uds_path,
                                                            struct virtio_vsock **out);
/* Closes every connection and the listener (the socket file is unlinked). */
void virtio_vsock_destroy(struct virtio_vsock *v);

/* An epoll fd, readable when host-side sockets need attention. */
int virtio_vsock_host_fd(struct virtio_vsock *v);
/* Handle whatever host-side events are ready; never blocks. */
void virtio_vsock_host_process(struct virtio_vsock *v);

/*
 * Guest connections to host port `port` are accepted by the VMM itself:
 * `fn` receives one end of a nonblocking socketpair (it owns that fd) and
 * the guest's source port. Call before the guest runs.
 */
typedef void (*vsock_accept_fn)(void *ctx, int fd, uint32_t guest_port);
__attribute__((warn_unused_result)) int
virtio_vsock_register_port(struct virtio_vsock *v, uint32_t port, vsock_accept_fn fn, void *ctx);

/*
 * Queue VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (after a fork/restore): every
 * connection is dropped, the guest resets its sockets and re-reads its CID.
 */
void virtio_vsock_transport_reset(struct virtio_vsock *v);

/* Connections currently tracked (tests, status). */
unsigned virtio_vsock_nr_conns(struct virtio_vsock *v);
/*
 * Payload bytes moved either way on session connections (every connection
 * but those of the VMM's own handlers, i.e. the agent's control port) since
 * the device was created: the idle policy watches it. Lock-free.
 */
uint64_t virtio_vsock_session_bytes(struct virtio_vsock *v);

#endif /* BURROW_VMM_VIRTIO_VSOCK_H */
