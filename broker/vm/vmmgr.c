/* broker/vm/vmmgr.c - the user -> VM table in the master (see vmmgr.h). */
#include "broker/vm/vmmgr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/buildinfo.h"
#include "broker/cluster/cluster.h"
#include "common/atomicfile.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/hibernate.h"
#include "vmm/registry.h"

/* Copy a string that must fit (names and paths validated elsewhere). */
static int cpy(char *dst, size_t sz, const char *src)
{
    size_t n = strlen(src);
    if (n >= sz)
        return BURROW_ERR_TOO_LARGE;
    memcpy(dst, src, n + 1);
    return 0;
}

long vmmgr_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static int pidfd_open_(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* --- backend choice ---------------------------------------------------- */

int vmmgr_hw_virt_available(char *why, size_t whysz)
{
    char line[4096];
    int flags = 0;
    FILE *f = fopen("/proc/cpuinfo", "re");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "flags", 5) == 0 && (strstr(line, " vmx") || strstr(line, " svm"))) {
            flags = 1;
            break;
        }
    if (f)
        fclose(f);
    if (!flags)
        return errmsg(why, whysz, 0, "no VMX/SVM in /proc/cpuinfo (emulated or no KVM)");
    if (access("/dev/kvm", R_OK | W_OK) != 0)
        return errmsg(why, whysz, 0, "/dev/kvm is not usable");
    return errmsg(why, whysz, 1, "hardware virtualization present");
}

const struct vm_backend_ops *vmmgr_pick_backend(const struct burrow_config *cfg, char *why,
                                                size_t whysz)
{
    char hwwhy[96];
    int hw = vmmgr_hw_virt_available(hwwhy, sizeof(hwwhy));
    switch (cfg->vm.backend) {
    case VM_BACKEND_SANDBOX:
        snprintf(why, whysz, "configured");
        return &backend_sandbox;
    case VM_BACKEND_KVM:
        /* Configured explicitly: emulated KVM (no VMX/SVM flag) is fine, no /dev/kvm is not. */
        if (access("/dev/kvm", R_OK | W_OK) != 0) {
            snprintf(why, whysz, "kvm is configured but /dev/kvm is not usable: %s",
                     strerror(errno));
            return NULL;
        }
        snprintf(why, whysz, "configured; %s", hwwhy);
        return &backend_kvm;
    case VM_BACKEND_AUTO:
    default:
        snprintf(why, whysz, "auto: %s", hwwhy);
        return hw ? &backend_kvm : &backend_sandbox;
    }
}

int vmmgr_guest_image(const struct burrow_config *cfg, char *out, size_t outsz)
{
    char installed[VMMGR_PATH_MAX];
    if ((size_t)snprintf(out, outsz, "%s/sandbox/initramfs.cpio.gz", cfg->paths.state_dir) >= outsz)
        return BURROW_ERR_TOO_LARGE;
    if (access(out, R_OK) == 0)
        return 0;
    snprintf(installed, sizeof(installed), "%s/initramfs.cpio.gz", burrow_guest_dir);
    if (access(installed, R_OK) != 0 || strlen(installed) >= outsz)
        return BURROW_ERR_NOT_FOUND;
    memcpy(out, installed, strlen(installed) + 1);
    return 0;
}

static int choose_backend(struct vmmgr *m)
{
    char why[192];
    m->be = vmmgr_pick_backend(m->cfg, why, sizeof(why));
    if (!m->be) {
        log_error("vm backend: %s", why);
        return BURROW_ERR_UNSUPPORTED;
    }
    if (m->be == &backend_kvm)
        log_info("vm backend: kvm (%s), template %s", why, m->cfg->vm.template_name);
    else
        log_info("vm backend: sandbox (%s)", why);
    if (m->be == &backend_kvm)
        kvm_backend_check(m->cfg);
    if (m->cfg->vm.idle_hibernate && !m->be->hibernate)
        log_warn("[vm] idle_hibernate is ignored: hibernation is kvm-only (backend %s)",
                 m->be->name);
    else if (m->cfg->vm.idle_hibernate && cluster_enabled(m->cfg))
        log_warn("[vm] idle_hibernate is ignored in a cluster: an image stays on one host, and "
                 "her next VM may start on another with her disk changed since");
    else if (m->cfg->vm.idle_hibernate && m->cfg->vm.idle_timeout &&
             m->cfg->vm.idle_timeout <= m->cfg->vm.idle_hibernate)
        log_warn("[vm] idle_timeout (%us) <= idle_hibernate (%us): idle VMs are stopped before "
                 "they would be hibernated",
                 m->cfg->vm.idle_timeout, m->cfg->vm.idle_hibernate);
    return 0;
}

