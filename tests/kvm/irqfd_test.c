/*
 * tests/kvm/irqfd_test.c - the KVM glue virtio builds on, with the test
 * guest (mode=irqfd): a guest write to virtio slot 0's QueueNotify reaches
 * an ioeventfd (no exit to the VMM), the event thread (vmm/evloop) sees it
 * and raises GSI 16 through an irqfd, and the guest takes the interrupt.
 * usage: irqfd_test TESTGUEST
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tests/kvm/kvmtest.h"
#include "tests/testguest/abi.h"
#include "vmm/machine.h"

static struct machine m;
static int kick_fd, irq_fd;
static unsigned kicks;

static void on_kick(void *ctx, int fd, uint32_t events)
{
    (void)ctx;
    (void)events;
    uint64_t n;
    if (read(fd, &n, sizeof(n)) != sizeof(n))
        return;
    kicks += (unsigned)n;
    uint64_t one = 1;
    if (write(irq_fd, &one, sizeof(one)) != sizeof(one))
        perror("irqfd write");
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    struct machine_config mc = {.cmdline = "testguest.mode=irqfd",
                                .mem_size = 64 * VM_MIB,
                                .nr_vcpus = 1,
                                .console_in = -1,
                                .console_out = 1};
    mc.kernel = kt_read_file(argv[1], &mc.kernel_len);
    kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (machine_create(&m, &mc)) {
        fprintf(stderr, "irqfd_test: %s\n", m.why);
        return 1;
    }
    if (vm_add_ioeventfd(m.vm, TG_DEV_NOTIFY, 4, 0, 0, kick_fd) ||
        vm_add_irqfd(m.vm, TG_DEV_GSI, irq_fd) ||
        evloop_add(m.vm->loop, kick_fd, EPOLLIN, on_kick, NULL) || vm_start(m.vm)) {
        perror("irqfd_test: set-up");
        return 1;
    }
    struct vm_exit_info info;
    vm_wait(m.vm, &info);
    uint64_t mmio_exits = m.vm->vcpus[0].nr_exits;
    machine_destroy(&m);
    free((void *)mc.kernel);
    if (info.reason != VM_STOP_DEBUG_EXIT || info.code != 0) {
        fprintf(stderr, "irqfd_test: guest failed: %s\n", info.detail);
        return 1;
    }
    if (kicks != TG_DEV_ROUNDS) {
        fprintf(stderr, "irqfd_test: %u kicks seen, want %d\n", kicks, TG_DEV_ROUNDS);
        return 1;
    }
    printf("irqfd_test: %u notifies via ioeventfd, %u interrupts via irqfd (%llu VM exits)\n",
           kicks, TG_DEV_ROUNDS, (unsigned long long)mmio_exits);
    return 0;
}
