/* vmm/pool.c - claiming pre-restored VMM processes (see pool.h). */
#include "vmm/pool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdpass.h"
#include "vmm/registry.h"
#include "vmm/virtio/blk.h"

#define CLAIM_TIMEOUT_MS 40000

static int token_ok(const char *t, size_t max)
{
    size_t n = strlen(t);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '/' || c == '.' || c == '_' || c == '+' || c == '-'))
            return 0;
    }
    return 1;
}

int pool_claim_encode(const struct pool_claim *c, char *line, size_t sz)
{
    const struct fork_identity *id = &c->id;
    const char *disk = c->home_disk[0] ? c->home_disk : "-";
    if (!token_ok(id->user, FORK_NAME_MAX) || !token_ok(id->hostname, FORK_NAME_MAX) ||
        !token_ok(id->shell, sizeof(id->shell) - 1) || !token_ok(id->home, sizeof(id->home) - 1) ||
        !token_ok(disk, sizeof(c->home_disk) - 1))
        return BURROW_ERR_INVALID;
    int n = snprintf(line, sz, "CLAIM %" PRIu64 " %u %u %s %s %s %s %s\n", c->request_ns, id->uid,
                     id->gid, id->user, id->hostname, id->shell, id->home, disk);
    return n < 0 || (size_t)n >= sz ? BURROW_ERR_TOO_LARGE : 0;
}

/* Next space-separated field into out (bounded). */
static const char *field(const char *p, char *out, size_t sz)
{
    if (!p)
        return NULL;
    const char *e = strchr(p, ' ');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || n >= sz)
        return NULL;
    memcpy(out, p, n);
    out[n] = '\0';
    return e ? e + 1 : p + n;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end || s[0] < '0' || s[0] > '9' || x > max)
        return BURROW_ERR_RANGE;
    *v = x;
    return 0;
}

int pool_claim_decode(const char *line, struct pool_claim *c)
{
    memset(c, 0, sizeof(*c));
    char verb[8], ns[24], uid[12], gid[12], disk[sizeof(c->home_disk)];
    struct fork_identity *id = &c->id;
    size_t len = strlen(line);
    if (len == 0 || line[len - 1] == ' ') /* a space ends a field, never the line */
        return BURROW_ERR_FORMAT;
    const char *p = line;
    p = field(p, verb, sizeof(verb));
    p = field(p, ns, sizeof(ns));
    p = field(p, uid, sizeof(uid));
    p = field(p, gid, sizeof(gid));
    p = field(p, id->user, sizeof(id->user));
    p = field(p, id->hostname, sizeof(id->hostname));
    p = field(p, id->shell, sizeof(id->shell));
    p = field(p, id->home, sizeof(id->home));
    p = field(p, disk, sizeof(disk));
    if (!p || *p || strcmp(verb, "CLAIM") != 0)
        return BURROW_ERR_FORMAT;
    uint64_t u, g;
    int r;
    if ((r = parse_u64(ns, UINT64_MAX, &c->request_ns)) || (r = parse_u64(uid, UINT32_MAX, &u)) ||
        (r = parse_u64(gid, UINT32_MAX, &g)))
        return r;
    id->uid = (uint32_t)u;
    id->gid = (uint32_t)g;
    if (!token_ok(id->user, FORK_NAME_MAX) || !token_ok(id->hostname, FORK_NAME_MAX) ||
        !token_ok(id->shell, sizeof(id->shell) - 1) || !token_ok(id->home, sizeof(id->home) - 1) ||
        !token_ok(disk, sizeof(disk) - 1))
        return BURROW_ERR_FORMAT;
    if (strcmp(disk, "-") != 0)
        memcpy(c->home_disk, disk, strlen(disk) + 1);
    return 0;
}

static int sock_addr(const char *dir, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    int n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/claim.sock", dir);
    return n < 0 || (size_t)n >= sizeof(sa->sun_path) ? BURROW_ERR_TOO_LARGE : 0;
}

int pool_listen(const char *dir, int *fd_out)
{
    struct sockaddr_un sa;
    int r = sock_addr(dir, &sa);
    if (r)
        return r;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    unlink(sa.sun_path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
        close(fd);
        return BURROW_ERR_SYSTEM;
    }
    *fd_out = fd;
    return 0;
}

