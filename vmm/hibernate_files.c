/*
 * vmm/hibernate_files.c - a user's hibernate directory and the requester's
 * side of a hibernation (see hibernate.h): state_dir/users/NAME/hibernate/
 * with `image`, `lock`, `last-error` and refused images kept aside.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/atomicfile.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/fdio.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "vmm/dirsock.h"
#include "vmm/hibernate.h"
#include "vmm/template_files.h"

#define HIB_PATH         1200
#define HIB_TMP          ".image.tmp"
#define HIB_LOCK         "lock"
#define HIB_LAST_ERROR   "last-error"
#define HIB_SAVE_WAIT_MS (10 * 60 * 1000) /* the agent's sync, the pause, the write */
#define HIB_GONE_WAIT_MS 10000            /* the VMM exits once the image is committed */
/* The largest image a VM can write: all of the largest RAM ([vm] memory_mb 65536) and its state. */
#define HIB_IMAGE_MAX ((65536ull + 64) << 20)

static uint64_t now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* user_dir/hibernate[/file] into out. */
static int hib_path(char *out, size_t sz, const char *user_dir, const char *file)
{
    int n = file ? snprintf(out, sz, "%s/%s/%s", user_dir, HIB_DIR, file)
                 : snprintf(out, sz, "%s/%s", user_dir, HIB_DIR);
    return n < 0 || (size_t)n >= sz ? BURROW_ERR_TOO_LARGE : 0;
}

int hib_present(const char *user_dir)
{
    char path[HIB_PATH];
    struct stat st;
    return hib_path(path, sizeof(path), user_dir, HIB_IMAGE) == 0 && lstat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

int hib_info_read(const char *user_dir, struct hib_info *info)
{
    char path[HIB_PATH];
    uint8_t hdr[HIB_HDR_LEN];
    struct stat st;
    memset(info, 0, sizeof(*info));
    int r = hib_path(path, sizeof(path), user_dir, HIB_IMAGE);
    if (r)
        return r;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        r = BURROW_ERR_FORMAT;
    else if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
        r = BURROW_ERR_TRUNCATED;
    else
        r = hib_header_decode(hdr, sizeof(hdr), (uint64_t)st.st_size, &info->h);
    info->disk_kib = r == BURROW_ERR_FORMAT ? 0 : (uint64_t)st.st_blocks / 2;
    close(fd);
    return r;
}

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const struct hib_info *)a)->h.user, ((const struct hib_info *)b)->h.user);
}

/*
 * Visit every user directory that holds an image; fn gets its info and read
 * status (with fn NULL, only *count: no image is opened).
 */
static int each_image(const char *state_dir, int (*fn)(void *ctx, struct hib_info *i, int err),
                      void *ctx, unsigned *count)
{
    char users[HIB_PATH], dir[HIB_PATH];
    snprintf(users, sizeof(users), "%s/users", state_dir);
    DIR *d = opendir(users);
    if (!d)
        return errno == ENOENT ? 0 : BURROW_ERR_SYSTEM;
    struct dirent *e;
    int r = 0;
    while (!r && (e = readdir(d))) {
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(dir, sizeof(dir), "%s/%s", users, e->d_name) >= sizeof(dir) ||
            !hib_present(dir))
            continue;
        if (count)
            (*count)++;
        if (!fn)
            continue;
        struct hib_info info;
        int err = hib_info_read(dir, &info);
        if (err) /* unreadable, yet it reserves her disk: listed under its directory's name */
            snprintf(info.h.user, sizeof(info.h.user), "%.*s", (int)HIB_USER_MAX, e->d_name);
        r = fn(ctx, &info, err);
    }
    closedir(d);
    return r;
}

struct list_ctx {
    struct hib_info *v;
    size_t n, cap;
};

static int list_one(void *ctx, struct hib_info *info, int err)
{
    struct list_ctx *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct hib_info *nv = realloc(l->v, cap * sizeof(*nv));
        if (!nv)
            return BURROW_ERR_NOMEM;
        l->v = nv;
        l->cap = cap;
    }
    info->err = err;
    l->v[l->n++] = *info;
    return 0;
}

int hib_list(const char *state_dir, struct hib_info **out, size_t *n)
{
    struct list_ctx l = {0};
    int r = each_image(state_dir, list_one, &l, NULL);
    if (r) {
        free(l.v);
        return r;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), cmp_info);
    *out = l.v;
    *n = l.n;
    return 0;
}

