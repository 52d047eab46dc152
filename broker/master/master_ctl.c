/*
 * broker/master/master_ctl.c - the master's answers on the control socket
 * (broker/master/control.h) and the live view that status and /metrics share.
 *
 *   status: "key value" lines (burrowctl status prints them or JSON):
 *     version, backend, backend_reason, pid, started (unix), uptime_seconds,
 *     listener ADDR:PORT (one per socket), metrics, audit, connections,
 *     unauthenticated, sessions, channels, vms_starting, vms_running,
 *     vms_stopping, vms_pooled, vms_hibernated, max_vms, memory_private_kib,
 *     memory_shared_kib, memory_pss_kib, host_memory_total_kib,
 *     host_memory_available_kib, ksm_running, ksm_shared_kib,
 *     ksm_sharing_kib, template BUILD VMS (one per build in use)
 *   session list: "<id> <pid> <state> <user|-> <ip> <port> <method|-> <vm|->
 *     <started-unix> <channels>", state authenticating, active or ending
 *   session kill <id>: the user's channels print the reason and the
 *     connection is closed (MPROTO_END); an unauthenticated one is killed
 *     at once; one that has not ended after MASTER_KILL_S is killed.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/buildinfo.h"
#include "broker/config_cluster.h"
#include "broker/master/master_priv.h"
#include "broker/mproto.h"
#include "broker/vm/netpolicy.h"
#include "common/err.h"
#include "vmm/hibernate.h"
#include "vmm/registry.h"

#define SESSION_KILL_TEXT "your session was ended by an administrator"
#define STATUS_BUILDS_MAX 64

/* --- the live view ------------------------------------------------------- */

static void count_sessions(const struct master *m, struct metrics_live *l)
{
    for (int i = 0; i < MASTER_SESS_MAX; i++) {
        const struct msess *s = m->sess[i];
        if (!s)
            continue;
        l->connections++;
        if (s->authed)
            l->sessions++;
        for (int c = 0; c < SESSION_CHANS_MAX; c++)
            if (s->chans[c].no)
                l->channels[s->chans[c].type]++;
    }
    l->unauthenticated = m->unauth;
}

/* Memory of burrowd's VMs (whole process trees) and the TAP counters of those that have one. */
static void count_vms(struct master *m, struct metrics_live *l, struct metrics_vm_net *net,
                      size_t netcap)
{
    static pid_t roots[VMMGR_MAX];
    static struct vm_memory mem[VMMGR_MAX];
    size_t n = 0;
    for (unsigned i = 0; i < VMMGR_MAX; i++) {
        const struct uservm *vm = &m->vm.vms[i];
        l->vms_starting += vm->state == VM_STARTING;
        l->vms_running += vm->state == VM_RUNNING;
        l->vms_stopping += vm->state == VM_STOPPING;
        if (vm->state == VM_FREE || vm->pid <= 1)
            continue;
        roots[n++] = vm->pid;
        struct metrics_vm_net *v = &net[l->n_net];
        char tap[16];
        snprintf(tap, sizeof(tap), "%s%u", NETPOLICY_TAP_PREFIX, vm->slot);
        if (m->cfg.net.enabled && l->n_net < netcap &&
            hoststats_netdev("/sys", tap, &v->dev) == 0) {
            snprintf(v->vm, sizeof(v->vm), "%s", vm->id);
            snprintf(v->user, sizeof(v->user), "%s", vm->user);
            l->n_net++;
        }
    }
    if (hoststats_tree_memory("/proc", roots, n, mem) == 0)
        for (size_t i = 0; i < n; i++) {
            l->mem.private_kb += mem[i].private_kb;
            l->mem.shared_kb += mem[i].shared_kb;
            l->mem.pss_kb += mem[i].pss_kb;
        }
}

