/*
 * vmm/devices.h - the VM's virtio devices, wired to KVM: one ordered table
 * (vsock, blk, rng, net, root blk, balloon), initialised in order and torn
 * down in reverse; a failure names the device. Devices a template gained
 * later come last, so the slots of older templates' devices never move.
 *
 * Owns: each device's virtio-mmio slot (window at VM_VIRTIO_MMIO_BASE +
 * i * VM_VIRTIO_MMIO_SIZE on the trap bus, GSI VM_VIRTIO_GSI_BASE + i), the
 * eventfds behind its queue kicks (KVM ioeventfd, datamatch = queue index,
 * served on the VM's event thread, so a kick never stops the vCPU) and its
 * interrupt (KVM irqfd, edge-triggered as the DSDT says).
 *
 * Lifetime: devices_create after vm_create and before the ACPI tables are
 * built (devices_slots feeds them); devices_destroy only after vm_destroy
 * (the vCPUs and the event thread must be gone). struct devices must stay
 * at a fixed address in between: the bus and the event loop point into it.
 */
#ifndef BURROW_VMM_DEVICES_H
#define BURROW_VMM_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/virtio/mmio.h"
#include "vmm/vm.h"

struct devices_config {
    const char *vsock_uds; /* NULL: no vsock device */
    uint64_t guest_cid;    /* 0: 3 */
    const char *disk;      /* NULL: no disk (unless disk_empty_slot) */
    bool disk_ro;
    bool disk_empty_slot; /* a blk slot with no medium yet (home disk at fork) */
    bool no_rng;
    /*
     * A virtio-net slot (last in the table, so slot numbers of templates
     * without one do not move). net_tap_fd: the backend, owned by the device
     * from devices_create on (closed on failure too); -1: no backend yet
     * (link down, attached at fork). net_mac all zero: 02:00:00:00:00:01.
     */
    bool net;
    int net_tap_fd;
    uint8_t net_mac[6];
    uint64_t net_rate; /* bytes/s per direction, 0: unlimited */
    /* A read-only root filesystem disk (template --rootfs, vmm/rootfs.h) in a
     * slot after the others, so the home slot stays the guest's vda. */
    const char *root_disk;
    /* virtio-balloon (free page reporting, stats, inflate/deflate) in the last slot. */
    bool balloon;
};

struct virtio_vsock;
struct virtio_blk;
struct virtio_rng;
struct virtio_net;
struct virtio_balloon;

struct device_slot;

/* One queue's kick: an ioeventfd the event thread turns into a notify. */
struct slot_kick {
    struct device_slot *slot;
    unsigned q;
    int fd;
};

struct device_slot {
    struct devices *owner;
    const char *name;
    unsigned index;
    struct virtio_mmio mmio;
    bool mmio_ready;
    int irq_fd;
    struct slot_kick kicks[VIRTIO_MAX_QUEUES];
};

struct devices {
    struct vm *vm;
    struct device_slot slots[VM_VIRTIO_MAX];
    unsigned nr_slots;
    unsigned nr_done;   /* table entries initialised (for the reverse teardown) */
    const char *detail; /* what the failing entry was working on (a path), for `why` */
    struct virtio_vsock *vsock;
    struct virtio_blk *blk;
    struct virtio_rng *rng;
    struct virtio_net *net;
    struct virtio_blk *root_blk;
    struct virtio_balloon *balloon;
};

/* On failure `why` names the device and the reason; devices_destroy is still safe. */
__attribute__((warn_unused_result)) int devices_create(struct devices *d, struct vm *vm,
                                                       const struct devices_config *cfg, char *why,
                                                       size_t why_size);
void devices_destroy(struct devices *d);
/* The slots in use, for the DSDT (acpi_config.virtio / nr_virtio). */
unsigned devices_slots(const struct devices *d, struct vm_virtio_slot *out, unsigned max);

#endif /* BURROW_VMM_DEVICES_H */
