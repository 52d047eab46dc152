/*
 * broker/ctl/status_mem.c - the memory and KSM section of `burrowctl
 * status`, from what every Burrow host has without asking burrowd: the VM
 * registry (run_dir/vm), each VMM process's smaps_rollup, each VM's memory
 * record (dir/balloon, vmm/vmmctl.h) and /sys/kernel/mm/ksm.
 *
 * The section is "key value" lines (the form of burrowd's own status
 * answer, so a daemon-backed `status` can append it):
 *   vms_running, vms_pooled                 VMs in the registry
 *   memory_private_kib, memory_shared_kib,  sums over the VMM processes
 *   memory_pss_kib, memory_anon_kib         (pss: what they really cost)
 *   balloon_held_kib, balloon_reported_kib  pages in balloons; returned by free page reporting
 *   ksm                                     [vm] ksm (yes/no)
 *   ksm_run                                 /sys/kernel/mm/ksm/run, or "none" without KSM
 *   ksm_pages_shared, ksm_pages_sharing,    KSM's counters (pages), and what merging saves:
 *   ksm_pages_unshared, ksm_saved_kib       pages_sharing * page size
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/vm/ksm.h"
#include "common/err.h"
#include "vmm/registry.h"
#include "vmm/virtio/balloon.h"
#include "vmm/vmmctl.h"

struct mem_totals {
    uint64_t running, pooled;
    struct vm_memory mem;
    uint64_t held_kib, reported_kib;
};

static void add_vm(struct mem_totals *t, const struct vm_record *v)
{
    struct vm_memory m;
    struct vmm_mem_record r;
    if (strcmp(v->state, "pool") == 0)
        t->pooled++;
    else
        t->running++;
    if (registry_memory(v->pid, &m) == 0) {
        t->mem.private_kb += m.private_kb;
        t->mem.shared_kb += m.shared_kb;
        t->mem.pss_kb += m.pss_kb;
        t->mem.anon_kb += m.anon_kb;
    }
    if (vmmctl_read_record(v->dir, &r) == 0) {
        t->held_kib += r.held_pages * (BALLOON_PAGE / 1024);
        t->reported_kib += r.reported_bytes / 1024;
    }
}

int ctl_status_memory(const struct burrow_config *cfg, FILE *out)
{
    struct mem_totals t = {0};
    struct vm_record *v;
    size_t n;
    if (registry_list(cfg->paths.run_dir, &v, &n) != 0)
        return BURROW_ERR_SYSTEM;
    for (size_t i = 0; i < n; i++)
        add_vm(&t, &v[i]);
    free(v);
    fprintf(out, "vms_running %llu\nvms_pooled %llu\n", (unsigned long long)t.running,
            (unsigned long long)t.pooled);
    fprintf(out, "memory_private_kib %llu\nmemory_shared_kib %llu\nmemory_pss_kib %llu\n",
            (unsigned long long)t.mem.private_kb, (unsigned long long)t.mem.shared_kb,
            (unsigned long long)t.mem.pss_kb);
    fprintf(out, "memory_anon_kib %llu\nballoon_held_kib %llu\nballoon_reported_kib %llu\n",
            (unsigned long long)t.mem.anon_kb, (unsigned long long)t.held_kib,
            (unsigned long long)t.reported_kib);
    fprintf(out, "ksm %s\n", cfg->vm.ksm ? "yes" : "no");
    struct ksm_state k;
    if (ksm_read(KSM_SYSFS, &k) != 0) {
        fprintf(out, "ksm_run none\n");
        return 0;
    }
    long page = sysconf(_SC_PAGESIZE);
    fprintf(out, "ksm_run %llu\nksm_pages_shared %llu\nksm_pages_sharing %llu\n",
            (unsigned long long)k.run, (unsigned long long)k.pages_shared,
            (unsigned long long)k.pages_sharing);
    fprintf(out, "ksm_pages_unshared %llu\nksm_saved_kib %llu\n",
            (unsigned long long)k.pages_unshared,
            (unsigned long long)(k.pages_sharing * (uint64_t)(page > 0 ? page : 4096) / 1024));
    return 0;
}