void master_live(struct master *m, struct metrics_live *l, struct metrics_vm_net *net,
                 size_t netcap)
{
    memset(l, 0, sizeof(*l));
    l->version = burrow_version;
    l->backend = m->vm.be ? m->vm.be->name : "none";
    l->start_time = (double)m->started.tv_sec + m->started.tv_nsec / 1e9;
    l->max_vms = m->cfg.vm.max_vms;
    l->net = net;
    count_sessions(m, l);
    count_vms(m, l, net, netcap);
    struct vm_record *recs;
    size_t nr;
    if (registry_list(m->cfg.paths.run_dir, &recs, &nr) == 0) {
        for (size_t i = 0; i < nr; i++)
            l->vms_pooled += strcmp(recs[i].state, "pool") == 0;
        free(recs);
    }
    l->vms_hibernated = hib_count(m->cfg.paths.state_dir);
    l->ksm_ok = ksm_read(KSM_SYSFS, &l->ksm) == 0;
}

/* --- status ---------------------------------------------------------------- */

static void status_builds(const struct master *m, FILE *out)
{
    struct vm_record *recs;
    size_t nr;
    char builds[STATUS_BUILDS_MAX][sizeof(recs->build)];
    unsigned counts[STATUS_BUILDS_MAX], nb = 0;
    if (registry_list(m->cfg.paths.run_dir, &recs, &nr) != 0)
        return;
    for (size_t i = 0; i < nr; i++) {
        char dir[CONFIG_PATH_MAX + sizeof(recs->build) + 16];
        struct stat st;
        /* Builds under state_dir/templates only (a sandbox's record says "sandbox"). */
        snprintf(dir, sizeof(dir), "%s/templates/%s", m->cfg.paths.state_dir, recs[i].build);
        if (strcmp(recs[i].state, "running") != 0 || !recs[i].build[0] ||
            !registry_id_ok(recs[i].id) || strchr(recs[i].build, '/') || stat(dir, &st) != 0)
            continue;
        unsigned b = 0;
        while (b < nb && strcmp(builds[b], recs[i].build) != 0)
            b++;
        if (b == nb && nb < STATUS_BUILDS_MAX) {
            memcpy(builds[nb], recs[i].build, sizeof(builds[0]));
            counts[nb++] = 0;
        }
        if (b < nb)
            counts[b]++;
    }
    free(recs);
    for (unsigned b = 0; b < nb; b++)
        fprintf(out, "template %s %u\n", builds[b], counts[b]);
}

static void status(struct master *m, FILE *out)
{
    static struct metrics_vm_net net[1];
    struct metrics_live l;
    char why[192];
    uint64_t total = 0, avail = 0;
    master_live(m, &l, net, 0);
    vmmgr_pick_backend(&m->cfg, why, sizeof(why));
    fprintf(out, "version %s\nbackend %s\nbackend_reason %s\npid %d\nstarted %lld\n",
            burrow_version, l.backend, why, (int)getpid(), (long long)m->started.tv_sec);
    fprintf(out, "uptime_seconds %ld\n", vmmgr_now() - m->started_mono);
    for (unsigned i = 0; i < m->cfg.ssh.listen.n; i++) {
        const char *a = m->cfg.ssh.listen.addr[i];
        fprintf(out, strchr(a, ':') ? "listener [%s]:%u\n" : "listener %s:%u\n", a,
                m->cfg.ssh.port);
    }
    fprintf(out, "metrics %s\naudit %s\n",
            m->cfg.metrics.listen.text[0] ? m->cfg.metrics.listen.text : "off",
            m->audit.fd >= 0 ? m->audit.path : "off");
    unsigned chans = 0;
    for (int i = 0; i < MX_CHANS; i++)
        chans += l.channels[i];
    fprintf(out, "connections %u\nunauthenticated %u\nsessions %u\nchannels %u\n", l.connections,
            l.unauthenticated, l.sessions, chans);
    fprintf(out,
            "vms_starting %u\nvms_running %u\nvms_stopping %u\nvms_pooled %u\n"
            "vms_hibernated %u\nmax_vms %u\n",
            l.vms_starting, l.vms_running, l.vms_stopping, l.vms_pooled, l.vms_hibernated,
            l.max_vms);
    fprintf(out, "memory_private_kib %llu\nmemory_shared_kib %llu\nmemory_pss_kib %llu\n",
            (unsigned long long)l.mem.private_kb, (unsigned long long)l.mem.shared_kb,
            (unsigned long long)l.mem.pss_kb);
    if (hoststats_meminfo("/proc", &total, &avail) == 0)
        fprintf(out, "host_memory_total_kib %llu\nhost_memory_available_kib %llu\n",
                (unsigned long long)total, (unsigned long long)avail);
    if (l.ksm_ok)
        fprintf(out, "ksm_running %llu\nksm_shared_kib %llu\nksm_sharing_kib %llu\n",
                (unsigned long long)l.ksm.run,
                (unsigned long long)(l.ksm.pages_shared * l.ksm.page_size / 1024),
                (unsigned long long)(l.ksm.pages_sharing * l.ksm.page_size / 1024));
    status_builds(m, out);
    fprintf(out, "ok\n");
}

