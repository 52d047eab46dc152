/* vmm/gmem.c - guest physical address checks (see gmem.h). */
#include "vmm/gmem.h"

#include <string.h>

#include "common/err.h"

void gmem_init(struct gmem *m)
{
    memset(m, 0, sizeof(*m));
}

static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

int gmem_add_region(struct gmem *m, uint64_t gpa, void *hva, uint64_t size)
{
    if (size == 0 || !hva || gpa + size < gpa)
        return BURROW_ERR_INVALID;
    if (m->nr >= GMEM_MAX_REGIONS)
        return BURROW_ERR_TOO_LARGE;
    for (unsigned i = 0; i < m->nr; i++)
        if (ranges_overlap(gpa, size, m->regions[i].gpa, m->regions[i].size))
            return BURROW_ERR_EXISTS;
    m->regions[m->nr++] = (struct gmem_region){.gpa = gpa, .size = size, .hva = hva};
    return 0;
}

static const struct gmem_region *find_region(const struct gmem *m, uint64_t gpa)
{
    for (unsigned i = 0; i < m->nr; i++) {
        const struct gmem_region *r = &m->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size)
            return r;
    }
    return NULL;
}

void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
    const struct gmem_region *r = find_region(m, gpa);
    if (len == 0)
        len = 1;
    if (!r)
        return NULL;
    uint64_t off = gpa - r->gpa;
    if (len > r->size - off) /* off < size, so no underflow */
        return NULL;
    return r->hva + off;
}

/* mode: 0 check only, 1 guest->host, 2 host->guest. */
static int gmem_walk(const struct gmem *m, uint64_t gpa, uint8_t *h, uint64_t len, int mode)
{
    while (len) {
        const struct gmem_region *r = find_region(m, gpa);
        if (!r)
            return BURROW_ERR_RANGE;
        uint64_t off = gpa - r->gpa;
        uint64_t n = r->size - off < len ? r->size - off : len;
        if (mode == 2)
            memcpy(r->hva + off, h, n);
        else if (mode == 1)
            memcpy(h, r->hva + off, n);
        if (mode)
            h += n;
        gpa += n;
        len -= n;
    }
    return 0;
}

/* Checks the whole range first so a failed copy changes nothing. */
static int gmem_copy(const struct gmem *m, uint64_t gpa, void *host, uint64_t len, int to_guest)
{
    if (gpa + len < gpa)
        return BURROW_ERR_RANGE;
    int r = gmem_walk(m, gpa, NULL, len, 0);
    if (r)
        return r;
    return gmem_walk(m, gpa, host, len, to_guest ? 2 : 1);
}

int gmem_read(const struct gmem *m, void *dst, uint64_t gpa, uint64_t len)
{
    return gmem_copy(m, gpa, dst, len, 0);
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *src, uint64_t len)
{
    return gmem_copy(m, gpa, (void *)(uintptr_t)src, len, 1);
}

uint64_t gmem_total(const struct gmem *m)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < m->nr; i++)
        t += m->regions[i].size;
    return t;
}
