/* vmm/vcpu.c - vCPU set-up, run loop, kicks, pause/resume/stop (see vcpu.h). */
#include "vmm/vcpu.h"
#include "vmm/jail/policy_vmm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/x86/cpuid.h"
#include "vmm/x86/vcpu_dump.h"

#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102
#define MSR_IA32_TSC          0x10
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_MTRR_DEF_TYPE     0x2ff

#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_EXTINT 0x7
#define APIC_MODE_NMI    0x4

static _Thread_local struct vcpu *current_vcpu;

int vcpu_kick_signal(void)
{
    return SIGRTMIN + 1;
}

/* Async-signal-safe: one store. See vcpu.h for why this closes the race. */
static void vcpu_kick_handler(int sig)
{
    (void)sig;
    struct vcpu *v = current_vcpu;
    if (v && v->run)
        v->run->immediate_exit = 1;
}

static int vcpu_set_msrs(struct vcpu *v)
{
    static const struct {
        uint32_t index;
        uint64_t value;
    } init[] = {
        {MSR_IA32_SYSENTER_CS, 0},
        {MSR_IA32_SYSENTER_ESP, 0},
        {MSR_IA32_SYSENTER_EIP, 0},
        {MSR_STAR, 0},
        {MSR_LSTAR, 0},
        {MSR_CSTAR, 0},
        {MSR_SYSCALL_MASK, 0},
        {MSR_KERNEL_GS_BASE, 0},
        {MSR_IA32_TSC, 0},
        {MSR_IA32_MISC_ENABLE, 1},           /* fast strings, as firmware leaves it */
        {MSR_MTRR_DEF_TYPE, (1u << 11) | 6}, /* MTRRs on, default write-back */
    };
    enum { N = sizeof(init) / sizeof(init[0]) };
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[N];
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = N;
    for (unsigned i = 0; i < N; i++) {
        m.e[i].index = init[i].index;
        m.e[i].data = init[i].value;
    }
    int n = ioctl(v->fd, KVM_SET_MSRS, &m);
    if (n < 0)
        return BURROW_ERR_SYSTEM;
    if (n != N)
        log_debug("vCPU %u: KVM took %d of %d boot MSRs (0x%x refused)", v->index, n, N,
                  init[n].index);
    return 0;
}

