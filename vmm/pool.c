/* vmm/pool.c - claiming pre-restored VMM processes (see pool.h). */
#include "vmm/pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/fdpass.h"
#include "vmm/dirsock.h"
#include "vmm/registry.h"
#include "vmm/virtio/blk.h"

#define CLAIM_TIMEOUT_MS       40000
#define POOL_DISK_BUSY_WAIT_MS 5000
/* A pooled VMM stopped after a failed claim: its graceful stop (5 s) and a margin. */
#define POOL_STOP_WAIT_MS 10000
#define POOL_SOCK         "claim.sock"

static int pool_free_index(const struct vm_record *v, size_t n, const char *build);

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

static void ip4_format(uint32_t a, char *out, size_t sz)
{
    snprintf(out, sz, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* The net field: ADDR/PREFIX/GATEWAY/MAC/RATE/DNS[+DNS], or "-" without a network. */
static int net_encode(const struct pool_claim *c, char *out, size_t sz)
{
    const struct proto_net *n = &c->id.net;
    char addr[16], gw[16], dns[PROTO_DNS_MAX * 16 + 2] = "-";
    if (!c->id.net_enabled)
        return snprintf(out, sz, "-") < (int)sz ? 0 : BURROW_ERR_TOO_LARGE;
    if (n->prefix < 1 || n->prefix > 30 || n->nr_dns > PROTO_DNS_MAX)
        return BURROW_ERR_INVALID;
    ip4_format(n->addr, addr, sizeof(addr));
    ip4_format(n->gateway, gw, sizeof(gw));
    for (uint32_t i = 0; i < n->nr_dns; i++) {
        char one[16];
        ip4_format(n->dns[i], one, sizeof(one));
        size_t used = i ? strlen(dns) : 0;
        snprintf(dns + used, sizeof(dns) - used, "%s%s", i ? "+" : "", one);
    }
    const uint8_t *m = c->net_mac;
    int len = snprintf(out, sz, "%s/%u/%s/%02x%02x%02x%02x%02x%02x/%" PRIu64 "/%s", addr, n->prefix,
                       gw, m[0], m[1], m[2], m[3], m[4], m[5], c->net_rate, dns);
    return len < 0 || (size_t)len >= sz ? BURROW_ERR_TOO_LARGE : 0;
}

int pool_claim_encode(const struct pool_claim *c, char *line, size_t sz)
{
    const struct fork_identity *id = &c->id;
    const char *disk = c->home_disk[0] ? c->home_disk : "-";
    char net[160];
    if (!token_ok(id->user, FORK_NAME_MAX) || !token_ok(id->hostname, FORK_NAME_MAX) ||
        !token_ok(id->shell, sizeof(id->shell) - 1) || !token_ok(id->home, sizeof(id->home) - 1) ||
        !token_ok(disk, sizeof(c->home_disk) - 1) || net_encode(c, net, sizeof(net)))
        return BURROW_ERR_INVALID;
    int n = snprintf(line, sz, "CLAIM %" PRIu64 " %u %u %s %s %s %s %s %u %s\n", c->request_ns,
                     id->uid, id->gid, id->user, id->hostname, id->shell, id->home, disk,
                     id->allow_root ? POOL_CLAIM_ALLOW_ROOT : 0u, net);
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

static int ip4_parse(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return BURROW_ERR_FORMAT;
    *out = ntohl(a.s_addr);
    return 0;
}

static int hex_nibble(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static int mac_parse(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 12)
        return BURROW_ERR_FORMAT;
    for (int i = 0; i < 6; i++) {
        int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return BURROW_ERR_FORMAT;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int dns_parse(char *s, struct proto_net *n)
{
    if (strcmp(s, "-") == 0)
        return 0;
    for (char *save = NULL, *t = strtok_r(s, "+", &save); t; t = strtok_r(NULL, "+", &save)) {
        if (n->nr_dns >= PROTO_DNS_MAX || ip4_parse(t, &n->dns[n->nr_dns]))
            return BURROW_ERR_FORMAT;
        n->nr_dns++;
    }
    return 0;
}

/* The net field (see net_encode): six '/'-separated parts. */
static int net_decode(const char *field_text, struct pool_claim *c)
{
    if (strcmp(field_text, "-") == 0)
        return 0;
    char copy[160], *part[6], *save = NULL;
    unsigned k = 0;
    if (strlen(field_text) >= sizeof(copy) || strstr(field_text, "//") || field_text[0] == '/')
        return BURROW_ERR_FORMAT;
    memcpy(copy, field_text, strlen(field_text) + 1);
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (k == 6)
            return BURROW_ERR_FORMAT;
        part[k++] = t;
    }
    struct proto_net *n = &c->id.net;
    uint64_t prefix, rate;
    if (k != 6 || ip4_parse(part[0], &n->addr) || parse_u64(part[1], 30, &prefix) || prefix < 1 ||
        ip4_parse(part[2], &n->gateway) || mac_parse(part[3], c->net_mac) ||
        parse_u64(part[4], UINT64_MAX, &rate) || dns_parse(part[5], n))
        return BURROW_ERR_FORMAT;
    n->prefix = (uint32_t)prefix;
    c->net_rate = rate;
    c->id.net_enabled = 1;
    return 0;
}

int pool_claim_decode(const char *line, struct pool_claim *c)
{
    memset(c, 0, sizeof(*c));
    char verb[8], ns[24], uid[12], gid[12], disk[sizeof(c->home_disk)], flags[12], net[160];
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
    p = field(p, flags, sizeof(flags));
    p = field(p, net, sizeof(net));
    if (!p || *p || strcmp(verb, "CLAIM") != 0)
        return BURROW_ERR_FORMAT;
    uint64_t u, g, fl;
    int r;
    if ((r = parse_u64(ns, UINT64_MAX, &c->request_ns)) || (r = parse_u64(uid, UINT32_MAX, &u)) ||
        (r = parse_u64(gid, UINT32_MAX, &g)) || (r = parse_u64(flags, POOL_CLAIM_ALLOW_ROOT, &fl)))
        return r;
    id->uid = (uint32_t)u;
    id->gid = (uint32_t)g;
    id->allow_root = (fl & POOL_CLAIM_ALLOW_ROOT) != 0;
    if (!token_ok(id->user, FORK_NAME_MAX) || !token_ok(id->hostname, FORK_NAME_MAX) ||
        !token_ok(id->shell, sizeof(id->shell) - 1) || !token_ok(id->home, sizeof(id->home) - 1) ||
        !token_ok(disk, sizeof(disk) - 1) || !token_ok(net, sizeof(net) - 1) || net_decode(net, c))
        return BURROW_ERR_FORMAT;
    if (strcmp(disk, "-") != 0)
        memcpy(c->home_disk, disk, strlen(disk) + 1);
    return 0;
}

int pool_listen(const char *dir, int *fd_out)
{
    return dirsock_listen(dir, POOL_SOCK, fd_out);
}

/* The claim line and its descriptors (disk, then TAP: those that exist) in one message. */
static int send_claim(int fd, const char *line, int disk_fd, int tap_fd)
{
    int fds[FDPASS_MAX];
    unsigned n = 0;
    if (disk_fd >= 0)
        fds[n++] = disk_fd;
    if (tap_fd >= 0)
        fds[n++] = tap_fd;
    size_t len = strlen(line);
    return fdpass_sendv(fd, line, len, fds, n, MSG_NOSIGNAL) == (ssize_t)len ? 0
                                                                             : BURROW_ERR_CLOSED;
}

int pool_read_claim(int fd, struct pool_claim *c, int *disk_fd, int *tap_fd)
{
    char line[POOL_LINE_MAX];
    int fds[FDPASS_MAX] = {-1, -1};
    unsigned nfds = 0;
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = 0;
    *disk_fd = *tap_fd = -1;
    while (!r && got + 1 < sizeof(line) && !memchr(line, '\n', got)) {
        if (poll(&p, 1, 5000) <= 0) {
            r = BURROW_ERR_TIMEOUT;
            break;
        }
        ssize_t n =
            fdpass_recvv(fd, line + got, sizeof(line) - 1 - got, fds, FDPASS_MAX, &nfds, 0, NULL);
        if (n <= 0)
            r = BURROW_ERR_CLOSED;
        else
            got += (size_t)n;
    }
    line[got] = '\0';
    char *nl = strchr(line, '\n');
    if (!r && !nl)
        r = BURROW_ERR_TOO_LARGE;
    if (!r) {
        *nl = '\0';
        r = pool_claim_decode(line, c);
    }
    /* Exactly the descriptors the line announces: a disk path needs one, so does a network. */
    unsigned want = (c->home_disk[0] != '\0') + (c->id.net_enabled != 0);
    if (!r && nfds != want)
        r = BURROW_ERR_INVALID;
    if (r) {
        for (unsigned i = 0; i < nfds; i++)
            close(fds[i]);
        return r;
    }
    unsigned k = 0;
    if (c->home_disk[0])
        *disk_fd = fds[k++];
    if (c->id.net_enabled)
        *tap_fd = fds[k++];
    return 0;
}

/* Send the claim (with the locked home disk and the TAP, if any) and read the one-line report. */
static int claim_one(const char *dir, const char *line, int disk_fd, int tap_fd, char *reply,
                     size_t sz)
{
    int fd, r = dirsock_connect(dir, POOL_SOCK, &fd);
    if (r)
        return r == BURROW_ERR_TOO_LARGE ? r : BURROW_ERR_CLOSED;
    if (send_claim(fd, line, disk_fd, tap_fd) == 0)
        r = dirsock_read_line(fd, reply, sz, CLAIM_TIMEOUT_MS);
    else
        r = BURROW_ERR_CLOSED;
    close(fd);
    return r ? BURROW_ERR_CLOSED : 0;
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

/*
 * Stop a pooled VMM that did not answer its claim. When it got her disk it
 * holds the disk's lock until it has exited: wait for that (SIGKILL after
 * POOL_STOP_WAIT_MS), or the fresh VMM that serves her instead finds her
 * disk "in use by another VM" (seen when forty VMs started at once in the
 * emulated nested L1).
 */
static void stop_pooled(pid_t pid, int has_disk)
{
    kill(pid, SIGTERM);
    if (!has_disk)
        return;
    for (unsigned waited = 0; waited < POOL_STOP_WAIT_MS; waited += 50) {
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return;
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    for (unsigned waited = 0; waited < 2000 && kill(pid, 0) == 0; waited += 50)
        usleep(50 * 1000);
}

/* Offer the claim to one pooled VM whose marker we created: 0, or NOT_FOUND to go on. */
static int offer(struct vm_record *rec, const char *marker, const struct pool_claim *c,
                 const char *line, int disk_fd, int tap_fd, char *reply, size_t replysz)
{
    if (claim_one(rec->dir, line, disk_fd, tap_fd, reply, replysz) != 0) {
        /* A pooled VMM that cannot answer is of no use; it may hold the disk we sent. */
        stop_pooled(rec->pid, disk_fd >= 0);
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

/*
 * The claimer opens and locks the disk (the jailed VMM cannot reach its
 * path); one still held by a VM that just ended (its VMM syncing and
 * exiting) gets a moment.
 */
static int open_disk_waiting(const char *path, int *fd)
{
    int r = BURROW_ERR_BUSY;
    for (unsigned waited = 0; r == BURROW_ERR_BUSY && waited <= POOL_DISK_BUSY_WAIT_MS;
         waited += 100) {
        if (waited)
            usleep(100 * 1000);
        r = blk_image_open_locked(path, false, fd);
    }
    return r;
}

int pool_take(const char *run_dir, const char *build, const struct pool_claim *c, int tap_fd,
              struct vm_record *rec, char *reply, size_t replysz)
{
    char line[POOL_LINE_MAX];
    int r = pool_claim_encode(c, line, sizeof(line));
    if (r)
        return r;
    if ((tap_fd >= 0) != (c->id.net_enabled != 0))
        return BURROW_ERR_INVALID;
    struct vm_record *v;
    size_t n;
    if ((r = registry_list(run_dir, &v, &n)))
        return r;
    if (pool_free_index(v, n, build) < 0) { /* nothing to claim: the disk stays unopened */
        free(v);
        return BURROW_ERR_NOT_FOUND;
    }
    int disk_fd = -1;
    if (c->home_disk[0] && (r = open_disk_waiting(c->home_disk, &disk_fd))) {
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
        r = offer(&v[i], marker, c, line, disk_fd, tap_fd, reply, replysz);
        if (r == 0)
            *rec = v[i];
    }
    /* The VMM holds its own descriptor (and with it the lock) now. */
    if (disk_fd >= 0)
        close(disk_fd);
    free(v);
    return r;
}

/*
 * A pooled VM of build nobody claimed yet. One still restoring (its record
 * is published before the restore, claim.sock after it) does not count: a
 * claimer would take it for dead.
 */
static int pool_free(const struct vm_record *v, const char *build)
{
    char marker[600], sock[600];
    snprintf(marker, sizeof(marker), "%s/claimed", v->dir);
    snprintf(sock, sizeof(sock), "%s/claim.sock", v->dir);
    return strcmp(v->state, "pool") == 0 && strcmp(v->build, build) == 0 &&
           access(marker, F_OK) != 0 && access(sock, F_OK) == 0;
}

static int pool_free_index(const struct vm_record *v, size_t n, const char *build)
{
    for (size_t i = 0; i < n; i++)
        if (pool_free(&v[i], build))
            return (int)i;
    return -1;
}

unsigned pool_count(const char *run_dir, const char *build)
{
    struct vm_record *v;
    size_t n;
    unsigned c = 0;
    if (registry_list(run_dir, &v, &n))
        return 0;
    for (size_t i = 0; i < n; i++)
        c += pool_free(&v[i], build);
    free(v);
    return c;
}

void pool_retire_extra(const char *run_dir, const char *build, unsigned keep)
{
    struct vm_record *v;
    size_t n;
    if (registry_list(run_dir, &v, &n))
        return;
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++)
        if (pool_free(&v[i], build) && seen++ >= keep)
            kill(v[i].pid, SIGTERM);
    free(v);
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
