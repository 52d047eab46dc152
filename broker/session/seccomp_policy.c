/* broker/session/seccomp_policy.c - session process seccomp tables (see seccomp_policy.h). */
#include "broker/session/seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "broker/users/hostuid.h"

/* Both phases: memory, time, signals, fd I/O on what is already open, exit. */
static const struct sc_rule session_base[] = {
    SC_ALLOW(read, "SSH socket, vsock socket, master"),
    SC_ALLOW(write, "SSH socket, vsock socket, logs"),
    SC_ALLOW(readv, "socket I/O"),
    SC_ALLOW(writev, "socket I/O"),
    SC_ALLOW(sendmsg, "master socket, vsock"),
    SC_ALLOW(recvmsg, "master socket, vsock"),
    SC_ALLOW(sendto, "send()"),
    SC_ALLOW(recvfrom, "recv()"),
    SC_ALLOW(shutdown, "half-close of a channel"),
    SC_ALLOW(getsockopt, "SO_ERROR of a non-blocking connect"),
    SC_ALLOW(setsockopt, "libssh sets TCP_NODELAY"),
    SC_ALLOW(getsockname, "libssh"),
    SC_ALLOW(getpeername, "libssh"),
    SC_ALLOW(poll, "event loop"),
    SC_ALLOW(ppoll, "event loop"),
    SC_ALLOW(select, "libssh waits"),
    SC_ALLOW(pselect6, "libssh waits"),
    SC_ALLOW(close, "channels end"),
    SC_ALLOW(fcntl, "O_NONBLOCK"),
    SC_ALLOW(fstat, "stdio"),
    SC_ALLOW_ARG(newfstatat, 3, SC_MASK_ALL, AT_EMPTY_PATH, "fstat() in glibc"),
    SC_ALLOW(lseek, "stdio"),
    SC_ALLOW(brk, "malloc"),
    SC_ALLOW_ARG(mmap, 2, SC_MASK_NONE, PROT_EXEC, "malloc, argon2's 64 MiB; never executable"),
    SC_ALLOW_ARG(mprotect, 2, SC_MASK_NONE, PROT_EXEC, "libsodium guard pages; never executable"),
    SC_ALLOW(munmap, "free"),
    SC_ALLOW(mremap, "realloc"),
    SC_ALLOW(madvise, "free, libsodium"),
    SC_ALLOW(mlock, "libsodium locks secrets"),
    SC_ALLOW(munlock, "libsodium"),
    SC_ALLOW(futex, "libcrypto locks"),
    SC_ALLOW(getrandom, "key exchange, padding"),
    SC_ALLOW(clock_gettime, "timeouts"),
    SC_ALLOW(gettimeofday, "logs"),
    SC_ALLOW(nanosleep, "back-off"),
    SC_ALLOW(clock_nanosleep, "back-off"),
    SC_ALLOW(rt_sigaction, "signal set-up"),
    SC_ALLOW(rt_sigprocmask, "signal masks"),
    SC_ALLOW(rt_sigreturn, "handlers return"),
    SC_ALLOW(alarm, "login grace time"),
    SC_ALLOW(setitimer, "alarm()"),
    SC_ALLOW(getpid, "logs"),
    SC_ALLOW(gettid, "logs"),
    SC_ALLOW(getuid, "libssh, libcrypto"),
    SC_ALLOW(geteuid, "libssh, libcrypto"),
    SC_ALLOW(getgid, "libcrypto"),
    SC_ALLOW(getegid, "libcrypto"),
    SC_ALLOW(sched_getaffinity, "glibc"),
    SC_ALLOW_ARG(prlimit64, 2, SC_EQ64, 0, "read limits"),
    SC_ALLOW(restart_syscall, "interrupted sleeps"),
    SC_ALLOW(exit, "end"),
    SC_ALLOW(exit_group, "end"),
    SC_DENY_ARG(ioctl, 1, SC_EQ, TCGETS, ENOTTY, "isatty() from stdio"),
};

/*
 * The net child: abort() and raise() signal the caller itself. (Its own pid
 * is all it can name anyway: its pid namespace holds it and its monitor,
 * another uid.)
 */
static const struct sc_rule session_net_extra[] = {
    SC_ALLOW(tgkill, "abort(), the crash handler's re-raise"),
};

