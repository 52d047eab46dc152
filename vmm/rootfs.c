/* vmm/rootfs.c - root filesystem images for templates (see rootfs.h). */
#include "vmm/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "common/exepath.h"
#include "common/errmsg.h"
#include "vmm/machine.h"

int rootfs_pkg_name_ok(const char *name, size_t len)
{
    if (len < 2 || len > ROOTFS_PKG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '+' && c != '-' && c != '.')))
            return 0;
    }
    return 1;
}

int rootfs_packages_check(const char *list, char *why, size_t whysz)
{
    size_t total = strnlen(list, ROOTFS_PKGS_LEN_MAX + 1);
    if (total == 0)
        return errmsg(why, whysz, BURROW_ERR_INVALID, "--packages: an empty list");
    if (total > ROOTFS_PKGS_LEN_MAX)
        return errmsg(why, whysz, BURROW_ERR_INVALID, "--packages: longer than %d bytes",
                      ROOTFS_PKGS_LEN_MAX);
    unsigned n = 0;
    for (const char *p = list;; n++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n >= ROOTFS_PKGS_MAX)
            return errmsg(why, whysz, BURROW_ERR_INVALID, "--packages: more than %d names",
                          ROOTFS_PKGS_MAX);
        if (!rootfs_pkg_name_ok(p, len))
            return errmsg(why, whysz, BURROW_ERR_INVALID,
                          "--packages: '%.*s' is not a Debian package name "
                          "([a-z0-9][a-z0-9+.-]+, 2-%d characters, comma-separated)",
                          (int)(len > 64 ? 64 : len), p, ROOTFS_PKG_NAME_MAX);
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

int rootfs_kind_ok(const char *kind)
{
    return strcmp(kind, ROOTFS_KIND_DEBIAN) == 0;
}

int rootfs_script_path(char *out, size_t outsz)
{
    const char *env = getenv("BURROW_MKROOTFS");
    if (env && *env) {
        if (snprintf(out, outsz, "%s", env) >= (int)outsz)
            return BURROW_ERR_TOO_LARGE;
        return access(out, X_OK) == 0 ? 0 : BURROW_ERR_NOT_FOUND;
    }
    int r = exepath_beside(ROOTFS_SCRIPT_REL, out, outsz);
    if (r)
        return r == BURROW_ERR_TOO_LARGE ? r : BURROW_ERR_NOT_FOUND;
    return access(out, X_OK) == 0 ? 0 : BURROW_ERR_NOT_FOUND;
}

/*
 * The builder runs in its own process group (debootstrap, dpkg and their
 * children with it). SIGINT, SIGTERM or SIGHUP to us is passed on to that
 * group (unless it was ignored when we started, as under nohup), and we
 * wait for the whole group to be gone, so the caller's
 * clean-up never races a still-running debootstrap: an interrupted build
 * leaves nothing either.
 */
static volatile sig_atomic_t builder_pgid, builder_signal;

static void forward_signal(int sig)
{
    builder_signal = sig;
    if (builder_pgid > 0)
        kill(-(pid_t)builder_pgid, SIGTERM);
}

static void wait_group_gone(pid_t pgid)
{
    for (int i = 0; i < 200 && kill(-pgid, 0) == 0; i++) {
        if (i == 100)
            kill(-pgid, SIGKILL);
        usleep(50 * 1000);
    }
}

int rootfs_build_image(const struct rootfs_build *rb, char *why, size_t whysz)
{
    char *argv[7] = {(char *)rb->script,
                     (char *)rb->image,
                     (char *)rb->work_dir,
                     (char *)rb->initrd,
                     (char *)rb->cache_dir,
                     (char *)rb->packages,
                     NULL};
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa = {.sa_handler = forward_signal}, old[3];
    sigemptyset(&sa.sa_mask);
    builder_signal = 0;
    builder_pgid = 0;
    for (int i = 0; i < 3; i++) {
        sigaction(sigs[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN) /* nohup and friends keep their meaning */
            sigaction(sigs[i], &sa, NULL);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 3; i++)
            signal(sigs[i], SIG_DFL);
        setpgid(0, 0);
        /* stdin from /dev/null: debootstrap and dpkg must never wait for an answer */
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0 && nul != 0) {
            dup2(nul, 0);
            close(nul);
        }
        execv(rb->script, argv);
        fprintf(stderr, "rootfs: cannot run %s: %s\n", rb->script, strerror(errno));
        _exit(127);
    }
    int st = 0, e = errno;
    if (pid > 0) {
        setpgid(pid, pid); /* also here: no signal may find the group missing */
        builder_pgid = pid;
        if (builder_signal)
            kill(-pid, SIGTERM);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        wait_group_gone(pid);
    }
    builder_pgid = 0;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
    if (pid < 0) {
        errno = e;
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "fork");
    }
    if (builder_signal)
        return errmsg(why, whysz, BURROW_ERR_SYSTEM,
                      "the root filesystem build was interrupted (signal %d)", (int)builder_signal);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        return errmsg(why, whysz, BURROW_ERR_SYSTEM,
                      "the root filesystem build was killed by signal %d", WTERMSIG(st));
    return errmsg(why, whysz, BURROW_ERR_SYSTEM,
                  "the root filesystem build failed (status %d; see the lines above)",
                  WEXITSTATUS(st));
}

