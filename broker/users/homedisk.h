/*
 * broker/users/homedisk.h - users' home disk images: create, resize, lock.
 *
 * Owns: the image format (a sparse raw file holding one ext4 filesystem,
 * root directory owned by the user, with a skeleton .profile), its creation
 * with host e2fsprogs, grow-only offline resizing, and the image lock.
 *
 * The lock: an exclusive OFD lock (fcntl F_OFD_SETLK, F_WRLCK over the whole
 * file) held for as long as a VMM, sandbox or burrowctl uses the image. Fork,
 * resize and delete refuse a locked image (BURROW_ERR_BUSY). OFD locks belong
 * to the open file description, so they survive fork() with the fd and are
 * released when the last fd to it is closed.
 *
 * Trust (docs/security.md): a guest with root can write raw blocks, so an image a
 * guest has used is hostile input. Host e2fsprogs runs unconfined only on
 * fresh images (homedisk_create); e2fsck and resize2fs on an image a guest
 * has had run confined, one run at a time (vmm/jail/tool.h: their own uid,
 * pid namespace and /proc, seccomp, killed after JAIL_TOOL_TIMEOUT_S).
 */
#ifndef BURROW_BROKER_HOMEDISK_H
#define BURROW_BROKER_HOMEDISK_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/jail/seccomp.h"

#define HOMEDISK_SIZE_MIN   (16ull << 20) /* 16 MiB */
#define HOMEDISK_SIZE_MAX   (16ull << 40) /* 16 TiB */
#define HOMEDISK_SIZE_ALIGN (1ull << 20)  /* sizes are rounded up to 1 MiB */
#define HOMEDISK_ERR_MAX    512

#define HOMEDISK_MUST_CHECK __attribute__((warn_unused_result))

/*
 * Create path (must not exist) as a size-byte sparse image with ext4 whose
 * root is owned by uid:gid and holds .profile (also uid:gid). Built under a
 * temporary name in the same directory and renamed into place; on failure
 * nothing is left behind. size is rounded up to HOMEDISK_SIZE_ALIGN and must
 * be within [HOMEDISK_SIZE_MIN, HOMEDISK_SIZE_MAX].
 */
HOMEDISK_MUST_CHECK int homedisk_create(const char *path, uint64_t size, uint32_t uid, uint32_t gid,
                                        char *err, size_t errsz);

/*
 * Grow path to new_size (rounded as above) offline: takes the image lock
 * (BURROW_ERR_BUSY if a VM holds it), refuses shrinking or equal sizes
 * (BURROW_ERR_RANGE), runs e2fsck -f -p (problems it cannot fix: nothing
 * changes, BURROW_ERR_FORMAT), extends the file and runs resize2fs. Both
 * tools run confined (vmm/jail/tool.h) with their filter in `mode`.
 */
HOMEDISK_MUST_CHECK int homedisk_resize(const char *path, uint64_t new_size, enum sc_mode mode,
                                        char *err, size_t errsz);

/*
 * Open path read-write and take the exclusive image lock. Returns 0 and the
 * fd (O_CLOEXEC) in *fd_out, BURROW_ERR_BUSY if someone else holds it,
 * BURROW_ERR_NOT_FOUND if there is no image. The VMM uses this fd for I/O.
 */
HOMEDISK_MUST_CHECK int homedisk_open_locked(const char *path, int *fd_out);
/* Take the lock on an fd already open for writing. */
HOMEDISK_MUST_CHECK int homedisk_lock_fd(int fd);
/* Release the lock and close the fd (no-op for fd < 0). The release is
 * explicit (F_UNLCK): it ends the lock for every fd sharing this open file
 * description, e.g. in a forked child. Just close() the fd to keep it held
 * for such copies. */
void homedisk_unlock(int fd);
/* 1 if some open file description holds the lock, 0 if not, or a negative code. */
int homedisk_is_locked(const char *path);

/* Apparent size of the image in bytes. */
HOMEDISK_MUST_CHECK int homedisk_size(const char *path, uint64_t *size_out);
/* Round a requested size and check it is within limits (BURROW_ERR_RANGE). */
HOMEDISK_MUST_CHECK int homedisk_check_size(uint64_t requested, uint64_t *rounded_out);

/* Test hook: look for e2fsprogs tools only in dir (NULL: the system's). */
void homedisk_test_set_tool_dir(const char *dir);

/* The skeleton .profile written into every new home. */
extern const char homedisk_profile[];

#endif /* BURROW_BROKER_HOMEDISK_H */
