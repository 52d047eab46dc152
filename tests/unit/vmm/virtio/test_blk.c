/* tests/unit/vmm/virtio/test_blk.c - virtio-blk against a real sparse temp file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/lib/testutil.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/blk.h"

#define IMG_SECTORS 2048u /* 1 MiB */

struct fx {
    struct sim s;
    struct virtio_mmio m;
    struct virtio_blk *blk;
    struct simq q;
    char *dir;
    char img[256];
};

static void make_image(struct fx *f, uint64_t bytes)
{
    snprintf(f->img, sizeof(f->img), "%s/disk.img", f->dir);
    int fd = open(f->img, O_CREAT | O_RDWR | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
    close(fd);
}

/* path NULL: empty slot. */
static int bring_up(struct fx *f, const char *path, bool ro)
{
    sim_init(&f->s);
    if (virtio_mmio_init(&f->m, &virtio_blk_ops, &f->s.mem, sim_irq, &f->s) ||
        virtio_blk_create(&f->m.transport, path, ro, "burrow-test-disk", &f->blk))
        return -1;
    virtio_mmio_attach_dev(&f->m, f->blk);
    simq_layout(&f->q, 0, 64);
    return mmio_bring_up(&f->m, &f->q, 1, 0) == 0xf ? 0 : -1;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("blk");
    make_image(f, IMG_SECTORS * 512ull);
    *state = f;
    return bring_up(f, f->img, false);
}

static int setup_empty(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("blk");
    make_image(f, IMG_SECTORS * 512ull);
    *state = f;
    return bring_up(f, NULL, false);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_blk_destroy(f->blk);
    virtio_mmio_destroy(&f->m);
    sim_free(&f->s);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/*
 * Submit one request: header, optional data buffer (writable for IN/GET_ID),
 * status byte. Returns the status; *used gets the used length.
 */
static uint8_t submit(struct fx *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
                      bool data_writable, uint32_t *used)
{
    uint64_t hdr = sim_alloc(&f->s, 16), st = sim_alloc(&f->s, 1);
    uint8_t *h = sim_hva(&f->s, hdr);
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
    *(uint8_t *)sim_hva(&f->s, st) = 0xee;
    uint16_t d0 = (uint16_t)((f->q.avail_idx * 3) % f->q.num);
    uint16_t d1 = (uint16_t)(d0 + 1), d2 = (uint16_t)(d0 + 2);
    if (len) {
        sim_desc(&f->s, f->q.desc, d0, hdr, 16, VRING_DESC_F_NEXT, d1);
        sim_desc(&f->s, f->q.desc, d1, data, len,
                 VRING_DESC_F_NEXT | (data_writable ? VRING_DESC_F_WRITE : 0), d2);
        sim_desc(&f->s, f->q.desc, d2, st, 1, VRING_DESC_F_WRITE, 0);
    } else {
        sim_desc(&f->s, f->q.desc, d0, hdr, 16, VRING_DESC_F_NEXT, d1);
        sim_desc(&f->s, f->q.desc, d1, st, 1, VRING_DESC_F_WRITE, 0);
    }
    sim_avail(&f->s, &f->q, d0);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    uint32_t id = UINT32_MAX, l = UINT32_MAX;
    assert_int_equal(sim_take_used(&f->s, &f->q, &id, &l), 1);
    assert_int_equal(id, d0);
    if (used)
        *used = l;
    return *(uint8_t *)sim_hva(&f->s, st);
}

static uint64_t config_u64(struct fx *f, uint32_t off)
{
    uint64_t v;
    virtio_mmio_io(&f->m, VIRTIO_MMIO_CONFIG + off, (uint8_t *)&v, 8, 0);
    return v;
}

static uint32_t config_u32(struct fx *f, uint32_t off)
{
    return (uint32_t)mmio_rd(&f->m, VIRTIO_MMIO_CONFIG + off);
}

static void test_config_and_features(void **state)
{
    struct fx *f = *state;
    assert_int_equal(config_u64(f, 0), IMG_SECTORS);
    uint64_t feats = mmio_features(&f->m);
    assert_true(feats & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    assert_true(feats & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
    assert_false(feats & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    assert_true(config_u32(f, 36) > 0); /* max_discard_sectors */
    assert_true(config_u32(f, 40) > 0); /* max_discard_seg */
    assert_int_equal(config_u32(f, 20), 512);
}

static void test_write_read_flush(void **state)
{
    struct fx *f = *state;
    uint64_t w = sim_alloc(&f->s, 4096), r = sim_alloc(&f->s, 4096);
    for (unsigned i = 0; i < 4096; i++)
        ((uint8_t *)sim_hva(&f->s, w))[i] = (uint8_t)(i * 7);
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 100, w, 4096, false, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1);
    assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 100, r, 4096, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 4097);
    assert_memory_equal(sim_hva(&f->s, r), sim_hva(&f->s, w), 4096);
    /* and it is really in the file, at sector 100 */
    int fd = open(f->img, O_RDONLY);
    uint8_t buf[4096];
    assert_int_equal(pread(fd, buf, sizeof(buf), 100 * 512), 4096);
    close(fd);
    assert_memory_equal(buf, sim_hva(&f->s, w), 4096);
}

static void test_out_of_range(void **state)
{
    struct fx *f = *state;
    uint64_t b = sim_alloc(&f->s, 1024);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, b, 1024, true, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, IMG_SECTORS, b, 512, false, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, UINT64_MAX / 512 + 5, b, 512, true, NULL),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, b, 100, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, IMG_SECTORS - 2, b, 1024, true, NULL),
                     VIRTIO_BLK_S_OK);
    assert_int_equal(submit(f, 77, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
    struct stat st;
    assert_int_equal(stat(f->img, &st), 0);
    assert_int_equal(st.st_size, IMG_SECTORS * 512); /* never grown */
}

static void test_get_id(void **state)
{
    struct fx *f = *state;
    uint64_t b = sim_alloc(&f->s, 64);
    uint32_t used;
    assert_int_equal(submit(f, VIRTIO_BLK_T_GET_ID, 0, b, 64, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 21);
    assert_memory_equal(sim_hva(&f->s, b), "burrow-test-disk\0\0\0\0", 20);
}

static void put_seg(struct fx *f, uint64_t g, uint64_t sector, uint32_t num, uint32_t flags)
{
    uint8_t *p = sim_hva(&f->s, g);
    memcpy(p, &sector, 8);
    memcpy(p + 8, &num, 4);
    memcpy(p + 12, &flags, 4);
}

static void test_discard_punches_hole(void **state)
{
    struct fx *f = *state;
    uint64_t w = sim_alloc(&f->s, 65536);
    memset(sim_hva(&f->s, w), 0xab, 65536);
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 0, w, 65536, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
    struct stat before, after;
    assert_int_equal(stat(f->img, &before), 0);
    uint64_t seg = sim_alloc(&f->s, 16);
    put_seg(f, seg, 0, 128, 0);
    assert_int_equal(submit(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(stat(f->img, &after), 0);
    assert_true(after.st_blocks < before.st_blocks);
    assert_int_equal(after.st_size, before.st_size);
    uint64_t r = sim_alloc(&f->s, 512);
    memset(sim_hva(&f->s, r), 0x11, 512);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, r, 512, true, NULL), VIRTIO_BLK_S_OK);
    static const uint8_t zero[512];
    assert_memory_equal(sim_hva(&f->s, r), zero, 512);
    /* beyond the disk, bad flags, too many segments */
    put_seg(f, seg, IMG_SECTORS - 1, 2, 0);
    assert_int_equal(submit(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    put_seg(f, seg, 0, 1, 0x80);
    assert_int_equal(submit(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_UNSUPP);
    uint64_t many = sim_alloc(&f->s, 16 * (BLK_MAX_DISCARD_SEG + 1));
    assert_int_equal(
        submit(f, VIRTIO_BLK_T_DISCARD, 0, many, 16 * (BLK_MAX_DISCARD_SEG + 1), false, NULL),
        VIRTIO_BLK_S_UNSUPP);
}

static void test_read_only(void **state)
{
    struct fx *f = *state;
    teardown(state);
    f = calloc(1, sizeof(*f));
    *state = f;
    f->dir = tu_mkdtemp("blk");
    make_image(f, IMG_SECTORS * 512ull);
    assert_int_equal(bring_up(f, f->img, true), 0);
    assert_true(mmio_features(&f->m) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    uint64_t b = sim_alloc(&f->s, 512), seg = sim_alloc(&f->s, 16);
    memset(sim_hva(&f->s, b), 0x5a, 512);
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 0, b, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    put_seg(f, seg, 0, 8, 0);
    assert_int_equal(submit(f, VIRTIO_BLK_T_DISCARD, 0, seg, 16, false, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, b, 512, true, NULL), VIRTIO_BLK_S_OK);
    static const uint8_t zero[512];
    assert_memory_equal(sim_hva(&f->s, b), zero, 512);
    /* read-only holders share: a second read-only open works, a writer does not */
    int fd;
    assert_int_equal(blk_image_open_locked(f->img, true, &fd), 0);
    close(fd);
    assert_int_equal(blk_image_open_locked(f->img, false, &fd), BURROW_ERR_BUSY);
}

static void test_ofd_lock_exclusive(void **state)
{
    struct fx *f = *state;
    int fd;
    assert_int_equal(blk_image_open_locked(f->img, false, &fd), BURROW_ERR_BUSY);
    assert_int_equal(blk_image_open_locked(f->img, true, &fd), BURROW_ERR_BUSY);
    struct virtio_blk *other;
    assert_int_equal(virtio_blk_create(&f->m.transport, f->img, false, NULL, &other),
                     BURROW_ERR_BUSY);
    virtio_blk_detach(f->blk); /* the lock goes with the medium */
    assert_int_equal(blk_image_open_locked(f->img, false, &fd), 0);
    /* and now the device cannot re-attach while we hold it */
    assert_int_equal(virtio_blk_attach(f->blk, f->img, false), BURROW_ERR_BUSY);
    close(fd);
    assert_int_equal(virtio_blk_attach(f->blk, f->img, false), 0);
    assert_int_equal(blk_image_open_locked("/nonexistent/x.img", false, &fd), BURROW_ERR_NOT_FOUND);
}

static void test_empty_slot_then_attach(void **state)
{
    struct fx *f = *state;
    assert_int_equal(config_u64(f, 0), 0);
    uint64_t feats = mmio_features(&f->m);
    assert_true(feats & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    assert_true(feats & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
    uint64_t b = sim_alloc(&f->s, 512);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, b, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(submit(f, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);

    uint32_t gen = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);
    unsigned irqs = f->s.irqs;
    mmio_wr(&f->m, VIRTIO_MMIO_INTERRUPT_ACK, 3);
    assert_int_equal(virtio_blk_attach(f->blk, f->img, false), 0);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
    assert_int_equal(f->s.irqs, irqs + 1);
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
    assert_int_equal(config_u64(f, 0), IMG_SECTORS);
    assert_int_equal(virtio_blk_capacity(f->blk), IMG_SECTORS);
    assert_int_equal(submit(f, VIRTIO_BLK_T_OUT, 5, b, 512, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(virtio_blk_attach(f->blk, f->img, false), BURROW_ERR_EXISTS);
}

static void test_malformed_requests(void **state)
{
    struct fx *f = *state;
    /* no status byte: only a readable header */
    uint64_t hdr = sim_alloc(&f->s, 16);
    sim_desc(&f->s, f->q.desc, 0, hdr, 16, 0, 0);
    sim_avail(&f->s, &f->q, 0);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(sim_used_idx(&f->s, &f->q), 0);
    /* a broken device ignores further kicks until reset */
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_int_equal(sim_used_idx(&f->s, &f->q), 0);
}

static void test_reset_mid_transfer(void **state)
{
    struct fx *f = *state;
    uint64_t b = sim_alloc(&f->s, 512);
    /* queue a request, reset before the kick, then kick: nothing happens */
    uint64_t hdr = sim_alloc(&f->s, 16), st = sim_alloc(&f->s, 1);
    sim_desc(&f->s, f->q.desc, 0, hdr, 16, VRING_DESC_F_NEXT, 1);
    sim_desc(&f->s, f->q.desc, 1, b, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
    sim_desc(&f->s, f->q.desc, 2, st, 1, VRING_DESC_F_WRITE, 0);
    sim_avail(&f->s, &f->q, 0);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    virtio_mmio_notify(&f->m, 0);
    assert_int_equal(sim_used_idx(&f->s, &f->q), 0);
    /* re-initialised on fresh rings, it serves requests again */
    simq_layout(&f->q, 1, 64);
    assert_int_equal(mmio_bring_up(&f->m, &f->q, 1, 0), 0xf);
    assert_int_equal(submit(f, VIRTIO_BLK_T_IN, 0, b, 512, true, NULL), VIRTIO_BLK_S_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_and_features),
        T(test_write_read_flush),
        T(test_out_of_range),
        T(test_get_id),
        T(test_discard_punches_hole),
        T(test_read_only),
        T(test_ofd_lock_exclusive),
        cmocka_unit_test_setup_teardown(test_empty_slot_then_attach, setup_empty, teardown),
        T(test_malformed_requests),
        T(test_reset_mid_transfer),
    };
    return cmocka_run_group_tests_name("vmm/virtio/blk", tests, NULL, NULL);
}
