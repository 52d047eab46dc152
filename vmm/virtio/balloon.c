/* vmm/virtio/balloon.c - virtio-balloon with free page reporting (see balloon.h). */
#include "vmm/virtio/balloon.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/virtio/queue.h"

#define SAVE_MAGIC   0x4e4c4c42u /* "BLLN" */
#define SAVE_VERSION 1u
#define PFN_BATCH    256u

enum role { ROLE_NONE = 0, ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORT };

/* What a handler wants done with the chain it was given. */
enum verdict { CHAIN_DONE, CHAIN_HOLD, CHAIN_BAD };

/* The most balloon pages one guest page holds (64 KiB pages): what a compaction move inflates. */
#define BALLOON_MOVE_MAX 16

struct virtio_balloon {
    pthread_mutex_t lock; /* guards everything below but the config words */
    const struct virtio_transport *t;
    const struct gmem *mem;
    uint64_t pfn_limit; /* one past the highest page frame of guest RAM */
    uint64_t ram_pages;
    bool active;
    struct virtio_activation act;
    enum role role[BALLOON_QUEUES];

    /* Config space: atomics, read by vCPUs without the device lock. */
    uint32_t target; /* num_pages */
    uint32_t actual; /* written by the driver */

    uint64_t *bitmap; /* a bit per page frame in the balloon; NULL until the first inflate */
    uint32_t held;
    uint32_t last_inflated; /* pages the latest inflate chain added (0 after a deflate) */
    bool stats_held;        /* the driver's stats buffer is with us (stats_head) */
    uint16_t stats_head;
    uint64_t stats[BALLOON_S_NR];
    uint32_t stats_seen;
    uint64_t stats_updates, reports, reported_bytes, refused, oom_deflates;
    struct vq_chain chain; /* scratch: too big for the stack of a vCPU thread */
};

static struct log_ratelimit balloon_rl;

static void guest_warn(const char *what, uint64_t v)
{
    if (log_ratelimit_ok(&balloon_rl, 10, 60))
        log_warn("virtio-balloon: guest %s (0x%llx)", what, (unsigned long long)v);
}

int virtio_balloon_create(const struct virtio_transport *t, const struct gmem *mem,
                          struct virtio_balloon **out)
{
    struct virtio_balloon *b = calloc(1, sizeof(*b));
    if (!b)
        return BURROW_ERR_NOMEM;
    pthread_mutex_init(&b->lock, NULL);
    b->t = t;
    b->mem = mem;
    for (unsigned i = 0; i < mem->nr; i++) {
        uint64_t end = (mem->regions[i].gpa + mem->regions[i].size) >> BALLOON_PAGE_SHIFT;
        if (end > b->pfn_limit)
            b->pfn_limit = end;
    }
    b->ram_pages = gmem_total(mem) >> BALLOON_PAGE_SHIFT;
    *out = b;
    return 0;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
    if (!b)
        return;
    free(b->bitmap);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* ---- config space ---- */

static uint64_t balloon_features(void *dev)
{
    (void)dev;
    /* No MUST_TELL_HOST (a deflated page needs nothing from us), no hinting, no poison. */
    return VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) |
           VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) | VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) |
           VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING);
}

/* struct virtio_balloon_config (virtio 1.2 §5.5.4), little-endian. */
static void balloon_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_balloon *b = dev;
    uint32_t cfg[BALLOON_CONFIG_SIZE / 4] = {__atomic_load_n(&b->target, __ATOMIC_ACQUIRE),
                                             __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE)};
    virtio_config_copy(data, cfg, sizeof(cfg), off, len);
}

/* Only `actual` (bytes 4..7) is the driver's to write; it may write it piecewise. */
static void balloon_config_write(void *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
    struct virtio_balloon *b = dev;
    if (off < 4 || off + len > 8) {
        guest_warn("wrote a read-only config field at offset", off);
        return;
    }
    uint32_t v = __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE);
    uint8_t bytes[4];
    memcpy(bytes, &v, 4);
    memcpy(bytes + (off - 4), data, len);
    memcpy(&v, bytes, 4);
    __atomic_store_n(&b->actual, v, __ATOMIC_RELEASE);
}

/* ---- lifecycle ---- */

/* The driver numbers only the queues it uses (see balloon.h). */
static void assign_roles(struct virtio_balloon *b, uint64_t features)
{
    unsigned q = 0;
    memset(b->role, 0, sizeof(b->role));
    b->role[q++] = ROLE_INFLATE;
    b->role[q++] = ROLE_DEFLATE;
    if (features & VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ))
        b->role[q++] = ROLE_STATS;
    if (features & VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING))
        b->role[q++] = ROLE_REPORT;
}

