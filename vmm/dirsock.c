/* vmm/dirsock.c - request sockets in a VM's run directory (see dirsock.h). */
#include "vmm/dirsock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"

/* A stream socket and the address of dir/name: the fd, or -1 with *r set. */
static int sock_for(const char *dir, const char *name, struct sockaddr_un *sa, int *r)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
        *r = BURROW_ERR_TOO_LARGE;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    *r = fd < 0 ? BURROW_ERR_SYSTEM : 0;
    return fd;
}

int dirsock_listen(const char *dir, const char *name, int *fd_out)
{
    struct sockaddr_un sa;
    int r, fd = sock_for(dir, name, &sa, &r);
    if (fd < 0)
        return r;
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        close(fd);
        return BURROW_ERR_SYSTEM;
    }
    *fd_out = fd;
    return 0;
}

int dirsock_connect(const char *dir, const char *name, int *fd_out)
{
    struct sockaddr_un sa;
    int r, fd = sock_for(dir, name, &sa, &r);
    if (fd < 0)
        return r;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_CLOSED;
        close(fd);
        return r;
    }
    *fd_out = fd;
    return 0;
}

int dirsock_read_line(int fd, char *line, size_t sz, int timeout_ms)
{
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    line[0] = '\0';
    while (got + 1 < sz) {
        if (poll(&p, 1, timeout_ms) <= 0)
            return BURROW_ERR_TIMEOUT;
        ssize_t n = read(fd, line + got, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            line[got] = '\0';
            return BURROW_ERR_CLOSED;
        }
        if (line[got] == '\n') {
            line[got] = '\0';
            return 0;
        }
        got++;
    }
    line[got] = '\0';
    return BURROW_ERR_TOO_LARGE;
}
