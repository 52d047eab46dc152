/*
 * common/buf.h - bounds-checked buffers: the one way Burrow parses and builds
 * anything that comes from or goes to the outside (agent frames, RPC,
 * snapshots, vsock headers, records).
 *
 * Owns: struct buf and its get/put accessors. Every accessor returns 0 or a
 * negative enum burrow_err and never reads or writes outside the buffer.
 *
 * A buf has a read offset (`off`) and an end of data (`len`); reads consume
 * [off, len), writes append at len. Three ways to make one:
 *   buf_init_reader()  a read-only view of caller memory (no allocation);
 *   buf_init_writer()  an empty buffer over caller memory of fixed capacity;
 *   buf_new()          heap-backed, grows up to a hard maximum (buf_alloc.c).
 * buf.c itself uses no libc allocation, so the freestanding test guest and
 * the agent codec can use it with caller-provided memory.
 *
 * Treat the fields as private: use the accessors.
 */
#ifndef BURROW_COMMON_BUF_H
#define BURROW_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_SIZE_MAX (64u * 1024 * 1024) /* no buffer ever exceeds this */

#define BUF_F_READONLY 0x1u /* view of caller memory: no writes */
#define BUF_F_SECRET   0x2u /* zero the memory on free/reset */

struct buf {
    uint8_t *data;
    size_t off; /* next byte to read */
    size_t len; /* end of valid data */
    size_t cap; /* bytes available at data */
    size_t max; /* hard maximum capacity */
    unsigned flags;
    /* grows data to at least `need` bytes; NULL for fixed buffers */
    int (*grow)(struct buf *b, size_t need);
};

#define BUF_MUST_CHECK __attribute__((warn_unused_result))

void buf_init_reader(struct buf *b, const void *data, size_t len);
void buf_init_writer(struct buf *b, void *mem, size_t cap);

/* Bytes not yet read, and a pointer to them. */
size_t buf_len(const struct buf *b);
const uint8_t *buf_ptr(const struct buf *b);
/* Everything written so far (from the start, ignoring the read offset). */
size_t buf_used(const struct buf *b);
const uint8_t *buf_data(const struct buf *b);
/* Forget all content (zeroing it for secret buffers). */
void buf_reset(struct buf *b);
/* Drop already-read bytes by moving the unread ones to the front. */
void buf_compact(struct buf *b);

BUF_MUST_CHECK int buf_get_u8(struct buf *b, uint8_t *v);
BUF_MUST_CHECK int buf_get_u16_le(struct buf *b, uint16_t *v);
BUF_MUST_CHECK int buf_get_u32_le(struct buf *b, uint32_t *v);
BUF_MUST_CHECK int buf_get_u64_le(struct buf *b, uint64_t *v);
BUF_MUST_CHECK int buf_get_u16_be(struct buf *b, uint16_t *v);
BUF_MUST_CHECK int buf_get_u32_be(struct buf *b, uint32_t *v);
BUF_MUST_CHECK int buf_get_u64_be(struct buf *b, uint64_t *v);
BUF_MUST_CHECK int buf_get_bytes(struct buf *b, void *out, size_t n);
/* Zero-copy: *p points into the buffer, valid until it is modified. */
BUF_MUST_CHECK int buf_get_ptr(struct buf *b, const uint8_t **p, size_t n);
BUF_MUST_CHECK int buf_skip(struct buf *b, size_t n);
/* Peek without consuming. */
BUF_MUST_CHECK int buf_peek_u32_le(const struct buf *b, uint32_t *v);
/*
 * A string: u32 LE length, then that many bytes (no terminator on the wire).
 * Refuses embedded NUL and lengths above max_len or outsz - 1; writes a
 * NUL-terminated copy to out and its length to *len_out (may be NULL).
 */
BUF_MUST_CHECK int buf_get_cstring(struct buf *b, char *out, size_t outsz, size_t *len_out);
/* Same framing, binary-safe, zero-copy, at most max_len bytes. */
BUF_MUST_CHECK int buf_get_string_ptr(struct buf *b, const uint8_t **p, size_t *len,
                                      size_t max_len);
/* BURROW_ERR_TRAILING if unread bytes remain. */
/* An SSH wire string (RFC 4251: u32 big-endian length, then the bytes), at most max_len. */
BUF_MUST_CHECK int buf_get_ssh_string(struct buf *b, const uint8_t **p, size_t *len,
                                      size_t max_len);
BUF_MUST_CHECK int buf_get_end(const struct buf *b);

BUF_MUST_CHECK int buf_put_u8(struct buf *b, uint8_t v);
BUF_MUST_CHECK int buf_put_u16_le(struct buf *b, uint16_t v);
BUF_MUST_CHECK int buf_put_u32_le(struct buf *b, uint32_t v);
BUF_MUST_CHECK int buf_put_u64_le(struct buf *b, uint64_t v);
BUF_MUST_CHECK int buf_put_u16_be(struct buf *b, uint16_t v);
BUF_MUST_CHECK int buf_put_u32_be(struct buf *b, uint32_t v);
BUF_MUST_CHECK int buf_put_u64_be(struct buf *b, uint64_t v);
BUF_MUST_CHECK int buf_put_bytes(struct buf *b, const void *data, size_t n);
BUF_MUST_CHECK int buf_put_cstring(struct buf *b, const char *s);
BUF_MUST_CHECK int buf_put_string(struct buf *b, const void *data, size_t n);
/* Reserve n writable bytes at the end; *p is where to write them. */
BUF_MUST_CHECK int buf_reserve(struct buf *b, size_t n, uint8_t **p);
/* Overwrite 4 bytes at absolute position pos (< buf_used), e.g. a length. */
BUF_MUST_CHECK int buf_poke_u32_le(struct buf *b, size_t pos, uint32_t v);

/* Heap-backed buffers (common/buf_alloc.c; not for freestanding code). */
struct buf *buf_new(size_t max);
struct buf *buf_new_secret(size_t max);
void buf_free(struct buf *b);

#endif /* BURROW_COMMON_BUF_H */
