/*
 * vmm/hibernate_image.c - the hibernated image format (see hibernate.h):
 * header, layout, meta (state + index) checks, the whole-buffer check the
 * tests and the fuzzer use, and the hashing writer.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/fdio.h"
#include "vmm/hibernate.h"
#include "vmm/vm.h"

#define HIB_FIELD_ID    16u
#define HIB_FIELD_USER  72u
#define HIB_FIELD_BUILD 64u
#define HIB_RESERVED    16u
#define HIB_DISK_MAX    (16ull << 40) /* the largest home disk (broker/users/homedisk.h) */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

void hib_layout(struct hib_header *h)
{
    h->index_off = align_up(HIB_HDR_LEN + h->state_len, 8);
    h->pages_off = align_up(h->index_off + h->nr_pages * 8, HIB_PAGE);
    h->file_len = h->pages_off + h->nr_pages * HIB_PAGE + HIB_HASH_LEN;
}

/* ---- names ---- */

/* A user name as the user database allows it: [a-z0-9_][a-z0-9_.-]*. */
static int user_ok(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > HIB_USER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = u[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                 (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return 0;
    }
    return 1;
}

/* A NUL-terminated field with nothing but zeros after the terminator. */
static int get_name(struct buf *in, char *out, size_t outsz, size_t field)
{
    uint8_t raw[HIB_FIELD_USER];
    int r = buf_get_bytes(in, raw, field);
    if (r)
        return r;
    const uint8_t *nul = memchr(raw, 0, field);
    if (!nul || (size_t)(nul - raw) >= outsz)
        return BURROW_ERR_FORMAT;
    for (const uint8_t *p = nul; p < raw + field; p++)
        if (*p)
            return BURROW_ERR_FORMAT;
    memcpy(out, raw, (size_t)(nul - raw) + 1);
    return 0;
}

static int put_name(struct buf *out, const char *s, size_t field)
{
    uint8_t raw[HIB_FIELD_USER] = {0};
    size_t n = strlen(s);
    if (n >= field)
        return BURROW_ERR_TOO_LARGE;
    memcpy(raw, s, n);
    return buf_put_bytes(out, raw, field);
}

/* ---- header ---- */

int hib_header_encode(const struct hib_header *h, uint8_t out[HIB_HDR_LEN])
{
    struct buf b;
    static const uint8_t zero[HIB_RESERVED];
    uint8_t magic[8] = {0};
    memcpy(magic, HIB_MAGIC, sizeof(HIB_MAGIC));
    buf_init_writer(&b, out, HIB_HDR_LEN);
    int r;
    if ((r = buf_put_bytes(&b, magic, 8)) || (r = buf_put_u16_le(&b, HIB_MAJOR)) ||
        (r = buf_put_u16_le(&b, HIB_MINOR)) || (r = buf_put_u32_le(&b, HIB_HDR_LEN)) ||
        (r = buf_put_u64_le(&b, h->file_len)) || (r = buf_put_u64_le(&b, h->mem_size)) ||
        (r = buf_put_u64_le(&b, h->nr_pages)) || (r = buf_put_u64_le(&b, h->state_len)) ||
        (r = buf_put_u64_le(&b, h->index_off)) || (r = buf_put_u64_le(&b, h->pages_off)) ||
        (r = buf_put_u64_le(&b, h->created_ns)) || (r = buf_put_u64_le(&b, h->disk_bytes)) ||
        (r = buf_put_u32_le(&b, 0)) || (r = buf_put_u32_le(&b, HIB_PAGE)) ||
        (r = put_name(&b, h->vm_id, HIB_FIELD_ID)) || (r = put_name(&b, h->user, HIB_FIELD_USER)) ||
        (r = put_name(&b, h->build, HIB_FIELD_BUILD)) ||
        (r = buf_put_bytes(&b, zero, HIB_RESERVED)))
        return r;
    return buf_used(&b) == HIB_HDR_LEN ? 0 : BURROW_ERR_INVALID;
}

/* Sizes within what a template build can be (snap_vm_info's bounds). */
static int sizes_ok(const struct hib_header *h)
{
    if (h->mem_size < 32 * VM_MIB || h->mem_size > 1024 * VM_GIB || h->mem_size % (2 * VM_MIB))
        return BURROW_ERR_RANGE;
    if (h->nr_pages > h->mem_size / HIB_PAGE || h->disk_bytes > HIB_DISK_MAX || h->disk_bytes % 512)
        return BURROW_ERR_RANGE;
    if (h->state_len < SNAP_HDR_LEN + SNAP_HASH_LEN || h->state_len > SNAP_FILE_MAX)
        return BURROW_ERR_RANGE;
    return 0;
}

/* The layout must be exactly the one the sizes give, and fill the file. */
static int layout_ok(const struct hib_header *h, uint64_t file_size)
{
    struct hib_header want = *h;
    hib_layout(&want);
    if (h->index_off != want.index_off || h->pages_off != want.pages_off ||
        h->file_len != want.file_len)
        return BURROW_ERR_FORMAT;
    if (file_size < h->file_len)
        return BURROW_ERR_TRUNCATED;
    return file_size > h->file_len ? BURROW_ERR_TRAILING : 0;
}

static int get_fields(struct buf *in, struct hib_header *h, uint32_t *hdr_len, uint32_t *flags,
                      uint32_t *page)
{
    int r;
    if ((r = buf_get_u32_le(in, hdr_len)) || (r = buf_get_u64_le(in, &h->file_len)) ||
        (r = buf_get_u64_le(in, &h->mem_size)) || (r = buf_get_u64_le(in, &h->nr_pages)) ||
        (r = buf_get_u64_le(in, &h->state_len)) || (r = buf_get_u64_le(in, &h->index_off)) ||
        (r = buf_get_u64_le(in, &h->pages_off)) || (r = buf_get_u64_le(in, &h->created_ns)) ||
        (r = buf_get_u64_le(in, &h->disk_bytes)) || (r = buf_get_u32_le(in, flags)) ||
        (r = buf_get_u32_le(in, page)))
        return r;
    if ((r = get_name(in, h->vm_id, sizeof(h->vm_id), HIB_FIELD_ID)) ||
        (r = get_name(in, h->user, sizeof(h->user), HIB_FIELD_USER)) ||
        (r = get_name(in, h->build, sizeof(h->build), HIB_FIELD_BUILD)))
        return r;
    const uint8_t *rest;
    if ((r = buf_get_ptr(in, &rest, HIB_RESERVED)))
        return r;
    for (unsigned i = 0; i < HIB_RESERVED; i++)
        if (rest[i])
            return BURROW_ERR_FORMAT;
    return buf_get_end(in);
}

int hib_header_decode(const uint8_t *p, size_t len, uint64_t file_size, struct hib_header *h)
{
    memset(h, 0, sizeof(*h));
    if (len < HIB_HDR_LEN || file_size < HIB_HDR_LEN + HIB_HASH_LEN)
        return BURROW_ERR_TRUNCATED;
    if (memcmp(p, HIB_MAGIC, sizeof(HIB_MAGIC)) != 0)
        return BURROW_ERR_FORMAT;
    struct buf in;
    buf_init_reader(&in, p + 8, HIB_HDR_LEN - 8);
    int r;
    if ((r = buf_get_u16_le(&in, &h->major)) || (r = buf_get_u16_le(&in, &h->minor)))
        return r;
    /* Version before anything else: a newer format is reported as such. */
    if (h->major != HIB_MAJOR || h->minor > HIB_MINOR)
        return BURROW_ERR_VERSION;
    uint32_t hdr_len, flags, page;
    if ((r = get_fields(&in, h, &hdr_len, &flags, &page)))
        return r;
    if (hdr_len != HIB_HDR_LEN || flags != 0 || page != HIB_PAGE)
        return BURROW_ERR_FORMAT;
    if (!registry_id_ok(h->vm_id) || !user_ok(h->user) || !template_build_id_ok(h->build, NULL))
        return BURROW_ERR_FORMAT;
    if ((r = sizes_ok(h)))
        return r;
    return layout_ok(h, file_size);
}

/* ---- meta: state and index ---- */

static int zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

uint64_t hib_index_at(const uint8_t *index, uint64_t i)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < 8; k++)
        v |= (uint64_t)index[i * 8 + k] << (8 * k);
    return v;
}

