/*
 * broker/master/master_events.c - what happened, for operators: each event the
 * master sees updates the Prometheus counters (broker/master/metrics.h) and
 * writes one audit record (broker/master/audit.h; fields in docs/audit.md). The
 * one place that knows both, so the metrics and the audit log cannot
 * disagree about what happened.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "broker/master/master_priv.h"
#include "broker/mproto.h"
#include "common/clock.h"
#include "common/err.h"

static void commit(struct master *m, struct audit_rec *r)
{
    if (audit_enabled(&m->audit) && audit_commit(&m->audit, r) != 0)
        log_warn("audit: cannot write a %s record (%lu failed so far)", r->event, m->audit.errors);
}

/* The connection fields every session record starts with. */
static void conn_fields(struct audit_rec *r, const struct msess *s)
{
    json_kv_str(&r->j, "connection", s->id);
    json_kv_str(&r->j, "from", s->ip);
    json_kv_u64(&r->j, "port", s->port);
    if (s->authed)
        json_kv_str(&r->j, "user", s->user);
}

void ev_connection_accepted(struct master *m, const struct msess *s)
{
    struct audit_rec r;
    m->mx.connections_accepted++;
    audit_begin(&m->audit, &r, "connection_accepted");
    conn_fields(&r, s);
    json_kv_u64(&r.j, "pid", (uint64_t)s->pid);
    commit(m, &r);
}

void ev_connection_refused(struct master *m, const struct msess *s, int reason, long wait_s)
{
    static const char *const names[MX_REFUSALS] = {"penalty", "max_startups", "capacity"};
    struct audit_rec r;
    m->mx.connections_refused[reason]++;
    audit_begin(&m->audit, &r, "connection_refused");
    json_kv_str(&r.j, "from", s->ip);
    json_kv_u64(&r.j, "port", s->port);
    json_kv_str(&r.j, "reason", names[reason]);
    if (reason == MX_REFUSED_PENALTY)
        json_kv_i64(&r.j, "penalty_seconds", wait_s);
    if (reason == MX_REFUSED_MAX_STARTUPS)
        json_kv_u64(&r.j, "unauthenticated", m->unauth);
    commit(m, &r);
}

void ev_connection_closed(struct master *m, const struct msess *s, const char *how)
{
    struct audit_rec r;
    audit_begin(&m->audit, &r, "connection_closed");
    conn_fields(&r, s);
    json_kv_str(&r.j, "how", how);
    json_kv_u64(&r.j, "auth_failures", s->failures);
    json_kv_i64(&r.j, "duration_ms", clock_now_ms() - s->start_ms);
    commit(m, &r);
}

void ev_auth(struct master *m, const struct msess *s, int ok, const char *user, const char *method,
             const char *fingerprint)
{
    struct audit_rec r;
    if (!ok)
        m->mx.auth_failures[metrics_method(method)]++;
    audit_begin(&m->audit, &r, ok ? "auth_success" : "auth_failure");
    json_kv_str(&r.j, "connection", s->id);
    json_kv_str(&r.j, "from", s->ip);
    json_kv_u64(&r.j, "port", s->port);
    json_key(&r.j, "user");
    json_strn(&r.j, user, USERDB_NAME_MAX + 1); /* as the client sent it (bounded) */
    json_kv_str(&r.j, "method", method);
    if (fingerprint[0])
        json_kv_str(&r.j, "key_fingerprint", fingerprint);
    commit(m, &r);
}

void ev_penalty(struct master *m, const struct msess *s, long penalty_s)
{
    struct audit_rec r;
    m->mx.penalty_strikes++;
    if (penalty_s <= 0)
        return;
    m->mx.penalties++;
    audit_begin(&m->audit, &r, "penalty");
    json_kv_str(&r.j, "from", s->ip);
    json_kv_i64(&r.j, "seconds", penalty_s);
    commit(m, &r);
}

