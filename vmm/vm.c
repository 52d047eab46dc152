/* vmm/vm.c - KVM VM creation: capabilities, memory, irqchip, vCPUs (see vm.h). */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/vcpu.h"
#include "vmm/x86/cpuid.h"

struct vm_cap {
    int cap;
    const char *name;
};

/* Everything the VMM relies on; a missing one is a clear error up front. */
static const struct vm_cap vm_required_caps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_PIT_STATE2, "KVM_CAP_PIT_STATE2"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
    {KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
    {KVM_CAP_XSAVE, "KVM_CAP_XSAVE"},
    {KVM_CAP_XCRS, "KVM_CAP_XCRS"},
    {KVM_CAP_DEBUGREGS, "KVM_CAP_DEBUGREGS"},
    {KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"},
    {KVM_CAP_SYNC_MMU, "KVM_CAP_SYNC_MMU"},
};

static int vm_err(struct vm *vm, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int vm_err(struct vm *vm, int r, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->exit.detail, sizeof(vm->exit.detail), fmt, ap);
    va_end(ap);
    if (r == BURROW_ERR_SYSTEM) {
        size_t n = strlen(vm->exit.detail);
        snprintf(vm->exit.detail + n, sizeof(vm->exit.detail) - n, ": %s", strerror(saved));
    }
    errno = saved;
    return r;
}

static int vm_open_kvm(struct vm *vm)
{
    vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "cannot open /dev/kvm");
    int v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (v < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "/dev/kvm is not KVM: KVM_GET_API_VERSION");
    if (v != KVM_API_VERSION)
        return vm_err(vm, BURROW_ERR_KVM, "KVM API version %d, need %d", v, KVM_API_VERSION);
    for (size_t i = 0; i < sizeof(vm_required_caps) / sizeof(vm_required_caps[0]); i++)
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, vm_required_caps[i].cap) <= 0)
            return vm_err(vm, BURROW_ERR_KVM, "KVM lacks %s", vm_required_caps[i].name);
    int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max <= 0)
        max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max > 0 && vm->cfg.nr_vcpus > (unsigned)max)
        return vm_err(vm, BURROW_ERR_KVM, "KVM allows %d vCPUs, %u asked", max, vm->cfg.nr_vcpus);
    vm->vcpu_mmap_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (vm->vcpu_mmap_size < (int)sizeof(struct kvm_run))
        return vm_err(vm, BURROW_ERR_KVM, "bad KVM_GET_VCPU_MMAP_SIZE");
    return cpuid_get_supported(vm->kvm_fd, &vm->supported_cpuid);
}

static int vm_set_slot(struct vm *vm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
    struct kvm_userspace_memory_region r = {.slot = slot,
                                            .guest_phys_addr = gpa,
                                            .memory_size = size,
                                            .userspace_addr = (uint64_t)(uintptr_t)hva};
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "KVM_SET_USER_MEMORY_REGION slot %u", slot);
    int e = gmem_add_region(&vm->mem, gpa, hva, size);
    return e ? vm_err(vm, e, "guest memory region at 0x%llx", (unsigned long long)gpa) : 0;
}

/* One mapping for all RAM; a second memslot above 4 GiB if RAM spans the gap. */
static int vm_map_memory(struct vm *vm)
{
    uint64_t size = vm->cfg.mem_size;
    int flags = MAP_NORESERVE;
    int fd = vm->cfg.mem_fd;
    if (fd < 0)
        flags |= MAP_PRIVATE | MAP_ANONYMOUS;
    else
        flags |= vm->cfg.mem_private ? MAP_PRIVATE : MAP_SHARED;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (p == MAP_FAILED)
        return vm_err(vm, BURROW_ERR_SYSTEM, "cannot map %llu MiB of guest memory",
                      (unsigned long long)(size / VM_MIB));
    vm->ram = p;
    vm->ram_size = size;
    if (fd < 0)
        madvise(p, size, MADV_HUGEPAGE); /* first touch is ~13x cheaper with THP here */
    vm->low_size = size < VM_MMIO_GAP_START ? size : VM_MMIO_GAP_START;
    int r = vm_set_slot(vm, 0, 0, vm->low_size, vm->ram);
    if (r == 0 && size > vm->low_size)
        r = vm_set_slot(vm, 1, VM_MMIO_GAP_END, size - vm->low_size, vm->ram + vm->low_size);
    return r;
}

