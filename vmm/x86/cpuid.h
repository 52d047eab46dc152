/*
 * vmm/x86/cpuid.h - the CPUID table each vCPU gets.
 *
 * Owns: fetching KVM_GET_SUPPORTED_CPUID and shaping it per vCPU: APIC IDs
 * (leaf 1, 0xb, 0x1f), the topology (one socket, N cores, 1 thread each),
 * the hypervisor bit and the KVM paravirt leaves (0x40000000..).
 */
#ifndef BURROW_VMM_X86_CPUID_H
#define BURROW_VMM_X86_CPUID_H

#include <stdint.h>

struct kvm_cpuid2;

__attribute__((warn_unused_result)) int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);
/* A heap copy of `supported` adjusted for vCPU apic_id of nr_vcpus. */
__attribute__((warn_unused_result)) int cpuid_for_vcpu(const struct kvm_cpuid2 *supported,
                                                       unsigned apic_id, unsigned nr_vcpus,
                                                       struct kvm_cpuid2 **out);

#endif /* BURROW_VMM_X86_CPUID_H */
