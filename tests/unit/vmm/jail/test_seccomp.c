/*
 * tests/unit/vmm/jail/test_seccomp.c - the policy compiler (vmm/jail/seccomp.c)
 * and the jail helpers that need no KVM: every filter runs in a forked child,
 * which reports through its exit status (a kill shows as SIGSYS).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/users/hostuid.h"
#include "broker/session/seccomp_policy.h"
#include "common/err.h"
#include "tests/lib/testutil.h"
#include "vmm/jail/jail.h"
#include "vmm/jail/policy_vmm.h"
#include "vmm/jail/seccomp.h"
#include "vmm/jail/tool.h"

/* Children leave by the raw syscall: sanitizer runtimes do more in _exit() and mmap(). */
static void __attribute__((noreturn)) raw_exit(long code)
{
    syscall(SYS_exit_group, code);
    __builtin_unreachable();
}

/* A tiny policy: what a child needs to run the probes below and exit. */
static const struct sc_rule mini[] = {
    SC_ALLOW(write, "report"),
    SC_ALLOW(exit_group, "end"),
    SC_ALLOW(exit, "end"),
    SC_ALLOW(getpid, "allowed probe"),
    SC_ALLOW_ARG(mmap, 2, SC_MASK_NONE, PROT_EXEC, "no exec"),
    SC_ALLOW(munmap, "free"),
    SC_DENY(openat, EACCES, "libc probes"),
    SC_ALLOW_ARG(socket, 0, SC_EQ, AF_UNIX, "unix only"),
    SC_ALLOW(close, "close"),
};
static const struct sc_table mini_tables[] = {SC_TABLE(mini)};
static const struct sc_policy mini_policy = {"test-mini", mini_tables, 1, false};

enum probe { P_ALLOWED, P_OPENAT, P_MMAP_RW, P_MMAP_EXEC, P_UNIX, P_INET, P_FORBIDDEN, P_TRIGGER };

/* Child: install mini in `mode`, run one probe, raw_exit(0) if it behaved as expected. */
static int run_probe(enum probe p, enum sc_mode mode)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (sc_install(&mini_policy, mode, SC_FLAG_QUIET) != 0)
            raw_exit(100);
        switch (p) {
        case P_ALLOWED:
            raw_exit(syscall(SYS_getpid) > 0 ? 0 : 1);
        case P_OPENAT:
            raw_exit(syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY) < 0 && errno == EACCES
                         ? 0
                         : 1);
        case P_MMAP_RW:
            raw_exit(syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != -1
                         ? 0
                         : 1);
        case P_MMAP_EXEC:
            syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                    0);
            raw_exit(0);
        case P_UNIX:
            raw_exit(syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 1);
        case P_INET:
            syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
            raw_exit(0);
        case P_FORBIDDEN:
            syscall(SYS_getppid);
            raw_exit(0);
        case P_TRIGGER:
            setenv("BURROW_TEST_FORBIDDEN_SYSCALL", "test-mini", 1);
            sc_test_trigger("test-mini");
            raw_exit(0);
        }
        raw_exit(2);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return WEXITSTATUS(st);
}

/*
 * Under ASan/UBSan the runtime makes its own syscalls (allocator, reports)
 * after a filter is loaded; the policies are for the real binaries, so the
 * tests that need a child to survive a filter run only in the plain build.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_SANITIZER()                                                                     \
    TU_SKIP("the ASan runtime's own syscalls break the filter; the plain build runs this")
#else
#define SKIP_UNDER_SANITIZER() ((void)0)
#endif

static void test_allowed_and_errno(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    assert_int_equal(run_probe(P_ALLOWED, SC_MODE_ENFORCE), 0);
    assert_int_equal(run_probe(P_OPENAT, SC_MODE_ENFORCE), 0); /* EACCES, not a kill */
    assert_int_equal(run_probe(P_MMAP_RW, SC_MODE_ENFORCE), 0);
    assert_int_equal(run_probe(P_UNIX, SC_MODE_ENFORCE), 0);
}

static void test_kills_with_sigsys(void **state)
{
    (void)state;
    assert_int_equal(run_probe(P_MMAP_EXEC, SC_MODE_ENFORCE), -SIGSYS);
    assert_int_equal(run_probe(P_INET, SC_MODE_ENFORCE), -SIGSYS);
    assert_int_equal(run_probe(P_FORBIDDEN, SC_MODE_ENFORCE), -SIGSYS);
    assert_int_equal(run_probe(P_TRIGGER, SC_MODE_ENFORCE), -SIGSYS);
}

