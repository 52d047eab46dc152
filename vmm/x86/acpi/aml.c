/* vmm/x86/acpi/aml.c - the AML encoder (see aml.h). */
#include "vmm/x86/acpi/aml.h"

#include <string.h>

#define AML_NAME_OP       0x08
#define AML_BYTE_PREFIX   0x0a
#define AML_WORD_PREFIX   0x0b
#define AML_DWORD_PREFIX  0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX  0x0e
#define AML_BUFFER_OP     0x11
#define AML_PACKAGE_OP    0x12
#define AML_ROOT_CHAR     '\\'

/* PkgLength counts its own bytes; 1 byte below 63, then 2-4 with a nibble in the first. */
static void aml_pkglen(struct acpi_tbl *t, uint32_t body)
{
    if (body + 1 < 0x40) {
        acpi_put8(t, (uint8_t)(body + 1));
        return;
    }
    unsigned extra = body + 2 < 0x1000 ? 1 : body + 3 < 0x100000 ? 2 : 3;
    uint32_t total = body + 1 + extra;
    acpi_put8(t, (uint8_t)((extra << 6) | (total & 0xf)));
    for (unsigned i = 0; i < extra; i++)
        acpi_put8(t, (uint8_t)(total >> (4 + 8 * i)));
}

/* "\_SB_" style names: an optional root prefix, then one 4-char segment. */
static void aml_namestring(struct acpi_tbl *t, const char *name)
{
    if (name[0] == AML_ROOT_CHAR) {
        acpi_put8(t, AML_ROOT_CHAR);
        name++;
    }
    char seg[4] = {'_', '_', '_', '_'};
    for (unsigned i = 0; i < 4 && name[i]; i++)
        seg[i] = name[i];
    acpi_put(t, seg, 4);
}

void aml_block_begin(struct aml_block *b, uint8_t *mem, uint32_t cap)
{
    b->mem = mem;
    b->cap = cap;
    b->body = (struct acpi_tbl){.p = mem, .cap = cap};
}

void aml_block_end(struct acpi_tbl *out, uint16_t op, const char *name, struct aml_block *b)
{
    if (b->body.overflow) {
        out->overflow = 1;
        return;
    }
    uint8_t nm[8];
    struct acpi_tbl n = {.p = nm, .cap = sizeof(nm)};
    aml_namestring(&n, name);
    if (op > 0xff)
        acpi_put8(out, (uint8_t)(op >> 8));
    acpi_put8(out, (uint8_t)op);
    aml_pkglen(out, n.len + b->body.len);
    acpi_put(out, nm, n.len);
    acpi_put(out, b->mem, b->body.len);
}

void aml_int(struct acpi_tbl *t, uint64_t v)
{
    if (v <= 1) {
        acpi_put8(t, (uint8_t)v); /* ZeroOp / OneOp */
    } else if (v <= 0xff) {
        acpi_put8(t, AML_BYTE_PREFIX);
        acpi_put8(t, (uint8_t)v);
    } else if (v <= 0xffff) {
        acpi_put8(t, AML_WORD_PREFIX);
        acpi_put16(t, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        acpi_put8(t, AML_DWORD_PREFIX);
        acpi_put32(t, (uint32_t)v);
    } else {
        acpi_put8(t, AML_QWORD_PREFIX);
        acpi_put64(t, v);
    }
}

void aml_string(struct acpi_tbl *t, const char *s)
{
    acpi_put8(t, AML_STRING_PREFIX);
    acpi_put(t, s, (uint32_t)strlen(s) + 1);
}

void aml_name_int(struct acpi_tbl *t, const char *seg, uint64_t v)
{
    acpi_put8(t, AML_NAME_OP);
    aml_namestring(t, seg);
    aml_int(t, v);
}

void aml_name_string(struct acpi_tbl *t, const char *seg, const char *s)
{
    acpi_put8(t, AML_NAME_OP);
    aml_namestring(t, seg);
    aml_string(t, s);
}

/* "PNP0501" -> three 5-bit letters and four hex digits, stored big-endian. */
void aml_name_eisaid(struct acpi_tbl *t, const char *seg, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    uint32_t v = ((uint32_t)(id[0] - 0x40) << 26) | ((uint32_t)(id[1] - 0x40) << 21) |
                 ((uint32_t)(id[2] - 0x40) << 16);
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)(strchr(hex, id[3 + i]) - hex) << (12 - 4 * i);
    uint32_t swapped = __builtin_bswap32(v);
    acpi_put8(t, AML_NAME_OP);
    aml_namestring(t, seg);
    acpi_put8(t, AML_DWORD_PREFIX);
    acpi_put32(t, swapped);
}

void aml_name_package(struct acpi_tbl *t, const char *seg, const uint64_t *v, uint8_t n)
{
    uint8_t tmp[128];
    struct acpi_tbl body = {.p = tmp, .cap = sizeof(tmp)};
    acpi_put8(&body, n);
    for (uint8_t i = 0; i < n; i++)
        aml_int(&body, v[i]);
    acpi_put8(t, AML_NAME_OP);
    aml_namestring(t, seg);
    acpi_put8(t, AML_PACKAGE_OP);
    if (body.overflow)
        t->overflow = 1;
    aml_pkglen(t, body.len);
    acpi_put(t, tmp, body.len);
}

void aml_name_resources(struct acpi_tbl *t, const char *seg, const uint8_t *res, uint32_t len)
{
    uint8_t sz[8];
    struct acpi_tbl szt = {.p = sz, .cap = sizeof(sz)};
    aml_int(&szt, len + 2); /* + end tag */
    acpi_put8(t, AML_NAME_OP);
    aml_namestring(t, seg);
    acpi_put8(t, AML_BUFFER_OP);
    aml_pkglen(t, szt.len + len + 2);
    acpi_put(t, sz, szt.len);
    acpi_put(t, res, len);
    acpi_put8(t, 0x79); /* end tag */
    acpi_put8(t, 0x00); /* checksum 0: "treat as correct" */
}

void aml_res_io(struct acpi_tbl *r, uint16_t port, uint8_t len)
{
    acpi_put8(r, 0x47); /* small item: I/O port, 7 bytes */
    acpi_put8(r, 0x01); /* 16-bit decode */
    acpi_put16(r, port);
    acpi_put16(r, port);
    acpi_put8(r, 1); /* alignment */
    acpi_put8(r, len);
}

void aml_res_irq(struct acpi_tbl *r, uint8_t irq)
{
    acpi_put8(r, 0x22); /* small item: IRQ, 2 bytes (edge, active high) */
    acpi_put16(r, (uint16_t)(1u << irq));
}

void aml_res_mem32_fixed(struct acpi_tbl *r, uint32_t base, uint32_t len)
{
    acpi_put8(r, 0x86); /* large item: 32-bit fixed memory range */
    acpi_put16(r, 9);
    acpi_put8(r, 1); /* read/write */
    acpi_put32(r, base);
    acpi_put32(r, len);
}

void aml_res_interrupt_edge(struct acpi_tbl *r, uint32_t gsi)
{
    acpi_put8(r, 0x89); /* large item: extended interrupt */
    acpi_put16(r, 6);
    /* consumer, edge-triggered, active high, exclusive: irqfd without resample needs edge */
    acpi_put8(r, 0x01 | 0x02);
    acpi_put8(r, 1);
    acpi_put32(r, gsi);
}
