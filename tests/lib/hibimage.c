/* tests/lib/hibimage.c - hibernated images for unit tests (see hibimage.h). */
#include "tests/lib/hibimage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/hibernate.h"

const uint64_t tu_hib_page_nrs[TU_HIB_PAGES] = {1, 2, 100};

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "tu_hib_image: %s\n", what);
        abort();
    }
}

void tu_hib_page(uint8_t *p, uint64_t nr)
{
    for (unsigned i = 0; i < HIB_PAGE; i++)
        p[i] = (uint8_t)(nr * 31 + i);
}

/* A state with a VM section for mem, one vCPU, no devices. */
static struct snap_writer state_of(uint64_t mem)
{
    struct snap_writer w;
    must(snap_writer_init(&w) == 0, "writer");
    must(snap_section_begin(&w, SNAP_SEC_VM) == 0 && buf_put_u32_le(w.out, SNAP_VM_MAGIC) == 0 &&
             buf_put_u64_le(w.out, mem) == 0 && buf_put_u32_le(w.out, 1) == 0 &&
             buf_put_u32_le(w.out, 1) == 0 && buf_put_u64_le(w.out, 0) == 0 &&
             buf_put_u64_le(w.out, mem) == 0 && buf_put_u32_le(w.out, 0) == 0 &&
             snap_section_end(&w) == 0,
         "VM section");
    must(snap_add(&w, SNAP_SEC_VCPU0, "x", 1) == 0 && snap_finish(&w) == 0, "vCPU section");
    return w;
}

uint8_t *tu_hib_image(uint64_t state_mem, const char *user, size_t *len)
{
    struct snap_writer w = state_of(state_mem);
    struct hib_header h = {.mem_size = TU_HIB_MEM,
                           .nr_pages = TU_HIB_PAGES,
                           .state_len = buf_used(w.out),
                           .created_ns = 1234,
                           .disk_bytes = 16ull << 20};
    snprintf(h.vm_id, sizeof(h.vm_id), "0123456789ab");
    snprintf(h.user, sizeof(h.user), "%s", user);
    snprintf(h.build, sizeof(h.build), TU_HIB_BUILD);
    hib_layout(&h);
    FILE *f = tmpfile();
    must(f != NULL, "tmpfile");
    struct hib_writer wr;
    uint8_t page[HIB_PAGE];
    must(hib_writer_begin(&wr, fileno(f), &h, buf_data(w.out), tu_hib_page_nrs) == 0, "begin");
    for (unsigned i = 0; i < TU_HIB_PAGES; i++) {
        tu_hib_page(page, tu_hib_page_nrs[i]);
        must(hib_writer_pages(&wr, page, 1) == 0, "pages");
    }
    must(hib_writer_end(&wr) == 0 && wr.off == h.file_len, "end");
    hib_writer_free(&wr);
    snap_writer_free(&w);
    uint8_t *p = malloc(h.file_len);
    must(p && pread(fileno(f), p, h.file_len, 0) == (ssize_t)h.file_len, "read back");
    fclose(f);
    *len = h.file_len;
    return p;
}

void tu_hib_put(const char *user_dir, const uint8_t *img, size_t len)
{
    char path[1024];
    mkdir(user_dir, 0700);
    snprintf(path, sizeof(path), "%s/%s", user_dir, HIB_DIR);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%s/%s", user_dir, HIB_DIR, HIB_IMAGE);
    FILE *f = fopen(path, "w");
    must(f && fwrite(img, 1, len, f) == len && fclose(f) == 0, "write the image");
}
