/* vmm/fork.c - fork a VM from a template build (see fork.h). */
#include "vmm/fork.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/hibernate.h"
#include "vmm/jail/jail.h"
#include "vmm/virtio/net/tap.h"
#include "vmm/rootfs.h"
#include "vmm/virtio/balloon.h"
#include "vmm/virtio/blk.h"
#include "vmm/virtio/net/net.h"
#include "vmm/virtio/vsock/vsock.h"

/* ---- control port 1025 ---- */

static struct log_ratelimit cp_rl;

void control_port_init(struct control_port *cp, struct vm *vm, const struct fork_identity *id)
{
    memset(cp, 0, sizeof(*cp));
    cp->vm = vm;
    cp->id = id;
    cp->fd = -1;
    pthread_mutex_init(&cp->lock, NULL);
    pthread_cond_init(&cp->cond, NULL);
}

void control_port_fini(struct control_port *cp)
{
    if (cp->fd >= 0)
        close(cp->fd);
    cp->fd = -1;
    pthread_mutex_destroy(&cp->lock);
    pthread_cond_destroy(&cp->cond);
}

static void cp_close(struct control_port *cp)
{
    if (cp->fd < 0)
        return;
    evloop_del(cp->vm->loop, cp->fd);
    pthread_mutex_lock(&cp->lock); /* control_port_shutdown sends from another thread */
    close(cp->fd);
    cp->fd = -1;
    pthread_mutex_unlock(&cp->lock);
    ctlport_rx_reset(&cp->rx);
}

/* Frames are small and the socketpair is fresh: a short write means a dead peer. */
static void cp_send(struct control_port *cp, struct buf *b)
{
    ssize_t n = send(cp->fd, buf_data(b), buf_used(b), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n != (ssize_t)buf_used(b) && log_ratelimit_ok(&cp_rl, 10, 60))
        log_warn("control port: short write to the agent");
}

/*
 * The agent's answer to SHUTDOWN or HIBERNATE (control_port_ask waits for
 * it); an ERROR frame counts only while a request waits (only_if_asking).
 */
static void cp_answer(struct control_port *cp, int32_t code, struct proto_str text,
                      bool only_if_asking)
{
    pthread_mutex_lock(&cp->lock);
    if (only_if_asking && !cp->asking) {
        pthread_mutex_unlock(&cp->lock);
        return;
    }
    cp->shutdown_code = code;
    snprintf(cp->shutdown_text, sizeof(cp->shutdown_text), "%.*s",
             (int)(text.len < sizeof(cp->shutdown_text) ? text.len : sizeof(cp->shutdown_text) - 1),
             text.p);
    cp->nr_shutdown++;
    pthread_cond_broadcast(&cp->cond);
    pthread_mutex_unlock(&cp->lock);
}

/* After a resume: the clock, fresh entropy and the network; nothing else changes. */
static int cp_put_resume(struct control_port *cp, struct buf *b)
{
    struct proto_resume rs;
    memset(&rs, 0, sizeof(rs));
    randombytes_buf(rs.entropy, sizeof(rs.entropy));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    rs.time_sec = ts.tv_sec;
    rs.time_nsec = (uint32_t)ts.tv_nsec;
    rs.slept_ms = cp->slept_ms;
    if (cp->id->net_enabled) {
        rs.flags |= PROTO_ID_F_NET;
        rs.net = cp->id->net;
        memcpy(rs.net.mac, cp->net_mac, sizeof(rs.net.mac));
    }
    int r = proto_put_resume(b, &rs);
    sodium_memzero(rs.entropy, sizeof(rs.entropy));
    return r;
}

static void cp_reclaimed(struct control_port *cp, const struct proto_reclaim_answer *a)
{
    pthread_mutex_lock(&cp->lock);
    cp->last_reclaim = *a;
    cp->nr_reclaim_answers++;
    pthread_mutex_unlock(&cp->lock);
    if (a->code)
        log_warn("idle reclaim: the agent answered %s (MemFree %llu -> %llu KiB)",
                 burrow_strerror(a->code), (unsigned long long)a->free_before_kib,
                 (unsigned long long)a->free_after_kib);
    else
        log_info("idle reclaim: the agent dropped caches and compacted: MemFree %llu -> %llu KiB",
                 (unsigned long long)a->free_before_kib, (unsigned long long)a->free_after_kib);
}

