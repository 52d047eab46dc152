/*
 * broker/cluster/cluster.h - the narrow interface between single-host
 * Burrow and the cluster (docs/cluster.md). Nothing here runs unless
 * cluster_enabled(cfg) ([cluster] etcd is set): without it burrowd and
 * burrowctl behave exactly as on one host.
 *
 * The pieces, each in its own file:
 *   clusterd.c   the cluster process burrowd forks: membership under a
 *                lease, keep-alive, fencing, the user-database mirror,
 *                routing (who owns her VM, placement), releasing ownership
 *   cmaster.c    the master's side of it (this header's cluster_* calls)
 *   cusers.c     burrowctl user commands against etcd
 *   peer.c       the owner's side of the host-to-host SSH link
 *   fwd.c        the front's side: the "remote" VM backend (a forwarder)
 *   nbdfuse.c    her home disk on NBD through libnbd, as a local file
 *   chosts.c     host records and the local mirror file of them
 *
 * Paths (run_dir/cluster/, made by the cluster process):
 *   lease        "lease ID\ndeadline NS\n": the CLOCK_MONOTONIC time after
 *                which this host must no longer write a disk (fencing)
 *   hosts        one line per live host: name addr port keytype key lease capacity load
 *   nbd/NAME/    the FUSE mount that holds her disk while a VM uses it (its
 *                file `disk` is the VM's home disk, for both backends)
 */
#ifndef BURROW_BROKER_CLUSTER_CLUSTER_H
#define BURROW_BROKER_CLUSTER_CLUSTER_H

#include <stdint.h>

#include "broker/config_cluster.h"
#include "broker/config.h"
#include "broker/users/hostkeys.h"
#include "broker/users/userdb.h"
#include "broker/vm/vmmgr.h"

#define CLUSTER_MSG_MAX 1024

/* --- in burrowd's master ---------------------------------------------------- */

struct cluster;

/* The answer to cluster_route(): run her VM here (be NULL: the configured
 * backend), through a forwarder to another host (be = &backend_remote), or
 * refuse with text. */
typedef void (*cluster_routed_fn)(void *ctx, int waiter, const struct user_record *rec,
                                  const struct vm_backend_ops *be, const char *text);
/* Stop every VM now: this host lost (or may have lost) its lease. */
typedef void (*cluster_fence_fn)(void *ctx, const char *why);

struct cluster_hooks {
    cluster_routed_fn routed;
    cluster_fence_fn fence;
    void *ctx;
};

/*
 * Fork the cluster process (it pins this host's ed25519 host key from
 * [ssh] host_key_dir in etcd) and open the peer listener.
 */
__attribute__((warn_unused_result)) int cluster_start(struct cluster **out,
                                                      const struct burrow_config *cfg,
                                                      const struct cluster_hooks *hooks);
void cluster_stop(struct cluster *c);
unsigned cluster_pollfds(struct cluster *c, int *fds, unsigned max);
/* 1 if fd was the cluster's. */
int cluster_event(struct cluster *c, int fd);
/*
 * A session (waiter) needs her VM and this host has none for her: ask who
 * owns it, or place it. peer = 1: another host forwarded her here, so she is
 * served here or not at all. The answer comes through hooks->routed.
 */
void cluster_route(struct cluster *c, const struct user_record *rec, int waiter, int peer);
/*
 * The master's VM request in a cluster: refused while etcd is unreachable
 * (a login through this host; a forwarded one is still served by a VM that
 * runs here), served at once by a VM this host has, else routed.
 */
void cluster_request(struct cluster *c, struct vmmgr *vm, const struct user_record *rec, int waiter,
                     int peer);
/* Stop every VM of this host (fencing), the forwarders excepted. */
void cluster_fence_all(struct vmmgr *vm);
/* Forget a waiter that went away (its answer is dropped). */
void cluster_forget(struct cluster *c, int waiter);
/* The VM manager's events: a VM of ours that ended releases her ownership. */
void cluster_vm_event(struct cluster *c, enum vmmgr_event ev, const struct uservm *vm);
/* The number of VMs here, published as this host's load. */
void cluster_load(struct cluster *c, unsigned vms);
/* The peer listener's socket (master accepts on it), or -1. */
int cluster_peer_fd(const struct cluster *c);
/*
 * A peer session (peer.c), in a process the master started like an SSH
 * session, in two steps around its jail: prepare, as root, takes what it
 * needs from the filesystem (the pinned keys of the live hosts); serve,
 * jailed, speaks SSH on fd (the peer's TCP connection) with bind's host keys
 * and asks the master on mfd for her VM. Each returns 0 / the exit code.
 */
struct cluster_peer;
__attribute__((warn_unused_result)) int cluster_peer_prepare(const struct burrow_config *cfg,
                                                             struct cluster_peer **out);
int cluster_peer_serve(struct cluster_peer *p, int fd, int mfd, void *bind);

/* The host her VM runs on, for the forwarder (fwd.c): 0, or BURROW_ERR_NOT_FOUND. */
int cluster_remote_target(const char *user, char *host, size_t hostsz);
/* The forwarder backend: her VM runs on another host. */
extern const struct vm_backend_ops backend_remote;

/* --- in a VM's supervisor (sandbox) or starter (kvm) ------------------------- */

/*
 * Her home disk on NBD: start the bridge (a child that exits when `owner`
 * ends, and kills `owner` if this host's lease deadline passes) and open
 * its file read-write, OFD-locked. 0 with *fd; an error and a log line.
 */
__attribute__((warn_unused_result)) int cluster_home_open(const struct burrow_config *cfg,
                                                          const char *user, pid_t owner, int *fd);
/*
 * The same for a VM whose process is not known yet (kvm: the starter claims
 * a pooled VMM or spawns one, which opens the file itself): the bridge
 * serves the caller until cluster_home_handover() names the VM's process
 * (the pid of the report's PID line) on *owner_fd. Its file's path goes to
 * path. Closing *owner_fd without a handover leaves the caller the owner.
 */
__attribute__((warn_unused_result)) int cluster_home_bridge(const struct burrow_config *cfg,
                                                            const char *user, char *path,
                                                            size_t pathsz, int *owner_fd);
__attribute__((warn_unused_result)) int cluster_home_handover(int owner_fd, pid_t pid);

/* --- in burrowctl -------------------------------------------------------------- */

/* Run a `user` subcommand against the cluster's database (cusers.c). */
typedef int (*cluster_user_cmd_fn)(void *ctx, int argc, char **argv);
int cluster_user_command(const char *config_path, int config_explicit, cluster_user_cmd_fn fn,
                         void *ctx, int argc, char **argv);

/* --- shared ------------------------------------------------------------------- */

/* run_dir/cluster/<leaf> into out. */
int cluster_path(const struct burrow_config *cfg, const char *leaf, char *out, size_t outsz);
/* The fencing deadline (CLOCK_MONOTONIC ns) the cluster process last wrote; 0 if none. */
int64_t cluster_deadline(const struct burrow_config *cfg);
int64_t cluster_now_ns(void);
/* A TCP connection that notices a dead peer within seconds (keep-alive, TCP_USER_TIMEOUT). */
int cluster_tcp_connect(const char *host, const char *port);

#endif /* BURROW_BROKER_CLUSTER_CLUSTER_H */
