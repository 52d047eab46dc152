/*
 * common/fdpass.h - descriptors along with a message (SCM_RIGHTS).
 *
 * Owns: building and reading the control message, so every process pair
 * that hands over a descriptor (the session's monitor and net child, a pool
 * claimer and a pooled VMM) does it one way. A receiver keeps at most as
 * many descriptors as it asks for (one, with fdpass_recv) and closes every
 * other one that came along: a hostile sender cannot make it hold
 * descriptors it did not ask for.
 */
#ifndef BURROW_COMMON_FDPASS_H
#define BURROW_COMMON_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* sendmsg of len bytes, with fd attached when fd >= 0; returns what sendmsg returned. */
ssize_t fdpass_send(int sock, const void *data, size_t len, int fd, int flags);

/*
 * recvmsg of up to len bytes (MSG_CMSG_CLOEXEC added to flags). If fd is not
 * NULL and *fd < 0, the first descriptor that came along lands in *fd; all
 * others are closed. *msg_flags (if not NULL) gets the message's flags
 * (MSG_TRUNC: the datagram was longer than len). Returns what recvmsg returned.
 */
ssize_t fdpass_recv(int sock, void *data, size_t len, int *fd, int flags, int *msg_flags);

#define FDPASS_MAX 2 /* descriptors one message may carry */

/* The same with nfds (<= FDPASS_MAX) descriptors attached. */
ssize_t fdpass_sendv(int sock, const void *data, size_t len, const int *fds, unsigned nfds,
                     int flags);
/*
 * recvmsg keeping up to want (<= FDPASS_MAX) descriptors in fds[0..*got),
 * in the order sent; fds the caller set to -1 beyond *got stay -1.
 */
ssize_t fdpass_recvv(int sock, void *data, size_t len, int *fds, unsigned want, unsigned *got,
                     int flags, int *msg_flags);

#endif /* BURROW_COMMON_FDPASS_H */
