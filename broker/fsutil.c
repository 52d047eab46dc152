/* broker/fsutil.c - bounded reads, tree removal and safe unix connects (see fsutil.h). */
#include "broker/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"

int fs_read_file(const char *path, size_t max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return BURROW_ERR_FORMAT;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return BURROW_ERR_TOO_LARGE;
    }
    char *buf = malloc(max + 1);
    if (!buf) {
        close(fd);
        return BURROW_ERR_NOMEM;
    }
    size_t n = 0;
    ssize_t got;
    while (n <= max && (got = read(fd, buf + n, max + 1 - n)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return BURROW_ERR_SYSTEM;
        }
        n += (size_t)got;
    }
    close(fd);
    if (n > max) {
        free(buf);
        return BURROW_ERR_TOO_LARGE;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int remove_at(int parent, const char *name, int depth)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return BURROW_ERR_SYSTEM;
    if (depth > 4)
        return BURROW_ERR_TOO_LARGE;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return BURROW_ERR_SYSTEM;
    }
    int r = 0;
    struct dirent *de;
    while (r == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        r = remove_at(dirfd(d), de->d_name, depth + 1);
    }
    closedir(d);
    if (r == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        r = BURROW_ERR_SYSTEM;
    return r;
}

int fs_remove_tree(const char *path)
{
    return remove_at(AT_FDCWD, path, 0);
}

int fs_write_existing(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int e = errno;
    close(fd);
    errno = e;
    return n == (ssize_t)len ? 0 : BURROW_ERR_SYSTEM;
}

int fs_ensure_dir(const char *path, mode_t mode)
{
    if (mkdir(path, mode) == 0)
        return chmod(path, mode) < 0 ? BURROW_ERR_SYSTEM : 0;
    if (errno != EEXIST)
        return BURROW_ERR_SYSTEM;
    struct stat st;
    if (lstat(path, &st) < 0)
        return BURROW_ERR_SYSTEM;
    if (!S_ISDIR(st.st_mode))
        return BURROW_ERR_FORMAT;
    if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

int fs_connect_unix_at(int dirfd, const char *name)
{
    if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return BURROW_ERR_INVALID;
    int path_fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (path_fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    struct stat st;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int r = BURROW_ERR_PERM, fd = -1;
    /* O_PATH | O_NOFOLLOW opens a symlink itself: fstat says S_IFLNK, refused. */
    if (fstat(path_fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
        snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d", path_fd);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        r = fd < 0 ? BURROW_ERR_SYSTEM : 0;
    }
    if (r == 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        r = errno == ECONNREFUSED ? BURROW_ERR_CLOSED : BURROW_ERR_SYSTEM;
    int e = errno;
    close(path_fd);
    if (r != 0 && fd >= 0)
        close(fd);
    errno = e;
    return r != 0 ? r : fd;
}
