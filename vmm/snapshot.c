/* vmm/snapshot.c - the snapshot container (see snapshot.h). */
#include "vmm/snapshot.h"

#include <sodium.h>
#include <string.h>

#include "common/err.h"
#include "vmm/vm.h"

int snap_writer_init(struct snap_writer *w)
{
    memset(w, 0, sizeof(*w));
    w->out = buf_new(SNAP_FILE_MAX);
    if (!w->out)
        return BURROW_ERR_NOMEM;
    uint8_t hdr[SNAP_HDR_LEN] = {0};
    memcpy(hdr, SNAP_MAGIC, sizeof(SNAP_MAGIC));
    return buf_put_bytes(w->out, hdr, sizeof(hdr)); /* versions and count: snap_finish */
}

void snap_writer_free(struct snap_writer *w)
{
    buf_free(w->out);
    w->out = NULL;
}

int snap_section_begin(struct snap_writer *w, uint32_t id)
{
    if (w->open || w->nr >= SNAP_MAX_SECTIONS)
        return BURROW_ERR_INVALID;
    w->sec_start = buf_used(w->out);
    int r;
    if ((r = buf_put_u32_le(w->out, id)) || (r = buf_put_u32_le(w->out, 0)))
        return r;
    w->open = 1;
    return 0;
}

int snap_section_end(struct snap_writer *w)
{
    if (!w->open)
        return BURROW_ERR_INVALID;
    size_t len = buf_used(w->out) - w->sec_start - 8;
    if (len > SNAP_SECTION_MAX)
        return BURROW_ERR_TOO_LARGE;
    w->open = 0;
    w->nr++;
    return buf_poke_u32_le(w->out, w->sec_start + 4, (uint32_t)len);
}

int snap_add(struct snap_writer *w, uint32_t id, const void *data, size_t len)
{
    int r;
    if ((r = snap_section_begin(w, id)) || (r = buf_put_bytes(w->out, data, len)))
        return r;
    return snap_section_end(w);
}

int snap_finish(struct snap_writer *w)
{
    if (w->open)
        return BURROW_ERR_INVALID;
    uint8_t *p = (uint8_t *)buf_data(w->out);
    uint16_t major = SNAP_MAJOR, minor = SNAP_MINOR;
    uint32_t nr = w->nr;
    /* Header fields, little endian. */
    p[8] = (uint8_t)major;
    p[9] = (uint8_t)(major >> 8);
    p[10] = (uint8_t)minor;
    p[11] = (uint8_t)(minor >> 8);
    for (int i = 0; i < 4; i++)
        p[12 + i] = (uint8_t)(nr >> (8 * i));
    uint8_t hash[SNAP_HASH_LEN];
    crypto_generichash(hash, sizeof(hash), buf_data(w->out), buf_used(w->out), NULL, 0);
    return buf_put_bytes(w->out, hash, sizeof(hash));
}

int snap_parse(const uint8_t *data, size_t len, struct snapshot *s)
{
    memset(s, 0, sizeof(*s));
    if (len > SNAP_FILE_MAX)
        return BURROW_ERR_TOO_LARGE;
    if (len < SNAP_HDR_LEN + SNAP_HASH_LEN)
        return BURROW_ERR_TRUNCATED;
    if (memcmp(data, SNAP_MAGIC, sizeof(SNAP_MAGIC)) != 0)
        return BURROW_ERR_FORMAT;
    struct buf in;
    buf_init_reader(&in, data + 8, len - 8);
    uint16_t major, minor;
    uint32_t nr;
    int r;
    if ((r = buf_get_u16_le(&in, &major)) || (r = buf_get_u16_le(&in, &minor)) ||
        (r = buf_get_u32_le(&in, &nr)))
        return r;
    /* Version before checksum: a newer format may hash differently. */
    if (major != SNAP_MAJOR || minor > SNAP_MINOR)
        return BURROW_ERR_VERSION;
    size_t body = len - SNAP_HASH_LEN;
    uint8_t hash[SNAP_HASH_LEN];
    crypto_generichash(hash, sizeof(hash), data, body, NULL, 0);
    if (sodium_memcmp(hash, data + body, SNAP_HASH_LEN) != 0)
        return BURROW_ERR_CHECKSUM;
    if (nr > SNAP_MAX_SECTIONS)
        return BURROW_ERR_TOO_LARGE;
    buf_init_reader(&in, data + SNAP_HDR_LEN, body - SNAP_HDR_LEN);
    for (uint32_t i = 0; i < nr; i++) {
        struct snap_section *sec = &s->sec[i];
        if ((r = buf_get_u32_le(&in, &sec->id)) || (r = buf_get_u32_le(&in, &sec->len)))
            return r;
        if (sec->len > SNAP_SECTION_MAX)
            return BURROW_ERR_TOO_LARGE;
        if ((r = buf_get_ptr(&in, &sec->data, sec->len)))
            return r;
        for (uint32_t j = 0; j < i; j++)
            if (s->sec[j].id == sec->id)
                return BURROW_ERR_FORMAT;
    }
    if (buf_len(&in) != 0)
        return BURROW_ERR_TRAILING;
    s->nr = nr;
    s->major = major;
    s->minor = minor;
    return 0;
}

