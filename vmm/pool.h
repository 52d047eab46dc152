/*
 * vmm/pool.h - the warm pool: VMM processes that have already mapped a
 * build, created their VM, paid the memslot set-up (~8 ms here) and
 * restored its state, and now wait, paused, to be claimed (docs/architecture.md).
 *
 * Owns: the claim protocol and the pool's bookkeeping in the registry
 * (records with state "pool", vmm/registry.h). A pooled VMM listens on
 * run_dir/vm/<id>/claim.sock. A claimer first creates run_dir/vm/<id>/claimed
 * with O_EXCL (so two claimers never get the same VM), then sends one line
 *     CLAIM <request_ns> <uid> <gid> <user> <hostname> <shell> <home> <disk|->
 *           <flags> <net|->
 * (flags: 1 = allow_root; net: ADDR/PREFIX/GATEWAY/MAC/RATE/DNS[+DNS] with
 * MAC as 12 hex digits, 0 = derive it, and DNS "-" for none) with, in that
 * order, the home disk's and the TAP's descriptors when there are such
 * (SCM_RIGHTS; the claimer opens and OFD-locks the disk, and creates the TAP
 * on its bridge), and reads the same report a fresh fork writes:
 *     OK <id> <pid> <restore_ns> <ready_ns> pool     or     ERR <reason>
 * A pooled VMM is jailed before it waits (vmm/jail/jail.h), so it can reach
 * neither the disk's path nor the TAP device nor write its record: the
 * claimer passes the first two, rewrites the record (state running, the
 * user) after OK and hands vsock.sock to its owner, and removes its marker
 * after POOL_REFUSED. The claimed VMM re-sets kvmclock and the TSC to their
 * saved values (the guest sees no jump for its time in the pool), attaches
 * the disk and the network, injects the identity and resumes.
 */
#ifndef BURROW_VMM_POOL_H
#define BURROW_VMM_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/identity.h"
#include "vmm/registry.h"

#define POOL_LINE_MAX 1400
/* How a pooled VMM's report starts when it refuses a claim and stays in the pool. */
#define POOL_REFUSED "ERR claim refused"

struct pool_claim {
    uint64_t request_ns;
    struct fork_identity id; /* allow_root and, with net_enabled, the network included */
    char home_disk[512];     /* "" = none */
    /* With id.net_enabled: the device's MAC (all zero: derived) and bytes/s per direction. */
    uint8_t net_mac[6];
    uint64_t net_rate;
};
#define POOL_CLAIM_ALLOW_ROOT 0x1u

__attribute__((warn_unused_result)) int pool_claim_encode(const struct pool_claim *c, char *line,
                                                          size_t sz);
/* Strict: eleven fields, each of [A-Za-z0-9/._+-], within its limit. */
__attribute__((warn_unused_result)) int pool_claim_decode(const char *line, struct pool_claim *c);

/* The pooled VMM's listening socket at dir/claim.sock. */
__attribute__((warn_unused_result)) int pool_listen(const char *dir, int *fd_out);

/*
 * Claim a pooled VM of `build`: BURROW_ERR_NOT_FOUND if none is free, else
 * 0 with the VMM's report line (without newline) in reply and its record in
 * *rec. tap_fd (-1: none) is the claim's TAP, passed along (the caller
 * keeps its own descriptor). A home disk still locked by a VM that just
 * ended is waited for a moment (BURROW_ERR_BUSY after that).
 */
__attribute__((warn_unused_result)) int pool_take(const char *run_dir, const char *build,
                                                  const struct pool_claim *c, int tap_fd,
                                                  struct vm_record *rec, char *reply,
                                                  size_t replysz);
/*
 * The pooled VMM's side: read one claim from fd (bounded wait) with its
 * descriptors: *disk_fd and *tap_fd (-1 when the claim has none).
 */
__attribute__((warn_unused_result)) int pool_read_claim(int fd, struct pool_claim *c, int *disk_fd,
                                                        int *tap_fd);
/* Free pooled VMs of build. */
unsigned pool_count(const char *run_dir, const char *build);
/* SIGTERM the pooled VMs of every other build (a switched symlink retires them). */
void pool_retire_others(const char *run_dir, const char *build);
/* SIGTERM free pooled VMs of build beyond the first `keep` (pool_size was lowered). */
void pool_retire_extra(const char *run_dir, const char *build, unsigned keep);

#endif /* BURROW_VMM_POOL_H */
