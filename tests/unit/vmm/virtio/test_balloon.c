/*
 * tests/unit/vmm/virtio/test_balloon.c - virtio-balloon against simulated
 * guest RAM that is what a fork's RAM is: a MAP_PRIVATE mapping of a
 * "template" file (a memfd filled with a known pattern). Inflated and
 * reported pages must read the template's bytes again; ranges that are not
 * whole pages, page frames outside RAM and malformed chains are refused;
 * inflate/deflate accounting, stats parsing, deflate-on-OOM, the queue
 * numbering, reset, and save/restore with tampered state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "common/log.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/balloon.h"

#define PAGE       4096u
#define TEST_PAGES 0x400000ull /* guest pages the tests dirty and drop: [4 MiB, 5 MiB) */
#define NQ         4

struct fx {
    struct sim s;
    int memfd;
    struct virtio_mmio m;
    struct virtio_balloon *b;
    struct simq q[NQ];
    uint16_t next_desc[NQ];
};

/* What the "template" holds at each byte: differs from page to page. */
static uint8_t tpl_byte(uint64_t gpa)
{
    return (uint8_t)(0x5a ^ (gpa >> 12) ^ (gpa & 0xff));
}

static uint8_t *map_template(int *fd_out)
{
    int fd = memfd_create("balloon-template", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, SIM_SIZE))
        return NULL;
    uint8_t *shared = mmap(NULL, SIM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (shared == MAP_FAILED)
        return NULL;
    for (uint64_t off = 0; off < SIM_SIZE; off++)
        shared[off] = tpl_byte(SIM_BASE + off);
    munmap(shared, SIM_SIZE);
    uint8_t *priv = mmap(NULL, SIM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    *fd_out = fd;
    return priv == MAP_FAILED ? NULL : priv;
}

static int bring_up(struct fx *f, uint64_t drop, unsigned nq)
{
    for (unsigned i = 0; i < NQ; i++) {
        simq_layout(&f->q[i], i, 16);
        f->next_desc[i] = 0;
    }
    return mmio_bring_up(&f->m, f->q, nq, drop) == 0xf ? 0 : -1;
}

static int setup_dropping(void **state, uint64_t drop, unsigned nq)
{
    struct fx *f = calloc(1, sizeof(*f));
    uint8_t *ram = map_template(&f->memfd);
    if (!ram)
        return -1;
    sim_init_ram(&f->s, ram);
    memset(ram, 0, SIM_DATA - SIM_BASE); /* the rings: a driver hands the device zeroed ones */
    if (virtio_mmio_init(&f->m, &virtio_balloon_ops, &f->s.mem, sim_irq, &f->s) ||
        virtio_balloon_create(&f->m.transport, &f->s.mem, &f->b))
        return -1;
    virtio_mmio_attach_dev(&f->m, f->b);
    if (bring_up(f, drop, nq))
        return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_dropping(state, 0, NQ);
}

static int setup_no_stats(void **state)
{
    return setup_dropping(state, VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ), 3);
}

static int setup_no_oom(void **state)
{
    return setup_dropping(state, VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM), NQ);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    virtio_balloon_destroy(f->b);
    virtio_mmio_destroy(&f->m);
    munmap(f->s.ram, SIM_SIZE);
    close(f->memfd);
    free(f);
    return 0;
}

/* ---- the simulated driver ---- */