static void cp_frame(struct control_port *cp, const struct proto_frame *f, struct buf *reply)
{
    int r = 0;
    switch (f->type) {
    case PROTO_HELLO:
        if ((r = ctlport_answer_hello(f, reply)) ||
            (r = cp->resumed ? cp_put_resume(cp, reply)
                             : ctlport_put_identity(reply, cp->id, cp->home_disk, cp->net_mac,
                                                    cp->entropy)))
            break;
        return;
    case PROTO_READY: {
        struct proto_ready rd;
        if ((r = proto_get_ready(f, &rd)))
            break;
        pthread_mutex_lock(&cp->lock);
        cp->nr_ready++;
        cp->ready_ns = clock_now_ns();
        pthread_cond_broadcast(&cp->cond);
        pthread_mutex_unlock(&cp->lock);
        return;
    }
    case PROTO_SHUTDOWN_ANSWER: {
        struct proto_shutdown_answer a;
        if ((r = proto_get_shutdown_answer(f, &a)))
            break;
        cp_answer(cp, a.code, a.text, false);
        return;
    }
    case PROTO_HIBERNATE_ANSWER: {
        struct proto_hibernate_answer a;
        if ((r = proto_get_hibernate_answer(f, &a)))
            break;
        cp_answer(cp, a.code, a.text, false);
        return;
    }
    case PROTO_ERROR: {
        /* An agent that does not know what we asked says so: that is its answer. */
        struct proto_error e;
        if (proto_get_error(f, &e) == 0)
            cp_answer(cp, e.code ? e.code : BURROW_ERR_PROTOCOL, e.text, true);
        return;
    }
    case PROTO_RECLAIM_ANSWER: {
        struct proto_reclaim_answer a;
        if ((r = proto_get_reclaim_answer(f, &a)))
            break;
        cp_reclaimed(cp, &a);
        return;
    }
    case PROTO_HEARTBEAT:
        return;
    default:
        if (proto_put_error_unknown(reply, f->type) == 0)
            return;
        r = BURROW_ERR_PROTOCOL;
    }
    if (log_ratelimit_ok(&cp_rl, 10, 60))
        log_warn("control port: bad %s frame from the agent: %s", proto_type_name(f->type),
                 burrow_strerror(r));
    if (proto_put_error(reply, r, "bad frame") != 0)
        return;
}

static void cp_readable(void *ctx, int fd, uint32_t events)
{
    (void)events;
    struct control_port *cp = ctx;
    size_t room;
    uint8_t *space = ctlport_rx_space(&cp->rx, &room);
    ssize_t n = room ? read(fd, space, room) : 0;
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        cp_close(cp); /* the agent reconnects after a transport reset */
        return;
    }
    ctlport_rx_added(&cp->rx, (size_t)n);
    uint8_t out[4096]; /* HELLO + IDENTITY, or ERROR frames */
    struct buf reply;
    buf_init_writer(&reply, out, sizeof(out));
    struct proto_frame f;
    int r;
    while ((r = ctlport_rx_next(&cp->rx, &f)) == 0)
        cp_frame(cp, &f, &reply);
    if (buf_used(&reply))
        cp_send(cp, &reply);
    if (r != BURROW_ERR_AGAIN) {
        if (log_ratelimit_ok(&cp_rl, 10, 60))
            log_warn("control port: malformed stream from the agent: %s", burrow_strerror(r));
        cp_close(cp);
    }
}

static void cp_accept(void *ctx, int fd, uint32_t guest_port)
{
    (void)guest_port;
    struct control_port *cp = ctx;
    cp_close(cp); /* one agent connection; a new one replaces the old */
    ctlport_rx_reset(&cp->rx);
    if (evloop_add(cp->vm->loop, fd, EPOLLIN, cp_readable, cp)) {
        close(fd);
        return;
    }
    pthread_mutex_lock(&cp->lock);
    cp->fd = fd;
    pthread_mutex_unlock(&cp->lock);
}