unsigned hib_count(const char *state_dir)
{
    unsigned n = 0;
    return each_image(state_dir, NULL, NULL, &n) == 0 ? n : 0;
}

int hib_build_in_use(const char *state_dir, const char *build)
{
    struct hib_info *v;
    size_t n;
    int used = 0;
    if (hib_list(state_dir, &v, &n))
        return 0;
    for (size_t i = 0; i < n; i++)
        used |= v[i].err == 0 && strcmp(v[i].h.build, build) == 0;
    free(v);
    return used;
}

/* ---- small files: the lock, the reasons ---- */

int hib_lock(const char *user_dir, int *r)
{
    char path[HIB_PATH];
    if ((*r = hib_path(path, sizeof(path), user_dir, NULL)))
        return -1;
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        *r = BURROW_ERR_SYSTEM;
        return -1;
    }
    if ((*r = hib_path(path, sizeof(path), user_dir, HIB_LOCK)))
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        *r = BURROW_ERR_SYSTEM;
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        *r = errno == EWOULDBLOCK ? BURROW_ERR_BUSY : BURROW_ERR_SYSTEM;
        close(fd);
        return -1;
    }
    return fd;
}

/* A small text file replaced atomically (new file, fsync, rename, directory fsync). */
static int write_text(const char *user_dir, const char *name, const char *text)
{
    char path[HIB_PATH], tmp[HIB_PATH + 8], dir[HIB_PATH];
    int r;
    if ((r = hib_path(path, sizeof(path), user_dir, name)) ||
        (r = hib_path(dir, sizeof(dir), user_dir, NULL)))
        return r;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    unlink(tmp);
    if ((r = tpl_write_new_file(tmp, text, strlen(text))))
        return r;
    if (rename(tmp, path) < 0) {
        unlink(tmp);
        return BURROW_ERR_SYSTEM;
    }
    return fs_fsync_dir(dir);
}

static void note_error(const char *user_dir, const char *why)
{
    char text[700];
    snprintf(text, sizeof(text), "%lld %s\n", (long long)time(NULL), why);
    if (write_text(user_dir, HIB_LAST_ERROR, text))
        log_warn("hibernate: cannot write %s/%s/%s", user_dir, HIB_DIR, HIB_LAST_ERROR);
}

int hib_last_error(const char *user_dir, uint64_t since, char *why, size_t whysz)
{
    char path[HIB_PATH], text[700];
    if (hib_path(path, sizeof(path), user_dir, HIB_LAST_ERROR))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    text[strcspn(text, "\n")] = '\0';
    char *end;
    unsigned long long t = strtoull(text, &end, 10);
    if (end == text || *end != ' ' || t < since)
        return 0;
    return errmsg(why, whysz, 1, "%s", end + 1);
}

int hib_keep_aside(const char *user_dir, const char *why, char *kept, size_t keptsz)
{
    char img[HIB_PATH], dst[HIB_PATH], dir[HIB_PATH], name[64], ts[32], text[700];
    time_t now = time(NULL);
    int r;
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", gmtime(&now));
    if ((r = hib_path(img, sizeof(img), user_dir, HIB_IMAGE)) ||
        (r = hib_path(dir, sizeof(dir), user_dir, NULL)))
        return r;
    for (int i = 0;; i++) {
        snprintf(name, sizeof(name), i ? "refused-%s.%d" : "refused-%s", ts, i);
        char file[80];
        snprintf(file, sizeof(file), "%s.img", name);
        if ((r = hib_path(dst, sizeof(dst), user_dir, file)))
            return r;
        if (link(img, dst) == 0)
            break;
        if (errno != EEXIST || i >= 100)
            return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    }
    /* The reason beside it, then the image leaves its place: her next VM is a fresh fork. */
    snprintf(text, sizeof(text), "%s\n", why);
    char whyfile[80];
    snprintf(whyfile, sizeof(whyfile), "%s.why", name);
    if (write_text(user_dir, whyfile, text))
        log_warn("hibernate: cannot write the reason beside %s", dst);
    if (unlink(img) < 0 || fs_fsync_dir(dir))
        return BURROW_ERR_SYSTEM;
    if (kept)
        snprintf(kept, keptsz, "%s", dst);
    return 0;
}