/* Put a chain of n buffers (gpa, len, writable) on queue qi and kick it. */
static uint16_t post(struct fx *f, unsigned qi, const uint64_t *gpa, const uint32_t *len,
                     unsigned n, bool writable)
{
    struct simq *q = &f->q[qi];
    uint16_t head = (uint16_t)(f->next_desc[qi] % q->num);
    for (unsigned i = 0; i < n; i++) {
        uint16_t d = (uint16_t)((head + i) % q->num);
        uint16_t flags =
            (uint16_t)((writable ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        sim_desc(&f->s, q->desc, d, gpa[i], len[i], flags, (uint16_t)((d + 1) % q->num));
    }
    f->next_desc[qi] = (uint16_t)(f->next_desc[qi] + n);
    sim_avail(&f->s, q, head);
    mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
    return head;
}

static void expect_used(struct fx *f, unsigned qi, uint16_t head)
{
    uint32_t id = UINT32_MAX, len = UINT32_MAX;
    assert_int_equal(sim_take_used(&f->s, &f->q[qi], &id, &len), 1);
    assert_int_equal(id, head);
    assert_int_equal(len, 0);
}

static void expect_no_used(struct fx *f, unsigned qi)
{
    uint32_t id, len;
    assert_int_equal(sim_take_used(&f->s, &f->q[qi], &id, &len), 0);
}

/* A PFN list (inflate or deflate) in one readable buffer. */
static uint16_t post_pfns(struct fx *f, unsigned qi, const uint32_t *pfns, unsigned n)
{
    uint64_t g = sim_alloc(&f->s, 4 * n);
    memcpy(sim_hva(&f->s, g), pfns, 4 * n);
    uint32_t len = 4 * n;
    return post(f, qi, &g, &len, 1, false);
}

static void dirty(struct fx *f, uint64_t gpa, uint64_t len)
{
    memset(sim_hva(&f->s, gpa), 0xee, len);
}

/* Every byte of [gpa, gpa+len) is the template's again. */
static bool is_template(struct fx *f, uint64_t gpa, uint64_t len)
{
    const uint8_t *p = sim_hva(&f->s, gpa);
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != tpl_byte(gpa + i))
            return false;
    return true;
}

static bool all_dirty(struct fx *f, uint64_t gpa, uint64_t len)
{
    const uint8_t *p = sim_hva(&f->s, gpa);
    for (uint64_t i = 0; i < len; i++)
        if (p[i] != 0xee)
            return false;
    return true;
}

static struct balloon_info info(struct fx *f)
{
    struct balloon_info i;
    virtio_balloon_info(f->b, &i);
    return i;
}

static bool needs_reset(struct fx *f)
{
    return mmio_rd(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static uint32_t cfg32(struct fx *f, uint32_t off)
{
    return mmio_rd(&f->m, VIRTIO_MMIO_CONFIG + off);
}

/* ---- tests ---- */

static void test_features_and_config(void **state)
{
    struct fx *f = *state;
    uint64_t feat = mmio_features(&f->m);
    assert_true(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ));
    assert_true(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    assert_true(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING));
    assert_false(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_MUST_TELL_HOST));
    assert_false(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_FREE_PAGE_HINT));
    assert_false(feat & VIRTIO_BIT(VIRTIO_BALLOON_F_PAGE_POISON));
    assert_int_equal(mmio_rd(&f->m, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
    assert_int_equal(cfg32(f, 0), 0);
    assert_int_equal(cfg32(f, 4), 0);

    uint32_t gen = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);
    unsigned irqs = f->s.irqs;
    assert_int_equal(virtio_balloon_set_target(f->b, 100), 0);
    assert_int_equal(cfg32(f, 0), 100);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION) != gen);
    assert_true(f->s.irqs > irqs);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    /* The same target again: nothing to tell the guest. */
    irqs = f->s.irqs;
    assert_int_equal(virtio_balloon_set_target(f->b, 100), 0);
    assert_int_equal(f->s.irqs, irqs);
    /* More than the guest has is refused and changes nothing. */
    assert_int_equal(virtio_balloon_set_target(f->b, SIM_SIZE / PAGE + 1), BURROW_ERR_RANGE);
    assert_int_equal(cfg32(f, 0), 100);
    assert_int_equal(info(f).ram_pages, SIM_SIZE / PAGE);

    /* The driver writes actual (whole or piecewise); num_pages is not its to write. */
    mmio_wr(&f->m, VIRTIO_MMIO_CONFIG + 4, 42);
    assert_int_equal(cfg32(f, 4), 42);
    uint16_t hi = 1;
    virtio_mmio_io(&f->m, VIRTIO_MMIO_CONFIG + 6, (uint8_t *)&hi, 2, 1);
    assert_int_equal(cfg32(f, 4), 0x1002a);
    mmio_wr(&f->m, VIRTIO_MMIO_CONFIG + 0, 7);
    assert_int_equal(cfg32(f, 0), 100);
    assert_int_equal(info(f).actual, 0x1002a);
}

