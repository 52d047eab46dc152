/*
 * vmm/hibernate_save.c - the VMM's side of a hibernation (see hibernate.h):
 * a request on run_dir/vm/<id>/hibernate.sock brings the write end of a
 * pipe the requester copies into the image file. The agent syncs its filesystems first (its FLUSHes
 * reach the home disk as fdatasync); then the VM is brought to the quiescent point a template
 * snapshot uses (vCPUs parked, event thread stopped), the home disk is fdatasynced once more, and
 * the state plus the private pages of the copy-on-write guest mapping are written. Success stops
 * the VM for good; any failure before that resumes it as if nothing had happened.
 *
 * Requester <-> VMM, one connection:
 *     HIBERNATE\n  + a pipe's write end (SCM_RIGHTS); the image goes through it, closed after
 *     SAVED <bytes> <pages> <ms>\n   (stopped for good)  or  ERR <reason>\n (running)
 *     DONE\n (the image is committed; the VMM may release the disk and exit)
 */
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
#include "common/errmsg.h"
#include "common/fdpass.h"
#include "common/log.h"
#include "vmm/dirsock.h"
#include "vmm/fork.h"
#include "vmm/hibernate.h"
#include "vmm/virtio/blk.h"

#define SYNC_TIMEOUT_MS  5000
#define PAUSE_TIMEOUT_MS 5000
#define REQ_TIMEOUT_MS   5000
#define DONE_TIMEOUT_MS  30000
#define PAGEMAP_CHUNK    65536u /* entries read at once */

/* /proc/self/pagemap bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT (1ull << 63)
#define PM_SWAP    (1ull << 62)
#define PM_FILE    (1ull << 61) /* a page-cache page: the template's, never written */

static uint64_t now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int hib_vmm_init(struct hib_vmm *h, const char *dir)
{
    h->listen_fd = h->pagemap_fd = -1;
    int r = dirsock_listen(dir, HIB_SOCK, &h->listen_fd);
    if (r)
        return r;
    /* Opened now: the jail has no /proc, and an open pagemap keeps working after it. */
    h->pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (h->pagemap_fd < 0) {
        hib_vmm_fini(h);
        return BURROW_ERR_SYSTEM;
    }
    return 0;
}

void hib_vmm_fini(struct hib_vmm *h)
{
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    if (h->pagemap_fd >= 0)
        close(h->pagemap_fd);
    h->listen_fd = h->pagemap_fd = -1;
}

/*
 * A page of a MAP_PRIVATE file mapping that is not a page-cache page is the
 * VM's own copy (written since the fork, or restored from an image), in RAM
 * or swapped out; one that is absent or a page-cache page still reads the
 * template's bytes.
 */
int hib_private_pages(int pagemap_fd, const uint8_t *ram, uint64_t size, uint64_t *out, uint64_t *n)
{
    uint64_t first = (uint64_t)(uintptr_t)ram / HIB_PAGE, pages = size / HIB_PAGE;
    uint64_t *pm = malloc(PAGEMAP_CHUNK * sizeof(*pm));
    if (!pm)
        return BURROW_ERR_NOMEM;
    *n = 0;
    int r = 0;
    for (uint64_t i = 0; i < pages && !r; i += PAGEMAP_CHUNK) {
        uint64_t k = pages - i < PAGEMAP_CHUNK ? pages - i : PAGEMAP_CHUNK;
        ssize_t got = pread(pagemap_fd, pm, k * sizeof(*pm), (off_t)((first + i) * sizeof(*pm)));
        if (got != (ssize_t)(k * sizeof(*pm))) {
            r = BURROW_ERR_SYSTEM;
            break;
        }
        for (uint64_t j = 0; j < k; j++)
            if ((pm[j] & (PM_PRESENT | PM_SWAP)) && !(pm[j] & PM_FILE))
                out[(*n)++] = i + j;
    }
    free(pm);
    return r;
}

/* ---- the request ---- */

/*
 * "HIBERNATE" with the write end of a pipe: its descriptor, or -1. The
 * requester copies the image to its file, so this VMM never grows a file
 * past its RLIMIT_FSIZE (the home disk's size).
 */
