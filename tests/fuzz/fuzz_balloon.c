/*
 * tests/fuzz/fuzz_balloon.c - libFuzzer harness for virtio-balloon
 * (vmm/virtio/balloon.c) driven by a hostile guest: chains on all four
 * queues (inflate/deflate PFN lists, stats entries, reporting ranges of any
 * address, length and direction), host targets and stats requests, driver
 * resets and snapshot round trips, in the order the input says. Guest RAM
 * is an anonymous mapping, so ranges the device drops are really dropped.
 * ASan catches any access outside it; the harness checks the device's own
 * accounting: never more pages held than guest RAM, a target within RAM,
 * and the same state after a save/restore round trip.
 *
 * Input: [0] features to drop (bit 0 STATS_VQ, bit 1 DEFLATE_ON_OOM, bit 2
 * REPORTING), then operations, each [0] opcode:
 *   0-3  a chain on queue op: [0] buffer count (1..4), per buffer [0] flags
 *        (bit 0 writable), [1..4] gpa offset into RAM (le32, mod RAM size,
 *        bit 31: outside RAM), [5..6] length (le16 * 16), then for readable
 *        buffers their content (PFNs / stats) from the input
 *   4    set the target: [1..2] pages (le16)
 *   5    ask for stats        6  save, restore into the same device
 *   7    driver reset and bring-up again
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/balloon.h"

#define NQ 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    struct sim s;
    struct virtio_mmio m;
    struct virtio_balloon *b;
    struct simq q[NQ];
    uint16_t next[NQ];
    uint64_t drop;
};

static void bring_up(struct fz *z)
{
    memset(z->s.ram, 0, SIM_DATA - SIM_BASE);
    for (unsigned i = 0; i < NQ; i++) {
        simq_layout(&z->q[i], i, 16);
        z->next[i] = 0;
    }
    mmio_bring_up(&z->m, z->q, NQ, z->drop);
}

/* One chain on queue qi from the input; 0 when the input ran out. */
static int chain(struct fz *z, unsigned qi, struct in *in)
{
    uint8_t nb;
    if (take(in, &nb, 1))
        return 0;
    nb = (uint8_t)(nb % 4 + 1);
    struct simq *q = &z->q[qi];
    uint16_t head = (uint16_t)(z->next[qi] % q->num);
    for (unsigned i = 0; i < nb; i++) {
        uint8_t flags;
        uint32_t off;
        uint16_t len16;
        if (take(in, &flags, 1) || take(in, &off, 4) || take(in, &len16, 2))
            return 0;
        uint32_t len = (uint32_t)len16 * 16;
        uint64_t gpa = (off & 0x80000000u) ? SIM_BASE + SIM_SIZE + (off & 0xffff)
                                           : SIM_BASE + (off % SIM_SIZE);
        if (!(flags & 1) && gpa >= SIM_DATA && gpa < SIM_BASE + SIM_SIZE) {
            size_t room = SIM_BASE + SIM_SIZE - gpa, n = len < room ? len : room;
            n = n < in->n ? n : in->n;
            memcpy(sim_hva(&z->s, gpa), in->p, n);
            in->p += n;
            in->n -= n;
        }
        uint16_t d = (uint16_t)((head + i) % q->num);
        uint16_t f = (uint16_t)(((flags & 1) ? VRING_DESC_F_WRITE : 0) |
                                (i + 1 < nb ? VRING_DESC_F_NEXT : 0));
        sim_desc(&z->s, q->desc, d, gpa, len, f, (uint16_t)((d + 1) % q->num));
    }
    z->next[qi] = (uint16_t)(z->next[qi] + nb);
    sim_avail(&z->s, q, head);
    mmio_wr(&z->m, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
    return 1;
}

static void check(struct fz *z)
{
    struct balloon_info i;
    virtio_balloon_info(z->b, &i);
    if (i.held > i.ram_pages || i.target > i.ram_pages)
        abort();
}

/* A snapshot of the device restored into itself must give the same accounting. */
static void round_trip(struct fz *z)
{
    static uint8_t mem[1 << 20];
    struct balloon_info before, after;
    struct buf out, in;
    virtio_balloon_info(z->b, &before);
    buf_init_writer(&out, mem, sizeof(mem));
    if (virtio_balloon_ops.save(z->b, &out))
        abort();
    buf_init_reader(&in, buf_data(&out), buf_used(&out));
    if (virtio_balloon_ops.restore(z->b, &in))
        abort();
    virtio_balloon_info(z->b, &after);
    if (after.held != before.held || after.target != before.target || after.actual != before.actual)
        abort();
}

static void op(struct fz *z, uint8_t code, struct in *in)
{
    uint16_t pages;
    switch (code % 8) {
    case 4:
        if (take(in, &pages, 2) == 0)
            (void)virtio_balloon_set_target(z->b, pages);
        break;
    case 5:
        (void)virtio_balloon_request_stats(z->b);
        break;
    case 6:
        round_trip(z);
        break;
    case 7:
        bring_up(z);
        break;
    default:
        chain(z, code % 8, in);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz z;
    static uint8_t *ram;
    if (!ram) {
        log_init("fuzz", LOG_LVL_ERROR);
        ram = mmap(NULL, SIM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (ram == MAP_FAILED)
            abort();
    }
    if (size < 1)
        return 0;
    memset(ram, 0, SIM_SIZE);
    sim_init_ram(&z.s, ram);
    z.drop = (data[0] & 1 ? VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) : 0) |
             (data[0] & 2 ? VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM) : 0) |
             (data[0] & 4 ? VIRTIO_BIT(VIRTIO_BALLOON_F_REPORTING) : 0);
    if (virtio_mmio_init(&z.m, &virtio_balloon_ops, &z.s.mem, sim_irq, &z.s) ||
        virtio_balloon_create(&z.m.transport, &z.s.mem, &z.b))
        abort();
    virtio_mmio_attach_dev(&z.m, z.b);
    bring_up(&z);
    struct in in = {data + 1, size - 1};
    uint8_t code;
    for (unsigned n = 0; n < 64 && take(&in, &code, 1) == 0; n++) {
        op(&z, code, &in);
        check(&z);
    }
    virtio_balloon_destroy(z.b);
    virtio_mmio_destroy(&z.m);
    return 0;
}
