/*
 * vmm/x86/acpi/aml.h - just enough AML to describe the machine's devices:
 * Scope, Device, Name, integers, strings, EISA IDs, packages and resource
 * templates (IO, IRQNoFlags, Memory32Fixed, extended Interrupt).
 *
 * Owns: the byte encoding (PkgLength, NameSeg, data objects). Output goes to
 * an acpi_tbl, which records overflow instead of writing past its end.
 */
#ifndef BURROW_VMM_X86_ACPI_AML_H
#define BURROW_VMM_X86_ACPI_AML_H

#include <stdint.h>

#include "vmm/x86/acpi/acpi.h"

/* A block whose length is not known until its body is written. */
struct aml_block {
    uint8_t *mem;
    uint32_t cap;
    struct acpi_tbl body;
};

void aml_block_begin(struct aml_block *b, uint8_t *mem, uint32_t cap);
/* Emit op (1 or 2 bytes, e.g. 0x10 Scope, 0x5b82 Device) + PkgLength + name + body. */
void aml_block_end(struct acpi_tbl *out, uint16_t op, const char *name, struct aml_block *b);

void aml_int(struct acpi_tbl *t, uint64_t v);
void aml_string(struct acpi_tbl *t, const char *s);
/* Name(seg, ...) with an integer / string / EISA ID / raw data object. */
void aml_name_int(struct acpi_tbl *t, const char *seg, uint64_t v);
void aml_name_string(struct acpi_tbl *t, const char *seg, const char *s);
void aml_name_eisaid(struct acpi_tbl *t, const char *seg, const char *id7);
/* Name(seg, Package(){ints...}) */
void aml_name_package(struct acpi_tbl *t, const char *seg, const uint64_t *v, uint8_t n);
/* Name(seg, Buffer(){res..., EndTag}) for a resource template. */
void aml_name_resources(struct acpi_tbl *t, const char *seg, const uint8_t *res, uint32_t len);

/* Resource descriptors, appended to a raw byte list. */
void aml_res_io(struct acpi_tbl *r, uint16_t port, uint8_t len);
void aml_res_irq(struct acpi_tbl *r, uint8_t irq);
void aml_res_mem32_fixed(struct acpi_tbl *r, uint32_t base, uint32_t len);
void aml_res_interrupt_edge(struct acpi_tbl *r, uint32_t gsi);

#endif /* BURROW_VMM_X86_ACPI_AML_H */