/* LINT0 delivers the 8259's ExtINT, LINT1 the NMI: what a PC BIOS leaves. */
static int vcpu_set_lapic(struct vcpu *v)
{
    struct kvm_lapic_state s;
    if (ioctl(v->fd, KVM_GET_LAPIC, &s) < 0)
        return BURROW_ERR_SYSTEM;
    uint32_t *lint0 = (uint32_t *)(void *)&s.regs[APIC_LVT_LINT0];
    uint32_t *lint1 = (uint32_t *)(void *)&s.regs[APIC_LVT_LINT1];
    *lint0 = (*lint0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
    *lint1 = (*lint1 & ~0x700u) | (APIC_MODE_NMI << 8);
    if (ioctl(v->fd, KVM_SET_LAPIC, &s) < 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

static int vcpu_fail(struct vcpu *v, int r, const char *what)
{
    snprintf(v->vm->exit.detail, sizeof(v->vm->exit.detail), "vCPU %u: %s: %s", v->index, what,
             r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
    return r;
}

int vcpu_create(struct vm *vm, unsigned index)
{
    struct vcpu *v = &vm->vcpus[index];
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->index = index;
    v->fd = -1;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0)
        return vcpu_fail(v, BURROW_ERR_SYSTEM, "KVM_CREATE_VCPU");
    void *run =
        mmap(NULL, (size_t)vm->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (run == MAP_FAILED)
        return vcpu_fail(v, BURROW_ERR_SYSTEM, "mmap kvm_run");
    v->run = run;
    struct kvm_cpuid2 *cpuid;
    int r = cpuid_for_vcpu(vm->supported_cpuid, index, vm->cfg.nr_vcpus, &cpuid);
    if (r)
        return vcpu_fail(v, r, "CPUID");
    r = ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0 ? BURROW_ERR_SYSTEM : 0;
    free(cpuid);
    if (r)
        return vcpu_fail(v, r, "KVM_SET_CPUID2");
    if ((r = vcpu_set_msrs(v)))
        return vcpu_fail(v, r, "KVM_SET_MSRS");
    if ((r = vcpu_set_lapic(v)))
        return vcpu_fail(v, r, "LAPIC LINT0/LINT1");
    return 0;
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->run)
        munmap(v->run, (size_t)v->vm->vcpu_mmap_size);
    if (v->fd >= 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

void vcpu_kick(struct vcpu *v)
{
    if (__atomic_load_n(&v->kickable, __ATOMIC_SEQ_CST))
        pthread_kill(v->self, vcpu_kick_signal());
}

static void vcpu_handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    int is_write = run->io.direction == KVM_EXIT_IO_OUT;
    /* String I/O: count accesses of size bytes, back to back in the page. */
    for (uint32_t i = 0; i < run->io.count; i++) {
        if (is_write && run->io.port == VM_COM1_PORT && run->io.size == 1)
            uart_console_record(&v->vm->console, data[0]);
        if (bus_dispatch(&v->vm->bus, BUS_PIO, run->io.port, data, run->io.size, is_write) &&
            log_get_level() >= LOG_LVL_DEBUG && log_ratelimit_ok(&v->unclaimed_rl, 20, 1)) {
            uint32_t val = 0;
            memcpy(&val, data, run->io.size <= 4 ? run->io.size : 4);
            log_debug("vCPU %u: unclaimed port %s 0x%x size %u value 0x%x", v->index,
                      is_write ? "write" : "read", run->io.port, run->io.size, val);
        }
        data += run->io.size;
    }
}

static void vcpu_handle_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint32_t len = run->mmio.len <= 8 ? run->mmio.len : 8;
    if (bus_dispatch(&v->vm->bus, BUS_MMIO, run->mmio.phys_addr, run->mmio.data, len,
                     run->mmio.is_write) &&
        log_ratelimit_ok(&v->unclaimed_rl, 20, 1))
        log_debug("vCPU %u: unclaimed MMIO %s 0x%llx size %u", v->index,
                  run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr,
                  len);
}

/* Log a multi-line text one line at a time (each log line stays one line). */
static void log_lines(const char *prefix, char *text)
{
    for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        log_info("%s%s", prefix, line);
    }
}

/*
 * The guest died on this vCPU: log its state and the console's last lines
 * (at info level: `vm boot -v`, burrowd's log). Once per VM: the first
 * vCPU to die wins, as its stop reason does.
 */
static void vcpu_report_death(struct vcpu *v)
{
    struct vm *vm = v->vm;
    if (atomic_exchange(&vm->death_reported, 1))
        return;
    v->reported = 1;
    if (log_get_level() < LOG_LVL_INFO)
        return;
    static _Thread_local char text[4096];
    struct vcpu_dump d;
    vcpu_dump_capture(v->fd, v->index, &vm->mem, &d);
    vcpu_dump_format(&d, text, sizeof(text));
    log_lines("", text);
    if (uart_console_tail(&vm->console, text, sizeof(text), 8)) {
        log_info("console, last lines before the stop:");
        log_lines("  | ", text);
    }
}

/*
 * Where this vCPU was when the VM stopped: after a guest death elsewhere or
 * when asked (vm->report_positions: a signal stopped a possibly hung guest),
 * at any stop with debug logging.
 */
static void vcpu_report_bystander(struct vcpu *v)
{
    struct vm *vm = v->vm;
    if (v->reported)
        return;
    int asked = atomic_load(&vm->death_reported) || atomic_load(&vm->report_positions);
    if (!(asked && log_get_level() >= LOG_LVL_INFO) && log_get_level() < LOG_LVL_DEBUG)
        return;
    char line[256];
    struct vcpu_dump d;
    vcpu_dump_capture(v->fd, v->index, &vm->mem, &d);
    vcpu_dump_format_short(&d, line, sizeof(line));
    log_info("%s", line);
}

/* Returns 0 to keep running, 1 when the VM is stopping. */
static int vcpu_handle_exit(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    struct vm *vm = v->vm;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        vcpu_handle_io(v);
        return 0;
    case KVM_EXIT_MMIO:
        vcpu_handle_mmio(v);
        return 0;
    case KVM_EXIT_INTR:
    case KVM_EXIT_HLT:
        return 0;
    case KVM_EXIT_SHUTDOWN:
        vcpu_report_death(v);
        vm_request_stop(vm, VM_STOP_TRIPLE_FAULT, 0, "vCPU %u: triple fault", v->index);
        return 1;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vm_request_stop(vm, VM_STOP_RESET, 0, "reset");
        else
            vm_request_stop(vm, VM_STOP_POWEROFF, 0, "power-off");
        return 1;
    case KVM_EXIT_INTERNAL_ERROR:
        if (log_get_level() >= LOG_LVL_INFO) {
            uint32_t n = run->internal.ndata < 4 ? run->internal.ndata : 4;
            log_info("vCPU %u: internal error suberror %u, %u data words: %llx %llx %llx %llx",
                     v->index, run->internal.suberror, run->internal.ndata,
                     (unsigned long long)(n > 0 ? run->internal.data[0] : 0),
                     (unsigned long long)(n > 1 ? run->internal.data[1] : 0),
                     (unsigned long long)(n > 2 ? run->internal.data[2] : 0),
                     (unsigned long long)(n > 3 ? run->internal.data[3] : 0));
        }
        vcpu_report_death(v);
        vm_request_stop(vm, VM_STOP_ERROR, 0, "vCPU %u: KVM internal error, suberror %u", v->index,
                        run->internal.suberror);
        return 1;
    case KVM_EXIT_FAIL_ENTRY:
        vcpu_report_death(v);
        vm_request_stop(vm, VM_STOP_ERROR, 0, "vCPU %u: VM entry failed, reason 0x%llx", v->index,
                        (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return 1;
    default:
        vm_request_stop(vm, VM_STOP_ERROR, 0, "vCPU %u: unexpected KVM exit %u", v->index,
                        run->exit_reason);
        return 1;
    }
}

/* Park until the pause is lifted or the VM stops. */
static void vcpu_park(struct vcpu *v)
{
    struct vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    v->parked = 1;
    vm->nr_parked++;
    pthread_cond_broadcast(&vm->cond);
    while (vm->pause_req && !vm->stopping)
        pthread_cond_wait(&vm->cond, &vm->lock);
    vm->nr_parked--;
    v->parked = 0;
    pthread_mutex_unlock(&vm->lock);
}

/* Enter once with immediate_exit set: completes a pending I/O/MMIO instruction. */
static void vcpu_settle(struct vcpu *v)
{
    v->run->immediate_exit = 1;
    if (ioctl(v->fd, KVM_RUN, 0) == 0 && v->run->exit_reason != KVM_EXIT_INTR)
        log_debug("vCPU %u: exit %u while settling", v->index, v->run->exit_reason);
}

static void vcpu_loop(struct vcpu *v)
{
    struct vm *vm = v->vm;
    while (!vm->stopping) {
        if (vm->pause_req) {
            vcpu_settle(v);
            vcpu_park(v);
            v->run->immediate_exit = 0;
            continue;
        }
        int r = ioctl(v->fd, KVM_RUN, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            vm_request_stop(vm, VM_STOP_ERROR, 0, "vCPU %u: KVM_RUN: %s", v->index,
                            strerror(errno));
            break;
        }
        if (v->nr_exits++ == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            v->first_exit_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        }
        if (vcpu_handle_exit(v))
            break;
    }
    /* Leave guest state consistent for a final snapshot or inspection. */
    vcpu_settle(v);
    vcpu_report_bystander(v);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    current_vcpu = v;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(pthread_self(), name);
    vmm_policy_thread_enter(VMM_ROLE_VCPU);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, vcpu_kick_signal());
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    struct vm *vm = v->vm;
    /* Kickable before the loop's first look at stopping (see vm.h). */
    pthread_mutex_lock(&vm->lock);
    v->self = pthread_self();
    __atomic_store_n(&v->kickable, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&vm->lock);
    vcpu_loop(v);
    pthread_mutex_lock(&vm->lock);
    vm->nr_exited++;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return NULL;
}

int vcpu_start(struct vcpu *v)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vcpu_kick_handler;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: KVM_RUN must return EINTR. */
    if (sigaction(vcpu_kick_signal(), &sa, NULL) < 0)
        return BURROW_ERR_SYSTEM;
    if (pthread_create(&v->thread, NULL, vcpu_thread, v) != 0)
        return BURROW_ERR_SYSTEM;
    v->thread_started = 1;
    return 0;
}

/* ---- run control for the whole VM (declared in vm.h) ---- */

int vm_start(struct vm *vm)
{
    int r = evloop_start(vm->loop);
    if (r)
        return r;
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if ((r = vcpu_start(&vm->vcpus[i]))) {
            vm_request_stop(vm, VM_STOP_ERROR, 0, "cannot start vCPU %u thread", i);
            return r;
        }
    }
    return 0;
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->exit.reason == VM_STOP_NONE) {
        vm->exit.reason = reason;
        vm->exit.code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->exit.detail, sizeof(vm->exit.detail), fmt, ap);
        va_end(ap);
    }
    vm->stopping = 1;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
}

