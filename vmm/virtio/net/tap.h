/*
 * vmm/virtio/net/tap.h - TAP devices for virtio-net backends.
 *
 * Owns: opening /dev/net/tun as a TAP (IFF_TAP | IFF_NO_PI, no
 * IFF_VNET_HDR: the device offers no offloads, see vmm/virtio/net/net.h),
 * bringing its link up and enslaving it to a bridge. These need
 * CAP_NET_ADMIN, so the master (or `burrowctl vm boot`) calls them before
 * the VMM is jailed and hands the fd over; the jailed VMM only reads and
 * writes frames.
 */
#ifndef BURROW_VMM_VIRTIO_NET_TAP_H
#define BURROW_VMM_VIRTIO_NET_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAP_NAME_MAX 15 /* IFNAMSIZ - 1 */

/* 1..15 characters of [A-Za-z0-9_.-], not "." or "..". */
bool tap_name_valid(const char *name);

/*
 * Create (or attach to a persistent) TAP named `name`; the fd is
 * non-blocking and close-on-exec. The interface disappears with the fd
 * unless it was made persistent elsewhere. BURROW_ERR_INVALID for a bad
 * name, BURROW_ERR_SYSTEM (errno) otherwise.
 */
__attribute__((warn_unused_result)) int tap_open(const char *name, int *fd_out);
/* Set IFF_UP on interface `name`. */
__attribute__((warn_unused_result)) int tap_set_up(const char *name);
/* Enslave `name` to the bridge `bridge` (SIOCBRADDIF). */
__attribute__((warn_unused_result)) int tap_attach_bridge(const char *name, const char *bridge);

/*
 * All three for a VM: open the TAP, set it up and, with a non-empty
 * bridge, enslave it. On failure nothing stays open and `why` names the
 * TAP, the bridge and the reason.
 */
__attribute__((warn_unused_result)) int tap_create(const char *name, const char *bridge,
                                                   int *fd_out, char *why, size_t whysz);

/* "02:00:5e:10:00:01" (hex, colon-separated) into mac; unicast only. BURROW_ERR_FORMAT. */
__attribute__((warn_unused_result)) int net_mac_parse(const char *s, uint8_t mac[6]);
/* mac as "xx:xx:xx:xx:xx:xx" into out (at least 18 bytes). */
void net_mac_format(const uint8_t mac[6], char *out, size_t outsz);

#endif /* BURROW_VMM_VIRTIO_NET_TAP_H */
