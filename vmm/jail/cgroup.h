/*
 * vmm/jail/cgroup.h - a cgroup v2 per jailed VM or sandbox (memory.max, pids.max,
 * cpu.weight).
 *
 * Owns: /sys/fs/cgroup/burrow/<name>/. Used only when /sys/fs/cgroup is a
 * writable cgroup2 mount with the memory and pids controllers; otherwise
 * jail_cgroup_enter says why it skipped (legacy/hybrid hierarchies, read-only
 * containers) and the VM runs without one. Empty groups of VMs that ended
 * are removed the next time a VM enters (nobody waits for a detached VMM).
 */
#ifndef BURROW_VMM_JAIL_CGROUP_H
#define BURROW_VMM_JAIL_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_CGROUP_ROOT "/sys/fs/cgroup"

struct jail_cgroup_limits {
    uint64_t memory_max; /* bytes */
    unsigned pids_max;
    unsigned cpu_weight; /* 1..10000, 100 = default share */
};

/*
 * Move the calling process into <root>/burrow/<name> with these limits.
 * 0: joined; BURROW_ERR_UNSUPPORTED: skipped, `why` says why; other codes:
 * a write failed half-way (`why` names the file).
 */
__attribute__((warn_unused_result)) int jail_cgroup_enter(const char *root, const char *name,
                                                          const struct jail_cgroup_limits *lim,
                                                          char *why, size_t whysz);
/* The same for process pid (0: the caller), e.g. a sandbox's PID 1 before it runs anything. */
__attribute__((warn_unused_result)) int jail_cgroup_join(const char *root, const char *name,
                                                         const struct jail_cgroup_limits *lim,
                                                         pid_t pid, char *why, size_t whysz);

#endif /* BURROW_VMM_JAIL_CGROUP_H */
