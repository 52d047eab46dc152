/*
 * vmm/virtio/net/net.h - virtio-net (device ID 1), entirely in the VMM (no
 * vhost-net: its kernel state would not survive a VM fork).
 *
 * Owns: the rx, tx and control queues, the config space (MAC, link status)
 * and the backend: a TAP fd opened with IFF_TAP | IFF_NO_PI and *without*
 * IFF_VNET_HDR. No checksum or segmentation offload is offered, so every
 * frame is a plain Ethernet frame of at most NET_MAX_FRAME bytes: the device
 * drops the guest's 12-byte virtio_net_hdr on tx and writes a zero one
 * (num_buffers = 1) on rx. Any fd that keeps packet boundaries works as a
 * backend (the tests use an AF_UNIX SOCK_DGRAM socketpair).
 *
 * Features: MAC, STATUS (LINK_UP while a backend is attached, ANNOUNCE after
 * virtio_net_attach), CTRL_VQ with GUEST_ANNOUNCE (the driver's ANNOUNCE_ACK
 * clears the bit) and CTRL_MAC_ADDR (the agent sets the fork's MAC on eth0
 * and the driver tells us; any other MAC is refused: the host chose it).
 * Frames the guest sends from another source MAC are dropped (tx_dropped). No MRG_RXBUF: a guest rx
 * chain must hold the header plus the whole frame, or the frame is dropped (Linux's "small" buffers
 * hold 12 + 1518 bytes, enough for a 1500-byte MTU).
 *
 * Bandwidth: a token bucket per direction (vmm/virtio/net/ratelimit.h). A direction
 * out of tokens stops (tx: chains stay in the ring; rx: the TAP is not read,
 * so the kernel queues and then drops) until a timerfd fires.
 *
 * Threading: every entry point takes the device lock. The backend side is an
 * epoll fd (virtio_net_host_fd: TAP readable/writable, the timer) that the
 * VMM's event loop watches; call virtio_net_host_process when it is readable.
 * The TAP is non-blocking and each pass is bounded, so a TAP that never
 * becomes readable or writable stalls only this device's own traffic.
 */
#ifndef BURROW_VMM_VIRTIO_NET_H
#define BURROW_VMM_VIRTIO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/virtio/virtio.h"

#define VIRTIO_ID_NET 1

#define VIRTIO_NET_F_MAC            5
#define VIRTIO_NET_F_MRG_RXBUF      15
#define VIRTIO_NET_F_STATUS         16
#define VIRTIO_NET_F_CTRL_VQ        17
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_CTRL_MAC_ADDR  23

#define VIRTIO_NET_S_LINK_UP  1u
#define VIRTIO_NET_S_ANNOUNCE 2u

#define VIRTIO_NET_CTRL_MAC          1u
#define VIRTIO_NET_CTRL_MAC_ADDR_SET 1u
#define VIRTIO_NET_CTRL_ANNOUNCE     3u
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0u
#define VIRTIO_NET_OK                0u
#define VIRTIO_NET_ERR               1u

#define NET_QUEUE_RX    0u
#define NET_QUEUE_TX    1u
#define NET_QUEUE_CTRL  2u
#define NET_QUEUE_MAX   256u
#define NET_HDR_SIZE    12u    /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define NET_MAX_FRAME   65550u /* largest Ethernet frame either way */
#define NET_MIN_FRAME   14u    /* an Ethernet header; shorter frames are dropped */
#define NET_CONFIG_SIZE 10u    /* mac[6], status, max_virtqueue_pairs */
#define NET_MAC_LEN     6u

struct virtio_net_stats {
    uint64_t tx_packets, tx_bytes, tx_dropped;
    uint64_t rx_packets, rx_bytes, rx_dropped;
    uint64_t tx_throttled, rx_throttled; /* times a direction waited for tokens */
};

struct virtio_net;

extern const struct virtio_dev_ops virtio_net_ops;

/*
 * tap_fd: the backend (owned by the device from now on), or -1 for none yet
 * (link down; a template VM has a slot with no backend). mac: the initial MAC.
 */
__attribute__((warn_unused_result)) int virtio_net_create(const struct virtio_transport *t,
                                                          int tap_fd,
                                                          const uint8_t mac[NET_MAC_LEN],
                                                          struct virtio_net **out);
void virtio_net_destroy(struct virtio_net *n);

/*
 * Bandwidth limit per direction, bytes per second (0: none) and burst bytes
 * (0: a default from the rate). Takes effect at once.
 */
void virtio_net_set_limit(struct virtio_net *n, uint64_t bytes_per_s, uint64_t burst);

/*
 * After a fork: a new backend (replacing any old one, which is closed) and a
 * new MAC; the link goes up, and with GUEST_ANNOUNCE negotiated the status
 * gets ANNOUNCE, so the guest sends gratuitous ARPs and acks. Raises a
 * config interrupt. tap_fd -1 only changes the MAC.
 */
__attribute__((warn_unused_result)) int virtio_net_attach(struct virtio_net *n, int tap_fd,
                                                          const uint8_t mac[NET_MAC_LEN]);

/* An epoll fd, readable when the backend or the rate-limit timer needs attention. */
int virtio_net_host_fd(struct virtio_net *n);
/* Serve the backend: called from the event loop when virtio_net_host_fd is readable. */
void virtio_net_host_process(struct virtio_net *n);

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out);
/* The MAC and status the config space shows now. */
void virtio_net_get_config(struct virtio_net *n, uint8_t mac[NET_MAC_LEN], uint16_t *status);

/*
 * A MAC for a VM from identity bytes (e.g. the user name and VM id): locally
 * administered, unicast, 02:xx:xx:xx:xx:xx, the rest a hash of `seed`.
 */
void virtio_net_mac_from_seed(const void *seed, size_t len, uint8_t mac[NET_MAC_LEN]);

#endif /* BURROW_VMM_VIRTIO_NET_H */
