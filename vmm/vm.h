/*
 * vmm/vm.h - one KVM virtual machine: fds, guest memory, vCPU threads, the
 * trap bus and the device/event loop.
 *
 * Owns: the /dev/kvm and VM fds, the guest RAM mapping and its memslots, the
 * in-kernel irqchip + PIT2, the vCPUs (vmm/vcpu.c runs them), and the stop /
 * pause state shared by the vCPU threads. Lifecycle:
 *   vm_create -> (load a kernel, register devices) -> vm_start -> vm_wait
 *   -> vm_destroy.
 * vm_pause/vm_resume may be called between vm_start and vm_wait returning.
 *
 * Guest physical memory map (x86, see docs/vmm.md):
 *   [0, 3 GiB)           RAM (the legacy hole 0x9fc00-0x100000 is reserved
 *                        in the e820 map but backed, like real PCs)
 *   [3 GiB, 4 GiB)       MMIO gap: virtio-mmio at 0xd0000000 + i*0x1000,
 *                        IOAPIC 0xfec00000, LAPIC 0xfee00000
 *   [4 GiB, ...)         the rest of RAM, in its own memslot
 */
#ifndef BURROW_VMM_VM_H
#define BURROW_VMM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"
#include "vmm/bus.h"
#include "vmm/evloop.h"
#include "vmm/gmem.h"
#include "vmm/hw/uart16550.h"

#define VM_MAX_VCPUS 64
#define VM_MIB       (1024ull * 1024)
#define VM_GIB       (1024ull * VM_MIB)

#define VM_MMIO_GAP_START (3 * VM_GIB) /* RAM above this moves to 4 GiB */
#define VM_MMIO_GAP_END   (4 * VM_GIB)
#define VM_IOAPIC_ADDR    0xfec00000ull
#define VM_LAPIC_ADDR     0xfee00000ull
#define VM_TSS_ADDR       0xfffbd000ull /* KVM_SET_TSS_ADDR: 3 pages */
#define VM_IDENTITY_ADDR  0xfffbc000ull /* KVM_SET_IDENTITY_MAP_ADDR: 1 page */

/* virtio-mmio slots: the virtio helper's devices.c fills them in order. */
#define VM_VIRTIO_MMIO_BASE 0xd0000000ull
#define VM_VIRTIO_MMIO_SIZE 0x1000u
#define VM_VIRTIO_GSI_BASE  16u /* IOAPIC pins 16..23: edge, active high */
#define VM_VIRTIO_MAX       8u

struct vm_virtio_slot {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
};

/* Legacy ports and IRQs. */
#define VM_COM1_PORT           0x3f8
#define VM_COM1_IRQ            4
#define VM_DEBUG_EXIT_PORT     0xf4  /* guest writes its exit status here */
#define VM_ACPI_SLEEP_CTL_PORT 0x600 /* FADT SLEEP_CONTROL_REG */
#define VM_ACPI_SLEEP_STS_PORT 0x601 /* FADT SLEEP_STATUS_REG */

struct vm_config {
    uint64_t mem_size; /* bytes, multiple of 2 MiB, >= 32 MiB */
    unsigned nr_vcpus; /* 1..VM_MAX_VCPUS */
    int mem_fd;        /* -1: anonymous MAP_NORESERVE memory */
    int mem_private;   /* with mem_fd: MAP_PRIVATE (fork) rather than MAP_SHARED */
};

/* Why the VM stopped (vm_wait's result). */
enum vm_stop_reason {
    VM_STOP_NONE = 0,
    VM_STOP_DEBUG_EXIT, /* guest wrote code to the debug exit port */
    VM_STOP_POWEROFF,   /* ACPI S5 or KVM system event shutdown */
    VM_STOP_RESET,      /* i8042 reset, ACPI reset, KVM system event reset */
    VM_STOP_TRIPLE_FAULT,
    VM_STOP_ERROR, /* KVM internal error, failed entry, VMM error */
    VM_STOP_HOST,  /* the host asked (vm_request_stop from outside) */
};

struct vm_exit_info {
    enum vm_stop_reason reason;
    int code;         /* debug exit code, if reason == VM_STOP_DEBUG_EXIT */
    char detail[160]; /* one line for humans (errors) */
};

struct vm;
struct kvm_run;
struct kvm_cpuid2;