static void test_inflate_drops_pages_deflate_accounts(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    dirty(f, TEST_PAGES, 8 * PAGE);
    /* Pages 0-5 (two of them twice), one frame beyond RAM, one in the MMIO-like hole below it. */
    uint32_t pfns[] = {base,     base + 1, base + 2,
                       base + 3, base + 4, base + 5,
                       base + 1, base + 3, (uint32_t)((SIM_BASE + SIM_SIZE) / PAGE) + 7,
                       3};
    uint16_t h = post_pfns(f, 0, pfns, 10);
    expect_used(f, 0, h);
    struct balloon_info i = info(f);
    assert_int_equal(i.held, 6);
    assert_int_equal(i.refused, 2);
    assert_true(is_template(f, TEST_PAGES, 6 * PAGE));
    assert_true(all_dirty(f, TEST_PAGES + 6 * PAGE, 2 * PAGE)); /* not named: kept */
    assert_false(needs_reset(f));

    /* Deflate: two held pages and one never inflated. */
    uint32_t back[] = {base, base + 5, base + 7};
    h = post_pfns(f, 1, back, 3);
    expect_used(f, 1, h);
    i = info(f);
    assert_int_equal(i.held, 4);
    assert_int_equal(i.refused, 2);
    /* Inflating a page that is already in the balloon does not count twice. */
    uint32_t again[] = {base + 2};
    h = post_pfns(f, 0, again, 1);
    expect_used(f, 0, h);
    assert_int_equal(info(f).held, 4);
}

static void test_reporting_drops_whole_pages_only(void **state)
{
    struct fx *f = *state;
    dirty(f, TEST_PAGES, 16 * PAGE);
    /* Linux reports free ranges as device-writable buffers. */
    uint64_t g[] = {TEST_PAGES, TEST_PAGES + 8 * PAGE};
    uint32_t len[] = {4 * PAGE, 2 * PAGE};
    uint16_t h = post(f, 3, g, len, 2, true);
    expect_used(f, 3, h);
    assert_true(is_template(f, TEST_PAGES, 4 * PAGE));
    assert_true(all_dirty(f, TEST_PAGES + 4 * PAGE, 4 * PAGE));
    assert_true(is_template(f, TEST_PAGES + 8 * PAGE, 2 * PAGE));
    struct balloon_info i = info(f);
    assert_int_equal(i.reports, 1);
    assert_int_equal(i.reported_bytes, 6 * PAGE);
    assert_int_equal(i.refused, 0);

    /* One misaligned range refuses the whole chain: nothing in it is dropped. */
    dirty(f, TEST_PAGES, 16 * PAGE);
    uint64_t g2[] = {TEST_PAGES, TEST_PAGES + 8 * PAGE + 512};
    uint32_t len2[] = {2 * PAGE, PAGE};
    h = post(f, 3, g2, len2, 2, true);
    expect_used(f, 3, h);
    assert_true(all_dirty(f, TEST_PAGES, 16 * PAGE));
    /* A length that is not whole pages, too. */
    uint64_t g3 = TEST_PAGES;
    uint32_t len3 = PAGE + 100;
    h = post(f, 3, &g3, &len3, 1, true);
    expect_used(f, 3, h);
    assert_true(all_dirty(f, TEST_PAGES, 16 * PAGE));
    i = info(f);
    assert_int_equal(i.reports, 1);
    assert_int_equal(i.reported_bytes, 6 * PAGE);
    assert_int_equal(i.refused, 2);
    assert_false(needs_reset(f));

    /* A range outside guest RAM is a broken ring: the device needs a reset. */
    uint64_t g4 = SIM_BASE + SIM_SIZE;
    uint32_t len4 = PAGE;
    post(f, 3, &g4, &len4, 1, true);
    expect_no_used(f, 3);
    assert_true(needs_reset(f));
}

