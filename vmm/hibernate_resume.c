/*
 * vmm/hibernate_resume.c - resuming a hibernated VM (see hibernate.h): in
 * the VMM process, the image is checked, its pages laid over a fresh
 * copy-on-write mapping of the build it was taken from, its state restored
 * and the image consumed before any guest code runs; in the starter, an
 * image that cannot be used is kept aside and a fresh fork follows.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/atomicfile.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/dirsock.h"
#include "vmm/fork.h"
#include "vmm/hibernate.h"
#include "vmm/template_files.h"
#include "vmm/virtio/blk.h"
#include "vmm/vmmproc.h"

#define RELAY_TIMEOUT_MS 90000 /* restore + READY (30 s) with room */
#define LOCK_WAIT_MS     10000

/* An image problem: the text says so, and rs->refused makes the starter keep it aside. */
static int refuse(struct hib_resume *rs, char *why, size_t whysz, int r, const char *what)
{
    rs->refused = 1;
    return errmsg(why, whysz, r, HIB_REFUSED ": %s: %s", rs->path, what);
}

/* Hash the whole file: tells a corrupt image (checksum) from a malformed one. */
static int whole_file_ok(int fd, uint64_t len)
{
    static uint8_t b[1 << 16];
    uint8_t want[HIB_HASH_LEN], got[HIB_HASH_LEN];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, HIB_HASH_LEN);
    uint64_t off = 0, body = len - HIB_HASH_LEN;
    while (off < body) {
        size_t k = body - off < sizeof(b) ? (size_t)(body - off) : sizeof(b);
        if (pread(fd, b, k, (off_t)off) != (ssize_t)k)
            return 0;
        crypto_generichash_update(&st, b, k);
        off += k;
    }
    crypto_generichash_final(&st, got, sizeof(got));
    return pread(fd, want, sizeof(want), (off_t)body) == (ssize_t)sizeof(want) &&
           sodium_memcmp(want, got, sizeof(got)) == 0;
}

static int read_meta(struct hib_resume *rs, char *why, size_t whysz)
{
    size_t len = (size_t)(rs->h.pages_off - HIB_HDR_LEN);
    rs->meta = malloc(len);
    if (!rs->meta)
        return errmsg(why, whysz, BURROW_ERR_NOMEM, "no memory for %s", rs->path);
    if (pread(rs->fd, rs->meta, len, HIB_HDR_LEN) != (ssize_t)len)
        return refuse(rs, why, whysz, BURROW_ERR_TRUNCATED, "cannot read its state and index");
    int r = hib_meta_decode(&rs->h, rs->meta, len, &rs->snap, &rs->index);
    if (r && !whole_file_ok(rs->fd, rs->h.file_len))
        r = BURROW_ERR_CHECKSUM;
    return r ? refuse(rs, why, whysz, r,
                      r == BURROW_ERR_CHECKSUM ? hib_strerror(r) : snap_strerror(r))
             : 0;
}