int control_port_listen(struct control_port *cp, struct devices *d)
{
    if (!d->vsock)
        return BURROW_ERR_NOT_FOUND;
    return virtio_vsock_register_port(d->vsock, FORK_CONTROL_PORT, cp_accept, cp);
}

int control_port_wait_ready(struct control_port *cp, unsigned seen, unsigned timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    int r = 0;
    pthread_mutex_lock(&cp->lock);
    while (cp->nr_ready <= seen && r == 0) {
        if (cp->vm->stopping) {
            r = BURROW_ERR_CLOSED;
            break;
        }
        /* Short waits: a VM that stops does not signal this condition. */
        struct timespec now, step;
        clock_gettime(CLOCK_REALTIME, &now);
        step = now;
        step.tv_nsec += 50000000L;
        if (step.tv_nsec >= 1000000000L) {
            step.tv_sec++;
            step.tv_nsec -= 1000000000L;
        }
        if (step.tv_sec > dl.tv_sec || (step.tv_sec == dl.tv_sec && step.tv_nsec > dl.tv_nsec))
            step = dl;
        if (pthread_cond_timedwait(&cp->cond, &cp->lock, &step) == ETIMEDOUT &&
            (step.tv_sec == dl.tv_sec && step.tv_nsec == dl.tv_nsec))
            r = cp->nr_ready > seen ? 0 : BURROW_ERR_TIMEOUT;
    }
    pthread_mutex_unlock(&cp->lock);
    return r;
}

/*
 * A frame from a thread other than the event thread, which closes and
 * replaces cp->fd under cp->lock (held by the caller): whole, or CLOSED.
 */
static int cp_send_locked(struct control_port *cp, struct buf *b)
{
    if (cp->fd < 0)
        return BURROW_ERR_CLOSED;
    ssize_t n = send(cp->fd, buf_data(b), buf_used(b), MSG_NOSIGNAL | MSG_DONTWAIT);
    return n == (ssize_t)buf_used(b) ? 0 : BURROW_ERR_CLOSED;
}

static void deadline_after(struct timespec *dl, unsigned ms)
{
    clock_gettime(CLOCK_REALTIME, dl);
    dl->tv_sec += ms / 1000;
    dl->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl->tv_nsec >= 1000000000L) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000L;
    }
}

/* Send one request frame and wait for its answer (SHUTDOWN_ANSWER, HIBERNATE_ANSWER, ERROR). */
static int control_port_ask(struct control_port *cp, const struct buf *b, unsigned timeout_ms,
                            int32_t *code, char *text, size_t textsz)
{
    struct timespec dl;
    deadline_after(&dl, timeout_ms);
    int r = 0;
    pthread_mutex_lock(&cp->lock);
    unsigned seen = cp->nr_shutdown;
    cp->asking = true;
    if (cp->fd < 0 ||
        send(cp->fd, buf_data(b), buf_used(b), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)buf_used(b))
        r = BURROW_ERR_CLOSED;
    while (r == 0 && cp->nr_shutdown == seen)
        if (pthread_cond_timedwait(&cp->cond, &cp->lock, &dl) == ETIMEDOUT)
            r = cp->nr_shutdown != seen ? 0 : BURROW_ERR_TIMEOUT;
    if (r == 0) {
        *code = cp->shutdown_code;
        snprintf(text, textsz, "%s", cp->shutdown_text);
    }
    cp->asking = false;
    pthread_mutex_unlock(&cp->lock);
    return r;
}

int control_port_shutdown(struct control_port *cp, unsigned timeout_ms, int32_t *code, char *text,
                          size_t textsz)
{
    uint8_t mem[64];
    struct buf b;
    struct proto_shutdown sd = {.flags = 0};
    buf_init_writer(&b, mem, sizeof(mem));
    if (proto_put_shutdown(&b, &sd))
        return BURROW_ERR_INVALID;
    return control_port_ask(cp, &b, timeout_ms, code, text, textsz);
}

