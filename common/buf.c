/*
 * common/buf.c - bounds-checked get/put accessors (see buf.h).
 * No libc allocation: usable freestanding with caller memory.
 */
#include "common/buf.h"

#include <string.h>

#include "common/err.h"

void buf_init_reader(struct buf *b, const void *data, size_t len)
{
    memset(b, 0, sizeof(*b));
    b->data = (uint8_t *)(uintptr_t)data; /* never written: BUF_F_READONLY */
    b->len = len;
    b->cap = len;
    b->max = len;
    b->flags = BUF_F_READONLY;
}

void buf_init_writer(struct buf *b, void *mem, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->data = mem;
    b->cap = cap;
    b->max = cap;
}

size_t buf_len(const struct buf *b)
{
    return b->len - b->off;
}

const uint8_t *buf_ptr(const struct buf *b)
{
    return b->data + b->off;
}

size_t buf_used(const struct buf *b)
{
    return b->len;
}

const uint8_t *buf_data(const struct buf *b)
{
    return b->data;
}

void buf_reset(struct buf *b)
{
    if ((b->flags & BUF_F_SECRET) && b->data)
        explicit_bzero(b->data, b->cap);
    if (!(b->flags & BUF_F_READONLY))
        b->len = 0;
    b->off = 0;
}

void buf_compact(struct buf *b)
{
    if (b->off == 0 || (b->flags & BUF_F_READONLY))
        return;
    size_t n = b->len - b->off;
    memmove(b->data, b->data + b->off, n);
    b->off = 0;
    b->len = n;
}

/* ---- reads ---- */

int buf_get_ptr(struct buf *b, const uint8_t **p, size_t n)
{
    if (n > buf_len(b))
        return BURROW_ERR_TRUNCATED;
    *p = b->data + b->off;
    b->off += n;
    return 0;
}

int buf_get_bytes(struct buf *b, void *out, size_t n)
{
    const uint8_t *p;
    int r = buf_get_ptr(b, &p, n);
    if (r == 0 && n)
        memcpy(out, p, n);
    return r;
}

int buf_skip(struct buf *b, size_t n)
{
    const uint8_t *p;
    return buf_get_ptr(b, &p, n);
}