/*
 * The monitor, both phases: it reaps the net child. No socket, no connect:
 * the master opens each VM connection and passes it (VM_CONNECT). kill and
 * tgkill are allowed for two pids only, known at run time (see
 * session_policy_monitor).
 */
static const struct sc_rule session_monitor_extra[] = {
    SC_ALLOW(wait4, "reap the net child"),
};

/* Bits 28-31 of a uid or gid: 0x5 is the session range (broker/users/hostuid.h). */
#define SESSION_ID_MASK 0xf0000000u
_Static_assert(HOSTUID_SESSION_SPAN == 0x10000000u, "one mask covers the session ids");

/* Any of these in open flags may change a file: the root monitor never asks for one. */
#define SC_OPEN_WRITES                                                                             \
    (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND) /* O_TMPFILE needs a write mode */

/* Pre-auth extras: user records (root, read + lock files), the drop to the session uid. */
static const struct sc_rule session_preauth_extra[] = {
    SC_ALLOW_ARG(openat, 2, SC_MASK_NONE, SC_OPEN_WRITES,
                 "user.ini, authorized_keys, the banner: read-only (the slot files are open)"),
    SC_ALLOW_ARG(open, 1, SC_MASK_NONE, SC_OPEN_WRITES, "as openat"),
    SC_ALLOW(newfstatat, "user records"),
    SC_ALLOW(getdents64, "user directory"),
    SC_ALLOW(flock, "the argon2id slots"),
    SC_ALLOW(readlink, "paths"),
    SC_ALLOW(access, "paths"),
    SC_ALLOW(uname, "libcrypto"),
    SC_ALLOW(sysinfo, "libsodium/argon2"),
    SC_ALLOW_ARG(mount, 3, SC_EQ64, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "the empty tmpfs over state_dir; no bind, move or remount"),
    SC_ALLOW_ARG(setgroups, 0, SC_EQ, 0, "drop every group; never set one"),
    SC_ALLOW_IF(setresgid, "drop to the session gid: 0x50000000..0x5fffffff only",
                SC_ARG_MASKED(0, SESSION_ID_MASK, HOSTUID_SESSION_BASE),
                SC_ARG_MASKED(1, SESSION_ID_MASK, HOSTUID_SESSION_BASE),
                SC_ARG_MASKED(2, SESSION_ID_MASK, HOSTUID_SESSION_BASE)),
    SC_ALLOW_IF(setresuid, "drop to the session uid: 0x50000000..0x5fffffff only",
                SC_ARG_MASKED(0, SESSION_ID_MASK, HOSTUID_SESSION_BASE),
                SC_ARG_MASKED(1, SESSION_ID_MASK, HOSTUID_SESSION_BASE),
                SC_ARG_MASKED(2, SESSION_ID_MASK, HOSTUID_SESSION_BASE)),
    SC_ALLOW_ARG(setuid, 0, SC_EQ, 0, "the check that uid 0 is gone (setuid(0) must fail)"),
    SC_ALLOW_ARG(prlimit64, 0, SC_EQ, 0, "its own RLIMIT_NPROC/CORE to 0; no other process"),
    SC_ALLOW_ARG(prctl, 0, SC_EQ, PR_SET_NO_NEW_PRIVS, "before the post-auth filter"),
    SC_ALLOW_ARG(prctl, 0, SC_EQ, PR_SET_DUMPABLE, "no ptrace between sessions"),
    SC_ALLOW_ARG(seccomp, 0, SC_EQ, SECCOMP_SET_MODE_FILTER, "stack the post-auth filter"),
};

/* Post-auth monitor and net child: no file can be opened, libc probes fail quietly. */
static const struct sc_rule session_postauth_extra[] = {
    SC_DENY(openat, EACCES, "the state dir and every other file are out of reach"),
    SC_DENY(open, EACCES, "as openat"),
    SC_DENY_ARG(newfstatat, 3, SC_MASK_NONE, AT_EMPTY_PATH, EACCES, "path probes"),
};

static const struct sc_table preauth_tables[] = {
    SC_TABLE(session_base), SC_TABLE(session_monitor_extra), SC_TABLE(session_preauth_extra)};