int vmmgr_user_dir(const struct burrow_config *cfg, const char *user, char *out, size_t sz)
{
    return (size_t)snprintf(out, sz, "%s/users/%s", cfg->paths.state_dir, user) >= sz
               ? BURROW_ERR_TOO_LARGE
               : 0;
}

static void event(struct vmmgr *m, enum vmmgr_event ev, const struct uservm *vm, const char *user)
{
    if (m->hooks.vm_event)
        m->hooks.vm_event(m->hooks.ctx, ev, vm, user ? user : vm->user);
}

/* --- registry ------------------------------------------------------------ */

int vmmgr_write_meta(const struct uservm *vm)
{
    char path[VMMGR_PATH_MAX + 16], text[2 * VMMGR_PATH_MAX + 256];
    if ((size_t)snprintf(path, sizeof(path), "%s/burrowd", vm->dir) >= sizeof(path))
        return BURROW_ERR_TOO_LARGE;
    int n =
        snprintf(text, sizeof(text), "backend = %s\nuser = %s\nuid = %u\nslot = %u\nsock = %s\n",
                 vm->be->name, vm->user, vm->uid, vm->slot, vm->sock);
    if (n < 0 || (size_t)n >= sizeof(text))
        return BURROW_ERR_TOO_LARGE;
    return fs_write_atomic(path, text, (size_t)n, 0644);
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void remove_dir(const char *dir)
{
    if (dir[0])
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static struct uservm *alloc_vm(struct vmmgr *m)
{
    for (unsigned i = 0; i < VMMGR_MAX; i++)
        if (m->vms[i].state == VM_FREE) {
            memset(&m->vms[i], 0, sizeof(m->vms[i]));
            m->vms[i].slot = i;
            m->vms[i].pidfd = m->vms[i].ready_fd = m->vms[i].hib_fd = -1;
            return &m->vms[i];
        }
    return NULL;
}

/* The backend a record names: this host's, or in a cluster a forwarder (docs/cluster.md). */
static const struct vm_backend_ops *backend_named(const struct vmmgr *m, const char *name)
{
    if (strcmp(name, m->be->name) == 0)
        return m->be;
    if (cluster_enabled(m->cfg) && strcmp(name, backend_remote.name) == 0)
        return &backend_remote;
    return NULL;
}

/*
 * Take over one live registry record (vmm/registry.h checked its pid and start
 * time) if burrowd started it: its `burrowd` file names the user, uid, slot
 * and socket. Records without it are standalone VMMs (`burrowctl vm boot`).
 */
static void adopt_one(struct vmmgr *m, const struct vm_record *rec)
{
    char path[VMMGR_PATH_MAX + 16], line[VMMGR_PATH_MAX + 16], user[USERDB_NAME_MAX + 1] = "";
    char sock[VMMGR_PATH_MAX] = "", backend[32] = "";
    unsigned uid = 0, slot = VMMGR_MAX;
    if ((size_t)snprintf(path, sizeof(path), "%s/burrowd", rec->dir) >= sizeof(path))
        return;
    FILE *f = fopen(path, "re");
    if (!f)
        return; /* a pooled VM, or a standalone VMM: nobody's session's */
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "user = ", 7) == 0 && strlen(line + 7) <= USERDB_NAME_MAX)
            strcpy(user, line + 7);
        else if (strncmp(line, "sock = ", 7) == 0 && strlen(line + 7) < sizeof(sock))
            strcpy(sock, line + 7);
        else if (strncmp(line, "backend = ", 10) == 0 && strlen(line + 10) < sizeof(backend))
            strcpy(backend, line + 10);
        else if (sscanf(line, "uid = %u", &uid) == 1 || sscanf(line, "slot = %u", &slot) == 1)
            continue;
    }
    fclose(f);
    const struct vm_backend_ops *be = backend_named(m, backend);
    if (!be || !user[0] || !sock[0] || slot >= VMMGR_MAX || m->vms[slot].state != VM_FREE ||
        vmmgr_find(m, user) || strcmp(user, rec->user) != 0) {
        log_warn("vm %s: not re-adopted (backend %s, user %s)", rec->id, backend, user);
        return;
    }
    struct uservm *vm = &m->vms[slot];
    memset(vm, 0, sizeof(*vm));
    vm->slot = slot;
    vm->ready_fd = vm->hib_fd = -1;
    vm->pidfd = pidfd_open_(rec->pid);
    if (vm->pidfd < 0 || cpy(vm->id, sizeof(vm->id), rec->id) ||
        cpy(vm->user, sizeof(vm->user), user) || cpy(vm->dir, sizeof(vm->dir), rec->dir) ||
        cpy(vm->sock, sizeof(vm->sock), sock)) {
        if (vm->pidfd >= 0)
            close(vm->pidfd);
        vm->pidfd = -1;
        return;
    }
    vm->state = VM_RUNNING;
    vm->pid = rec->pid;
    vm->uid = uid;
    vm->be = be;
    vm->started = vm->idle_since = vmmgr_now();
    vm->fork_us = -1;
    snprintf(vm->rec.name, sizeof(vm->rec.name), "%s", user);
    log_info("vm %s: re-adopted (user %s, pid %d)", vm->id, user, (int)rec->pid);
    event(m, VMEV_ADOPTED, vm, NULL);
}

