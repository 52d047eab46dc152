/* vmm/x86/bzimage.c - bzImage loader (see bzimage.h). */
#include "vmm/x86/bzimage.h"

#include <asm/bootparam.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

#define HDR_START       0x1f1
#define HDR_MIN_VERSION 0x020a
#define HDR_MAGIC       0x53726448u /* "HdrS" */

struct bz_hdr {
    uint8_t setup_sects, loadflags, relocatable, jump_len;
    uint16_t boot_flag, version, xloadflags;
    uint32_t magic, initrd_addr_max, kernel_alignment, cmdline_size, init_size;
    uint64_t pref_address;
};

static int fail(const char **why, const char *msg, int r)
{
    if (why)
        *why = msg;
    return r;
}

/* Read a little-endian field at an absolute file offset through a buf. */
static int rd(const uint8_t *img, size_t len, size_t off, void *out, size_t n)
{
    struct buf b;
    buf_init_reader(&b, img, len);
    if (buf_skip(&b, off))
        return BURROW_ERR_TRUNCATED;
    return buf_get_bytes(&b, out, n);
}

static int bz_parse(const uint8_t *img, size_t len, struct bz_hdr *h)
{
    int r;
    memset(h, 0, sizeof(*h));
    if ((r = rd(img, len, 0x1f1, &h->setup_sects, 1)) ||
        (r = rd(img, len, 0x1fe, &h->boot_flag, 2)) || (r = rd(img, len, 0x201, &h->jump_len, 1)) ||
        (r = rd(img, len, 0x202, &h->magic, 4)) || (r = rd(img, len, 0x206, &h->version, 2)) ||
        (r = rd(img, len, 0x211, &h->loadflags, 1)) ||
        (r = rd(img, len, 0x22c, &h->initrd_addr_max, 4)) ||
        (r = rd(img, len, 0x230, &h->kernel_alignment, 4)) ||
        (r = rd(img, len, 0x234, &h->relocatable, 1)) ||
        (r = rd(img, len, 0x236, &h->xloadflags, 2)) ||
        (r = rd(img, len, 0x238, &h->cmdline_size, 4)) ||
        (r = rd(img, len, 0x258, &h->pref_address, 8)) ||
        (r = rd(img, len, 0x260, &h->init_size, 4)))
        return r;
    if (h->setup_sects == 0)
        h->setup_sects = 4;
    return 0;
}

static int bz_check(const struct bz_hdr *h, size_t len, const char **why)
{
    if (h->boot_flag != 0xaa55 || h->magic != HDR_MAGIC)
        return fail(why, "not a bzImage (no 0xAA55/HdrS signature)", BURROW_ERR_FORMAT);
    if (h->version < HDR_MIN_VERSION)
        return fail(why, "boot protocol older than 2.10", BURROW_ERR_VERSION);
    if (!(h->loadflags & LOADED_HIGH))
        return fail(why, "not a bzImage (zImage loads low)", BURROW_ERR_UNSUPPORTED);
    if (!(h->xloadflags & XLF_KERNEL_64))
        return fail(why, "kernel has no 64-bit entry point (xloadflags)", BURROW_ERR_UNSUPPORTED);
    if (h->kernel_alignment == 0 || (h->kernel_alignment & (h->kernel_alignment - 1)) ||
        h->kernel_alignment > 1024u * 1024 * 1024)
        return fail(why, "bad kernel_alignment", BURROW_ERR_FORMAT);
    if (h->cmdline_size == 0)
        return fail(why, "cmdline_size is 0", BURROW_ERR_FORMAT);
    if ((size_t)(h->setup_sects + 1) * 512 >= len)
        return fail(why, "image truncated: no protected-mode kernel after the setup code",
                    BURROW_ERR_TRUNCATED);
    return 0;
}

int bzimage_load(struct gmem *mem, uint64_t ram_end, const uint8_t *img, size_t len,
                 struct boot_image *out, const char **why)
{
    struct bz_hdr h;
    if (bz_parse(img, len, &h))
        return fail(why, "image truncated: shorter than a setup header", BURROW_ERR_TRUNCATED);
    int r = bz_check(&h, len, why);
    if (r)
        return r;
    size_t setup_len = (size_t)(h.setup_sects + 1) * 512;
    size_t pm_len = len - setup_len;
    uint64_t load = BZIMAGE_LOAD_ADDR;
    if (!h.relocatable)
        load = h.pref_address;
    else if (load % h.kernel_alignment)
        load = (load + h.kernel_alignment - 1) & ~((uint64_t)h.kernel_alignment - 1);
    uint64_t need = h.init_size > pm_len ? h.init_size : pm_len;
    if (load < BOOT_HIMEM || load + need < load || load + need > ram_end)
        return fail(why, "kernel (init_size) does not fit in guest RAM", BURROW_ERR_TOO_LARGE);
    if (gmem_write(mem, load, img + setup_len, pm_len))
        return fail(why, "kernel does not fit in guest RAM", BURROW_ERR_TOO_LARGE);

    memset(out, 0, sizeof(*out));
    /* The header is 0x202 + jump_len bytes from 0x1f1 on; copy what we know. */
    size_t hdr_len = 0x202u + h.jump_len - HDR_START;
    if (hdr_len > sizeof(out->setup_header))
        hdr_len = sizeof(out->setup_header);
    if (HDR_START + hdr_len > len)
        return fail(why, "image truncated inside the setup header", BURROW_ERR_TRUNCATED);
    memcpy(out->setup_header, img + HDR_START, hdr_len);
    out->have_setup_header = 1;
    /* code32_start (0x214) must point at where we loaded the kernel. */
    uint32_t code32 = (uint32_t)load;
    memcpy(out->setup_header + (0x214 - HDR_START), &code32, 4);
    out->kind = BOOT_ENTRY_64;
    out->entry = load + 0x200; /* startup_64 */
    out->load_start = load;
    out->load_end = load + need;
    out->cmdline_size = h.cmdline_size;
    out->initrd_addr_max = h.initrd_addr_max ? h.initrd_addr_max : 0x37ffffff;
    return 0;
}
