/* vmm/x86/cpuid.c - per-vCPU CPUID (see cpuid.h). */
#include "vmm/x86/cpuid.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/err.h"

#define CPUID_MAX_ENTRIES 256

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
    size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = calloc(1, sz);
    if (!c)
        return BURROW_ERR_NOMEM;
    c->nent = CPUID_MAX_ENTRIES;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        free(c);
        return BURROW_ERR_SYSTEM;
    }
    cpuid_offer_tsc_deadline(c, ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0);
    *out = c;
    return 0;
}

void cpuid_offer_tsc_deadline(struct kvm_cpuid2 *c, bool kvm_emulates_it)
{
    for (unsigned i = 0; i < c->nent && kvm_emulates_it; i++)
        if (c->entries[i].function == 1)
            c->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

static unsigned order_base_2(unsigned n)
{
    unsigned s = 0;
    while ((1u << s) < n)
        s++;
    return s;
}

static void cpuid_fix(struct kvm_cpuid_entry2 *e, unsigned apic_id, unsigned nr)
{
    unsigned core_shift = order_base_2(nr);
    switch (e->function) {
    case 1:
        /* EBX: initial APIC ID, logical processor count; HTT when > 1. */
        e->ebx = (e->ebx & 0xffffu) | (apic_id << 24) | ((1u << core_shift) << 16);
        if (nr > 1)
            e->edx |= 1u << 28;
        e->ecx |= 1u << 31; /* running under a hypervisor */
        break;
    case 4:
        /* EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing - 1. */
        e->eax &= 0x3fff;
        e->eax |= ((1u << core_shift) - 1) << 26;
        break;
    case 0xb:
    case 0x1f:
        /* Level 0: SMT (1 thread per core); level 1: cores. */
        if (e->index == 0) {
            e->eax = 0;
            e->ebx = 1;
            e->ecx = (1u << 8) | 0;
        } else if (e->index == 1) {
            e->eax = core_shift;
            e->ebx = nr;
            e->ecx = (2u << 8) | 1;
        } else {
            e->eax = e->ebx = 0;
            e->ecx = e->index;
        }
        e->edx = apic_id;
        break;
    default:
        break;
    }
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
    for (unsigned i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

/*
 * Leaf 0xD must only offer XSAVE components whose feature bits the vCPU
 * has: a host that lists AVX state but clears CPUID.1:ECX.AVX (seen under
 * nested SVM) makes Linux warn "XSAVE consistency problem" at boot.
 */
static void cpuid_fix_xsave(struct kvm_cpuid2 *c)
{
    struct kvm_cpuid_entry2 *l1 = cpuid_find(c, 1, 0), *l7 = cpuid_find(c, 7, 0);
    struct kvm_cpuid_entry2 *d0 = cpuid_find(c, 0xd, 0);
    if (!l1 || !d0)
        return;
    uint32_t mask = d0->eax;
    uint32_t l7b = l7 ? l7->ebx : 0, l7c = l7 ? l7->ecx : 0;
    if (!(l1->ecx & (1u << 26))) /* no XSAVE at all */
        mask &= 0x3;
    if (!(l1->ecx & (1u << 28))) /* AVX */
        mask &= ~(1u << 2);
    if (!(l7b & (1u << 14))) /* MPX: BNDREGS, BNDCSR */
        mask &= ~(3u << 3);
    if (!(l7b & (1u << 16))) /* AVX-512: opmask, ZMM_Hi256, Hi16_ZMM */
        mask &= ~(7u << 5);
    if (!(l7c & (1u << 3))) /* PKU */
        mask &= ~(1u << 9);
    uint32_t size = 576; /* legacy area + XSAVE header */
    for (unsigned i = 2; i < 32; i++) {
        struct kvm_cpuid_entry2 *e = cpuid_find(c, 0xd, i);
        if (!e)
            continue;
        if (!(mask & (1u << i)) && ((d0->eax >> i) & 1)) {
            e->eax = e->ebx = e->ecx = e->edx = 0; /* component withdrawn */
            continue;
        }
        if ((mask & (1u << i)) && e->ebx + e->eax > size)
            size = e->ebx + e->eax;
    }
    if (mask != d0->eax) {
        d0->eax = mask;
        d0->ebx = d0->ecx = size;
    }
}

int cpuid_for_vcpu(const struct kvm_cpuid2 *sup, unsigned apic_id, unsigned nr,
                   struct kvm_cpuid2 **out)
{
    size_t sz = sizeof(*sup) + (size_t)(sup->nent + 4) * sizeof(sup->entries[0]);
    struct kvm_cpuid2 *c = calloc(1, sz);
    if (!c)
        return BURROW_ERR_NOMEM;
    memcpy(c, sup, sizeof(*sup) + (size_t)sup->nent * sizeof(sup->entries[0]));
    int have_0b_1 = 0;
    for (unsigned i = 0; i < c->nent; i++) {
        cpuid_fix(&c->entries[i], apic_id, nr);
        if (c->entries[i].function == 0xb && c->entries[i].index == 1)
            have_0b_1 = 1;
    }
    /* Some hosts report leaf 0xb with subleaf 0 only: add the core level. */
    if (!have_0b_1) {
        for (unsigned i = 0; i < c->nent; i++) {
            if (c->entries[i].function != 0xb)
                continue;
            struct kvm_cpuid_entry2 e = c->entries[i];
            e.index = 1;
            cpuid_fix(&e, apic_id, nr);
            c->entries[c->nent++] = e;
            break;
        }
    }
    cpuid_fix_xsave(c);
    *out = c;
    return 0;
}
