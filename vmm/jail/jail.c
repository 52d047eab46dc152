/* vmm/jail/jail.c - the VMM process jail, in Firecracker's jailer order (see jail.h). */
#include "vmm/jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/jail/cgroup.h"
#include "vmm/jail/policy_vmm.h"

uid_t jail_uid_for_pid(pid_t host_pid)
{
    _Static_assert(4u * 1024 * 1024 <= JAIL_UID_SPAN, "PID_MAX_LIMIT fits the per-VM uids");
    return (uid_t)(JAIL_UID_BASE + ((uint32_t)host_pid & (JAIL_UID_SPAN - 1)));
}

pid_t jail_host_pid(void)
{
    /* /proc is the host's until pivot_root: its "self" names the host pid. Cached
     * (jail_enter asks before pivot_root; a fork in between is a new process). */
    static pid_t cached, cached_for;
    pid_t self = getpid();
    if (cached && cached_for == self)
        return cached;
    char link[32];
    ssize_t n = readlink("/proc/self", link, sizeof(link) - 1);
    if (n <= 0)
        return self;
    link[n] = '\0';
    cached = (pid_t)atoi(link);
    cached_for = self;
    return cached;
}

static int kept(int fd, const int *keep, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (keep[i] == fd)
            return 1;
    return 0;
}

int jail_close_inherited(const int *keep, unsigned n)
{
    /* Walk the gaps between kept fds; close_range does each gap in one call. */
    int lo = 3;
    for (;;) {
        int next = -1;
        for (unsigned i = 0; i < n; i++)
            if (keep[i] >= lo && (next < 0 || keep[i] < next))
                next = keep[i];
        unsigned hi = next < 0 ? ~0u : (unsigned)next - 1;
        if (next < 0 || next > lo) {
            if (syscall(SYS_close_range, (unsigned)lo, hi, 0) != 0)
                return BURROW_ERR_SYSTEM;
        }
        if (next < 0)
            return 0;
        lo = next + 1;
        while (kept(lo, keep, n))
            lo++;
    }
}

int jail_pidns_fork(pid_t *child)
{
    if (unshare(CLONE_NEWPID) != 0)
        return BURROW_ERR_SYSTEM;
    pid_t p = fork();
    if (p < 0)
        return BURROW_ERR_SYSTEM;
    *child = p;
    return 0;
}

static void pid1_exit(int sig)
{
    _exit(128 + sig);
}

void jail_pid1_signals(void)
{
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        if (sigismember(&cur, sigs[i]))
            continue; /* the caller waits for it with sigtimedwait */
        struct sigaction sa = {.sa_handler = pid1_exit};
        sigaction(sigs[i], &sa, NULL);
    }
}

/* mkdir -p inside the new root for one bind target. */
static int make_target(const char *root, const char *path, int is_dir)
{
    char full[1024];
    if (snprintf(full, sizeof(full), "%s%s", root, path) >= (int)sizeof(full))
        return BURROW_ERR_TOO_LARGE;
    for (char *p = full + strlen(root) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(full, 0755) != 0 && errno != EEXIST)
            return BURROW_ERR_SYSTEM;
        *p = '/';
    }
    if (is_dir)
        return mkdir(full, 0755) == 0 || errno == EEXIST ? 0 : BURROW_ERR_SYSTEM;
    int fd = open(full, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    close(fd);
    return 0;
}

static int bind_into(const char *root, const char *src, char *why, size_t whysz)
{
    struct stat st;
    char dst[1024];
    if (src[0] != '/' || stat(src, &st) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "bind source %s", src);
    int r = make_target(root, src, S_ISDIR(st.st_mode));
    if (r)
        return errmsg_sys(why, whysz, r, "bind target for %s", src);
    snprintf(dst, sizeof(dst), "%s%s", root, src);
    /* Not MS_REC: mounts below src (the jail's own root among them) stay out. */
    if (mount(src, dst, NULL, MS_BIND, NULL) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "bind %s", src);
    unsigned long fl = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount(NULL, dst, NULL, fl, NULL) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "remount %s nosuid,nodev,noexec", src);
    return 0;
}

/* New namespaces, then the tmpfs root with its binds, then pivot_root. */
static int enter_root(const struct jail_config *c, char *why, size_t whysz)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "unshare mount/ipc/uts/net");
    /* Nothing we mount from here on propagates back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "make / private");
    if (sethostname("burrow-vmm", 10) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "sethostname");
    if (mount("jail", c->root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") !=
        0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "tmpfs on %s", c->root);
    for (unsigned i = 0; i < c->nr_binds; i++) {
        int r = bind_into(c->root, c->binds[i], why, whysz);
        if (r)
            return r;
    }
    /* pivot_root(".", "."): the old root ends up stacked on "/" and is detached. */
    if (chdir(c->root) != 0 || syscall(SYS_pivot_root, ".", ".") != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "pivot_root into %s", c->root);
    if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "detach the old root");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "remount the jail root read-only");
    return 0;
}