static int send_claim(int fd, const char *line, int disk_fd)
{
    size_t len = strlen(line);
    return fdpass_send(fd, line, len, disk_fd, MSG_NOSIGNAL) == (ssize_t)len ? 0
                                                                             : BURROW_ERR_CLOSED;
}

/* Send the claim (with the locked home disk, if any) and read the one-line report. */
static int claim_one(const char *dir, const char *line, int disk_fd, char *reply, size_t sz)
{
    struct sockaddr_un sa;
    int r = sock_addr(dir, &sa);
    if (r)
        return r;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || send_claim(fd, line, disk_fd)) {
        close(fd);
        return BURROW_ERR_CLOSED;
    }
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < sz && !memchr(reply, '\n', got)) {
        if (poll(&p, 1, CLAIM_TIMEOUT_MS) <= 0)
            break;
        ssize_t n = read(fd, reply + got, sz - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    reply[got] = '\0';
    char *nl = strchr(reply, '\n');
    if (!nl)
        return BURROW_ERR_CLOSED;
    *nl = '\0';
    return 0;
}

/*
 * A claimed VMM is jailed and cannot write its own record: the claimer
 * marks it running for the user (same pid; the VMM reported OK).
 */
static void publish_claimed(struct vm_record *rec, const struct pool_claim *c)
{
    snprintf(rec->user, sizeof(rec->user), "%s", c->id.user);
    snprintf(rec->state, sizeof(rec->state), "running");
    rec->started = (uint64_t)time(NULL);
    if (registry_write(rec))
        kill(rec->pid, SIGTERM); /* an unlisted VM would be nobody's */
}

/* Offer the claim to one pooled VM whose marker we created: 0, or NOT_FOUND to go on. */
static int offer(struct vm_record *rec, const char *marker, const struct pool_claim *c,
                 const char *line, int disk_fd, char *reply, size_t replysz)
{
    if (claim_one(rec->dir, line, disk_fd, reply, replysz) != 0) {
        kill(rec->pid, SIGTERM); /* a pooled VMM that cannot answer is of no use */
        return BURROW_ERR_NOT_FOUND;
    }
    if (strncmp(reply, POOL_REFUSED, strlen(POOL_REFUSED)) == 0) {
        unlink(marker); /* still in the pool; the reply says why */
        return 0;
    }
    if (strncmp(reply, "OK ", 3) == 0)
        publish_claimed(rec, c);
    return 0;
}

int pool_take(const char *run_dir, const char *build, const struct pool_claim *c, char *reply,
              size_t replysz)
{
    char line[POOL_LINE_MAX];
    int r = pool_claim_encode(c, line, sizeof(line));
    if (r)
        return r;
    struct vm_record *v;
    size_t n;
    if ((r = registry_list(run_dir, &v, &n)))
        return r;
    /* The claimer opens and locks the disk: the jailed VMM cannot reach its path. */
    int disk_fd = -1;
    if (c->home_disk[0] && (r = blk_image_open_locked(c->home_disk, false, &disk_fd))) {
        free(v);
        return r;
    }
    r = BURROW_ERR_NOT_FOUND;
    for (size_t i = 0; i < n && r == BURROW_ERR_NOT_FOUND; i++) {
        if (strcmp(v[i].state, "pool") != 0 || strcmp(v[i].build, build) != 0)
            continue;
        char marker[600];
        snprintf(marker, sizeof(marker), "%s/claimed", v[i].dir);
        int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            continue; /* someone else's */
        close(fd);
        r = offer(&v[i], marker, c, line, disk_fd, reply, replysz);
    }
    /* The VMM holds its own descriptor (and with it the lock) now. */
    if (disk_fd >= 0)
        close(disk_fd);
    free(v);
    return r;
}

unsigned pool_count(const char *run_dir, const char *build)
{
    struct vm_record *v;
    size_t n;
    unsigned c = 0;
    if (registry_list(run_dir, &v, &n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char marker[600];
        snprintf(marker, sizeof(marker), "%s/claimed", v[i].dir);
        c += strcmp(v[i].state, "pool") == 0 && strcmp(v[i].build, build) == 0 &&
             access(marker, F_OK) != 0;
    }
    free(v);
    return c;
}

void pool_retire_others(const char *run_dir, const char *build)
{
    struct vm_record *v;
    size_t n;
    if (registry_list(run_dir, &v, &n))
        return;
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].state, "pool") == 0 && strcmp(v[i].build, build) != 0)
            kill(v[i].pid, SIGTERM);
    free(v);
}
