/*
 * vmm/machine.h - a bootable PC: a VM plus its legacy devices, ACPI tables
 * and a loaded kernel. This is what `burrowctl vm boot` and the benchmark run.
 *
 * Owns: the order of set-up (VM, devices, ACPI, kernel, initrd, zero page,
 * BSP registers) and the default kernel command line.
 */
#ifndef BURROW_VMM_MACHINE_H
#define BURROW_VMM_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/devices.h"
#include "vmm/hw/legacy.h"
#include "vmm/hw/uart16550.h"
#include "vmm/vm.h"
#include "vmm/x86/boot.h"

#define MACHINE_KERNEL_MAX (256u * 1024 * 1024)
#define MACHINE_INITRD_MAX (1024u * 1024 * 1024)
/* What a Linux guest gets when no --cmdline is given; panic=-1 is always added. */
#define MACHINE_LINUX_CMDLINE "console=ttyS0 reboot=k panic=-1"

struct machine_config {
    const uint8_t *kernel;
    size_t kernel_len;
    const uint8_t *initrd; /* may be NULL */
    size_t initrd_len;
    const char *cmdline; /* NULL: the default for the image type */
    uint64_t mem_size;
    unsigned nr_vcpus;
    /* RAM from a file (template memory) instead of anonymous memory. */
    bool mem_file;
    int mem_fd;                  /* with mem_file: at least mem_size bytes */
    bool mem_private;            /* with mem_file: MAP_PRIVATE (a fork), else MAP_SHARED */
    int console_in, console_out; /* -1: none */
    struct vm_virtio_slot virtio[VM_VIRTIO_MAX];
    unsigned nr_virtio;
    /* virtio devices (vmm/devices.c); when set, they fill the DSDT instead of virtio[] */
    const struct devices_config *devices;
};

struct machine_timings {
    uint64_t devices_ns, load_ns; /* plus vm->t for the VM itself */
};

struct machine {
    struct vm *vm;
    struct uart16550 uart;
    struct legacy_devices legacy;
    struct devices devices;
    struct boot_image image;
    struct machine_timings t;
    char cmdline[BOOT_CMDLINE_MAX];
    char why[200]; /* one line when machine_create fails */
};

/*
 * Build the machine ready to start (vm_start(m->vm)). On failure m->why says
 * why; machine_destroy is safe on a half-built machine.
 */
__attribute__((warn_unused_result)) int machine_create(struct machine *m,
                                                       const struct machine_config *cfg);
void machine_destroy(struct machine *m);
/* Build the kernel command line: the user's, or the default, plus panic=-1 for Linux. */
__attribute__((warn_unused_result)) int machine_cmdline(char *out, size_t outsz, const char *user,
                                                        int is_linux);

#endif /* BURROW_VMM_MACHINE_H */
