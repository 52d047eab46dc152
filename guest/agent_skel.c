/*
 * guest/agent_skel.c - what the image gives new users: its login shell for
 * /bin/sh users (ETC/burrow/default-shell, see agent.h) and its /etc/skel
 * in their home, once.
 *
 * A home disk is made on the host (broker/users/homedisk.c) with only Burrow's
 * .profile, before anyone knows which template the user will run. The
 * template's own skeleton (Debian's .bashrc, .profile, .bash_logout on a
 * --rootfs debian template) is copied by the agent the first time that home
 * is used with an image that has one: missing files only, never replacing
 * the user's files, except Burrow's own generated .profile (recognised by
 * its first line), which the distribution's replaces. The home directory
 * then carries the xattr trusted.burrow.skel (only root can set or remove
 * it), so a file the user deletes later does not come back.
 *
 * The copy runs in a child that has dropped to the user's uid/gid, with
 * O_NOFOLLOW | O_EXCL, so a home full of planted symlinks gains nothing.
 * Bounded: SKEL_MAX_ENTRIES entries, SKEL_MAX_BYTES bytes, SKEL_MAX_DEPTH.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "guest/agent.h"

void identity_default_shell(const char *etc, char *shell, size_t shellsz)
{
    char path[AGENT_PATH_MAX + 32], line[AGENT_PATH_MAX];
    if (snprintf(path, sizeof(path), "%s/burrow/default-shell", etc) >= (int)sizeof(path))
        return;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '/' && !strpbrk(line, ": ") && strlen(line) < shellsz &&
            access(line, X_OK) == 0)
            snprintf(shell, shellsz, "%s", line);
    }
    fclose(f);
}

#define SKEL_XATTR       "trusted.burrow.skel"
#define SKEL_MAX_ENTRIES 256
#define SKEL_MAX_BYTES   (16u << 20)
#define SKEL_MAX_DEPTH   4
#define BURROW_PROFILE   "# ~/.profile: read by login shells. Created by Burrow"

struct skel_budget {
    unsigned entries;
    size_t bytes;
    unsigned copied;
};

static int copy_file(int sfd, const char *name, int dfd, mode_t mode, struct skel_budget *b)
{
    int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        close(in);
        return errno == EEXIST ? 0 : -1;
    }
    char buf[8192];
    ssize_t n;
    int r = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (b->bytes + (size_t)n > SKEL_MAX_BYTES || write(out, buf, (size_t)n) != n) {
            r = -1;
            break;
        }
        b->bytes += (size_t)n;
    }
    if (n < 0)
        r = -1;
    fchmod(out, mode & 0777); /* independent of the umask */
    close(out);
    close(in);
    if (r == 0)
        b->copied++;
    return r;
}

/* Copy the directory sfd into dfd (both open); regular files and directories only. */
static int copy_dir(int sfd, int dfd, int depth, struct skel_budget *b)
{
    DIR *d = fdopendir(sfd);
    if (!d) {
        close(sfd);
        return -1;
    }
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (++b->entries > SKEL_MAX_ENTRIES) {
            r = -1;
            break;
        }
        struct stat st;
        if (fstatat(sfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            r = copy_file(sfd, e->d_name, dfd, st.st_mode, b);
        } else if (S_ISDIR(st.st_mode) && depth < SKEL_MAX_DEPTH) {
            if (mkdirat(dfd, e->d_name, st.st_mode & 0777) < 0 && errno != EEXIST)
                continue;
            int s2 = openat(sfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int d2 = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (s2 >= 0 && d2 >= 0)
                r = copy_dir(s2, d2, depth + 1, b);
            else if (s2 >= 0)
                close(s2);
            if (d2 >= 0)
                close(d2);
        }
    }
    closedir(d);
    return r;
}

/* Burrow's generated .profile gives way to the distribution's. */
static void drop_burrow_profile(int dfd)
{
    int fd = openat(dfd, ".profile", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    char head[sizeof(BURROW_PROFILE)] = "";
    ssize_t n = read(fd, head, sizeof(head) - 1);
    close(fd);
    if (n == (ssize_t)sizeof(BURROW_PROFILE) - 1 && memcmp(head, BURROW_PROFILE, (size_t)n) == 0)
        unlinkat(dfd, ".profile", 0);
}

/* In the child, as the user: 0 or -1. */
static int skel_copy_as_user(const char *skel, const struct agent_user *u, unsigned *copied)
{
    if (setgroups(0, NULL) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
        return -1;
    int sfd = open(skel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dfd = open(u->home, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0 || dfd < 0)
        return -1;
    drop_burrow_profile(dfd);
    struct skel_budget b = {0};
    int r = copy_dir(sfd, dfd, 0, &b);
    *copied = b.copied;
    return r;
}

int skel_apply(const struct agent_config *cfg, const struct agent_user *u, char *note,
               size_t notesz)
{
    char skel[AGENT_PATH_MAX + 8];
    note[0] = '\0';
    if (snprintf(skel, sizeof(skel), "%s/skel", cfg->etc) >= (int)sizeof(skel))
        return 0;
    struct stat st;
    if (stat(skel, &st) < 0 || !S_ISDIR(st.st_mode) || u->uid == 0)
        return 0; /* no skeleton in this image: nothing to do */
    char mark;
    if (getxattr(u->home, SKEL_XATTR, &mark, 1) >= 0)
        return 0; /* done once for this home already */
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        unsigned copied = 0;
        int r = skel_copy_as_user(skel, u, &copied);
        if (write(pipefd[1], &copied, sizeof(copied)) < 0)
            _exit(2);
        _exit(r == 0 ? 0 : 1);
    }
    close(pipefd[1]);
    unsigned copied = 0;
    if (pid > 0 && read(pipefd[0], &copied, sizeof(copied)) != sizeof(copied))
        copied = 0;
    close(pipefd[0]);
    int status = -1;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(note, notesz, "; %s: copy failed after %u files", skel, copied);
        return -1;
    }
    /* tmpfs and ext4 take trusted.* xattrs; if not, the copy (missing files only) repeats. */
    if (setxattr(u->home, SKEL_XATTR, "1", 1, 0) < 0)
        errno = 0;
    snprintf(note, notesz, "; %u files from %s", copied, skel);
    return 0;
}
