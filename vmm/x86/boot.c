/* vmm/x86/boot.c - zero page, page tables, GDT and BSP registers (see boot.h). */
#include "vmm/x86/boot.h"

#include <asm/bootparam.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/err.h"

#define PTE_P  0x1ull
#define PTE_W  0x2ull
#define PTE_U  0x4ull /* user bit: the test guest runs its main work at CPL3 */
#define PTE_PS 0x80ull

#define X86_CR0_PE  0x1ull
#define X86_CR0_MP  0x2ull
#define X86_CR0_ET  0x10ull
#define X86_CR0_NE  0x20ull
#define X86_CR0_PG  0x80000000ull
#define X86_CR4_PAE 0x20ull
#define EFER_LME    0x100ull
#define EFER_LMA    0x400ull

/* Identity map of [0, 4 GiB) with 2 MiB pages. */
static int boot_write_page_tables(struct vm *vm)
{
    uint64_t *pml4 = gmem_ptr(&vm->mem, BOOT_PML4, 4096);
    uint64_t *pdpt = gmem_ptr(&vm->mem, BOOT_PDPT, 4096);
    uint64_t *pd = gmem_ptr(&vm->mem, BOOT_PD, 4 * 4096);
    if (!pml4 || !pdpt || !pd)
        return BURROW_ERR_RANGE;
    memset(pml4, 0, 4096);
    memset(pdpt, 0, 4096);
    pml4[0] = BOOT_PDPT | PTE_P | PTE_W | PTE_U;
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (BOOT_PD + i * 4096) | PTE_P | PTE_W | PTE_U;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | PTE_P | PTE_W | PTE_U | PTE_PS;
    return 0;
}

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
    return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
           ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
           (uint64_t)(limit & 0x0000ffffu);
}

static const uint64_t boot_gdt_flags[4] = {0, 0, 0xa09b /* code64 */, 0xc093 /* data */};

static int boot_write_gdt(struct vm *vm)
{
    uint64_t *gdt = gmem_ptr(&vm->mem, BOOT_GDT_ADDR, 4 * 8);
    if (!gdt)
        return BURROW_ERR_RANGE;
    for (unsigned i = 0; i < 4; i++)
        gdt[i] = boot_gdt_flags[i] ? gdt_entry((uint16_t)boot_gdt_flags[i], 0, 0xfffff) : 0;
    return 0;
}

int boot_place_initrd(struct vm *vm, const struct boot_image *img, const uint8_t *data,
                      uint64_t len, uint64_t *gpa_out)
{
    /* Highest page-aligned spot that ends in low RAM and below the limit. */
    uint64_t top = vm->low_size;
    if (img->initrd_addr_max && img->initrd_addr_max + 1 < top)
        top = img->initrd_addr_max + 1;
    if (len == 0 || len > top)
        return BURROW_ERR_TOO_LARGE;
    uint64_t gpa = (top - len) & ~0xfffull;
    if (gpa < img->load_end || gpa < BOOT_HIMEM)
        return BURROW_ERR_TOO_LARGE;
    int r = gmem_write(&vm->mem, gpa, data, len);
    if (r)
        return r;
    *gpa_out = gpa;
    return 0;
}

int boot_write_zero_page(struct vm *vm, const struct boot_image *img, const char *cmdline,
                         uint64_t initrd_gpa, uint64_t initrd_size, uint64_t rsdp_gpa)
{
    struct boot_params *bp = gmem_ptr(&vm->mem, BOOT_ZERO_PAGE, sizeof(*bp));
    if (!bp)
        return BURROW_ERR_RANGE;
    int r;
    if ((r = boot_write_page_tables(vm)) || (r = boot_write_gdt(vm)))
        return r;
    memset(bp, 0, sizeof(*bp));
    if (img->have_setup_header)
        memcpy(&bp->hdr, img->setup_header,
               sizeof(bp->hdr) < sizeof(img->setup_header) ? sizeof(bp->hdr)
                                                           : sizeof(img->setup_header));
    else
        bp->hdr.boot_flag = 0xaa55, bp->hdr.header = 0x53726448, bp->hdr.version = 0x020f;
    bp->hdr.type_of_loader = 0xff; /* "undefined" boot loader */
    bp->hdr.loadflags |= LOADED_HIGH | CAN_USE_HEAP;
    bp->hdr.heap_end_ptr = 0xfe00;
    bp->hdr.vid_mode = 0xffff;
    if (cmdline) {
        size_t n = strlen(cmdline);
        uint32_t lim = img->cmdline_size ? img->cmdline_size : BOOT_CMDLINE_MAX - 1;
        if (lim > BOOT_CMDLINE_MAX - 1)
            lim = BOOT_CMDLINE_MAX - 1;
        if (n > lim)
            return BURROW_ERR_TOO_LARGE;
        if ((r = gmem_write(&vm->mem, BOOT_CMDLINE_ADDR, cmdline, n + 1)))
            return r;
        bp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
        bp->ext_cmd_line_ptr = 0;
    }
    bp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
    bp->hdr.ramdisk_size = (uint32_t)initrd_size;
    bp->ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
    bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
    bp->acpi_rsdp_addr = rsdp_gpa;
    struct vm_e820 map[VM_E820_MAX];
    unsigned n = vm_e820(vm, map, VM_E820_MAX);
    for (unsigned i = 0; i < n; i++) {
        bp->e820_table[i].addr = map[i].addr;
        bp->e820_table[i].size = map[i].size;
        bp->e820_table[i].type = map[i].type;
    }
    bp->e820_entries = (uint8_t)n;
    return 0;
}

