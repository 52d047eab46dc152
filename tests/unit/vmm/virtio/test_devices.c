/*
 * tests/unit/vmm/virtio/test_devices.c - the device table on a real KVM VM:
 * slot order, windows on the trap bus, a request served through real guest
 * RAM, failures that name the device, teardown that releases the socket and
 * the disk lock. Skips (saying why) without /dev/kvm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/lib/testutil.h"
#include "vmm/devices.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/mmio.h"

struct fx {
    struct vm *vm;
    struct devices d;
    char *dir;
    char uds[200], disk[200];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    *state = f;
    if (access("/dev/kvm", R_OK | W_OK))
        return 0; /* tests skip */
    struct vm_config vc = {.mem_size = 64 * VM_MIB, .nr_vcpus = 1, .mem_fd = -1};
    if (vm_create(&vc, &f->vm))
        return -1;
    f->dir = tu_mkdtemp("devices");
    snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
    snprintf(f->disk, sizeof(f->disk), "%s/disk.img", f->dir);
    int fd = open(f->disk, O_CREAT | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20))
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vm_destroy(f->vm);
    devices_destroy(&f->d);
    if (f->dir)
        tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

#define NEED_KVM(f)                                                                                \
    do {                                                                                           \
        if (!(f)->vm) {                                                                            \
            TU_SKIP("/dev/kvm is not accessible");                                                 \
        }                                                                                          \
    } while (0)

static uint32_t rd(struct fx *f, unsigned slot, uint64_t off)
{
    uint32_t v = 0;
    assert_int_equal(bus_dispatch(&f->vm->bus, BUS_MMIO,
                                  VM_VIRTIO_MMIO_BASE + slot * VM_VIRTIO_MMIO_SIZE + off,
                                  (uint8_t *)&v, 4, 0),
                     0);
    return v;
}

static void wr(struct fx *f, unsigned slot, uint64_t off, uint32_t v)
{
    assert_int_equal(bus_dispatch(&f->vm->bus, BUS_MMIO,
                                  VM_VIRTIO_MMIO_BASE + slot * VM_VIRTIO_MMIO_SIZE + off,
                                  (uint8_t *)&v, 4, 1),
                     0);
}

static void test_slots_in_table_order(void **state)
{
    struct fx *f = *state;
    NEED_KVM(f);
    struct devices_config dc = {.vsock_uds = f->uds, .guest_cid = 7, .disk = f->disk};
    char why[200] = "";
    assert_int_equal(devices_create(&f->d, f->vm, &dc, why, sizeof(why)), 0);
    struct vm_virtio_slot s[VM_VIRTIO_MAX];
    assert_int_equal(devices_slots(&f->d, s, VM_VIRTIO_MAX), 3);
    uint32_t ids[] = {19, 2, 4};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(s[i].base, VM_VIRTIO_MMIO_BASE + i * 0x1000);
        assert_int_equal(s[i].gsi, 16 + i);
        assert_int_equal(rd(f, i, VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
        assert_int_equal(rd(f, i, VIRTIO_MMIO_VERSION), 2);
        assert_int_equal(rd(f, i, VIRTIO_MMIO_DEVICE_ID), ids[i]);
    }
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_CONFIG), 7);    /* guest CID */
    assert_int_equal(rd(f, 1, VIRTIO_MMIO_CONFIG), 2048); /* 1 MiB in sectors */
    assert_int_equal(access(f->uds, F_OK), 0);
    int fd;
    assert_int_equal(blk_image_open_locked(f->disk, false, &fd), BURROW_ERR_BUSY);
    /* teardown order: VM first, then the devices; socket and lock go with them */
    vm_destroy(f->vm);
    f->vm = NULL;
    devices_destroy(&f->d);
    assert_int_not_equal(access(f->uds, F_OK), 0);
    assert_int_equal(blk_image_open_locked(f->disk, false, &fd), 0);
    close(fd);
}

static void test_rng_request_through_guest_ram(void **state)
{
    struct fx *f = *state;
    NEED_KVM(f);
    struct devices_config dc = {0};
    char why[200];
    assert_int_equal(devices_create(&f->d, f->vm, &dc, why, sizeof(why)), 0);
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_DEVICE_ID), 4); /* rng alone takes slot 0 */
    /* rings at 1 MiB, one 32-byte buffer at 2 MiB */
    uint64_t desc = 0x100000, avail = desc + 16 * 8, used = 0x101000, buf = 0x200000;
    uint8_t *d = gmem_ptr(&f->vm->mem, desc, 16);
    uint64_t a = buf;
    uint32_t len = 32;
    uint16_t flags = VRING_DESC_F_WRITE, next = 0, one = 1, head = 0;
    memcpy(d, &a, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    memcpy(gmem_ptr(&f->vm->mem, avail + 4, 2), &head, 2);
    memcpy(gmem_ptr(&f->vm->mem, avail + 2, 2), &one, 2);
    wr(f, 0, VIRTIO_MMIO_STATUS, 1);
    wr(f, 0, VIRTIO_MMIO_STATUS, 3);
    wr(f, 0, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, 0, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wr(f, 0, VIRTIO_MMIO_STATUS, 0xb);
    wr(f, 0, VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(f, 0, VIRTIO_MMIO_QUEUE_NUM, 8);
    wr(f, 0, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    wr(f, 0, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    wr(f, 0, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    wr(f, 0, VIRTIO_MMIO_QUEUE_READY, 1);
    wr(f, 0, VIRTIO_MMIO_STATUS, 0xf);
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_STATUS), 0xf);
    wr(f, 0, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* the trap path (no ioeventfd without a vCPU) */
    uint16_t used_idx;
    memcpy(&used_idx, gmem_ptr(&f->vm->mem, used + 2, 2), 2);
    assert_int_equal(used_idx, 1);
    static const uint8_t zero[32];
    assert_memory_not_equal(gmem_ptr(&f->vm->mem, buf, 32), zero, 32);
    assert_int_equal(rd(f, 0, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
}

static void test_failure_names_device(void **state)
{
    struct fx *f = *state;
    NEED_KVM(f);
    struct devices_config dc = {.vsock_uds = f->uds, .disk = "/nonexistent/disk.img"};
    char why[200] = "";
    assert_int_equal(devices_create(&f->d, f->vm, &dc, why, sizeof(why)), BURROW_ERR_NOT_FOUND);
    assert_non_null(strstr(why, "virtio-blk"));
    devices_destroy(&f->d); /* reverse teardown of what was set up */
    assert_int_not_equal(access(f->uds, F_OK), 0);

    /* a disk another holder has locked */
    int fd;
    assert_int_equal(blk_image_open_locked(f->disk, false, &fd), 0);
    dc.vsock_uds = NULL;
    dc.disk = f->disk;
    vm_destroy(f->vm);
    struct vm_config vc = {.mem_size = 64 * VM_MIB, .nr_vcpus = 1, .mem_fd = -1};
    assert_int_equal(vm_create(&vc, &f->vm), 0);
    assert_int_equal(devices_create(&f->d, f->vm, &dc, why, sizeof(why)), BURROW_ERR_BUSY);
    assert_non_null(strstr(why, "virtio-blk"));
    close(fd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_slots_in_table_order),
        T(test_rng_request_through_guest_ram),
        T(test_failure_names_device),
    };
    return cmocka_run_group_tests_name("vmm/devices", tests, NULL, NULL);
}