static void adopt_all(struct vmmgr *m)
{
    struct vm_record *recs = NULL;
    size_t n = 0;
    mkdir(m->cfg->paths.run_dir, 0755);
    if (registry_list(m->cfg->paths.run_dir, &recs, &n) != 0) {
        log_warn("cannot read the VM registry in %s/vm", m->cfg->paths.run_dir);
        return;
    }
    for (size_t i = 0; i < n; i++)
        adopt_one(m, &recs[i]);
    free(recs);
}

int vmmgr_init(struct vmmgr *m, const struct burrow_config *cfg, const struct vmmgr_hooks *hooks)
{
    memset(m, 0, sizeof(*m));
    m->cfg = cfg;
    m->hooks = *hooks;
    for (unsigned i = 0; i < VMMGR_MAX; i++)
        m->vms[i].pidfd = m->vms[i].ready_fd = m->vms[i].hib_fd = -1;
    int r = choose_backend(m);
    if (r != 0)
        return r;
    adopt_all(m);
    return 0;
}

/* --- lifecycle ---------------------------------------------------------- */

struct uservm *vmmgr_find(struct vmmgr *m, const char *user)
{
    for (unsigned i = 0; i < VMMGR_MAX; i++)
        if (m->vms[i].state != VM_FREE && strcmp(m->vms[i].user, user) == 0)
            return &m->vms[i];
    return NULL;
}

unsigned vmmgr_count(const struct vmmgr *m)
{
    unsigned n = 0;
    for (unsigned i = 0; i < VMMGR_MAX; i++)
        n += m->vms[i].state != VM_FREE;
    return n;
}

static void answer_all(struct vmmgr *m, struct uservm *vm, const char *fail_text)
{
    for (unsigned i = 0; i < vm->n_waiters; i++) {
        if (fail_text) {
            m->hooks.vm_failed(m->hooks.ctx, vm->waiters[i], fail_text);
        } else {
            vm->sessions++;
            m->hooks.vm_ready(m->hooks.ctx, vm->waiters[i], vm);
        }
    }
    vm->n_waiters = 0;
}

