/* vmm/jail/policy_vmm.c - the jailed VMM's seccomp tables (see policy_vmm.h). */
#include "vmm/jail/policy_vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include "common/log.h"

/* What every VMM thread needs: memory, threads, signals, time, fd I/O, exit. */
static const struct sc_rule vmm_base[] = {
    SC_ALLOW(read, "fd I/O: eventfds, sockets, disk"),
    SC_ALLOW(write, "fd I/O, console, logs"),
    SC_ALLOW(readv, "vsock and blk scatter lists"),
    SC_ALLOW(writev, "vsock and blk scatter lists"),
    SC_ALLOW(pread64, "blk reads"),
    SC_ALLOW(pwrite64, "blk writes"),
    SC_ALLOW(preadv, "blk reads"),
    SC_ALLOW(pwritev, "blk writes"),
    SC_ALLOW(preadv2, "blk reads"),
    SC_ALLOW(pwritev2, "blk writes"),
    SC_ALLOW(lseek, "stdio"),
    SC_ALLOW(fdatasync, "blk FLUSH reaches the image"),
    SC_ALLOW(fsync, "blk FLUSH"),
    SC_ALLOW_ARG(fallocate, 1, SC_EQ, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                 "blk DISCARD punches holes; no mode that allocates or grows the image"),
    SC_ALLOW(close, "connections end"),
    SC_ALLOW(fstat, "stdio"),
    SC_ALLOW_ARG(newfstatat, 3, SC_MASK_ALL, AT_EMPTY_PATH, "fstat() in glibc: fd only"),
    SC_DENY_ARG(newfstatat, 3, SC_MASK_NONE, AT_EMPTY_PATH, EACCES, "path probes fail quietly"),
    /* No lock command: the home disk's OFD lock (taken before the jail) must hold. */
    SC_ALLOW_ARG(fcntl, 1, SC_EQ, F_GETFL, "access mode of a passed disk fd; O_NONBLOCK"),
    SC_ALLOW_IF(fcntl, "O_NONBLOCK on sockets and the TAP; never O_APPEND, O_DIRECT, O_ASYNC",
                SC_ARG(1, SC_EQ, F_SETFL),
                SC_ARG(2, SC_MASK_NONE, O_APPEND | O_DIRECT | O_ASYNC | O_NOATIME)),
    SC_ALLOW_ARG(fcntl, 1, SC_EQ, F_GETFD, "libc"),
    SC_ALLOW_ARG(fcntl, 1, SC_EQ, F_SETFD, "close-on-exec"),
    SC_ALLOW(dup, "stdio"),
    SC_ALLOW(epoll_wait, "event loop"),
    SC_ALLOW(epoll_pwait, "event loop"),
    SC_ALLOW(epoll_ctl, "event loop: connections come and go"),
    SC_ALLOW(timerfd_settime, "virtio-net rate limit: wake when tokens are back"),
    SC_ALLOW(eventfd2, "ioeventfd/irqfd at device activation"),
    SC_ALLOW(poll, "bounded waits"),
    SC_ALLOW(ppoll, "bounded waits"),
    SC_ALLOW(sendmsg, "vsock host side"),
    SC_ALLOW(recvmsg, "vsock host side"),
    SC_ALLOW(sendto, "send() on sockets"),
    SC_ALLOW(recvfrom, "recv() on sockets"),
    SC_ALLOW(shutdown, "vsock half-close"),
    SC_ALLOW(getsockopt, "SO_ERROR after a non-blocking connect"),
    SC_ALLOW(brk, "malloc"),
    SC_ALLOW_ARG(mmap, 2, SC_MASK_NONE, PROT_EXEC, "malloc, thread stacks; never executable"),
    SC_ALLOW_ARG(mprotect, 2, SC_MASK_NONE, PROT_EXEC, "guard pages; never executable"),
    SC_ALLOW(munmap, "free, teardown"),
    SC_ALLOW(mremap, "realloc"),
    SC_ALLOW(madvise, "balloon DONTNEED, KSM MERGEABLE, free"),
    SC_ALLOW(futex, "locks and condition variables"),
    SC_ALLOW(set_robust_list, "thread start"),
    SC_ALLOW(rseq, "thread start"),
    SC_ALLOW_ARG(clone, 0, SC_MASK_ALL, CLONE_THREAD, "pthread_create only: no new processes"),
    SC_DENY(clone3, ENOSYS, "its flags are in memory: glibc falls back to clone"),
    SC_ALLOW(rt_sigprocmask, "vCPU kick signal"),
    SC_ALLOW(rt_sigaction, "signal set-up"),
    SC_ALLOW(rt_sigreturn, "signal handlers return"),
    SC_ALLOW(rt_sigtimedwait, "PID 1 waits for SIGTERM"),
    SC_ALLOW(sigaltstack, "thread exit"),
    SC_ALLOW(tgkill, "kick a vCPU out of KVM_RUN"),
    SC_ALLOW(getpid, "logs, tgkill"),
    SC_ALLOW(gettid, "logs, tgkill"),
    SC_ALLOW(sched_yield, "spin back-off"),
    SC_ALLOW(sched_getaffinity, "glibc sizes its arenas"),
    SC_ALLOW_ARG(prctl, 0, SC_EQ, PR_SET_NAME, "thread names"),
    SC_ALLOW_ARG(prlimit64, 2, SC_EQ64, 0, "read limits only"),
    SC_ALLOW(clock_gettime, "timings, timeouts"),
    SC_ALLOW(clock_nanosleep, "back-off"),
    SC_ALLOW(nanosleep, "back-off"),
    SC_ALLOW(gettimeofday, "logs"),
    SC_ALLOW(getrandom, "virtio-rng, fork entropy"),
    SC_ALLOW(restart_syscall, "interrupted sleeps"),
    SC_ALLOW(exit, "threads end"),
    SC_ALLOW(exit_group, "the VM ends"),
    SC_DENY(open, EACCES, "libc probes fail quietly"),
    SC_DENY(openat, EACCES, "libc probes (localtime, ...) fail quietly"),
    SC_DENY(unlink, EACCES, "socket/registry clean-up outside the jail is the host's"),
    SC_DENY(unlinkat, EACCES, "as unlink"),
    SC_DENY(rmdir, EACCES, "as unlink"),
    SC_DENY_ARG(ioctl, 1, SC_EQ, TCGETS, ENOTTY, "isatty() from stdio"),
};

