/*
 * broker/fsutil.h - small file-system helpers for state kept on disk.
 *
 * Owns: bounded whole-file reads (the atomic writer is common/atomicfile.h),
 * a non-symlink-following tree remover for directories Burrow created, and
 * connecting to a unix socket in a directory someone else can write.
 */
#ifndef BURROW_BROKER_FSUTIL_H
#define BURROW_BROKER_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#define FSUTIL_MUST_CHECK __attribute__((warn_unused_result))

/* Read a regular file of at most max bytes (no symlinks) into a malloc'd,
 * NUL-terminated buffer. BURROW_ERR_NOT_FOUND, _TOO_LARGE, _FORMAT, _SYSTEM. */
FSUTIL_MUST_CHECK int fs_read_file(const char *path, size_t max, char **out, size_t *len);
/* rm -r of a directory tree Burrow made (depth <= 4, symlinks never followed).
 * A missing path is success. */
FSUTIL_MUST_CHECK int fs_remove_tree(const char *path);
/* Write text to a file that exists (procfs, sysfs: uid maps, sysctls) in one
 * write, without creating or truncating it. BURROW_ERR_SYSTEM (errno). */
FSUTIL_MUST_CHECK int fs_write_existing(const char *path, const char *text);
/*
 * Connect (blocking, SOCK_STREAM, close-on-exec) to the unix socket `name`
 * (one path component) in the directory dirfd, never through a symlink: the
 * entry is opened with O_PATH | O_NOFOLLOW, must be a socket, and that very
 * inode is connected through /proc/self/fd. For directories a less trusted
 * uid can write (a sandbox's /run/burrow), where connect() on a path would
 * follow a planted symlink to any socket of the host. The fd, or
 * BURROW_ERR_INVALID (bad name), _PERM (a symlink or not a socket),
 * _NOT_FOUND, _CLOSED (nobody listening) or _SYSTEM.
 */
FSUTIL_MUST_CHECK int fs_connect_unix_at(int dirfd, const char *name);
/* mkdir with an exact mode; an existing directory gets its mode fixed. */
FSUTIL_MUST_CHECK int fs_ensure_dir(const char *path, mode_t mode);

#endif /* BURROW_BROKER_FSUTIL_H */