int snap_find(const struct snapshot *s, uint32_t id, struct buf *in)
{
    for (unsigned i = 0; i < s->nr; i++) {
        if (s->sec[i].id == id) {
            buf_init_reader(in, s->sec[i].data, s->sec[i].len);
            return 0;
        }
    }
    return BURROW_ERR_NOT_FOUND;
}

int snap_vm_info(const struct snapshot *s, struct snap_vm_info *info)
{
    memset(info, 0, sizeof(*info));
    struct buf in;
    uint32_t magic, nr_regions;
    int r;
    if ((r = snap_find(s, SNAP_SEC_VM, &in)) || (r = buf_get_u32_le(&in, &magic)) ||
        (r = buf_get_u64_le(&in, &info->mem_size)) || (r = buf_get_u32_le(&in, &info->nr_vcpus)) ||
        (r = buf_get_u32_le(&in, &nr_regions)))
        return r;
    if (magic != SNAP_VM_MAGIC)
        return BURROW_ERR_FORMAT;
    if (info->nr_vcpus < 1 || info->nr_vcpus > VM_MAX_VCPUS || nr_regions > GMEM_MAX_REGIONS ||
        info->mem_size < 32 * VM_MIB || info->mem_size > 1024 * VM_GIB ||
        info->mem_size % (2 * VM_MIB))
        return BURROW_ERR_RANGE;
    /* The layout must be the one vm_create makes for this size. */
    uint64_t low = info->mem_size < VM_MMIO_GAP_START ? info->mem_size : VM_MMIO_GAP_START;
    uint64_t want[2][2] = {{0, low}, {VM_MMIO_GAP_END, info->mem_size - low}};
    if (nr_regions != (info->mem_size > low ? 2u : 1u))
        return BURROW_ERR_FORMAT;
    for (uint32_t i = 0; i < nr_regions; i++) {
        uint64_t gpa, size;
        if ((r = buf_get_u64_le(&in, &gpa)) || (r = buf_get_u64_le(&in, &size)))
            return r;
        if (gpa != want[i][0] || size != want[i][1])
            return BURROW_ERR_FORMAT;
    }
    if ((r = buf_get_u32_le(&in, &info->nr_slots)))
        return r;
    if (info->nr_slots > VM_VIRTIO_MAX)
        return BURROW_ERR_RANGE;
    for (uint32_t i = 0; i < info->nr_slots; i++)
        if ((r = buf_get_u32_le(&in, &info->slot_dev[i])))
            return r;
    if (buf_get_end(&in))
        return BURROW_ERR_TRAILING;
    /* Every vCPU and slot must have its section. */
    for (uint32_t i = 0; i < info->nr_vcpus; i++)
        if ((r = snap_find(s, SNAP_SEC_VCPU0 + i, &in)))
            return r;
    for (uint32_t i = 0; i < info->nr_slots; i++)
        if ((r = snap_find(s, SNAP_SEC_DEVICE0 + i, &in)))
            return r;
    return 0;
}

const char *snap_strerror(int err)
{
    switch (err) {
    case BURROW_ERR_TOO_LARGE:
        return "state file or one of its sections is larger than allowed";
    case BURROW_ERR_TRUNCATED:
        return "state file is truncated";
    case BURROW_ERR_FORMAT:
        return "not a Burrow state file, or a malformed one";
    case BURROW_ERR_VERSION:
        return "state file has a format version this build cannot read";
    case BURROW_ERR_CHECKSUM:
        return "state file checksum mismatch (corrupt)";
    case BURROW_ERR_TRAILING:
        return "state file has bytes after its last section";
    case BURROW_ERR_NOT_FOUND:
        return "state file lacks a required section";
    default:
        return burrow_strerror(err);
    }
}
