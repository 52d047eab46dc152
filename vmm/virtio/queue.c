/* vmm/virtio/queue.c - split virtqueue walker (see queue.h). */
#include "vmm/virtio/queue.h"

#include <string.h>

#include "common/err.h"
#include "common/log.h"

/* Ring layouts (virtio 1.2 §2.7): offsets into the three areas. */
#define DESC_SIZE      16u
#define AVAIL_FLAGS    0u
#define AVAIL_IDX      2u
#define AVAIL_RING     4u
#define USED_IDX       2u
#define USED_RING      4u
#define USED_ELEM_SIZE 8u

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

void vq_init(struct vq *q, uint16_t num_max)
{
    memset(q, 0, sizeof(*q));
    q->num_max = num_max;
    q->num = num_max;
}

void vq_reset(struct vq *q)
{
    vq_init(q, q->num_max);
}

uint16_t vq_size(const struct vq *q)
{
    return q->num;
}

static int vq_fail(struct vq *q, const char *why)
{
    static struct log_ratelimit rl;
    q->broken = true;
    if (log_ratelimit_ok(&rl, 10, 60))
        log_warn("virtqueue: guest broke the ring contract: %s", why);
    return BURROW_ERR_GUEST;
}

int vq_validate(struct vq *q, const struct gmem *mem)
{
    uint64_t n = q->num;
    if (n == 0 || n > q->num_max || (n & (n - 1)) != 0)
        return BURROW_ERR_GUEST;
    if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
        return BURROW_ERR_GUEST;
    /* Sizes include used_event / avail_event, present whether or not negotiated. */
    uint8_t *d = gmem_ptr(mem, q->desc_gpa, DESC_SIZE * n);
    uint8_t *a = gmem_ptr(mem, q->avail_gpa, 6 + 2 * n);
    uint8_t *u = gmem_ptr(mem, q->used_gpa, 6 + USED_ELEM_SIZE * n);
    if (!d || !a || !u)
        return BURROW_ERR_GUEST;
    q->desc = d;
    q->avail = a;
    q->used = u;
    q->broken = false;
    return 0;
}

static uint16_t *avail_idx_ptr(const struct vq *q)
{
    return (uint16_t *)(q->avail + AVAIL_IDX);
}

static uint16_t load_avail_idx(const struct vq *q)
{
    /*
     * Acquire: every ring entry and descriptor read below happens after this
     * load, pairing with the driver's write barrier between filling the
     * descriptors/ring slot and publishing avail->idx.
     */
    return __atomic_load_n(avail_idx_ptr(q), __ATOMIC_ACQUIRE);
}

static void read_desc(const uint8_t *table, unsigned i, struct desc *d)
{
    /* One copy per descriptor: later checks and uses see the same values. */
    uint8_t raw[DESC_SIZE];
    memcpy(raw, table + (size_t)i * DESC_SIZE, DESC_SIZE);
    memcpy(&d->addr, raw, 8);
    memcpy(&d->len, raw + 8, 4);
    memcpy(&d->flags, raw + 12, 2);
    memcpy(&d->next, raw + 14, 2);
}

static int add_buf(struct vq *q, const struct gmem *mem, struct vq_chain *c, const struct desc *d)
{
    bool writable = d->flags & VRING_DESC_F_WRITE;
    if (!writable && c->nr_in)
        return vq_fail(q, "readable descriptor after a writable one");
    if (d->len == 0)
        return 0;
    if (c->nr_out + c->nr_in >= VQ_MAX_IOV)
        return vq_fail(q, "too many buffers in one chain");
    if (c->out_bytes + c->in_bytes + d->len > VQ_MAX_CHAIN_BYTES)
        return vq_fail(q, "chain describes too many bytes");
    uint8_t *p = gmem_ptr(mem, d->addr, d->len);
    if (!p)
        return vq_fail(q, "buffer outside guest memory");
    c->bufs[c->nr_out + c->nr_in] = (struct vq_buf){.p = p, .len = d->len};
    if (writable) {
        c->nr_in++;
        c->in_bytes += d->len;
    } else {
        c->nr_out++;
        c->out_bytes += d->len;
    }
    return 0;
}

/* Switch the walk to an indirect table; returns its entry count or 0 on error. */
static unsigned enter_indirect(struct vq *q, const struct gmem *mem, const struct desc *d,
                               const uint8_t **table)
{
    if (!q->indirect) {
        vq_fail(q, "indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC");
        return 0;
    }
    if (d->flags & VRING_DESC_F_NEXT) {
        vq_fail(q, "indirect descriptor with NEXT");
        return 0;
    }
    if (d->len == 0 || d->len % DESC_SIZE || d->len / DESC_SIZE > VQ_SIZE_MAX) {
        vq_fail(q, "bad indirect table length");
        return 0;
    }
    *table = gmem_ptr(mem, d->addr, d->len);
    if (!*table) {
        vq_fail(q, "indirect table outside guest memory");
        return 0;
    }
    return d->len / DESC_SIZE;
}

static int walk_chain(struct vq *q, const struct gmem *mem, uint16_t head, struct vq_chain *c)
{
    const uint8_t *table = q->desc;
    unsigned table_len = q->num, i = head, seen = 0;
    bool in_indirect = false;

    c->head = head;
    c->nr_out = c->nr_in = 0;
    c->out_bytes = c->in_bytes = 0;
    for (;;) {
        /* A chain can visit each entry of its table once; more means a loop. */
        if (++seen > table_len)
            return vq_fail(q, "descriptor loop or chain longer than its table");
        struct desc d;
        read_desc(table, i, &d);
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (in_indirect)
                return vq_fail(q, "nested indirect table");
            table_len = enter_indirect(q, mem, &d, &table);
            if (!table_len)
                return BURROW_ERR_GUEST;
            in_indirect = true;
            i = 0;
            seen = 0;
            continue;
        }
        int r = add_buf(q, mem, c, &d);
        if (r)
            return r;
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        i = d.next;
        if (i >= table_len)
            return vq_fail(q, "next index out of range");
    }
}

