/*
 * vmm/x86/boot.h - the low-memory layout and the 64-bit boot state.
 *
 * Owns: where the VMM puts its boot structures in guest RAM, the zero page
 * (struct boot_params: e820 map, command line, initrd, RSDP), the identity
 * page tables and GDT, and the BSP's registers for a 64-bit entry (Linux's
 * boot protocol "64-bit boot": long mode, paging on with an identity map of
 * the first 4 GiB, __BOOT_CS = 0x10, __BOOT_DS = 0x18, RSI = zero page).
 *
 * Low memory (all inside the first e820 RAM range or the reserved hole):
 *   0x00500  GDT (4 entries)
 *   0x01000  [0x1000, 0x7000) left free for the guest (test guest: AP trampoline)
 *   0x07000  zero page (struct boot_params)
 *   0x08000  PVH start info (hvm_start_info, memory map)
 *   0x09000  PML4, 0x0a000 PDPT, 0x0b000-0x0efff four page directories
 *   0x20000  kernel command line (BOOT_CMDLINE_MAX bytes)
 *   0xe0000  ACPI tables (RSDP first), in the e820-reserved hole
 */
#ifndef BURROW_VMM_X86_BOOT_H
#define BURROW_VMM_X86_BOOT_H

#include <stdint.h>

#include "vmm/vm.h"

#define BOOT_GDT_ADDR     0x500ull
#define BOOT_ZERO_PAGE    0x7000ull
#define BOOT_PVH_INFO     0x8000ull /* PVH hvm_start_info + memmap */
#define BOOT_PML4         0x9000ull
#define BOOT_PDPT         0xa000ull
#define BOOT_PD           0xb000ull
#define BOOT_CMDLINE_ADDR 0x20000ull
#define BOOT_CMDLINE_MAX  4096u
#define BOOT_ACPI_ADDR    0xe0000ull
#define BOOT_ACPI_MAX     0x20000ull
#define BOOT_HIMEM        0x100000ull /* kernels and ELF segments load at or above 1 MiB */

#define BOOT_CS 0x10
#define BOOT_DS 0x18

/* What a loader produced and how to enter it. */
enum boot_entry_kind { BOOT_ENTRY_64 = 1, BOOT_ENTRY_PVH = 2 };

struct boot_image {
    enum boot_entry_kind kind;
    uint64_t entry;
    uint64_t load_start, load_end; /* guest range the kernel occupies */
    /* Setup header to copy into the zero page (bzImage), else all zero. */
    uint8_t setup_header[0x26c - 0x1f1]; /* struct setup_header */
    int have_setup_header;
    uint32_t cmdline_size;    /* limit from the image; 0: BOOT_CMDLINE_MAX - 1 */
    uint64_t initrd_addr_max; /* highest byte an initrd may use */
};

/* Write page tables, GDT and the zero page; cmdline may be NULL. */
__attribute__((warn_unused_result)) int
boot_write_zero_page(struct vm *vm, const struct boot_image *img, const char *cmdline,
                     uint64_t initrd_gpa, uint64_t initrd_size, uint64_t rsdp_gpa);
/* Place an initrd in RAM below img->initrd_addr_max, above the kernel. */
__attribute__((warn_unused_result)) int boot_place_initrd(struct vm *vm,
                                                          const struct boot_image *img,
                                                          const uint8_t *data, uint64_t len,
                                                          uint64_t *gpa_out);
/* PVH: hvm_start_info (+ memory map) at BOOT_PVH_INFO. */
__attribute__((warn_unused_result)) int boot_write_pvh_info(struct vm *vm, const char *cmdline,
                                                            uint64_t initrd_gpa,
                                                            uint64_t initrd_size,
                                                            uint64_t rsdp_gpa);
/* Set the BSP's registers for img's entry (64-bit or PVH). */
__attribute__((warn_unused_result)) int boot_set_bsp_regs(struct vm *vm,
                                                          const struct boot_image *img);

#endif /* BURROW_VMM_X86_BOOT_H */
