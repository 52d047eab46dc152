/*
 * broker/session/confine.h - confinement of a session's two processes.
 *
 * Owns: what the monitor and the net child (broker/session/monitor.h, netchild.h)
 * give up, when, and the host uids they run as.
 *
 * - The net child, before libssh reads a byte (confine_net_child): its own
 *   mount, ipc and net namespaces; chroot into an empty read-only tmpfs;
 *   a per-connection uid (HOSTUID_NET_BASE + its monitor's host pid) with no groups,
 *   no capabilities, PR_SET_NO_NEW_PRIVS, not dumpable, RLIMIT_NPROC 0;
 *   killed with the monitor (PR_SET_PDEATHSIG); then the session-net
 *   seccomp filter (broker/session/seccomp_policy.c): no file can be opened.
 * - A cluster peer session (broker/cluster/peer.c, docs/cluster.md), the
 *   other process that runs libssh facing the network: the net child's
 *   jail (confine_peer_session) and filter before it reads a byte.
 * - The monitor, before auth: root (it reads the user database) in its own
 *   mount, ipc and net namespaces (confine_monitor_namespaces, before it
 *   forks the child) under the session-preauth allow-list. After auth:
 *   state_dir hidden (confine_session_hide), the user's session uid
 *   (HOSTUID_SESSION_BASE + her uid; owner of her VM's vsock socket
 *   and nothing else) with the same drop, and the session-postauth filter
 *   stacked on the pre-auth one.
 */
#ifndef BURROW_BROKER_SESSION_CONFINE_H
#define BURROW_BROKER_SESSION_CONFINE_H

#include <stdint.h>
#include <sys/types.h>

#include "broker/config.h"
#include "broker/users/userdb.h"

/*
 * The net child's jail (see above), from root; 0 or a negative code (the
 * child exits). monitor is the pid the child must still have as its parent.
 */
__attribute__((warn_unused_result)) int confine_net_child(const struct burrow_config *cfg,
                                                          pid_t monitor);

/*
 * The net child's jail for a cluster peer session: a re-executed burrowd,
 * PID 1 of its own pid namespace, that talks to the master itself. Its uid
 * is the net range's for its pid in the host's namespace (one per
 * connection). 0 or a negative code (the process exits).
 */
__attribute__((warn_unused_result)) int confine_peer_session(const struct burrow_config *cfg);

/* Drop to the user's session uid; 0 or a negative code (the caller exits). */
__attribute__((warn_unused_result)) int confine_session_postauth(const struct user_record *rec);

/*
 * First thing in the monitor (root): its own mount, ipc and net namespaces,
 * nothing propagating back, and, as PID 1 of its own pid namespace
 * (broker/session/session_exec.h), a fresh /proc that shows only its own
 * processes (no other process's memory, fds or environment to read); the
 * net child starts from a copy of them.
 */
__attribute__((warn_unused_result)) int confine_monitor_namespaces(void);

/*
 * The monitor (root) after it forked the net child: every capability but
 * CAP_SETUID and CAP_SETGID (the drop to the session uid), CAP_SYS_ADMIN
 * (the tmpfs over state_dir) and CAP_KILL (its net child, another uid) out
 * of its bounding, permitted and effective sets.
 */
__attribute__((warn_unused_result)) int confine_monitor_caps(void);

/*
 * After auth, before the drop (still root): an empty read-only tmpfs over
 * state_dir (user records, host key files) in the monitor's namespace.
 */
__attribute__((warn_unused_result)) int confine_session_hide(const struct burrow_config *cfg);

enum confine_phase { CONFINE_PREAUTH, CONFINE_POSTAUTH, CONFINE_NET };
/*
 * Load the phase's seccomp filter (in [security] seccomp's mode). The
 * monitor's phases name its net child: the one pid it may kill.
 */
__attribute__((warn_unused_result)) int
confine_session_filter(const struct burrow_config *cfg, enum confine_phase phase, pid_t net_child);

/*
 * [security] seccomp = log turns every filter burrowd and its children load
 * into a logger: say so loudly (burrowd at start and at each reload).
 */
void confine_announce_seccomp_mode(const struct burrow_config *cfg);

/*
 * The master's deny-list (broker/session/seccomp_policy.h), on every thread; every
 * process it starts afterwards inherits it.
 */
__attribute__((warn_unused_result)) int confine_master_filter(const struct burrow_config *cfg);

#endif /* BURROW_BROKER_SESSION_CONFINE_H */