int hib_discard(const char *user_dir, char *why, size_t whysz)
{
    char img[HIB_PATH], dir[HIB_PATH];
    int r;
    if (!hib_present(user_dir))
        return errmsg(why, whysz, BURROW_ERR_NOT_FOUND, "no hibernated VM in %s/%s", user_dir,
                      HIB_DIR);
    int lock = hib_lock(user_dir, &r);
    if (lock < 0 && r == BURROW_ERR_BUSY)
        return errmsg(why, whysz, r, "a hibernation or resume of this VM is in progress");
    if (lock < 0)
        return errmsg_sys(why, whysz, r, "cannot lock %s/%s", user_dir, HIB_DIR);
    if ((r = hib_path(img, sizeof(img), user_dir, HIB_IMAGE)) ||
        (r = hib_path(dir, sizeof(dir), user_dir, NULL)))
        errmsg(why, whysz, r, "path too long");
    else if (unlink(img) < 0 || fs_fsync_dir(dir))
        r = errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "cannot remove %s", img);
    close(lock);
    return r;
}

/* ---- the requester ---- */

struct request {
    const char *user_dir;
    struct vm_record rec;
    char tmp[HIB_PATH], img[HIB_PATH], dir[HIB_PATH];
    int fd;   /* the image being written */
    int sock; /* to the VMM */
    int pipe; /* the VMM writes the image into it; we copy it to fd */
};

/*
 * Copy what the VMM writes into the pipe to the image file until it closes
 * its end. The VMM never writes a file itself: its RLIMIT_FSIZE stays at the
 * home disk's size, which a hibernation image (up to all of RAM) may exceed.
 */
static int copy_image(struct request *q, char *why, size_t whysz)
{
    static uint8_t chunk[1 << 16];
    uint64_t total = 0, deadline = now_ns(CLOCK_MONOTONIC) + HIB_SAVE_WAIT_MS * 1000000ull;
    for (;;) {
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        struct pollfd p = {.fd = q->pipe, .events = POLLIN};
        int left = now < deadline ? (int)((deadline - now) / 1000000) : 0;
        int pr = poll(&p, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return errmsg(why, whysz, BURROW_ERR_TIMEOUT, "VM %s did not finish its image",
                          q->rec.id);
        ssize_t n = read(q->pipe, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "reading VM %s's image", q->rec.id);
        if (n == 0)
            return 0;
        total += (uint64_t)n;
        if (total > HIB_IMAGE_MAX)
            return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "VM %s's image exceeds %llu bytes",
                          q->rec.id, (unsigned long long)HIB_IMAGE_MAX);
        if (fd_write_all(q->fd, chunk, (size_t)n))
            return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "%s", q->tmp);
    }
}

/* Send HIBERNATE with the pipe's write end, take the image; the reply line says how it went. */
static int ask_vmm(struct request *q, char *line, size_t sz, char *why, size_t whysz)
{
    int r = dirsock_connect(q->rec.dir, HIB_SOCK, &q->sock);
    if (r == BURROW_ERR_NOT_FOUND)
        return errmsg(why, whysz, BURROW_ERR_UNSUPPORTED,
                      "VM %s takes no hibernate requests (hibernation is kvm-only)", q->rec.id);
    if (r)
        return errmsg(why, whysz, r, "cannot reach VM %s: %s", q->rec.id, burrow_strerror(r));
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "pipe");
    q->pipe = p[0];
    static const char req[] = "HIBERNATE\n";
    ssize_t sent = fdpass_send(q->sock, req, sizeof(req) - 1, p[1], MSG_NOSIGNAL);
    close(p[1]); /* the VMM's copy is the only writer: its close is our end of file */
    if (sent != sizeof(req) - 1)
        return errmsg(why, whysz, BURROW_ERR_CLOSED, "VM %s did not take the request", q->rec.id);
    if ((r = copy_image(q, why, whysz)))
        return r;
    if ((r = dirsock_read_line(q->sock, line, sz, HIB_SAVE_WAIT_MS)))
        return errmsg(why, whysz, r, "VM %s did not answer: %s", q->rec.id, burrow_strerror(r));
    if (strncmp(line, "ERR ", 4) == 0)
        return errmsg(why, whysz, BURROW_ERR_GUEST, "%s", line + 4);
    return 0;
}

