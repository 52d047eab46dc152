/*
 * tests/kvm/pause_test.c - 100 pause/resume cycles of a running test guest
 * (mode=spin: counting at CPL3 with timer interrupts and I/O exits). Each
 * pause must park every vCPU within 1 s (no lost kick), the counter must not
 * move while paused, and must move again after resume.
 * usage: pause_test TESTGUEST NR_VCPUS CYCLES
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/kvm/kvmtest.h"
#include "tests/testguest/abi.h"
#include "vmm/machine.h"

static struct machine m;

static uint64_t spin_count(void)
{
    struct tg_mailbox *mb = gmem_ptr(&m.vm->mem, TG_MAILBOX, sizeof(*mb));
    return __atomic_load_n(&mb->spin_count, __ATOMIC_SEQ_CST);
}

static int wait_progress(uint64_t from)
{
    uint64_t t0 = kt_now_ns();
    while (spin_count() <= from)
        if (kt_now_ns() - t0 > 2000000000ull)
            return -1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    struct machine_config mc = {.cmdline = "testguest.mode=spin",
                                .mem_size = 64 * VM_MIB,
                                .nr_vcpus = (unsigned)atoi(argv[2]),
                                .console_in = -1,
                                .console_out = -1};
    int cycles = atoi(argv[3]);
    mc.kernel = kt_read_file(argv[1], &mc.kernel_len);
    if (machine_create(&m, &mc) || vm_start(m.vm)) {
        fprintf(stderr, "pause_test: cannot start: %s\n", m.why);
        return 1;
    }
    int rc = 0;
    if (wait_progress(0)) {
        fprintf(stderr, "pause_test: guest never started counting\n");
        rc = 1;
    }
    uint64_t worst = 0;
    for (int i = 0; i < cycles && rc == 0; i++) {
        uint64_t t0 = kt_now_ns();
        if (vm_pause(m.vm, 1000)) {
            fprintf(stderr, "pause_test: cycle %d: a vCPU did not park (lost kick)\n", i);
            rc = 1;
            break;
        }
        uint64_t dt = kt_now_ns() - t0;
        worst = dt > worst ? dt : worst;
        uint64_t c1 = spin_count();
        usleep(2000);
        uint64_t c2 = spin_count();
        vm_resume(m.vm);
        if (c1 != c2) {
            fprintf(stderr, "pause_test: cycle %d: guest ran while paused\n", i);
            rc = 1;
        } else if (wait_progress(c2)) {
            fprintf(stderr, "pause_test: cycle %d: guest did not resume\n", i);
            rc = 1;
        }
    }
    vm_request_stop(m.vm, VM_STOP_HOST, 0, "test done");
    struct vm_exit_info info;
    vm_wait(m.vm, &info);
    if (info.reason != VM_STOP_HOST) {
        fprintf(stderr, "pause_test: guest stopped by itself: %s\n", info.detail);
        rc = 1;
    }
    machine_destroy(&m);
    free((void *)mc.kernel);
    if (rc == 0)
        printf("pause_test: %d cycles, %s vCPUs, worst pause %.3f ms\n", cycles, argv[2],
               (double)worst / 1e6);
    return rc;
}