static int block_is_zero(const uint8_t *p, size_t n)
{
    if (n < 16) {
        for (size_t i = 0; i < n; i++)
            if (p[i])
                return 0;
        return 1;
    }
    uint64_t first;
    memcpy(&first, p, 8);
    return first == 0 && memcmp(p, p + 8, n - 8) == 0;
}

int rootfs_copy_image(const char *src, const char *dst, char *why, size_t whysz)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "%s", src);
    struct stat st;
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
        close(in);
        return errmsg(why, whysz, BURROW_ERR_INVALID, "%s: not a non-empty regular file", src);
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "%s", dst);
    }
    static uint8_t blk[1 << 16];
    int r = ftruncate(out, st.st_size) < 0 ? BURROW_ERR_SYSTEM : 0;
    for (off_t off = 0; !r && off < st.st_size;) {
        ssize_t n = pread(in, blk, sizeof(blk), off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? BURROW_ERR_SYSTEM : BURROW_ERR_TRUNCATED;
            break;
        }
        if (!block_is_zero(blk, (size_t)n) && pwrite(out, blk, (size_t)n, off) != n)
            r = BURROW_ERR_SYSTEM;
        off += n;
    }
    if (!r && fsync(out) < 0)
        r = BURROW_ERR_SYSTEM;
    close(in);
    close(out);
    if (r) {
        unlink(dst);
        return errmsg_sys(why, whysz, r, "copying %s to %s", src, dst);
    }
    return 0;
}

int rootfs_cmdline(const char *base, char *out, size_t outsz)
{
    if (!base)
        base = MACHINE_LINUX_CMDLINE;
    int n;
    if (strstr(base, ROOTFS_CMDLINE_KEY))
        n = snprintf(out, outsz, "%s", base);
    else
        n = snprintf(out, outsz, "%s%s" ROOTFS_CMDLINE_KEY ROOTFS_GUEST_DEV, base,
                     *base ? " " : "");
    return (n < 0 || (size_t)n >= outsz) ? BURROW_ERR_TOO_LARGE : 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void rootfs_rm_tree(const char *dir)
{
    static const char *const mounts[] = {"root/dev/pts", "root/dev", "root/proc", "root/sys"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++)
        if (snprintf(p, sizeof(p), "%s/%s", dir, mounts[i]) < (int)sizeof(p))
            umount2(p, MNT_DETACH | UMOUNT_NOFOLLOW); /* EINVAL: not a mount point */
    nftw(dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
