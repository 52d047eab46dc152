/*
 * broker/users/homedisk.c - home disk images: create with mke2fs, grow with
 * resize2fs, and the exclusive OFD image lock (see homedisk.h).
 *
 * e2fsprogs run as child processes with an empty environment (PATH and
 * LC_ALL only), stdin from /dev/null, no inherited fds, and their output
 * captured (bounded) so a failure becomes one line of error text.
 */
#include "broker/users/homedisk.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/jail/tool.h"

const char homedisk_profile[] =
    "# ~/.profile: read by login shells. Created by Burrow for your home disk;\n"
    "# it is yours to change.\n"
    "if [ -d \"$HOME/bin\" ]; then\n"
    "    PATH=\"$HOME/bin:$PATH\"\n"
    "fi\n"
    "export PATH\n";

#define TOOL_OUTPUT_MAX 4096

int homedisk_check_size(uint64_t requested, uint64_t *rounded_out)
{
    if (requested < HOMEDISK_SIZE_MIN || requested > HOMEDISK_SIZE_MAX)
        return BURROW_ERR_RANGE;
    *rounded_out = (requested + HOMEDISK_SIZE_ALIGN - 1) & ~(HOMEDISK_SIZE_ALIGN - 1);
    return 0;
}

static const char *test_tool_dir;

void homedisk_test_set_tool_dir(const char *dir)
{
    test_tool_dir = dir;
}

/* Absolute path of an e2fsprogs tool; never searched through $PATH. */
static const char *tool_path(const char *name, char *buf, size_t bufsz)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    if (test_tool_dir) {
        snprintf(buf, bufsz, "%s/%s", test_tool_dir, name);
        return access(buf, X_OK) == 0 ? buf : NULL;
    }
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(buf, bufsz, "%s/%s", dirs[i], name);
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return NULL;
}

/* Keep the last non-empty line of the tool's output as the error text. */
static void last_line(const char *out, char *line, size_t linesz)
{
    const char *end = out + strlen(out);
    while (end > out && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    const char *start = end;
    while (start > out && start[-1] != '\n')
        start--;
    char cut[200];
    snprintf(cut, sizeof(cut), "%.*s", (int)(end - start), start);
    log_escape(line, linesz, cut);
}

/*
 * Keep the tail of what the tool prints on fd until EOF or deadline_ms (-1:
 * none): drain everything so the tool never blocks on a full pipe.
 */
static void capture_tail(int fd, long deadline_ms, char *buf, size_t bufsz)
{
    size_t used = 0;
    char sink[512];
    for (;;) {
        long left = deadline_ms < 0 ? -1 : deadline_ms - clock_now_ms();
        if (deadline_ms >= 0 && left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, left < 0 ? -1 : (int)(left < 1000 ? left : 1000));
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        ssize_t got = read(fd, sink, sizeof(sink));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if ((size_t)got > bufsz - 1 - used) {
            size_t drop = (size_t)got - (bufsz - 1 - used);
            if (drop > used)
                drop = used;
            memmove(buf, buf + drop, used - drop);
            used -= drop;
        }
        size_t take = (size_t)got < bufsz - 1 - used ? (size_t)got : bufsz - 1 - used;
        memcpy(buf + used, sink + ((size_t)got - take), take);
        used += take;
    }
    buf[used] = '\0';
}

/* A tool on a fresh image Burrow made: no confinement, no inherited fds. */
static int spawn_plain(const char *exe, char *const argv[], char *const envp[], int out, pid_t *pid)
{
    *pid = fork();
    if (*pid < 0)
        return BURROW_ERR_SYSTEM;
    if (*pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        /* no inherited fds: image locks, sockets, the user database lock */
        if (close_range(3, ~0u, 0) < 0)
            for (int fd = 3; fd < 65536; fd++)
                close(fd);
        execve(exe, argv, envp);
        _exit(127);
    }
    return 0;
}

/*
 * Run argv[0] (a bare tool name) with a minimal environment; returns its
 * exit status (>= 0) or a negative code. *output gets the last line printed.
 * image_fd >= 0: a hostile image; the tool runs confined (vmm/jail/tool.h:
 * its own uid and namespaces, killed after JAIL_TOOL_TIMEOUT_S) and must
 * name the image as JAIL_TOOL_PATH.
 */
static int run_tool_on(char *const argv[], int image_fd, enum sc_mode mode, char *output,
                       size_t outsz)
{
    static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
    char exe[512];
    output[0] = '\0';
    if (!tool_path(argv[0], exe, sizeof(exe))) {
        snprintf(output, outsz, "%s not found (install e2fsprogs)", argv[0]);
        return BURROW_ERR_NOT_FOUND;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return BURROW_ERR_SYSTEM;
    struct jail_tool_spec spec = {.exe = exe,
                                  .argv = argv,
                                  .envp = envp,
                                  .image_fd = image_fd,
                                  .out_fd = pipefd[1],
                                  .mode = mode};
    struct jail_tool_run run;
    pid_t pid = -1;
    long deadline = image_fd >= 0 ? clock_now_ms() + JAIL_TOOL_TIMEOUT_S * 1000L : -1;
    int r = image_fd >= 0 ? jail_tool_start(&spec, &run)
                          : spawn_plain(exe, argv, envp, pipefd[1], &pid);
    close(pipefd[1]);
    if (r < 0) {
        close(pipefd[0]);
        return r;
    }
    char buf[TOOL_OUTPUT_MAX];
    capture_tail(pipefd[0], deadline, buf, sizeof(buf));
    close(pipefd[0]);
    int status;
    if (image_fd >= 0)
        r = jail_tool_finish(&run, deadline, &status);
    else
        while (r == 0 && waitpid(pid, &status, 0) < 0)
            r = errno == EINTR ? 0 : BURROW_ERR_SYSTEM;
    if (r == BURROW_ERR_TIMEOUT) {
        snprintf(output, outsz, "%s ran past its %d s limit: killed", argv[0], JAIL_TOOL_TIMEOUT_S);
        return r;
    }
    if (r < 0)
        return r;
    last_line(buf, output, outsz);
    if (!WIFEXITED(status)) {
        snprintf(output, outsz, "%s killed by signal %d", argv[0], WTERMSIG(status));
        return BURROW_ERR_SYSTEM;
    }
    return WEXITSTATUS(status);
}

static int run_tool(char *const argv[], char *output, size_t outsz)
{
    return run_tool_on(argv, -1, SC_MODE_ENFORCE, output, outsz);
}

/* Run a tool that must exit 0. */
static int run_ok(char *const argv[], char *err, size_t errsz)
{
    char out[256];
    int rc = run_tool(argv, out, sizeof(out));
    if (rc == 0)
        return 0;
    return errmsg(err, errsz, rc < 0 ? rc : BURROW_ERR_SYSTEM, "%s failed: %s", argv[0],
                  out[0] ? out : "no output");
}

static int write_skeleton(const char *skel, char *err, size_t errsz)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/.profile", skel);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    size_t n = sizeof(homedisk_profile) - 1;
    if (fd < 0 || write(fd, homedisk_profile, n) != (ssize_t)n) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "cannot write skeleton: %s", strerror(e));
    }
    fchmod(fd, 0644); /* independent of the umask */
    close(fd);
    return 0;
}