int control_port_hibernate(struct control_port *cp, unsigned timeout_ms, int32_t *code, char *text,
                           size_t textsz)
{
    uint8_t mem[64];
    struct buf b;
    struct proto_hibernate h = {.flags = 0};
    buf_init_writer(&b, mem, sizeof(mem));
    if (proto_put_hibernate(&b, &h))
        return BURROW_ERR_INVALID;
    return control_port_ask(cp, &b, timeout_ms, code, text, textsz);
}

int control_port_reclaim(struct control_port *cp, uint32_t flags)
{
    uint8_t mem[32];
    struct buf b;
    struct proto_reclaim rc = {.flags = flags};
    buf_init_writer(&b, mem, sizeof(mem));
    if (proto_put_reclaim(&b, &rc))
        return BURROW_ERR_INVALID;
    pthread_mutex_lock(&cp->lock);
    int r = cp_send_locked(cp, &b);
    if (!r)
        cp->nr_reclaim++;
    pthread_mutex_unlock(&cp->lock);
    return r;
}

/* ---- template files ---- */

int fork_read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return BURROW_ERR_INVALID;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return BURROW_ERR_TOO_LARGE;
    }
    uint8_t *p = malloc(st.st_size ? (size_t)st.st_size : 1);
    size_t got = 0;
    while (p && got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!p)
        return BURROW_ERR_NOMEM;
    if (got != (size_t)st.st_size) {
        free(p);
        return BURROW_ERR_TRUNCATED;
    }
    *out = p;
    *len = got;
    return 0;
}

