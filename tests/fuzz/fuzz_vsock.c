/*
 * tests/fuzz/fuzz_vsock.c - libFuzzer harness for the virtio-vsock packet
 * handler and connection state machine, driven through a simulated guest
 * (tests/unit/vmm/virtio/vsock_guest.h) and an internal port handler whose
 * socketpair end plays the host. The input is a script of records:
 *   0: raw tx packet  [44-byte header][u8 extra][u8 payload len]
 *   1: structured packet [op][guest port][host port sel][u8 len][u32 alloc][u32 fwd]
 *   2: drain rx       3: host writes [u8 len]   4: host reads
 *   5: host closes    6: transport reset        7: device reset + bring-up
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIM_REUSE_RAM 1
#include "common/log.h"
#include "tests/unit/vmm/virtio/vsock_guest.h"
#include "tests/fuzz/fuzz_input.h"

#define MAX_FDS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fds[MAX_FDS];
static unsigned nr_fds;

static void on_accept(void *ctx, int fd, uint32_t guest_port)
{
    (void)ctx;
    (void)guest_port;
    if (nr_fds < MAX_FDS)
        fds[nr_fds++] = fd;
    else
        close(fd);
}

static void structured(struct gv *g, struct in *in)
{
    uint8_t b[4];
    uint32_t alloc = 0, fwd = 0;
    if (take(in, b, 4) || take(in, &alloc, 4) || take(in, &fwd, 4))
        return;
    static const uint16_t ops[] = {0, 1, 2, 3, 4, 5, 6, 7, 9};
    uint32_t hports[] = {1025, 1024, 1u << 30, (1u << 30) + 1};
    static uint8_t payload[256];
    memset(payload, b[3], sizeof(payload));
    gv_send(g, ops[b[0] % 9], 1000 + b[1] % 4, hports[b[2] % 4], payload, b[3], b[0] >> 4, alloc,
            fwd);
}

static void raw(struct gv *g, struct in *in)
{
    uint8_t pkt[VSOCK_HDR_SIZE + 256];
    uint8_t extra[2];
    if (take(in, pkt, VSOCK_HDR_SIZE) || take(in, extra, 2))
        return;
    if (extra[0] & 1) { /* keep the CIDs valid half the time so packets get further */
        uint64_t cid = GV_CID, host = VSOCK_HOST_CID;
        memcpy(pkt, &cid, 8);
        memcpy(pkt + 8, &host, 8);
    }
    memset(pkt + VSOCK_HDR_SIZE, 0x5a, 256);
    uint32_t len = VSOCK_HDR_SIZE + extra[1];
    gv_send_raw(g, pkt, len, extra[0] & 2 ? len : VSOCK_HDR_SIZE + (extra[0] >> 2));
}

static void host_write(struct in *in)
{
    uint8_t len;
    static uint8_t buf[256];
    if (take(in, &len, 1) || !nr_fds)
        return;
    ssize_t r = send(fds[len % nr_fds], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)r;
}

static void host_read(void)
{
    static uint8_t buf[4096];
    for (unsigned i = 0; i < nr_fds; i++) {
        ssize_t r = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
        (void)r;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gv g;
    log_set_level(LOG_LVL_ERROR);
    if (gv_init(&g, NULL) || virtio_vsock_register_port(g.v, 1025, on_accept, NULL))
        abort();
    struct in in = {data, size};
    uint8_t op;
    for (int steps = 0; steps < 128 && !take(&in, &op, 1); steps++) {
        struct vsock_hdr h;
        switch (op % 8) {
        case 0:
            raw(&g, &in);
            break;
        case 1:
            structured(&g, &in);
            break;
        case 2:
            while (gv_recv(&g, &h, NULL, 0))
                ;
            gv_kick_rx(&g);
            break;
        case 3:
            host_write(&in);
            virtio_vsock_host_process(g.v);
            break;
        case 4:
            host_read();
            virtio_vsock_host_process(g.v);
            break;
        case 5:
            if (nr_fds)
                close(fds[--nr_fds]);
            virtio_vsock_host_process(g.v);
            break;
        case 6:
            virtio_vsock_transport_reset(g.v);
            break;
        case 7:
            mmio_wr(&g.m, VIRTIO_MMIO_STATUS, 0);
            break;
        }
    }
    while (nr_fds)
        close(fds[--nr_fds]);
    gv_fini(&g);
    return 0;
}
