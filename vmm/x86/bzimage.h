/*
 * vmm/x86/bzimage.h - the Linux bzImage loader (x86 boot protocol >= 2.10).
 *
 * Owns: checking a bzImage's setup header from untrusted bytes (magic,
 * version, loadflags, xloadflags 64-bit entry, relocatability, sizes) and
 * copying the protected-mode kernel to its load address. The caller writes
 * the zero page from out->setup_header.
 */
#ifndef BURROW_VMM_X86_BZIMAGE_H
#define BURROW_VMM_X86_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/gmem.h"
#include "vmm/x86/boot.h"

#define BZIMAGE_LOAD_ADDR 0x1000000ull /* 16 MiB, like most loaders */

/* ram_end: the end of the RAM range that starts at 1 MiB (below the MMIO gap). */
__attribute__((warn_unused_result)) int bzimage_load(struct gmem *mem, uint64_t ram_end,
                                                     const uint8_t *img, size_t len,
                                                     struct boot_image *out, const char **why);

#endif /* BURROW_VMM_X86_BZIMAGE_H */
