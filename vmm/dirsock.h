/*
 * vmm/dirsock.h - a VMM process's request sockets in its run directory
 * (run_dir/vm/<id>/claim.sock for the warm pool, hibernate.sock for
 * hibernation): made as root before the jail, served by the jailed VMM,
 * used by root on the host.
 *
 * Owns: the socket address of DIR/NAME, listening, connecting, and reading
 * one bounded line with a bounded wait, so each request protocol (vmm/pool.h,
 * vmm/hibernate.h) only says what its lines mean.
 */
#ifndef BURROW_VMM_DIRSOCK_H
#define BURROW_VMM_DIRSOCK_H

#include <stddef.h>

/* Listen on dir/name (a stale socket there is replaced): 0 with *fd_out. */
__attribute__((warn_unused_result)) int dirsock_listen(const char *dir, const char *name,
                                                       int *fd_out);
/* Connect to dir/name: 0 with *fd_out, NOT_FOUND (no socket), CLOSED (nobody listens). */
__attribute__((warn_unused_result)) int dirsock_connect(const char *dir, const char *name,
                                                        int *fd_out);
/*
 * Read up to one '\n' (stripped) into line, waiting at most timeout_ms for
 * each piece: 0, TIMEOUT, CLOSED (EOF first), TOO_LARGE (no newline in sz-1
 * bytes). Reads byte by byte: what follows the line stays in the socket.
 */
__attribute__((warn_unused_result)) int dirsock_read_line(int fd, char *line, size_t sz,
                                                          int timeout_ms);

#endif /* BURROW_VMM_DIRSOCK_H */
