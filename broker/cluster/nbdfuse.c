/*
 * broker/cluster/nbdfuse.c - her home disk on NBD, seen by the host as one
 * file: run_dir/cluster/nbd/NAME/disk, a FUSE file served by a bridge
 * process through libnbd (docs/cluster.md, "Home disks on NBD").
 *
 * Why a file: both backends take their home disk as a file descriptor (the
 * sandbox loop-mounts it, the kvm VMM does pread/pwrite/fdatasync on it
 * behind virtio-blk), so one bridge serves both, unchanged. A guest's flush
 * reaches the server: fsync on the file (the loop driver's flush, the VMM's
 * fdatasync) is a FUSE FSYNC, answered only after nbd_flush returned. The
 * file is opened direct_io: no host page cache sits between her writes and
 * the server.
 *
 * Fencing, enforced here and not only by the cluster process: before every
 * write and flush the bridge checks this host's deadline
 * (run_dir/cluster/lease, cluster_deadline()); past it the I/O fails, and a
 * watchdog thread kills the VM process it serves (`owner`) and exits,
 * closing the NBD connection. The deadline is at most half a lease TTL
 * after the last renewal the cluster process saw, so the disk is let go
 * before the lease can expire at etcd and another host can own her.
 *
 * The bridge also exits (flushing first) when `owner` ends.
 */
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/cluster/cluster.h"
#include "broker/cluster/cnbd.h"
#include "broker/fsutil.h"
#include "broker/users/homedisk.h"
#include "common/err.h"
#include "common/log.h"

#define DISK_NAME "disk"

static struct {
    const struct burrow_config *cfg;
    struct nbd_handle *h;
    uint64_t size;
    pid_t owner;
    char user[USERDB_NAME_MAX + 1];
} br;

/* This host may still write: its lease deadline has not passed. */
static int may_write(void)
{
    return cluster_now_ns() < cluster_deadline(br.cfg);
}

static int br_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    memset(st, 0, sizeof(*st));
    if (strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0700;
        st->st_nlink = 2;
    } else if (strcmp(path, "/" DISK_NAME) == 0) {
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
        st->st_size = (off_t)br.size;
    } else {
        return -ENOENT;
    }
    return 0;
}

static int br_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
                      struct fuse_file_info *fi, enum fuse_readdir_flags fl)
{
    (void)off, (void)fi, (void)fl;
    if (strcmp(path, "/") != 0)
        return -ENOENT;
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill(buf, DISK_NAME, NULL, 0, 0);
    return 0;
}

static int br_open(const char *path, struct fuse_file_info *fi)
{
    if (strcmp(path, "/" DISK_NAME) != 0)
        return -ENOENT;
    fi->direct_io = 1;
    return 0;
}

/* Clamp a request to the export: the guest's sectors are hostile, so is the size. */
static size_t clamp(size_t n, off_t off)
{
    if (off < 0 || (uint64_t)off >= br.size)
        return 0;
    return (uint64_t)off + n > br.size ? (size_t)(br.size - (uint64_t)off) : n;
}

static int br_read(const char *path, char *buf, size_t n, off_t off, struct fuse_file_info *fi)
{
    (void)path, (void)fi;
    n = clamp(n, off);
    if (n && nbd_pread(br.h, buf, n, (uint64_t)off, 0) != 0) {
        log_error("nbd %s: read: %s", br.user, nbd_get_error());
        return -EIO;
    }
    return (int)n;
}

static int br_write(const char *path, const char *buf, size_t n, off_t off,
                    struct fuse_file_info *fi)
{
    (void)path, (void)fi;
    if (!may_write())
        return -EIO;
    n = clamp(n, off);
    if (n && nbd_pwrite(br.h, buf, n, (uint64_t)off, 0) != 0) {
        log_error("nbd %s: write: %s", br.user, nbd_get_error());
        return -EIO;
    }
    return (int)n;
}

static int br_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)path, (void)datasync, (void)fi;
    if (!may_write() || nbd_flush(br.h, 0) != 0)
        return -EIO;
    return 0;
}

static int br_flush(const char *path, struct fuse_file_info *fi)
{
    return br_fsync(path, 1, fi);
}

static const struct fuse_operations br_ops = {
    .getattr = br_getattr,
    .readdir = br_readdir,
    .open = br_open,
    .read = br_read,
    .write = br_write,
    .fsync = br_fsync,
    .flush = br_flush,
};