struct vcpu {
    struct vm *vm;
    unsigned index; /* also the APIC ID */
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    int thread_started;
    /*
     * Set by the vCPU thread itself (under vm->lock, before its first look
     * at stopping/pause_req), with self: from then on a kick reaches it.
     * thread_started is the creator's and comes later: a guest that stopped
     * the VM in between (vCPU 0's triple fault while vCPU 1's thread was
     * starting) found vCPU 1 not started, kicked nobody, and vCPU 1 halted
     * in KVM_RUN for ever.
     */
    int kickable;
    pthread_t self;
    _Atomic int parked; /* 1 while parked by vm_pause (under vm->lock) */
    uint64_t nr_exits;
    uint64_t first_exit_ns;            /* CLOCK_MONOTONIC of the first exit (bench-boot) */
    struct log_ratelimit unclaimed_rl; /* guest-triggered "unclaimed port/MMIO" logs */
    int reported;                      /* this vCPU logged the guest's death */
};

struct vm_timings {
    /* Nanoseconds spent in each set-up step (bench-boot). */
    uint64_t open_ns, create_ns, memory_ns, irqchip_ns, vcpus_ns;
};

struct vm {
    struct vm_config cfg;
    int kvm_fd;
    int vm_fd;
    int vcpu_mmap_size;
    uint8_t *ram; /* host mapping of all guest RAM */
    uint64_t ram_size;
    uint64_t low_size; /* bytes of RAM below VM_MMIO_GAP_START */
    struct gmem mem;
    struct bus bus;
    struct evloop *loop; /* the device/event thread */
    struct vcpu vcpus[VM_MAX_VCPUS];
    unsigned nr_vcpus;
    struct kvm_cpuid2 *supported_cpuid;
    struct vm_timings t;

    /* Stop and pause state, shared with the vCPU threads. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    _Atomic int stopping;
    _Atomic int pause_req;
    unsigned nr_parked;           /* vCPUs parked (or gone) while pause_req */
    unsigned nr_exited;           /* vCPU threads that have left their loop */
    _Atomic int death_reported;   /* a vCPU logged its state on a triple fault or KVM error */
    _Atomic int report_positions; /* at the stop, each vCPU logs where it was (info level) */
    struct vm_exit_info exit;

    /* The last bytes the guest wrote to COM1: printed when the guest dies. */
    struct uart_console console;
};

/*
 * Create the VM: checks capabilities, maps memory, irqchip, PIT2, vCPUs.
 * On failure *out is NULL for a bad config, else a half-built VM whose
 * exit.detail says why; vm_destroy it.
 */
__attribute__((warn_unused_result)) int vm_create(const struct vm_config *cfg, struct vm **out);
/* Stops everything still running and frees it all. */
void vm_destroy(struct vm *vm);

/* The e820 RAM ranges of this VM (for loaders and the zero page). */
struct vm_e820 {
    uint64_t addr, size;
    uint32_t type; /* 1 RAM, 2 reserved */
};
#define VM_E820_MAX 8
unsigned vm_e820(const struct vm *vm, struct vm_e820 *out, unsigned max);

/* KVM glue the devices use. */
__attribute__((warn_unused_result)) int vm_add_ioeventfd(struct vm *vm, uint64_t mmio_addr,
                                                         uint32_t len, uint64_t datamatch,
                                                         int use_datamatch, int fd);
__attribute__((warn_unused_result)) int vm_add_irqfd(struct vm *vm, unsigned gsi, int fd);
/* Drive an irqchip input (level 1/0; pulse 1 then 0 for an edge). */
__attribute__((warn_unused_result)) int vm_irq_line(struct vm *vm, unsigned gsi, int level);

/* Start one thread per vCPU and the event thread. */
__attribute__((warn_unused_result)) int vm_start(struct vm *vm);
/* Block until the VM stops (all vCPU threads gone); fills *info. */
void vm_wait(struct vm *vm, struct vm_exit_info *info);
/* Record why the VM stops (first reason wins) and kick every vCPU out. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Bring every vCPU out of KVM_RUN to a quiescent point (pending I/O or MMIO
 * instructions completed) and keep it there; waits at most timeout_ms.
 * BURROW_ERR_TIMEOUT if a vCPU did not park in time.
 */
__attribute__((warn_unused_result)) int vm_pause(struct vm *vm, unsigned timeout_ms);
void vm_resume(struct vm *vm);

#endif /* BURROW_VMM_VM_H */