int vq_pop(struct vq *q, const struct gmem *mem, struct vq_chain *c)
{
    if (!q->ready || q->broken || !q->avail)
        return q->broken ? BURROW_ERR_GUEST : 0;
    uint16_t avail = load_avail_idx(q);
    uint16_t pending = (uint16_t)(avail - q->last_avail);
    if (pending > q->num)
        return vq_fail(q, "avail index moved by more than the ring size");
    if (pending == 0)
        return 0;
    uint16_t *ring = (uint16_t *)(q->avail + AVAIL_RING);
    /* Ordered after the avail->idx load by its acquire (see load_avail_idx). */
    uint16_t head = __atomic_load_n(&ring[q->last_avail & (q->num - 1)], __ATOMIC_RELAXED);
    if (head >= q->num)
        return vq_fail(q, "head index out of range");
    int r = walk_chain(q, mem, head, c);
    if (r)
        return r;
    q->last_avail++;
    return 1;
}

int vq_next(struct vq *q, const struct gmem *mem, struct vq_chain *c, unsigned *budget)
{
    for (;;) {
        if (*budget == 0)
            return BURROW_ERR_AGAIN;
        int got = vq_pop(q, mem, c);
        if (got > 0)
            (*budget)--;
        if (got != 0)
            return got;
        if (!vq_enable_notify(q))
            return 0;
    }
}

void vq_unpop(struct vq *q)
{
    q->last_avail--;
}

void vq_push(struct vq *q, uint16_t head, uint32_t len)
{
    if (!q->used)
        return;
    uint8_t *elem = q->used + USED_RING + (size_t)(q->used_idx & (q->num - 1)) * USED_ELEM_SIZE;
    uint32_t id = head;
    __atomic_store_n((uint32_t *)elem, id, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)(elem + 4), len, __ATOMIC_RELAXED);
    q->used_idx++;
    /*
     * Release: the used element above is visible before the new used->idx,
     * pairing with the driver's read barrier between reading used->idx and
     * reading the element.
     */
    __atomic_store_n((uint16_t *)(q->used + USED_IDX), q->used_idx, __ATOMIC_RELEASE);
}

bool vq_should_signal(struct vq *q)
{
    if (!q->avail)
        return false;
    /*
     * Full barrier: our used->idx store must be visible before we read the
     * driver's suppression state (avail->flags / used_event), pairing with
     * the driver's full barrier between updating that state and re-reading
     * used->idx. Without it both sides could miss each other's update.
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!q->event_idx) {
        uint16_t flags = __atomic_load_n((uint16_t *)(q->avail + AVAIL_FLAGS), __ATOMIC_RELAXED);
        return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
    }
    uint16_t event =
        __atomic_load_n((uint16_t *)(q->avail + AVAIL_RING + 2u * q->num), __ATOMIC_RELAXED);
    uint16_t new_idx = q->used_idx, old = q->signalled_used;
    bool valid = q->signalled_valid;
    q->signalled_used = new_idx;
    q->signalled_valid = true;
    if (!valid)
        return true;
    /* vring_need_event(): did used->idx pass used_event since the last signal? */
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool vq_has_avail(struct vq *q)
{
    if (!q->ready || q->broken || !q->avail)
        return false;
    return load_avail_idx(q) != q->last_avail;
}

bool vq_enable_notify(struct vq *q)
{
    if (!q->used)
        return false;
    if (q->event_idx)
        __atomic_store_n((uint16_t *)(q->used + USED_RING + USED_ELEM_SIZE * q->num), q->last_avail,
                         __ATOMIC_RELAXED);
    /*
     * Full barrier: publish avail_event before re-reading avail->idx, pairing
     * with the driver's full barrier between writing avail->idx and reading
     * avail_event to decide whether to kick. Closes the lost-kick race.
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return vq_has_avail(q);
}

size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len)
{
    size_t done = 0;
    uint8_t *out = dst;
    for (unsigned i = 0; i < c->nr_out && done < len; i++) {
        const struct vq_buf *b = &c->bufs[i];
        if (off >= b->len) {
            off -= b->len;
            continue;
        }
        size_t n = b->len - off < len - done ? b->len - off : len - done;
        memcpy(out + done, b->p + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len)
{
    size_t done = 0;
    const uint8_t *in = src;
    for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && done < len; i++) {
        const struct vq_buf *b = &c->bufs[i];
        if (off >= b->len) {
            off -= b->len;
            continue;
        }
        size_t n = b->len - off < len - done ? b->len - off : len - done;
        memcpy(b->p + off, in + done, n);
        done += n;
        off = 0;
    }
    return done;
}

unsigned vq_chain_iov(const struct vq_chain *c, bool writable, size_t off, size_t max,
                      struct iovec *iov, unsigned iov_max)
{
    unsigned first = writable ? c->nr_out : 0;
    unsigned end = writable ? c->nr_out + c->nr_in : c->nr_out;
    unsigned n = 0;
    for (unsigned i = first; i < end && n < iov_max && max; i++) {
        const struct vq_buf *b = &c->bufs[i];
        if (off >= b->len) {
            off -= b->len;
            continue;
        }
        size_t take = b->len - off < max ? b->len - off : max;
        iov[n++] = (struct iovec){.iov_base = b->p + off, .iov_len = take};
        max -= take;
        off = 0;
    }
    return n;
}
