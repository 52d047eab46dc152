/* vmm/devices.c - virtio devices wired into the VM (see devices.h). */
#include "vmm/devices.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/rootfs.h"
#include "vmm/virtio/balloon.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/net/net.h"
#include "vmm/virtio/rng.h"
#include "vmm/virtio/vsock/vsock.h"

static void slot_irq(void *ctx)
{
    struct device_slot *s = ctx;
    uint64_t one = 1;
    /* An irqfd write injects the edge; EAGAIN only means one is already pending. */
    ssize_t r = write(s->irq_fd, &one, sizeof(one));
    (void)r;
}

static void slot_kick(void *ctx, int fd, uint32_t events)
{
    (void)events;
    struct slot_kick *k = ctx;
    uint64_t cnt;
    ssize_t r = read(fd, &cnt, sizeof(cnt)); /* reset the counter; kicks coalesce */
    (void)r;
    virtio_mmio_notify(&k->slot->mmio, k->q);
}

/* A device yielded: kick its queue again through the event loop. */
static void slot_requeue(void *ctx, unsigned q)
{
    struct device_slot *s = ctx;
    uint64_t one = 1;
    if (q < VIRTIO_MAX_QUEUES && s->kicks[q].fd >= 0) {
        ssize_t r = write(s->kicks[q].fd, &one, sizeof(one));
        (void)r;
    }
}

/* Claim the next slot and set up its transport (the device binds later). */
static int slot_open(struct devices *d, const char *name, const struct virtio_dev_ops *ops,
                     struct device_slot **out)
{
    if (d->nr_slots >= VM_VIRTIO_MAX)
        return BURROW_ERR_TOO_LARGE;
    struct device_slot *s = &d->slots[d->nr_slots];
    memset(s, 0, sizeof(*s));
    s->owner = d;
    s->name = name;
    s->index = d->nr_slots;
    s->irq_fd = -1;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        s->kicks[q] = (struct slot_kick){.slot = s, .q = q, .fd = -1};
    int r = virtio_mmio_init(&s->mmio, ops, &d->vm->mem, slot_irq, s);
    if (r)
        return r;
    s->mmio_ready = true;
    virtio_mmio_set_requeue(&s->mmio, slot_requeue, s);
    d->nr_slots++;
    *out = s;
    return 0;
}

/* Device bound: interrupts, the register window, one ioeventfd per queue. */
static int slot_wire(struct devices *d, struct device_slot *s, void *dev)
{
    uint64_t base = VM_VIRTIO_MMIO_BASE + (uint64_t)s->index * VM_VIRTIO_MMIO_SIZE;
    int r;
    virtio_mmio_attach_dev(&s->mmio, dev);
    s->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->irq_fd < 0)
        return BURROW_ERR_SYSTEM;
    if ((r = vm_add_irqfd(d->vm, VM_VIRTIO_GSI_BASE + s->index, s->irq_fd)))
        return r;
    for (unsigned q = 0; q < s->mmio.ops->nr_queues; q++) {
        struct slot_kick *k = &s->kicks[q];
        k->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (k->fd < 0)
            return BURROW_ERR_SYSTEM;
        if ((r = vm_add_ioeventfd(d->vm, base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, 1, k->fd)) ||
            (r = evloop_add(d->vm->loop, k->fd, EPOLLIN, slot_kick, k)))
            return r;
    }
    return bus_register_mmio(&d->vm->bus, base, VM_VIRTIO_MMIO_SIZE, virtio_mmio_io, &s->mmio);
}

static void slot_close(struct device_slot *s)
{
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        if (s->kicks[q].fd >= 0)
            close(s->kicks[q].fd);
    if (s->irq_fd >= 0)
        close(s->irq_fd);
    if (s->mmio_ready)
        virtio_mmio_destroy(&s->mmio);
    s->mmio_ready = false;
}

static void vsock_host_ready(void *ctx, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    virtio_vsock_host_process(ctx);
}

/* ---- the table ---- */

static int vsock_init(struct devices *d, const struct devices_config *cfg)
{
    if (!cfg->vsock_uds)
        return 0;
    struct device_slot *s;
    int r;
    d->detail = cfg->vsock_uds;
    if ((r = slot_open(d, "vsock", &virtio_vsock_ops, &s)) ||
        (r = virtio_vsock_create(&s->mmio.transport, cfg->guest_cid ? cfg->guest_cid : 3,
                                 cfg->vsock_uds, &d->vsock)))
        return r;
    if ((r = slot_wire(d, s, d->vsock)))
        return r;
    return evloop_add(d->vm->loop, virtio_vsock_host_fd(d->vsock), EPOLLIN, vsock_host_ready,
                      d->vsock);
}

static void vsock_exit(struct devices *d)
{
    virtio_vsock_destroy(d->vsock);
    d->vsock = NULL;
}

static int blk_init(struct devices *d, const struct devices_config *cfg)
{
    if (!cfg->disk && !cfg->disk_empty_slot)
        return 0;
    struct device_slot *s;
    int r;
    d->detail = cfg->disk;
    if ((r = slot_open(d, "blk", &virtio_blk_ops, &s)) ||
        (r = virtio_blk_create(&s->mmio.transport, cfg->disk, cfg->disk_ro, "burrow-disk0",
                               &d->blk)))
        return r;
    return slot_wire(d, s, d->blk);
}

static void blk_exit(struct devices *d)
{
    virtio_blk_destroy(d->blk);
    d->blk = NULL;
}