static void test_log_mode_does_not_kill(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    assert_int_equal(run_probe(P_FORBIDDEN, SC_MODE_LOG), 0);
    assert_int_equal(run_probe(P_INET, SC_MODE_LOG), 0);
    /* errno rules still apply in log mode */
    assert_int_equal(run_probe(P_OPENAT, SC_MODE_LOG), 0);
}

static void test_mode_parse(void **state)
{
    (void)state;
    enum sc_mode m;
    assert_int_equal(sc_mode_parse("enforce", &m), 0);
    assert_int_equal(m, SC_MODE_ENFORCE);
    assert_int_equal(sc_mode_parse("log", &m), 0);
    assert_int_equal(m, SC_MODE_LOG);
    assert_int_equal(sc_mode_parse("off", &m), BURROW_ERR_INVALID);
}

/*
 * A rule with several argument checks allows a call only when all hold; a
 * masked check accepts exactly one range. The table is built at run time,
 * as the monitor builds its own (its pid is only known then).
 */
enum multi_probe { M_OK, M_OTHER_SIGNAL, M_OTHER_PID, M_IN_RANGE, M_OUT_OF_RANGE };

static int run_multi(enum multi_probe p)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pid_t self = getpid();
        struct sc_rule rules[] = {
            SC_ALLOW(write, "report"),
            SC_ALLOW(exit_group, "end"),
            SC_ALLOW_IF(kill, "itself, signal 0 only", SC_ARG(0, SC_EQ, self), SC_ARG(1, SC_EQ, 0)),
            SC_ALLOW_IF(getpriority, "which 0, who in 0x50000000..0x5fffffff", SC_ARG(0, SC_EQ, 0),
                        SC_ARG_MASKED(1, 0xf0000000u, 0x50000000u)),
        };
        struct sc_table t[] = {{rules, sizeof(rules) / sizeof(rules[0])}};
        struct sc_policy pol = {"test-multi", t, 1, false};
        if (sc_install(&pol, SC_MODE_ENFORCE, SC_FLAG_QUIET) != 0)
            raw_exit(100);
        switch (p) {
        case M_OK:
            raw_exit(syscall(SYS_kill, self, 0) == 0 ? 0 : 1);
        case M_OTHER_SIGNAL:
            syscall(SYS_kill, self, SIGCONT);
            raw_exit(0);
        case M_OTHER_PID:
            syscall(SYS_kill, self + 1, 0);
            raw_exit(0);
        case M_IN_RANGE:
            syscall(SYS_getpriority, 0, 0x5abcdef0u); /* no such process: fails, but allowed */
            raw_exit(0);
        case M_OUT_OF_RANGE:
            syscall(SYS_getpriority, 0, 0x4fffffffu);
            raw_exit(0);
        }
        raw_exit(2);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_multi_arg_rules(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    assert_int_equal(run_multi(M_OK), 0);
    assert_int_equal(run_multi(M_OTHER_SIGNAL), -SIGSYS);
    assert_int_equal(run_multi(M_OTHER_PID), -SIGSYS);
    assert_int_equal(run_multi(M_IN_RANGE), 0);
    assert_int_equal(run_multi(M_OUT_OF_RANGE), -SIGSYS);
}

/*
 * The master's deny-list: what burrowd and its children do (fork, exec,
 * sockets, unshare) proceeds; a listed call (ptrace) kills with SIGSYS, in
 * every thread (TSYNC) and in a child forked after the filter.
 */
static void test_master_denylist(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (sc_install(&master_policy, SC_MODE_ENFORCE, SC_FLAG_TSYNC | SC_FLAG_QUIET) != 0)
            raw_exit(10);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        pid_t c = fork();
        if (fd < 0 || c < 0)
            raw_exit(11);
        if (c == 0) {
            execl("/bin/true", "true", (char *)NULL);
            raw_exit(12);
        }
        int st;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            raw_exit(13);
        c = fork();
        if (c == 0) {
            syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
            raw_exit(14); /* not reached */
        }
        if (waitpid(c, &st, 0) != c || !WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS)
            raw_exit(15);
        syscall(SYS_init_module, NULL, 0, "");
        raw_exit(16);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st))
        fail_msg("child exited %d instead of dying by SIGSYS", WEXITSTATUS(st));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* Run body in a child under policy p; its exit code, or -signal. */
