/*
 * vmm/bus.h - the trap bus: port I/O and MMIO exits routed to device handlers.
 *
 * Owns: two address spaces (PIO, MMIO), each a sorted table of non-overlapping
 * ranges with one handler signature. vCPU threads dispatch concurrently; the
 * table is guarded by a rwlock so devices may register while the VM runs.
 * Handlers get the offset inside their range, never the absolute address, and
 * are called only for accesses that lie entirely inside the range.
 * Handlers run under the table's read lock: a handler must not register
 * ranges itself (defer that to the event thread).
 */
#ifndef BURROW_VMM_BUS_H
#define BURROW_VMM_BUS_H

#include <pthread.h>
#include <stdint.h>

/* data holds len bytes (little endian); a read handler fills them. */
typedef void (*bus_io_fn)(void *ctx, uint64_t offset, uint8_t *data, uint32_t len, int is_write);

#define BUS_MAX_RANGES 64

enum bus_space { BUS_PIO = 0, BUS_MMIO = 1 };

struct bus_range {
    uint64_t base;
    uint64_t len;
    bus_io_fn fn;
    void *ctx;
};

struct bus_table {
    struct bus_range r[BUS_MAX_RANGES];
    unsigned nr;
};

struct bus {
    pthread_rwlock_t lock;
    struct bus_table space[2];
};

void bus_init(struct bus *bus);
void bus_fini(struct bus *bus);
/*
 * Register [base, base+len). Refuses len 0, base+len overflow, overlap with
 * an existing range and a full table (PIO ranges must also end <= 0x10000).
 */
__attribute__((warn_unused_result)) int bus_register_mmio(struct bus *bus, uint64_t base,
                                                          uint64_t len, bus_io_fn fn, void *ctx);
__attribute__((warn_unused_result)) int bus_register_pio(struct bus *bus, uint64_t base,
                                                         uint64_t len, bus_io_fn fn, void *ctx);
/*
 * Route one access. Returns 0 if a handler took it, BURROW_ERR_NOT_FOUND if
 * no range contains all of [addr, addr+len) (reads then see all ones).
 */
int bus_dispatch(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len,
                 int is_write);

#endif /* BURROW_VMM_BUS_H */
