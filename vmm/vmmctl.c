/* vmm/vmmctl.c - a running VMM's control socket, memory record and idle policy (see vmmctl.h). */
#include "vmm/vmmctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/dirsock.h"
#include "vmm/registry.h"
#include "vmm/virtio/balloon.h"
#include "vmm/virtio/vsock/vsock.h"

#define NS_PER_S       1000000000ull
#define PAGES_PER_MIB  256u
#define SERVE_READ_MS  1000 /* a client gets this long to send its line */
#define REQUEST_MAX    128
#define RECORD_VERSION "v=1"

/* ---- the record ---- */

static const struct {
    const char *key;
    size_t off;
} record_keys[] = {
    {"balloon", offsetof(struct vmm_mem_record, balloon)},
    {"ram", offsetof(struct vmm_mem_record, ram_pages)},
    {"target", offsetof(struct vmm_mem_record, target_pages)},
    {"actual", offsetof(struct vmm_mem_record, actual_pages)},
    {"held", offsetof(struct vmm_mem_record, held_pages)},
    {"seen", offsetof(struct vmm_mem_record, stats_seen)},
    {"free", offsetof(struct vmm_mem_record, free_bytes)},
    {"avail", offsetof(struct vmm_mem_record, avail_bytes)},
    {"total", offsetof(struct vmm_mem_record, total_bytes)},
    {"caches", offsetof(struct vmm_mem_record, caches_bytes)},
    {"stats_at", offsetof(struct vmm_mem_record, stats_at)},
    {"reports", offsetof(struct vmm_mem_record, reports)},
    {"reported", offsetof(struct vmm_mem_record, reported_bytes)},
    {"refused", offsetof(struct vmm_mem_record, refused)},
    {"oom_deflates", offsetof(struct vmm_mem_record, oom_deflates)},
    {"reclaims", offsetof(struct vmm_mem_record, reclaims)},
    {"reclaim_at", offsetof(struct vmm_mem_record, reclaim_at)},
    {"reclaim_before", offsetof(struct vmm_mem_record, reclaim_before)},
    {"reclaim_after", offsetof(struct vmm_mem_record, reclaim_after)},
};
#define NR_KEYS (sizeof(record_keys) / sizeof(record_keys[0]))

static uint64_t *field(struct vmm_mem_record *r, size_t i)
{
    return (uint64_t *)((char *)r + record_keys[i].off);
}

void vmmctl_format_record(const struct vmm_mem_record *r, char line[VMMCTL_RECORD_LEN])
{
    size_t n = (size_t)snprintf(line, VMMCTL_RECORD_LEN, "%s", RECORD_VERSION);
    for (size_t i = 0; i < NR_KEYS && n < VMMCTL_RECORD_LEN; i++)
        n += (size_t)snprintf(line + n, VMMCTL_RECORD_LEN - n, " %s=%llu", record_keys[i].key,
                              (unsigned long long)*field((struct vmm_mem_record *)r, i));
    /* Fixed width: a rewrite in place never leaves the tail of a longer one. */
    if (n > VMMCTL_RECORD_LEN - 1)
        n = VMMCTL_RECORD_LEN - 1;
    memset(line + n, ' ', VMMCTL_RECORD_LEN - 1 - n);
    line[VMMCTL_RECORD_LEN - 1] = '\n';
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 20)
        return BURROW_ERR_FORMAT;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return BURROW_ERR_FORMAT;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return BURROW_ERR_FORMAT;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* One "key=value" token into its field (unknown keys: a newer writer's, skipped). */
static int parse_token(const char *t, size_t len, struct vmm_mem_record *out)
{
    const char *eq = memchr(t, '=', len);
    if (!eq)
        return BURROW_ERR_FORMAT;
    size_t klen = (size_t)(eq - t);
    uint64_t v;
    if (parse_u64(eq + 1, len - klen - 1, &v))
        return BURROW_ERR_FORMAT;
    for (size_t i = 0; i < NR_KEYS; i++)
        if (strlen(record_keys[i].key) == klen && memcmp(record_keys[i].key, t, klen) == 0)
            *field(out, i) = v;
    return 0;
}

int vmmctl_parse_record(const char *line, struct vmm_mem_record *out)
{
    memset(out, 0, sizeof(*out));
    size_t vlen = strlen(RECORD_VERSION);
    if (strncmp(line, RECORD_VERSION, vlen) != 0 || (line[vlen] != ' ' && line[vlen] != '\n'))
        return BURROW_ERR_FORMAT;
    for (const char *p = line + vlen; *p && *p != '\n';) {
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " \n");
        if (parse_token(p, len, out))
            return BURROW_ERR_FORMAT;
        p += len;
    }
    return 0;
}