static int index_ok(const struct hib_header *h, const uint8_t *index)
{
    uint64_t limit = h->mem_size / HIB_PAGE;
    for (uint64_t i = 0; i < h->nr_pages; i++) {
        uint64_t pfn = hib_index_at(index, i);
        if (pfn >= limit || (i > 0 && pfn <= hib_index_at(index, i - 1)))
            return BURROW_ERR_FORMAT;
    }
    return 0;
}

int hib_meta_decode(const struct hib_header *h, const uint8_t *meta, size_t len,
                    struct snapshot *snap, const uint8_t **index)
{
    if (len != h->pages_off - HIB_HDR_LEN)
        return BURROW_ERR_TRUNCATED;
    uint64_t idx = h->index_off - HIB_HDR_LEN, idx_end = idx + h->nr_pages * 8;
    if (!zeros(meta + h->state_len, idx - h->state_len) || !zeros(meta + idx_end, len - idx_end))
        return BURROW_ERR_FORMAT;
    int r = index_ok(h, meta + idx);
    if (r)
        return r;
    struct snap_vm_info info;
    if ((r = snap_parse(meta, h->state_len, snap)) || (r = snap_vm_info(snap, &info)))
        return r;
    if (info.mem_size != h->mem_size)
        return BURROW_ERR_FORMAT;
    *index = meta + idx;
    return 0;
}