int hib_resume_open(struct hib_resume *rs, const char *path, const char *build, char *why,
                    size_t whysz)
{
    memset(rs, 0, sizeof(*rs));
    snprintf(rs->path, sizeof(rs->path), "%s", path);
    rs->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (rs->fd < 0)
        return errmsg_sys(why, whysz, errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM,
                          "%s", path);
    struct stat st;
    if (fstat(rs->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return refuse(rs, why, whysz, BURROW_ERR_FORMAT, "not a regular file");
    ssize_t n = pread(rs->fd, rs->hdr, sizeof(rs->hdr), 0);
    int r = hib_header_decode(rs->hdr, n > 0 ? (size_t)n : 0, (uint64_t)st.st_size, &rs->h);
    if (r && r != BURROW_ERR_VERSION && !whole_file_ok(rs->fd, (uint64_t)st.st_size))
        r = BURROW_ERR_CHECKSUM; /* a damaged header: say corrupt rather than malformed */
    if (r)
        return refuse(rs, why, whysz, r, hib_strerror(r));
    if (strcmp(rs->h.build, build) != 0)
        return refuse(rs, why, whysz, BURROW_ERR_FORMAT, "taken from another build");
    return read_meta(rs, why, whysz);
}

/* The saved pages into the fresh mapping, run by run, hashed with the rest of the file. */
static int lay_pages(struct hib_resume *rs, uint8_t *ram, char *why, size_t whysz)
{
    crypto_generichash_state st;
    uint8_t want[HIB_HASH_LEN], got[HIB_HASH_LEN];
    crypto_generichash_init(&st, NULL, 0, HIB_HASH_LEN);
    crypto_generichash_update(&st, rs->hdr, HIB_HDR_LEN);
    crypto_generichash_update(&st, rs->meta, rs->h.pages_off - HIB_HDR_LEN);
    uint64_t off = rs->h.pages_off;
    for (uint64_t i = 0; i < rs->h.nr_pages;) {
        uint64_t first = hib_index_at(rs->index, i), j = i + 1;
        while (j < rs->h.nr_pages && hib_index_at(rs->index, j) == first + (j - i))
            j++;
        size_t len = (size_t)(j - i) * HIB_PAGE;
        uint8_t *dst = ram + first * HIB_PAGE; /* first < mem_size / 4096: hib_meta_decode */
        if (pread(rs->fd, dst, len, (off_t)off) != (ssize_t)len)
            return refuse(rs, why, whysz, BURROW_ERR_TRUNCATED, "cannot read its pages");
        crypto_generichash_update(&st, dst, len);
        off += len;
        i = j;
    }
    crypto_generichash_final(&st, got, sizeof(got));
    if (pread(rs->fd, want, sizeof(want), (off_t)off) != (ssize_t)sizeof(want) ||
        sodium_memcmp(want, got, sizeof(got)) != 0)
        return refuse(rs, why, whysz, BURROW_ERR_CHECKSUM, hib_strerror(BURROW_ERR_CHECKSUM));
    return 0;
}

int hib_resume_apply(struct hib_resume *rs, struct fork_vm *f, char *why, size_t whysz)
{
    struct vm *vm = f->m.vm;
    if (vm->ram_size != rs->h.mem_size)
        return refuse(rs, why, whysz, BURROW_ERR_FORMAT, "its memory size is not its build's");
    int r = lay_pages(rs, vm->ram, why, whysz);
    if (r)
        return r;
    /*
     * The image's state replaces the template's, as a copy the fork owns: a
     * fork that fails later (a disk still locked) is retried from rs.
     */
    uint8_t *state = malloc(rs->h.state_len);
    if (!state)
        return errmsg(why, whysz, BURROW_ERR_NOMEM, "no memory for the saved state");
    memcpy(state, rs->meta, rs->h.state_len);
    free(f->state);
    f->state = state;
    f->state_len = (size_t)rs->h.state_len;
    char what[300] = "";
    if ((r = snap_parse(f->state, f->state_len, &f->snap)) ||
        (r = snap_restore_machine(&f->m, &f->snap, what, sizeof(what))))
        return refuse(rs, why, whysz, r, what[0] ? what : snap_strerror(r));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    f->cp.resumed = true;
    f->cp.slept_ms = now > rs->h.created_ns ? (now - rs->h.created_ns) / 1000000 : 0;
    return 0;
}

int hib_resume_finish(struct hib_resume *rs, struct fork_vm *f, char *why, size_t whysz)
{
    struct virtio_blk *disk = f->m.devices.blk;
    uint64_t bytes = disk ? virtio_blk_capacity(disk) * 512 : 0;
    if (rs->h.disk_bytes && bytes != rs->h.disk_bytes)
        return refuse(rs, why, whysz, BURROW_ERR_FORMAT,
                      "the home disk is not the size it had when the VM was saved");
    /* Consumed before the guest runs: once it writes her disk, this image is stale forever. */
    char dir[sizeof(rs->path)];
    snprintf(dir, sizeof(dir), "%s", rs->path);
    if (unlink(rs->path) < 0 || fs_fsync_dir(dirname(dir)))
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "cannot consume %s", rs->path);
    return 0;
}

void hib_resume_close(struct hib_resume *rs)
{
    if (rs->fd >= 0)
        close(rs->fd);
    rs->fd = -1;
    free(rs->meta);
    rs->meta = NULL;
}

/* ---- the starter ---- */

/* The resume request: the image's build (which may not be the active one), no pool. */
static int resume_request(const struct vmm_request *req, const struct hib_info *info,
                          struct vmm_request *rq, char *why, size_t whysz)
{
    char tdir[sizeof(req->build_dir)], state[sizeof(req->build_dir) + 80];
    struct stat st;
    size_t nl;
    *rq = *req;
    rq->pool_size = 0;
    snprintf(tdir, sizeof(tdir), "%s", req->build_dir);
    if (!template_build_id_ok(info->h.build, &nl) ||
        (size_t)snprintf(rq->build_dir, sizeof(rq->build_dir), "%s/%s", dirname(tdir),
                         info->h.build) >= sizeof(rq->build_dir) ||
        (size_t)snprintf(rq->hib_image, sizeof(rq->hib_image), "%s/%s/%s", req->user_dir, HIB_DIR,
                         HIB_IMAGE) >= sizeof(rq->hib_image))
        return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "path too long");
    snprintf(rq->build, sizeof(rq->build), "%s", info->h.build);
    snprintf(rq->template_name, sizeof(rq->template_name), "%.*s", (int)nl, info->h.build);
    snprintf(state, sizeof(state), "%s/state", rq->build_dir);
    if (stat(state, &st) != 0)
        return errmsg(why, whysz, BURROW_ERR_NOT_FOUND,
                      HIB_REFUSED ": its template build %s is gone", info->h.build);
    return 0;
}

