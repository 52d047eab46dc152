/*
 * broker/cluster/cnbd.h - private to broker/cluster/: home disks on an NBD
 * server through libnbd ([cluster] home_nbd = nbd://HOST[:PORT], export
 * NAME = her disk).
 *
 * Owns: connecting (a TCP socket of our own with TCP_USER_TIMEOUT and
 * keep-alive, so a dead server or path shows up in seconds, handed to
 * libnbd), the sanity checks of what the server says (size), and the
 * upload of a freshly made image (burrowctl user add).
 */
#ifndef BURROW_BROKER_CLUSTER_CNBD_H
#define BURROW_BROKER_CLUSTER_CNBD_H

#include <stdint.h>

#include <libnbd.h>

#include "broker/config.h"

#define CNBD_SIZE_MAX (16ull << 40) /* [users] default_disk_size's limit */

/* Connect to export `user`; *size is its size. 0, or an error with err filled. */
int cnbd_connect(const struct burrow_config *cfg, const char *user, struct nbd_handle **out,
                 uint64_t *size, char *err, size_t errsz);
/*
 * Copy the sparse image at path onto export `user` (data extents written,
 * holes zeroed), then flush. Refuses an export smaller than the image or
 * one that already holds an ext4 filesystem (someone's data).
 */
int cnbd_upload(const struct burrow_config *cfg, const char *user, const char *path, char *err,
                size_t errsz);

#endif /* BURROW_BROKER_CLUSTER_CNBD_H */
