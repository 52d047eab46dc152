/*
 * broker/agentconn.h - the session process's one client path to a VM's agent.
 *
 * Owns: connecting to a VM's host-side vsock socket (Firecracker-style
 * "CONNECT 1024\n" -> "OK <port>\n", design §4), the HELLO exchange and the
 * OPEN/OPENED handshake. The kvm backend's VMM and the sandbox backend's
 * supervisor both serve this socket, so the session code has one path.
 */
#ifndef BURROW_BROKER_AGENTCONN_H
#define BURROW_BROKER_AGENTCONN_H

#include "common/proto.h"

#define AGENTCONN_PORT       1024
#define AGENTCONN_TIMEOUT_MS 15000
#define AGENTCONN_ERR_MAX    256

/*
 * Connect to sock_path, open a session described by *o and wait for
 * OPENED. Returns 0 and a non-blocking fd, or a negative code with a
 * human-readable reason in err (the agent's ERROR text when it refused).
 */
__attribute__((warn_unused_result)) int agentconn_open(const char *sock_path,
                                                       const struct proto_open *o, int *fd_out,
                                                       char *err, size_t errsz);

#endif /* BURROW_BROKER_AGENTCONN_H */
