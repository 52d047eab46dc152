/*
 * broker/vm/ksm.h - kernel samepage merging as Burrow uses it ([vm] ksm).
 *
 * Owns: reading /sys/kernel/mm/ksm (run and the page counters) and the one
 * write Burrow ever makes there: `run` from 0 to 1 when [vm] ksm = yes.
 * Nothing else is changed (pages_to_scan, sleep_millisecs, ... are the
 * host's), KSM is never switched off (VMs outlive burrowd), and a `run` of 2
 * (someone is unmerging) is left as found. The directory is a parameter so
 * the unit tests can point it at a fake tree; KSM_SYSFS is the real one.
 */
#ifndef BURROW_BROKER_KSM_H
#define BURROW_BROKER_KSM_H

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

#define KSM_SYSFS "/sys/kernel/mm/ksm"

struct ksm_state {
    uint64_t run; /* 0 stopped, 1 merging, 2 unmerging */
    uint64_t pages_shared, pages_sharing, pages_unshared, pages_volatile, full_scans;
    uint64_t page_size; /* the counters are pages of this size */
};

/* 0, or BURROW_ERR_NOT_FOUND when the kernel has no KSM (no such directory). */
__attribute__((warn_unused_result)) int ksm_read(const char *dir, struct ksm_state *out);

enum ksm_outcome {
    KSM_WAS_ON,      /* run was 1 already: nothing written */
    KSM_SWITCHED_ON, /* run was 0: 1 written */
    KSM_LEFT_ALONE,  /* run was 2 (unmerging): not ours to override */
};
/*
 * [vm] ksm = yes: make sure KSM merges. Logs what it changed at `level`
 * (burrowd and burrowctl: info: burrowd's log; `vm fork -v`, which also
 * puts it in the VM's vmm.log), and warns when it could not or left a run
 * of 2. 0 with *outcome, BURROW_ERR_NOT_FOUND without KSM,
 * BURROW_ERR_SYSTEM if the write failed (errno set).
 */
__attribute__((warn_unused_result)) int ksm_switch_on(const char *dir, enum log_level level,
                                                      enum ksm_outcome *outcome);

#endif /* BURROW_BROKER_KSM_H */
