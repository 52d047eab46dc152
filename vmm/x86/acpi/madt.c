/*
 * vmm/x86/acpi/madt.c - Multiple APIC Description Table: one local APIC per
 * vCPU (APIC ID = vCPU index), the IOAPIC (GSI base 0), the ISA interrupt
 * source override IRQ0 -> GSI2 (the PIT on the IOAPIC's pin 2), and LINT1 as
 * the NMI input on every processor.
 */
#include "vmm/x86/acpi/acpi.h"

#define MADT_PCAT_COMPAT 1u /* there are 8259s (KVM's in-kernel PIC) */
#define MADT_LAPIC       0
#define MADT_IOAPIC      1
#define MADT_ISO         2
#define MADT_LAPIC_NMI   4

int acpi_build_madt(uint8_t *mem, uint32_t cap, unsigned nr_vcpus, uint32_t *len)
{
    struct acpi_tbl t;
    acpi_tbl_init(&t, mem, cap, "APIC", 5);
    acpi_put32(&t, (uint32_t)VM_LAPIC_ADDR);
    acpi_put32(&t, MADT_PCAT_COMPAT);
    for (unsigned i = 0; i < nr_vcpus; i++) {
        acpi_put8(&t, MADT_LAPIC);
        acpi_put8(&t, 8);
        acpi_put8(&t, (uint8_t)i); /* ACPI processor UID */
        acpi_put8(&t, (uint8_t)i); /* APIC ID */
        acpi_put32(&t, 1);         /* enabled */
    }
    acpi_put8(&t, MADT_IOAPIC);
    acpi_put8(&t, 12);
    acpi_put8(&t, (uint8_t)nr_vcpus); /* IOAPIC ID: after the LAPICs */
    acpi_put8(&t, 0);
    acpi_put32(&t, (uint32_t)VM_IOAPIC_ADDR);
    acpi_put32(&t, 0); /* GSI base */
    acpi_put8(&t, MADT_ISO);
    acpi_put8(&t, 10);
    acpi_put8(&t, 0);  /* bus: ISA */
    acpi_put8(&t, 0);  /* source IRQ 0 */
    acpi_put32(&t, 2); /* GSI 2 */
    acpi_put16(&t, 0); /* conforms to the bus: edge, active high */
    acpi_put8(&t, MADT_LAPIC_NMI);
    acpi_put8(&t, 6);
    acpi_put8(&t, 0xff); /* all processors */
    acpi_put16(&t, 0);
    acpi_put8(&t, 1); /* LINT1 */
    int r = acpi_tbl_finish(&t);
    *len = t.len;
    return r;
}