/* One stats buffer: {tag, value} pairs, le16 + le64, packed. */
static uint16_t post_stats(struct fx *f, const uint16_t *tags, const uint64_t *vals, unsigned n)
{
    uint64_t g = sim_alloc(&f->s, BALLOON_STAT_SIZE * n);
    uint8_t *p = sim_hva(&f->s, g);
    for (unsigned i = 0; i < n; i++) {
        memcpy(p + BALLOON_STAT_SIZE * i, &tags[i], 2);
        memcpy(p + BALLOON_STAT_SIZE * i + 2, &vals[i], 8);
    }
    uint32_t len = BALLOON_STAT_SIZE * n;
    return post(f, 2, &g, &len, 1, false);
}

static void test_stats_held_and_requested(void **state)
{
    struct fx *f = *state;
    assert_int_equal(virtio_balloon_request_stats(f->b), BURROW_ERR_AGAIN); /* nothing held yet */
    uint16_t tags[] = {BALLOON_S_MEMFREE, BALLOON_S_MEMTOT, BALLOON_S_AVAIL, BALLOON_S_CACHES, 99};
    uint64_t vals[] = {40 << 20, 64 << 20, 50 << 20, 8 << 20, 12345};
    uint16_t h = post_stats(f, tags, vals, 5);
    expect_no_used(f, 2); /* the device keeps it until it wants fresh numbers */
    struct balloon_info i = info(f);
    assert_int_equal(i.stats_updates, 1);
    assert_int_equal(i.stats[BALLOON_S_MEMFREE], 40 << 20);
    assert_int_equal(i.stats[BALLOON_S_MEMTOT], 64 << 20);
    assert_int_equal(i.stats[BALLOON_S_AVAIL], 50 << 20);
    assert_int_equal(i.stats[BALLOON_S_CACHES], 8 << 20);
    assert_int_equal(i.stats_seen, (1u << BALLOON_S_MEMFREE) | (1u << BALLOON_S_MEMTOT) |
                                       (1u << BALLOON_S_AVAIL) | (1u << BALLOON_S_CACHES));

    unsigned irqs = f->s.irqs;
    assert_int_equal(virtio_balloon_request_stats(f->b), 0);
    expect_used(f, 2, h);
    assert_true(f->s.irqs > irqs);
    assert_int_equal(virtio_balloon_request_stats(f->b), BURROW_ERR_AGAIN); /* not answered */
    vals[0] = 30 << 20;
    post_stats(f, tags, vals, 1);
    i = info(f);
    assert_int_equal(i.stats_updates, 2);
    assert_int_equal(i.stats[BALLOON_S_MEMFREE], 30 << 20);
    assert_int_equal(i.stats[BALLOON_S_MEMTOT], 64 << 20); /* the last value of each tag stays */
    assert_int_equal(virtio_balloon_request_stats(f->b), 0);

    /* A stats buffer whose length is not whole entries breaks the device. */
    uint64_t g = sim_alloc(&f->s, 16);
    uint32_t len = 15;
    post(f, 2, &g, &len, 1, false);
    assert_true(needs_reset(f));
}

static void test_stats_writable_buffer_needs_reset(void **state)
{
    struct fx *f = *state;
    uint64_t g = sim_alloc(&f->s, BALLOON_STAT_SIZE);
    uint32_t len = BALLOON_STAT_SIZE;
    post(f, 2, &g, &len, 1, true);
    expect_no_used(f, 2);
    assert_true(needs_reset(f));
    assert_int_equal(info(f).stats_updates, 0);
}

