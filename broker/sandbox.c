/* broker/sandbox.c - what a session process gives up after auth (see sandbox.h). */
#include "broker/sandbox.h"

#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

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
