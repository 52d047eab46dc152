/* broker/master/audit.c - the JSON-lines audit log and its journal copy (see audit.h). */
#include "broker/master/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"

/* The file's directory, made 0750 if it is missing (one level: /var/log/burrow). */
static int ensure_parent(const char *path)
{
    char dir[CONFIG_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *d = dirname(dir);
    if (mkdir(d, 0750) == 0 || errno == EEXIST)
        return 0;
    return BURROW_ERR_SYSTEM;
}

static int open_file(struct audit *a, const char *path, char *err, size_t errsz)
{
    a->fd = -1;
    a->path[0] = 0;
    if (!path[0])
        return 0;
    if (ensure_parent(path) != 0)
        return errmsg(err, errsz, BURROW_ERR_SYSTEM,
                      "[audit] file %s: cannot create its directory: %s", path, strerror(errno));
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "[audit] file %s: %s", path,
                 fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return BURROW_ERR_SYSTEM;
    }
    a->fd = fd;
    snprintf(a->path, sizeof(a->path), "%s", path);
    return 0;
}

static void open_journal(struct audit *a, int want)
{
    a->jfd = -1;
    if (want)
        a->jfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

int audit_open(struct audit *a, const struct burrow_config *cfg, const char *writer,
               const char *journal_socket, char *err, size_t errsz)
{
    memset(a, 0, sizeof(*a));
    a->writer = writer;
    snprintf(a->journal_socket, sizeof(a->journal_socket), "%s",
             journal_socket ? journal_socket : AUDIT_JOURNAL_SOCKET);
    open_journal(a, cfg->audit.journald);
    int r = open_file(a, cfg->audit.file, err, errsz);
    if (r != 0)
        audit_close(a);
    return r;
}

int audit_reopen(struct audit *a, const struct burrow_config *cfg, char *err, size_t errsz)
{
    struct audit next = *a;
    int r = open_file(&next, cfg->audit.file, err, errsz);
    if (r != 0)
        return r; /* keep writing where we were */
    if (a->fd >= 0)
        close(a->fd);
    if (a->jfd >= 0)
        close(a->jfd);
    open_journal(&next, cfg->audit.journald);
    *a = next;
    return 0;
}

void audit_close(struct audit *a)
{
    if (a->fd >= 0)
        close(a->fd);
    if (a->jfd >= 0)
        close(a->jfd);
    a->fd = a->jfd = -1;
}

int audit_enabled(const struct audit *a)
{
    return a->fd >= 0 || a->jfd >= 0;
}

void audit_begin(const struct audit *a, struct audit_rec *r, const char *event)
{
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000);
    snprintf(r->event, sizeof(r->event), "%s", event);
    json_init(&r->j, r->buf, sizeof(r->buf));
    json_obj_begin(&r->j);
    json_kv_str(&r->j, "ts", ts);
    json_kv_str(&r->j, "event", event);
    json_kv_str(&r->j, "writer", a->writer ? a->writer : "burrow");
}

/* Native journal protocol: KEY=VALUE lines in one datagram (no value holds a newline). */
static int send_journal(struct audit *a, const char *event, const char *line)
{
    char msg[AUDIT_LINE_MAX + 256];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(msg, sizeof(msg),
                     "SYSLOG_IDENTIFIER=%s\nPRIORITY=6\nBURROW_AUDIT_EVENT=%s\nMESSAGE=%s\n",
                     a->writer ? a->writer : "burrow", event, line);
    if (n < 0 || (size_t)n >= sizeof(msg))
        return BURROW_ERR_TOO_LARGE;
    memcpy(sa.sun_path, a->journal_socket, strlen(a->journal_socket) + 1);
    if (sendto(a->jfd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) != n)
        return BURROW_ERR_SYSTEM;
    return 0;
}

int audit_commit(struct audit *a, struct audit_rec *r)
{
    json_obj_end(&r->j);
    const char *text = json_text(&r->j);
    if (!text) {
        /* Cannot happen with clipped values; still never a broken line. */
        struct audit_rec small;
        audit_begin(a, &small, r->event);
        json_kv_bool(&small.j, "truncated", 1);
        json_obj_end(&small.j);
        memcpy(r->buf, small.buf, small.j.len + 1);
        r->j.len = small.j.len;
        text = r->buf;
    }
    int r_ = 0;
    if (a->fd >= 0) {
        size_t len = strlen(text);
        r->buf[len] = '\n'; /* one write: O_APPEND keeps the line whole */
        ssize_t w = write(a->fd, r->buf, len + 1);
        r->buf[len] = 0;
        if (w != (ssize_t)(len + 1))
            r_ = BURROW_ERR_SYSTEM;
    }
    if (a->jfd >= 0 && send_journal(a, r->event, text) != 0)
        r_ = BURROW_ERR_SYSTEM;
    if (r_)
        a->errors++;
    return r_;
}

int audit_admin(struct audit *a, const char *action, const char *target, const char *result,
                const char *via, const struct ucred *who)
{
    struct audit_rec r;
    audit_begin(a, &r, "admin");
    json_kv_str(&r.j, "action", action);
    json_kv_str(&r.j, "target", target);
    json_kv_str(&r.j, "result", result);
    json_kv_str(&r.j, "via", via);
    if (who && who->uid != (uid_t)-1) {
        json_kv_u64(&r.j, "uid", who->uid);
        json_kv_u64(&r.j, "pid", (uint64_t)who->pid);
    }
    return audit_enabled(a) ? audit_commit(a, &r) : 0;
}
