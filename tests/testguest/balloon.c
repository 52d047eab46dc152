/*
 * tests/testguest/balloon.c - the agent mode's polled virtio-balloon driver
 * (on virtio.c's helpers) and the memory the density tests play with
 * (abi.h): inflate/deflate towards the host's target from the pages at
 * TG_BALLOON_BASE (each written first, as a page in use would be, so giving
 * it up must drop a private page), the stats queue (answered each time the
 * host hands the buffer back), and free page reporting of a range. Queues:
 * inflate 0, deflate 1, stats 2, reporting 3, 16 entries each; interrupts
 * only wake the idle loop.
 *
 * The fill range stands in for a page cache: `fill` makes it the guest's
 * "cached" memory, RECLAIM (and `report`) hands it to the host as free.
 * The statistics are made up from that bookkeeping: total 48 MiB, 16 of
 * them the guest's own, the rest free unless cached or in the balloon.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/testguest/abi.h"
#include "tests/testguest/agent.h"
#include "tests/testguest/virtio.h"

#define QN          16
#define F_STATS_VQ  (1u << 1)
#define F_OOM       (1u << 2)
#define F_REPORTING (1u << 5)
#define PFN_BATCH   256
#define REPORT_BUF  (1u << 20) /* bytes per reporting buffer */
#define MIB         (1ull << 20)
#define GUEST_TOTAL (48 * MIB)
#define GUEST_OWN   (16 * MIB)

enum { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_REPORT, NQ };
enum { S_MEMFREE = 4, S_MEMTOT = 5, S_AVAIL = 6, S_CACHES = 7 };

struct stat_entry {
    uint16_t tag;
    uint64_t val;
} __attribute__((packed));

static struct tg_vdev dev;
static struct tg_vq vq[NQ];
static int present;
static uint32_t held;
static uint32_t pfns[PFN_BATCH] __attribute__((aligned(64)));
static struct stat_entry stats[4] __attribute__((aligned(64)));
static uint64_t cached; /* bytes of the fill range in use as "cache" */
static uint64_t seen_irqs = ~0ull;

static uint64_t free_bytes(void)
{
    uint64_t used = GUEST_OWN + cached + (uint64_t)held * 4096;
    return used < GUEST_TOTAL ? GUEST_TOTAL - used : 0;
}

static void post_stats(void)
{
    stats[0] = (struct stat_entry){S_MEMFREE, free_bytes()};
    stats[1] = (struct stat_entry){S_MEMTOT, GUEST_TOTAL};
    stats[2] = (struct stat_entry){S_AVAIL, free_bytes() + cached};
    stats[3] = (struct stat_entry){S_CACHES, cached};
    struct tg_vbuf b = {stats, sizeof(stats), 0};
    tg_vq_add(&vq[Q_STATS], 0, &b, 1);
    tg_vq_kick(&dev, Q_STATS);
}

void tgb_init(unsigned vector)
{
    if (!tg_vdev_find(TG_VIRTIO_ID_BALLOON, &dev))
        return; /* a template built before the balloon, or `vm boot` */
    tg_vdev_route_irq(&dev, vector);
    tg_vdev_start(&dev, F_STATS_VQ | F_OOM | F_REPORTING);
    for (unsigned q = 0; q < NQ; q++)
        tg_vq_setup(&dev, q, &vq[q], QN);
    tg_vdev_ready(&dev);
    present = 1;
    post_stats(); /* the driver's first buffer: the device keeps it */
}

/* One PFN list on queue q, waited for. */
static void pfn_request(unsigned q, uint32_t first, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        pfns[i] = first + i;
    struct tg_vbuf b = {pfns, 4 * n, 0};
    tg_vq_add(&vq[q], 0, &b, 1);
    tg_vq_kick(&dev, q);
    uint32_t id, len;
    tg_vq_wait(&dev, &vq[q], &id, &len,
               q == Q_INFLATE ? "balloon inflate stuck" : "balloon deflate stuck");
}