int hib_image_check_buf(const uint8_t *p, size_t len, struct hib_header *h, struct snapshot *snap)
{
    int r = hib_header_decode(p, len, len, h);
    if (r)
        return r;
    uint8_t hash[HIB_HASH_LEN];
    crypto_generichash(hash, sizeof(hash), p, len - HIB_HASH_LEN, NULL, 0);
    if (sodium_memcmp(hash, p + len - HIB_HASH_LEN, HIB_HASH_LEN) != 0)
        return BURROW_ERR_CHECKSUM;
    const uint8_t *index;
    return hib_meta_decode(h, p + HIB_HDR_LEN, h->pages_off - HIB_HDR_LEN, snap, &index);
}

const char *hib_strerror(int err)
{
    switch (err) {
    case BURROW_ERR_TOO_LARGE:
        return "the image or its state is larger than allowed";
    case BURROW_ERR_TRUNCATED:
        return "the image is truncated";
    case BURROW_ERR_TRAILING:
        return "the image has bytes after its checksum";
    case BURROW_ERR_FORMAT:
        return "not a Burrow hibernated image, or a malformed one";
    case BURROW_ERR_VERSION:
        return "the image has a format version this build cannot read";
    case BURROW_ERR_CHECKSUM:
        return "checksum mismatch (corrupt)";
    case BURROW_ERR_RANGE:
        return "a size in the image is out of range";
    case BURROW_ERR_NOT_FOUND:
        return "the image's state lacks a required section";
    default:
        return burrow_strerror(err);
    }
}

/* ---- writing ---- */

static int emit(struct hib_writer *w, const void *p, size_t len)
{
    crypto_generichash_update(w->hash, p, len);
    int r = fd_write_all(w->fd, p, len);
    if (!r)
        w->off += len;
    return r;
}

/* Header, state, index and their padding: built in memory, one write. */
static int build_meta(const struct hib_header *h, const uint8_t *state, const uint64_t *pages,
                      uint8_t *out)
{
    int r = hib_header_encode(h, out);
    if (r)
        return r;
    memcpy(out + HIB_HDR_LEN, state, h->state_len);
    uint8_t *idx = out + h->index_off;
    for (uint64_t i = 0; i < h->nr_pages; i++)
        for (unsigned k = 0; k < 8; k++)
            idx[i * 8 + k] = (uint8_t)(pages[i] >> (8 * k));
    return 0;
}

int hib_writer_begin(struct hib_writer *w, int fd, const struct hib_header *h, const uint8_t *state,
                     const uint64_t *pages)
{
    memset(w, 0, sizeof(*w));
    w->fd = fd;
    /* libsodium declares the state 64-byte aligned; malloc promises 16. */
    w->hash = aligned_alloc(64, (sizeof(crypto_generichash_state) + 63) / 64 * 64);
    uint8_t *meta = calloc(1, h->pages_off);
    int r = BURROW_ERR_NOMEM;
    if (w->hash && meta) {
        crypto_generichash_init(w->hash, NULL, 0, HIB_HASH_LEN);
        if (!(r = build_meta(h, state, pages, meta)))
            r = emit(w, meta, h->pages_off);
    }
    free(meta);
    return r;
}

int hib_writer_pages(struct hib_writer *w, const uint8_t *p, size_t n)
{
    return emit(w, p, n * HIB_PAGE);
}

int hib_writer_end(struct hib_writer *w)
{
    uint8_t hash[HIB_HASH_LEN];
    crypto_generichash_final(w->hash, hash, sizeof(hash));
    int r = fd_write_all(w->fd, hash, sizeof(hash));
    if (!r)
        w->off += sizeof(hash);
    return r;
}

void hib_writer_free(struct hib_writer *w)
{
    free(w->hash);
    w->hash = NULL;
}
