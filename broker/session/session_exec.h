/*
 * broker/session/session_exec.h - how a connection's session process comes to be.
 *
 * Owns: the step from the master's accept() to the session's monitor
 * (broker/session/monitor.h). The master clones a child into a new pid namespace
 * (it is PID 1 there: a compromised monitor can see and signal nothing but
 * its own net child) which at once re-executes burrowd (/proc/self/exe
 * SESSION_EXEC_ARG) with the client's TCP connection on fd 3, its master
 * socketpair on fd 4 and its arguments on a memfd at fd 5: the master's
 * configuration as it is now and the client's address. So the session
 * starts from a fresh image: nothing of the master's memory (the VM table's
 * user records with their password hashes, other sessions, the control
 * socket) reaches the monitor, or the net child it forks before a byte of
 * SSH is read. The session loads the host keys itself.
 *
 * A cluster peer session (docs/cluster.md) starts the same way with
 * SESSION_PEER_ARG, and runs another main once loaded (burrowd.c).
 */
#ifndef BURROW_BROKER_SESSION_EXEC_H
#define BURROW_BROKER_SESSION_EXEC_H

#include <sys/types.h>

#include "broker/config.h"

/* The hidden burrowd argument that makes it a session process (session_spawn). */
#define SESSION_EXEC_ARG "--session-process"
/* The same for a cluster peer session (docs/cluster.md): same fds, same start, another main. */
#define SESSION_PEER_ARG "--peer-process"

/*
 * In the master: start the session process for one accepted connection:
 * tcp_fd, and master_fd, the session's end of its socketpair (both stay
 * open here; the caller closes them). addr is the client's numeric address,
 * config_path only names the daemon in ps, kind_arg is SESSION_EXEC_ARG or
 * SESSION_PEER_ARG. Returns its pid (the master's child, to wait for and to
 * signal), or -1 (errno).
 */
pid_t session_spawn(const struct burrow_config *cfg, int tcp_fd, int master_fd, const char *addr,
                    const char *config_path, const char *kind_arg);

/* What runs once the arguments, the configuration and the host keys are loaded. */
struct session_args;
typedef int (*session_main_fn)(const struct session_args *a);

/*
 * burrowd's entry for SESSION_EXEC_ARG (run = session_monitor_main) and
 * SESSION_PEER_ARG: check the arguments, load what it needs, run `run`.
 */
int session_exec_main(int argc, char **argv, session_main_fn run);

#endif /* BURROW_BROKER_SESSION_EXEC_H */