void ev_login(struct master *m, const struct msess *s, const char *vm_id, const char *no_vm_text)
{
    struct audit_rec r;
    enum mx_method meth = metrics_method(s->method);
    m->mx.logins[meth][vm_id ? MX_LOGIN_SUCCESS : MX_LOGIN_NO_VM]++;
    audit_begin(&m->audit, &r, vm_id ? "vm_claimed" : "vm_claim_failed");
    conn_fields(&r, s);
    json_kv_str(&r.j, "method", s->method);
    if (vm_id)
        json_kv_str(&r.j, "vm", vm_id);
    else
        json_kv_str(&r.j, "reason", no_vm_text);
    commit(m, &r);
}

/* --- channels ("sessions" in the audit log) ---------------------------------- */

static struct mchan *find_chan(struct msess *s, unsigned no)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        if (s->chans[i].no == no)
            return &s->chans[i];
    return NULL;
}

static int parse_uint(const char *t, uint64_t max, uint64_t *v)
{
    char *end;
    if (!t[0] || t[0] == '-' || t[0] == '+' || t[0] == ' ')
        return -1;
    unsigned long long x = strtoull(t, &end, 10);
    if (*end || x > max)
        return -1;
    *v = x;
    return 0;
}

static void session_fields(struct audit_rec *r, const struct msess *s, const struct mchan *c)
{
    conn_fields(r, s);
    json_kv_str(&r->j, "vm", s->vm_id);
    json_kv_u64(&r->j, "channel", c->no);
    json_kv_str(&r->j, "type", metrics_chan_name((enum mx_chan)c->type));
}

static int chan_open(struct master *m, struct msess *s, unsigned no, const char *type,
                     const char *detail)
{
    int t = metrics_chan(type);
    struct mchan *c = find_chan(s, 0);
    if (t < 0 || find_chan(s, no))
        return BURROW_ERR_PROTOCOL;
    if (!c)
        return 0; /* more than SESSION_CHANS_MAX open: the net child lies; not recorded */
    *c = (struct mchan){.no = no, .type = t, .start_ms = clock_now_ms()};
    m->mx.channels[t]++;
    struct audit_rec r;
    audit_begin(&m->audit, &r, "session_start");
    session_fields(&r, s, c);
    if (t == MX_CHAN_EXEC || t == MX_CHAN_TCP) {
        json_key(&r.j, t == MX_CHAN_EXEC ? "command" : "target");
        json_strn(&r.j, detail, AUDIT_TEXT_MAX);
        if (strlen(detail) > AUDIT_TEXT_MAX)
            json_kv_bool(&r.j, "truncated", 1);
    }
    commit(m, &r);
    return 0;
}

/* "status N" (0-255), "signal NAME", or "none". */
static int put_exit(struct audit_rec *r, const char *exit_text)
{
    uint64_t v;
    const char *name = exit_text + 7;
    if (strcmp(exit_text, "none") == 0)
        return 0;
    if (strncmp(exit_text, "status ", 7) == 0 && parse_uint(exit_text + 7, 255, &v) == 0) {
        json_kv_u64(&r->j, "exit_status", v);
        return 0;
    }
    if (strncmp(exit_text, "signal ", 7) == 0 && strlen(name) >= 1 && strlen(name) <= 16 &&
        strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == strlen(name)) {
        json_kv_str(&r->j, "exit_signal", name);
        return 0;
    }
    return BURROW_ERR_PROTOCOL;
}

static int chan_close(struct master *m, struct msess *s, unsigned no, const char *bytes,
                      const char *exit_text)
{
    uint64_t in, out;
    char a[24], b[24], extra;
    struct mchan *c = find_chan(s, no);
    if (sscanf(bytes, "%23s %23s%c", a, b, &extra) != 2 || parse_uint(a, UINT64_MAX, &in) ||
        parse_uint(b, UINT64_MAX, &out))
        return BURROW_ERR_PROTOCOL;
    if (!c)
        return 0; /* one we did not record */
    struct audit_rec r;
    audit_begin(&m->audit, &r, "session_end");
    session_fields(&r, s, c);
    json_kv_u64(&r.j, "bytes_in", in);
    json_kv_u64(&r.j, "bytes_out", out);
    if (put_exit(&r, exit_text) != 0)
        return BURROW_ERR_PROTOCOL;
    json_kv_i64(&r.j, "duration_ms", clock_now_ms() - c->start_ms);
    m->mx.bytes_in += in;
    m->mx.bytes_out += out;
    c->no = 0;
    commit(m, &r);
    return 0;
}

