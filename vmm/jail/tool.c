/* vmm/jail/tool.c - e2fsprogs on hostile images, one confined run at a time (see tool.h). */
#include "vmm/jail/tool.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"

/* What a dynamically linked e2fsck/resize2fs does on a regular file. */
static const struct sc_rule tool_rules[] = {
    SC_ALLOW(execve, "the tool itself (the filter is loaded just before)"),
    SC_ALLOW(brk, "malloc"),
    SC_ALLOW(mmap, "ld.so maps the tool's libraries (executable)"),
    SC_ALLOW(mprotect, "ld.so relocations"),
    SC_ALLOW(munmap, "free"),
    SC_ALLOW(mremap, "realloc"),
    SC_ALLOW(madvise, "free"),
    SC_ALLOW(arch_prctl, "TLS set-up"),
    SC_ALLOW_ARG(prctl, 0, SC_EQ, PR_GET_DUMPABLE, "e2fsprogs' safe getenv"),
    SC_ALLOW(set_tid_address, "libc start"),
    SC_ALLOW(set_robust_list, "libc start"),
    SC_ALLOW(rseq, "libc start"),
    SC_ALLOW(prlimit64, "libc start, resource checks"),
    SC_ALLOW(getrandom, "libc, uuid"),
    SC_ALLOW(access, "ld.so probes"),
    SC_ALLOW(faccessat, "probes"),
    SC_ALLOW(faccessat2, "probes"),
    SC_ALLOW(open, "the image (via its fd), config files, /proc/mounts"),
    SC_ALLOW(openat, "as open"),
    SC_ALLOW(close, "files"),
    SC_ALLOW(read, "the image"),
    SC_ALLOW(write, "the image, the output pipe"),
    SC_ALLOW(pread64, "the image"),
    SC_ALLOW(pwrite64, "the image"),
    SC_ALLOW(readv, "the image"),
    SC_ALLOW(writev, "the image"),
    SC_ALLOW(lseek, "the image"),
    SC_ALLOW(fsync, "the image"),
    SC_ALLOW(fdatasync, "the image"),
    SC_ALLOW(fallocate, "the image"),
    SC_ALLOW(ftruncate, "the image"),
    SC_ALLOW(fstat, "files"),
    SC_ALLOW(newfstatat, "files"),
    SC_ALLOW(statx, "files"),
    SC_ALLOW(stat, "files"),
    SC_ALLOW(lstat, "files"),
    SC_ALLOW(statfs, "mount checks"),
    SC_ALLOW(fstatfs, "mount checks"),
    SC_ALLOW(readlink, "mount checks"),
    SC_ALLOW(readlinkat, "mount checks"),
    SC_ALLOW(getdents64, "mount checks"),
    SC_ALLOW(fcntl, "locks, flags"),
    SC_ALLOW(flock, "locks"),
    SC_ALLOW(fadvise64, "read-ahead hints"),
    SC_ALLOW(sync_file_range, "write-back"),
    SC_ALLOW(dup, "stdio"),
    SC_ALLOW(dup2, "stdio"),
    SC_ALLOW(dup3, "stdio"),
    SC_ALLOW(pipe2, "helpers"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, TCGETS, "isatty() (fails: stdio is a pipe)"),
    SC_ALLOW_ARG(ioctl, 1, SC_EQ, TIOCGWINSZ, "progress output width"),
    SC_ALLOW(ioctl, "block-device size/geometry probes (BLKGETSIZE64, FIGETBSZ, FS_IOC_*)"),
    SC_ALLOW(uname, "kernel version checks"),
    SC_ALLOW(sysinfo, "memory sizing"),
    SC_ALLOW(getpid, "logs"),
    SC_ALLOW(gettid, "logs"),
    SC_ALLOW(getuid, "checks"),
    SC_ALLOW(geteuid, "checks"),
    SC_ALLOW(getgid, "checks"),
    SC_ALLOW(getegid, "checks"),
    SC_ALLOW(getppid, "checks"),
    SC_ALLOW(getcwd, "paths"),
    SC_ALLOW(umask, "new files"),
    SC_ALLOW(time, "timestamps"),
    SC_ALLOW(gettimeofday, "timestamps"),
    SC_ALLOW(clock_gettime, "timestamps"),
    SC_ALLOW(clock_getres, "timestamps"),
    SC_ALLOW(nanosleep, "waits"),
    SC_ALLOW(clock_nanosleep, "waits"),
    SC_ALLOW(getrusage, "resource reports"),
    SC_ALLOW(times, "resource reports"),
    SC_ALLOW(rt_sigaction, "signal set-up"),
    SC_ALLOW(rt_sigprocmask, "signal masks"),
    SC_ALLOW(rt_sigreturn, "handlers"),
    SC_ALLOW(sigaltstack, "handlers"),
    SC_ALLOW(futex, "libc locks"),
    SC_ALLOW(sched_getaffinity, "CPU count"),
    SC_ALLOW(sched_yield, "waits"),
    SC_ALLOW(tgkill, "abort()"),
    SC_ALLOW(restart_syscall, "interrupted sleeps"),
    SC_ALLOW(exit, "end"),
    SC_ALLOW(exit_group, "end"),
    SC_DENY(socket, EACCES, "no network, not even syslog"),
};
static const struct sc_table tool_tables[] = {SC_TABLE(tool_rules)};
const struct sc_policy jail_tool_policy = {"e2fsprogs", tool_tables, 1, false};

