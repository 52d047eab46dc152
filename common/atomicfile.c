/* common/atomicfile.c - atomic file replacement and directory fsync (see atomicfile.h). */
#include "common/atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdio.h"

static int dir_of(const char *path, char *dir, size_t dirsz)
{
    if (snprintf(dir, dirsz, "%s", path) >= (int)dirsz)
        return BURROW_ERR_TOO_LARGE;
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, dirsz, ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return 0;
}

int fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    int r = fsync(fd) < 0 ? BURROW_ERR_SYSTEM : 0;
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    int r = dir_of(path, dir, sizeof(dir));
    if (r < 0)
        return r;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp))
        return BURROW_ERR_TOO_LARGE;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    r = fchmod(fd, mode) < 0 ? BURROW_ERR_SYSTEM : 0;
    if (r == 0)
        r = fd_write_all(fd, data, len);
    if (r == 0 && fsync(fd) < 0)
        r = BURROW_ERR_SYSTEM;
    int e = errno;
    if (close(fd) < 0 && r == 0) {
        r = BURROW_ERR_SYSTEM;
        e = errno;
    }
    if (r == 0 && rename(tmp, path) < 0) {
        r = BURROW_ERR_SYSTEM;
        e = errno;
    }
    if (r < 0) {
        unlink(tmp);
        errno = e;
        return r;
    }
    return fs_fsync_dir(dir);
}
