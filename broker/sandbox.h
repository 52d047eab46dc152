/*
 * broker/sandbox.h - confinement of the session process after auth.
 *
 * Owns: what a session process gives up once the user is known, and the
 * host uid it runs as from then on. This is the clean place where the
 * hardening issue (issue 10) adds the seccomp table and the pre-auth jail.
 *
 * In now: setgroups(0), setresgid/setresuid to a per-user session uid
 * (SANDBOX_SESSION_UID_BASE + the user's uid; owner of her VM's vsock
 * socket and nothing else), PR_SET_NO_NEW_PRIVS, not dumpable (no ptrace
 * between sessions), RLIMIT_NPROC 0 (no fork), RLIMIT_CORE 0 (RLIMIT_FSIZE stays:
 * its stderr, the log, may be a regular file).
 * Not yet: seccomp; the pre-auth process still runs as root (it reads the
 * user database); no chroot/namespaces for the session process.
 */
#ifndef BURROW_BROKER_SANDBOX_H
#define BURROW_BROKER_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "broker/userdb.h"

/* Host uids for session processes, one per Burrow user (never a real user). */
#define SANDBOX_SESSION_UID_BASE 0x50000000u

uid_t sandbox_session_uid(uint32_t user_uid);

/* Drop to the user's session uid; 0 or a negative code (the caller exits). */
__attribute__((warn_unused_result)) int sandbox_session_postauth(const struct user_record *rec);

#endif /* BURROW_BROKER_SANDBOX_H */
