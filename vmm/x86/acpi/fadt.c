/*
 * vmm/x86/acpi/fadt.c - Fixed ACPI Description Table, revision 6.5,
 * hardware-reduced: no PM1 blocks, no SCI, no GPEs; power-off goes through
 * the sleep control register (VM_ACPI_SLEEP_CTL_PORT) with \_S5's SLP_TYP.
 */
#include "vmm/x86/acpi/acpi.h"

#define FADT_F_WBINVD          (1u << 0)
#define FADT_F_PWR_BUTTON      (1u << 4) /* no fixed power button */
#define FADT_F_SLP_BUTTON      (1u << 5)
#define FADT_F_RESET_REG_SUP   (1u << 10)
#define FADT_F_HW_REDUCED      (1u << 20)
#define IAPC_VGA_NOT_PRESENT   (1u << 2)
#define IAPC_MSI_NOT_SUPPORTED (1u << 3)
#define GAS_SYSTEM_IO          1

static void put_gas_io(struct acpi_tbl *t, uint16_t port, uint8_t bits)
{
    acpi_put8(t, GAS_SYSTEM_IO);
    acpi_put8(t, bits); /* register bit width */
    acpi_put8(t, 0);    /* bit offset */
    acpi_put8(t, 1);    /* access size: byte */
    acpi_put64(t, port);
}

static void put_zero(struct acpi_tbl *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        acpi_put8(t, 0);
}

int acpi_build_fadt(uint8_t *mem, uint32_t cap, uint64_t dsdt, uint32_t *len)
{
    struct acpi_tbl t;
    acpi_tbl_init(&t, mem, cap, "FACP", 6);
    acpi_put32(&t, 0);              /* 36 FIRMWARE_CTRL: no FACS */
    acpi_put32(&t, (uint32_t)dsdt); /* 40 DSDT */
    put_zero(&t, 109 - 44);         /* 44..108: PM blocks, all absent */
    acpi_put16(&t, IAPC_VGA_NOT_PRESENT | IAPC_MSI_NOT_SUPPORTED); /* 109 IAPC_BOOT_ARCH */
    acpi_put8(&t, 0);                                              /* 111 reserved */
    acpi_put32(&t, FADT_F_WBINVD | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_HW_REDUCED);
    put_zero(&t, 12);                          /* 116 RESET_REG: none */
    acpi_put8(&t, 0);                          /* 128 RESET_VALUE */
    acpi_put16(&t, 0);                         /* 129 ARM_BOOT_ARCH */
    acpi_put8(&t, 5);                          /* 131 FADT minor version */
    acpi_put64(&t, 0);                         /* 132 X_FIRMWARE_CTRL */
    acpi_put64(&t, dsdt);                      /* 140 X_DSDT */
    put_zero(&t, 244 - 148);                   /* 148..243: X_ PM and GPE blocks, absent */
    put_gas_io(&t, VM_ACPI_SLEEP_CTL_PORT, 8); /* 244 SLEEP_CONTROL_REG */
    put_gas_io(&t, VM_ACPI_SLEEP_STS_PORT, 8); /* 256 SLEEP_STATUS_REG */
    acpi_put(&t, "BURROWVM", 8);               /* 268 hypervisor vendor identity */
    int r = acpi_tbl_finish(&t);
    *len = t.len;
    return r;
}