static void test_pfn_chains_of_the_wrong_shape(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    dirty(f, TEST_PAGES, PAGE);
    /* 6 bytes: not whole page frame numbers. */
    uint64_t g = sim_alloc(&f->s, 8);
    memcpy(sim_hva(&f->s, g), &base, 4);
    uint32_t len = 6;
    post(f, 0, &g, &len, 1, false);
    expect_no_used(f, 0);
    assert_true(needs_reset(f));
    assert_int_equal(info(f).held, 0);
    assert_true(all_dirty(f, TEST_PAGES, PAGE)); /* nothing dropped */
}

static void test_pfn_chain_writable_or_huge(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    uint64_t g = sim_alloc(&f->s, 4);
    memcpy(sim_hva(&f->s, g), &base, 4);
    uint32_t len = 4;
    post(f, 1, &g, &len, 1, true); /* a deflate list the device could write: refused */
    assert_true(needs_reset(f));

    /* After a driver reset: a list longer than any driver sends. */
    assert_int_equal(bring_up(f, 0, NQ), 0);
    assert_false(needs_reset(f));
    uint32_t n = BALLOON_PFNS_MAX + 1;
    uint64_t big = sim_alloc(&f->s, 4 * n);
    for (uint32_t i = 0; i < n; i++)
        memcpy(sim_hva(&f->s, big + 4ull * i), &base, 4);
    len = 4 * n;
    post(f, 0, &big, &len, 1, false);
    assert_true(needs_reset(f));
    assert_int_equal(info(f).held, 0);
}

/* Without STATS_VQ the driver numbers reporting 2 (it skips absent queues). */
static void test_queue_numbering_without_stats(void **state)
{
    struct fx *f = *state;
    dirty(f, TEST_PAGES, 2 * PAGE);
    uint64_t g = TEST_PAGES;
    uint32_t len = 2 * PAGE;
    uint16_t h = post(f, 2, &g, &len, 1, true);
    expect_used(f, 2, h);
    assert_true(is_template(f, TEST_PAGES, 2 * PAGE));
    assert_int_equal(info(f).reported_bytes, 2 * PAGE);
    assert_int_equal(virtio_balloon_request_stats(f->b), BURROW_ERR_AGAIN);
}

static void inflate_n(struct fx *f, uint32_t first, uint32_t n)
{
    uint32_t pfns[64];
    for (uint32_t i = 0; i < n; i++)
        pfns[i] = first + i;
    expect_used(f, 0, post_pfns(f, 0, pfns, n));
}

static void deflate_n(struct fx *f, uint32_t first, uint32_t n)
{
    uint32_t pfns[64];
    for (uint32_t i = 0; i < n; i++)
        pfns[i] = first + i;
    expect_used(f, 1, post_pfns(f, 1, pfns, n));
}

static void test_deflate_on_oom_lowers_target(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    assert_int_equal(virtio_balloon_set_target(f->b, 8), 0);
    inflate_n(f, base, 8);
    /* Asked-for deflation (target below what it holds) leaves the target alone. */
    assert_int_equal(virtio_balloon_set_target(f->b, 6), 0);
    deflate_n(f, base, 2);
    assert_int_equal(info(f).target, 6);
    assert_int_equal(info(f).oom_deflates, 0);
    /* Unasked: the guest under pressure; the target follows it down, the guest is told. */
    uint32_t gen = mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);
    deflate_n(f, base + 2, 4);
    struct balloon_info i = info(f);
    assert_int_equal(i.held, 2);
    assert_int_equal(i.target, 2);
    assert_int_equal(cfg32(f, 0), 2);
    assert_int_equal(i.oom_deflates, 1);
    assert_true(mmio_rd(&f->m, VIRTIO_MMIO_CONFIG_GENERATION) != gen);
}

/* Guest compaction moves a balloon page: inflate its new frame, deflate the old one. */
static void test_compaction_move_is_not_pressure(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    assert_int_equal(virtio_balloon_set_target(f->b, 8), 0);
    inflate_n(f, base, 4); /* inflation under way */
    inflate_n(f, base + 4, 1);
    deflate_n(f, base, 1);
    struct balloon_info i = info(f);
    assert_int_equal(i.held, 4);
    assert_int_equal(i.target, 8);
    assert_int_equal(i.oom_deflates, 0);
    /* A deflate that follows no matching inflate is pressure again. */
    deflate_n(f, base + 1, 1);
    i = info(f);
    assert_int_equal(i.held, 3);
    assert_int_equal(i.target, 3);
    assert_int_equal(i.oom_deflates, 1);
}