/* The KVM ioctls a running vCPU thread issues (run, device irqs, its own state). */
static const struct sc_rule vmm_vcpu_ioctls[] = {
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_RUN, "the vCPU loop"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_IRQ_LINE, "legacy devices raise irqs on MMIO/PIO exits"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_IRQFD, "virtio activation by a guest MMIO write"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_IOEVENTFD, "virtio activation by a guest MMIO write"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_REGS, "exit handling, snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_REGS, "exit handling, restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_SREGS, "exit handling, snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_SREGS, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_MP_STATE, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_MP_STATE, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_VCPU_EVENTS, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_VCPU_EVENTS, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_MSRS, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_MSRS, "restore, TSC re-set at claim"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_LAPIC, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_LAPIC, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_XCRS, "the death dump: XCR0 (x86/vcpu_dump.c)"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_TRANSLATE, "the death dump: code at RIP (x86/vcpu_dump.c)"),
};

/* The event thread only signals the guest and (re)arms notifications. */
static const struct sc_rule vmm_event_ioctls[] = {
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_IRQ_LINE, "device interrupts without irqfd"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_IRQFD, "device (re)activation"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_IOEVENTFD, "device (re)activation"),
};

/* Host-side sockets: the vsock device's unix sockets (event thread, main). */
static const struct sc_rule vmm_sockets[] = {
    SC_ALLOW(accept4, "CONNECT clients on the VM's vsock socket"),
    SC_ALLOW(accept, "as accept4"),
    SC_ALLOW_ARG(socket, 0, SC_EQ, AF_UNIX, "guest-initiated <uds>_<port> connections; unix only"),
    SC_ALLOW_ARG(socketpair, 0, SC_EQ, AF_UNIX, "the VMM's own port 1025 handler"),
    SC_ALLOW(connect, "guest-initiated <uds>_<port> connections"),
};

