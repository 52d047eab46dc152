/* vmm/bus.c - the trap bus (see bus.h). */
#include "vmm/bus.h"

#include <string.h>

#include "common/err.h"

void bus_init(struct bus *bus)
{
    memset(bus, 0, sizeof(*bus));
    pthread_rwlock_init(&bus->lock, NULL);
}

void bus_fini(struct bus *bus)
{
    pthread_rwlock_destroy(&bus->lock);
}

static int bus_register(struct bus *bus, enum bus_space space, uint64_t base, uint64_t len,
                        bus_io_fn fn, void *ctx)
{
    if (len == 0 || !fn || base + len < base)
        return BURROW_ERR_INVALID;
    if (space == BUS_PIO && base + len > 0x10000)
        return BURROW_ERR_RANGE;
    int r = 0;
    pthread_rwlock_wrlock(&bus->lock);
    struct bus_table *t = &bus->space[space];
    unsigned pos = 0;
    while (pos < t->nr && t->r[pos].base < base)
        pos++;
    /* Sorted and disjoint: only the neighbours can overlap. */
    if (pos > 0 && t->r[pos - 1].base + t->r[pos - 1].len > base)
        r = BURROW_ERR_EXISTS;
    else if (pos < t->nr && t->r[pos].base < base + len)
        r = BURROW_ERR_EXISTS;
    else if (t->nr >= BUS_MAX_RANGES)
        r = BURROW_ERR_TOO_LARGE;
    if (r == 0) {
        memmove(&t->r[pos + 1], &t->r[pos], (t->nr - pos) * sizeof(t->r[0]));
        t->r[pos] = (struct bus_range){.base = base, .len = len, .fn = fn, .ctx = ctx};
        t->nr++;
    }
    pthread_rwlock_unlock(&bus->lock);
    return r;
}

int bus_register_mmio(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn, void *ctx)
{
    return bus_register(bus, BUS_MMIO, base, len, fn, ctx);
}

int bus_register_pio(struct bus *bus, uint64_t base, uint64_t len, bus_io_fn fn, void *ctx)
{
    return bus_register(bus, BUS_PIO, base, len, fn, ctx);
}

static const struct bus_range *bus_find(const struct bus_table *t, uint64_t addr)
{
    unsigned lo = 0, hi = t->nr;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const struct bus_range *r = &t->r[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

int bus_dispatch(struct bus *bus, enum bus_space space, uint64_t addr, uint8_t *data, uint32_t len,
                 int is_write)
{
    if (len == 0 || addr + len < addr)
        return BURROW_ERR_INVALID;
    pthread_rwlock_rdlock(&bus->lock);
    const struct bus_range *r = bus_find(&bus->space[space], addr);
    /* The whole access must fit: a straddling access is nobody's. */
    if (!r || len > r->len - (addr - r->base)) {
        pthread_rwlock_unlock(&bus->lock);
        if (!is_write)
            memset(data, 0xff, len);
        return BURROW_ERR_NOT_FOUND;
    }
    bus_io_fn fn = r->fn;
    void *ctx = r->ctx;
    uint64_t off = addr - r->base;
    /* Handlers run under the read lock: ranges are never removed, so the
     * lock only keeps the table stable while we look. */
    fn(ctx, off, data, len, is_write);
    pthread_rwlock_unlock(&bus->lock);
    return 0;
}
