/*
 * vmm/vcpu.h - vCPU creation and the vCPU thread's run loop.
 *
 * Owns: each vCPU's fd and kvm_run page, its initial CPUID/MSR/LAPIC state,
 * the KVM_RUN loop (I/O and MMIO exits go to the trap bus) and the kick
 * signal that brings a vCPU out of KVM_RUN for pause and stop.
 *
 * The no-lost-kick protocol (docs/fork.md): a kicker sets vm->pause_req or
 * vm->stopping, then sends VCPU_KICK_SIGNAL to the vCPU thread. The handler
 * sets run->immediate_exit = 1, so a vCPU that was about to enter KVM_RUN
 * returns EINTR at once, and one inside KVM_RUN returns EINTR too. Before
 * parking, the loop always enters KVM_RUN once more with immediate_exit = 1:
 * that completes an I/O or MMIO instruction whose exit was just handled
 * (KVM finishes it on the next entry), so the parked state is quiescent.
 */
#ifndef BURROW_VMM_VCPU_H
#define BURROW_VMM_VCPU_H

#include "vmm/vm.h"

__attribute__((warn_unused_result)) int vcpu_create(struct vm *vm, unsigned index);
void vcpu_destroy(struct vcpu *vcpu);
/* The signal used for kicks (a real-time signal, blocked nowhere in the VMM). */
int vcpu_kick_signal(void);
/* Start the vCPU's thread (vm_start calls this). */
__attribute__((warn_unused_result)) int vcpu_start(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);

#endif /* BURROW_VMM_VCPU_H */
