/* broker/session/confine.c - what a session's processes give up, and when (see confine.h). */
#include "broker/session/confine.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "broker/session/seccomp_policy.h"
#include "broker/users/hostuid.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/jail/jail.h"

/*
 * Become uid for good: no groups, no way back to root, no new privileges,
 * not dumpable (no ptrace between sessions), no fork, no core files. No
 * RLIMIT_FSIZE 0: stderr (the log) may be a regular file.
 */
static int drop_to(uid_t uid)
{
    struct rlimit zero = {0, 0};
    if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
        return BURROW_ERR_SYSTEM;
    if (setuid(0) == 0)
        return BURROW_ERR_PERM; /* the drop did not stick */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return BURROW_ERR_SYSTEM;
    if (setrlimit(RLIMIT_NPROC, &zero) != 0 || setrlimit(RLIMIT_CORE, &zero) != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

int confine_session_postauth(const struct user_record *rec)
{
    if (geteuid() != 0)
        return 0; /* not started as root (tests of the session alone): nothing to drop */
    uid_t uid;
    int r = hostuid_session(rec->uid, &uid);
    return r != 0 ? r : drop_to(uid);
}

/* Own mount, ipc and net namespaces; nothing propagates back to the host. */
static int own_namespaces(void)
{
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

/* An empty read-only tmpfs over state_dir (user records, host key files). */
static int hide_state_dir(const struct burrow_config *cfg)
{
    unsigned long fl = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount("burrow-hidden", cfg->paths.state_dir, "tmpfs", fl, "size=4k,mode=0555") != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

/*
 * The jail of a process that speaks SSH to the network (from root): its own
 * mount, ipc and net namespaces, the empty tmpfs over state_dir as its
 * whole filesystem, then uid for good; killed with its parent.
 */
static int jail(const struct burrow_config *cfg, uid_t uid)
{
    int r = own_namespaces();
    if (r == 0)
        r = hide_state_dir(cfg);
    if (r == 0 && (chroot(cfg->paths.state_dir) != 0 || chdir("/") != 0))
        r = BURROW_ERR_SYSTEM;
    if (r == 0)
        r = drop_to(uid);
    /* After the drop: a change of credentials clears the parent-death signal. */
    if (r == 0 && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
        r = BURROW_ERR_SYSTEM;
    return r;
}

/*
 * The monitor's pid in the host's pid namespace, read before it mounts its
 * own /proc: its net child's uid comes from it. (In the session's pid
 * namespace every net child is pid 2, so its getpid() would give every
 * connection the same uid.)
 */
static pid_t monitor_host_pid;

int confine_net_child(const struct burrow_config *cfg, pid_t monitor)
{
    if (geteuid() != 0)
        return 0; /* tests of the session alone: nothing to give up */
    int r = jail(cfg, hostuid_net(monitor_host_pid ? monitor_host_pid : getpid()));
    if (r == 0 && getppid() != monitor)
        r = BURROW_ERR_CLOSED; /* the monitor is already gone */
    return r;
}

int confine_peer_session(const struct burrow_config *cfg)
{
    if (geteuid() != 0)
        return 0; /* not started as root: nothing to give up */
    /* PID 1 of its own pid namespace, like every other peer session: the uid comes from its
     * pid in the host's (read from /proc before the jail hides it). Its parent, the master,
     * is outside that namespace (getppid() says 0): a master already gone closed the master
     * socket, and the peer session ends at its first read of it. */
    return jail(cfg, hostuid_net(jail_host_pid()));
}

int confine_session_filter(const struct burrow_config *cfg, enum confine_phase phase,
                           pid_t net_child)
{
    static struct session_monitor_policy mp;
    const struct sc_policy *p = phase == CONFINE_PREAUTH    ? &session_policy_preauth
                                : phase == CONFINE_POSTAUTH ? &session_policy_postauth
                                                            : &session_policy_net;
    if (phase != CONFINE_NET && !(p = session_policy_monitor(&mp, p, getpid(), net_child)))
        return BURROW_ERR_INVALID;
    /* The monitor's pre-auth filter already said which mode is on: one line per session. */
    unsigned flags = phase == CONFINE_PREAUTH ? 0 : SC_FLAG_QUIET;
    int r = sc_install(p, (enum sc_mode)cfg->security.seccomp, flags);
    if (r == 0)
        sc_test_trigger(p->name);
    return r;
}

void confine_announce_seccomp_mode(const struct burrow_config *cfg)
{
    if ((enum sc_mode)cfg->security.seccomp != SC_MODE_LOG)
        return;
    log_warn("*** [security] seccomp = log: seccomp is NOT ENFORCED. Every filter (the master, "
             "session processes, VMMs, e2fsprogs) only logs a forbidden system call and lets it "
             "run. For finding a missing syscall only; never run production this way. ***");
}

int confine_master_filter(const struct burrow_config *cfg)
{
    /* Root loads it without NO_NEW_PRIVS: every child that needs that sets it itself. */
    int r = sc_install(&master_policy, (enum sc_mode)cfg->security.seccomp,
                       SC_FLAG_TSYNC | SC_FLAG_KEEP_PRIVS);
    if (r == 0)
        sc_test_trigger(master_policy.name);
    return r;
}

int confine_monitor_namespaces(void)
{
    if (geteuid() != 0)
        return 0; /* tests of the session alone: nothing to separate */
    /* Still the host's /proc: */
    monitor_host_pid = jail_host_pid();
    int r = own_namespaces();
    if (r == 0 && getpid() == 1 &&
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        r = BURROW_ERR_SYSTEM;
    return r;
}

int confine_monitor_caps(void)
{
    static const int keep[] = {CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN, CAP_KILL};
    uint64_t mask = 0;
    if (geteuid() != 0)
        return 0; /* tests of the session alone: nothing to give up */
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        mask |= 1ull << keep[i];
    /* The bounding set first: shrinking it takes CAP_SETPCAP, which goes next. */
    for (int cap = 0; cap <= 63; cap++)
        if (!(mask & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return BURROW_ERR_SYSTEM;
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {
        {.effective = (uint32_t)mask, .permitted = (uint32_t)mask, .inheritable = 0},
        {.effective = (uint32_t)(mask >> 32),
         .permitted = (uint32_t)(mask >> 32),
         .inheritable = 0}};
    return syscall(SYS_capset, &hdr, data) == 0 ? 0 : BURROW_ERR_SYSTEM;
}

int confine_session_hide(const struct burrow_config *cfg)
{
    if (geteuid() != 0)
        return 0; /* tests of the session alone: nothing to hide */
    return hide_state_dir(cfg);
}