void vm_wait(struct vm *vm, struct vm_exit_info *info)
{
    pthread_mutex_lock(&vm->lock);
    unsigned started = 0;
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        started += vm->vcpus[i].thread_started ? 1u : 0u;
    while (vm->nr_exited < started)
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if (vm->vcpus[i].thread_started) {
            pthread_join(vm->vcpus[i].thread, NULL);
            __atomic_store_n(&vm->vcpus[i].kickable, 0, __ATOMIC_SEQ_CST);
            vm->vcpus[i].thread_started = 0;
            vm->nr_exited--;
        }
    }
    if (vm->loop)
        evloop_join(vm->loop);
    if (info)
        *info = vm->exit;
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int vm_pause(struct vm *vm, unsigned timeout_ms)
{
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&vm->lock);
    vm->pause_req = 1;
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    int r = 0;
    pthread_mutex_lock(&vm->lock);
    /* A vCPU thread that has exited its loop is as quiet as a parked one. */
    while (vm->nr_parked + vm->nr_exited < vm->nr_vcpus && !vm->stopping) {
        if (pthread_cond_timedwait(&vm->cond, &vm->lock, &dl) == ETIMEDOUT) {
            r = BURROW_ERR_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&vm->lock);
    return r;
}

void vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->pause_req = 0;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
}
