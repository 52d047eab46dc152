/*
 * common/fdio.h - whole writes to a file descriptor.
 *
 * Owns: the one loop that writes a buffer completely (short writes
 * continued, EINTR retried), for files the VMM and burrowctl write in one
 * piece (template builds, hibernated images).
 */
#ifndef BURROW_COMMON_FDIO_H
#define BURROW_COMMON_FDIO_H

#include <stddef.h>

/* Write all len bytes: 0, or BURROW_ERR_SYSTEM (errno says why). */
__attribute__((warn_unused_result)) int fd_write_all(int fd, const void *p, size_t len);

#endif /* BURROW_COMMON_FDIO_H */
