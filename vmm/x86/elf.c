/* vmm/x86/elf.c - ELF64 loader (see elf.h). */
#include "vmm/x86/elf.h"

#include <string.h>

#include "common/buf.h"
#include "common/err.h"

#define PT_LOAD                  1
#define PT_NOTE                  4
#define EM_X86_64                62
#define ET_EXEC                  2
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define ELF_MAX_PHDRS            64

struct elf_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

int elf_is_elf(const uint8_t *img, size_t len)
{
    return len >= 4 && memcmp(img, "\177ELF", 4) == 0;
}

static int fail(const char **why, const char *msg, int r)
{
    if (why)
        *why = msg;
    return r;
}

static int elf_read_phdr(const uint8_t *img, size_t len, uint64_t off, struct elf_phdr *p)
{
    struct buf b;
    if (off > len || len - off < 56)
        return BURROW_ERR_TRUNCATED;
    buf_init_reader(&b, img + off, 56);
    int r;
    if ((r = buf_get_u32_le(&b, &p->type)) || (r = buf_get_u32_le(&b, &p->flags)) ||
        (r = buf_get_u64_le(&b, &p->offset)) || (r = buf_get_u64_le(&b, &p->vaddr)) ||
        (r = buf_get_u64_le(&b, &p->paddr)) || (r = buf_get_u64_le(&b, &p->filesz)) ||
        (r = buf_get_u64_le(&b, &p->memsz)) || (r = buf_get_u64_le(&b, &p->align)))
        return r;
    return 0;
}

/* Look for Xen's PHYS32_ENTRY note in [off, off+size). */
static int elf_find_pvh(const uint8_t *img, size_t len, const struct elf_phdr *p, uint64_t *entry)
{
    if (p->offset > len || p->filesz > len - p->offset)
        return BURROW_ERR_TRUNCATED;
    struct buf b;
    buf_init_reader(&b, img + p->offset, p->filesz);
    while (buf_len(&b) >= 12) {
        uint32_t namesz, descsz, type;
        const uint8_t *name, *desc;
        if (buf_get_u32_le(&b, &namesz) || buf_get_u32_le(&b, &descsz) || buf_get_u32_le(&b, &type))
            return BURROW_ERR_TRUNCATED;
        uint64_t nlen = ((uint64_t)namesz + 3) & ~3ull, dlen = ((uint64_t)descsz + 3) & ~3ull;
        if (nlen > buf_len(&b) || buf_get_ptr(&b, &name, nlen) || dlen > buf_len(&b) ||
            buf_get_ptr(&b, &desc, dlen))
            return BURROW_ERR_TRUNCATED;
        if (namesz == 4 && memcmp(name, "Xen", 4) == 0 && type == XEN_ELFNOTE_PHYS32_ENTRY &&
            descsz >= 4) {
            uint32_t e;
            memcpy(&e, desc, 4);
            *entry = e;
            return 0;
        }
    }
    return BURROW_ERR_NOT_FOUND;
}

static int elf_check_ident(struct buf *b, const char **why)
{
    const uint8_t *id;
    if (buf_get_ptr(b, &id, 16))
        return fail(why, "truncated ELF header", BURROW_ERR_TRUNCATED);
    if (memcmp(id, "\177ELF", 4) != 0)
        return fail(why, "not an ELF file", BURROW_ERR_FORMAT);
    if (id[4] != 2 || id[5] != 1)
        return fail(why, "not a little-endian ELF64 file", BURROW_ERR_UNSUPPORTED);
    return 0;
}

