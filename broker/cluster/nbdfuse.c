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
 * The bridge also exits (flushing first) when `owner` ends. A kvm VM's
 * process is not known when the bridge starts (the starter claims a pooled
 * VMM or spawns one, and either opens the file); the starter is the owner
 * until it names the VMM on the owner pipe (cluster_home_handover), so the
 * disk lives exactly as long as the process that serves it to a guest.
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
#define OWNER_FD  4 /* in the bridge: the read end of the owner pipe, or nothing */

static struct {
    const struct burrow_config *cfg;
    struct nbd_handle *h;
    uint64_t size;
    pid_t owner;
    int owner_fd;          /* the owner pipe: a new owner's pid_t, -1 once closed */
    pthread_t loop_thread; /* the FUSE loop's (the process's main thread) */
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

/*
 * A discard (the VMM's punch-hole for virtio-blk DISCARD, the loop
 * driver's): a zero request that lets the server trim (no NO_HOLE flag).
 * Reads of the range give zeros afterwards, as after a punched hole;
 * nothing else fallocate can do is offered.
 */
static int br_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
    (void)path, (void)fi;
    if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) || len < 0)
        return -EOPNOTSUPP;
    if (!may_write())
        return -EIO;
    size_t n = clamp((size_t)len, off);
    if (n && nbd_zero(br.h, n, (uint64_t)off, 0) != 0) {
        log_error("nbd %s: discard: %s", br.user, nbd_get_error());
        return -EIO;
    }
    return 0;
}

static const struct fuse_operations br_ops = {
    .getattr = br_getattr,
    .readdir = br_readdir,
    .open = br_open,
    .read = br_read,
    .write = br_write,
    .fsync = br_fsync,
    .flush = br_flush,
    .fallocate = br_fallocate,
};

/*
 * A new owner from the owner pipe: its pidfd replaces *pfd. 0 while there
 * is an owner; -1 when the named process is already gone.
 */
static int take_owner(int *pfd)
{
    pid_t pid;
    ssize_t n = read(br.owner_fd, &pid, sizeof(pid));
    if (n != (ssize_t)sizeof(pid) || pid <= 1) { /* closed (or nonsense): the owner stays */
        close(br.owner_fd);
        br.owner_fd = -1;
        return 0;
    }
    int nfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (nfd < 0)
        return -1;
    if (*pfd >= 0)
        close(*pfd);
    *pfd = nfd;
    br.owner = pid;
    log_info("nbd %s: her disk now serves pid %d", br.user, (int)pid);
    return 0;
}

/* Fence at the deadline; stop with the VM. */
static void *watchdog(void *arg)
{
    struct fuse *f = arg;
    int pfd = (int)syscall(SYS_pidfd_open, br.owner, 0);
    for (;;) {
        struct pollfd p[2] = {{pfd, POLLIN, 0}, {br.owner_fd, POLLIN, 0}};
        int gone = pfd >= 0 ? poll(p, 2, 100) > 0 && p[0].revents
                            : (usleep(100000), kill(br.owner, 0) != 0);
        /* A handover is written before the old owner exits: read it before calling it gone. */
        if (br.owner_fd >= 0 && poll(&p[1], 1, 0) > 0 && p[1].revents)
            gone = take_owner(&pfd) != 0;
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
            /* Wake the loop from its read: the signal must reach that thread, not this one. */
            pthread_kill(br.loop_thread, SIGTERM);
            return NULL;
        }
    }
}