/*
 * Run the resume and pass its report on. The VMM's PID line waits for the
 * verdict: a refused attempt's process must not be watched as the VM. 0
 * with *refused set when the image was refused (why says why).
 */
static int relay_resume(struct vmm_request *rq, int out_fd, int *refused, char *why, size_t whysz)
{
    int p[2];
    char line[700], pid[64] = "";
    if (pipe2(p, O_CLOEXEC) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "pipe");
    int r = vmm_fork_report(rq, p[1]);
    close(p[1]);
    while (r == 0 && (r = dirsock_read_line(p[0], line, sizeof(line), RELAY_TIMEOUT_MS)) == 0) {
        if (strncmp(line, "PID ", 4) == 0 && strlen(line) < sizeof(pid) - 1) {
            snprintf(pid, sizeof(pid), "%.62s\n", line);
            continue;
        }
        if (strncmp(line, "ERR " HIB_REFUSED, 4 + strlen(HIB_REFUSED)) == 0) {
            *refused = 1;
            snprintf(why, whysz, "%s", line + 4);
        } else {
            dprintf(out_fd, "%s%s\n", strncmp(line, "OK ", 3) == 0 ? pid : "", line);
        }
        break;
    }
    close(p[0]);
    if (r)
        dprintf(out_fd, "ERR the resuming VMM ended without a report (%s)\n", burrow_strerror(r));
    return 0;
}

/* Keep a refused image for the admin, say so, and fork fresh. */
static int refused_then_fork(struct vmm_request *req, int out_fd, const char *why)
{
    char kept[1200] = "";
    if (hib_keep_aside(req->user_dir, why, kept, sizeof(kept)))
        log_error("hibernate: cannot move the refused image of %s aside: %s", req->id.user,
                  strerror(errno));
    log_error("%s (kept as %s); %s gets a fresh VM", why, kept[0] ? kept : "-", req->id.user);
    dprintf(out_fd, "REFUSED %s\n", why);
    req->user_dir[0] = '\0'; /* fork fresh (vmm_fork_report would look again) */
    return vmm_fork_report(req, out_fd);
}

static int resume_locked(struct vmm_request *req, int out_fd)
{
    static struct vmm_request rq;
    struct hib_info info;
    char why[700] = "";
    int refused = 0;
    int r = hib_info_read(req->user_dir, &info);
    if (r == BURROW_ERR_NOT_FOUND) { /* discarded meanwhile */
        req->user_dir[0] = '\0';
        return vmm_fork_report(req, out_fd);
    }
    if (r) {
        errmsg(why, sizeof(why), r, HIB_REFUSED ": %s/%s/%s: %s", req->user_dir, HIB_DIR, HIB_IMAGE,
               hib_strerror(r));
        return refused_then_fork(req, out_fd, why);
    }
    if ((r = resume_request(req, &info, &rq, why, sizeof(why)))) {
        if (strncmp(why, HIB_REFUSED, strlen(HIB_REFUSED)) == 0)
            return refused_then_fork(req, out_fd, why);
        dprintf(out_fd, "ERR %s\n", why);
        return 0;
    }
    log_info("vm for %s: resuming the VM hibernated from %s", req->id.user, info.h.build);
    if ((r = relay_resume(&rq, out_fd, &refused, why, sizeof(why))) || !refused)
        return r;
    return refused_then_fork(req, out_fd, why);
}

int hib_fork_report(struct vmm_request *req, int out_fd)
{
    if (!req->request_ns) /* the resume and a fresh fork after a refusal are one request */
        req->request_ns = clock_now_ns();
    if (!hib_present(req->user_dir)) {
        req->user_dir[0] = '\0';
        return vmm_fork_report(req, out_fd);
    }
    /* A hibernation that just committed this image lets go of the lock a moment later. */
    int err, lock = hib_lock(req->user_dir, &err);
    for (int waited = 0; lock < 0 && err == BURROW_ERR_BUSY && waited < LOCK_WAIT_MS;
         waited += 50) {
        usleep(50 * 1000);
        lock = hib_lock(req->user_dir, &err);
    }
    if (lock < 0) {
        dprintf(out_fd, "ERR the VM of %s is being hibernated, resumed or discarded (%s)\n",
                req->id.user, burrow_strerror(err));
        return 0;
    }
    int r = resume_locked(req, out_fd);
    close(lock);
    return r;
}
