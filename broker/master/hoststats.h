/*
 * broker/master/hoststats.h - host facts for metrics and `burrowctl status`.
 *
 * Owns: reading the kernel's counters that say what Burrow's VMs cost:
 * KSM (/sys/kernel/mm/ksm), the memory of a VM's whole process tree
 * (smaps_rollup of its backend process and every descendant: the sandbox
 * supervisor's namespace init and sessions, or the VMM), a network
 * device's counters (a VM's TAP) and /proc/meminfo. Read-only; every file
 * is bounded and parsed as untrusted text. Roots are parameters so the
 * unit tests can point them at a fake tree.
 */
#ifndef BURROW_BROKER_HOSTSTATS_H
#define BURROW_BROKER_HOSTSTATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/registry.h"

/*
 * Memory of each process tree rooted at roots[i] (the root and every
 * descendant, by /proc/PID/stat's parent), summed into per_root[i].
 * proc = "/proc" normally. Processes that vanish while being read are skipped.
 */
__attribute__((warn_unused_result)) int hoststats_tree_memory(const char *proc, const pid_t *roots,
                                                              size_t n, struct vm_memory *per_root);

struct hoststats_netdev {
    uint64_t rx_bytes, tx_bytes, rx_dropped, tx_dropped;
};
/* A network device's counters (sysfs/class/net/IF/statistics). */
__attribute__((warn_unused_result)) int hoststats_netdev(const char *sysfs, const char *ifname,
                                                         struct hoststats_netdev *out);

/* MemTotal and MemAvailable from proc/meminfo, in kB. */
__attribute__((warn_unused_result)) int hoststats_meminfo(const char *proc, uint64_t *total_kb,
                                                          uint64_t *avail_kb);

#endif /* BURROW_BROKER_HOSTSTATS_H */
