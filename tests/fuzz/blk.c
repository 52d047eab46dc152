/*
 * tests/fuzz/blk.c - libFuzzer harness for virtio-blk requests
 * (vmm/virtio/blk.c) from a hostile guest: every request's header, sector,
 * type, discard segments and the shape of its descriptor chain come from
 * the input; the device runs against simulated guest memory and a real
 * 1 MiB sparse image. ASan catches any access outside guest RAM; the
 * harness checks that every request completes with a status byte.
 *
 * Input: [0] request count (1..8); per request: [0] buffer count (1..6),
 * then per buffer: [0] flags (bit0 device-writable), [1..2] length
 * (little endian, mod 8193), then, for device-readable buffers, up to
 * length content bytes (the first one is the header: type, sector).
 */
#define SIM_REUSE_RAM
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/blk.h"
#include "tests/fuzz/fuzz_input.h"

#define IMG_BYTES (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char img[64];

static void remove_image(void)
{
    unlink(img);
}

static void make_image(void)
{
    snprintf(img, sizeof(img), "/tmp/burrow-fuzz-blk-%d.img", (int)getpid());
    int fd = open(img, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, IMG_BYTES) != 0)
        abort();
    close(fd);
    atexit(remove_image);
}

/* Build one request chain from the input; returns its head or -1 when the input ran out. */
static int build_request(struct sim *s, struct simq *q, uint16_t *next_desc, struct in *in)
{
    uint8_t nbufs;
    if (take(in, &nbufs, 1))
        return -1;
    nbufs = (uint8_t)(nbufs % 6 + 1);
    uint16_t head = *next_desc;
    for (unsigned i = 0; i < nbufs; i++) {
        uint8_t flags;
        uint16_t len;
        if (take(in, &flags, 1) || take(in, &len, 2))
            return -1;
        len = (uint16_t)(len % 8193);
        uint64_t gpa = sim_alloc(s, len ? len : 1);
        if (!(flags & 1)) {
            size_t n = in->n < len ? in->n : len;
            memcpy(sim_hva(s, gpa), in->p, n);
            in->p += n;
            in->n -= n;
        }
        uint16_t d = (uint16_t)(*next_desc % q->num);
        uint16_t f = (uint16_t)((flags & 1) ? VRING_DESC_F_WRITE : 0);
        if (i + 1 < nbufs)
            f |= VRING_DESC_F_NEXT;
        sim_desc(s, q->desc, d, gpa, len, f, (uint16_t)((d + 1) % q->num));
        (*next_desc)++;
    }
    return head % q->num;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sim s;
    static struct virtio_mmio m;
    static struct simq q;
    struct virtio_blk *blk = NULL;
    if (!img[0]) {
        log_init("fuzz", LOG_LVL_ERROR);
        make_image();
    }
    if (size < 1)
        return 0;
    sim_init(&s);
    if (virtio_mmio_init(&m, &virtio_blk_ops, &s.mem, sim_irq, &s) ||
        virtio_blk_create(&m.transport, img, false, "fuzz", &blk))
        abort();
    virtio_mmio_attach_dev(&m, blk);
    simq_layout(&q, 0, 64);
    if (mmio_bring_up(&m, &q, 1, 0) != 0xf)
        abort();
    struct in in = {data + 1, size - 1};
    unsigned nreq = data[0] % 8 + 1, queued = 0;
    uint16_t next_desc = 0;
    for (unsigned r = 0; r < nreq; r++) {
        int head = build_request(&s, &q, &next_desc, &in);
        if (head < 0)
            break;
        sim_avail(&s, &q, (uint16_t)head);
        queued++;
    }
    mmio_wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    /* Chains may share descriptors (the input decides); each head still completes once at most. */
    uint32_t id, len;
    unsigned done = 0;
    while (sim_take_used(&s, &q, &id, &len)) {
        if (id >= q.num)
            abort();
        done++;
    }
    if (done > queued)
        abort();
    virtio_blk_destroy(blk);
    virtio_mmio_destroy(&m);
    sim_free(&s);
    return 0;
}