int ev_channel_report(struct master *m, struct msess *s, int type, const char *const *f)
{
    uint64_t no;
    if (!s->authed || parse_uint(f[0], 1000000, &no) != 0 || no == 0)
        return BURROW_ERR_PROTOCOL;
    if (type == MPROTO_CHAN_OPEN)
        return chan_open(m, s, (unsigned)no, f[1], f[2]);
    return chan_close(m, s, (unsigned)no, f[1], f[2]);
}

void ev_channels_lost(struct master *m, struct msess *s)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++) {
        struct mchan *c = &s->chans[i];
        if (!c->no)
            continue;
        struct audit_rec r;
        audit_begin(&m->audit, &r, "session_end");
        session_fields(&r, s, c);
        json_kv_bool(&r.j, "unreported", 1); /* the net child ended without saying */
        json_kv_i64(&r.j, "duration_ms", clock_now_ms() - c->start_ms);
        c->no = 0;
        commit(m, &r);
    }
}

/* --- VMs ------------------------------------------------------------------------ */

static enum mx_death death_cause(int status)
{
    if (status == 0)
        return MX_DEATH_UNKNOWN; /* re-adopted: not our child, no status */
    if (WIFSIGNALED(status))
        return MX_DEATH_KILLED;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
        return MX_DEATH_GUEST_STOPPED;
    return MX_DEATH_ERROR;
}

static const char *vm_event_name(enum vmmgr_event ev, const struct uservm *vm)
{
    switch (ev) {
    case VMEV_STARTING:
        return "vm_created";
    case VMEV_READY:
        return "vm_ready";
    case VMEV_START_FAILED:
        return "vm_start_failed";
    case VMEV_REFUSED:
        return "vm_refused";
    case VMEV_STOPPING:
        return vm->stop_reason == VM_STOP_IDLE        ? "vm_reaped"
               : vm->stop_reason == VM_STOP_HIBERNATE ? "vm_hibernating"
                                                      : "vm_killed";
    case VMEV_HIBERNATED:
        return "vm_hibernated";
    case VMEV_HIBERNATE_FAILED:
        return "vm_hibernate_failed";
    case VMEV_RESUME_REFUSED:
        return "vm_resume_refused";
    case VMEV_STOPPED:
        return "vm_stopped";
    case VMEV_DIED:
        return "vm_died";
    case VMEV_ADOPTED:
    default:
        return "vm_adopted";
    }
}

static void vm_count(struct master *m, enum vmmgr_event ev, const struct uservm *vm)
{
    switch (ev) {
    case VMEV_STARTING:
        m->mx.vm_starts++;
        break;
    case VMEV_READY:
        metrics_observe(&m->mx.ready, vm->ready_ms / 1000.0);
        if (vm->fork_us >= 0)
            metrics_observe(vm->from_pool ? &m->mx.pool_claim
                            : vm->resumed ? &m->mx.resume
                                          : &m->mx.fork,
                            vm->fork_us / 1e6);
        m->mx.resumes[MX_HIB_OK] += vm->resumed != 0;
        break;
    case VMEV_HIBERNATED:
        m->mx.hibernations[MX_HIB_OK]++;
        break;
    case VMEV_HIBERNATE_FAILED:
        m->mx.hibernations[MX_HIB_FAILED]++;
        break;
    case VMEV_RESUME_REFUSED:
        m->mx.resumes[MX_HIB_FAILED]++;
        break;
    case VMEV_START_FAILED:
        m->mx.vm_start_failures++;
        break;
    case VMEV_REFUSED:
        m->mx.vm_refusals++;
        break;
    case VMEV_STOPPING:
        m->mx.vm_stops[vm->stop_reason == VM_STOP_IDLE        ? MX_STOP_IDLE
                       : vm->stop_reason == VM_STOP_HIBERNATE ? MX_STOP_HIBERNATE
                                                              : MX_STOP_ADMIN]++;
        break;
    case VMEV_DIED:
        m->mx.vm_deaths[death_cause(vm->exit_status)]++;
        break;
    default:
        break;
    }
}