static int in_child(const struct sc_policy *p, int (*body)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (sc_install(p, SC_MODE_ENFORCE, SC_FLAG_QUIET) != 0)
            raw_exit(100);
        raw_exit(body());
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

static char write_probe_path[64];

/* The root monitor before auth reads files, and never opens one to write. */
static int monitor_preauth_body(void)
{
    long fd = syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    syscall(SYS_close, fd);
    syscall(SYS_openat, AT_FDCWD, write_probe_path, O_WRONLY | O_CREAT, 0600);
    return 2; /* not reached: the write open kills */
}

/* The net child opens nothing (EACCES) and makes no socket (killed). */
static int net_child_body(void)
{
    if (syscall(SYS_openat, AT_FDCWD, "/etc/hostname", O_RDONLY) >= 0 || errno != EACCES)
        return 1;
    syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    return 2;
}

static void test_session_policies(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    snprintf(write_probe_path, sizeof(write_probe_path), "/tmp/burrow-sc-probe.%d", (int)getpid());
    unlink(write_probe_path);
    assert_int_equal(in_child(&session_policy_preauth, monitor_preauth_body), -SIGSYS);
    assert_int_equal(access(write_probe_path, F_OK), -1); /* nothing was created */
    assert_int_equal(in_child(&session_policy_net, net_child_body), -SIGSYS);
}

/*
 * The root monitor before auth, with its run-time rules: SIGKILL to its net
 * child only, tgkill to itself only; no socket or connect; set-id calls to
 * the session range only. Each probe runs in a child that builds and loads
 * the filter with its own pid and a real child of its own.
 */
enum mon_probe {
    MP_KILL_CHILD,
    MP_KILL_OTHER_SIGNAL,
    MP_KILL_OTHER_PID,
    MP_TGKILL_SELF,
    MP_TGKILL_OTHER,
    MP_SOCKET,
    MP_CONNECT,
    MP_SETRESUID_SESSION,
    MP_SETRESUID_OTHER,
    MP_SETUID_OTHER,
    MP_SETGROUPS,
    MP_PRLIMIT_OTHER
};

static int run_monitor_probe(enum mon_probe p)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0); /* the test ends the probe's group, its child with it */
        pid_t child = fork();
        if (child == 0) {
            pause();
            raw_exit(0);
        }
        static struct session_monitor_policy mp;
        const struct sc_policy *pol =
            session_policy_monitor(&mp, &session_policy_preauth, getpid(), child);
        if (!pol || sc_install(pol, SC_MODE_ENFORCE, SC_FLAG_QUIET) != 0)
            raw_exit(100);
        gid_t g[1] = {0};
        struct rlimit lim = {0, 0};
        uid_t sess = HOSTUID_SESSION_BASE + 12345;
        switch (p) {
        case MP_KILL_CHILD:
            raw_exit(syscall(SYS_kill, child, SIGKILL) == 0 ? 0 : 1);
        case MP_KILL_OTHER_SIGNAL:
            syscall(SYS_kill, child, SIGTERM);
            break;
        case MP_KILL_OTHER_PID:
            syscall(SYS_kill, getppid(), SIGKILL);
            break;
        case MP_TGKILL_SELF:
            raw_exit(syscall(SYS_tgkill, getpid(), getpid(), 0) == 0 ? 0 : 1);
        case MP_TGKILL_OTHER:
            syscall(SYS_tgkill, child, child, SIGKILL);
            break;
        case MP_SOCKET:
            syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
            break;
        case MP_CONNECT:
            syscall(SYS_connect, -1, NULL, 0);
            break;
        case MP_SETRESUID_SESSION:
            /* As root it succeeds; as another uid EPERM: allowed either way. */
            syscall(SYS_setresuid, sess, sess, sess);
            raw_exit(0);
        case MP_SETRESUID_OTHER:
            syscall(SYS_setresuid, sess, sess, 1000);
            break;
        case MP_SETUID_OTHER:
            syscall(SYS_setuid, 1000);
            break;
        case MP_SETGROUPS:
            syscall(SYS_setgroups, 1, g);
            break;
        case MP_PRLIMIT_OTHER:
            syscall(SYS_prlimit64, child, RLIMIT_NOFILE, &lim, NULL);
            break;
        }
        raw_exit(3); /* a forbidden call came back */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    kill(-pid, SIGKILL);
    return WIFSIGNALED(st) ? -WTERMSIG(st) : WEXITSTATUS(st);
}

