/*
 * tests/nested/kvm-smoke.c - the smallest proof that a KVM really runs code.
 *
 * Creates a VM with 64 KiB of memory, one vCPU in real mode, and runs:
 *
 *     mov cx, 100 / xor ax, ax / l: add ax, cx / loop l   ; ax = 1+...+100
 *     mov dx, 0x10 / out dx, ax                           ; exit 1: 5050
 *     mov ecx, N / l2: dec ecx / jnz l2                   ; a timed loop
 *     mov dx, 0x11 / out dx, al                           ; exit 2
 *     hlt                                                 ; exit 3
 *
 * and checks each exit (reason, port, size, data). No in-kernel irqchip, so
 * HLT exits to us. Prints how long VM creation and the loop took.
 *
 *     kvm-smoke [ITERATIONS]        (default 10000000; exit 0 = all checks ok)
 *
 * Under the host's KVM-PVM real-mode code is emulated at ~1 us/instruction,
 * so run it there with a small ITERATIONS; inside the nested L1 (kvm_amd with
 * nested paging) the loop runs at hardware-like speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define GUEST_MEM_SIZE 0x10000
#define CODE_GPA       0x1000
#define SUM_PORT       0x10
#define LOOP_PORT      0x11
#define SUM_EXPECTED   5050 /* 1 + 2 + ... + 100 */
#define ITER_OFFSET    13   /* where N sits in the code below */

static const uint8_t guest_code[] = {
    0xb9, 0x64,      0x00,          /* mov cx, 100 */
    0x31, 0xc0,                     /* xor ax, ax */
    0x01, 0xc8,                     /* l: add ax, cx */
    0xe2, 0xfc,                     /* loop l */
    0xba, SUM_PORT,  0x00,          /* mov dx, 0x10 */
    0xef,                           /* out dx, ax */
    0x66, 0xb9,      0,    0, 0, 0, /* mov ecx, N (patched) */
    0x66, 0x49,                     /* l2: dec ecx */
    0x75, 0xfc,                     /* jnz l2 */
    0xba, LOOP_PORT, 0x00,          /* mov dx, 0x11 */
    0xee,                           /* out dx, al */
    0xf4,                           /* hlt */
};

struct smoke {
    int kvm, vm, vcpu;
    struct kvm_run *run;
    uint8_t *mem;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int fail(const char *what)
{
    fprintf(stderr, "kvm-smoke: %s: %s\n", what, strerror(errno));
    return -1;
}

static int setup(struct smoke *s, uint32_t iterations)
{
    s->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (s->kvm < 0)
        return fail("open /dev/kvm");
    if (ioctl(s->kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        fprintf(stderr, "kvm-smoke: unexpected KVM API version\n");
        return -1;
    }
    s->vm = ioctl(s->kvm, KVM_CREATE_VM, 0);
    if (s->vm < 0)
        return fail("KVM_CREATE_VM");
    s->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->mem == MAP_FAILED)
        return fail("mmap guest memory");
    memcpy(s->mem + CODE_GPA, guest_code, sizeof(guest_code));
    memcpy(s->mem + CODE_GPA + ITER_OFFSET + 2, &iterations, sizeof(iterations));

    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = GUEST_MEM_SIZE,
        .userspace_addr = (uintptr_t)s->mem,
    };
    if (ioctl(s->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail("KVM_SET_USER_MEMORY_REGION");
    s->vcpu = ioctl(s->vm, KVM_CREATE_VCPU, 0);
    if (s->vcpu < 0)
        return fail("KVM_CREATE_VCPU");
    int run_size = ioctl(s->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        return fail("KVM_GET_VCPU_MMAP_SIZE");
    s->run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->vcpu, 0);
    if (s->run == MAP_FAILED)
        return fail("mmap kvm_run");

    struct kvm_sregs sregs;
    if (ioctl(s->vcpu, KVM_GET_SREGS, &sregs) < 0)
        return fail("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    if (ioctl(s->vcpu, KVM_SET_SREGS, &sregs) < 0)
        return fail("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = CODE_GPA, .rflags = 0x2};
    if (ioctl(s->vcpu, KVM_SET_REGS, &regs) < 0)
        return fail("KVM_SET_REGS");
    return 0;
}

/* Runs the vCPU to its next exit and checks it is the one expected. */
static int expect_exit(struct smoke *s, uint32_t reason, uint16_t port, uint8_t size,
                       uint32_t value)
{
    if (ioctl(s->vcpu, KVM_RUN, 0) < 0)
        return fail("KVM_RUN");
    struct kvm_run *r = s->run;
    if (r->exit_reason != reason) {
        fprintf(stderr, "kvm-smoke: exit reason %u, expected %u (hw reason 0x%llx)\n",
                r->exit_reason, reason, (unsigned long long)r->hw.hardware_exit_reason);
        return -1;
    }
    if (reason != KVM_EXIT_IO)
        return 0;
    uint32_t got = 0;
    memcpy(&got, (uint8_t *)r + r->io.data_offset, r->io.size);
    if (r->io.direction != KVM_EXIT_IO_OUT || r->io.port != port || r->io.size != size ||
        r->io.count != 1 || got != value) {
        fprintf(stderr,
                "kvm-smoke: I/O exit dir %u port 0x%x size %u count %u value %u; "
                "expected out port 0x%x size %u value %u\n",
                r->io.direction, r->io.port, r->io.size, r->io.count, got, port, size, value);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long iterations = 10000000;
    if (argc > 1) {
        char *end;
        iterations = strtoul(argv[1], &end, 10);
        if (*end || iterations == 0 || iterations > UINT32_MAX) {
            fprintf(stderr, "usage: kvm-smoke [ITERATIONS 1..4294967295]\n");
            return 2;
        }
    }
    alarm(120); /* a guest that never exits must not hang the tier */

    struct smoke s;
    double t0 = now_ms();
    if (setup(&s, (uint32_t)iterations) < 0)
        return 1;
    double t1 = now_ms();
    if (expect_exit(&s, KVM_EXIT_IO, SUM_PORT, 2, SUM_EXPECTED) < 0)
        return 1;
    double t2 = now_ms();
    /* out dx, al with al = low byte of 5050 */
    if (expect_exit(&s, KVM_EXIT_IO, LOOP_PORT, 1, SUM_EXPECTED & 0xff) < 0)
        return 1;
    double t3 = now_ms();
    if (expect_exit(&s, KVM_EXIT_HLT, 0, 0, 0) < 0)
        return 1;
    printf("kvm-smoke: ok: sum 1..100 = %d seen on port 0x%x, then hlt; "
           "VM+memslot+vCPU %.1f ms, first exit %.1f ms, %lu-iteration loop %.1f ms "
           "(%.1f M iter/s)\n",
           SUM_EXPECTED, SUM_PORT, t1 - t0, t2 - t1, iterations, t3 - t2,
           (double)iterations / ((t3 - t2) * 1e3));
    return 0;
}
