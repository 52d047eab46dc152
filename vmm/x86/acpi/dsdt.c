/*
 * vmm/x86/acpi/dsdt.c - Differentiated System Description Table: COM1, the
 * CMOS RTC, one LNRO0005 (virtio-mmio) device per slot with its window and
 * edge-triggered interrupt, and \_S5 for ACPI power-off (Debian's cloud kernel finds
 * virtio-mmio devices only this way: VIRTIO_MMIO_CMDLINE_DEVICES is off).
 */
#include <stdio.h>

#include "common/err.h"
#include "vmm/hw/legacy.h"
#include "vmm/x86/acpi/aml.h"

/* A legacy ISA device: EISA ID, one I/O range, one ISA IRQ. */
static void dsdt_isa(struct acpi_tbl *sb, const char *name, const char *hid, uint16_t port,
                     uint8_t len, uint8_t irq)
{
    uint8_t mem[128], res[32];
    struct aml_block dev;
    struct acpi_tbl r = {.p = res, .cap = sizeof(res)};
    aml_res_io(&r, port, len);
    aml_res_irq(&r, irq);
    aml_block_begin(&dev, mem, sizeof(mem));
    aml_name_eisaid(&dev.body, "_HID", hid);
    aml_name_int(&dev.body, "_UID", 0);
    aml_name_resources(&dev.body, "_CRS", res, r.len);
    if (r.overflow)
        sb->overflow = 1;
    aml_block_end(sb, 0x5b82, name, &dev);
}

static void dsdt_virtio(struct acpi_tbl *sb, unsigned i, const struct vm_virtio_slot *s)
{
    uint8_t mem[160], res[32];
    char name[5];
    struct aml_block dev;
    struct acpi_tbl r = {.p = res, .cap = sizeof(res)};
    snprintf(name, sizeof(name), "VR%02u", i % 100u); /* i < 8: slots */
    aml_res_mem32_fixed(&r, (uint32_t)s->base, s->size);
    aml_res_interrupt_edge(&r, s->gsi);
    aml_block_begin(&dev, mem, sizeof(mem));
    aml_name_string(&dev.body, "_HID", "LNRO0005");
    aml_name_int(&dev.body, "_UID", i);
    aml_name_resources(&dev.body, "_CRS", res, r.len);
    aml_block_end(sb, 0x5b82, name, &dev);
}

int acpi_build_dsdt(uint8_t *mem, uint32_t cap, const struct acpi_config *cfg, uint32_t *len)
{
    for (unsigned i = 0; i < cfg->nr_virtio; i++) {
        const struct vm_virtio_slot *s = &cfg->virtio[i];
        if (s->base > 0xffffffffull || s->size == 0 || s->base + s->size > 0x100000000ull)
            return BURROW_ERR_RANGE;
    }
    struct acpi_tbl t;
    acpi_tbl_init(&t, mem, cap, "DSDT", 2);
    uint8_t sbmem[2048];
    struct aml_block sb;
    aml_block_begin(&sb, sbmem, sizeof(sbmem));
    dsdt_isa(&sb.body, "COM1", "PNP0501", VM_COM1_PORT, 8, VM_COM1_IRQ);
    /*
     * The RTC must be a PNP device too: with a hardware-reduced FADT Linux
     * maps no legacy IRQs, so rtc_cmos's own platform device cannot get
     * IRQ 8 (probe fails with -EINVAL) unless ACPI describes it.
     */
    dsdt_isa(&sb.body, "RTC_", "PNP0B00", 0x70, 2, 8);
    for (unsigned i = 0; i < cfg->nr_virtio; i++)
        dsdt_virtio(&sb.body, i, &cfg->virtio[i]);
    aml_block_end(&t, 0x10, "\\_SB_", &sb);
    /* SLP_TYPa, SLP_TYPb: what the OS writes to the sleep control register. */
    const uint64_t s5[2] = {LEGACY_S5_SLP_TYP, 0};
    aml_name_package(&t, "\\_S5_", s5, 2);
    int r = acpi_tbl_finish(&t);
    *len = t.len;
    return r;
}