static void remove_skeleton(const char *skel)
{
    char p[PATH_MAX + 16];
    snprintf(p, sizeof(p), "%s/.profile", skel);
    unlink(p);
    rmdir(skel);
}

/* mke2fs + ownership of the skeleton files, on the fresh image tmp. */
static int make_fs(const char *tmp, const char *skel, uint32_t uid, uint32_t gid, char *err,
                   size_t errsz)
{
    char eopt[64], sif_uid[64], sif_gid[64];
    /* the file is all holes, so the journal already reads as zeros */
    snprintf(eopt, sizeof(eopt), "root_owner=%u:%u,lazy_journal_init=1", uid, gid);
    char *mke2fs[] = {"mke2fs", "-q", "-F", "-t", "ext4",       "-m",        "0", "-L",
                      "home",   "-E", eopt, "-d", (char *)skel, (char *)tmp, NULL};
    int r = run_ok(mke2fs, err, errsz);
    if (r < 0)
        return r;
    /* mke2fs -d copies the skeleton's owner (us); hand the files to the user. */
    snprintf(sif_uid, sizeof(sif_uid), "set_inode_field /.profile uid %u", uid);
    snprintf(sif_gid, sizeof(sif_gid), "set_inode_field /.profile gid %u", gid);
    char *d1[] = {"debugfs", "-w", "-R", sif_uid, (char *)tmp, NULL};
    char *d2[] = {"debugfs", "-w", "-R", sif_gid, (char *)tmp, NULL};
    if ((r = run_ok(d1, err, errsz)) < 0 || (r = run_ok(d2, err, errsz)) < 0)
        return r;
    return 0;
}

static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    int r = fsync(fd) < 0 ? BURROW_ERR_SYSTEM : 0;
    close(fd);
    return r;
}

