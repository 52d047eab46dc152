/*
 * broker/session/agentconn.h - the session's one client path to a VM's agent.
 *
 * Owns: connecting to a VM's host-side vsock socket (Firecracker-style
 * "CONNECT 1024\n" -> "OK <port>\n", docs/guest.md), the HELLO exchange and the
 * OPEN/OPENED handshake. The kvm backend's VMM and the sandbox backend's
 * supervisor both serve this socket, so the session code has one path.
 * The parts are separate because they run in different processes: the
 * master (root, which may reach every VM's socket) connects to the user's
 * VM and sends "CONNECT 1024" without waiting (agentconn_open); the
 * session's monitor, which gets that connection with SCM_RIGHTS and has no
 * socket() or connect() of its own, waits for the VMM's "OK"
 * (agentconn_await_ok) and hands it to the net child, which opens the
 * session on it (agentconn_start).
 */
#ifndef BURROW_BROKER_AGENTCONN_H
#define BURROW_BROKER_AGENTCONN_H

#include "common/proto.h"

#define AGENTCONN_PORT PROTO_SESSION_PORT
/*
 * How long the agent of a running VM may take to answer a connection and
 * its OPEN. Idle hosts see milliseconds; a host starting forty VMs at once
 * on two cores (or the emulated nested L1) has taken over 15 s. It bounds
 * a hung agent, it is not a latency goal: the session's own wait for a VM
 * start is 120 s, OpenSSH's LoginGraceTime the same.
 */
#define AGENTCONN_TIMEOUT_MS 60000
#define AGENTCONN_ERR_MAX    256

/*
 * Connect to sock_path and send "CONNECT 1024", never blocking (the master
 * calls it): 0 and a blocking fd whose "OK" is still to be read, or a
 * negative code and a reason in err (BURROW_ERR_BUSY: the VMM's backlog is
 * full).
 */
__attribute__((warn_unused_result)) int agentconn_open(const char *sock_path, int *fd_out,
                                                       char *err, size_t errsz);
/* Read the VMM's "OK <port>" (bounded wait): 0, or a negative code and a reason. */
__attribute__((warn_unused_result)) int agentconn_await_ok(int fd, char *err, size_t errsz);

/* HELLO/OPEN/OPENED on a connection from agentconn_connect; makes it non-blocking. */
__attribute__((warn_unused_result)) int agentconn_start(int fd, const struct proto_open *o,
                                                        char *err, size_t errsz);

/* What OPEN(listen) got: LISTENING, copied. */
struct agentconn_listener {
    uint32_t port;                  /* tcp: bound */
    char path[PROTO_PATH_MAX + 1];  /* unix: the socket */
    uint8_t token[PROTO_TOKEN_LEN]; /* for OPEN(accept) */
};
/* As agentconn_start for OPEN(listen), then its LISTENING into *l. */
__attribute__((warn_unused_result)) int agentconn_listen(int fd, const struct proto_open *o,
                                                         struct agentconn_listener *l, char *err,
                                                         size_t errsz);

#endif /* BURROW_BROKER_AGENTCONN_H */
