/* broker/sandbox.c - what a session process gives up after auth (see sandbox.h). */
#include "broker/sandbox.h"

#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "broker/seccomp_policy.h"
#include "common/err.h"

uid_t sandbox_session_uid(uint32_t user_uid)
{
    return (uid_t)(SANDBOX_SESSION_UID_BASE + (user_uid & 0x0fffffffu));
}

int sandbox_session_postauth(const struct user_record *rec)
{
    uid_t uid = sandbox_session_uid(rec->uid);
    struct rlimit zero = {0, 0};
    if (geteuid() != 0)
        return 0; /* not started as root (tests of the session alone): nothing to drop */
    if (setgroups(0, NULL) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
        return BURROW_ERR_SYSTEM;
    if (setuid(0) == 0)
        return BURROW_ERR_PERM; /* the drop did not stick */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return BURROW_ERR_SYSTEM;
    /* No RLIMIT_FSIZE 0: stderr (the log) may be a regular file. */
    if (setrlimit(RLIMIT_NPROC, &zero) != 0 || setrlimit(RLIMIT_CORE, &zero) != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

int sandbox_session_filter(const struct burrow_config *cfg, enum sandbox_phase phase)
{
    const struct sc_policy *p =
        phase == SANDBOX_PREAUTH ? &session_policy_preauth : &session_policy_postauth;
    /* The pre-auth filter already said which mode is on: one line per session is enough. */
    unsigned flags = phase == SANDBOX_POSTAUTH ? SC_FLAG_QUIET : 0;
    int r = sc_install(p, sc_mode_effective((enum sc_mode)cfg->security.seccomp), flags);
    if (r == 0)
        sc_test_trigger(p->name);
    return r;
}

int sandbox_master_filter(const struct burrow_config *cfg)
{
    int r = sc_install(&master_policy, sc_mode_effective((enum sc_mode)cfg->security.seccomp),
                       SC_FLAG_TSYNC);
    if (r == 0)
        sc_test_trigger(master_policy.name);
    return r;
}

int sandbox_session_unshare(const struct burrow_config *cfg)
{
    if (geteuid() != 0)
        return 0; /* tests of the session alone: nothing to hide */
    if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return BURROW_ERR_SYSTEM;
    unsigned long fl = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (mount("burrow-hidden", cfg->paths.state_dir, "tmpfs", fl, "size=4k,mode=0555") != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}