/* A starter child the master forked: reaped once it ended (it never takes long). */
static void reap_helper(struct uservm *vm)
{
    if (vm->helper > 0 && waitpid(vm->helper, NULL, WNOHANG) == vm->helper)
        vm->helper = 0;
}

static void release(struct uservm *vm)
{
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    if (vm->ready_fd >= 0)
        close(vm->ready_fd);
    if (vm->hib_fd >= 0)
        close(vm->hib_fd);
    reap_helper(vm);
    remove_dir(vm->dir);
    vm->state = VM_FREE;
    vm->pidfd = vm->ready_fd = vm->hib_fd = -1;
}

/* A registry entry (vmm/registry.h) for backends that do not make their own. */
static int make_registry_entry(struct vmmgr *m, struct uservm *vm)
{
    struct vm_record reg;
    memset(&reg, 0, sizeof(reg));
    int r = registry_create(m->cfg->paths.run_dir, &reg);
    if (r != 0)
        return r;
    if (strlen(reg.dir) + sizeof("/agent/control.sock") > 108 ||
        cpy(vm->dir, sizeof(vm->dir), reg.dir)) {
        registry_remove(reg.dir);
        return BURROW_ERR_TOO_LARGE; /* unix socket paths must fit sun_path */
    }
    chmod(reg.dir, 0711); /* the session uid reaches vsock.sock, nothing else */
    memcpy(vm->id, reg.id, sizeof(reg.id));
    snprintf(vm->sock, sizeof(vm->sock), "%s/vsock.sock", reg.dir);
    return 0;
}

/* The VM's process is known: watch it. */
static void watch_pid(struct uservm *vm, pid_t pid)
{
    if (vm->pid == pid && vm->pidfd >= 0)
        return;
    if (vm->pidfd >= 0)
        close(vm->pidfd);
    vm->pid = pid;
    vm->pidfd = pidfd_open_(pid);
}

static int start_vm(struct vmmgr *m, struct uservm *vm, const struct user_record *rec,
                    const struct vm_backend_ops *be)
{
    int r;
    if (!be->own_registry && (r = make_registry_entry(m, vm)) != 0)
        return r;
    snprintf(vm->reg_template, sizeof(vm->reg_template), "%.63s", m->cfg->vm.template_name);
    vm->request_ns = clock_now_ns();
    vm->rec = *rec;
    vm->uid = rec->uid;
    vm->be = be;
    memcpy(vm->user, rec->name, sizeof(vm->user));
    vm->state = VM_STARTING;
    vm->started = vmmgr_now();
    vm->start_ms = clock_now_ms();
    vm->fork_us = -1;
    vm->stop_reason = VM_STOP_NONE;
    vm->resumed = vm->hib_failed = 0;
    r = be->start(m, vm, rec);
    if (r != 0) {
        remove_dir(vm->dir);
        vm->state = VM_FREE;
        return r;
    }
    fcntl(vm->ready_fd, F_SETFL, O_NONBLOCK);
    if (vm->pid > 0)
        watch_pid(vm, vm->pid);
    log_info("vm %s: starting for %s (backend %s, pid %d)", vm->id[0] ? vm->id : "-", vm->user,
             vm->be->name, (int)(vm->pid > 0 ? vm->pid : vm->helper));
    event(m, VMEV_STARTING, vm, NULL);
    return 0;
}

/*
 * Her hibernated image reserves her home disk: a backend that cannot resume
 * it (the sandbox) must not use the disk either (burrowctl vm discard frees it).
 */
static int hibernated_elsewhere(const struct vmmgr *m, const char *user)
{
    char dir[VMMGR_PATH_MAX];
    if (m->be->hibernate || vmmgr_user_dir(m->cfg, user, dir, sizeof(dir)) || !hib_present(dir))
        return 0;
    log_error("%s: refused a VM: the VM of %s is hibernated and backend %s cannot resume it "
              "(`burrowctl vm discard %s` drops it)",
              user, user, m->be->name, user);
    return 1;
}