static void bridge_main(const struct burrow_config *cfg, const char *user, pid_t owner,
                        int owner_fd, const char *mnt, int ready)
{
    /*
     * allow_other: a pooled VMM is jailed (another uid) when the claim hands
     * it the open file, and FUSE checks the caller of fstat against the
     * mounter. default_permissions: the kernel then checks the modes, so the
     * root-only directory (0700) and file (0600) keep everyone else out.
     */
    char err[512], *argv[] = {"burrow-nbd", "-o", "allow_other,default_permissions", NULL};
    struct fuse_args args = FUSE_ARGS_INIT(3, argv);
    pthread_t t;
    sigset_t none;
    prctl(PR_SET_NAME, "burrow-nbd", 0, 0, 0);
    /* A kvm starter passes on the master's blocked signals: the loop's SIGTERM must get through. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Nothing of the process that started us (a supervisor still holding the master's fds). */
    if (dup2(ready, 3) != 3 || (owner_fd >= 0 && dup2(owner_fd, OWNER_FD) != OWNER_FD))
        _exit(1);
    ready = 3;
    br.owner_fd = owner_fd >= 0 ? OWNER_FD : -1;
    close_range(br.owner_fd >= 0 ? OWNER_FD + 1 : OWNER_FD, ~0u, 0);
    br.cfg = cfg;
    br.owner = owner;
    br.loop_thread = pthread_self();
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

/*
 * Start her bridge serving `owner` (owner_fd: NULL, or where the write end
 * of a new owner pipe goes) and put its file's path in disk.
 */
static int start_bridge(const struct burrow_config *cfg, const char *user, pid_t owner,
                        int *owner_fd, char *disk, size_t disksz)
{
    char dir[CONFIG_PATH_MAX + 64];
    int p[2], o[2] = {-1, -1};
    if (cluster_path(cfg, "nbd", dir, sizeof(dir)) != 0 || fs_ensure_dir(dir, 0700) != 0)
        return BURROW_ERR_SYSTEM;
    snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/%s", user);
    if ((size_t)snprintf(disk, disksz, "%s/" DISK_NAME, dir) >= disksz)
        return BURROW_ERR_TOO_LARGE;
    umount2(dir, MNT_DETACH); /* a bridge that was killed left its mount behind */
    if (fs_ensure_dir(dir, 0700) != 0)
        return BURROW_ERR_SYSTEM;
    if (!(cluster_now_ns() < cluster_deadline(cfg))) {
        log_error("nbd %s: this host's cluster lease is not current: not opening her disk", user);
        return BURROW_ERR_PERM;
    }
    if (pipe2(p, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    if (owner_fd && pipe2(o, O_CLOEXEC) != 0) {
        close(p[0]), close(p[1]);
        return BURROW_ERR_SYSTEM;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        if (o[1] >= 0)
            close(o[1]);
        setsid();
        bridge_main(cfg, user, owner, o[0], dir, p[1]);
    }
    close(p[1]);
    if (o[0] >= 0)
        close(o[0]);
    int r = pid < 0 ? BURROW_ERR_SYSTEM : wait_ready(p[0], pid);
    if (pid < 0)
        close(p[0]);
    if (owner_fd && r == 0)
        *owner_fd = o[1];
    else if (o[1] >= 0)
        close(o[1]);
    if (r)
        log_error("nbd %s: her disk is not available (%s)", user, burrow_strerror(r));
    return r;
}

int cluster_home_open(const struct burrow_config *cfg, const char *user, pid_t owner, int *fd)
{
    char disk[CONFIG_PATH_MAX + 80];
    int r = start_bridge(cfg, user, owner, NULL, disk, sizeof(disk));
    if (r == 0 && (r = homedisk_open_locked(disk, fd)) != 0)
        log_error("nbd %s: her disk is not available (%s)", user, burrow_strerror(r));
    /* On failure the bridge ends with its owner, the caller, which gives up. */
    return r;
}

int cluster_home_bridge(const struct burrow_config *cfg, const char *user, char *path,
                        size_t pathsz, int *owner_fd)
{
    return start_bridge(cfg, user, getpid(), owner_fd, path, pathsz);
}

int cluster_home_handover(int owner_fd, pid_t pid)
{
    return write(owner_fd, &pid, sizeof(pid)) == (ssize_t)sizeof(pid) ? 0 : BURROW_ERR_SYSTEM;
}