int fork_open_build(const char *build_dir, int *mem_fd, uint8_t **state, size_t *state_len,
                    struct snapshot *snap, struct snap_vm_info *info, char *why, size_t whysz)
{
    char path[4096];
    *mem_fd = -1;
    *state = NULL;
    snprintf(path, sizeof(path), "%s/state", build_dir);
    int r = fork_read_file(path, SNAP_FILE_MAX, state, state_len);
    if (r == BURROW_ERR_TOO_LARGE)
        return errmsg_sys(why, whysz, r, "%s: %s", path, snap_strerror(r));
    if (r)
        return errmsg_sys(why, whysz, r, "%s: %s", path,
                          r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
    if ((r = snap_parse(*state, *state_len, snap)))
        return errmsg_sys(why, whysz, r, "%s: %s", path, snap_strerror(r));
    if ((r = snap_vm_info(snap, info)))
        return errmsg_sys(why, whysz, r, "%s: VM section: %s", path, snap_strerror(r));
    snprintf(path, sizeof(path), "%s/memory", build_dir);
    *mem_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (*mem_fd < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "%s", path);
    struct stat st;
    if (fstat(*mem_fd, &st) < 0 || !S_ISREG(st.st_mode))
        return errmsg_sys(why, whysz, BURROW_ERR_INVALID, "%s: not a regular file", path);
    if ((uint64_t)st.st_size != info->mem_size)
        return errmsg_sys(
            why, whysz, BURROW_ERR_FORMAT,
            "%s is %llu bytes but the state file says %llu: files of different builds", path,
            (unsigned long long)st.st_size, (unsigned long long)info->mem_size);
    return 0;
}

/* ---- the fork ---- */

static int fork_build_machine(struct fork_vm *f, const struct fork_config *cfg,
                              const struct snap_vm_info *info, char *why, size_t whysz)
{
    struct machine *m = &f->m;
    struct vm_config vc = {.mem_size = info->mem_size,
                           .nr_vcpus = info->nr_vcpus,
                           .mem_fd = f->mem_fd,
                           .mem_private = 1};
    int r = vm_create(&vc, &m->vm);
    if (r)
        return errmsg_sys(why, whysz, r, "cannot create the VM: %s",
                          m->vm && m->vm->exit.detail[0] ? m->vm->exit.detail : burrow_strerror(r));
    /* Pages forks dirtied back to identical content merge again ([vm] ksm). */
    if (cfg->ksm)
        madvise(m->vm->ram, m->vm->ram_size, MADV_MERGEABLE);
    if ((r = uart_init(&m->uart, m->vm, VM_COM1_PORT, VM_COM1_IRQ, -1, cfg->console_fd)) ||
        (r = legacy_init(&m->legacy, m->vm)))
        return errmsg_sys(why, whysz, r, "legacy devices: %s", burrow_strerror(r));
    uart_limit_output(&m->uart, FORK_CONSOLE_MAX);
    /* A --rootfs build's disk: the same read-only image in every fork (checked at activation). */
    char root[4096];
    struct stat st;
    snprintf(root, sizeof(root), "%s/%s", cfg->build_dir, ROOTFS_IMAGE_FILE);
    bool has_root = lstat(root, &st) == 0 && S_ISREG(st.st_mode);
    struct devices_config dc = {.vsock_uds = cfg->vsock_uds,
                                .disk_empty_slot = true,
                                .root_disk = has_root ? root : NULL,
                                .net_tap_fd = -1};
    /*
     * The device table must match the template's; a net slot gets its backend
     * after restore. A template built before the balloon existed has none:
     * its forks run without free page reporting (rebuild it to get one).
     */
    for (uint32_t i = 0; i < info->nr_slots; i++) {
        dc.net |= info->slot_dev[i] == VIRTIO_ID_NET;
        dc.balloon |= info->slot_dev[i] == VIRTIO_ID_BALLOON;
    }
    if (!dc.balloon)
        log_info("template %s has no virtio-balloon (built before it existed): no free page "
                 "reporting in this VM; build the template again to get it",
                 cfg->build_dir);
    return devices_create(&m->devices, m->vm, &dc, why, whysz);
}

int fork_vm_attach_net(struct fork_vm *f, const struct fork_net *net,
                       const struct fork_identity *id, char *why, size_t whysz)
{
    int tap = net ? net->tap_fd : -1;
    if (!f->m.devices.net) {
        if (tap >= 0)
            close(tap);
        return tap >= 0 ? errmsg_sys(why, whysz, BURROW_ERR_UNSUPPORTED,
                                     "the template has no network device (build it again)")
                        : 0;
    }
    static const uint8_t zero[6];
    uint8_t mac[6];
    if (net && memcmp(net->mac, zero, 6)) {
        memcpy(mac, net->mac, 6);
    } else {
        char seed[2 * FORK_NAME_MAX + 16];
        int n = snprintf(seed, sizeof(seed), "%s/%u/%s", id->user, id->uid, id->hostname);
        virtio_net_mac_from_seed(seed, n > 0 ? (size_t)n : 0, mac);
    }
    if (net)
        virtio_net_set_limit(f->m.devices.net, net->rate, 0);
    memcpy(f->cp.net_mac, mac, sizeof(mac)); /* what IDENTITY tells the agent */
    int r = virtio_net_attach(f->m.devices.net, tap, mac);
    if (r)
        return errmsg_sys(why, whysz, r, "network: %s", burrow_strerror(r));
    char text[18];
    net_mac_format(mac, text, sizeof(text));
    log_info("net: MAC %s, %s, limit %llu bytes/s", text, tap >= 0 ? "TAP attached" : "no backend",
             net ? (unsigned long long)net->rate : 0ull);
    return 0;
}

/* Files, machine, control port and restore: everything before the fork's own devices. */
static int fork_restore(struct fork_vm *f, const struct fork_config *cfg, char *why, size_t whysz)
{
    struct snap_vm_info info;
    int r = fork_open_build(cfg->build_dir, &f->mem_fd, &f->state, &f->state_len, &f->snap, &info,
                            why, whysz);
    if (r)
        return r;
    f->t.files_ns = clock_now_ns();
    if ((r = fork_build_machine(f, cfg, &info, why, whysz)))
        return r;
    f->t.machine_ns = clock_now_ns();
    control_port_init(&f->cp, f->m.vm, &cfg->id);
    if ((r = control_port_listen(&f->cp, &f->m.devices)))
        return errmsg_sys(why, whysz, r, "control port: %s", burrow_strerror(r));
    /* A resume lays the saved pages over the mapping and restores the saved state instead. */
    r = cfg->resume ? hib_resume_apply(cfg->resume, f, why, whysz)
                    : snap_restore_machine(&f->m, &f->snap, why, whysz);
    if (r)
        return r;
    f->t.state_ns = clock_now_ns();
    return 0;
}

int fork_vm_create(struct fork_vm *f, const struct fork_config *cfg, char *why, size_t whysz)
{
    memset(f, 0, sizeof(*f));
    f->mem_fd = -1;
    f->t.start_ns = clock_now_ns();
    int r = fork_restore(f, cfg, why, whysz);
    if (r) {
        if (cfg->net && cfg->net->tap_fd >= 0)
            close(cfg->net->tap_fd); /* owned from the call on */
        return r;
    }
    if ((r = fork_vm_attach_net(f, cfg->net, &cfg->id, why, whysz))) /* consumes the tap */
        return r;
    if (cfg->home_disk && (r = fork_vm_attach_home(f, cfg->home_disk, why, whysz)))
        return r;
    f->t.restored_ns = clock_now_ns();
    return 0;
}

int fork_vm_attach_home(struct fork_vm *f, const char *path, char *why, size_t whysz)
{
    int fd;
    int r = blk_image_open_locked(path, false, &fd);
    if (r == BURROW_ERR_BUSY)
        return errmsg_sys(why, whysz, r, "home disk %s is in use by another VM", path);
    if (r)
        return errmsg_sys(why, whysz, r, "home disk %s: %s", path, burrow_strerror(r));
    return fork_vm_attach_home_fd(f, fd, path, why, whysz);
}

int fork_vm_attach_home_fd(struct fork_vm *f, int fd, const char *name, char *why, size_t whysz)
{
    if (!f->m.devices.blk) {
        close(fd);
        return errmsg_sys(why, whysz, BURROW_ERR_UNSUPPORTED, "the template has no disk slot");
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "home disk %s: stat", name);
    }
    int r = virtio_blk_attach_fd(f->m.devices.blk, fd, false);
    if (r)
        return errmsg_sys(why, whysz, r, "home disk %s: %s", name, burrow_strerror(r));
    f->cp.home_disk = true;
    f->home_bytes = (uint64_t)st.st_size;
    return 0;
}

