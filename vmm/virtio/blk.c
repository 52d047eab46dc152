/* vmm/virtio/blk.c - virtio-blk on a raw image (see blk.h). */
#include "vmm/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/virtio/queue.h"

#define REQ_HDR_SIZE     16u
#define DISCARD_SEG_SIZE 16u

struct virtio_blk {
    pthread_mutex_t lock; /* guards everything below */
    const struct virtio_transport *t;
    bool active;
    struct virtio_activation act;
    bool ro_feature;   /* VIRTIO_BLK_F_RO offered */
    int fd;            /* -1: empty slot */
    bool medium_ro;    /* refuse writes and discards */
    uint64_t capacity; /* sectors */
    char id[VIRTIO_BLK_ID_BYTES];
    struct vq_chain chain;
    struct iovec iov[VQ_MAX_IOV];
};

int blk_image_open_locked(const char *path, bool read_only, int *fd_out)
{
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return BURROW_ERR_INVALID;
    }
    /* OFD locks belong to this open file description, so they survive fork/threads. */
    struct flock fl = {.l_type = read_only ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl)) {
        int e = errno;
        close(fd);
        errno = e;
        return (e == EAGAIN || e == EACCES) ? BURROW_ERR_BUSY : BURROW_ERR_SYSTEM;
    }
    *fd_out = fd;
    return 0;
}

int virtio_blk_create(const struct virtio_transport *t, const char *path, bool read_only,
                      const char *serial, struct virtio_blk **out)
{
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b)
        return BURROW_ERR_NOMEM;
    pthread_mutex_init(&b->lock, NULL);
    b->t = t;
    b->fd = -1;
    b->ro_feature = read_only;
    if (serial) /* not NUL-terminated when 20 bytes long, as the spec allows */
        memcpy(b->id, serial, strnlen(serial, sizeof(b->id)));
    if (path) {
        int r = virtio_blk_attach(b, path, read_only);
        if (r) {
            virtio_blk_destroy(b);
            return r;
        }
    }
    *out = b;
    return 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

int virtio_blk_attach(struct virtio_blk *b, const char *path, bool read_only)
{
    int fd, r;
    pthread_mutex_lock(&b->lock);
    bool has_medium = b->fd >= 0;
    pthread_mutex_unlock(&b->lock);
    if (has_medium)
        return BURROW_ERR_EXISTS;
    if ((r = blk_image_open_locked(path, read_only || b->ro_feature, &fd)))
        return r;
    return virtio_blk_attach_fd(b, fd, read_only);
}

int virtio_blk_attach_fd(struct virtio_blk *b, int fd, bool read_only)
{
    struct stat st;
    int acc = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) || acc < 0) {
        close(fd);
        return BURROW_ERR_SYSTEM;
    }
    /* A writable medium needs a writable descriptor: the fd may come from another process. */
    if (!S_ISREG(st.st_mode) || (!(read_only || b->ro_feature) && (acc & O_ACCMODE) != O_RDWR)) {
        close(fd);
        return BURROW_ERR_INVALID;
    }
    pthread_mutex_lock(&b->lock);
    if (b->fd >= 0) {
        pthread_mutex_unlock(&b->lock);
        close(fd);
        return BURROW_ERR_EXISTS;
    }
    b->fd = fd;
    b->medium_ro = read_only || b->ro_feature;
    __atomic_store_n(&b->capacity, (uint64_t)st.st_size / BLK_SECTOR, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->lock);
    b->t->signal_config(b->t->ctx);
    return 0;
}

void virtio_blk_detach(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->fd >= 0)
        close(b->fd);
    b->fd = -1;
    __atomic_store_n(&b->capacity, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&b->lock);
    b->t->signal_config(b->t->ctx);
}

int virtio_blk_sync(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->lock);
    int r = b->fd >= 0 && fdatasync(b->fd) < 0 ? BURROW_ERR_SYSTEM : 0;
    pthread_mutex_unlock(&b->lock);
    return r;
}