int homedisk_create(const char *path, uint64_t size, uint32_t uid, uint32_t gid, char *err,
                    size_t errsz)
{
    uint64_t rounded;
    if (homedisk_check_size(size, &rounded) < 0)
        return errmsg(err, errsz, BURROW_ERR_RANGE, "disk size must be 16M-16T");
    char tmp[PATH_MAX], skel[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= (int)sizeof(tmp) ||
        snprintf(skel, sizeof(skel), "%s.skel-XXXXXX", path) >= (int)sizeof(skel))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "path too long");
    if (access(path, F_OK) == 0)
        return errmsg(err, errsz, BURROW_ERR_EXISTS, "%s already exists", path);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "cannot create %s: %s", tmp, strerror(errno));
    int r = 0;
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)rounded) < 0)
        r = errmsg(err, errsz, BURROW_ERR_SYSTEM, "cannot size %s: %s", tmp, strerror(errno));
    int skel_made = 0;
    if (r == 0 && !mkdtemp(skel))
        r = errmsg(err, errsz, BURROW_ERR_SYSTEM, "cannot create skeleton: %s", strerror(errno));
    else if (r == 0)
        skel_made = 1;
    if (r == 0)
        r = write_skeleton(skel, err, errsz);
    if (r == 0)
        r = make_fs(tmp, skel, uid, gid, err, errsz);
    if (r == 0 && fsync(fd) < 0)
        r = errmsg(err, errsz, BURROW_ERR_SYSTEM, "fsync %s: %s", tmp, strerror(errno));
    if (r == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) < 0)
        r = errmsg(err, errsz, errno == EEXIST ? BURROW_ERR_EXISTS : BURROW_ERR_SYSTEM,
                   "cannot rename to %s: %s", path, strerror(errno));
    close(fd);
    if (skel_made)
        remove_skeleton(skel);
    if (r < 0) {
        unlink(tmp);
        return r;
    }
    if (fsync_parent(path) < 0)
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "fsync directory of %s: %s", path,
                      strerror(errno));
    return 0;
}

int homedisk_lock_fd(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0)
        return (errno == EAGAIN || errno == EACCES) ? BURROW_ERR_BUSY : BURROW_ERR_SYSTEM;
    return 0;
}

int homedisk_open_locked(const char *path, int *fd_out)
{
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return BURROW_ERR_FORMAT;
    }
    int r = homedisk_lock_fd(fd);
    if (r < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return r;
    }
    *fd_out = fd;
    return 0;
}

void homedisk_unlock(int fd)
{
    if (fd < 0)
        return;
    struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    (void)fcntl(fd, F_OFD_SETLK, &fl);
    close(fd);
}

int homedisk_is_locked(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int r = fcntl(fd, F_OFD_GETLK, &fl) < 0 ? BURROW_ERR_SYSTEM : fl.l_type != F_UNLCK;
    close(fd);
    return r;
}

int homedisk_size(const char *path, uint64_t *size_out)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    if (!S_ISREG(st.st_mode))
        return BURROW_ERR_FORMAT;
    *size_out = (uint64_t)st.st_size;
    return 0;
}

int homedisk_resize(const char *path, uint64_t new_size, enum sc_mode mode, char *err, size_t errsz)
{
    uint64_t rounded;
    if (homedisk_check_size(new_size, &rounded) < 0)
        return errmsg(err, errsz, BURROW_ERR_RANGE, "disk size must be 16M-16T");
    int fd;
    int r = homedisk_open_locked(path, &fd);
    if (r == BURROW_ERR_BUSY)
        return errmsg(err, errsz, r, "%s is in use by a VM", path);
    if (r < 0)
        return errmsg(err, errsz, r, "cannot open %s: %s", path,
                      r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        homedisk_unlock(fd);
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "stat %s: %s", path, strerror(errno));
    }
    uint64_t old = (uint64_t)st.st_size;
    if (rounded <= old) {
        homedisk_unlock(fd);
        return errmsg(err, errsz, BURROW_ERR_RANGE,
                      "disk can only grow: new size %llu is not above %llu bytes",
                      (unsigned long long)rounded, (unsigned long long)old);
    }
    /* the image may have been written by a guest: check before resizing */
    char *fsck[] = {"e2fsck", "-f", "-p", JAIL_TOOL_PATH, NULL};
    char out[256];
    int rc = run_tool_on(fsck, fd, mode, out, sizeof(out));
    if (rc < 0 || rc >= 4) { /* 1 and 2 mean "errors corrected" */
        homedisk_unlock(fd);
        return errmsg(err, errsz, rc < 0 ? rc : BURROW_ERR_FORMAT,
                      "e2fsck found problems it could not fix (%s); nothing was resized", out);
    }
    if (ftruncate(fd, (off_t)rounded) < 0 || fsync(fd) < 0) {
        r = errmsg(err, errsz, BURROW_ERR_SYSTEM, "cannot extend %s: %s", path, strerror(errno));
        if (ftruncate(fd, (off_t)old) < 0)
            log_warn("cannot shrink %s back to %llu bytes", path, (unsigned long long)old);
        homedisk_unlock(fd);
        return r;
    }
    char *resize[] = {"resize2fs", JAIL_TOOL_PATH, NULL};
    rc = run_tool_on(resize, fd, mode, out, sizeof(out));
    if (rc != 0) {
        /* resize2fs leaves the filesystem at its old size on failure; the file
         * may stay larger, which ext4 does not mind. */
        homedisk_unlock(fd);
        return errmsg(err, errsz, rc < 0 ? rc : BURROW_ERR_SYSTEM, "resize2fs failed: %s", out);
    }
    r = fsync(fd) < 0 ? BURROW_ERR_SYSTEM : 0;
    homedisk_unlock(fd);
    return r;
}