uint64_t fork_vm_file_size_limit(const struct fork_vm *f)
{
    /* A hibernation image goes through a pipe to its requester: no file of ours grows past this. */
    return f->home_bytes ? f->home_bytes : JAIL_FSIZE_NO_DISK;
}

int fork_vm_reset_time(struct fork_vm *f)
{
    struct buf in;
    uint64_t clock, tsc;
    int r;
    if ((r = snap_find(&f->snap, SNAP_SEC_CLOCK, &in)) || (r = buf_get_u64_le(&in, &clock)) ||
        (r = snap_find(&f->snap, SNAP_SEC_VCPU0, &in)) || (r = snap_vcpu_tsc(in, &tsc)))
        return r;
    if ((r = snap_set_clock(&f->m, clock)))
        return r;
    for (unsigned i = 0; i < f->m.vm->nr_vcpus; i++)
        if ((r = snap_set_tsc(&f->m.vm->vcpus[i], tsc)))
            return r;
    return 0;
}

int fork_vm_start(struct fork_vm *f)
{
    /* The fork signal: the agent's sockets reset, it reconnects to 1025. */
    virtio_vsock_transport_reset(f->m.devices.vsock);
    return vm_start(f->m.vm);
}

void fork_vm_destroy(struct fork_vm *f)
{
    machine_destroy(&f->m);
    if (f->cp.vm) /* initialised */
        control_port_fini(&f->cp);
    if (f->mem_fd >= 0)
        close(f->mem_fd);
    f->mem_fd = -1;
    free(f->state);
    f->state = NULL;
}
