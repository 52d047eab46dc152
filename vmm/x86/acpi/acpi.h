/*
 * vmm/x86/acpi/acpi.h - the ACPI tables the VMM hands the guest.
 *
 * Owns: building RSDP, XSDT, FADT (hardware-reduced), MADT and DSDT into a
 * guest memory window, one file per table (rsdp.c, xsdt.c, fadt.c, madt.c,
 * dsdt.c), with the shared header/checksum helpers in acpi.c and the AML
 * encoder in aml.c. The layout is fixed: RSDP at the window's start, then
 * DSDT, FADT, MADT, XSDT, each 16-byte aligned.
 */
#ifndef BURROW_VMM_X86_ACPI_ACPI_H
#define BURROW_VMM_X86_ACPI_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/gmem.h"
#include "vmm/vm.h"

struct acpi_config {
    unsigned nr_vcpus;
    struct vm_virtio_slot virtio[VM_VIRTIO_MAX];
    unsigned nr_virtio;
};

/* Write all tables into [base, base+max); *rsdp_out = the RSDP's address. */
__attribute__((warn_unused_result)) int acpi_build(struct gmem *mem, uint64_t base, uint64_t max,
                                                   const struct acpi_config *cfg,
                                                   uint64_t *rsdp_out);

/* ---- shared by the per-table files ---- */

#define ACPI_OEM_ID  "BURROW"
#define ACPI_HDR_LEN 36

/* A table under construction in host memory (fixed capacity, overflow-checked). */
struct acpi_tbl {
    uint8_t *p;
    uint32_t len, cap;
    int overflow;
};

void acpi_tbl_init(struct acpi_tbl *t, uint8_t *mem, uint32_t cap, const char sig[4],
                   uint8_t revision);
void acpi_put(struct acpi_tbl *t, const void *data, uint32_t n);
void acpi_put8(struct acpi_tbl *t, uint8_t v);
void acpi_put16(struct acpi_tbl *t, uint16_t v);
void acpi_put32(struct acpi_tbl *t, uint32_t v);
void acpi_put64(struct acpi_tbl *t, uint64_t v);
/* Write the length and checksum; BURROW_ERR_TOO_LARGE if anything overflowed. */
__attribute__((warn_unused_result)) int acpi_tbl_finish(struct acpi_tbl *t);
uint8_t acpi_checksum(const uint8_t *p, uint32_t len);

int acpi_build_rsdp(uint8_t *mem, uint32_t cap, uint64_t xsdt, uint32_t *len);
int acpi_build_xsdt(uint8_t *mem, uint32_t cap, const uint64_t *tables, unsigned n, uint32_t *len);
int acpi_build_fadt(uint8_t *mem, uint32_t cap, uint64_t dsdt, uint32_t *len);
int acpi_build_madt(uint8_t *mem, uint32_t cap, unsigned nr_vcpus, uint32_t *len);
int acpi_build_dsdt(uint8_t *mem, uint32_t cap, const struct acpi_config *cfg, uint32_t *len);

#endif /* BURROW_VMM_X86_ACPI_ACPI_H */