int vmmctl_read_record(const char *dir, struct vmm_mem_record *out)
{
    char path[600], line[VMMCTL_RECORD_LEN + 1];
    snprintf(path, sizeof(path), "%s/%s", dir, VMMCTL_RECORD);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return BURROW_ERR_NOT_FOUND;
    ssize_t n = pread(fd, line, VMMCTL_RECORD_LEN, 0);
    close(fd);
    if (n <= 0)
        return BURROW_ERR_NOT_FOUND; /* not written yet: a pooled VM */
    line[n] = '\0';
    return vmmctl_parse_record(line, out);
}

int vmmctl_call(const char *dir, const char *request, char *answer, size_t sz)
{
    int fd;
    int r = dirsock_connect(dir, VMMCTL_SOCK, &fd);
    if (r)
        return r;
    size_t len = strlen(request);
    if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len ||
        send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
        r = BURROW_ERR_CLOSED;
    else
        r = dirsock_read_line(fd, answer, sz, VMMCTL_TIMEOUT_MS);
    close(fd);
    return r;
}

/* ---- the VMM's side ---- */

int vmmctl_open(struct vmmctl *c, const char *dir)
{
    memset(c, 0, sizeof(*c));
    c->listen_fd = c->record_fd = -1;
    char path[600];
    int r = dirsock_listen(dir, VMMCTL_SOCK, &c->listen_fd);
    if (r)
        return r;
    snprintf(path, sizeof(path), "%s/%s", dir, VMMCTL_SOCK);
    if (chmod(path, 0600) != 0) /* root's: balloon targets are an administrator's call */
        return BURROW_ERR_SYSTEM;
    snprintf(path, sizeof(path), "%s/%s", dir, VMMCTL_RECORD);
    c->record_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    return c->record_fd < 0 ? BURROW_ERR_SYSTEM : 0;
}

void vmmctl_close(struct vmmctl *c)
{
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    if (c->record_fd >= 0)
        close(c->record_fd);
    c->listen_fd = c->record_fd = -1;
}

void vmmctl_start(struct vmmctl *c, struct fork_vm *f, unsigned idle_reclaim_s, uint64_t now_ns)
{
    c->f = f;
    c->idle_reclaim_s = idle_reclaim_s;
    struct virtio_vsock *v = f->m.devices.vsock;
    c->session_bytes = v ? virtio_vsock_session_bytes(v) : 0;
    c->idle_since_ns = now_ns;
    c->reclaimed = false;
    c->next_stats_ns = now_ns; /* the template's figures are not this VM's: ask at once */
}

/* "BALLOON <MiB>": the target, bounded by the VM's RAM. */
static void do_balloon(struct vmmctl *c, const char *arg, char *ans, size_t sz)
{
    struct virtio_balloon *b = c->f->m.devices.balloon;
    uint64_t mib;
    if (!b) {
        snprintf(ans, sz,
                 "ERR this VM has no balloon device (its template was built before "
                 "virtio-balloon existed: build it again)");
        return;
    }
    if (parse_u64(arg, strlen(arg), &mib) || mib > UINT32_MAX / PAGES_PER_MIB) {
        snprintf(ans, sz, "ERR '%s' is not a size in MiB", arg);
        return;
    }
    int r = virtio_balloon_set_target(b, mib * PAGES_PER_MIB);
    if (r == BURROW_ERR_RANGE) {
        snprintf(ans, sz, "ERR %llu MiB is more than the VM's %llu MiB", (unsigned long long)mib,
                 (unsigned long long)(c->f->m.vm->ram_size >> 20));
        return;
    }
    log_info("balloon: target %llu MiB (asked on %s)", (unsigned long long)mib, VMMCTL_SOCK);
    snprintf(ans, sz, "OK %llu", (unsigned long long)mib);
}

