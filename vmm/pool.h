/*
 * vmm/pool.h - the warm pool: VMM processes that have already mapped a
 * build, created their VM, paid the memslot set-up (~8 ms here) and
 * restored its state, and now wait, paused, to be claimed (design §2).
 *
 * Owns: the claim protocol and the pool's bookkeeping in the registry
 * (records with state "pool", vmm/registry.h). A pooled VMM listens on
 * run_dir/vm/<id>/claim.sock. A claimer first creates run_dir/vm/<id>/claimed
 * with O_EXCL (so two claimers never get the same VM), then sends one line
 *     CLAIM <request_ns> <uid> <gid> <user> <hostname> <shell> <home> <disk|->
 * with, when there is a disk, its descriptor (SCM_RIGHTS; the claimer opens
 * and OFD-locks it), and reads the same report a fresh fork writes:
 *     OK <id> <pid> <restore_ns> <ready_ns>     or     ERR <reason>
 * A pooled VMM is jailed before it waits (vmm/jail/jail.h), so it can reach
 * neither the disk's path nor write its record: the claimer passes the one
 * and rewrites the other (state running, the user) after OK, and removes its
 * marker after POOL_REFUSED. The claimed VMM re-sets kvmclock and the TSC to
 * their saved values (the guest sees no jump for its time in the pool),
 * attaches the disk, injects the identity and resumes.
 */
#ifndef BURROW_VMM_POOL_H
#define BURROW_VMM_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/fork.h"

#define POOL_LINE_MAX 1400
/* How a pooled VMM's report starts when it refuses a claim and stays in the pool. */
#define POOL_REFUSED "ERR claim refused"

struct pool_claim {
    uint64_t request_ns;
    struct fork_identity id;
    char home_disk[512]; /* "" = none */
};

__attribute__((warn_unused_result)) int pool_claim_encode(const struct pool_claim *c, char *line,
                                                          size_t sz);
/* Strict: nine fields, each of [A-Za-z0-9/._+-], within its limit. */
__attribute__((warn_unused_result)) int pool_claim_decode(const char *line, struct pool_claim *c);

/* The pooled VMM's listening socket at dir/claim.sock. */
__attribute__((warn_unused_result)) int pool_listen(const char *dir, int *fd_out);

/*
 * Claim a pooled VM of `build`: BURROW_ERR_NOT_FOUND if none is free, else
 * 0 with the VMM's report line (without newline) in reply.
 */
__attribute__((warn_unused_result)) int pool_take(const char *run_dir, const char *build,
                                                  const struct pool_claim *c, char *reply,
                                                  size_t replysz);
/* Free pooled VMs of build. */
unsigned pool_count(const char *run_dir, const char *build);
/* SIGTERM the pooled VMs of every other build (a switched symlink retires them). */
void pool_retire_others(const char *run_dir, const char *build);

#endif /* BURROW_VMM_POOL_H */