static int queue_of(const struct virtio_balloon *b, enum role r)
{
    for (unsigned q = 0; q < BALLOON_QUEUES; q++)
        if (b->role[q] == r)
            return (int)q;
    return -1;
}

static int balloon_activate(void *dev, const struct virtio_activation *act)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    b->act = *act;
    assign_roles(b, act->features);
    b->active = true;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static size_t bitmap_bytes(const struct virtio_balloon *b)
{
    return (size_t)((b->pfn_limit + 63) / 64 * 8);
}

/* Most VMs never inflate: the bitmap (a bit per page frame) comes with the first page. */
static bool ensure_bitmap(struct virtio_balloon *b)
{
    if (!b->bitmap)
        b->bitmap = calloc(1, bitmap_bytes(b));
    return b->bitmap != NULL;
}

/* A reset driver starts with an empty balloon: every page is the guest's again. */
static void forget_balloon(struct virtio_balloon *b)
{
    if (b->bitmap)
        memset(b->bitmap, 0, bitmap_bytes(b));
    b->held = 0;
    __atomic_store_n(&b->actual, 0, __ATOMIC_RELEASE);
}

static void balloon_reset(void *dev)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    b->active = false;
    b->stats_held = false;
    forget_balloon(b);
    pthread_mutex_unlock(&b->lock);
}

/* ---- dropping guest pages ---- */

/* Consecutive host pages, dropped with one madvise. */
struct run {
    uint8_t *start;
    size_t len;
};

static void run_flush(struct run *r)
{
    /*
     * MADV_DONTNEED: a private file mapping falls back to the file's page
     * (the template's), anonymous memory to zero. The mapping itself stays.
     */
    if (r->len && madvise(r->start, r->len, MADV_DONTNEED) && log_ratelimit_ok(&balloon_rl, 10, 60))
        log_warn("virtio-balloon: madvise(DONTNEED) of %zu bytes failed", r->len);
    r->len = 0;
}

static void run_add(struct run *r, uint8_t *p, size_t len)
{
    if (r->len && p == r->start + r->len) {
        r->len += len;
        return;
    }
    run_flush(r);
    r->start = p;
    r->len = len;
}

/* ---- inflate / deflate ---- */

static bool bit_flip(uint64_t *bm, uint64_t pfn, bool set)
{
    uint64_t mask = 1ull << (pfn & 63);
    bool was = bm[pfn / 64] & mask;
    if (set)
        bm[pfn / 64] |= mask;
    else
        bm[pfn / 64] &= ~mask;
    return was;
}

/* The host page of a guest page frame, or NULL when the frame is not RAM. */
static uint8_t *frame_ptr(const struct virtio_balloon *b, uint32_t pfn)
{
    if (pfn >= b->pfn_limit)
        return NULL;
    return gmem_ptr(b->mem, (uint64_t)pfn << BALLOON_PAGE_SHIFT, BALLOON_PAGE);
}

static void inflate_page(struct virtio_balloon *b, uint32_t pfn, struct run *r)
{
    uint8_t *p = frame_ptr(b, pfn);
    if (!p) {
        b->refused++;
        guest_warn("inflated a page frame outside RAM", pfn);
        return;
    }
    if (ensure_bitmap(b) && !bit_flip(b->bitmap, pfn, true))
        b->held++;
    run_add(r, p, BALLOON_PAGE);
}

static void deflate_page(struct virtio_balloon *b, uint32_t pfn)
{
    if (!frame_ptr(b, pfn)) {
        b->refused++;
        guest_warn("deflated a page frame outside RAM", pfn);
        return;
    }
    if (b->bitmap && bit_flip(b->bitmap, pfn, false))
        b->held--;
}

/*
 * A deflate the host did not ask for (the target was not below what the
 * guest held) is the guest under memory pressure: with DEFLATE_ON_OOM the
 * target follows it down instead of asking for the pages again.
 */
