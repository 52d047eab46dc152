/* common/fdio.c - whole writes to a file descriptor (see fdio.h). */
#include "common/fdio.h"

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "common/err.h"

int fd_write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return BURROW_ERR_SYSTEM;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}