static const struct sc_table postauth_tables[] = {
    SC_TABLE(session_base), SC_TABLE(session_monitor_extra), SC_TABLE(session_postauth_extra)};
static const struct sc_table net_tables[] = {SC_TABLE(session_base), SC_TABLE(session_net_extra),
                                             SC_TABLE(session_postauth_extra)};

const struct sc_policy session_policy_preauth = {"session-preauth", preauth_tables, 3, false};
const struct sc_policy session_policy_postauth = {"session-postauth", postauth_tables, 3, false};
const struct sc_policy session_policy_net = {"session-net", net_tables, 3, false};

const struct sc_policy *session_policy_monitor(struct session_monitor_policy *mp,
                                               const struct sc_policy *phase, pid_t self,
                                               pid_t child)
{
    const struct sc_rule rules[SESSION_MONITOR_RULES] = {
        SC_ALLOW_IF(kill, "SIGKILL to its own net child only", SC_ARG(0, SC_EQ, child),
                    SC_ARG(1, SC_EQ, SIGKILL)),
        SC_ALLOW_IF(tgkill, "itself only: abort(), the crash handler's re-raise",
                    SC_ARG(0, SC_EQ, self)),
    };
    if (phase->nr_tables >= SESSION_MONITOR_TABLES)
        return NULL;
    memcpy(mp->rules, rules, sizeof(rules));
    memcpy(mp->tables, phase->tables, phase->nr_tables * sizeof(mp->tables[0]));
    mp->tables[phase->nr_tables] = (struct sc_table){mp->rules, SESSION_MONITOR_RULES};
    mp->policy = (struct sc_policy){phase->name, mp->tables, phase->nr_tables + 1, false};
    return &mp->policy;
}

/*
 * The master and everything it starts (sessions, VMMs, the sandbox agent,
 * e2fsprogs) never need these: kernel code and images, other processes'
 * memory, the clock, swap, raw ports, keyrings, eBPF and perf, file handles
 * that bypass path checks.
 */
static const struct sc_rule master_refused[] = {
    SC_REFUSE(init_module, "kernel modules"),
    SC_REFUSE(finit_module, "kernel modules"),
    SC_REFUSE(delete_module, "kernel modules"),
    SC_REFUSE(kexec_load, "replacing the kernel"),
    SC_REFUSE(kexec_file_load, "replacing the kernel"),
    SC_REFUSE(reboot, "the host's power"),
    SC_REFUSE(ptrace, "other processes (sessions, VMMs)"),
    SC_REFUSE(process_vm_readv, "other processes' memory"),
    SC_REFUSE(process_vm_writev, "other processes' memory"),
    SC_REFUSE(bpf, "eBPF programs"),
    SC_REFUSE(perf_event_open, "perf: kernel and other processes"),
    SC_REFUSE(userfaultfd, "widens kernel race windows"),
    SC_REFUSE(open_by_handle_at, "file handles bypass path checks (a classic escape)"),
    SC_REFUSE(name_to_handle_at, "file handles"),
    SC_REFUSE(keyctl, "kernel keyrings"),
    SC_REFUSE(add_key, "kernel keyrings"),
    SC_REFUSE(request_key, "kernel keyrings"),
    SC_REFUSE(swapon, "swap"),
    SC_REFUSE(swapoff, "swap"),
    SC_REFUSE(acct, "process accounting"),
    SC_REFUSE(settimeofday, "the host clock"),
    SC_REFUSE(clock_settime, "the host clock"),
    SC_REFUSE(clock_adjtime, "the host clock"),
    SC_REFUSE(adjtimex, "the host clock"),
    SC_REFUSE(syslog, "the kernel log buffer (klogctl)"),
    SC_REFUSE(iopl, "raw I/O ports"),
    SC_REFUSE(ioperm, "raw I/O ports"),
    SC_REFUSE(quotactl, "disk quotas"),
    SC_REFUSE(uselib, "obsolete loader"),
    SC_REFUSE(lookup_dcookie, "obsolete profiling"),
    SC_REFUSE(vhangup, "terminals of others"),
};
static const struct sc_table master_tables[] = {SC_TABLE(master_refused)};
const struct sc_policy master_policy = {"master", master_tables, 1, true};