static void test_unasked_deflate_without_oom_feature(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    assert_false(info(f).features & VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    assert_int_equal(virtio_balloon_set_target(f->b, 4), 0);
    inflate_n(f, base, 4);
    deflate_n(f, base, 4);
    struct balloon_info i = info(f);
    assert_int_equal(i.held, 0);
    assert_int_equal(i.target, 4); /* still wanted: the guest will be asked again */
    assert_int_equal(i.oom_deflates, 0);
}

static void test_reset_empties_the_balloon(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    assert_int_equal(virtio_balloon_set_target(f->b, 5), 0);
    inflate_n(f, base, 5);
    mmio_wr(&f->m, VIRTIO_MMIO_CONFIG + 4, 5);
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    struct balloon_info i = info(f);
    assert_false(i.active);
    assert_int_equal(i.held, 0);
    assert_int_equal(i.actual, 0);
    assert_int_equal(i.target, 5); /* the host's wish survives a driver reset */
}

/* The device's own state, through its ops (what virtio_mmio_save length-prefixes). */
static size_t dev_save(struct fx *f, uint8_t *out, size_t max)
{
    struct buf b;
    buf_init_writer(&b, out, max);
    assert_int_equal(virtio_balloon_ops.save(f->b, &b), 0);
    return buf_used(&b);
}

static int dev_restore(struct fx *f, const uint8_t *in, size_t len)
{
    struct buf b;
    buf_init_reader(&b, in, len);
    return virtio_balloon_ops.restore(f->b, &b);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void test_save_restore(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    assert_int_equal(virtio_balloon_set_target(f->b, 12), 0);
    inflate_n(f, base, 5);
    inflate_n(f, base + 10, 3);
    mmio_wr(&f->m, VIRTIO_MMIO_CONFIG + 4, 8);
    uint16_t tags[] = {BALLOON_S_MEMFREE};
    uint64_t vals[] = {123456};
    uint16_t h = post_stats(f, tags, vals, 1);

    /* Whole slot, as a template's state section: into a fresh device (a fork). */
    uint8_t mem[8192];
    struct buf out;
    buf_init_writer(&out, mem, sizeof(mem));
    assert_int_equal(virtio_mmio_save(&f->m, &out), 0);
    struct virtio_mmio m2;
    struct virtio_balloon *b2;
    assert_int_equal(virtio_mmio_init(&m2, &virtio_balloon_ops, &f->s.mem, sim_irq, &f->s), 0);
    assert_int_equal(virtio_balloon_create(&m2.transport, &f->s.mem, &b2), 0);
    virtio_mmio_attach_dev(&m2, b2);
    struct buf in;
    buf_init_reader(&in, buf_data(&out), buf_used(&out));
    assert_int_equal(virtio_mmio_restore(&m2, &in), 0);
    struct balloon_info i;
    virtio_balloon_info(b2, &i);
    assert_true(i.active);
    assert_int_equal(i.target, 12);
    assert_int_equal(i.actual, 8);
    assert_int_equal(i.held, 8);
    assert_int_equal(i.stats[BALLOON_S_MEMFREE], 123456);
    /* The stats buffer the template held goes back to the fork's driver when asked. */
    assert_int_equal(virtio_balloon_request_stats(b2), 0);
    expect_used(f, 2, h);
    /* The restored bitmap counts: deflating a restored page lowers held. */
    uint32_t one = base + 11;
    uint64_t g = sim_alloc(&f->s, 4);
    memcpy(sim_hva(&f->s, g), &one, 4);
    struct simq *dq = &f->q[1];
    uint16_t d = (uint16_t)(f->next_desc[1] % dq->num);
    sim_desc(&f->s, dq->desc, d, g, 4, 0, 0);
    sim_avail(&f->s, dq, d);
    virtio_mmio_notify(&m2, 1);
    virtio_balloon_info(b2, &i);
    assert_int_equal(i.held, 7);
    virtio_balloon_destroy(b2);
    virtio_mmio_destroy(&m2);
}

static void test_restore_refuses_tampered_state(void **state)
{
    struct fx *f = *state;
    uint32_t base = (uint32_t)(TEST_PAGES / PAGE);
    inflate_n(f, base, 4);
    uint8_t good[4096], bad[4096];
    size_t n = dev_save(f, good, sizeof(good));
    /* Layout: magic, version, target, actual, held u8, head u16, seen u32, stats, runs. */
    const size_t runs = 4 + 4 + 4 + 4 + 1 + 2 + 4 + 8 * BALLOON_S_NR;
    assert_int_equal(n, runs + 4 + 8); /* one run of 4 pages */
    assert_int_equal(dev_restore(f, good, n), 0);
    assert_int_equal(info(f).held, 4);

    struct {
        size_t off;
        uint32_t v;
    } cases[] = {
        {4, 2},                                       /* another version */
        {8, SIM_SIZE / PAGE + 1},                     /* a target beyond RAM */
        {runs + 4, (SIM_BASE + SIM_SIZE) / PAGE - 2}, /* a run past the end of RAM */
        {runs + 4, 5},                                /* a run below RAM (not a frame of ours) */
        {runs + 8, 0},                                /* an empty run */
        {runs, 2},                                    /* two runs announced, one there */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        memcpy(bad, good, n);
        put32(bad + cases[c].off, cases[c].v);
        assert_int_equal(dev_restore(f, bad, n), c == 5 ? BURROW_ERR_TRUNCATED : BURROW_ERR_FORMAT);
        assert_int_equal(info(f).held, 0); /* a refused state leaves an empty balloon */
    }
    /* Overlapping runs would count pages twice. */
    memcpy(bad, good, n);
    put32(bad + runs, 2);
    put32(bad + n, base + 2);
    put32(bad + n + 4, 4);
    assert_int_equal(dev_restore(f, bad, n + 8), BURROW_ERR_FORMAT);
    /* Trailing bytes. */
    memcpy(bad, good, n);
    bad[n] = 0;
    assert_int_equal(dev_restore(f, bad, n + 1), BURROW_ERR_TRAILING);
    /* A held stats buffer whose head is outside the stats ring. */
    memcpy(bad, good, n);
    bad[16] = 1;
    uint16_t head = 16;
    memcpy(bad + 17, &head, 2);
    assert_int_equal(dev_restore(f, bad, n), BURROW_ERR_FORMAT);
    head = 3;
    memcpy(bad + 17, &head, 2);
    assert_int_equal(dev_restore(f, bad, n), 0);
}

/* A device never activated cannot hold a stats buffer (a state that says so is forged). */
static void test_restore_stats_head_needs_active_device(void **state)
{
    struct fx *f = *state;
    uint8_t good[4096];
    size_t n = dev_save(f, good, sizeof(good));
    mmio_wr(&f->m, VIRTIO_MMIO_STATUS, 0);
    good[16] = 1;
    assert_int_equal(dev_restore(f, good, n), BURROW_ERR_FORMAT);
    good[16] = 0;
    assert_int_equal(dev_restore(f, good, n), 0);
}

int main(void)
{
    log_init("test_balloon", LOG_LVL_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflate_drops_pages_deflate_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reporting_drops_whole_pages_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_held_and_requested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_writable_buffer_needs_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pfn_chains_of_the_wrong_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pfn_chain_writable_or_huge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_numbering_without_stats, setup_no_stats,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deflate_on_oom_lowers_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_move_is_not_pressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unasked_deflate_without_oom_feature, setup_no_oom,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reset_empties_the_balloon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_refuses_tampered_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_stats_head_needs_active_device, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("vmm/virtio/balloon", tests, NULL, NULL);
}
