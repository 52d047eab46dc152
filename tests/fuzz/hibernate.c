/*
 * tests/fuzz/hibernate.c - libFuzzer harness for the hibernated image
 * parser (vmm/hibernate_image.c): the header against every file size, the
 * whole image (header, checksum, embedded state, index). An image written
 * by a VMM that ran a hostile guest is hostile input. Nothing may crash,
 * read out of bounds or leak; an image that parses must have a layout that
 * fills it exactly and an index that stays inside RAM, strictly increasing.
 * Seed: tests/fuzz/corpus/hibernate/ (a test-guest fork's image, 67 pages).
 * Mutations mostly break the checksum; the header and the meta are parsed
 * before it is known (as when resuming), so they are fuzzed either way.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/err.h"
#include "vmm/hibernate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_index(const struct hib_header *h, const uint8_t *index)
{
    for (uint64_t i = 0; i < h->nr_pages; i++)
        if (hib_index_at(index, i) >= h->mem_size / HIB_PAGE ||
            (i && hib_index_at(index, i) <= hib_index_at(index, i - 1)))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hib_header h;
    static struct snapshot s;
    const uint8_t *index;
    /* The header alone against other file sizes (the resume path reads it first). */
    if (hib_header_decode(data, size, size + 4096, &h) == 0 && h.file_len != size + 4096)
        abort();
    if (hib_header_decode(data, size, size, &h) != 0)
        return 0;
    if (h.file_len != size || h.pages_off + h.nr_pages * HIB_PAGE + HIB_HASH_LEN != size)
        abort();
    /* The meta without the checksum: what the resume path parses before the pages. */
    if (hib_meta_decode(&h, data + HIB_HDR_LEN, h.pages_off - HIB_HDR_LEN, &s, &index) == 0)
        check_index(&h, index);
    if (hib_image_check_buf(data, size, &h, &s) == 0 && s.nr == 0)
        abort();
    return 0;
}