static void test_monitor_runtime_rules(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    assert_int_equal(run_monitor_probe(MP_KILL_CHILD), 0);
    assert_int_equal(run_monitor_probe(MP_TGKILL_SELF), 0);
    assert_int_equal(run_monitor_probe(MP_SETRESUID_SESSION), 0);
    static const enum mon_probe forbidden[] = {
        MP_KILL_OTHER_SIGNAL, MP_KILL_OTHER_PID, MP_TGKILL_OTHER, MP_SOCKET,       MP_CONNECT,
        MP_SETRESUID_OTHER,   MP_SETUID_OTHER,   MP_SETGROUPS,    MP_PRLIMIT_OTHER};
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++)
        if (run_monitor_probe(forbidden[i]) != -SIGSYS)
            fail_msg("monitor probe %d was not killed by SIGSYS", (int)forbidden[i]);
}

/*
 * The VMM's process filter and its home disk: DISCARD punches holes, but no
 * fallocate mode grows or allocates the image, no fcntl drops (or takes)
 * the disk's OFD lock, and the file size limit can only be lowered.
 */
static int vmm_disk_fd = -1;
enum vmm_disk_probe {
    VD_PUNCH,
    VD_FALLOC_GROW,
    VD_FALLOC_ZERO,
    VD_NONBLOCK,
    VD_APPEND,
    VD_UNLOCK,
    VD_SETLK,
    VD_DUPFD,
    VD_FSIZE,
    VD_NOFILE
};
static enum vmm_disk_probe vmm_probe;

static int vmm_disk_body(void)
{
    struct flock unlock = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
    struct rlimit lim = {4096, 4096};
    switch (vmm_probe) {
    case VD_PUNCH:
        return syscall(SYS_fallocate, vmm_disk_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                       4096) == 0
                   ? 0
                   : 1;
    case VD_FALLOC_GROW:
        syscall(SYS_fallocate, vmm_disk_fd, 0, 0, 1 << 20);
        return 0;
    case VD_FALLOC_ZERO:
        syscall(SYS_fallocate, vmm_disk_fd, FALLOC_FL_ZERO_RANGE, 0, 4096);
        return 0;
    case VD_NONBLOCK: {
        long fl = syscall(SYS_fcntl, vmm_disk_fd, F_GETFL);
        return fl >= 0 && syscall(SYS_fcntl, vmm_disk_fd, F_SETFL, fl | O_NONBLOCK) == 0 ? 0 : 1;
    }
    case VD_APPEND:
        syscall(SYS_fcntl, vmm_disk_fd, F_SETFL, O_APPEND);
        return 0;
    case VD_UNLOCK:
        syscall(SYS_fcntl, vmm_disk_fd, F_OFD_SETLK, &unlock);
        return 0;
    case VD_SETLK:
        syscall(SYS_fcntl, vmm_disk_fd, F_SETLK, &unlock);
        return 0;
    case VD_DUPFD:
        syscall(SYS_fcntl, vmm_disk_fd, F_DUPFD, 0);
        return 0;
    case VD_FSIZE:
        return syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, &lim, NULL) == 0 ? 0 : 1;
    case VD_NOFILE:
        syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &lim, NULL);
        return 0;
    }
    return 2;
}

static int vmm_disk(enum vmm_disk_probe p)
{
    vmm_probe = p;
    return in_child(&vmm_policy_process, vmm_disk_body);
}

