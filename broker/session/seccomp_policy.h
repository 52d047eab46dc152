/*
 * broker/session/seccomp_policy.h - burrowd's seccomp policies.
 *
 * Owns: the allow-lists of a session's two processes (broker/session/monitor.h).
 * Compiled by vmm/jail/seccomp.c like the VMM's.
 *
 * - session-net: the net child, once jailed, before libssh reads a byte:
 *   key exchange, auth requests to the monitor, proxying bytes between
 *   SSH channels and agent connections it is handed. Files cannot be
 *   opened (EACCES); no sockets, no connect, no fork, no identity change.
 * - session-preauth: the monitor (root, reading the user database) right
 *   after it forked the net child: user records (read-only), argon2, the
 *   master socket, reaping the child, and the calls the privilege drop
 *   after auth needs, with the arguments it uses: setresuid/setresgid to a
 *   session id (0x5xxxxxxx) only, setgroups to none, setuid(0) (which
 *   must fail: the proof of the drop), its own rlimits. kill only SIGKILL
 *   to its net child and tgkill only to itself (both pids known at run
 *   time: session_policy_monitor). No socket, no connect (the master hands
 *   over VM connections), no exec, no fork, no ptrace, no module or kexec
 *   calls.
 * - session-postauth: stacked on it after confine_session_postauth():
 *   pass connections on, forward VM_GONE. Files cannot be opened
 *   (EACCES), nothing can change identity.
 *
 * - master: a deny-list (everything else proceeds), loaded by burrowd once
 *   its sockets are open. The master forks sessions, runs the sandbox
 *   backend (mounts, namespaces, exec of the agent), the VMMs (exec, jails:
 *   mount, pivot_root, setuid) and e2fsprogs, and every child inherits its
 *   filter, so an allow-list would have to hold all of that and would stop
 *   little; the deny-list instead takes away, from the master and every
 *   child for good, what none of them needs: kernel modules and kexec,
 *   ptrace and other processes' memory, eBPF, perf, keyrings, the clock,
 *   swap, raw ports, file handles. Children stack their allow-lists on it.
 */
#ifndef BURROW_BROKER_SECCOMP_POLICY_H
#define BURROW_BROKER_SECCOMP_POLICY_H

#include <sys/types.h>

#include "vmm/jail/seccomp.h"

extern const struct sc_policy session_policy_preauth;
extern const struct sc_policy session_policy_postauth;
extern const struct sc_policy session_policy_net;
extern const struct sc_policy master_policy;

/*
 * The monitor's filter for a phase (session_policy_preauth or _postauth)
 * with the two rules only known at run time: kill (SIGKILL) of its net
 * child `child`, tgkill of itself `self`. The result lives in *mp; NULL
 * if the phase has too many tables.
 */
#define SESSION_MONITOR_RULES  2
#define SESSION_MONITOR_TABLES 4 /* the phase's tables and the run-time one */
struct session_monitor_policy {
    struct sc_rule rules[SESSION_MONITOR_RULES];
    struct sc_table tables[SESSION_MONITOR_TABLES];
    struct sc_policy policy;
};
const struct sc_policy *session_policy_monitor(struct session_monitor_policy *mp,
                                               const struct sc_policy *phase, pid_t self,
                                               pid_t child);

#endif /* BURROW_BROKER_SECCOMP_POLICY_H */