int elf_load(struct gmem *mem, const uint8_t *img, size_t len, struct boot_image *out,
             const char **why)
{
    struct buf b;
    uint16_t type, machine, ehsize, phentsize, phnum;
    uint32_t version, flags;
    uint64_t entry, phoff, shoff;
    buf_init_reader(&b, img, len);
    int r = elf_check_ident(&b, why);
    if (r)
        return r;
    if (buf_get_u16_le(&b, &type) || buf_get_u16_le(&b, &machine) || buf_get_u32_le(&b, &version) ||
        buf_get_u64_le(&b, &entry) || buf_get_u64_le(&b, &phoff) || buf_get_u64_le(&b, &shoff) ||
        buf_get_u32_le(&b, &flags) || buf_get_u16_le(&b, &ehsize) ||
        buf_get_u16_le(&b, &phentsize) || buf_get_u16_le(&b, &phnum))
        return fail(why, "truncated ELF header", BURROW_ERR_TRUNCATED);
    if (type != ET_EXEC || machine != EM_X86_64)
        return fail(why, "not an x86-64 executable", BURROW_ERR_UNSUPPORTED);
    if (phentsize != 56 || phnum == 0 || phnum > ELF_MAX_PHDRS)
        return fail(why, "bad program header table", BURROW_ERR_FORMAT);
    if (phoff > len || (uint64_t)phnum * 56 > len - phoff)
        return fail(why, "program headers past the end of the file", BURROW_ERR_TRUNCATED);

    memset(out, 0, sizeof(*out));
    struct elf_phdr ph[ELF_MAX_PHDRS];
    uint64_t lo = UINT64_MAX, hi = 0, pvh = 0, entry_pa = 0;
    int have_pvh = 0, entry_ok = 0;
    /* Check everything before writing anything to guest memory. */
    for (unsigned i = 0; i < phnum; i++) {
        struct elf_phdr *p = &ph[i];
        if (elf_read_phdr(img, len, phoff + (uint64_t)i * 56, p))
            return fail(why, "truncated program header", BURROW_ERR_TRUNCATED);
        if (p->type == PT_NOTE && !have_pvh) {
            int nr = elf_find_pvh(img, len, p, &pvh);
            if (nr == 0)
                have_pvh = 1;
            else if (nr != BURROW_ERR_NOT_FOUND)
                return fail(why, "truncated or malformed note segment", BURROW_ERR_TRUNCATED);
        }
        if (p->type != PT_LOAD)
            continue;
        if (p->filesz > p->memsz || p->offset > len || p->filesz > len - p->offset)
            return fail(why, "segment data past the end of the file", BURROW_ERR_TRUNCATED);
        if (p->paddr < BOOT_HIMEM || p->paddr + p->memsz < p->paddr ||
            (p->memsz && !gmem_ptr(mem, p->paddr, p->memsz)))
            return fail(why, "segment outside guest RAM above 1 MiB", BURROW_ERR_RANGE);
        for (unsigned j = 0; j < i; j++)
            if (ph[j].type == PT_LOAD && p->paddr < ph[j].paddr + ph[j].memsz &&
                ph[j].paddr < p->paddr + p->memsz)
                return fail(why, "overlapping segments", BURROW_ERR_FORMAT);
        if (entry >= p->vaddr && entry - p->vaddr < p->memsz) {
            entry_pa = p->paddr + (entry - p->vaddr);
            entry_ok = 1;
        }
        lo = p->paddr < lo ? p->paddr : lo;
        hi = p->paddr + p->memsz > hi ? p->paddr + p->memsz : hi;
    }
    if (hi == 0)
        return fail(why, "no loadable segment", BURROW_ERR_FORMAT);
    if (have_pvh && (pvh < lo || pvh >= hi))
        return fail(why, "PVH entry outside the image", BURROW_ERR_RANGE);
    if (!have_pvh && !entry_ok)
        return fail(why, "entry point outside the loaded segments", BURROW_ERR_RANGE);
    for (unsigned i = 0; i < phnum; i++) {
        if (ph[i].type != PT_LOAD || ph[i].memsz == 0)
            continue;
        uint8_t *dst = gmem_ptr(mem, ph[i].paddr, ph[i].memsz);
        memcpy(dst, img + ph[i].offset, ph[i].filesz);
        memset(dst + ph[i].filesz, 0, ph[i].memsz - ph[i].filesz);
    }
    out->kind = have_pvh ? BOOT_ENTRY_PVH : BOOT_ENTRY_64;
    out->entry = have_pvh ? pvh : entry_pa;
    out->load_start = lo;
    out->load_end = hi;
    out->initrd_addr_max = 0xffffffffull;
    return 0;
}