static void deflate_policy(struct virtio_balloon *b, uint32_t held_before)
{
    uint32_t target = __atomic_load_n(&b->target, __ATOMIC_ACQUIRE);
    if (b->held >= held_before || target < held_before)
        return;
    /*
     * Compaction in the guest moves a balloon page by inflating its new frame
     * and then deflating the old one (Linux's virtballoon_migratepage): the
     * same small count both ways is a move, not memory pressure. Burrow's
     * idle reclaim asks for compaction, so this happens mid-inflation.
     */
    uint32_t deflated = held_before - b->held;
    if (deflated <= BALLOON_MOVE_MAX && deflated == b->last_inflated)
        return;
    if (!(b->act.features & VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM))) {
        guest_warn("deflated pages the host did not ask for", held_before - b->held);
        return;
    }
    __atomic_store_n(&b->target, b->held, __ATOMIC_RELEASE);
    b->oom_deflates++;
    log_info("virtio-balloon: the guest deflated %u pages under memory pressure; target now %u "
             "pages",
             held_before - b->held, b->held);
    b->t->signal_config(b->t->ctx);
}

/* An inflate or deflate chain: le32 page frame numbers in device-readable buffers. */
static enum verdict pfn_chain(struct virtio_balloon *b, const struct vq_chain *c, bool inflate)
{
    if (c->nr_in || c->out_bytes % 4 || c->out_bytes / 4 > BALLOON_PFNS_MAX)
        return CHAIN_BAD;
    uint32_t pfns[PFN_BATCH], held_before = b->held;
    struct run r = {NULL, 0};
    size_t n = c->out_bytes / 4;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < PFN_BATCH ? n - done : PFN_BATCH;
        vq_chain_read(c, done * 4, pfns, k * 4); /* one copy: the guest cannot change them */
        for (size_t i = 0; i < k; i++) {
            if (inflate)
                inflate_page(b, pfns[i], &r);
            else
                deflate_page(b, pfns[i]);
        }
        done += k;
    }
    run_flush(&r);
    if (inflate) {
        b->last_inflated = b->held - held_before;
    } else {
        deflate_policy(b, held_before);
        b->last_inflated = 0;
    }
    return CHAIN_DONE;
}

/* ---- free page reporting ---- */

static bool page_aligned(const struct vq_buf *v)
{
    return (((uintptr_t)v->p | v->len) & (BALLOON_PAGE - 1)) == 0;
}

/* Each buffer is a free range; all must be whole pages, or nothing is dropped. */
static enum verdict report_chain(struct virtio_balloon *b, const struct vq_chain *c)
{
    unsigned n = c->nr_out + c->nr_in;
    for (unsigned i = 0; i < n; i++) {
        if (!page_aligned(&c->bufs[i])) {
            b->refused++;
            guest_warn("reported a free range that is not whole pages; length", c->bufs[i].len);
            return CHAIN_DONE;
        }
    }
    struct run r = {NULL, 0};
    for (unsigned i = 0; i < n; i++) {
        run_add(&r, c->bufs[i].p, c->bufs[i].len);
        b->reported_bytes += c->bufs[i].len;
    }
    run_flush(&r);
    b->reports++;
    return CHAIN_DONE;
}

/* ---- statistics ---- */

static enum verdict stats_chain(struct virtio_balloon *b, const struct vq_chain *c)
{
    if (c->nr_in || c->out_bytes % BALLOON_STAT_SIZE ||
        c->out_bytes / BALLOON_STAT_SIZE > BALLOON_STATS_MAX)
        return CHAIN_BAD;
    uint8_t raw[BALLOON_STATS_MAX * BALLOON_STAT_SIZE];
    size_t len = vq_chain_read(c, 0, raw, (size_t)c->out_bytes);
    for (size_t off = 0; off + BALLOON_STAT_SIZE <= len; off += BALLOON_STAT_SIZE) {
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, raw + off, 2);
        memcpy(&val, raw + off + 2, 8);
        if (tag < BALLOON_S_NR) { /* later tags (newer drivers) are not ours to show */
            b->stats[tag] = val;
            b->stats_seen |= 1u << tag;
        }
    }
    b->stats_updates++;
    return CHAIN_HOLD;
}

/* ---- the queues ---- */

static enum verdict handle_chain(struct virtio_balloon *b, enum role role)
{
    switch (role) {
    case ROLE_INFLATE:
        return pfn_chain(b, &b->chain, true);
    case ROLE_DEFLATE:
        return pfn_chain(b, &b->chain, false);
    case ROLE_STATS:
        return stats_chain(b, &b->chain);
    case ROLE_REPORT:
        return report_chain(b, &b->chain);
    default:
        return CHAIN_BAD;
    }
}

