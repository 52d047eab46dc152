/*
 * broker/cluster/clink.h - private to broker/cluster/: the host-to-host
 * link. SSH (libssh) between burrowd hosts: the front is the client, the
 * owner's [cluster] peer_listen the server; both sides authenticate with
 * their ed25519 host keys, each pinned in etcd (PREFIX/hosts/NAME) and
 * mirrored to run_dir/cluster/hosts. Nothing crosses between hosts in the
 * clear.
 *
 * One SSH connection carries one exec channel:
 *   hold USER     the owner starts (or finds) her VM and answers "OK\n" or
 *                 "ERR text\n"; the channel stays open while the front has
 *                 sessions of hers, and closes when her VM goes
 *   connect USER  a byte stream to her VM's socket (the front's session
 *                 then speaks CONNECT 1024 and the agent protocol through it)
 */
#ifndef BURROW_BROKER_CLUSTER_CLINK_H
#define BURROW_BROKER_CLUSTER_CLINK_H

#include <stddef.h>

#include <libssh/libssh.h>

#include "broker/cluster/chosts.h"
#include "broker/config.h"

#define CLINK_USER                                                                                 \
    "burrow-peer" /* the SSH user name of the link; the VM's user is in the command */

/* Connect to host h, check its key against the pinned one, authenticate with ours. */
int clink_connect(const struct burrow_config *cfg, const struct chost *h, ssh_key ours,
                  ssh_session *out, char *err, size_t errsz);
/* Open an exec channel with cmd. */
int clink_exec(ssh_session s, const char *cmd, ssh_channel *out);
/* Read one line (at most outsz-1 bytes, without the newline) within timeout_ms. */
int clink_read_line(ssh_channel ch, char *out, size_t outsz, int timeout_ms);
/* Copy both ways between ch and fd until both ends finished; closes neither. */
int clink_relay(ssh_session s, ssh_channel ch, int fd);
/* This host's ed25519 host key (private), for the client side. */
int clink_own_key(const struct burrow_config *cfg, ssh_key *out);

#endif /* BURROW_BROKER_CLUSTER_CLINK_H */
