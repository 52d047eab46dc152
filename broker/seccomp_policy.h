/*
 * broker/seccomp_policy.h - burrowd's seccomp policies (issue 10).
 *
 * Owns: the allow-lists of a session's two processes (broker/monitor.h).
 * Compiled by vmm/jail/seccomp.c like the VMM's.
 *
 * - session-net: the net child, once jailed, before libssh reads a byte:
 *   key exchange, auth requests to the monitor, proxying bytes between
 *   SSH channels and agent connections it is handed. Files cannot be
 *   opened (EACCES); no sockets, no connect, no fork, no identity change.
 * - session-preauth: the monitor (root, reading the user database) right
 *   after it forked the net child: user records, argon2, the master
 *   socket, reaping the child, and the calls the privilege drop after auth
 *   needs. No exec, no fork, no new sockets but unix ones, no ptrace, no
 *   module or kexec calls; mount and unshare only as the drop uses them.
 * - session-postauth: stacked on it after sandbox_session_postauth():
 *   connect to the VM's socket, pass connections on, forward VM_GONE.
 *   Files cannot be opened (EACCES), nothing can change identity.
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

#include "vmm/jail/seccomp.h"

extern const struct sc_policy session_policy_preauth;
extern const struct sc_policy session_policy_postauth;
extern const struct sc_policy session_policy_net;
extern const struct sc_policy master_policy;

#endif /* BURROW_BROKER_SECCOMP_POLICY_H */