/* Lets each new thread stack its (narrower) role filter; filters only ever add up. */
static const struct sc_rule vmm_role_setup[] = {
    SC_ALLOW_ARG(prctl, 0, SC_EQ, PR_SET_NO_NEW_PRIVS, "required before a thread adds a filter"),
    SC_ALLOW_ARG(seccomp, 0, SC_EQ, SECCOMP_SET_MODE_FILTER, "a thread adds its role filter"),
};

/* Main thread, at a pool claim: RLIMIT_FSIZE down to the home disk's size (jail.h). */
static const struct sc_rule vmm_main_limits[] = {
    SC_ALLOW_IF(prlimit64, "lower its own RLIMIT_FSIZE (raising needs a capability it lacks)",
                SC_ARG(0, SC_EQ, 0), SC_ARG(1, SC_EQ, RLIMIT_FSIZE)),
};

/* Main thread: VM-wide state for snapshot/claim (kvmclock, irqchip, PIT, TSC). */
static const struct sc_rule vmm_main_ioctls[] = {
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_CLOCK, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_CLOCK, "kvmclock re-set when a pooled VM is claimed"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_IRQCHIP, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_IRQCHIP, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_PIT2, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_PIT2, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_TSC_KHZ, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_TSC_KHZ, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_XSAVE, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_XSAVE, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_XCRS, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_XCRS, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_DEBUGREGS, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_SET_DEBUGREGS, "restore"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_CPUID2, "snapshot"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_MSR_INDEX_LIST, "hibernation: the MSRs to save"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_CHECK_EXTENSION, "hibernation: the XSAVE2 size"),
#ifdef KVM_GET_XSAVE2
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, KVM_GET_XSAVE2, "snapshot with AMX-sized state"),
#endif
};

static const struct sc_table process_tables[] = {
    SC_TABLE(vmm_base),        SC_TABLE(vmm_sockets),     SC_TABLE(vmm_vcpu_ioctls),
    SC_TABLE(vmm_main_ioctls), SC_TABLE(vmm_main_limits), SC_TABLE(vmm_role_setup)};
static const struct sc_table vcpu_tables[] = {SC_TABLE(vmm_base), SC_TABLE(vmm_vcpu_ioctls)};
static const struct sc_table event_tables[] = {SC_TABLE(vmm_base), SC_TABLE(vmm_sockets),
                                               SC_TABLE(vmm_event_ioctls)};

const struct sc_policy vmm_policy_process = {"vmm", process_tables, 6, false};
const struct sc_policy vmm_policy_vcpu = {"vmm-vcpu", vcpu_tables, 2, false};
const struct sc_policy vmm_policy_event = {"vmm-event", event_tables, 3, false};

/* -1: no policy (unconfined VMM); else the mode the role filters use. */
static atomic_int armed_mode = -1;

int vmm_policy_enter(enum sc_mode mode)
{
    int r = sc_install(&vmm_policy_process, mode, SC_FLAG_TSYNC);
    if (r == 0)
        atomic_store(&armed_mode, (int)mode);
    return r;
}

void vmm_policy_thread_enter(enum vmm_role role)
{
    int mode = atomic_load(&armed_mode);
    if (mode < 0)
        return;
    const struct sc_policy *p = role == VMM_ROLE_VCPU ? &vmm_policy_vcpu : &vmm_policy_event;
    int r = sc_install(p, (enum sc_mode)mode, 0);
    if (r)
        fatal_r(r, "seccomp %s: cannot confine the thread", p->name);
    sc_test_trigger(p->name);
}
