/*
 * tests/kvm/bench_boot.c - boot cost of the test guest, in process, split by
 * set-up step: open /dev/kvm + capability checks, KVM_CREATE_VM, memory
 * (mmap + memslots), irqchip + PIT2, vCPUs (+CPUID/MSRs/LAPIC), devices,
 * load (ELF, ACPI, zero page, registers), then vm_start -> first guest exit
 * (the guest's first `out`, a few instructions after its entry) and -> the
 * "testguest: ok" marker (debug exit). Prints medians over RUNS boots, in ms.
 * With EXEC_NS (CLOCK_REALTIME in ns, taken by the caller just before it
 * started this process) and RUNS = 1 it prints instead, for one boot:
 *   exec_first_exit_ns=N exec_marker_ns=N
 * i.e. process start -> first guest exit and -> marker (tests/kvm/run-bench).
 * usage: bench_boot TESTGUEST RUNS [EXEC_NS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/kvm/kvmtest.h"
#include "vmm/machine.h"

enum {
    S_OPEN,
    S_CREATE,
    S_MEM,
    S_IRQ,
    S_VCPU,
    S_DEV,
    S_LOAD,
    S_FIRST,
    S_MARKER,
    S_TEARDOWN,
    S_TOTAL,
    S_N
};
static const char *const names[S_N] = {"open+caps",     "create VM", "memory", "irqchip+PIT2",
                                       "vCPUs",         "devices",   "load",   "start->1st exit",
                                       "start->marker", "teardown",  "total"};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4)
        return 2;
    int runs = atoi(argv[2]);
    uint64_t exec_ns = argc == 4 ? strtoull(argv[3], NULL, 10) : 0;
    if (runs < 1 || runs > 1000)
        return 2;
    uint64_t *v[S_N];
    for (int s = 0; s < S_N; s++)
        v[s] = calloc((size_t)runs, sizeof(uint64_t));
    struct machine_config mc = {
        .mem_size = 64 * VM_MIB, .nr_vcpus = 1, .console_in = -1, .console_out = -1};
    mc.kernel = kt_read_file(argv[1], &mc.kernel_len);
    static struct machine m;
    for (int i = 0; i < runs; i++) {
        uint64_t t0 = kt_now_ns();
        if (machine_create(&m, &mc)) {
            fprintf(stderr, "bench_boot: %s\n", m.why);
            return 1;
        }
        uint64_t ts = kt_now_ns();
        struct timespec rt;
        clock_gettime(CLOCK_REALTIME, &rt);
        uint64_t ts_real = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
        if (vm_start(m.vm))
            return 1;
        struct vm_exit_info info;
        vm_wait(m.vm, &info);
        uint64_t tm = kt_now_ns();
        if (info.reason != VM_STOP_DEBUG_EXIT || info.code != 0) {
            fprintf(stderr, "bench_boot: guest failed: %s\n", info.detail);
            return 1;
        }
        v[S_OPEN][i] = m.vm->t.open_ns;
        v[S_CREATE][i] = m.vm->t.create_ns;
        v[S_MEM][i] = m.vm->t.memory_ns;
        v[S_IRQ][i] = m.vm->t.irqchip_ns;
        v[S_VCPU][i] = m.vm->t.vcpus_ns;
        v[S_DEV][i] = m.t.devices_ns;
        v[S_LOAD][i] = m.t.load_ns;
        v[S_FIRST][i] = m.vm->vcpus[0].first_exit_ns - ts;
        v[S_MARKER][i] = tm - ts;
        if (exec_ns) {
            /* ts_real - exec_ns: set-up since exec; then the monotonic deltas. */
            uint64_t setup = ts_real - exec_ns;
            printf("exec_first_exit_ns=%llu exec_marker_ns=%llu\n",
                   (unsigned long long)(setup + v[S_FIRST][i]),
                   (unsigned long long)(setup + v[S_MARKER][i]));
            machine_destroy(&m);
            return 0;
        }
        machine_destroy(&m);
        v[S_TEARDOWN][i] = kt_now_ns() - tm;
        v[S_TOTAL][i] = kt_now_ns() - t0;
    }
    for (int s = 0; s < S_N; s++) {
        qsort(v[s], (size_t)runs, sizeof(uint64_t), cmp_u64);
        printf("  %-18s %9.3f ms\n", names[s], (double)v[s][runs / 2] / 1e6);
    }
    return 0;
}
