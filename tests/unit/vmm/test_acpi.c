/*
 * tests/unit/vmm/test_acpi.c - the ACPI tables: layout, checksums, and what
 * `iasl -d` (Debian acpica-tools) reads back from DSDT, FACP and APIC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "tests/lib/testutil.h"
#include "vmm/x86/acpi/acpi.h"

#define BASE 0xe0000u
static uint8_t ram[0x100000];

static uint8_t sum(const uint8_t *p, uint32_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static const uint8_t *at(uint64_t gpa)
{
    assert_true(gpa >= BASE && gpa < sizeof(ram));
    return ram + gpa;
}

static uint32_t u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void build(unsigned ncpu, unsigned nvirtio, uint64_t *rsdp)
{
    struct gmem m;
    gmem_init(&m);
    assert_int_equal(gmem_add_region(&m, 0, ram, sizeof(ram)), 0);
    struct acpi_config c = {.nr_vcpus = ncpu, .nr_virtio = nvirtio};
    for (unsigned i = 0; i < nvirtio; i++)
        c.virtio[i] = (struct vm_virtio_slot){VM_VIRTIO_MMIO_BASE + i * VM_VIRTIO_MMIO_SIZE,
                                              VM_VIRTIO_MMIO_SIZE, VM_VIRTIO_GSI_BASE + i};
    assert_int_equal(acpi_build(&m, BASE, 0x20000, &c, rsdp), 0);
}

/* Find a table by signature through RSDP -> XSDT (and FADT -> DSDT). */
static const uint8_t *find(uint64_t rsdp, const char *sig)
{
    const uint8_t *x = at(u64(at(rsdp) + 24));
    if (!strcmp(sig, "XSDT"))
        return x;
    for (uint32_t off = 36; off < u32(x + 4); off += 8) {
        const uint8_t *t = at(u64(x + off));
        if (!memcmp(t, sig, 4))
            return t;
        if (!strcmp(sig, "DSDT") && !memcmp(t, "FACP", 4))
            return at(u64(t + 140));
    }
    return NULL;
}

static void test_checksums(void **state)
{
    (void)state;
    uint64_t rsdp;
    build(4, 3, &rsdp);
    const uint8_t *r = at(rsdp);
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(sum(r, 20), 0);
    assert_int_equal(sum(r, 36), 0);
    static const char *const sigs[] = {"XSDT", "FACP", "APIC", "DSDT"};
    for (unsigned i = 0; i < 4; i++) {
        const uint8_t *t = find(rsdp, sigs[i]);
        assert_non_null(t);
        assert_int_equal(sum(t, u32(t + 4)), 0);
    }
    const uint8_t *f = find(rsdp, "FACP");
    assert_int_equal(u32(f + 4), 276);
    assert_true(u32(f + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
    assert_int_equal(f[244], 1);            /* sleep control in I/O space */
    assert_int_equal(u64(f + 248), VM_ACPI_SLEEP_CTL_PORT);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = 0;
    fclose(fp);
    return buf;
}

static void dump(const char *dir, const char *name, const uint8_t *t)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(t, 1, u32(t + 4), fp), u32(t + 4));
    fclose(fp);
}

static void test_iasl(void **state)
{
    (void)state;
    uint64_t rsdp;
    build(2, 2, &rsdp);
    char *dir = tu_mkdtemp("acpi");
    assert_non_null(dir);
    dump(dir, "dsdt", find(rsdp, "DSDT"));
    dump(dir, "facp", find(rsdp, "FACP"));
    dump(dir, "apic", find(rsdp, "APIC"));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat facp.dat apic.dat >iasl.log 2>&1", dir);
    assert_int_equal(system(cmd), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
    const char *d = slurp(path);
    assert_non_null(strstr(d, "\"LNRO0005\""));
    assert_non_null(strstr(d, "Device (VR01)"));
    assert_non_null(strstr(d, "0xD0001000"));
    assert_non_null(strstr(d, "Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, )"));
    assert_non_null(strstr(d, "0x00000011"));
    assert_non_null(strstr(d, "EisaId (\"PNP0501\")"));
    assert_non_null(strstr(d, "EisaId (\"PNP0B00\")"));
    assert_non_null(strstr(d, "IRQNoFlags ()\n                    {8}"));
    assert_non_null(strstr(d, "IO (Decode16"));
    assert_non_null(strstr(d, "Name (\\_S5, Package"));
    snprintf(path, sizeof(path), "%s/facp.dsl", dir);
    const char *f = slurp(path);
    assert_non_null(strstr(f, "Hardware Reduced (V5) : 1"));
    snprintf(path, sizeof(path), "%s/apic.dsl", dir);
    const char *a = slurp(path);
    assert_non_null(strstr(a, "Local Apic ID : 01"));
    assert_non_null(strstr(a, "I/O Apic"));
    assert_non_null(strstr(a, "Interrupt Source Override"));
    if (getenv("KEEP"))
        printf("%s\n", dir);
    else
        tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checksums),
        cmocka_unit_test(test_iasl),
    };
    return cmocka_run_group_tests_name("vmm/acpi", tests, NULL, NULL);
}
