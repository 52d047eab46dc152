/*
 * common/atomicfile.h - files replaced whole, so a crash leaves the old
 * content or the new one, never a mix.
 *
 * Owns: the one atomic file writer (a temp file in the same directory,
 * written whole, fsynced, renamed over the path, then the directory
 * fsynced, every step checked) and the directory fsync that makes a
 * rename, link or unlink durable. burrowd's state (user records, host
 * keys, VM records) and the VMM's files (templates, hibernated images)
 * use these two.
 */
#ifndef BURROW_COMMON_ATOMICFILE_H
#define BURROW_COMMON_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace path with data atomically; the file gets `mode` regardless of
 * umask. 0, BURROW_ERR_TOO_LARGE (path too long) or BURROW_ERR_SYSTEM
 * (errno says why; the temp file is gone).
 */
__attribute__((warn_unused_result)) int fs_write_atomic(const char *path, const void *data,
                                                        size_t len, mode_t mode);
/* fsync the directory dir: 0 or BURROW_ERR_SYSTEM (errno kept). */
__attribute__((warn_unused_result)) int fs_fsync_dir(const char *dir);

#endif /* BURROW_COMMON_ATOMICFILE_H */
