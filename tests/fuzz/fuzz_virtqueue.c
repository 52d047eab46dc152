/*
 * tests/fuzz/fuzz_virtqueue.c - libFuzzer harness for the split-virtqueue
 * walker: the input is the guest's memory (rings, descriptors, indirect
 * tables) plus a few queue parameters; the device side pops, reads, writes
 * and pushes every chain it is given. ASan catches any access outside the
 * simulated guest RAM.
 *
 * Input: [0] log2 ring size (mod 9), [1] flags (bit0 indirect, bit1 event
 * idx), [2..3] avail idx start, then guest RAM bytes from gpa 0x10000.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "vmm/gmem.h"
#include "vmm/virtio/queue.h"

#define RAM_GPA  0x10000ull
#define RAM_SIZE 0x8000u
#define HI_GPA   0x100000ull /* a second region, so region boundaries are exercised */
#define HI_SIZE  0x1000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *ram, *hi;
    static struct vq_chain chain;
    if (!ram) {
        log_set_level(LOG_LVL_ERROR);
        ram = malloc(RAM_SIZE);
        hi = malloc(HI_SIZE);
    }
    if (size < 4)
        return 0;
    memset(ram, 0, RAM_SIZE);
    memset(hi, 0, HI_SIZE);
    size_t n = size - 4 < RAM_SIZE ? size - 4 : RAM_SIZE;
    memcpy(ram, data + 4, n);
    if (size - 4 > RAM_SIZE) {
        size_t m = size - 4 - RAM_SIZE < HI_SIZE ? size - 4 - RAM_SIZE : HI_SIZE;
        memcpy(hi, data + 4 + RAM_SIZE, m);
    }

    struct gmem mem;
    gmem_init(&mem);
    if (gmem_add_region(&mem, RAM_GPA, ram, RAM_SIZE) || gmem_add_region(&mem, HI_GPA, hi, HI_SIZE))
        abort();

    struct vq q;
    vq_init(&q, 256);
    q.num = (uint16_t)(1u << (data[0] % 9));
    q.indirect = data[1] & 1;
    q.event_idx = data[1] & 2;
    q.desc_gpa = RAM_GPA;
    q.avail_gpa = RAM_GPA + 16ull * q.num;
    q.used_gpa = (q.avail_gpa + 6 + 2ull * q.num + 3) & ~3ull;
    if (vq_validate(&q, &mem))
        return 0;
    q.ready = true;
    q.last_avail = (uint16_t)(data[2] | data[3] << 8);

    for (int i = 0; i < 512; i++) {
        int r = vq_pop(&q, &mem, &chain);
        if (r <= 0)
            break;
        /* Touch every byte range the walker handed out. */
        uint8_t tmp[64];
        uint8_t sink = 0;
        for (unsigned b = 0; b < chain.nr_out + chain.nr_in; b++) {
            sink ^= chain.bufs[b].p[0];
            sink ^= chain.bufs[b].p[chain.bufs[b].len - 1];
        }
        (void)vq_chain_read(&chain, chain.out_bytes / 2, tmp, sizeof(tmp));
        tmp[0] = sink;
        (void)vq_chain_write(&chain, chain.in_bytes / 3, tmp, sizeof(tmp));
        struct iovec iov[8];
        (void)vq_chain_iov(&chain, true, 1, 1000, iov, 8);
        vq_push(&q, chain.head, (uint32_t)chain.in_bytes);
        (void)vq_should_signal(&q);
    }
    (void)vq_enable_notify(&q);
    return 0;
}
