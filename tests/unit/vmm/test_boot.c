/*
 * tests/unit/vmm/test_boot.c - the e820 map (legacy hole, MMIO gap), the
 * zero page (command line bounds, initrd placement, RSDP), the identity page
 * tables and the per-vCPU CPUID (APIC IDs, topology).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <asm/bootparam.h>
#include <cmocka.h>
#include <linux/kvm.h>

#include "common/err.h"
#include "vmm/x86/boot.h"
#include "vmm/x86/cpuid.h"

#define RAM (64u << 20)

static struct vm *fake_vm(uint64_t ram_size, uint8_t *ram, uint64_t mapped)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    vm->ram_size = ram_size;
    vm->low_size = ram_size < VM_MMIO_GAP_START ? ram_size : VM_MMIO_GAP_START;
    gmem_init(&vm->mem);
    if (ram)
        assert_int_equal(gmem_add_region(&vm->mem, 0, ram, mapped), 0);
    return vm;
}

static void test_e820_small_and_large(void **state)
{
    (void)state;
    struct vm_e820 map[VM_E820_MAX];
    struct vm *vm = fake_vm(256 * VM_MIB, NULL, 0);
    unsigned n = vm_e820(vm, map, VM_E820_MAX);
    assert_int_equal(n, 3);
    assert_int_equal(map[0].addr, 0);
    assert_int_equal(map[0].size, 0x9fc00);
    assert_int_equal(map[1].type, 2); /* legacy hole reserved */
    assert_int_equal(map[1].addr + map[1].size, 0x100000);
    assert_int_equal(map[2].addr, 0x100000);
    assert_int_equal(map[2].addr + map[2].size, 256 * VM_MIB);
    free(vm);
    vm = fake_vm(6 * VM_GIB, NULL, 0);
    n = vm_e820(vm, map, VM_E820_MAX);
    assert_int_equal(n, 4);
    assert_int_equal(map[2].addr + map[2].size, VM_MMIO_GAP_START); /* gap left out */
    assert_int_equal(map[3].addr, VM_MMIO_GAP_END);
    assert_int_equal(map[3].size, 3 * VM_GIB);
    free(vm);
}

static void test_zero_page(void **state)
{
    (void)state;
    uint8_t *ram = calloc(1, RAM);
    struct vm *vm = fake_vm(RAM, ram, RAM);
    struct boot_image bi = {.kind = BOOT_ENTRY_64,
                            .entry = 0x100000,
                            .load_end = 0x200000,
                            .cmdline_size = 16,
                            .initrd_addr_max = 0x2fffff};
    static const uint8_t initrd[5000] = {1, 2, 3};
    uint64_t gpa = 0;
    assert_int_equal(boot_place_initrd(vm, &bi, initrd, sizeof(initrd), &gpa), 0);
    assert_true(gpa >= bi.load_end && gpa + sizeof(initrd) <= 0x300000 && gpa % 4096 == 0);
    assert_int_equal(ram[gpa + 1], 2);
    assert_int_equal(boot_write_zero_page(vm, &bi, "console=ttyS0", gpa, sizeof(initrd), 0xe0000),
                     0);
    const struct boot_params *bp = (const void *)(ram + BOOT_ZERO_PAGE);
    assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
    assert_string_equal((const char *)ram + BOOT_CMDLINE_ADDR, "console=ttyS0");
    assert_int_equal(bp->hdr.ramdisk_image, gpa);
    assert_int_equal(bp->hdr.ramdisk_size, sizeof(initrd));
    assert_int_equal(bp->acpi_rsdp_addr, 0xe0000);
    assert_int_equal(bp->e820_entries, 3);
    assert_int_equal(bp->e820_table[2].addr, 0x100000);
    /* The identity map covers 4 GiB with user-accessible 2 MiB pages. */
    const uint64_t *pd = (const void *)(ram + BOOT_PD);
    assert_int_equal(pd[2047] & ~0xfffull, 2047ull << 21);
    assert_int_equal(pd[0] & 0x87, 0x87);
    /* cmdline_size bounds the command line: 17 bytes do not fit 16. */
    assert_int_equal(boot_write_zero_page(vm, &bi, "0123456789abcdefg", 0, 0, 0),
                     BURROW_ERR_TOO_LARGE);
    /* an initrd that does not fit below initrd_addr_max, above the kernel */
    static uint8_t big[0x200000];
    assert_int_equal(boot_place_initrd(vm, &bi, big, sizeof(big), &gpa), BURROW_ERR_TOO_LARGE);
    free(vm);
    free(ram);
}

static void test_cpuid(void **state)
{
    (void)state;
    size_t sz = sizeof(struct kvm_cpuid2) + 4 * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *sup = calloc(1, sz);
    sup->nent = 3;
    sup->entries[0].function = 1;
    sup->entries[0].ebx = 0xffffffff;
    sup->entries[1].function = 0xb;
    sup->entries[2].function = 0x40000000;
    struct kvm_cpuid2 *c = NULL;
    assert_int_equal(cpuid_for_vcpu(sup, 3, 4, &c), 0);
    assert_int_equal(c->entries[0].ebx >> 24, 3);          /* initial APIC ID */
    assert_int_equal((c->entries[0].ebx >> 16) & 0xff, 4); /* logical count */
    assert_true(c->entries[0].ecx & (1u << 31));           /* hypervisor */
    assert_int_equal(c->entries[1].edx, 3);                /* x2APIC ID, level 0 */
    assert_int_equal(c->nent, 4);                          /* level 1 added */
    assert_int_equal(c->entries[3].function, 0xb);
    assert_int_equal(c->entries[3].index, 1);
    assert_int_equal(c->entries[3].ebx, 4);
    assert_int_equal(c->entries[3].eax, 2); /* shift: 4 cores */
    free(c);
    free(sup);
}

/* XSAVE state the vCPU cannot use (AVX without CPUID.1:ECX.AVX) is withdrawn from leaf 0xD. */
static void test_cpuid_xsave(void **state)
{
    (void)state;
    size_t sz = sizeof(struct kvm_cpuid2) + 4 * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *sup = calloc(1, sz);
    sup->nent = 3;
    sup->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = 1u << 26}; /* XSAVE only */
    sup->entries[1] = (struct kvm_cpuid_entry2){.function = 0xd, .eax = 7, .ebx = 832, .ecx = 832};
    sup->entries[2] =
        (struct kvm_cpuid_entry2){.function = 0xd, .index = 2, .eax = 256, .ebx = 576};
    struct kvm_cpuid2 *c = NULL;
    assert_int_equal(cpuid_for_vcpu(sup, 0, 1, &c), 0);
    assert_int_equal(c->entries[1].eax, 3);
    assert_int_equal(c->entries[1].ebx, 576);
    assert_int_equal(c->entries[1].ecx, 576);
    assert_int_equal(c->entries[2].eax, 0);
    free(c);
    sup->entries[0].ecx |= 1u << 28; /* with AVX nothing changes */
    assert_int_equal(cpuid_for_vcpu(sup, 0, 1, &c), 0);
    assert_int_equal(c->entries[1].eax, 7);
    assert_int_equal(c->entries[1].ebx, 832);
    assert_int_equal(c->entries[2].eax, 256);
    free(c);
    free(sup);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e820_small_and_large),
        cmocka_unit_test(test_zero_page),
        cmocka_unit_test(test_cpuid),
        cmocka_unit_test(test_cpuid_xsave),
    };
    return cmocka_run_group_tests_name("vmm/boot", tests, NULL, NULL);
}