#define PVH_MAGIC   0x336ec578u
#define PVH_MODLIST (BOOT_PVH_INFO + 0x40)
#define PVH_MEMMAP  (BOOT_PVH_INFO + 0x80)

/* struct hvm_start_info (Xen's arch-x86/hvm/start_info.h), version 1. */
int boot_write_pvh_info(struct vm *vm, const char *cmdline, uint64_t initrd_gpa,
                        uint64_t initrd_size, uint64_t rsdp_gpa)
{
    uint8_t *p = gmem_ptr(&vm->mem, BOOT_PVH_INFO, 0x1000);
    if (!p)
        return BURROW_ERR_RANGE;
    memset(p, 0, 0x1000);
    struct vm_e820 map[VM_E820_MAX];
    uint32_t n = vm_e820(vm, map, VM_E820_MAX);
    uint32_t hdr[4] = {PVH_MAGIC, 1, 0, initrd_size ? 1u : 0u};
    uint64_t ptrs[4] = {initrd_size ? PVH_MODLIST : 0, cmdline ? BOOT_CMDLINE_ADDR : 0, rsdp_gpa,
                        PVH_MEMMAP};
    memcpy(p, hdr, sizeof(hdr));
    memcpy(p + 16, ptrs, sizeof(ptrs));
    memcpy(p + 48, &n, 4);
    uint64_t mod[4] = {initrd_gpa, initrd_size, 0, 0};
    memcpy(p + (PVH_MODLIST - BOOT_PVH_INFO), mod, sizeof(mod));
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = p + (PVH_MEMMAP - BOOT_PVH_INFO) + i * 24;
        memcpy(e, &map[i].addr, 8);
        memcpy(e + 8, &map[i].size, 8);
        memcpy(e + 16, &map[i].type, 4);
    }
    return 0;
}

static void seg_set(struct kvm_segment *s, uint16_t sel, uint16_t flags)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->base = 0;
    s->limit = 0xffffffff;
    s->type = flags & 0xf;
    s->s = (flags >> 4) & 1;
    s->dpl = (flags >> 5) & 3;
    s->present = (flags >> 7) & 1;
    s->avl = (flags >> 12) & 1;
    s->l = (flags >> 13) & 1;
    s->db = (flags >> 14) & 1;
    s->g = (flags >> 15) & 1;
}

/* Long mode with paging, flat segments from the GDT above. */
static void boot_sregs_64(struct kvm_sregs *s)
{
    seg_set(&s->cs, BOOT_CS, (uint16_t)boot_gdt_flags[2]);
    seg_set(&s->ds, BOOT_DS, (uint16_t)boot_gdt_flags[3]);
    s->es = s->fs = s->gs = s->ss = s->ds;
    s->gdt.base = BOOT_GDT_ADDR;
    s->gdt.limit = 4 * 8 - 1;
    s->cr3 = BOOT_PML4;
    s->cr4 = X86_CR4_PAE;
    s->cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
    s->efer = EFER_LME | EFER_LMA;
}

/* PVH: 32-bit protected mode, paging off, flat 4 GiB segments, EBX = start info. */
static void boot_sregs_pvh(struct kvm_sregs *s)
{
    seg_set(&s->cs, BOOT_CS, 0xc09b);
    seg_set(&s->ds, BOOT_DS, 0xc093);
    s->es = s->fs = s->gs = s->ss = s->ds;
    s->gdt.base = BOOT_GDT_ADDR;
    s->gdt.limit = 4 * 8 - 1;
    s->cr0 = X86_CR0_PE | X86_CR0_ET;
    s->cr4 = 0;
    s->efer = 0;
}

int boot_set_bsp_regs(struct vm *vm, const struct boot_image *img)
{
    int fd = vm->vcpus[0].fd;
    struct kvm_sregs sregs;
    if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
        return BURROW_ERR_SYSTEM;
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2;
    regs.rip = img->entry;
    if (img->kind == BOOT_ENTRY_PVH) {
        boot_sregs_pvh(&sregs);
        regs.rbx = BOOT_PVH_INFO; /* hvm_start_info, written by boot_write_pvh_info */
    } else {
        boot_sregs_64(&sregs);
        regs.rsi = BOOT_ZERO_PAGE;
    }
    if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(fd, KVM_SET_REGS, &regs) < 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}