/* What a hibernation record says: why it began, how large the image is, why it failed. */
static void hib_fields(struct master *m, struct audit_rec *r, enum vmmgr_event ev,
                       const struct uservm *vm)
{
    if (ev == VMEV_STOPPING && vm->stop_reason == VM_STOP_HIBERNATE) {
        json_kv_str(&r->j, "trigger", vm->hib_admin ? "admin" : "idle");
        if (!vm->hib_admin)
            json_kv_u64(&r->j, "idle_hibernate_s", m->cfg.vm.idle_hibernate);
    } else if (ev == VMEV_HIBERNATED) {
        json_kv_u64(&r->j, "pages", vm->hib_pages);
        json_kv_u64(&r->j, "bytes", vm->hib_bytes);
    } else if (ev == VMEV_HIBERNATE_FAILED || ev == VMEV_RESUME_REFUSED) {
        json_kv_str(&r->j, "reason", vm->hib_why);
    }
}

void ev_vm(void *ctx, enum vmmgr_event ev, const struct uservm *vm, const char *user)
{
    struct master *m = ctx;
    struct audit_rec r;
    static const char *const causes[MX_DEATHS] = {"guest_stopped", "killed", "error", "unknown"};
    vm_count(m, ev, vm);
    audit_begin(&m->audit, &r, vm_event_name(ev, vm));
    json_kv_str(&r.j, "user", user);
    if (!vm) {
        json_kv_str(&r.j, "reason", "max_vms");
        commit(m, &r);
        return;
    }
    json_kv_str(&r.j, "vm", vm->id);
    json_kv_str(&r.j, "backend", vm->be ? vm->be->name : "?");
    if (ev == VMEV_READY) {
        json_kv_i64(&r.j, "ready_ms", vm->ready_ms);
        if (vm->fork_us >= 0) {
            json_kv_i64(&r.j, "fork_us", vm->fork_us);
            json_kv_str(&r.j, "origin", vm->from_pool ? "pool" : vm->resumed ? "resume" : "fresh");
        }
    } else if (ev == VMEV_DIED) {
        json_kv_str(&r.j, "cause", causes[death_cause(vm->exit_status)]);
        if (WIFEXITED(vm->exit_status) && vm->exit_status)
            json_kv_i64(&r.j, "exit_code", WEXITSTATUS(vm->exit_status));
        if (WIFSIGNALED(vm->exit_status))
            json_kv_i64(&r.j, "signal", WTERMSIG(vm->exit_status));
    } else if (ev == VMEV_STOPPING && vm->stop_reason == VM_STOP_IDLE) {
        json_kv_u64(&r.j, "idle_timeout_s", m->cfg.vm.idle_timeout);
    } else {
        hib_fields(m, &r, ev, vm);
    }
    commit(m, &r);
}

void ev_admin(struct master *m, const char *action, const char *target, const char *result,
              const struct ucred *who, const char *via)
{
    if (audit_admin(&m->audit, action, target, result, via, who) != 0)
        log_warn("audit: cannot write an admin record");
}

void ev_render_metrics(void *ctx, FILE *out)
{
    struct master *m = ctx;
    static struct metrics_vm_net net[VMMGR_MAX];
    struct metrics_live l;
    master_live(m, &l, net, VMMGR_MAX);
    m->mx.audit_errors = m->audit.errors;
    metrics_render(&m->mx, &l, out);
}
