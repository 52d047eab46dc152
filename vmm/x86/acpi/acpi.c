/* vmm/x86/acpi/acpi.c - table helpers and the whole-set builder (see acpi.h). */
#include "vmm/x86/acpi/acpi.h"

#include <string.h>

#include "common/err.h"

uint8_t acpi_checksum(const uint8_t *p, uint32_t len)
{
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)(0 - sum);
}

void acpi_put(struct acpi_tbl *t, const void *data, uint32_t n)
{
    if (t->overflow || n > t->cap - t->len) {
        t->overflow = 1;
        return;
    }
    memcpy(t->p + t->len, data, n);
    t->len += n;
}

void acpi_put8(struct acpi_tbl *t, uint8_t v)
{
    acpi_put(t, &v, 1);
}

void acpi_put16(struct acpi_tbl *t, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    acpi_put(t, b, 2);
}

void acpi_put32(struct acpi_tbl *t, uint32_t v)
{
    acpi_put16(t, (uint16_t)v);
    acpi_put16(t, (uint16_t)(v >> 16));
}

void acpi_put64(struct acpi_tbl *t, uint64_t v)
{
    acpi_put32(t, (uint32_t)v);
    acpi_put32(t, (uint32_t)(v >> 32));
}

void acpi_tbl_init(struct acpi_tbl *t, uint8_t *mem, uint32_t cap, const char sig[4],
                   uint8_t revision)
{
    *t = (struct acpi_tbl){.p = mem, .cap = cap};
    acpi_put(t, sig, 4);
    acpi_put32(t, 0); /* length, patched by acpi_tbl_finish */
    acpi_put8(t, revision);
    acpi_put8(t, 0); /* checksum */
    acpi_put(t, ACPI_OEM_ID, 6);
    acpi_put(t, "BURROWVM", 8); /* OEM table ID */
    acpi_put32(t, 1);           /* OEM revision */
    acpi_put(t, "BRRW", 4);     /* creator ID */
    acpi_put32(t, 1);           /* creator revision */
}

int acpi_tbl_finish(struct acpi_tbl *t)
{
    if (t->overflow || t->len < ACPI_HDR_LEN)
        return BURROW_ERR_TOO_LARGE;
    uint32_t len = t->len;
    memcpy(t->p + 4, &len, 4);
    t->p[9] = 0;
    t->p[9] = acpi_checksum(t->p, len);
    return 0;
}

#define ACPI_ALIGN(x) (((x) + 15u) & ~15u)

/* RSDP first (fixed spot the guest can scan for), then DSDT, FADT, MADT, XSDT. */
int acpi_build(struct gmem *mem, uint64_t base, uint64_t max, const struct acpi_config *cfg,
               uint64_t *rsdp_out)
{
    if (cfg->nr_virtio > VM_VIRTIO_MAX || cfg->nr_vcpus == 0 || cfg->nr_vcpus > VM_MAX_VCPUS)
        return BURROW_ERR_RANGE;
    if (max > 0x20000)
        max = 0x20000;
    uint8_t *area = gmem_ptr(mem, base, max);
    if (!area)
        return BURROW_ERR_RANGE;
    memset(area, 0, max);
    uint32_t cap = (uint32_t)max, off = 64, len = 0; /* RSDP is 36 bytes */
    uint64_t dsdt = base + off, fadt, madt, xsdt;
    int r;
    if ((r = acpi_build_dsdt(area + off, cap - off, cfg, &len)))
        return r;
    off = ACPI_ALIGN(off + len);
    fadt = base + off;
    if (off > cap || (r = acpi_build_fadt(area + off, cap - off, dsdt, &len)))
        return r ? r : BURROW_ERR_TOO_LARGE;
    off = ACPI_ALIGN(off + len);
    madt = base + off;
    if (off > cap || (r = acpi_build_madt(area + off, cap - off, cfg->nr_vcpus, &len)))
        return r ? r : BURROW_ERR_TOO_LARGE;
    off = ACPI_ALIGN(off + len);
    xsdt = base + off;
    uint64_t tables[2] = {fadt, madt};
    if (off > cap || (r = acpi_build_xsdt(area + off, cap - off, tables, 2, &len)))
        return r ? r : BURROW_ERR_TOO_LARGE;
    if ((r = acpi_build_rsdp(area, 64, xsdt, &len)))
        return r;
    *rsdp_out = base;
    return 0;
}
