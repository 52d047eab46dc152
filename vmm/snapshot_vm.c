/*
 * vmm/snapshot_vm.c - a whole machine in and out of a snapshot: memory
 * layout, irqchip, PIT2, kvmclock, the vCPUs and the virtio slots, in the
 * order docs/fork.md fixes (see snapshot.h).
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"

static int save_vm_section(struct machine *m, struct snap_writer *w)
{
    struct vm *vm = m->vm;
    struct buf *b = w->out;
    int r;
    if ((r = snap_section_begin(w, SNAP_SEC_VM)) || (r = buf_put_u32_le(b, SNAP_VM_MAGIC)) ||
        (r = buf_put_u64_le(b, vm->ram_size)) || (r = buf_put_u32_le(b, vm->nr_vcpus)) ||
        (r = buf_put_u32_le(b, vm->mem.nr)))
        return r;
    for (unsigned i = 0; i < vm->mem.nr; i++)
        if ((r = buf_put_u64_le(b, vm->mem.regions[i].gpa)) ||
            (r = buf_put_u64_le(b, vm->mem.regions[i].size)))
            return r;
    if ((r = buf_put_u32_le(b, m->devices.nr_slots)))
        return r;
    for (unsigned i = 0; i < m->devices.nr_slots; i++)
        if ((r = buf_put_u32_le(b, m->devices.slots[i].mmio.ops->device_id)))
            return r;
    return snap_section_end(w);
}

int snap_save_machine(struct machine *m, struct snap_writer *w, char *why, size_t whysz)
{
    struct vm *vm = m->vm;
    int r;
    if ((r = save_vm_section(m, w)))
        return errmsg_sys(why, whysz, r, "VM section: %s", burrow_strerror(r));
    struct kvm_irqchip chips[3];
    memset(chips, 0, sizeof(chips));
    for (unsigned i = 0; i < 3; i++) {
        chips[i].chip_id = i; /* PIC master, PIC slave, IOAPIC */
        if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chips[i]) < 0)
            return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "KVM_GET_IRQCHIP %u", i);
    }
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
    memset(&clock, 0, sizeof(clock));
    if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "KVM_GET_PIT2");
    if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "KVM_GET_CLOCK");
    if ((r = snap_add(w, SNAP_SEC_IRQCHIP, chips, sizeof(chips))) ||
        (r = snap_add(w, SNAP_SEC_PIT, &pit, sizeof(pit))) ||
        (r = snap_add(w, SNAP_SEC_CLOCK, &clock.clock, sizeof(clock.clock))))
        return errmsg_sys(why, whysz, r, "VM state: %s", burrow_strerror(r));
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if ((r = snap_section_begin(w, SNAP_SEC_VCPU0 + i)) ||
            (r = snap_save_vcpu(&vm->vcpus[i], w->out)) || (r = snap_section_end(w)))
            return errmsg_sys(why, whysz, r, "vCPU %u state: %s", i, burrow_strerror(r));
    }
    for (unsigned i = 0; i < m->devices.nr_slots; i++) {
        struct device_slot *s = &m->devices.slots[i];
        if ((r = snap_section_begin(w, SNAP_SEC_DEVICE0 + i)) ||
            (r = virtio_mmio_save(&s->mmio, w->out)) || (r = snap_section_end(w)))
            return errmsg_sys(why, whysz, r, "%s state: %s", s->name, burrow_strerror(r));
    }
    return 0;
}

/* A fixed-size section copied out, or an error naming it. */
static int get_exact(const struct snapshot *s, uint32_t id, void *out, size_t len)
{
    struct buf in;
    int r = snap_find(s, id, &in);
    if (r)
        return r;
    if (buf_len(&in) != len)
        return BURROW_ERR_FORMAT;
    return buf_get_bytes(&in, out, len);
}

int snap_set_clock(struct machine *m, uint64_t ns)
{
    struct kvm_clock_data clock;
    memset(&clock, 0, sizeof(clock));
    clock.clock = ns; /* flags 0: the saved value, never KVM_CLOCK_REALTIME */
    return ioctl(m->vm->vm_fd, KVM_SET_CLOCK, &clock) < 0 ? BURROW_ERR_SYSTEM : 0;
}

static int restore_vm_state(struct machine *m, const struct snapshot *s, char *why, size_t whysz)
{
    struct vm *vm = m->vm;
    struct kvm_irqchip chips[3];
    struct kvm_pit_state2 pit;
    uint64_t clock;
    int r;
    if ((r = get_exact(s, SNAP_SEC_IRQCHIP, chips, sizeof(chips))) ||
        (r = get_exact(s, SNAP_SEC_PIT, &pit, sizeof(pit))) ||
        (r = get_exact(s, SNAP_SEC_CLOCK, &clock, sizeof(clock))))
        return errmsg_sys(why, whysz, r, "irqchip/PIT/clock sections: %s", burrow_strerror(r));
    for (unsigned i = 0; i < 3; i++) {
        if (chips[i].chip_id != i)
            return errmsg_sys(why, whysz, BURROW_ERR_FORMAT, "irqchip section: chip %u has id %u",
                              i, chips[i].chip_id);
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chips[i]) < 0)
            return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "KVM_SET_IRQCHIP %u", i);
    }
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &pit) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "KVM_SET_PIT2");
    if (snap_set_clock(m, clock))
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "KVM_SET_CLOCK");
    return 0;
}

int snap_restore_machine(struct machine *m, const struct snapshot *s, char *why, size_t whysz)
{
    struct vm *vm = m->vm;
    struct snap_vm_info info;
    int r = snap_vm_info(s, &info);
    if (r)
        return errmsg_sys(why, whysz, r, "VM section: %s", snap_strerror(r));
    if (info.mem_size != vm->ram_size || info.nr_vcpus != vm->nr_vcpus ||
        info.nr_slots != m->devices.nr_slots)
        return errmsg_sys(
            why, whysz, BURROW_ERR_FORMAT,
            "state is for %llu MiB, %u vCPUs, %u devices; this VM has %llu MiB, %u, %u",
            (unsigned long long)(info.mem_size / VM_MIB), info.nr_vcpus, info.nr_slots,
            (unsigned long long)(vm->ram_size / VM_MIB), vm->nr_vcpus, m->devices.nr_slots);
    for (unsigned i = 0; i < info.nr_slots; i++)
        if (info.slot_dev[i] != m->devices.slots[i].mmio.ops->device_id)
            return errmsg_sys(why, whysz, BURROW_ERR_FORMAT, "virtio slot %u: state for device %u",
                              i, info.slot_dev[i]);
    if ((r = restore_vm_state(m, s, why, whysz)))
        return r;
    struct buf in;
    uint64_t tsc;
    if ((r = snap_find(s, SNAP_SEC_VCPU0, &in)) || (r = snap_vcpu_tsc(in, &tsc)))
        return errmsg_sys(why, whysz, r, "vCPU 0 section: no TSC (%s)", burrow_strerror(r));
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if ((r = snap_find(s, SNAP_SEC_VCPU0 + i, &in)) ||
            (r = snap_restore_vcpu(&vm->vcpus[i], &in, tsc, why, whysz)))
            return r;
    }
    for (unsigned i = 0; i < m->devices.nr_slots; i++) {
        struct device_slot *slot = &m->devices.slots[i];
        if ((r = snap_find(s, SNAP_SEC_DEVICE0 + i, &in)) ||
            (r = virtio_mmio_restore(&slot->mmio, &in)))
            return errmsg_sys(why, whysz, r, "%s state: %s", slot->name, burrow_strerror(r));
    }
    return 0;
}