void vmmgr_request(struct vmmgr *m, const struct user_record *rec, int waiter)
{
    vmmgr_request_on(m, rec, waiter, NULL);
}

void vmmgr_request_on(struct vmmgr *m, const struct user_record *rec, int waiter,
                      const struct vm_backend_ops *be)
{
    struct uservm *vm = vmmgr_find(m, rec->name);
    if (vm && vm->state == VM_RUNNING) {
        vm->sessions++;
        m->hooks.vm_ready(m->hooks.ctx, waiter, vm);
        return;
    }
    if (!vm) {
        if (m->cfg->vm.max_vms && vmmgr_count(m) >= m->cfg->vm.max_vms) {
            log_warn("%s: refused a VM: max_vms (%u) reached", rec->name, m->cfg->vm.max_vms);
            event(m, VMEV_REFUSED, NULL, rec->name);
            m->hooks.vm_failed(m->hooks.ctx, waiter,
                               "the server is at its limit of running environments "
                               "(max_vms); please try again later");
            return;
        }
        if (hibernated_elsewhere(m, rec->name)) {
            m->hooks.vm_failed(m->hooks.ctx, waiter,
                               "your environment is hibernated (kvm backend) and this server now "
                               "runs another backend; ask the administrator");
            return;
        }
        vm = alloc_vm(m);
        if (!vm || start_vm(m, vm, rec, be ? be : m->be) != 0) {
            m->hooks.vm_failed(m->hooks.ctx, waiter, "your environment could not be started");
            return;
        }
    }
    if (vm->state == VM_STOPPING) {
        vm->restart_after_stop = 1;
        vm->rec = *rec;
    }
    if (vm->n_waiters >= VMMGR_WAITERS) {
        m->hooks.vm_failed(m->hooks.ctx, waiter, "too many sessions are starting; try again");
        return;
    }
    vm->waiters[vm->n_waiters++] = waiter;
}

void vmmgr_forget_waiter(struct vmmgr *m, int waiter)
{
    for (unsigned i = 0; i < VMMGR_MAX; i++) {
        struct uservm *vm = &m->vms[i];
        for (unsigned j = 0; j < vm->n_waiters; j++)
            if (vm->waiters[j] == waiter)
                vm->waiters[j] = vm->waiters[--vm->n_waiters];
    }
}

void vmmgr_session_end(struct vmmgr *m, const char *user)
{
    struct uservm *vm = vmmgr_find(m, user);
    if (!vm || vm->sessions == 0)
        return;
    if (--vm->sessions == 0)
        vm->idle_since = vmmgr_now();
}

static void stop_vm(struct vmmgr *m, struct uservm *vm, enum vm_stop_reason reason, const char *why)
{
    if (vm->state == VM_STOPPING)
        return;
    log_info("vm %s: stopping (%s)", vm->id, why);
    vm->state = VM_STOPPING;
    vm->stop_reason = reason;
    event(m, VMEV_STOPPING, vm, NULL);
    vm->be->stop(vm);
}

static struct uservm *find_by_user_or_id(struct vmmgr *m, const char *user_or_id)
{
    struct uservm *vm = vmmgr_find(m, user_or_id);
    for (unsigned i = 0; i < VMMGR_MAX && !vm; i++)
        if (m->vms[i].state != VM_FREE && strcmp(m->vms[i].id, user_or_id) == 0)
            vm = &m->vms[i];
    return vm;
}

int vmmgr_kill(struct vmmgr *m, const char *user_or_id)
{
    struct uservm *vm = find_by_user_or_id(m, user_or_id);
    if (!vm)
        return BURROW_ERR_NOT_FOUND;
    m->hooks.vm_gone(m->hooks.ctx, vm->user, "your environment was stopped by an administrator");
    stop_vm(m, vm, VM_STOP_ADMIN, "killed by an administrator");
    return 0;
}

/*
 * Can vm be hibernated? Its backend must know how (a forwarder does not),
 * and not in a cluster: her image would stay on this host while her next
 * VM may start elsewhere, and resuming it later would run on a disk that
 * changed under it.
 */
