/*
 * common/vsockconn.h - the CONNECT handshake of a VM's host-side vsock
 * socket (Firecracker's): the host client writes "CONNECT <port>\n", the
 * server answers "OK <host port>\n", and the stream that follows is the
 * guest's port.
 *
 * Owns: the one formatter and the one parser of both lines, for the three
 * that speak them: the VMM's vsock device (vmm/virtio/vsock/vsock_host.c,
 * the server), the sandbox backend's supervisor (broker/vm/sbx_super.c, the
 * same server for a sandbox) and burrowd's client (broker/session/agentconn.c).
 * Reading a line off a socket stays with each: they read it a byte at a
 * time, so no byte of the stream behind it is consumed.
 */
#ifndef BURROW_COMMON_VSOCKCONN_H
#define BURROW_COMMON_VSOCKCONN_H

#include <stddef.h>
#include <stdint.h>

/* A line is short: "CONNECT 4294967295\n" and its NUL fit. */
#define VSOCKCONN_LINE_MAX 32

/* "CONNECT <port>\n" into out: its length, or BURROW_ERR_TOO_LARGE. */
__attribute__((warn_unused_result)) int vsockconn_put_connect(char *out, size_t outsz,
                                                              uint32_t port);
/* "OK <port>\n" into out: its length, or BURROW_ERR_TOO_LARGE. */
__attribute__((warn_unused_result)) int vsockconn_put_ok(char *out, size_t outsz, uint32_t port);

/*
 * A line without its newline: "CONNECT <decimal u32>" exactly: 0 and
 * *port, or BURROW_ERR_PROTOCOL.
 */
__attribute__((warn_unused_result)) int vsockconn_parse_connect(const char *line, uint32_t *port);
/* The same for "OK <decimal u32>". */
__attribute__((warn_unused_result)) int vsockconn_parse_ok(const char *line, uint32_t *port);

#endif /* BURROW_COMMON_VSOCKCONN_H */