static void answer(struct vmmctl *c, int fd)
{
    char line[REQUEST_MAX], ans[256];
    if (dirsock_read_line(fd, line, sizeof(line), SERVE_READ_MS))
        return;
    if (strncmp(line, "BALLOON ", 8) == 0)
        do_balloon(c, line + 8, ans, sizeof(ans));
    else
        snprintf(ans, sizeof(ans), "ERR unknown request (this VMM knows BALLOON <MiB>)");
    size_t n = strlen(ans);
    ans[n++] = '\n';
    if (send(fd, ans, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
        log_debug("%s: the client left before its answer", VMMCTL_SOCK);
}

void vmmctl_serve(struct vmmctl *c, unsigned timeout_ms)
{
    struct pollfd p = {.fd = c->listen_fd, .events = POLLIN};
    if (c->listen_fd < 0) {
        poll(NULL, 0, (int)timeout_ms);
        return;
    }
    if (poll(&p, 1, (int)timeout_ms) <= 0)
        return;
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    answer(c, fd);
    close(fd);
}

/* The idle policy: one RECLAIM per stretch without a session byte. */
static void idle_policy(struct vmmctl *c, uint64_t now_ns)
{
    struct virtio_vsock *v = c->f->m.devices.vsock;
    uint64_t bytes = v ? virtio_vsock_session_bytes(v) : 0;
    if (bytes != c->session_bytes) {
        c->session_bytes = bytes;
        c->idle_since_ns = now_ns;
        c->reclaimed = false;
        return;
    }
    if (!c->idle_reclaim_s || c->reclaimed ||
        now_ns - c->idle_since_ns < (uint64_t)c->idle_reclaim_s * NS_PER_S)
        return;
    c->reclaimed = true; /* once per idle period, answered or not */
    int r = control_port_reclaim(&c->f->cp, PROTO_RECLAIM_F_DROP_CACHES | PROTO_RECLAIM_F_COMPACT);
    if (r)
        log_info("idle reclaim: no session byte for %u s, but no agent connection to ask",
                 c->idle_reclaim_s);
    else
        log_info("idle reclaim: no session byte for %u s: asked the agent to drop caches and "
                 "compact",
                 c->idle_reclaim_s);
}

/* The record as of now: the balloon's figures and the agent's last reclaim. */
static void build_record(struct vmmctl *c, struct vmm_mem_record *r)
{
    struct virtio_balloon *b = c->f->m.devices.balloon;
    struct control_port *cp = &c->f->cp;
    *r = c->rec;
    r->ram_pages = c->f->m.vm->ram_size >> BALLOON_PAGE_SHIFT;
    if (b) {
        struct balloon_info i;
        virtio_balloon_info(b, &i);
        r->balloon = 1;
        r->target_pages = i.target;
        r->actual_pages = i.actual;
        r->held_pages = i.held;
        r->stats_seen = i.stats_seen;
        r->free_bytes = i.stats[BALLOON_S_MEMFREE];
        r->avail_bytes = i.stats[BALLOON_S_AVAIL];
        r->total_bytes = i.stats[BALLOON_S_MEMTOT];
        r->caches_bytes = i.stats[BALLOON_S_CACHES];
        r->reports = i.reports;
        r->reported_bytes = i.reported_bytes;
        r->refused = i.refused;
        r->oom_deflates = i.oom_deflates;
        if (i.stats_updates != c->stats_updates) {
            c->stats_updates = i.stats_updates;
            r->stats_at = (uint64_t)time(NULL);
        }
    }
    pthread_mutex_lock(&cp->lock);
    if (cp->nr_reclaim != r->reclaims)
        r->reclaim_at = (uint64_t)time(NULL);
    r->reclaims = cp->nr_reclaim;
    if (cp->nr_reclaim_answers) {
        r->reclaim_before = cp->last_reclaim.free_before_kib;
        r->reclaim_after = cp->last_reclaim.free_after_kib;
    }
    pthread_mutex_unlock(&cp->lock);
}

/*
 * The guest's figures are worth asking for again when its memory just moved:
 * an answered RECLAIM, or a balloon that reached a new size.
 */
static bool memory_moved(const struct vmmctl *c, const struct vmm_mem_record *r)
{
    return c->rec_written &&
           (r->reclaim_before != c->rec.reclaim_before ||
            r->reclaim_after != c->rec.reclaim_after || r->actual_pages != c->rec.actual_pages);
}

void vmmctl_tick(struct vmmctl *c, uint64_t now_ns)
{
    struct virtio_balloon *b = c->f->m.devices.balloon;
    idle_policy(c, now_ns);
    struct vmm_mem_record r;
    build_record(c, &r);
    if (b && (now_ns >= c->next_stats_ns || memory_moved(c, &r))) {
        (void)virtio_balloon_request_stats(b); /* AGAIN: no stats buffer with us (yet) */
        c->next_stats_ns = now_ns + VMMCTL_STATS_PERIOD_S * NS_PER_S;
    }
    if (c->rec_written && memcmp(&r, &c->rec, sizeof(r)) == 0)
        return;
    char line[VMMCTL_RECORD_LEN];
    vmmctl_format_record(&r, line);
    if (c->record_fd >= 0 && pwrite(c->record_fd, line, sizeof(line), 0) == (ssize_t)sizeof(line)) {
        c->rec = r;
        c->rec_written = true;
    }
}
