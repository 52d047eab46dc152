/*
 * tests/testguest/dev_modes.c - `testguest.mode=blk` and `testguest.mode=rng`,
 * polled drivers on virtio.c's helpers, for the KVM tier.
 *
 * blk: writes TG_BLK_COUNT sectors from TG_BLK_FIRST with the pattern
 * tg_blk_word(seed, sector, word) (abi.h; `testguest.blk_seed=N`, default 1)
 * in requests of 64 sectors, reads them back and compares, asks for the
 * device id, FLUSHes, prints
 *   testguest: blk flushed first=F count=N seed=S id=ID
 * and halts for good, so the host can SIGKILL the VMM and read the image.
 *
 * rng: two 32-byte reads from virtio-rng, printed as
 *   testguest: rng a=HEX b=HEX
 * then exit 0 (the host compares them, and with another boot's).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tests/testguest/abi.h"
#include "tests/testguest/agent.h"
#include "tests/testguest/console.h"
#include "tests/testguest/cpu.h"
#include "tests/testguest/virtio.h"

void tg_blk_main(const char *cmdline) __attribute__((noreturn));
void tg_rng_main(void) __attribute__((noreturn));

#define DEBUG_EXIT   0xf4
#define BLK_F_FLUSH  (1u << 9)
#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_T_FLUSH  4
#define BLK_T_GET_ID 8
#define BLK_PER_REQ  64
#define RNG_BYTES    32

struct blk_req_hdr {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct tg_vdev dev;
static struct tg_vq q;
static struct blk_req_hdr req;
static volatile uint8_t status;
static uint8_t data[BLK_PER_REQ * 512] __attribute__((aligned(4096)));
static uint8_t back[BLK_PER_REQ * 512] __attribute__((aligned(4096)));

/* One request: header, an optional data buffer, the status byte; returns the status. */
static uint8_t blk_do(uint32_t type, uint64_t sector, void *buf, uint32_t len, int dev_writes)
{
    req = (struct blk_req_hdr){type, 0, sector};
    status = 0xff;
    struct tg_vbuf b[3] = {{&req, sizeof(req), 0}, {buf, len, dev_writes}, {(void *)&status, 1, 1}};
    if (len)
        tg_vq_add(&q, 0, b, 3);
    else {
        b[1] = b[2];
        tg_vq_add(&q, 0, b, 2);
    }
    tg_vq_kick(&dev, 0);
    uint32_t id, used;
    tg_vq_wait(&dev, &q, &id, &used, "virtio-blk request not completed");
    return status;
}

void tg_blk_mark_synced(unsigned sector, const char *mark, unsigned len)
{
    if (!tg_vdev_find(TG_VIRTIO_ID_BLK, &dev))
        tg_fail("no virtio-blk device for the home disk");
    tg_vdev_start(&dev, BLK_F_FLUSH);
    tg_vq_setup(&dev, 0, &q, 4);
    tg_vdev_ready(&dev);
    tg_vq_irq(&q, 0);
    memset(data, 0, 512);
    memcpy(data, mark, len < 512 ? len : 512);
    if (blk_do(BLK_T_OUT, sector, data, 512, 0) != 0 || blk_do(BLK_T_FLUSH, 0, NULL, 0, 0) != 0)
        tg_fail("home disk: the sync mark was not written");
    tg_puts("testguest: home disk synced\n");
}

static void fill(uint64_t seed, uint64_t first)
{
    for (uint32_t s = 0; s < BLK_PER_REQ; s++)
        for (uint32_t w = 0; w < 64; w++) {
            uint64_t v = tg_blk_word(seed, first + s, w);
            memcpy(data + s * 512 + w * 8, &v, 8);
        }
}

void tg_blk_main(const char *cmdline)
{
    char arg[24];
    uint64_t seed = 1;
    if (tg_cmdline_get(cmdline, "testguest.blk_seed", arg, sizeof(arg))) {
        seed = 0;
        for (const char *p = arg; *p >= '0' && *p <= '9'; p++)
            seed = seed * 10 + (uint64_t)(*p - '0');
    }
    if (!tg_vdev_find(TG_VIRTIO_ID_BLK, &dev))
        tg_fail("no virtio-blk device");
    tg_priv_install();
    tg_vdev_start(&dev, BLK_F_FLUSH);
    tg_vq_setup(&dev, 0, &q, 4);
    tg_vdev_ready(&dev);
    tg_vq_irq(&q, 0);
    uint64_t capacity = tg_vdev_cfg32(&dev, 0) | (uint64_t)tg_vdev_cfg32(&dev, 4) << 32;
    if (capacity < TG_BLK_FIRST + TG_BLK_COUNT)
        tg_fail("virtio-blk disk too small for the pattern");
    for (uint64_t s = TG_BLK_FIRST; s < TG_BLK_FIRST + TG_BLK_COUNT; s += BLK_PER_REQ) {
        fill(seed, s);
        if (blk_do(BLK_T_OUT, s, data, sizeof(data), 0) != 0)
            tg_fail("virtio-blk write failed");
        memset(back, 0, sizeof(back));
        if (blk_do(BLK_T_IN, s, back, sizeof(back), 1) != 0)
            tg_fail("virtio-blk read failed");
        if (memcmp(back, data, sizeof(data)) != 0)
            tg_fail("virtio-blk read back other data than written");
    }
    char id[21];
    memset(id, 0, sizeof(id));
    if (blk_do(BLK_T_GET_ID, 0, id, 20, 1) != 0)
        tg_fail("virtio-blk GET_ID failed");
    for (unsigned i = 0; i < 20; i++)
        if (id[i] && (id[i] < 0x21 || id[i] > 0x7e))
            id[i] = '?';
    if (blk_do(BLK_T_FLUSH, 0, NULL, 0, 0) != 0)
        tg_fail("virtio-blk flush failed");
    tg_puts("testguest: blk flushed first=");
    tg_putu(TG_BLK_FIRST);
    tg_puts(" count=");
    tg_putu(TG_BLK_COUNT);
    tg_puts(" seed=");
    tg_putu(seed);
    tg_puts(" id=");
    tg_puts(id);
    tg_puts("\n");
    for (;;)
        tg_priv(TG_PRIV_IDLE, 0, 0); /* no interrupt source: halted until SIGKILL */
}

static void rng_read(uint8_t *buf)
{
    struct tg_vbuf b = {buf, RNG_BYTES, 1};
    tg_vq_add(&q, 0, &b, 1);
    tg_vq_kick(&dev, 0);
    uint32_t id, len;
    tg_vq_wait(&dev, &q, &id, &len, "virtio-rng read not completed");
    if (len != RNG_BYTES)
        tg_fail("virtio-rng returned a short read");
}

void tg_rng_main(void)
{
    static uint8_t a[RNG_BYTES], b[RNG_BYTES];
    if (!tg_vdev_find(TG_VIRTIO_ID_RNG, &dev))
        tg_fail("no virtio-rng device");
    tg_vdev_start(&dev, 0);
    tg_vq_setup(&dev, 0, &q, 4);
    tg_vdev_ready(&dev);
    tg_vq_irq(&q, 0);
    rng_read(a);
    rng_read(b);
    tg_puts("testguest: rng a=");
    tg_puthex(a, RNG_BYTES);
    tg_puts(" b=");
    tg_puthex(b, RNG_BYTES);
    tg_puts("\ntestguest: ok\n");
    outb(DEBUG_EXIT, 0);
    for (;;)
        ;
}