/* Keep the new stats buffer; the one held before (a driver may send two) goes back. */
static bool hold_stats(struct virtio_balloon *b, struct vq *q, uint16_t head)
{
    bool pushed = b->stats_held;
    if (pushed)
        vq_push(q, b->stats_head, 0);
    b->stats_held = true;
    b->stats_head = head;
    return pushed;
}

static void balloon_notify(void *dev, unsigned qi)
{
    struct virtio_balloon *b = dev;
    pthread_mutex_lock(&b->lock);
    if (!b->active || qi >= BALLOON_QUEUES || b->role[qi] == ROLE_NONE)
        goto out;
    struct vq *q = &b->act.vqs[qi];
    bool pushed = false;
    unsigned budget = VIRTIO_BUDGET;
    int got;
    while ((got = vq_next(q, b->act.mem, &b->chain, &budget)) > 0) {
        enum verdict v = handle_chain(b, b->role[qi]);
        if (v == CHAIN_BAD) {
            guest_warn("sent a chain of the wrong shape on queue", qi);
            q->broken = true;
            got = BURROW_ERR_GUEST;
            break;
        }
        if (v == CHAIN_HOLD) {
            pushed |= hold_stats(b, q, b->chain.head);
            continue;
        }
        vq_push(q, b->chain.head, 0);
        pushed = true;
    }
    if (got == BURROW_ERR_AGAIN)
        b->t->requeue(b->t->ctx, qi);
    else if (got < 0)
        b->t->needs_reset(b->t->ctx);
    if (pushed && vq_should_signal(q))
        b->t->signal_queue(b->t->ctx, qi);
out:
    pthread_mutex_unlock(&b->lock);
}

/* ---- the host's side ---- */

int virtio_balloon_set_target(struct virtio_balloon *b, uint64_t pages)
{
    if (pages > b->ram_pages || pages > UINT32_MAX)
        return BURROW_ERR_RANGE;
    uint32_t old = __atomic_exchange_n(&b->target, (uint32_t)pages, __ATOMIC_ACQ_REL);
    if (old != pages)
        b->t->signal_config(b->t->ctx);
    return 0;
}

int virtio_balloon_request_stats(struct virtio_balloon *b)
{
    int r = BURROW_ERR_AGAIN;
    pthread_mutex_lock(&b->lock);
    int qi = queue_of(b, ROLE_STATS);
    if (b->active && b->stats_held && qi >= 0) {
        struct vq *q = &b->act.vqs[qi];
        vq_push(q, b->stats_head, 0);
        b->stats_held = false;
        if (vq_should_signal(q))
            b->t->signal_queue(b->t->ctx, (unsigned)qi);
        r = 0;
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

void virtio_balloon_info(struct virtio_balloon *b, struct balloon_info *out)
{
    pthread_mutex_lock(&b->lock);
    *out = (struct balloon_info){
        .active = b->active,
        .features = b->active ? b->act.features : 0,
        .ram_pages = b->ram_pages,
        .target = __atomic_load_n(&b->target, __ATOMIC_ACQUIRE),
        .actual = __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE),
        .held = b->held,
        .stats_seen = b->stats_seen,
        .stats_updates = b->stats_updates,
        .reports = b->reports,
        .reported_bytes = b->reported_bytes,
        .refused = b->refused,
        .oom_deflates = b->oom_deflates,
    };
    memcpy(out->stats, b->stats, sizeof(out->stats));
    pthread_mutex_unlock(&b->lock);
}

/* ---- snapshots ---- */

/* The balloon's pages as runs of page frames (start, count), in order. */
static int save_runs(const struct virtio_balloon *b, struct buf *out)
{
    size_t count_pos = buf_used(out);
    uint32_t nr = 0;
    int r = buf_put_u32_le(out, 0);
    for (uint64_t pfn = 0; !r && b->bitmap && pfn < b->pfn_limit;) {
        if (!(b->bitmap[pfn / 64] & (1ull << (pfn & 63)))) {
            pfn++;
            continue;
        }
        uint64_t start = pfn;
        while (pfn < b->pfn_limit && (b->bitmap[pfn / 64] & (1ull << (pfn & 63))))
            pfn++;
        if (!(r = buf_put_u32_le(out, (uint32_t)start)))
            r = buf_put_u32_le(out, (uint32_t)(pfn - start));
        nr++;
    }
    return r ? r : buf_poke_u32_le(out, count_pos, nr);
}

static int balloon_save(void *dev, struct buf *out)
{
    struct virtio_balloon *b = dev;
    int r;
    pthread_mutex_lock(&b->lock);
    if ((r = buf_put_u32_le(out, SAVE_MAGIC)) || (r = buf_put_u32_le(out, SAVE_VERSION)) ||
        (r = buf_put_u32_le(out, __atomic_load_n(&b->target, __ATOMIC_ACQUIRE))) ||
        (r = buf_put_u32_le(out, __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE))) ||
        (r = buf_put_u8(out, b->stats_held)) || (r = buf_put_u16_le(out, b->stats_head)) ||
        (r = buf_put_u32_le(out, b->stats_seen)))
        goto out;
    for (unsigned i = 0; i < BALLOON_S_NR && !r; i++)
        r = buf_put_u64_le(out, b->stats[i]);
    if (!r)
        r = save_runs(b, out);
out:
    pthread_mutex_unlock(&b->lock);
    return r;
}

