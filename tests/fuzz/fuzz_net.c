/*
 * tests/fuzz/fuzz_net.c - libFuzzer harness for virtio-net (vmm/virtio/net/net.c,
 * net_io.c) driven by a hostile guest and a hostile backend: descriptor
 * chains of any shape on the rx, tx and control queues, raw descriptors with
 * any address, length, flags and next, backend frames of any size, device
 * resets and fork re-attaches. The backend is an AF_UNIX SOCK_DGRAM
 * socketpair. ASan catches any access outside guest RAM or the frame buffer.
 *
 * Input: a script of records, [0] = opcode % 9:
 *   0 chain on queue [1]%3: [2] buffers (1..6), each [flags][u16 len][data]
 *   1 raw descriptor: [queue][idx][u64 addr][u32 len][u16 flags][u16 next], then avail
 *   2 backend sends a frame: [u16 len] bytes (mod 9000)
 *   3 kick queue [1]%3       4 host_process      5 backend drains
 *   6 device reset + bring-up   7 attach a new MAC   8 rate limit [u16] KiB/s
 */
#define SIM_REUSE_RAM
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/net/net.h"
#include "tests/fuzz/fuzz_input.h"

#define QN 32u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    struct sim s;
    struct virtio_mmio m;
    struct virtio_net *net;
    struct simq q[3];
    uint16_t next[3];
    int peer;
};

static void chain(struct fz *f, struct in *in)
{
    uint8_t qi, nb;
    if (take(in, &qi, 1) || take(in, &nb, 1))
        return;
    qi %= 3;
    nb = (uint8_t)(nb % 6 + 1);
    struct simq *q = &f->q[qi];
    uint16_t head = (uint16_t)(f->next[qi] % QN);
    for (unsigned i = 0; i < nb; i++) {
        uint8_t fl;
        uint16_t len;
        if (take(in, &fl, 1) || take(in, &len, 2))
            return;
        len = (uint16_t)(len % 9001);
        if (f->s.next_data + len + 16 > SIM_BASE + SIM_SIZE)
            return;
        uint64_t gpa = sim_alloc(&f->s, len ? len : 1);
        size_t n = in->n < len ? in->n : len;
        memcpy(sim_hva(&f->s, gpa), in->p, n);
        in->p += n;
        in->n -= n;
        uint16_t d = (uint16_t)(f->next[qi]++ % QN);
        uint16_t flags = (uint16_t)((fl & 1) ? VRING_DESC_F_WRITE : 0);
        if (i + 1 < nb)
            flags |= VRING_DESC_F_NEXT;
        sim_desc(&f->s, q->desc, d, gpa, len, flags, (uint16_t)((d + 1) % QN));
    }
    sim_avail(&f->s, q, head);
}

static void raw_desc(struct fz *f, struct in *in)
{
    uint8_t qi, idx;
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
    if (take(in, &qi, 1) || take(in, &idx, 1) || take(in, &addr, 8) || take(in, &len, 4) ||
        take(in, &flags, 2) || take(in, &next, 2))
        return;
    qi %= 3;
    sim_desc(&f->s, f->q[qi].desc, idx % QN, addr, len, flags, next);
    sim_avail(&f->s, &f->q[qi], (uint16_t)(idx % QN));
}

static void drain(struct fz *f)
{
    static uint8_t sink[NET_MAX_FRAME];
    while (recv(f->peer, sink, sizeof(sink), MSG_DONTWAIT) > 0)
        ;
}

static void bring_up(struct fz *f)
{
    for (unsigned i = 0; i < 3; i++)
        simq_layout(&f->q[i], i, QN);
    memset(f->next, 0, sizeof(f->next));
    mmio_bring_up(&f->m, f->q, 3, 0);
}

static void step(struct fz *f, uint8_t op, struct in *in)
{
    static uint8_t frame[9000];
    uint16_t len;
    uint8_t b;
    switch (op % 9) {
    case 0:
        chain(f, in);
        break;
    case 1:
        raw_desc(f, in);
        break;
    case 2:
        if (take(in, &len, 2))
            return;
        len = (uint16_t)(len % sizeof(frame));
        memset(frame, 0xab, len);
        if (send(f->peer, frame, len, MSG_DONTWAIT) < 0)
            drain(f);
        break;
    case 3:
        if (take(in, &b, 1))
            return;
        mmio_wr(&f->m, VIRTIO_MMIO_QUEUE_NOTIFY, b % 3u);
        break;
    case 4:
        virtio_net_host_process(f->net);
        break;
    case 5:
        drain(f);
        break;
    case 6:
        bring_up(f);
        break;
    case 7: {
        uint8_t mac[6] = {0x02, 1, 2, 3, 4, 0};
        if (take(in, &mac[5], 1))
            return;
        if (virtio_net_attach(f->net, -1, mac))
            abort();
        break;
    }
    case 8:
        if (take(in, &len, 2))
            return;
        virtio_net_set_limit(f->net, (uint64_t)len * 1024, 0);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    static int inited;
    if (!inited) {
        log_init("fuzz", LOG_LVL_ERROR);
        inited = 1;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv))
        abort();
    f.peer = sv[1];
    sim_init(&f.s);
    static const uint8_t mac0[6] = {0x02, 0, 0, 0, 0, 1};
    if (virtio_mmio_init(&f.m, &virtio_net_ops, &f.s.mem, sim_irq, &f.s) ||
        virtio_net_create(&f.m.transport, sv[0], mac0, &f.net))
        abort();
    virtio_mmio_attach_dev(&f.m, f.net);
    bring_up(&f);
    struct in in = {data, size};
    uint8_t op;
    for (unsigned steps = 0; steps < 64 && take(&in, &op, 1) == 0; steps++)
        step(&f, op, &in);
    virtio_net_destroy(f.net);
    virtio_mmio_destroy(&f.m);
    close(f.peer);
    sim_free(&f.s);
    return 0;
}