/* --- VMs --------------------------------------------------------------------- */

static const char *state_name(const struct uservm *vm)
{
    switch (vm->state) {
    case VM_STARTING:
        return "starting";
    case VM_RUNNING:
        return "running";
    case VM_STOPPING:
        return vm->stop_reason == VM_STOP_HIBERNATE ? "hibernating" : "stopping";
    default:
        return "free";
    }
}

static void vm_list(struct master *m, FILE *out)
{
    for (unsigned i = 0; i < VMMGR_MAX; i++) {
        const struct uservm *vm = &m->vm.vms[i];
        if (vm->state != VM_FREE)
            fprintf(out, "%s %s %s %d %u\n", vm->id, vm->user, state_name(vm), (int)vm->pid,
                    vm->sessions);
    }
    fprintf(out, "ok\n");
}

static void vm_kill(struct master *m, const char *target, const struct ucred *who, FILE *out)
{
    int r = vmmgr_kill(&m->vm, target);
    ev_admin(m, "vm.kill", target, r == 0 ? "ok" : "failed", who, "control");
    if (r == 0)
        fprintf(out, "ok\n");
    else
        fprintf(out, "error no running VM for %s\n", target);
}

/*
 * "vm hibernate <user|id>": started in the background (burrowctl watches for
 * the outcome). "error unknown vm" tells burrowctl to do it itself: not ours.
 */
static void vm_hibernate(struct master *m, const char *target, const struct ucred *who, FILE *out)
{
    int r = vmmgr_hibernate(&m->vm, target);
    ev_admin(m, "vm.hibernate", target, r == 0 ? "ok" : "failed", who, "control");
    if (r == 0)
        fprintf(out, "ok\n");
    else if (r == BURROW_ERR_NOT_FOUND)
        fprintf(out, "error unknown vm %s\n", target);
    else if (r == BURROW_ERR_UNSUPPORTED && cluster_enabled(&m->cfg))
        fprintf(out, "error no hibernation in a cluster: her next VM may start on another host\n");
    else if (r == BURROW_ERR_UNSUPPORTED)
        fprintf(out, "error hibernation is kvm-only (this burrowd runs the %s backend)\n",
                m->vm.be->name);
    else if (r == BURROW_ERR_BUSY)
        fprintf(out, "error VM %s is starting or stopping\n", target);
    else
        fprintf(out, "error cannot hibernate %s: %s\n", target, burrow_strerror(r));
}

/* --- sessions ------------------------------------------------------------------ */

static void session_list(struct master *m, FILE *out)
{
    for (int i = 0; i < MASTER_SESS_MAX; i++) {
        const struct msess *s = m->sess[i];
        if (!s)
            continue;
        unsigned chans = 0;
        for (int c = 0; c < SESSION_CHANS_MAX; c++)
            chans += s->chans[c].no != 0;
        const char *state = s->killed ? "ending" : s->authed ? "active" : "authenticating";
        fprintf(out, "%s %d %s %s %s %u %s %s %lld %u\n", s->id, (int)s->pid, state,
                s->authed ? s->user : "-", s->ip, s->port, s->authed ? s->method : "-",
                s->vm_id[0] ? s->vm_id : "-", (long long)s->started, chans);
    }
    fprintf(out, "ok\n");
}