/* Only itself to see: a fresh /proc of the run's pid namespace over the host's. */
static int private_proc(void)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

/* The image as JAIL_TOOL_FD (inherited by the tool), stdio, nothing else. */
static int tool_fds(const struct jail_tool_spec *s)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int out = s->out_fd >= 0 ? s->out_fd : null;
    if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        return BURROW_ERR_SYSTEM;
    if (s->image_fd != JAIL_TOOL_FD && dup2(s->image_fd, JAIL_TOOL_FD) < 0)
        return BURROW_ERR_SYSTEM;
    if (syscall(SYS_close_range, JAIL_TOOL_FD + 1, ~0u, 0) != 0)
        return BURROW_ERR_SYSTEM;
    /* The tool must reopen its fd by path: the dup keeps no close-on-exec. */
    int fl = fcntl(JAIL_TOOL_FD, F_GETFD);
    if (fl < 0 || fcntl(JAIL_TOOL_FD, F_SETFD, fl & ~FD_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

/* Root to the run's uid for good, no capabilities, bounded, filtered. */
static int tool_drop(uid_t uid, enum sc_mode mode)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return BURROW_ERR_SYSTEM;
    if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0 ||
        setuid(0) == 0)
        return BURROW_ERR_PERM;
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};
    if (syscall(SYS_capset, &hdr, data) != 0)
        return BURROW_ERR_SYSTEM;
    struct rlimit cpu = {300, 300}, zero = {0, 0}, files = {64, 64}, procs = {0, 0};
    if (setrlimit(RLIMIT_CPU, &cpu) != 0 || setrlimit(RLIMIT_CORE, &zero) != 0 ||
        setrlimit(RLIMIT_NOFILE, &files) != 0 || setrlimit(RLIMIT_NPROC, &procs) != 0)
        return BURROW_ERR_SYSTEM;
    return sc_install(&jail_tool_policy, mode, SC_FLAG_QUIET);
}

struct tool_child {
    const struct jail_tool_spec *s;
    int go; /* read end: the parent sends the run's uid once the image is its */
};

/* PID 1 of the run's namespaces: wait for the image, confine, exec the tool. */
static int tool_child_main(void *arg)
{
    const struct tool_child *c = arg;
    uid_t uid;
    if (read(c->go, &uid, sizeof(uid)) != (ssize_t)sizeof(uid))
        _exit(125);
    if (private_proc() != 0 || tool_fds(c->s) != 0 || tool_drop(uid, c->s->mode) != 0)
        _exit(126);
    execve(c->s->exe, c->s->argv, c->s->envp);
    _exit(127);
}

int jail_tool_start(const struct jail_tool_spec *s, struct jail_tool_run *run)
{
    /* Used by the child only until execve; no CLONE_VM, so each child has its own copy. */
    static char stack[64 * 1024] __attribute__((aligned(16)));
    struct stat st;
    int go[2];
    if (fstat(s->image_fd, &st) != 0 || pipe2(go, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    struct tool_child c = {.s = s, .go = go[0]};
    pid_t pid = clone(
        tool_child_main, stack + sizeof(stack),
        CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD, &c);
    close(go[0]);
    if (pid < 0) {
        close(go[1]);
        return BURROW_ERR_SYSTEM;
    }
    *run = (struct jail_tool_run){.pid = pid,
                                  .uid = JAIL_TOOL_UID_BASE + ((uid_t)pid & 0x00ffffffu),
                                  .image_fd = s->image_fd,
                                  .saved_uid = st.st_uid,
                                  .saved_gid = st.st_gid};
    int r = fchown(s->image_fd, run->uid, run->uid) == 0 ? 0 : BURROW_ERR_SYSTEM;
    if (r == 0 && write(go[1], &run->uid, sizeof(run->uid)) != (ssize_t)sizeof(run->uid))
        r = BURROW_ERR_SYSTEM;
    close(go[1]); /* on failure the child reads EOF and exits */
    if (r != 0) {
        int status;
        kill(pid, SIGKILL);
        if (jail_tool_finish(run, -1, &status) != 0)
            r = BURROW_ERR_SYSTEM;
    }
    return r;
}

int jail_tool_finish(struct jail_tool_run *run, long deadline_ms, int *status)
{
    int r = 0;
    for (;;) {
        pid_t w = waitpid(run->pid, status, deadline_ms < 0 ? 0 : WNOHANG);
        if (w == run->pid)
            break;
        if (w < 0 && errno != EINTR) {
            r = BURROW_ERR_SYSTEM;
            break;
        }
        if (w == 0 && clock_now_ms() >= deadline_ms) {
            /* PID 1 of its namespace: the kernel ends every process in it too. */
            kill(run->pid, SIGKILL);
            while (waitpid(run->pid, status, 0) < 0 && errno == EINTR)
                ;
            r = BURROW_ERR_TIMEOUT;
            break;
        }
        if (w == 0)
            usleep(10 * 1000);
    }
    if (fchown(run->image_fd, run->saved_uid, run->saved_gid) != 0) {
        /* The image stays owned by the dead run's uid: only root can open it. */
    }
    return r;
}
