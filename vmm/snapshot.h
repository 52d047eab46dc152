/*
 * vmm/snapshot.h - the `state` file of a template: a versioned container of
 * length-prefixed sections with a BLAKE2b checksum (docs/fork.md).
 *
 * Owns: the container layout, its limits and its checks. What goes inside
 * each section belongs to vmm/snapshot_vm.c (VM + devices) and
 * vmm/snapshot_vcpu.c (one vCPU).
 *
 * Layout (all little endian):
 *     u8[8]  magic "BRWSNAP\0"
 *     u16    format major (SNAP_MAJOR), u16 minor (SNAP_MINOR)
 *     u32    number of sections (<= SNAP_MAX_SECTIONS)
 *     per section: u32 id, u32 length, `length` bytes
 *     u8[32] BLAKE2b-256 (crypto_generichash) of every byte before it
 * A reader refuses a file larger than SNAP_FILE_MAX, another major, a minor
 * newer than ours, a bad checksum, a section running past the end, a
 * duplicate id, and bytes left after the last section. Section contents are
 * hostile too: their parsers re-check every field.
 */
#ifndef BURROW_VMM_SNAPSHOT_H
#define BURROW_VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define SNAP_MAGIC        "BRWSNAP"
#define SNAP_MAJOR        1u
#define SNAP_MINOR        0u
#define SNAP_FILE_MAX     (16u * 1024 * 1024)
#define SNAP_SECTION_MAX  (1u * 1024 * 1024)
#define SNAP_MAX_SECTIONS 256u
#define SNAP_HASH_LEN     32u
#define SNAP_HDR_LEN      16u
#define SNAP_VM_MAGIC     0x4d564e53u /* "SNVM": the VM section's first word */

/* Section ids. */
enum snap_section_id {
    SNAP_SEC_VM = 1,          /* memory layout, vCPU count, device config */
    SNAP_SEC_IRQCHIP = 2,     /* PIC master, PIC slave, IOAPIC */
    SNAP_SEC_PIT = 3,         /* PIT2 */
    SNAP_SEC_CLOCK = 4,       /* kvmclock */
    SNAP_SEC_VCPU0 = 0x100,   /* + vCPU index (< VM_MAX_VCPUS) */
    SNAP_SEC_DEVICE0 = 0x200, /* + virtio slot index (< VM_VIRTIO_MAX) */
};

struct snap_section {
    uint32_t id;
    uint32_t len;
    const uint8_t *data; /* points into the parsed file */
};

struct snapshot {
    struct snap_section sec[SNAP_MAX_SECTIONS];
    unsigned nr;
    uint16_t major, minor;
};

/* Writer: sections appended to a heap buf; snap_finish adds header and hash. */
struct snap_writer {
    struct buf *out;
    unsigned nr;
    size_t sec_start; /* offset of the open section's header */
    int open;
};

__attribute__((warn_unused_result)) int snap_writer_init(struct snap_writer *w);
void snap_writer_free(struct snap_writer *w);
/* Open a section; write its body to w->out, then snap_section_end. */
__attribute__((warn_unused_result)) int snap_section_begin(struct snap_writer *w, uint32_t id);
__attribute__((warn_unused_result)) int snap_section_end(struct snap_writer *w);
__attribute__((warn_unused_result)) int snap_add(struct snap_writer *w, uint32_t id,
                                                 const void *data, size_t len);
/* Seal: fixes the header and appends the checksum. The file is buf_data/buf_used of w->out. */
__attribute__((warn_unused_result)) int snap_finish(struct snap_writer *w);

/*
 * Parse and verify a whole file. *s points into data (keep data alive).
 * Errors: TOO_LARGE, TRUNCATED, FORMAT (magic, duplicate, trailing bytes),
 * VERSION, CHECKSUM.
 */
__attribute__((warn_unused_result)) int snap_parse(const uint8_t *data, size_t len,
                                                   struct snapshot *s);
/* A reader over section id; BURROW_ERR_NOT_FOUND if it is absent. */
__attribute__((warn_unused_result)) int snap_find(const struct snapshot *s, uint32_t id,
                                                  struct buf *in);
/* One line describing why a parse failed, for humans. */
const char *snap_strerror(int err);

/* ---- vCPU state (vmm/snapshot_vcpu.c) ---- */
struct vcpu;
/*
 * Append one vCPU's state (docs/fork.md): index, TSC kHz, CPUID, regs, sregs,
 * XSAVE, XCRs, debug registers, LAPIC, every MSR KVM lists and can read,
 * vcpu events, MP state. The vCPU must be out of KVM_RUN (parked).
 */
__attribute__((warn_unused_result)) int snap_save_vcpu(struct vcpu *v, struct buf *out);
/*
 * Restore in the order docs/fork.md gives: CPUID, TSC kHz, SREGS, REGS, XSAVE, XCRs,
 * debug registers, LAPIC, MSRs (TSC set to `tsc` on every vCPU, TSC_DEADLINE
 * after the LAPIC), vcpu events, MP state. `why` gets one line on failure.
 */
__attribute__((warn_unused_result)) int snap_restore_vcpu(struct vcpu *v, struct buf *in,
                                                          uint64_t tsc, char *why, size_t whysz);
/* Write IA32_TSC (KVM re-synchronises vCPUs given the same value). */
__attribute__((warn_unused_result)) int snap_set_tsc(struct vcpu *v, uint64_t tsc);
/* The saved IA32_TSC of a vCPU section (restore uses vCPU 0's for all). */
__attribute__((warn_unused_result)) int snap_vcpu_tsc(struct buf in, uint64_t *tsc);
/*
 * Compare two vCPU sections field by field (what KVM returned after a
 * restore against what was saved), ignoring what moves with time: the TSC
 * and the LAPIC timer's current count. 0 if equal, else FORMAT with `why`.
 */
__attribute__((warn_unused_result)) int snap_compare_vcpu(struct buf saved, struct buf now,
                                                          char *why, size_t whysz);

/* ---- the whole machine (vmm/snapshot_vm.c) ---- */
struct machine;
/* What a fork must rebuild before restoring: from the VM section. */
struct snap_vm_info {
    uint64_t mem_size;
    uint32_t nr_vcpus;
    uint32_t nr_slots;
    uint32_t slot_dev[8]; /* virtio device id per slot (VM_VIRTIO_MAX) */
};
/*
 * Snapshot a machine at a quiescent point: every vCPU parked (vm_pause) and
 * the event thread stopped (so no device work is in flight). Sections: VM,
 * IRQCHIP, PIT, CLOCK, one per vCPU, one per virtio slot.
 */
__attribute__((warn_unused_result)) int snap_save_machine(struct machine *m, struct snap_writer *w,
                                                          char *why, size_t whysz);
/* Read and check the VM section (vmm/snapshot.c: a parser, no KVM). */
__attribute__((warn_unused_result)) int snap_vm_info(const struct snapshot *s,
                                                     struct snap_vm_info *info);
/*
 * Restore into a machine built with the same layout (memory mapped, vCPUs
 * and devices created, nothing running), in the order docs/fork.md gives: irqchip, PIT2,
 * kvmclock; each vCPU; devices (each queue processed once).
 */
__attribute__((warn_unused_result)) int
snap_restore_machine(struct machine *m, const struct snapshot *s, char *why, size_t whysz);
/* Set kvmclock to `ns` (a pooled VM being claimed; never KVM_CLOCK_REALTIME). */
__attribute__((warn_unused_result)) int snap_set_clock(struct machine *m, uint64_t ns);

#endif /* BURROW_VMM_SNAPSHOT_H */
