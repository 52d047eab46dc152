/*
 * guest/agent_users.c - passwd and group files under a configurable etc/
 * directory (/etc in the guest, a temporary directory in tests).
 *
 * Own parser rather than getpwnam(): the path is configurable and the files
 * may have been written by a user with root in a previous life of this image,
 * so every line is bounded and every field checked. Rewrites are atomic
 * (temp file, fsync, rename).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "guest/agent.h"

#define LINE_MAX_  4096
#define FIELDS_MAX 8
#define NO_ID      0xffffffffu /* parse_id never yields it */

int users_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > PROTO_NAME_MAX || name[0] == '-' || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/*
 * One line without its newline: 1, or 0 at the end. A line longer than the
 * buffer is skipped whole (never split into two lines, one of which could
 * look like an entry).
 */
static int read_line(FILE *fp, char *line, size_t size)
{
    while (fgets(line, (int)size, fp)) {
        size_t n = strlen(line);
        if (n && line[n - 1] == '\n') {
            line[n - 1] = '\0';
            return 1;
        }
        if (feof(fp))
            return 1; /* a last line without a newline */
        int c;
        while ((c = fgetc(fp)) != EOF && c != '\n')
            ;
    }
    return 0;
}

/* Split a line at ':' in place; returns the number of fields. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == ':') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

static int parse_id(const char *s, unsigned *v)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || end == s || *end || x >= 0xffffffffUL)
        return -1;
    *v = (unsigned)x;
    return 0;
}

static FILE *open_db(const char *etc, const char *file)
{
    char path[AGENT_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", etc, file);
    return fopen(path, "re");
}

int users_lookup(const char *etc, const char *name, struct agent_user *u)
{
    FILE *fp = open_db(etc, "passwd");
    if (!fp)
        return BURROW_ERR_SYSTEM;
    char line[LINE_MAX_];
    int r = BURROW_ERR_NOT_FOUND;
    while (read_line(fp, line, sizeof(line))) {
        char *f[FIELDS_MAX];
        if (split(line, f, FIELDS_MAX) != 7 || strcmp(f[0], name) != 0)
            continue;
        unsigned uid, gid;
        if (parse_id(f[2], &uid) || parse_id(f[3], &gid) || strlen(f[0]) > PROTO_NAME_MAX ||
            strlen(f[5]) >= sizeof(u->home) || strlen(f[6]) >= sizeof(u->shell)) {
            r = BURROW_ERR_FORMAT;
            break;
        }
        strcpy(u->name, f[0]);
        u->uid = uid;
        u->gid = gid;
        strcpy(u->home, f[5][0] ? f[5] : "/");
        strcpy(u->shell, f[6][0] ? f[6] : "/bin/sh");
        r = 0;
        break;
    }
    fclose(fp);
    return r;
}

/* Is name listed in a comma-separated member list? */
static int is_member(char *members, const char *name)
{
    for (char *save = NULL, *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
        if (strcmp(m, name) == 0)
            return 1;
    return 0;
}

int users_groups(const char *etc, const char *name, gid_t primary, gid_t *groups, int *n)
{
    *n = 0;
    groups[(*n)++] = primary;
    FILE *fp = open_db(etc, "group");
    if (!fp)
        return errno == ENOENT ? 0 : BURROW_ERR_SYSTEM;
    char line[LINE_MAX_];
    while (*n < AGENT_GROUPS_MAX && read_line(fp, line, sizeof(line))) {
        char *f[FIELDS_MAX];
        unsigned gid;
        if (split(line, f, FIELDS_MAX) != 4 || parse_id(f[2], &gid))
            continue;
        if (gid != primary && is_member(f[3], name))
            groups[(*n)++] = gid;
    }
    fclose(fp);
    return 0;
}

/*
 * Copy ETC/file to a temp file minus lines whose first field is `name` (or
 * whose id field equals id), append `entry`, fsync, rename.
 */
static int rewrite_db(const char *etc, const char *file, const char *name, unsigned id,
                      const char *entry)
{
    char path[AGENT_PATH_MAX + 16], tmp[AGENT_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", etc, file);
    snprintf(tmp, sizeof(tmp), "%s/.%s.burrow-tmp", etc, file);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    FILE *out = fdopen(fd, "w");
    if (!out) {
        close(fd);
        return BURROW_ERR_SYSTEM;
    }
    FILE *in = fopen(path, "re");
    char line[LINE_MAX_], copy[LINE_MAX_];
    while (in && read_line(in, line, sizeof(line))) {
        strcpy(copy, line);
        char *f[FIELDS_MAX];
        unsigned lid;
        int nf = split(copy, f, FIELDS_MAX);
        if (nf >= 3 && (strcmp(f[0], name) == 0 || (parse_id(f[2], &lid) == 0 && lid == id)))
            continue; /* replaced below */
        fprintf(out, "%s\n", line);
    }
    if (in)
        fclose(in);
    fprintf(out, "%s\n", entry);
    int ok = fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok = (fclose(out) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return BURROW_ERR_SYSTEM;
    }
    return 0;
}

int users_install(const char *etc, const struct agent_user *u)
{
    char entry[LINE_MAX_];
    if (!users_name_ok(u->name) || strpbrk(u->home, ":\n") || strpbrk(u->shell, ":\n"))
        return BURROW_ERR_INVALID;
    if (u->uid == 0 || u->gid == 0 || u->uid == NO_ID || u->gid == NO_ID)
        return BURROW_ERR_PERM; /* never replace root's entry */
    snprintf(entry, sizeof(entry), "%s:x:%u:%u::%s:%s", u->name, (unsigned)u->uid, (unsigned)u->gid,
             u->home, u->shell);
    int r = rewrite_db(etc, "passwd", u->name, (unsigned)u->uid, entry);
    if (r)
        return r;
    snprintf(entry, sizeof(entry), "%s:x:%u:", u->name, (unsigned)u->gid);
    /* Groups are replaced by name only: a shared gid (e.g. "users") stays. */
    return rewrite_db(etc, "group", u->name, NO_ID, entry);
}

int users_for_session(const struct agent_config *cfg, const struct agent_state *st,
                      struct proto_str user, struct agent_user *u, char *err, size_t errsz)
{
    char name[PROTO_NAME_MAX + 1];
    if (proto_str_copy(user, name, sizeof(name)) || !users_name_ok(name))
        return errmsg(err, errsz, BURROW_ERR_INVALID, "bad user name");
    if (users_lookup(cfg->etc, name, u))
        return errmsg(err, errsz, BURROW_ERR_NOT_FOUND, "no such user: %s", name);
    if (u->uid == 0 && !st->allow_root)
        return errmsg(err, errsz, BURROW_ERR_PERM, "root login is not allowed");
    return 0;
}

int users_drop_to(const struct agent_user *u, const gid_t *groups, int n_groups)
{
    if (setgroups((size_t)n_groups, groups) < 0 || setgid(u->gid) < 0 || setuid(u->uid) < 0)
        return BURROW_ERR_SYSTEM;
    if (u->uid != 0 && setuid(0) == 0) {
        errno = EPERM;
        return BURROW_ERR_PERM; /* root could be regained */
    }
    return 0;
}