/* Fence at the deadline; stop with the VM. */
static void *watchdog(void *arg)
{
    struct fuse *f = arg;
    int pfd = (int)syscall(SYS_pidfd_open, br.owner, 0);
    for (;;) {
        struct pollfd p = {pfd, POLLIN, 0};
        int gone = pfd >= 0 ? poll(&p, 1, 100) > 0 : (usleep(100000), kill(br.owner, 0) != 0);
        if (!may_write()) {
            log_warn("nbd %s: this host's lease deadline passed: fencing (VM killed, disk "
                     "released)",
                     br.user);
            kill(br.owner, SIGKILL);
            _exit(3);
        }
        if (gone) {
            if (nbd_flush(br.h, 0) != 0)
                log_warn("nbd %s: last flush: %s", br.user, nbd_get_error());
            fuse_exit(f);
            kill(getpid(), SIGTERM); /* wake the loop from its read */
            return NULL;
        }
    }
}

static void bridge_main(const struct burrow_config *cfg, const char *user, pid_t owner,
                        const char *mnt, int ready)
{
    char err[512], *argv[] = {"burrow-nbd", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(1, argv);
    pthread_t t;
    prctl(PR_SET_NAME, "burrow-nbd", 0, 0, 0);
    /* Nothing of the process that started us (a supervisor still holding the master's fds). */
    if (dup2(ready, 3) != 3)
        _exit(1);
    ready = 3;
    close_range(4, ~0u, 0);
    br.cfg = cfg;
    br.owner = owner;
    snprintf(br.user, sizeof(br.user), "%s", user);
    if (cnbd_connect(cfg, user, &br.h, &br.size, err, sizeof(err)) != 0) {
        log_error("nbd %s: %s", user, err);
        _exit(1);
    }
    struct fuse *f = fuse_new(&args, &br_ops, sizeof(br_ops), NULL);
    if (!f || fuse_mount(f, mnt) != 0) {
        log_error("nbd %s: cannot mount the bridge at %s", user, mnt);
        _exit(1);
    }
    fuse_set_signal_handlers(fuse_get_session(f));
    if (pthread_create(&t, NULL, watchdog, f) != 0 || write(ready, "R", 1) != 1)
        _exit(1);
    close(ready);
    fuse_loop(f);
    fuse_unmount(f);
    nbd_flush(br.h, 0);
    nbd_shutdown(br.h, 0);
    _exit(0);
}

static int wait_ready(int fd, pid_t child)
{
    struct pollfd p = {fd, POLLIN, 0};
    char c = 0;
    int r = poll(&p, 1, 20000) == 1 && read(fd, &c, 1) == 1 && c == 'R' ? 0 : BURROW_ERR_CLOSED;
    close(fd);
    if (r != 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    return r;
}

int cluster_home_open(const struct burrow_config *cfg, const char *user, pid_t owner, int *fd)
{
    char dir[CONFIG_PATH_MAX + 64], disk[CONFIG_PATH_MAX + 80];
    int p[2];
    if (cluster_path(cfg, "nbd", dir, sizeof(dir)) != 0 || fs_ensure_dir(dir, 0700) != 0)
        return BURROW_ERR_SYSTEM;
    snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", user);
    snprintf(disk, sizeof(disk), "%s/" DISK_NAME, dir);
    umount2(dir, MNT_DETACH); /* a bridge that was killed left its mount behind */
    if (fs_ensure_dir(dir, 0700) != 0)
        return BURROW_ERR_SYSTEM;
    if (!(cluster_now_ns() < cluster_deadline(cfg))) {
        log_error("nbd %s: this host's cluster lease is not current: not opening her disk", user);
        return BURROW_ERR_PERM;
    }
    if (pipe2(p, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    pid_t pid = fork();
    if (pid < 0)
        return BURROW_ERR_SYSTEM;
    if (pid == 0) {
        close(p[0]);
        setsid();
        bridge_main(cfg, user, owner, dir, p[1]);
    }
    close(p[1]);
    int r = wait_ready(p[0], pid);
    if (r == 0 && (r = homedisk_open_locked(disk, fd)) != 0)
        kill(pid, SIGKILL);
    if (r)
        log_error("nbd %s: her disk is not available (%s)", user, burrow_strerror(r));
    return r;
}