uint64_t virtio_blk_capacity(struct virtio_blk *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t c = b->capacity;
    pthread_mutex_unlock(&b->lock);
    return c;
}

static uint64_t blk_features(void *dev)
{
    struct virtio_blk *b = dev;
    uint64_t f = VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) |
                 VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
                 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD);
    if (b->ro_feature)
        f |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
    return f;
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* struct virtio_blk_config (virtio 1.2 §5.2.4), little-endian. */
static void blk_config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_blk *b = dev;
    uint8_t cfg[BLK_CONFIG_SIZE] = {0};
    /* Atomic, not the device lock: a vCPU must not wait behind a request's disk I/O. */
    uint64_t cap = __atomic_load_n(&b->capacity, __ATOMIC_ACQUIRE);
    memcpy(cfg + 0, &cap, 8);
    put32(cfg + 12, BLK_SEG_MAX);
    put32(cfg + 20, BLK_SECTOR);
    uint16_t nq = 1;
    memcpy(cfg + 34, &nq, 2);
    put32(cfg + 36, BLK_MAX_DISCARD_SECTORS);
    put32(cfg + 40, BLK_MAX_DISCARD_SEG);
    put32(cfg + 44, BLK_DISCARD_ALIGN_SECTORS);
    virtio_config_copy(data, cfg, sizeof(cfg), off, len);
}

