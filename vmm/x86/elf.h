/*
 * vmm/x86/elf.h - the ELF64 kernel loader (test guest, vmlinux).
 *
 * Owns: parsing an ELF64 x86-64 executable from untrusted bytes and copying
 * its PT_LOAD segments to their physical addresses. Entry: the PVH entry
 * (Xen note PHYS32_ENTRY) if the image has one, else e_entry, which must lie
 * in a loaded segment and is entered in 64-bit mode.
 */
#ifndef BURROW_VMM_X86_ELF_H
#define BURROW_VMM_X86_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/x86/boot.h"

/* Nonzero if img starts with the ELF magic. */
int elf_is_elf(const uint8_t *img, size_t len);
/*
 * Check and load. Segments must lie in RAM at or above 1 MiB; overlapping,
 * truncated or absurd headers are rejected (BURROW_ERR_FORMAT/RANGE/...),
 * with a reason in why (may be NULL).
 */
__attribute__((warn_unused_result)) int elf_load(struct gmem *mem, const uint8_t *img, size_t len,
                                                 struct boot_image *out, const char **why);

#endif /* BURROW_VMM_X86_ELF_H */