static int vm_create_irqchip(struct vm *vm)
{
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)VM_TSS_ADDR) < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "KVM_SET_TSS_ADDR");
    uint64_t idmap = VM_IDENTITY_ADDR;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "KVM_SET_IDENTITY_MAP_ADDR");
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "KVM_CREATE_PIT2");
    return 0;
}

unsigned vm_e820(const struct vm *vm, struct vm_e820 *out, unsigned max)
{
    struct vm_e820 map[] = {
        {0, 0x9fc00, 1},                        /* conventional memory */
        {0x9fc00, 0x100000 - 0x9fc00, 2},       /* EBDA, VGA, ROMs, ACPI tables */
        {0x100000, vm->low_size - 0x100000, 1}, /* RAM below the MMIO gap */
        {VM_MMIO_GAP_END, vm->ram_size - vm->low_size, 1},
    };
    unsigned n = 0;
    for (unsigned i = 0; i < 4 && n < max; i++)
        if (map[i].size)
            out[n++] = map[i];
    return n;
}

static int vm_check_config(const struct vm_config *cfg)
{
    if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > VM_MAX_VCPUS)
        return BURROW_ERR_RANGE;
    if (cfg->mem_size < 32 * VM_MIB || cfg->mem_size > 1024 * VM_GIB ||
        cfg->mem_size % (2 * VM_MIB))
        return BURROW_ERR_RANGE;
    return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out)
{
    *out = NULL;
    int r = vm_check_config(cfg);
    if (r)
        return r;
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return BURROW_ERR_NOMEM;
    vm->cfg = *cfg;
    vm->kvm_fd = vm->vm_fd = -1;
    gmem_init(&vm->mem);
    bus_init(&vm->bus);
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    uart_console_init(&vm->console);
    *out = vm;

    uint64_t t0 = clock_now_ns();
    if ((r = vm_open_kvm(vm)))
        return r;
    uint64_t t1 = clock_now_ns();
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0)
        return vm_err(vm, BURROW_ERR_SYSTEM, "KVM_CREATE_VM");
    uint64_t t2 = clock_now_ns();
    if ((r = vm_map_memory(vm)))
        return r;
    uint64_t t3 = clock_now_ns();
    if ((r = vm_create_irqchip(vm)))
        return r;
    uint64_t t4 = clock_now_ns();
    if ((r = evloop_new(&vm->loop)))
        return vm_err(vm, r, "event loop");
    for (unsigned i = 0; i < cfg->nr_vcpus; i++) {
        if ((r = vcpu_create(vm, i))) {
            vcpu_destroy(&vm->vcpus[i]); /* not counted in nr_vcpus yet */
            return r;
        }
        vm->nr_vcpus++;
    }
    uint64_t t5 = clock_now_ns();
    vm->t = (struct vm_timings){.open_ns = t1 - t0,
                                .create_ns = t2 - t1,
                                .memory_ns = t3 - t2,
                                .irqchip_ns = t4 - t3,
                                .vcpus_ns = t5 - t4};
    return 0;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    vm_request_stop(vm, VM_STOP_HOST, 0, "VM destroyed");
    vm_wait(vm, NULL);
    if (vm->loop)
        evloop_free(vm->loop);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_destroy(&vm->vcpus[i]);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->ram)
        munmap(vm->ram, vm->ram_size);
    free(vm->supported_cpuid);
    bus_fini(&vm->bus);
    pthread_mutex_destroy(&vm->lock);
    pthread_cond_destroy(&vm->cond);
    uart_console_destroy(&vm->console);
    free(vm);
}

int vm_add_ioeventfd(struct vm *vm, uint64_t mmio_addr, uint32_t len, uint64_t datamatch,
                     int use_datamatch, int fd)
{
    struct kvm_ioeventfd io = {.datamatch = datamatch,
                               .addr = mmio_addr,
                               .len = len,
                               .fd = fd,
                               .flags = use_datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0};
    if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

int vm_add_irqfd(struct vm *vm, unsigned gsi, int fd)
{
    struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = gsi};
    if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
    struct kvm_irq_level l = {.irq = gsi, .level = (uint32_t)level};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l) < 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}