static int session_id_ok(const char *id)
{
    return strlen(id) == MASTER_SID_LEN && strspn(id, "0123456789abcdef") == MASTER_SID_LEN;
}

static struct msess *session_by_id(struct master *m, const char *id)
{
    for (int i = 0; i < MASTER_SESS_MAX; i++)
        if (m->sess[i] && strcmp(m->sess[i]->id, id) == 0)
            return m->sess[i];
    return NULL;
}

static void session_kill(struct master *m, const char *id, const struct ucred *who, FILE *out)
{
    struct msess *s = session_by_id(m, id);
    ev_admin(m, "session.kill", id, s && !s->reaped ? "ok" : "failed", who, "control");
    if (!s || s->reaped) {
        fprintf(out, "error no session %s\n", id);
        return;
    }
    const char *f[1] = {SESSION_KILL_TEXT};
    m->mx.sessions_killed++;
    s->killed = 1;
    /* Before login there is no one to tell; after it the monitor passes END to the child. */
    if (!s->authed || mproto_send(s->mfd, MPROTO_END, 1, f) != 0)
        kill(s->pid, SIGKILL);
    else if (!s->kill_deadline)
        s->kill_deadline = vmmgr_now() + MASTER_KILL_S;
    log_info("session %s (%s, user %s): ended by an administrator", s->id, s->addr,
             s->authed ? s->user : "-");
    fprintf(out, "ok\n");
}

void master_ctl_tick(struct master *m, long now)
{
    for (int i = 0; i < MASTER_SESS_MAX; i++) {
        struct msess *s = m->sess[i];
        if (s && s->kill_deadline && now >= s->kill_deadline && !s->reaped) {
            log_warn("session %s did not end in %ds: killed", s->id, MASTER_KILL_S);
            kill(s->pid, SIGKILL);
            s->kill_deadline = 0;
        }
    }
}

/* --- admin records from burrowctl ------------------------------------------------ */

/* "admin ACTION TARGET RESULT": ACTION like user.add, TARGET a name, id or "-". */
static int admin_word_ok(const char *w, size_t max)
{
    size_t n = strlen(w);
    return n > 0 && n <= max &&
           strspn(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:") == n;
}

static void admin(struct master *m, const char *args, const struct ucred *who, FILE *out)
{
    char action[48], target[128], result[16];
    if (sscanf(args, "%47s %127s %15s", action, target, result) != 3 ||
        !admin_word_ok(action, 40) || !admin_word_ok(target, 120) ||
        (strcmp(result, "ok") != 0 && strcmp(result, "failed") != 0)) {
        fprintf(out, "error malformed admin record\n");
        return;
    }
    ev_admin(m, action, target, result, who, "burrowctl");
    fprintf(out, "ok\n");
}

void master_ctl_request(void *ctx, const char *line, const struct ucred *who, FILE *out)
{
    struct master *m = ctx;
    char esc[2 * CONTROL_LINE_MAX];
    if (strcmp(line, "status") == 0)
        status(m, out);
    else if (strcmp(line, "vm list") == 0)
        vm_list(m, out);
    else if (strncmp(line, "vm kill ", 8) == 0 &&
             (userdb_name_check(line + 8, NULL) == 0 || registry_id_ok(line + 8)))
        vm_kill(m, line + 8, who, out);
    else if (strncmp(line, "vm hibernate ", 13) == 0 &&
             (userdb_name_check(line + 13, NULL) == 0 || registry_id_ok(line + 13)))
        vm_hibernate(m, line + 13, who, out);
    else if (strcmp(line, "session list") == 0)
        session_list(m, out);
    else if (strncmp(line, "session kill ", 13) == 0 && session_id_ok(line + 13))
        session_kill(m, line + 13, who, out);
    else if (strncmp(line, "admin ", 6) == 0)
        admin(m, line + 6, who, out);
    else {
        log_escape(esc, sizeof(esc), line);
        fprintf(out, "error unknown request '%s'\n", esc);
    }
}