static int can_hibernate(const struct vmmgr *m, const struct uservm *vm)
{
    return vm->be->hibernate && !cluster_enabled(m->cfg);
}

/* Start saving vm to disk (the backend's helper reports on vm->hib_fd). */
static int hibernate_vm(struct vmmgr *m, struct uservm *vm, int admin)
{
    int r = vm->be->hibernate(m, vm);
    if (r) {
        log_warn("vm %s: cannot start its hibernation: %s", vm->id, burrow_strerror(r));
        vm->hib_failed = 1;
        return r;
    }
    log_info("vm %s: hibernating (%s)", vm->id, admin ? "asked by an administrator" : "idle");
    fcntl(vm->hib_fd, F_SETFL, O_NONBLOCK);
    vm->state = VM_STOPPING;
    vm->stop_reason = VM_STOP_HIBERNATE;
    vm->hib_admin = admin;
    vm->hib_bytes = vm->hib_pages = 0;
    vm->hib_why[0] = '\0';
    event(m, VMEV_STOPPING, vm, NULL);
    return 0;
}

int vmmgr_hibernate(struct vmmgr *m, const char *user_or_id)
{
    struct uservm *vm = find_by_user_or_id(m, user_or_id);
    if (!vm)
        return BURROW_ERR_NOT_FOUND;
    if (!can_hibernate(m, vm))
        return BURROW_ERR_UNSUPPORTED;
    if (vm->state != VM_RUNNING)
        return BURROW_ERR_BUSY;
    int r = hibernate_vm(m, vm, 1);
    if (r == 0 && vm->sessions)
        m->hooks.vm_gone(m->hooks.ctx, vm->user,
                         "your environment was hibernated by an administrator; log in again to "
                         "resume it");
    return r;
}

unsigned vmmgr_pollfds(struct vmmgr *m, int *fds, unsigned max)
{
    unsigned n = m->be->pollfds ? m->be->pollfds(m, fds, max) : 0;
    for (unsigned i = 0; i < VMMGR_MAX && n < max; i++) {
        struct uservm *vm = &m->vms[i];
        if (vm->state == VM_FREE)
            continue;
        if (vm->ready_fd >= 0 && n < max)
            fds[n++] = vm->ready_fd;
        if (vm->hib_fd >= 0 && n < max)
            fds[n++] = vm->hib_fd;
        if (vm->pidfd >= 0 && n < max)
            fds[n++] = vm->pidfd;
    }
    return n;
}

static void vm_running(struct vmmgr *m, struct uservm *vm)
{
    vm->state = VM_RUNNING;
    vm->idle_since = vmmgr_now();
    vm->ready_ms = clock_now_ms() - vm->start_ms;
    if (vmmgr_write_meta(vm) != 0)
        log_warn("vm %s: cannot write its registry entry", vm->id);
    log_info("vm %s: running for %s after %.0f ms", vm->id, vm->user,
             (clock_now_ns() - vm->request_ns) / 1e6);
    event(m, VMEV_READY, vm, NULL);
    answer_all(m, vm, NULL);
}

/*
 * It did not start. A process we watch ends on its own (its exit releases
 * the VM, planned); without one there is nothing left to wait for.
 */
static void vm_start_failed(struct vmmgr *m, struct uservm *vm, const char *why)
{
    log_error("vm %s: failed to start for %s: %s", vm->id[0] ? vm->id : "-", vm->user, why);
    event(m, VMEV_START_FAILED, vm, NULL);
    answer_all(m, vm, "your environment failed to start; please try again later");
    if (vm->pidfd < 0) {
        release(vm);
        return;
    }
    vm->state = VM_STOPPING;
    vm->stop_reason = VM_STOP_FAILED_START;
    kill(vm->pid, SIGTERM);
}