static int read_request(int c)
{
    char line[32];
    int fd = -1, mflags = 0;
    struct pollfd p = {.fd = c, .events = POLLIN};
    if (poll(&p, 1, REQ_TIMEOUT_MS) <= 0)
        return -1;
    ssize_t n = fdpass_recv(c, line, sizeof(line) - 1, &fd, 0, &mflags);
    struct stat st;
    int acc = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
    if (n != 10 || memcmp(line, "HIBERNATE\n", 10) != 0 || fd < 0 || fstat(fd, &st) < 0 ||
        !S_ISFIFO(st.st_mode) || acc < 0 || (acc & O_ACCMODE) != O_WRONLY) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* ---- saving ---- */

struct save {
    struct fork_vm *f;
    const struct hib_vmm_meta *meta;
    int fd;
    struct snap_writer w;
    uint64_t *pages;
    struct hib_header h;
};

/* The state at the quiescent point, then which pages are the VM's own. */
static int capture(struct save *s, int pagemap_fd, char *why, size_t whysz)
{
    struct vm *vm = s->f->m.vm;
    int r;
    if ((r = snap_writer_init(&s->w)) || (r = snap_save_machine(&s->f->m, &s->w, why, whysz)) ||
        (r = snap_finish(&s->w)))
        return why[0] ? r : errmsg(why, whysz, r, "snapshot: %s", burrow_strerror(r));
    s->pages = malloc((vm->ram_size / HIB_PAGE) * sizeof(*s->pages));
    if (!s->pages)
        return errmsg(why, whysz, BURROW_ERR_NOMEM, "no memory for the page index");
    if ((r = hib_private_pages(pagemap_fd, vm->ram, vm->ram_size, s->pages, &s->h.nr_pages)))
        return errmsg_sys(why, whysz, r, "cannot read /proc/self/pagemap");
    return 0;
}

static void fill_header(struct save *s)
{
    struct hib_header *h = &s->h;
    struct virtio_blk *disk = s->f->m.devices.blk;
    h->mem_size = s->f->m.vm->ram_size;
    h->state_len = buf_used(s->w.out);
    h->created_ns = now_ns(CLOCK_REALTIME);
    h->disk_bytes = disk ? virtio_blk_capacity(disk) * 512 : 0;
    snprintf(h->vm_id, sizeof(h->vm_id), "%s", s->meta->vm_id);
    snprintf(h->user, sizeof(h->user), "%s", s->meta->user);
    snprintf(h->build, sizeof(h->build), "%s", s->meta->build);
    hib_layout(h);
}

/* Header, state and index, then each run of consecutive pages in one write. */
static int write_image(struct save *s, char *why, size_t whysz)
{
    struct hib_writer wr;
    const uint8_t *ram = s->f->m.vm->ram;
    int r = hib_writer_begin(&wr, s->fd, &s->h, buf_data(s->w.out), s->pages);
    for (uint64_t i = 0; !r && i < s->h.nr_pages;) {
        uint64_t j = i + 1;
        while (j < s->h.nr_pages && s->pages[j] == s->pages[j - 1] + 1)
            j++;
        r = hib_writer_pages(&wr, ram + s->pages[i] * HIB_PAGE, (size_t)(j - i));
        i = j;
    }
    if (!r)
        r = hib_writer_end(&wr); /* the requester fsyncs the file before it commits it */
    hib_writer_free(&wr);
    if (r)
        return errmsg_sys(why, whysz, r, "cannot write the image");
    return wr.off == s->h.file_len
               ? 0
               : errmsg(why, whysz, BURROW_ERR_INVALID, "the image came out %llu bytes, not %llu",
                        (unsigned long long)wr.off, (unsigned long long)s->h.file_len);
}

/* The agent syncs; an agent that cannot is no reason to risk her files. */
static int agent_sync(struct fork_vm *f, char *why, size_t whysz)
{
    int32_t code = 0;
    char text[128] = "";
    int r = control_port_hibernate(&f->cp, SYNC_TIMEOUT_MS, &code, text, sizeof(text));
    if (r)
        return errmsg(why, whysz, r, "the agent did not answer HIBERNATE (%s)", burrow_strerror(r));
    if (code == BURROW_ERR_UNSUPPORTED)
        return errmsg(why, whysz, BURROW_ERR_UNSUPPORTED,
                      "the guest's agent cannot hibernate (a template built with an older agent)");
    if (code)
        return errmsg(why, whysz, code, "the agent could not sync: %s (%s)", burrow_strerror(code),
                      text);
    return 0;
}

/* Everything after the pause; the VM is still paused when it returns. */
static int save_paused(struct save *s, int pagemap_fd, char *why, size_t whysz)
{
    int r;
    if (s->f->m.vm->stopping)
        return errmsg(why, whysz, BURROW_ERR_CLOSED, "the VM stopped");
    if (s->f->m.devices.blk && (r = virtio_blk_sync(s->f->m.devices.blk)))
        return errmsg_sys(why, whysz, r, "cannot fdatasync the home disk");
    if ((r = capture(s, pagemap_fd, why, whysz)))
        return r;
    fill_header(s);
    return write_image(s, why, whysz);
}

static int save(struct save *s, int pagemap_fd, char *why, size_t whysz)
{
    struct vm *vm = s->f->m.vm;
    int r = agent_sync(s->f, why, whysz);
    if (r)
        return r;
    if ((r = vm_pause(vm, PAUSE_TIMEOUT_MS))) {
        vm_resume(vm);
        return errmsg(why, whysz, r, "the vCPUs did not reach a quiescent point");
    }
    evloop_stop(vm->loop);
    evloop_join(vm->loop);
    if ((r = save_paused(s, pagemap_fd, why, whysz)) == 0)
        return 0;
    /* Not saved: the guest goes on where it was. */
    if (evloop_start(vm->loop))
        vm_request_stop(vm, VM_STOP_ERROR, 0,
                        "cannot restart the event thread after a failed "
                        "hibernation");
    vm_resume(vm);
    return r;
}

int hib_vmm_serve(struct hib_vmm *h, struct fork_vm *f, const struct hib_vmm_meta *meta)
{
    struct pollfd p = {.fd = h->listen_fd, .events = POLLIN};
    if (h->listen_fd < 0 || poll(&p, 1, 0) <= 0)
        return 0;
    int c = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return 0;
    char why[400] = "", line[512];
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    static struct save s;
    s = (struct save){.f = f, .meta = meta, .fd = read_request(c)};
    int r = s.fd < 0 ? errmsg(why, sizeof(why), BURROW_ERR_PROTOCOL, "malformed request")
                     : save(&s, h->pagemap_fd, why, sizeof(why));
    if (s.fd >= 0) { /* the requester's end of file: it reads our answer next */
        close(s.fd);
        s.fd = -1;
    }
    if (r) {
        log_warn("vm %s: not hibernated: %s", meta->vm_id, why);
        snprintf(line, sizeof(line), "ERR %s\n", why);
    } else {
        /* Saved: the VM never runs again (parked vCPUs leave without guest code). */
        vm_request_stop(f->m.vm, VM_STOP_HOST, 0, "hibernated");
        vm_wait(f->m.vm, NULL);
        uint64_t ms = (now_ns(CLOCK_MONOTONIC) - t0) / 1000000;
        log_info("vm %s: hibernated: %llu pages, %llu bytes in %llu ms", meta->vm_id,
                 (unsigned long long)s.h.nr_pages, (unsigned long long)s.h.file_len,
                 (unsigned long long)ms);
        snprintf(line, sizeof(line), "SAVED %llu %llu %llu\n", (unsigned long long)s.h.file_len,
                 (unsigned long long)s.h.nr_pages, (unsigned long long)ms);
    }
    if (send(c, line, strlen(line), MSG_NOSIGNAL) < 0)
        log_warn("vm %s: the hibernate requester went away", meta->vm_id);
    /* Keep the home disk (its lock) until the requester committed the image. */
    if (!r && dirsock_read_line(c, line, sizeof(line), DONE_TIMEOUT_MS) != 0)
        log_warn("vm %s: the hibernate requester did not confirm the image", meta->vm_id);
    if (s.fd >= 0)
        close(s.fd);
    snap_writer_free(&s.w);
    free(s.pages);
    close(c);
    return r == 0;
}