/* A held stats buffer must belong to a ready stats queue of an active device. */
static int restore_stats_head(struct virtio_balloon *b, uint8_t held, uint16_t head)
{
    if (!held)
        return 0;
    int qi = b->active ? queue_of(b, ROLE_STATS) : -1;
    if (qi < 0 || !b->act.vqs[qi].ready || head >= vq_size(&b->act.vqs[qi]))
        return BURROW_ERR_FORMAT;
    b->stats_held = true;
    b->stats_head = head;
    return 0;
}

/* Runs in increasing order, inside RAM, not overlapping: the count comes out exact. */
static int restore_runs(struct virtio_balloon *b, struct buf *in)
{
    uint32_t nr, start, count;
    uint64_t next = 0;
    int r = buf_get_u32_le(in, &nr);
    if (!r && nr && !ensure_bitmap(b))
        r = BURROW_ERR_NOMEM;
    for (uint32_t i = 0; i < nr && !r; i++) {
        if ((r = buf_get_u32_le(in, &start)) || (r = buf_get_u32_le(in, &count)))
            break;
        if (count == 0 || start < next || (uint64_t)start + count > b->pfn_limit)
            return BURROW_ERR_FORMAT;
        for (uint64_t pfn = start; pfn < (uint64_t)start + count; pfn++) {
            if (!frame_ptr(b, (uint32_t)pfn))
                return BURROW_ERR_FORMAT;
            bit_flip(b->bitmap, pfn, true);
        }
        b->held += count;
        next = (uint64_t)start + count;
    }
    return r;
}

static int balloon_restore(void *dev, struct buf *in)
{
    struct virtio_balloon *b = dev;
    uint32_t magic, version, target, actual;
    uint8_t held;
    uint16_t head;
    int r;
    pthread_mutex_lock(&b->lock);
    forget_balloon(b);
    if ((r = buf_get_u32_le(in, &magic)) || (r = buf_get_u32_le(in, &version)) ||
        (r = buf_get_u32_le(in, &target)) || (r = buf_get_u32_le(in, &actual)) ||
        (r = buf_get_u8(in, &held)) || (r = buf_get_u16_le(in, &head)) ||
        (r = buf_get_u32_le(in, &b->stats_seen)))
        goto out;
    b->stats_seen &= (1u << BALLOON_S_NR) - 1;
    r = BURROW_ERR_FORMAT;
    /* Another version is refused, never guessed at: a template of a newer Burrow. */
    if (magic != SAVE_MAGIC || version != SAVE_VERSION || target > b->ram_pages || held > 1)
        goto out;
    for (unsigned i = 0; i < BALLOON_S_NR; i++)
        if ((r = buf_get_u64_le(in, &b->stats[i])))
            goto out;
    if ((r = restore_stats_head(b, held, head)) || (r = restore_runs(b, in)) ||
        (r = buf_get_end(in)))
        goto out;
    __atomic_store_n(&b->target, target, __ATOMIC_RELEASE);
    __atomic_store_n(&b->actual, actual, __ATOMIC_RELEASE);
out:
    if (r) {
        forget_balloon(b);
        b->stats_held = false;
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

const struct virtio_dev_ops virtio_balloon_ops = {
    .name = "balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .nr_queues = BALLOON_QUEUES,
    .queue_max = BALLOON_QUEUE_MAX,
    .config_size = BALLOON_CONFIG_SIZE,
    .features = balloon_features,
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .activate = balloon_activate,
    .notify = balloon_notify,
    .reset = balloon_reset,
    .save = balloon_save,
    .restore = balloon_restore,
};
