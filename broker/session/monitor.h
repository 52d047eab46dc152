/*
 * broker/session/monitor.h - the privileged half of a session (OpenSSH's monitor).
 *
 * Owns: the session process the master starts for each connection (a fresh
 * burrowd, PID 1 of its own pid namespace: broker/session/session_exec.h). Before a
 * byte of SSH is read it forks the net child (broker/session/netchild.c: libssh, key
 * exchange, authentication, channels), which jails itself: its own
 * per-connection uid, an empty root, no capabilities, the session-net
 * seccomp filter. The monitor never touches the TCP connection; it answers
 * only what the child may ask (broker/mproto.h):
 *
 *   - before auth: is this public key / password right for this user? It
 *     alone reads the user database, runs argon2id, counts failures against
 *     max_auth_tries (refusing any request past it) and enforces
 *     login_grace_time (it stops waiting and exits; the child dies with it);
 *   - after auth: one connection to the user's VM per channel, which the
 *     master opens (the monitor has no socket() or connect()) through the
 *     VMM's "CONNECT 1024" (the child cannot pick another port or another
 *     VM), passed on with SCM_RIGHTS. It alone talks to the master
 *     (AUTH_OK/AUTH_FAIL, VM_REQ, VM_CONNECT) and forwards VM_GONE.
 *
 * Before auth it is root with a /proc of its own pid namespace and only
 * CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN (the tmpfs over state_dir) and
 * CAP_KILL (its net child) left.
 *
 * After auth it drops to the user's session uid in its own namespaces with
 * state_dir hidden and the post-auth filter. A child that breaks the
 * protocol is treated as compromised: killed (pre-auth) or left to die with
 * the monitor (PR_SET_PDEATHSIG). Its exit status becomes the session's.
 */
#ifndef BURROW_BROKER_MONITOR_H
#define BURROW_BROKER_MONITOR_H

#include "broker/session/netchild.h"

/* Run the whole connection; returns the session process's exit code. */
int session_monitor_main(const struct session_args *args);

/* The session process's exit status when login_grace_time ended it before a login. */
#define SESSION_EXIT_GRACE 3

#endif /* BURROW_BROKER_MONITOR_H */
