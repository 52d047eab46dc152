/* vmm/x86/acpi/rsdp.c - Root System Description Pointer, ACPI 2.0+ (36 bytes). */
#include <string.h>

#include "common/err.h"
#include "vmm/x86/acpi/acpi.h"

int acpi_build_rsdp(uint8_t *mem, uint32_t cap, uint64_t xsdt, uint32_t *len)
{
    if (cap < 36)
        return BURROW_ERR_TOO_LARGE;
    memset(mem, 0, 36);
    memcpy(mem, "RSD PTR ", 8);
    memcpy(mem + 9, ACPI_OEM_ID, 6);
    mem[15] = 2; /* revision: ACPI 2.0+, use the XSDT */
    uint32_t length = 36;
    memcpy(mem + 20, &length, 4);
    memcpy(mem + 24, &xsdt, 8);
    mem[8] = acpi_checksum(mem, 20);  /* covers the ACPI 1.0 part */
    mem[32] = acpi_checksum(mem, 36); /* extended checksum, whole structure */
    *len = 36;
    return 0;
}
