/*
 * broker/seccomp_policy.h - burrowd's seccomp policies (issue 10).
 *
 * Owns: the session process's allow-lists before and after auth. Compiled
 * by vmm/jail/seccomp.c like the VMM's.
 *
 * - session-preauth: loaded first thing in a session process (root, still
 *   reading the user database): libssh key exchange and auth, argon2,
 *   user records, the master socket, and the calls the privilege drop after
 *   auth needs. No exec, no fork, no new sockets but unix ones, no mount,
 *   no ptrace, no module or kexec calls.
 * - session-postauth: stacked after sandbox_session_postauth(): proxy bytes
 *   between SSH channels and the VM's vsock socket. Files cannot be opened
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

#include "vmm/jail/seccomp.h"

extern const struct sc_policy session_policy_preauth;
extern const struct sc_policy session_policy_postauth;
extern const struct sc_policy master_policy;

#endif /* BURROW_BROKER_SECCOMP_POLICY_H */