/*
 * The VM is saved and stopped for good: the image gets its place. The VMM
 * holds the home disk's lock until we say DONE, so no other VM can take the
 * disk before the image reserves it.
 */
static int commit(struct request *q, uint64_t bytes, char *why, size_t whysz)
{
    struct stat st;
    uint8_t hdr[HIB_HDR_LEN];
    struct hib_header h;
    int r;
    if (fsync(q->fd) < 0 || fstat(q->fd, &st) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "%s", q->tmp);
    if ((uint64_t)st.st_size != bytes || pread(q->fd, hdr, sizeof(hdr), 0) != sizeof(hdr) ||
        (r = hib_header_decode(hdr, sizeof(hdr), bytes, &h)) || strcmp(h.vm_id, q->rec.id) != 0)
        return errmsg(why, whysz, BURROW_ERR_FORMAT, "VM %s wrote an image that does not parse",
                      q->rec.id);
    if (rename(q->tmp, q->img) < 0 || fs_fsync_dir(q->dir))
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "cannot commit %s", q->img);
    return 0;
}

static int run_request(struct request *q, int *lock, struct hib_result *res, char *why,
                       size_t whysz)
{
    char line[600];
    unsigned long long bytes, pages, ms;
    int r;
    if (hib_present(q->user_dir))
        return errmsg(why, whysz, BURROW_ERR_EXISTS, "%s already has a hibernated VM", q->rec.user);
    unlink(q->tmp); /* a crashed run's; we hold the lock */
    q->fd = open(q->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (q->fd < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "%s", q->tmp);
    if ((r = ask_vmm(q, line, sizeof(line), why, whysz)))
        return r;
    if (sscanf(line, "SAVED %llu %llu %llu", &bytes, &pages, &ms) != 3)
        return errmsg(why, whysz, BURROW_ERR_PROTOCOL, "VM %s answered '%.100s'", q->rec.id, line);
    if ((r = commit(q, bytes, why, whysz)))
        return r;
    /* Committed: her next VM may resume it now (it waits for the disk this VMM still holds). */
    close(*lock);
    *lock = -1;
    res->bytes = bytes;
    res->pages = pages;
    res->save_ms = ms;
    /* The jailed VMM cannot remove its record: ours once it is gone. */
    if (write(q->sock, "DONE\n", 5) != 5 || !registry_wait_gone(&q->rec, HIB_GONE_WAIT_MS))
        log_warn("vm %s: saved, but its VMM did not end in time", q->rec.id);
    else
        registry_remove(q->rec.dir);
    return 0;
}

int hib_request(const char *run_dir, const char *id, const char *user_dir, struct hib_result *res,
                char *why, size_t whysz)
{
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    static struct request q;
    memset(&q, 0, sizeof(q));
    memset(res, 0, sizeof(*res));
    q.user_dir = user_dir;
    q.fd = q.sock = q.pipe = -1;
    int r = registry_get(run_dir, id, &q.rec);
    if (r)
        return errmsg(why, whysz, r == BURROW_ERR_INVALID ? r : BURROW_ERR_NOT_FOUND,
                      "no running VM %s", id);
    if (strcmp(q.rec.state, "running") != 0)
        return errmsg(why, whysz, BURROW_ERR_INVALID, "VM %s is %s, not running", id, q.rec.state);
    if ((r = hib_path(q.tmp, sizeof(q.tmp), user_dir, HIB_TMP)) ||
        (r = hib_path(q.img, sizeof(q.img), user_dir, HIB_IMAGE)) ||
        (r = hib_path(q.dir, sizeof(q.dir), user_dir, NULL)))
        return errmsg(why, whysz, r, "%s: path too long", user_dir);
    int lock = hib_lock(user_dir, &r);
    if (lock < 0)
        return errmsg(why, whysz, r,
                      r == BURROW_ERR_BUSY ? "a hibernation or resume of %s is in progress"
                                           : "cannot lock the hibernate directory of %s",
                      q.rec.user);
    r = run_request(&q, &lock, res, why, whysz);
    if (q.sock >= 0)
        close(q.sock);
    if (q.pipe >= 0)
        close(q.pipe);
    if (q.fd >= 0)
        close(q.fd);
    if (r) {
        unlink(q.tmp);
        note_error(user_dir, why);
    }
    if (lock >= 0)
        close(lock);
    res->ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1000000;
    return r;
}
