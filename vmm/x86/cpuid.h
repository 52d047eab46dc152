/*
 * vmm/x86/cpuid.h - the CPUID table each vCPU gets.
 *
 * Owns: fetching KVM_GET_SUPPORTED_CPUID and shaping it per vCPU: APIC IDs
 * (leaf 1, 0xb, 0x1f), the topology (one socket, N cores, 1 thread each),
 * the hypervisor bit and the KVM paravirt leaves (0x40000000..).
 */
#ifndef BURROW_VMM_X86_CPUID_H
#define BURROW_VMM_X86_CPUID_H

#include <stdbool.h>
#include <stdint.h>

struct kvm_cpuid2;

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)

/* KVM_GET_SUPPORTED_CPUID, with what KVM emulates but does not list added. */
__attribute__((warn_unused_result)) int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);
/*
 * KVM emulates the LAPIC's TSC-deadline mode wherever it has
 * KVM_CAP_TSC_DEADLINE_TIMER, but kernels before 6.13 (Debian 12's 6.1,
 * the nested L1's kvm_amd) leave CPUID.1:ECX[24] out of the supported
 * table and expect the VMM to set it, as QEMU and Firecracker do. Without
 * it a guest there has no TSC-deadline timer at all.
 */
void cpuid_offer_tsc_deadline(struct kvm_cpuid2 *c, bool kvm_emulates_it);
/* A heap copy of `supported` adjusted for vCPU apic_id of nr_vcpus. */
__attribute__((warn_unused_result)) int cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
                                                       unsigned apic_id, unsigned nr_vcpus,
                                                       struct kvm_cpuid2 **out);

#endif /* BURROW_VMM_X86_CPUID_H */
