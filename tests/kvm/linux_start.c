/*
 * tests/kvm/linux_start.c - a real bzImage on the host's KVM-PVM: Linux
 * cannot finish booting here (its CPL0 code is emulated at ~1 us per
 * instruction), but its 64-bit entry must accept our boot state. Boots the
 * kernel with an initrd for SECONDS, then checks the VM is still running
 * (no triple fault, no internal error) and the BSP has left the entry point
 * (with a free CPU it is in the decompressor, on its own page tables, after
 * ~2 s; the check stays loose because the host's 2 cores are shared).
 * usage: linux_start BZIMAGE SECONDS
 */
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tests/kvm/kvmtest.h"
#include "vmm/machine.h"

static struct machine m;

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    static const uint8_t initrd[4096] = "070701"; /* placed, never unpacked here */
    struct machine_config mc = {.cmdline = "console=ttyS0",
                                .mem_size = 256 * VM_MIB,
                                .nr_vcpus = 1,
                                .console_in = -1,
                                .console_out = -1,
                                .initrd = initrd,
                                .initrd_len = sizeof(initrd)};
    mc.kernel = kt_read_file(argv[1], &mc.kernel_len);
    if (machine_create(&m, &mc) || vm_start(m.vm)) {
        fprintf(stderr, "linux_start: %s\n", m.why);
        return 1;
    }
    sleep((unsigned)atoi(argv[2]));
    int rc = 0;
    if (vm_pause(m.vm, 2000)) {
        fprintf(stderr, "linux_start: the vCPUs did not pause\n");
        rc = 1;
    }
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (rc == 0 && (ioctl(m.vm->vcpus[0].fd, KVM_GET_REGS, &regs) < 0 ||
                    ioctl(m.vm->vcpus[0].fd, KVM_GET_SREGS, &sregs) < 0)) {
        perror("linux_start: KVM_GET_REGS");
        rc = 1;
    }
    if (rc == 0 && m.vm->stopping) {
        fprintf(stderr, "linux_start: the VM stopped: %s\n", m.vm->exit.detail);
        rc = 1;
    }
    if (rc == 0 && regs.rip == m.image.entry) {
        fprintf(stderr, "linux_start: no progress: rip 0x%llx cr3 0x%llx\n",
                (unsigned long long)regs.rip, (unsigned long long)sregs.cr3);
        rc = 1;
    }
    if (rc == 0)
        printf("linux_start: running after %s s: rip 0x%llx, cr3 0x%llx\n", argv[2],
               (unsigned long long)regs.rip, (unsigned long long)sregs.cr3);
    vm_resume(m.vm);
    vm_request_stop(m.vm, VM_STOP_HOST, 0, "test done");
    vm_wait(m.vm, NULL);
    machine_destroy(&m);
    return rc;
}
