/*
 * vmm/virtio/balloon.h - virtio-balloon (device ID 5): memory the guest
 * gives back to the host.
 *
 * Owns: the inflate, deflate, stats and reporting queues, the config space
 * (num_pages: the host's target; actual: what the driver says it holds),
 * the device's own count of ballooned pages (a bitmap over guest-physical
 * page frames, allocated at the first inflate), the guest's last memory
 * statistics and the counters `burrowctl vm list` shows.
 *
 * What each queue does with guest memory:
 *   inflate    the driver gives pages up: each 4 KiB page frame named in the
 *              buffer gets madvise(MADV_DONTNEED) on the host mapping. For a
 *              fork (a MAP_PRIVATE mapping of the template's memory file) its
 *              private copy is dropped and the page reads the template's
 *              contents again; for anonymous memory it is freed (zero).
 *   deflate    the driver takes pages back: only the accounting changes.
 *   stats      the driver's statistics (tag/value pairs); the device keeps
 *              the buffer and hands it back when the host wants fresh ones.
 *   reporting  free page reporting: each buffer is a free range of guest
 *              RAM, dropped like an inflated page and returned at once; the
 *              guest reuses it whenever it likes.
 *
 * Every guest value is checked: a page frame outside guest RAM is skipped
 * (counted as refused), a reporting range that is not page-aligned refuses
 * its whole chain, and a chain of the wrong shape (writable inflate/deflate/
 * stats buffers, a PFN list or stats buffer of a length no driver sends)
 * puts the device in NEEDS_RESET. The host mapping stays mapped whatever the
 * guest says, so a hostile guest only loses its own memory's contents.
 *
 * Queue numbering: the driver numbers only the queues it uses (Linux's
 * virtio-mmio find_vqs skips absent ones), so with FREE_PAGE_HINT never
 * offered, reporting is queue 3 when STATS_VQ is negotiated and 2 when not.
 * The roles are fixed at DRIVER_OK from the negotiated features.
 *
 * Deflate-on-OOM: with VIRTIO_BALLOON_F_DEFLATE_ON_OOM negotiated the guest
 * may deflate under memory pressure without being asked; the device then
 * lowers its target to what the guest still holds, so it does not push the
 * guest straight back into the same pressure.
 *
 * Threading: every entry point takes the device lock, except the config
 * space (atomics: a vCPU reading num_pages never waits behind an madvise).
 */
#ifndef BURROW_VMM_VIRTIO_BALLOON_H
#define BURROW_VMM_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/gmem.h"
#include "vmm/virtio/virtio.h"

#define VIRTIO_ID_BALLOON 5

#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_PAGE_POISON    4
#define VIRTIO_BALLOON_F_REPORTING      5

#define BALLOON_PAGE_SHIFT  12
#define BALLOON_PAGE        (1u << BALLOON_PAGE_SHIFT)
#define BALLOON_QUEUES      4 /* inflate, deflate, stats, reporting (at most) */
#define BALLOON_QUEUE_MAX   256u
#define BALLOON_CONFIG_SIZE 16u    /* num_pages, actual, cmd id, poison value */
#define BALLOON_PFNS_MAX    65536u /* page frames in one inflate/deflate chain */
#define BALLOON_STAT_SIZE   10u    /* le16 tag, le64 value */
#define BALLOON_STATS_MAX   64u    /* entries in one stats buffer */

/* Statistics tags (virtio 1.2 §5.5.6.3); later ones are accepted and ignored. */
enum balloon_stat {
    BALLOON_S_SWAP_IN = 0,
    BALLOON_S_SWAP_OUT = 1,
    BALLOON_S_MAJFLT = 2,
    BALLOON_S_MINFLT = 3,
    BALLOON_S_MEMFREE = 4,
    BALLOON_S_MEMTOT = 5,
    BALLOON_S_AVAIL = 6,
    BALLOON_S_CACHES = 7,
    BALLOON_S_HTLB_PGALLOC = 8,
    BALLOON_S_HTLB_PGFAIL = 9,
    BALLOON_S_NR = 10,
};

/* What the host knows about the balloon (virtio_balloon_info). */
struct balloon_info {
    bool active;        /* the driver set DRIVER_OK */
    uint64_t features;  /* negotiated */
    uint64_t ram_pages; /* guest RAM, in 4 KiB pages */
    uint32_t target;    /* num_pages: pages the host asks the guest to give up */
    uint32_t actual;    /* pages the driver says it gave up (config `actual`) */
    uint32_t held;      /* pages inflated and not deflated, as the device counted them */
    uint64_t stats[BALLOON_S_NR];
    uint32_t stats_seen;    /* bit per tag the guest ever sent */
    uint64_t stats_updates; /* stats buffers received */
    uint64_t reports;       /* reporting chains handled */
    uint64_t reported_bytes;
    uint64_t refused;      /* page frames outside RAM, misaligned reporting chains */
    uint64_t oom_deflates; /* unrequested deflates that lowered the target */
};

struct virtio_balloon;

extern const struct virtio_dev_ops virtio_balloon_ops;

/* mem: the guest RAM the page frames refer to (kept; must outlive the device). */
__attribute__((warn_unused_result)) int virtio_balloon_create(const struct virtio_transport *t,
                                                              const struct gmem *mem,
                                                              struct virtio_balloon **out);
void virtio_balloon_destroy(struct virtio_balloon *b);

/*
 * Ask the guest to hold `pages` 4 KiB pages in the balloon (0: give all
 * back). BURROW_ERR_RANGE beyond guest RAM. A change bumps the config
 * generation and raises a config interrupt.
 */
__attribute__((warn_unused_result)) int virtio_balloon_set_target(struct virtio_balloon *b,
                                                                  uint64_t pages);
/*
 * Ask the driver for fresh statistics: the stats buffer it left with the
 * device goes back to it. 0 if asked, BURROW_ERR_AGAIN if the device holds
 * no stats buffer (not negotiated, not active, or the driver has not
 * answered the last request yet).
 */
int virtio_balloon_request_stats(struct virtio_balloon *b);
void virtio_balloon_info(struct virtio_balloon *b, struct balloon_info *out);

#endif /* BURROW_VMM_VIRTIO_BALLOON_H */