/* Towards the target, a batch at a time; `actual` tells the host where we are. */
static void follow_target(void)
{
    uint32_t target = tg_vdev_cfg32(&dev, 0), was = held;
    if (target > TG_BALLOON_MAX)
        target = TG_BALLOON_MAX;
    uint32_t base = (uint32_t)(TG_BALLOON_BASE >> 12);
    while (held < target) {
        uint32_t k = target - held < PFN_BATCH ? target - held : PFN_BATCH;
        for (uint32_t i = 0; i < k; i++) /* pages in use until now */
            *(volatile uint64_t *)((uintptr_t)(base + held + i) << 12) = base + held + i;
        pfn_request(Q_INFLATE, base + held, k);
        held += k;
    }
    while (held > target) {
        uint32_t k = held - target < PFN_BATCH ? held - target : PFN_BATCH;
        pfn_request(Q_DEFLATE, base + held - k, k);
        held -= k;
    }
    if (held != was) {
        tg_vdev_cfg_write32(&dev, 4, held);
        tg_puts("testguest: balloon holds ");
        tg_putu(held);
        tg_puts(" pages\n");
    }
}

void tgb_poll(uint64_t irqs)
{
    if (!present || irqs == seen_irqs) /* config reads are exits: only after an interrupt */
        return;
    seen_irqs = irqs;
    uint32_t id, len;
    if (tg_vq_used(&vq[Q_STATS], &id, &len))
        post_stats(); /* the host wants fresh figures */
    follow_target();
}

/* Free page reporting of [gpa, gpa + len): chains of up to QN 1-MiB buffers. */
static uint64_t report(uint64_t gpa, uint64_t len)
{
    uint64_t done = 0;
    while (present && done < len) {
        struct tg_vbuf b[QN];
        unsigned n = 0;
        while (n < QN && done < len) {
            uint64_t k = len - done < REPORT_BUF ? len - done : REPORT_BUF;
            b[n++] = (struct tg_vbuf){(void *)(uintptr_t)(gpa + done), (uint32_t)k, 1};
            done += k;
        }
        tg_vq_add(&vq[Q_REPORT], 0, b, n);
        tg_vq_kick(&dev, Q_REPORT);
        uint32_t id, l;
        tg_vq_wait(&dev, &vq[Q_REPORT], &id, &l, "balloon report stuck");
    }
    return done;
}

static uint64_t fill_bytes(unsigned mib)
{
    return (uint64_t)(mib < TG_FILL_MAX_MIB ? mib : TG_FILL_MAX_MIB) * MIB;
}

void tgb_template_image(void)
{
    for (uint64_t off = 0; off < TG_TPL_BYTES; off += 8)
        *(volatile uint64_t *)(uintptr_t)(TG_FILL_BASE + off) =
            tg_fill_word(TG_TPL_SEED, TG_FILL_BASE + off);
}

void tgb_fill(uint64_t seed, unsigned mib)
{
    uint64_t len = fill_bytes(mib);
    for (uint64_t off = 0; off < len; off += 8)
        *(volatile uint64_t *)(uintptr_t)(TG_FILL_BASE + off) =
            tg_fill_word(seed, TG_FILL_BASE + off);
    if (len > cached)
        cached = len;
}

/* The template's bytes: its pattern over the first TG_TPL_BYTES, zero after. */
static uint64_t expected(uint64_t seed, uint64_t gpa)
{
    if (seed)
        return tg_fill_word(seed, gpa);
    return gpa - TG_FILL_BASE < TG_TPL_BYTES ? tg_fill_word(TG_TPL_SEED, gpa) : 0;
}

int tgb_check(uint64_t seed, unsigned mib, uint64_t *bad)
{
    uint64_t len = fill_bytes(mib);
    for (uint64_t off = 0; off < len; off += 8) {
        uint64_t gpa = TG_FILL_BASE + off;
        if (*(volatile uint64_t *)(uintptr_t)gpa != expected(seed, gpa)) {
            *bad = gpa;
            return 0;
        }
    }
    return 1;
}

uint64_t tgb_report_fill(unsigned mib)
{
    uint64_t len = fill_bytes(mib), done = report(TG_FILL_BASE, len);
    cached = cached > done ? cached - done : 0;
    return done;
}

void tgb_reclaim(uint64_t *free_before, uint64_t *free_after)
{
    *free_before = free_bytes() / 1024;
    uint64_t done = report(TG_FILL_BASE, cached);
    cached = cached > done ? cached - done : 0;
    *free_after = free_bytes() / 1024;
}

int tgb_present(void)
{
    return present;
}

uint32_t tgb_held(void)
{
    return held;
}
