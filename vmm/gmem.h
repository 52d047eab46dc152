/*
 * vmm/gmem.h - guest physical memory: the regions of a VM and the only way to
 * turn a guest physical address into a host pointer.
 *
 * Owns: the region table (gpa, size, host mapping). Mapping/unmapping the
 * memory itself (anonymous, file-backed, MAP_PRIVATE fork) belongs to the
 * VM code that creates it; gmem only records and checks.
 */
#ifndef BURROW_VMM_GMEM_H
#define BURROW_VMM_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 8

struct gmem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
};

struct gmem {
    struct gmem_region regions[GMEM_MAX_REGIONS];
    unsigned nr;
};

void gmem_init(struct gmem *m);
/* Record a region; refuses overlap, zero size, gpa+size overflow, a full table. */
__attribute__((warn_unused_result)) int gmem_add_region(struct gmem *m, uint64_t gpa, void *hva,
                                                        uint64_t size);
/*
 * Host pointer for [gpa, gpa+len) if that whole range lies inside one region,
 * else NULL (overflow-checked). len 0 is treated as 1 byte.
 */
void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len);
/* Copy to/from guest memory across region boundaries; 0 or BURROW_ERR_RANGE. */
__attribute__((warn_unused_result)) int gmem_read(const struct gmem *m, void *dst, uint64_t gpa,
                                                  uint64_t len);
__attribute__((warn_unused_result)) int gmem_write(const struct gmem *m, uint64_t gpa,
                                                   const void *src, uint64_t len);
/* Total bytes of guest RAM. */
uint64_t gmem_total(const struct gmem *m);

#endif /* BURROW_VMM_GMEM_H */
