/*
 * tests/unit/vmm/x86/test_cpuid.c - the CPUID table a vCPU gets: the
 * TSC-deadline bit offered where KVM emulates it but does not list it
 * (kernels before 6.13), the APIC ID and topology of each vCPU.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/kvm.h>

#include "vmm/x86/cpuid.h"

/* A supported table as an older kernel returns it: leaf 1 without bit 24. */
static struct kvm_cpuid2 *table(void)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 3 * sizeof(c->entries[0]));
    assert_non_null(c);
    c->nent = 3;
    c->entries[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0xd};
    c->entries[1] = (struct kvm_cpuid_entry2){.function = 1, .ecx = 0x80202001, .edx = 0x178bfbff};
    c->entries[2] = (struct kvm_cpuid_entry2){.function = 7, .ebx = 0x219c07ab};
    return c;
}

static void test_tsc_deadline_offered_when_kvm_emulates_it(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = table();
    cpuid_offer_tsc_deadline(c, true);
    assert_int_equal(c->entries[1].ecx, 0x80202001 | CPUID_1_ECX_TSC_DEADLINE);
    /* nothing else changes */
    assert_int_equal(c->entries[0].ecx, 0);
    assert_int_equal(c->entries[2].ecx, 0);
    assert_int_equal(c->entries[1].edx, 0x178bfbff);
    free(c);
}

static void test_tsc_deadline_not_offered_without_kvm_support(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = table();
    cpuid_offer_tsc_deadline(c, false);
    assert_int_equal(c->entries[1].ecx, 0x80202001);
    free(c);
}

static void test_per_vcpu_apic_id_keeps_tsc_deadline(void **state)
{
    (void)state;
    struct kvm_cpuid2 *c = table(), *v = NULL;
    cpuid_offer_tsc_deadline(c, true);
    assert_int_equal(cpuid_for_vcpu(c, 3, 4, &v), 0);
    assert_int_equal(v->entries[1].ebx >> 24, 3); /* initial APIC ID */
    assert_true(v->entries[1].ecx & CPUID_1_ECX_TSC_DEADLINE);
    assert_true(v->entries[1].ecx & (1u << 31)); /* hypervisor */
    assert_true(v->entries[1].edx & (1u << 28)); /* HTT: more than one vCPU */
    free(v);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tsc_deadline_offered_when_kvm_emulates_it),
        cmocka_unit_test(test_tsc_deadline_not_offered_without_kvm_support),
        cmocka_unit_test(test_per_vcpu_apic_id_keeps_tsc_deadline),
    };
    return cmocka_run_group_tests_name("vmm/x86/cpuid", tests, NULL, NULL);
}
