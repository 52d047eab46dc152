/*
 * broker/agentconn.h - the session's one client path to a VM's agent.
 *
 * Owns: connecting to a VM's host-side vsock socket (Firecracker-style
 * "CONNECT 1024\n" -> "OK <port>\n", design §4), the HELLO exchange and the
 * OPEN/OPENED handshake. The kvm backend's VMM and the sandbox backend's
 * supervisor both serve this socket, so the session code has one path.
 * The two halves are separate because they run in different processes: the
 * monitor (which may reach the socket) connects, always to port 1024, and
 * hands the connection to the net child, which opens the session on it.
 */
#ifndef BURROW_BROKER_AGENTCONN_H
#define BURROW_BROKER_AGENTCONN_H

#include "common/proto.h"

#define AGENTCONN_PORT       1024
#define AGENTCONN_TIMEOUT_MS 15000
#define AGENTCONN_ERR_MAX    256

/*
 * Connect to sock_path and through the VMM's "CONNECT 1024" to the agent's
 * session port. 0 and a blocking fd, or a negative code and a reason in err.
 */
__attribute__((warn_unused_result)) int agentconn_connect(const char *sock_path, int *fd_out,
                                                          char *err, size_t errsz);
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
