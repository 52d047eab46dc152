/*
 * vmm/x86/vcpu_dump.h - a compact, human-readable picture of one vCPU when
 * the guest dies (triple fault, KVM internal error, failed VM entry).
 *
 * Owns: capturing regs, sregs, pending vcpu events, the MP state and the
 * code bytes at RIP (through KVM_TRANSLATE and gmem_ptr), and formatting
 * them into a few log lines of at most ~120 characters each. Capture and
 * formatting are split so the format can be tested without KVM.
 *
 * Caveat (AMD SVM): KVM re-initialises a vCPU after a SHUTDOWN intercept
 * (the VMCB is undefined then), so after a triple fault under kvm_amd the
 * registers read back are the INIT state, not the faulting one. The dump
 * says so when it sees that state; the guest's console tail and the other
 * vCPUs' state are then the evidence left.
 */
#ifndef BURROW_VMM_X86_VCPU_DUMP_H
#define BURROW_VMM_X86_VCPU_DUMP_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/gmem.h"

#define VCPU_DUMP_CODE_LEN 16

struct vcpu_dump {
    unsigned index;
    unsigned have; /* VCPU_DUMP_HAVE_* for what could be read */
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    uint64_t xcr0; /* as KVM knows it (KVM_GET_XCRS) */
    uint8_t code[VCPU_DUMP_CODE_LEN];
    unsigned code_len; /* bytes at RIP that could be read (0: none) */
};

#define VCPU_DUMP_HAVE_REGS   0x1u
#define VCPU_DUMP_HAVE_SREGS  0x2u
#define VCPU_DUMP_HAVE_EVENTS 0x4u
#define VCPU_DUMP_HAVE_MP     0x8u
#define VCPU_DUMP_HAVE_XCR0   0x10u

/* Read what KVM will give; never fails (what is missing is left out). */
void vcpu_dump_capture(int vcpu_fd, unsigned index, const struct gmem *mem, struct vcpu_dump *d);
/*
 * Format into out (NUL-terminated, lines separated by '\n', each prefixed
 * "vCPU N: "). Returns the length written, truncating at outsz - 1.
 */
size_t vcpu_dump_format(const struct vcpu_dump *d, char *out, size_t outsz);
/* One line for a vCPU that did not fault: where it was when the VM stopped. */
size_t vcpu_dump_format_short(const struct vcpu_dump *d, char *out, size_t outsz);
/* True when the state is the architectural INIT/reset state (see the caveat above). */
int vcpu_dump_is_reset_state(const struct vcpu_dump *d);

#endif /* BURROW_VMM_X86_VCPU_DUMP_H */
