/* vmm/x86/acpi/xsdt.c - Extended System Description Table: 64-bit table pointers. */
#include "vmm/x86/acpi/acpi.h"

int acpi_build_xsdt(uint8_t *mem, uint32_t cap, const uint64_t *tables, unsigned n, uint32_t *len)
{
    struct acpi_tbl t;
    acpi_tbl_init(&t, mem, cap, "XSDT", 1);
    for (unsigned i = 0; i < n; i++)
        acpi_put64(&t, tables[i]);
    int r = acpi_tbl_finish(&t);
    *len = t.len;
    return r;
}