static int rng_init(struct devices *d, const struct devices_config *cfg)
{
    if (cfg->no_rng)
        return 0;
    struct device_slot *s;
    int r;
    if ((r = slot_open(d, "rng", &virtio_rng_ops, &s)) ||
        (r = virtio_rng_create(&s->mmio.transport, &d->rng)))
        return r;
    return slot_wire(d, s, d->rng);
}

static void rng_exit(struct devices *d)
{
    virtio_rng_destroy(d->rng);
    d->rng = NULL;
}

static void net_host_ready(void *ctx, int fd, uint32_t events)
{
    (void)fd;
    (void)events;
    virtio_net_host_process(ctx);
}

static int net_init(struct devices *d, const struct devices_config *cfg)
{
    if (!cfg->net)
        return 0;
    static const uint8_t zero[6], fallback[6] = {0x02, 0, 0, 0, 0, 1};
    const uint8_t *mac = memcmp(cfg->net_mac, zero, 6) ? cfg->net_mac : fallback;
    struct device_slot *s;
    int r;
    if ((r = slot_open(d, "net", &virtio_net_ops, &s))) {
        if (cfg->net_tap_fd >= 0)
            close(cfg->net_tap_fd);
        return r;
    }
    if ((r = virtio_net_create(&s->mmio.transport, cfg->net_tap_fd, mac, &d->net)))
        return r;
    virtio_net_set_limit(d->net, cfg->net_rate, 0);
    if ((r = slot_wire(d, s, d->net)))
        return r;
    return evloop_add(d->vm->loop, virtio_net_host_fd(d->net), EPOLLIN, net_host_ready, d->net);
}

static void net_exit(struct devices *d)
{
    virtio_net_destroy(d->net);
    d->net = NULL;
}

/* The root filesystem: read-only for the device's life (VIRTIO_BLK_F_RO), shared lock. */
static int root_blk_init(struct devices *d, const struct devices_config *cfg)
{
    if (!cfg->root_disk)
        return 0;
    struct device_slot *s;
    int r;
    d->detail = cfg->root_disk;
    if ((r = slot_open(d, "root-blk", &virtio_blk_ops, &s)) ||
        (r = virtio_blk_create(&s->mmio.transport, cfg->root_disk, true, ROOTFS_SERIAL,
                               &d->root_blk)))
        return r;
    return slot_wire(d, s, d->root_blk);
}

static void root_blk_exit(struct devices *d)
{
    virtio_blk_destroy(d->root_blk);
    d->root_blk = NULL;
}

static int balloon_init(struct devices *d, const struct devices_config *cfg)
{
    if (!cfg->balloon)
        return 0;
    struct device_slot *s;
    int r;
    if ((r = slot_open(d, "balloon", &virtio_balloon_ops, &s)) ||
        (r = virtio_balloon_create(&s->mmio.transport, &d->vm->mem, &d->balloon)))
        return r;
    return slot_wire(d, s, d->balloon);
}

static void balloon_exit(struct devices *d)
{
    virtio_balloon_destroy(d->balloon);
    d->balloon = NULL;
}

static const struct device_entry {
    const char *name;
    int (*init)(struct devices *d, const struct devices_config *cfg);
    void (*exit)(struct devices *d);
} device_table[] = {
    {"virtio-vsock", vsock_init, vsock_exit},
    {"virtio-blk", blk_init, blk_exit},
    {"virtio-rng", rng_init, rng_exit},
    {"virtio-net", net_init, net_exit},
    {"virtio-blk (root)", root_blk_init, root_blk_exit},
    {"virtio-balloon", balloon_init, balloon_exit},
};

#define NR_ENTRIES (sizeof(device_table) / sizeof(device_table[0]))

int devices_create(struct devices *d, struct vm *vm, const struct devices_config *cfg, char *why,
                   size_t why_size)
{
    memset(d, 0, sizeof(*d));
    d->vm = vm;
    for (unsigned i = 0; i < NR_ENTRIES; i++) {
        d->detail = NULL;
        int r = device_table[i].init(d, cfg);
        d->nr_done = i + 1; /* a half-initialised entry is torn down too */
        if (r) {
            int e = errno;
            snprintf(why, why_size, "%s%s%s: %s%s%s", device_table[i].name, d->detail ? " " : "",
                     d->detail ? d->detail : "", burrow_strerror(r),
                     r == BURROW_ERR_SYSTEM ? ": " : "", r == BURROW_ERR_SYSTEM ? strerror(e) : "");
            return r;
        }
    }
    return 0;
}

void devices_destroy(struct devices *d)
{
    for (unsigned i = d->nr_done; i-- > 0;)
        device_table[i].exit(d);
    d->nr_done = 0;
    for (unsigned i = d->nr_slots; i-- > 0;)
        slot_close(&d->slots[i]);
    d->nr_slots = 0;
}

unsigned devices_slots(const struct devices *d, struct vm_virtio_slot *out, unsigned max)
{
    unsigned n = d->nr_slots < max ? d->nr_slots : max;
    for (unsigned i = 0; i < n; i++)
        out[i] =
            (struct vm_virtio_slot){.base = VM_VIRTIO_MMIO_BASE + (uint64_t)i * VM_VIRTIO_MMIO_SIZE,
                                    .size = VM_VIRTIO_MMIO_SIZE,
                                    .gsi = VM_VIRTIO_GSI_BASE + i};
    return n;
}