/* One report line while STARTING: 1 once the start is decided. */
static int ready_line(struct vmmgr *m, struct uservm *vm, const char *line)
{
    int pid;
    char tail;
    if (sscanf(line, "PID %d%c", &pid, &tail) == 1 && pid > 1) {
        watch_pid(vm, pid);
        return 0;
    }
    if (strncmp(line, "REFUSED ", 8) == 0) { /* her hibernated image; a fresh fork follows */
        snprintf(vm->hib_why, sizeof(vm->hib_why), "%.255s", line + 8);
        log_error("vm for %s: %s; she gets a fresh VM", vm->user, vm->hib_why);
        event(m, VMEV_RESUME_REFUSED, vm, NULL);
        return 0;
    }
    if (strncmp(line, "OK", 2) == 0 && (line[2] == '\0' || line[2] == ' ')) {
        if (vm->be->started && vm->be->started(m, vm, line) != 0)
            vm_start_failed(m, vm, "a report that does not parse");
        else
            vm_running(m, vm);
        return 1;
    }
    vm_start_failed(m, vm, strncmp(line, "ERR ", 4) == 0 ? line + 4 : line);
    return 1;
}

static void on_ready_fd(struct vmmgr *m, struct uservm *vm)
{
    char buf[256];
    ssize_t n = read(vm->ready_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n') {
            if (vm->rlen + 1 < sizeof(vm->rline))
                vm->rline[vm->rlen++] = buf[i];
            continue;
        }
        vm->rline[vm->rlen] = '\0';
        vm->rlen = 0;
        if (ready_line(m, vm, vm->rline)) {
            close(vm->ready_fd);
            vm->ready_fd = -1;
            reap_helper(vm);
            return;
        }
    }
    if (n > 0)
        return;
    close(vm->ready_fd);
    vm->ready_fd = -1;
    reap_helper(vm);
    vm_start_failed(m, vm, "its starter ended without a report");
}

/* A hibernating VM's process ended: saved if her image is in place (its size for the record). */
static int hibernated(struct vmmgr *m, struct uservm *vm)
{
    char dir[VMMGR_PATH_MAX];
    struct hib_info info;
    if (vmmgr_user_dir(m->cfg, vm->user, dir, sizeof(dir)) || hib_info_read(dir, &info) != 0)
        return 0;
    vm->hib_bytes = info.h.file_len;
    vm->hib_pages = info.h.nr_pages;
    log_info("vm %s: hibernated (user %s, %llu pages, %llu bytes)", vm->id, vm->user,
             (unsigned long long)vm->hib_pages, (unsigned long long)vm->hib_bytes);
    return 1;
}

/*
 * The hibernation helper's report. OK: the VMM ends by itself (on_exit_fd).
 * ERR (or no report) while the VM still runs: it goes on running, and
 * sessions that arrived meanwhile get it.
 */
static void on_hib_fd(struct vmmgr *m, struct uservm *vm)
{
    char buf[320];
    ssize_t n = read(vm->hib_fd, buf, sizeof(buf) - 1);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    close(vm->hib_fd);
    vm->hib_fd = -1;
    if (strncmp(buf, "OK ", 3) == 0 || vm->state != VM_STOPPING ||
        vm->stop_reason != VM_STOP_HIBERNATE)
        return;
    snprintf(vm->hib_why, sizeof(vm->hib_why), "%.255s",
             strncmp(buf, "ERR ", 4) == 0 ? buf + 4
                                          : "the hibernation helper ended without a report");
    log_warn("vm %s: not hibernated, it runs on: %s", vm->id, vm->hib_why);
    vm->state = VM_RUNNING;
    vm->stop_reason = VM_STOP_NONE;
    vm->hib_failed = 1;
    vm->idle_since = vmmgr_now();
    vm->restart_after_stop = 0;
    event(m, VMEV_HIBERNATE_FAILED, vm, NULL);
    answer_all(m, vm, NULL);
}