static void test_vmm_disk_rules(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    char *dir = tu_mkdtemp("vmmdisk");
    char img[512];
    snprintf(img, sizeof(img), "%s/home.img", dir);
    vmm_disk_fd = open(img, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(vmm_disk_fd >= 0);
    assert_int_equal(ftruncate(vmm_disk_fd, 1 << 16), 0);
    assert_int_equal(vmm_disk(VD_PUNCH), 0);
    assert_int_equal(vmm_disk(VD_FALLOC_GROW), -SIGSYS);
    assert_int_equal(vmm_disk(VD_FALLOC_ZERO), -SIGSYS);
    assert_int_equal(vmm_disk(VD_NONBLOCK), 0);
    assert_int_equal(vmm_disk(VD_APPEND), -SIGSYS);
    assert_int_equal(vmm_disk(VD_UNLOCK), -SIGSYS);
    assert_int_equal(vmm_disk(VD_SETLK), -SIGSYS);
    assert_int_equal(vmm_disk(VD_DUPFD), -SIGSYS);
    assert_int_equal(vmm_disk(VD_FSIZE), 0);
    assert_int_equal(vmm_disk(VD_NOFILE), -SIGSYS);
    struct stat st;
    assert_int_equal(fstat(vmm_disk_fd, &st), 0);
    assert_int_equal(st.st_size, 1 << 16); /* nothing grew it */
    close(vmm_disk_fd);
    tu_rmrf(dir);
    free(dir);
}

/* RLIMIT_FSIZE at the image size: a write past it fails (EFBIG), the VMM lives on. */
static void test_jail_file_size_limit(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("fsize");
    char img[512];
    snprintf(img, sizeof(img), "%s/home.img", dir);
    int fd = open(img, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 16), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (jail_limit_file_size(1 << 16) != 0)
            raw_exit(10);
        if (pwrite(fd, "x", 1, (1 << 16) - 1) != 1)
            raw_exit(11); /* inside the image: fine */
        if (pwrite(fd, "x", 1, 1 << 16) != -1 || errno != EFBIG)
            raw_exit(12); /* past it: refused, no SIGXFSZ */
        if (ftruncate(fd, 1 << 20) != -1 || errno != EFBIG)
            raw_exit(13);
        struct rlimit up = {RLIM_INFINITY, RLIM_INFINITY};
        if (geteuid() != 0 && setrlimit(RLIMIT_FSIZE, &up) == 0)
            raw_exit(14); /* (root may raise it; a jailed VMM has no capability) */
        raw_exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_size, 1 << 16);
    close(fd);
    tu_rmrf(dir);
    free(dir);
}

/* Every shipped policy compiles and loads (in a child), and every rule says why. */
static void test_shipped_policies_load(void **state)
{
    (void)state;
    SKIP_UNDER_SANITIZER();
    const struct sc_policy *all[] = {
        &vmm_policy_process,      &vmm_policy_vcpu,    &vmm_policy_event, &session_policy_preauth,
        &session_policy_postauth, &session_policy_net, &jail_tool_policy, &master_policy};
    for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        const struct sc_policy *p = all[i];
        assert_true(sc_policy_rules(p) > 0);
        for (size_t t = 0; t < p->nr_tables; t++)
            for (size_t r = 0; r < p->tables[t].n; r++)
                assert_true(p->tables[t].rules[r].why && p->tables[t].rules[r].why[0]);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            raw_exit(sc_install(p, SC_MODE_ENFORCE, SC_FLAG_QUIET) == 0 ? 0 : 1);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static void test_close_inherited(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY),
            c = open("/dev/null", O_RDONLY);
        int keep[1] = {b};
        if (a < 0 || jail_close_inherited(keep, 1) != 0)
            raw_exit(1);
        raw_exit(fcntl(a, F_GETFD) < 0 && fcntl(b, F_GETFD) >= 0 && fcntl(c, F_GETFD) < 0 ? 0 : 2);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_uid_range(void **state)
{
    (void)state;
    /* One uid per live VMM: its host pid, whatever its VM id, up to PID_MAX_LIMIT. */
    assert_int_equal(jail_uid_for_pid(1), JAIL_UID_BASE + 1);
    assert_int_equal(jail_uid_for_pid(4194304), JAIL_UID_BASE + 4194304);
    assert_true(jail_uid_for_pid(4194304) < JAIL_UID_BASE + JAIL_UID_SPAN);
    assert_true(jail_uid_for_pid(1234) != jail_uid_for_pid(1235));
    assert_true(JAIL_TOOL_UID_BASE >= JAIL_UID_BASE + JAIL_UID_SPAN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_and_errno),
        cmocka_unit_test(test_kills_with_sigsys),
        cmocka_unit_test(test_log_mode_does_not_kill),
        cmocka_unit_test(test_multi_arg_rules),
        cmocka_unit_test(test_mode_parse),
        cmocka_unit_test(test_shipped_policies_load),
        cmocka_unit_test(test_session_policies),
        cmocka_unit_test(test_monitor_runtime_rules),
        cmocka_unit_test(test_vmm_disk_rules),
        cmocka_unit_test(test_jail_file_size_limit),
        cmocka_unit_test(test_master_denylist),
        cmocka_unit_test(test_close_inherited),
        cmocka_unit_test(test_uid_range),
    };
    return cmocka_run_group_tests_name("vmm/jail", tests, NULL, NULL);
}
