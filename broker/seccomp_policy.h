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
 * The master has no filter: it forks sessions, runs the sandbox backend
 * (mounts, namespaces, exec of the agent) and e2fsprogs; a filter loose
 * enough for that would stop little, and children would inherit it.
 */
#ifndef BURROW_BROKER_SECCOMP_POLICY_H
#define BURROW_BROKER_SECCOMP_POLICY_H

#include "vmm/jail/seccomp.h"

extern const struct sc_policy session_policy_preauth;
extern const struct sc_policy session_policy_postauth;

#endif /* BURROW_BROKER_SECCOMP_POLICY_H */