static uint64_t load_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t load_be(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static int get_uint(struct buf *b, uint64_t *v, unsigned n, int big_endian)
{
    const uint8_t *p;
    int r = buf_get_ptr(b, &p, n);
    if (r)
        return r;
    *v = big_endian ? load_be(p, n) : load_le(p, n);
    return 0;
}

int buf_get_u8(struct buf *b, uint8_t *v)
{
    uint64_t x;
    int r = get_uint(b, &x, 1, 0);
    if (r == 0)
        *v = (uint8_t)x;
    return r;
}

#define DEFINE_GET(name, type, n, be)                                                              \
    int name(struct buf *b, type *v)                                                               \
    {                                                                                              \
        uint64_t x;                                                                                \
        int r = get_uint(b, &x, n, be);                                                            \
        if (r == 0)                                                                                \
            *v = (type)x;                                                                          \
        return r;                                                                                  \
    }

DEFINE_GET(buf_get_u16_le, uint16_t, 2, 0)
DEFINE_GET(buf_get_u32_le, uint32_t, 4, 0)
DEFINE_GET(buf_get_u64_le, uint64_t, 8, 0)
DEFINE_GET(buf_get_u16_be, uint16_t, 2, 1)
DEFINE_GET(buf_get_u32_be, uint32_t, 4, 1)
DEFINE_GET(buf_get_u64_be, uint64_t, 8, 1)

int buf_peek_u32_le(const struct buf *b, uint32_t *v)
{
    if (buf_len(b) < 4)
        return BURROW_ERR_TRUNCATED;
    *v = (uint32_t)load_le(buf_ptr(b), 4);
    return 0;
}

/* A u32-length-prefixed byte string (little or big endian length), at most max_len. */
static int get_counted(struct buf *b, const uint8_t **p, size_t *len, size_t max_len, int be)
{
    uint32_t n;
    size_t saved = b->off;
    int r = be ? buf_get_u32_be(b, &n) : buf_get_u32_le(b, &n);
    if (r)
        return r;
    if (n > max_len) {
        b->off = saved;
        return BURROW_ERR_TOO_LARGE;
    }
    r = buf_get_ptr(b, p, n);
    if (r) {
        b->off = saved;
        return r;
    }
    *len = n;
    return 0;
}

int buf_get_string_ptr(struct buf *b, const uint8_t **p, size_t *len, size_t max_len)
{
    return get_counted(b, p, len, max_len, 0);
}

int buf_get_ssh_string(struct buf *b, const uint8_t **p, size_t *len, size_t max_len)
{
    return get_counted(b, p, len, max_len, 1);
}

int buf_get_cstring(struct buf *b, char *out, size_t outsz, size_t *len_out)
{
    const uint8_t *p;
    size_t n;
    size_t saved = b->off;
    if (outsz == 0)
        return BURROW_ERR_INVALID;
    int r = buf_get_string_ptr(b, &p, &n, outsz - 1);
    if (r)
        return r;
    if (memchr(p, 0, n) != NULL) {
        b->off = saved;
        return BURROW_ERR_FORMAT;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    if (len_out)
        *len_out = n;
    return 0;
}

int buf_get_end(const struct buf *b)
{
    return buf_len(b) ? BURROW_ERR_TRAILING : 0;
}

/* ---- writes ---- */

int buf_reserve(struct buf *b, size_t n, uint8_t **p)
{
    if (b->flags & BUF_F_READONLY)
        return BURROW_ERR_INVALID;
    if (n > b->max - b->len)
        return BURROW_ERR_TOO_LARGE;
    if (n > b->cap - b->len) {
        if (!b->grow)
            return BURROW_ERR_TOO_LARGE;
        int r = b->grow(b, b->len + n);
        if (r)
            return r;
    }
    *p = b->data + b->len;
    b->len += n;
    return 0;
}

int buf_put_bytes(struct buf *b, const void *data, size_t n)
{
    uint8_t *p;
    int r = buf_reserve(b, n, &p);
    if (r == 0 && n)
        memcpy(p, data, n);
    return r;
}

static int put_uint(struct buf *b, uint64_t v, unsigned n, int big_endian)
{
    uint8_t *p;
    int r = buf_reserve(b, n, &p);
    if (r)
        return r;
    for (unsigned i = 0; i < n; i++) {
        unsigned shift = big_endian ? 8 * (n - 1 - i) : 8 * i;
        p[i] = (uint8_t)(v >> shift);
    }
    return 0;
}

int buf_put_u8(struct buf *b, uint8_t v)
{
    return put_uint(b, v, 1, 0);
}
int buf_put_u16_le(struct buf *b, uint16_t v)
{
    return put_uint(b, v, 2, 0);
}
int buf_put_u32_le(struct buf *b, uint32_t v)
{
    return put_uint(b, v, 4, 0);
}
int buf_put_u64_le(struct buf *b, uint64_t v)
{
    return put_uint(b, v, 8, 0);
}
int buf_put_u16_be(struct buf *b, uint16_t v)
{
    return put_uint(b, v, 2, 1);
}
int buf_put_u32_be(struct buf *b, uint32_t v)
{
    return put_uint(b, v, 4, 1);
}
int buf_put_u64_be(struct buf *b, uint64_t v)
{
    return put_uint(b, v, 8, 1);
}

int buf_put_string(struct buf *b, const void *data, size_t n)
{
    if (n > UINT32_MAX)
        return BURROW_ERR_TOO_LARGE;
    size_t saved = b->len;
    int r = buf_put_u32_le(b, (uint32_t)n);
    if (r == 0)
        r = buf_put_bytes(b, data, n);
    if (r)
        b->len = saved; /* all or nothing */
    return r;
}

int buf_put_cstring(struct buf *b, const char *s)
{
    return buf_put_string(b, s, strlen(s));
}

int buf_poke_u32_le(struct buf *b, size_t pos, uint32_t v)
{
    if ((b->flags & BUF_F_READONLY) || pos > b->len || b->len - pos < 4)
        return BURROW_ERR_RANGE;
    for (unsigned i = 0; i < 4; i++)
        b->data[pos + i] = (uint8_t)(v >> (8 * i));
    return 0;
}