static int blk_activate(void *dev, const struct virtio_activation *act)
{
    struct virtio_blk *b = dev;
    pthread_mutex_lock(&b->lock);
    b->act = *act;
    b->active = true;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static void blk_reset(void *dev)
{
    struct virtio_blk *b = dev;
    pthread_mutex_lock(&b->lock);
    b->active = false;
    pthread_mutex_unlock(&b->lock);
}

/* Whole-transfer preadv/pwritev: retries short transfers and EINTR. */
static int rw_full(int fd, struct iovec *iov, unsigned n, uint64_t off, bool write)
{
    while (n) {
        ssize_t r =
            write ? pwritev(fd, iov, (int)n, (off_t)off) : preadv(fd, iov, (int)n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return BURROW_ERR_SYSTEM;
        if (r == 0) {
            if (write)
                return BURROW_ERR_SYSTEM;
            for (unsigned i = 0; i < n; i++) /* past EOF of a shrunken image: zeroes */
                memset(iov[i].iov_base, 0, iov[i].iov_len);
            return 0;
        }
        off += (uint64_t)r;
        while (n && (size_t)r >= iov->iov_len) {
            r -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n) {
            iov->iov_base = (uint8_t *)iov->iov_base + r;
            iov->iov_len -= (size_t)r;
        }
    }
    return 0;
}

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
    if (bytes % BLK_SECTOR)
        return false;
    return sector <= b->capacity && bytes / BLK_SECTOR <= b->capacity - sector;
}

static uint8_t do_rw(struct virtio_blk *b, const struct vq_chain *c, uint64_t sector, bool write,
                     uint32_t *written)
{
    uint64_t bytes = write ? c->out_bytes - REQ_HDR_SIZE : c->in_bytes - 1;
    if (b->fd < 0 || !range_ok(b, sector, bytes) || (write && b->medium_ro))
        return VIRTIO_BLK_S_IOERR;
    unsigned n = vq_chain_iov(c, !write, write ? REQ_HDR_SIZE : 0, bytes, b->iov, VQ_MAX_IOV);
    if (rw_full(b->fd, b->iov, n, sector * BLK_SECTOR, write))
        return VIRTIO_BLK_S_IOERR;
    if (!write)
        *written = (uint32_t)bytes;
    return VIRTIO_BLK_S_OK;
}

static uint8_t do_discard(struct virtio_blk *b, const struct vq_chain *c)
{
    uint64_t bytes = c->out_bytes - REQ_HDR_SIZE;
    if (b->fd < 0 || b->medium_ro)
        return VIRTIO_BLK_S_IOERR;
    if (bytes == 0 || bytes % DISCARD_SEG_SIZE || bytes / DISCARD_SEG_SIZE > BLK_MAX_DISCARD_SEG)
        return VIRTIO_BLK_S_UNSUPP;
    for (uint64_t off = REQ_HDR_SIZE; off < c->out_bytes; off += DISCARD_SEG_SIZE) {
        uint8_t seg[DISCARD_SEG_SIZE];
        uint64_t sector;
        uint32_t num, flags;
        vq_chain_read(c, off, seg, sizeof(seg));
        memcpy(&sector, seg, 8);
        memcpy(&num, seg + 8, 4);
        memcpy(&flags, seg + 12, 4);
        if (flags || num > BLK_MAX_DISCARD_SECTORS)
            return VIRTIO_BLK_S_UNSUPP;
        if (!range_ok(b, sector, (uint64_t)num * BLK_SECTOR))
            return VIRTIO_BLK_S_IOERR;
        if (num && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             (off_t)(sector * BLK_SECTOR), (off_t)num * BLK_SECTOR))
            return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* Runs one request; returns bytes written into the chain (status byte included). */
static uint32_t handle_request(struct virtio_blk *b, const struct vq_chain *c)
{
    uint8_t hdr[REQ_HDR_SIZE];
    uint32_t type, written = 0;
    uint64_t sector;
    vq_chain_read(c, 0, hdr, sizeof(hdr));
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);

    uint8_t status;
    switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        status = do_rw(b, c, sector, type == VIRTIO_BLK_T_OUT, &written);
        break;
    case VIRTIO_BLK_T_FLUSH:
        status = (b->fd >= 0 && fdatasync(b->fd)) ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
        break;
    case VIRTIO_BLK_T_GET_ID:
        written = (uint32_t)(c->in_bytes - 1 < VIRTIO_BLK_ID_BYTES ? c->in_bytes - 1
                                                                   : VIRTIO_BLK_ID_BYTES);
        vq_chain_write(c, 0, b->id, written);
        status = VIRTIO_BLK_S_OK;
        break;
    case VIRTIO_BLK_T_DISCARD:
        status = do_discard(b, c);
        break;
    default:
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    /* The status byte is the last writable byte of the chain. */
    vq_chain_write(c, c->in_bytes - 1, &status, 1);
    return written + 1;
}

static void blk_notify(void *dev, unsigned qi)
{
    struct virtio_blk *b = dev;
    pthread_mutex_lock(&b->lock);
    if (!b->active || qi != 0)
        goto out;
    struct vq *q = &b->act.vqs[0];
    bool pushed = false;
    unsigned budget = VIRTIO_BUDGET;
    int got;
    while ((got = vq_next(q, b->act.mem, &b->chain, &budget)) > 0) {
        if (b->chain.out_bytes < REQ_HDR_SIZE || b->chain.in_bytes < 1) {
            q->broken = true; /* no header or no status byte: nothing sane to answer */
            got = BURROW_ERR_GUEST;
            break;
        }
        vq_push(q, b->chain.head, handle_request(b, &b->chain));
        pushed = true;
    }
    if (got == BURROW_ERR_AGAIN)
        b->t->requeue(b->t->ctx, 0);
    else if (got < 0)
        b->t->needs_reset(b->t->ctx);
    if (pushed && vq_should_signal(q))
        b->t->signal_queue(b->t->ctx, 0);
out:
    pthread_mutex_unlock(&b->lock);
}

const struct virtio_dev_ops virtio_blk_ops = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .nr_queues = 1,
    .queue_max = BLK_QUEUE_MAX,
    .config_size = BLK_CONFIG_SIZE,
    .features = blk_features,
    .config_read = blk_config_read,
    .activate = blk_activate,
    .notify = blk_notify,
    .reset = blk_reset,
};
