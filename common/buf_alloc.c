/* common/buf_alloc.c - heap-backed, growable buffers (host and guest userland only). */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

static int buf_grow_heap(struct buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    if (cap < need)
        return BURROW_ERR_TOO_LARGE;
    uint8_t *p = malloc(cap);
    if (!p)
        return BURROW_ERR_NOMEM;
    if (b->len)
        memcpy(p, b->data, b->len);
    if (b->data) {
        if (b->flags & BUF_F_SECRET)
            explicit_bzero(b->data, b->cap);
        free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static struct buf *buf_alloc(size_t max, unsigned flags)
{
    if (max == 0 || max > BUF_SIZE_MAX)
        max = BUF_SIZE_MAX;
    struct buf *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->max = max;
    b->flags = flags;
    b->grow = buf_grow_heap;
    return b;
}

struct buf *buf_new(size_t max)
{
    return buf_alloc(max, 0);
}

struct buf *buf_new_secret(size_t max)
{
    return buf_alloc(max, BUF_F_SECRET);
}

void buf_free(struct buf *b)
{
    if (!b)
        return;
    if (b->data && (b->flags & BUF_F_SECRET))
        explicit_bzero(b->data, b->cap);
    free(b->data);
    explicit_bzero(b, sizeof(*b));
    free(b);
}
