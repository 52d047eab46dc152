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
 * Seccomp (broker/seccomp_policy.c): sandbox_session_filter loads the
 * pre-auth allow-list first thing in the session process and stacks the
 * post-auth one right after the drop (no file can be opened after auth).
 * sandbox_session_unshare hides state_dir in a private mount namespace.
 * Not yet: the pre-auth process still runs as root (it reads the user
 * database).
 */
#ifndef BURROW_BROKER_SANDBOX_H
#define BURROW_BROKER_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

#include "broker/config.h"
#include "broker/userdb.h"

/* Host uids for session processes, one per Burrow user (never a real user). */
#define SANDBOX_SESSION_UID_BASE 0x50000000u

uid_t sandbox_session_uid(uint32_t user_uid);

/* Drop to the user's session uid; 0 or a negative code (the caller exits). */
__attribute__((warn_unused_result)) int sandbox_session_postauth(const struct user_record *rec);

/*
 * Before the drop (still root): own mount, ipc and net namespaces, with an
 * empty read-only tmpfs over state_dir (user records, host key files) and
 * nothing propagating back. Unix sockets are reached by path, so the VM's
 * vsock socket under run_dir still works; the TCP connection is already open.
 */
__attribute__((warn_unused_result)) int sandbox_session_unshare(const struct burrow_config *cfg);

enum sandbox_phase { SANDBOX_PREAUTH, SANDBOX_POSTAUTH };
/* Load the phase's seccomp filter ([security] seccomp, BURROW_SECCOMP_LOG=1). */
__attribute__((warn_unused_result)) int sandbox_session_filter(const struct burrow_config *cfg,
                                                               enum sandbox_phase phase);

/*
 * The master's deny-list (broker/seccomp_policy.h), on every thread; every
 * process it starts afterwards inherits it.
 */
__attribute__((warn_unused_result)) int sandbox_master_filter(const struct burrow_config *cfg);

#endif /* BURROW_BROKER_SANDBOX_H */
