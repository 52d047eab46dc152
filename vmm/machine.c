/* vmm/machine.c - VM + devices + ACPI + kernel (see machine.h). */
#include "vmm/machine.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "vmm/x86/acpi/acpi.h"
#include "vmm/x86/bzimage.h"
#include "vmm/x86/elf.h"

int machine_cmdline(char *out, size_t outsz, const char *user, int is_linux)
{
    const char *base = user ? user : (is_linux ? MACHINE_LINUX_CMDLINE : "");
    int n;
    if (is_linux && !strstr(base, "panic="))
        n = snprintf(out, outsz, "%s%spanic=-1", base, *base ? " " : "");
    else
        n = snprintf(out, outsz, "%s", base);
    return (n < 0 || (size_t)n >= outsz) ? BURROW_ERR_TOO_LARGE : 0;
}

static int why(struct machine *m, int r, const char *fmt, const char *detail)
{
    snprintf(m->why, sizeof(m->why), fmt, detail ? detail : burrow_strerror(r));
    return r;
}

static int machine_load(struct machine *m, const struct machine_config *cfg)
{
    struct vm *vm = m->vm;
    const char *reason = NULL;
    int is_linux = !elf_is_elf(cfg->kernel, cfg->kernel_len);
    int r;
    if (is_linux)
        r = bzimage_load(&vm->mem, vm->low_size, cfg->kernel, cfg->kernel_len, &m->image, &reason);
    else
        r = elf_load(&vm->mem, cfg->kernel, cfg->kernel_len, &m->image, &reason);
    if (r)
        return why(m, r, "kernel image rejected: %s", reason);
    /* A vmlinux is an ELF with a PVH note; the test guest has none. */
    is_linux = is_linux || m->image.kind == BOOT_ENTRY_PVH;
    if ((r = machine_cmdline(m->cmdline, sizeof(m->cmdline), cfg->cmdline, is_linux)))
        return why(m, r, "kernel command line: %s", "too long");
    if (m->image.cmdline_size && strlen(m->cmdline) > m->image.cmdline_size)
        return why(m, BURROW_ERR_TOO_LARGE, "kernel command line: %s",
                   "longer than the kernel's cmdline_size");
    uint64_t initrd_gpa = 0;
    if (cfg->initrd && cfg->initrd_len) {
        r = boot_place_initrd(vm, &m->image, cfg->initrd, cfg->initrd_len, &initrd_gpa);
        if (r)
            return why(m, r, "initrd: %s", "does not fit in RAM below the kernel's limit");
    }
    uint64_t rsdp = 0;
    struct acpi_config ac = {.nr_vcpus = vm->nr_vcpus, .nr_virtio = cfg->nr_virtio};
    memcpy(ac.virtio, cfg->virtio, sizeof(ac.virtio));
    if (cfg->devices)
        ac.nr_virtio = devices_slots(&m->devices, ac.virtio, VM_VIRTIO_MAX);
    if ((r = acpi_build(&vm->mem, BOOT_ACPI_ADDR, BOOT_ACPI_MAX, &ac, &rsdp)))
        return why(m, r, "ACPI tables: %s", NULL);
    if ((r = boot_write_zero_page(vm, &m->image, m->cmdline, initrd_gpa, cfg->initrd_len, rsdp)))
        return why(m, r, "zero page: %s", NULL);
    if (m->image.kind == BOOT_ENTRY_PVH &&
        (r = boot_write_pvh_info(vm, m->cmdline, initrd_gpa, cfg->initrd_len, rsdp)))
        return why(m, r, "PVH start info: %s", NULL);
    if ((r = boot_set_bsp_regs(vm, &m->image)))
        return why(m, r, "BSP registers: %s", NULL);
    return 0;
}

int machine_create(struct machine *m, const struct machine_config *cfg)
{
    memset(m, 0, sizeof(*m));
    struct vm_config vc = {.mem_size = cfg->mem_size,
                           .nr_vcpus = cfg->nr_vcpus,
                           .mem_fd = cfg->mem_file ? cfg->mem_fd : -1,
                           .mem_private = cfg->mem_private};
    int r = vm_create(&vc, &m->vm);
    if (r) {
        if (!m->vm)
            return why(m, r, "bad VM configuration: %s", NULL);
        return why(m, r, "%s", m->vm->exit.detail[0] ? m->vm->exit.detail : burrow_strerror(r));
    }
    uint64_t t0 = clock_now_ns();
    if ((r = uart_init(&m->uart, m->vm, VM_COM1_PORT, VM_COM1_IRQ, cfg->console_in,
                       cfg->console_out)) ||
        (r = legacy_init(&m->legacy, m->vm)))
        return why(m, r, "legacy devices: %s", NULL);
    if (cfg->devices &&
        (r = devices_create(&m->devices, m->vm, cfg->devices, m->why, sizeof(m->why))))
        return r;
    uint64_t t1 = clock_now_ns();
    r = machine_load(m, cfg);
    m->t.devices_ns = t1 - t0;
    m->t.load_ns = clock_now_ns() - t1;
    return r;
}

void machine_destroy(struct machine *m)
{
    vm_destroy(m->vm);
    m->vm = NULL;
    devices_destroy(&m->devices); /* after the vCPUs and the event thread are gone */
}
