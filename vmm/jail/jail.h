/*
 * vmm/jail/jail.h - the VMM process jail (docs/security.md; Firecracker's jailer steps).
 *
 * Owns: the order in which a VMM process gives up the host, and the per-VM
 * uid range. The caller's sequence is:
 *
 *   1. jail_close_inherited()  at process start: only fds it opens itself remain
 *   2. jail_pidns_fork()       a new pid namespace; the child is its PID 1
 *   3. (as root) create the VM, map guest memory, open the disk, listen on
 *      the VM's sockets: every fd the VMM needs exists before step 4
 *   4. jail_enter()            cgroup v2; mount, ipc, uts, net namespaces;
 *      pivot_root into cfg->root (a tmpfs holding only cfg->binds); rlimits
 *      (RLIMIT_FSIZE at the home disk's size: a VMM cannot grow the image);
 *      per-VM uid/gid; no capabilities (bounding set dropped, capset empty);
 *      NO_NEW_PRIVS; not dumpable; the VMM seccomp process filter (TSYNC),
 *      armed so every VMM thread adds its role filter when it starts
 *   5. start the vCPU and event threads
 *
 * Step 2 comes before the VM exists because a pid namespace only applies to
 * children, and KVM ties a VM to the address space that created it (a
 * process forked after KVM_CREATE_VM cannot use it).
 */
#ifndef BURROW_VMM_JAIL_JAIL_H
#define BURROW_VMM_JAIL_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/jail/seccomp.h"

/*
 * Per-VM host uids/gids: JAIL_UID_BASE + the VMM process's host pid, which
 * the kernel allocates: no two live VMMs ever share one (a hash of the VM id
 * could collide), and no state is needed to hand them out. pid_max is at
 * most 2^22 (PID_MAX_LIMIT), inside JAIL_UID_SPAN. Never a real user; above
 * the session uids (0x50000000..0x5fffffff, broker/session/confine.h) and the
 * sandbox backend's (0x60000000 + slot * 65536, slots < 1024).
 */
#define JAIL_UID_BASE  0x70000000u
#define JAIL_UID_SPAN  0x01000000u
#define JAIL_BINDS_MAX 8
/* Extra memory the cgroup allows beyond guest RAM (VMM heap, page tables, vsock buffers). */
#define JAIL_MEM_MARGIN (256ull << 20)
/*
 * RLIMIT_FSIZE of a jailed VMM: its home disk's size, so no write or
 * fallocate grows the image; without a disk, room for its logs (the console
 * log keeps its own 4 MiB cap). A pooled VMM waits with no limit and lowers
 * it to its disk's size when claimed (a limit can only go down).
 */
#define JAIL_FSIZE_NO_DISK   (64ull << 20)
#define JAIL_FSIZE_UNLIMITED UINT64_MAX

struct jail_config {
    const char *name; /* the VM id: names the cgroup, logs */
    const char *root; /* an existing empty directory: becomes the jail's / (a tmpfs) */
    uid_t uid;        /* jail_uid_for_pid() */
    gid_t gid;
    /* host paths made visible at the same path inside (read-write, nosuid, nodev, noexec) */
    const char *binds[JAIL_BINDS_MAX];
    unsigned nr_binds;
    uint64_t mem_bytes; /* guest RAM: cgroup memory.max = this + JAIL_MEM_MARGIN */
    unsigned nr_vcpus;  /* sizes RLIMIT_NPROC and pids.max (threads count) */
    uint64_t fsize_max; /* RLIMIT_FSIZE (see JAIL_FSIZE_NO_DISK); 0 = JAIL_FSIZE_NO_DISK */
    bool seccomp;       /* load the VMM filters (tests of the jail alone may skip) */
    enum sc_mode seccomp_mode;
};

/* The uid/gid of the VMM whose host pid is host_pid (jail_host_pid()). */
uid_t jail_uid_for_pid(pid_t host_pid);

/* Close every fd >= 3 except those listed (sorted or not). */
__attribute__((warn_unused_result)) int jail_close_inherited(const int *keep, unsigned n);

/*
 * Fork into a new pid namespace. Returns in the parent with *child > 0 and
 * in the child (PID 1 of the new namespace) with *child == 0.
 */
__attribute__((warn_unused_result)) int jail_pidns_fork(pid_t *child);

/*
 * PID 1 of a pid namespace ignores signals it has no handler for: exit on
 * SIGTERM/SIGINT/SIGHUP unless the caller blocks them (sigtimedwait users).
 */
void jail_pid1_signals(void);

/*
 * RLIMIT_FSIZE (soft and hard) to bytes, SIGXFSZ ignored: a write past it
 * fails with EFBIG (a long vmm.log stops growing) instead of killing the
 * VMM. Jailed, it can only be lowered (the vmm filter allows exactly this).
 */
__attribute__((warn_unused_result)) int jail_limit_file_size(uint64_t bytes);

/* Steps 4a..4k above. On failure `why` says which step; the caller must exit. */
__attribute__((warn_unused_result)) int jail_enter(const struct jail_config *cfg, char *why,
                                                   size_t whysz);

/*
 * The usual VMM jail for a VM registered at vm_dir (run_dir/vm/<id>/):
 * vm_dir/root is the jail's mount point, vm_dir is the one host path it
 * shows (same path: guest connections to <vsock>_<port>), and vm_dir
 * becomes root:<vm gid> 0711 so the VMM (and her sessions) reach its sockets but cannot
 * rewrite its registry entry. Seccomp on, in `mode`; fsize_max as in
 * struct jail_config.
 */
__attribute__((warn_unused_result)) int jail_enter_vm(const char *vm_dir, const char *vm_id,
                                                      uint64_t mem_bytes, unsigned nr_vcpus,
                                                      uint64_t fsize_max, enum sc_mode mode,
                                                      char *why, size_t whysz);

/* The host pid of the caller (getpid() is 1 inside the pid namespace). */
pid_t jail_host_pid(void);

#endif /* BURROW_VMM_JAIL_JAIL_H */
