/*
 * tests/fork/old_state.c - a template's `state` as a Burrow without
 * virtio-balloon wrote it, for the fork tier's check that such templates
 * still fork: the balloon's slot section and its entry in the VM section's
 * device table are dropped, every other section is copied byte for byte,
 * and the file is sealed again.
 *
 * usage: old_state IN OUT    (exit 0, or 1 with one line on stderr)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "vmm/fork.h"
#include "vmm/snapshot.h"
#include "vmm/virtio/balloon.h"

static int fail(const char *why)
{
    fprintf(stderr, "old_state: %s\n", why);
    return 1;
}

/* The VM section with the last slot (the balloon) left out of its device table. */
static int copy_vm_section(const struct snapshot *s, struct snap_writer *w, uint32_t nr_slots)
{
    struct buf in;
    uint32_t magic, vcpus, regions, slots, dev;
    uint64_t mem, v;
    if (snap_find(s, SNAP_SEC_VM, &in) || buf_get_u32_le(&in, &magic) ||
        buf_get_u64_le(&in, &mem) || buf_get_u32_le(&in, &vcpus) || buf_get_u32_le(&in, &regions) ||
        snap_section_begin(w, SNAP_SEC_VM) || buf_put_u32_le(w->out, magic) ||
        buf_put_u64_le(w->out, mem) || buf_put_u32_le(w->out, vcpus) ||
        buf_put_u32_le(w->out, regions))
        return -1;
    for (uint32_t i = 0; i < 2 * regions; i++)
        if (buf_get_u64_le(&in, &v) || buf_put_u64_le(w->out, v))
            return -1;
    if (buf_get_u32_le(&in, &slots) || slots != nr_slots + 1 || buf_put_u32_le(w->out, nr_slots))
        return -1;
    for (uint32_t i = 0; i < nr_slots; i++)
        if (buf_get_u32_le(&in, &dev) || buf_put_u32_le(w->out, dev))
            return -1;
    return snap_section_end(w);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return fail("usage: old_state IN OUT");
    uint8_t *data;
    size_t len;
    static struct snapshot s;
    struct snap_vm_info info;
    if (fork_read_file(argv[1], SNAP_FILE_MAX, &data, &len) || snap_parse(data, len, &s) ||
        snap_vm_info(&s, &info))
        return fail("cannot read the state file");
    if (info.nr_slots == 0 || info.slot_dev[info.nr_slots - 1] != VIRTIO_ID_BALLOON)
        return fail("the last virtio slot is not a balloon");
    uint32_t gone = SNAP_SEC_DEVICE0 + info.nr_slots - 1;
    struct snap_writer w;
    if (snap_writer_init(&w) || copy_vm_section(&s, &w, info.nr_slots - 1))
        return fail("cannot write the VM section");
    for (unsigned i = 0; i < s.nr; i++)
        if (s.sec[i].id != SNAP_SEC_VM && s.sec[i].id != gone &&
            snap_add(&w, s.sec[i].id, s.sec[i].data, s.sec[i].len))
            return fail("cannot copy a section");
    if (snap_finish(&w))
        return fail("cannot seal the file");
    FILE *out = fopen(argv[2], "wb");
    if (!out || fwrite(buf_data(w.out), 1, buf_used(w.out), out) != buf_used(w.out) || fclose(out))
        return fail("cannot write the output");
    snap_writer_free(&w);
    free(data);
    return 0;
}