static void on_exit_fd(struct vmmgr *m, struct uservm *vm)
{
    int status = 0;
    if (waitpid(vm->pid, &status, WNOHANG) <= 0)
        status = 0; /* adopted: not our child */
    int planned = vm->state == VM_STOPPING;
    vm->exit_status = status;
    if (planned)
        log_info("vm %s: stopped (user %s)", vm->id, vm->user);
    else
        log_warn("vm %s: died unexpectedly (user %s, status 0x%x)", vm->id, vm->user, status);
    if (planned && vm->stop_reason == VM_STOP_FAILED_START)
        ; /* VMEV_START_FAILED was its event */
    else if (planned && vm->stop_reason == VM_STOP_HIBERNATE)
        event(m, hibernated(m, vm) ? VMEV_HIBERNATED : VMEV_STOPPED, vm, NULL);
    else if (planned || vm->state == VM_RUNNING)
        event(m, planned ? VMEV_STOPPED : VMEV_DIED, vm, NULL);
    else if (vm->ready_fd >= 0) /* before READY; an answered ready pipe reported it already */
        event(m, VMEV_START_FAILED, vm, NULL);
    if (!planned && vm->sessions)
        m->hooks.vm_gone(m->hooks.ctx, vm->user,
                         "your environment stopped unexpectedly; log in again for a fresh one");
    if (vm->restart_after_stop && vm->n_waiters) {
        /* Sessions arrived while it stopped: they get a fresh VM. */
        int waiters[VMMGR_WAITERS];
        unsigned n = vm->n_waiters;
        struct user_record rec = vm->rec;
        memcpy(waiters, vm->waiters, sizeof(waiters));
        vm->n_waiters = 0;
        release(vm);
        for (unsigned i = 0; i < n; i++)
            vmmgr_request(m, &rec, waiters[i]);
        return;
    }
    answer_all(m, vm, "your environment stopped; log in again");
    release(vm);
}

void vmmgr_event(struct vmmgr *m, int fd)
{
    if (m->be->event && m->be->event(m, fd))
        return;
    for (unsigned i = 0; i < VMMGR_MAX; i++) {
        struct uservm *vm = &m->vms[i];
        if (vm->state == VM_FREE)
            continue;
        if (vm->ready_fd == fd) {
            on_ready_fd(m, vm);
            return;
        }
        if (vm->pidfd == fd) {
            on_exit_fd(m, vm);
            return;
        }
        if (vm->hib_fd == fd) {
            on_hib_fd(m, vm);
            return;
        }
    }
}

/* Idle long enough to be hibernated (kvm, vm.idle_hibernate) or stopped (vm.idle_timeout)? */
static void idle_check(struct vmmgr *m, struct uservm *vm, long now)
{
    if (vm->state != VM_RUNNING || vm->sessions || vm->n_waiters)
        return;
    long idle_for = now - vm->idle_since, reap = m->cfg->vm.idle_timeout,
         hib = can_hibernate(m, vm) && !vm->hib_failed ? (long)m->cfg->vm.idle_hibernate : 0;
    if ((!hib || idle_for < hib) && (!reap || idle_for < reap))
        return;
    /* Sessions that outlived a master restart are not counted: ask the backend. */
    if (vm->be->active && vm->be->active(vm) > 0) {
        vm->idle_since = now;
        return;
    }
    if (hib && idle_for >= hib && hibernate_vm(m, vm, 0) == 0)
        return;
    if (reap && idle_for >= reap)
        stop_vm(m, vm, VM_STOP_IDLE, "idle");
}

void vmmgr_tick(struct vmmgr *m, long now)
{
    for (unsigned i = 0; i < VMMGR_MAX; i++)
        if (m->vms[i].state != VM_FREE)
            reap_helper(&m->vms[i]);
    if (m->be->tick)
        m->be->tick(m, now);
    for (unsigned i = 0; i < VMMGR_MAX; i++)
        idle_check(m, &m->vms[i], now);
}

int vmmgr_read_conns(struct uservm *vm)
{
    char path[VMMGR_PATH_MAX + 16];
    unsigned n = 0;
    snprintf(path, sizeof(path), "%s/conns", vm->dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int ok = fscanf(f, "%u", &n) == 1 && n <= 100000; /* written by a less trusted process */
    fclose(f);
    return ok ? (int)n : -1;
}

void vmmgr_signal_stop(struct uservm *vm)
{
    if (vm->pid > 1)
        kill(vm->pid, SIGTERM);
}