int jail_limit_file_size(uint64_t bytes)
{
    struct rlimit fsize = {RLIM_INFINITY, RLIM_INFINITY};
    if (bytes != JAIL_FSIZE_UNLIMITED)
        fsize.rlim_cur = fsize.rlim_max = (rlim_t)bytes;
    signal(SIGXFSZ, SIG_IGN);
    return setrlimit(RLIMIT_FSIZE, &fsize) == 0 ? 0 : BURROW_ERR_SYSTEM;
}

static int set_limits(const struct jail_config *c, char *why, size_t whysz)
{
    struct rlimit zero = {0, 0};
    struct rlimit nofile = {1024, 1024};
    /* Threads count against NPROC for the (per-VM) uid: vCPUs + event thread + slack. */
    struct rlimit nproc = {c->nr_vcpus + 8, c->nr_vcpus + 8};
    if (setrlimit(RLIMIT_CORE, &zero) != 0 || setrlimit(RLIMIT_NOFILE, &nofile) != 0 ||
        setrlimit(RLIMIT_NPROC, &nproc) != 0 || setrlimit(RLIMIT_MEMLOCK, &zero) != 0 ||
        setrlimit(RLIMIT_MSGQUEUE, &zero) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "setrlimit");
    if (jail_limit_file_size(c->fsize_max ? c->fsize_max : JAIL_FSIZE_NO_DISK) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "RLIMIT_FSIZE");
    return 0;
}

static int drop_privileges(const struct jail_config *c, char *why, size_t whysz)
{
    /* The bounding set needs CAP_SETPCAP to shrink: before the uid change. */
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM,
                              "drop capability %d from the bounding set", cap);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "clear ambient capabilities");
    if (setgroups(0, NULL) != 0 || setresgid(c->gid, c->gid, c->gid) != 0 ||
        setresuid(c->uid, c->uid, c->uid) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "switch to uid/gid %u", (unsigned)c->uid);
    if (setuid(0) == 0)
        return errmsg_sys(why, whysz, BURROW_ERR_PERM, "uid 0 is still reachable");
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "capset to empty");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "no_new_privs / not dumpable");
    return 0;
}

int jail_enter(const struct jail_config *c, char *why, size_t whysz)
{
    char cwhy[300];
    struct jail_cgroup_limits lim = {.memory_max = c->mem_bytes + JAIL_MEM_MARGIN,
                                     .pids_max = c->nr_vcpus + 8,
                                     .cpu_weight = 100};
    (void)jail_host_pid(); /* cache it while the host's /proc is visible */
    int r = jail_cgroup_enter(JAIL_CGROUP_ROOT, c->name, &lim, cwhy, sizeof(cwhy));
    if (r == BURROW_ERR_UNSUPPORTED)
        log_info("jail %s: no cgroup (%s)", c->name, cwhy);
    else if (r)
        return errmsg_sys(why, whysz, r, "cgroup: %s", cwhy);
    if ((r = enter_root(c, why, whysz)) || (r = set_limits(c, why, whysz)) ||
        (r = drop_privileges(c, why, whysz)))
        return r;
    jail_pid1_signals();
    if (c->seccomp && (r = vmm_policy_enter(c->seccomp_mode)))
        return errmsg_sys(why, whysz, r, "seccomp");
    sc_test_trigger("vmm");
    return 0;
}

int jail_enter_vm(const char *vm_dir, const char *vm_id, uint64_t mem_bytes, unsigned nr_vcpus,
                  uint64_t fsize_max, enum sc_mode mode, char *why, size_t whysz)
{
    static char root[600];
    uid_t uid = jail_uid_for_pid(jail_host_pid());
    if (snprintf(root, sizeof(root), "%s/root", vm_dir) >= (int)sizeof(root))
        return errmsg_sys(why, whysz, BURROW_ERR_TOO_LARGE, "jail: %s is too long", vm_dir);
    if ((mkdir(root, 0755) != 0 && errno != EEXIST) || chown(vm_dir, 0, (gid_t)uid) != 0 ||
        chmod(vm_dir, 0711) != 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "jail: prepare %.200s", vm_dir);
    struct jail_config jc = {.name = vm_id,
                             .root = root,
                             .uid = uid,
                             .gid = (gid_t)uid,
                             .binds = {vm_dir},
                             .nr_binds = 1,
                             .mem_bytes = mem_bytes,
                             .nr_vcpus = nr_vcpus,
                             .fsize_max = fsize_max,
                             .seccomp = true,
                             .seccomp_mode = mode};
    char jwhy[300];
    int r = jail_enter(&jc, jwhy, sizeof(jwhy));
    if (r)
        snprintf(why, whysz, "jail: %s", jwhy);
    return r;
}
