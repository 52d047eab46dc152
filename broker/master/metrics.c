/* broker/master/metrics.c - counters, histograms and the Prometheus text format (see metrics.h). */
#include "broker/master/metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

static const char *const method_names[MX_METHODS] = {"publickey", "password", "other"};
static const char *const login_names[MX_LOGIN_RESULTS] = {"success", "no_vm"};
static const char *const refusal_names[MX_REFUSALS] = {"penalty", "max_startups", "capacity"};
static const char *const chan_names[MX_CHANS] = {"shell", "exec", "sftp", "direct-tcpip"};
static const char *const stop_names[MX_STOPS] = {"idle", "admin", "hibernate"};
static const char *const hib_names[MX_HIBS] = {"saved", "failed"};
static const char *const resume_names[MX_HIBS] = {"resumed", "refused"};
static const char *const death_names[MX_DEATHS] = {"guest_stopped", "killed", "error", "unknown"};

/* Upper bounds of the latency buckets, seconds: a fork is milliseconds, a cold start seconds. */
static const double bounds[MX_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                          1,     2.5,  5,     10,   30,  60,   120};

void metrics_observe(struct mx_hist *h, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    for (int i = 0; i < MX_BUCKETS; i++)
        if (seconds <= bounds[i]) {
            h->bucket[i]++;
            break;
        }
    h->count++;
    h->sum += seconds;
}

enum mx_method metrics_method(const char *name)
{
    for (int i = 0; i < MX_METHOD_OTHER; i++)
        if (strcmp(name, method_names[i]) == 0)
            return (enum mx_method)i;
    return MX_METHOD_OTHER;
}

int metrics_chan(const char *type)
{
    for (int i = 0; i < MX_CHANS; i++)
        if (strcmp(type, chan_names[i]) == 0)
            return i;
    return -1;
}

const char *metrics_chan_name(enum mx_chan c)
{
    return chan_names[c];
}

/* --- the text format ------------------------------------------------------ */

static void family(FILE *o, const char *name, const char *type, const char *help)
{
    fprintf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void put_label_value(FILE *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            fprintf(o, "\\%c", *v);
        else if (*v == '\n')
            fputs("\\n", o);
        else
            fputc(*v, o);
    }
}

/* name{k1="v1",...} value: labels as NULL-terminated key/value pairs. */
static void sample(FILE *o, const char *name, uint64_t v, ...)
{
    va_list ap;
    const char *k;
    int first = 1;
    fputs(name, o);
    va_start(ap, v);
    while ((k = va_arg(ap, const char *))) {
        const char *val = va_arg(ap, const char *);
        fprintf(o, "%s%s=\"", first ? "{" : ",", k);
        put_label_value(o, val);
        fputc('"', o);
        first = 0;
    }
    va_end(ap);
    fprintf(o, "%s %" PRIu64 "\n", first ? "" : "}", v);
}

static void counter(FILE *o, const char *name, const char *help, uint64_t v)
{
    family(o, name, "counter", help);
    sample(o, name, v, NULL);
}

static void gauge(FILE *o, const char *name, const char *help, uint64_t v)
{
    family(o, name, "gauge", help);
    sample(o, name, v, NULL);
}

/* One counter family with one label over an enum's names. */
static void by_label(FILE *o, const char *name, const char *type, const char *help,
                     const char *label, const char *const *names, const uint64_t *v, int n)
{
    family(o, name, type, help);
    for (int i = 0; i < n; i++)
        sample(o, name, v[i], label, names[i], NULL);
}

static void histogram(FILE *o, const char *name, const char *help, const struct mx_hist *h)
{
    char bucket[128], le[32];
    uint64_t cum = 0;
    family(o, name, "histogram", help);
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    for (int i = 0; i < MX_BUCKETS; i++) {
        cum += h->bucket[i];
        snprintf(le, sizeof(le), "%g", bounds[i]);
        sample(o, bucket, cum, "le", le, NULL);
    }
    sample(o, bucket, h->count, "le", "+Inf", NULL);
    fprintf(o, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}

static void render_connections(FILE *o, const struct metrics *m, const struct metrics_live *l)
{
    counter(o, "burrow_connections_accepted_total",
            "TCP connections accepted (a session process forked).", m->connections_accepted);
    by_label(o, "burrow_connections_refused_total", "counter",
             "TCP connections closed at once: source in penalty, max_startups drop, no slot.",
             "reason", refusal_names, m->connections_refused, MX_REFUSALS);
    family(o, "burrow_logins_total", "counter",
           "Authenticated logins by method and result (no_vm: no environment was available).");
    for (int i = 0; i < MX_METHODS; i++)
        for (int r = 0; r < MX_LOGIN_RESULTS; r++)
            sample(o, "burrow_logins_total", m->logins[i][r], "method", method_names[i], "result",
                   login_names[r], NULL);
    by_label(o, "burrow_auth_failures_total", "counter",
             "Failed authentication attempts (a refused key offer counts) by method.", "method",
             method_names, m->auth_failures, MX_METHODS);
    counter(o, "burrow_penalty_strikes_total",
            "Connections that ended without a login after failed attempts.", m->penalty_strikes);
    counter(o, "burrow_penalties_total", "Times a source was put in a penalty (refused a while).",
            m->penalties);
    gauge(o, "burrow_connections_active", "Open SSH connections (session processes).",
          l->connections);
    gauge(o, "burrow_connections_unauthenticated", "Open SSH connections not logged in yet.",
          l->unauthenticated);
    gauge(o, "burrow_sessions_active", "Logged-in SSH connections.", l->sessions);
}

static void render_channels(FILE *o, const struct metrics *m, const struct metrics_live *l)
{
    uint64_t active[MX_CHANS];
    for (int i = 0; i < MX_CHANS; i++)
        active[i] = l->channels[i];
    by_label(o, "burrow_channels_total", "counter",
             "SSH channels started, by type (shell, exec, sftp, direct-tcpip).", "type", chan_names,
             m->channels, MX_CHANS);
    by_label(o, "burrow_channels_active", "gauge", "SSH channels open now, by type.", "type",
             chan_names, active, MX_CHANS);
    family(o, "burrow_channel_bytes_total", "counter",
           "Bytes through SSH channels that ended: in = client to environment, out = back.");
    sample(o, "burrow_channel_bytes_total", m->bytes_in, "direction", "in", NULL);
    sample(o, "burrow_channel_bytes_total", m->bytes_out, "direction", "out", NULL);
    counter(o, "burrow_sessions_killed_total", "SSH connections ended by burrowctl session kill.",
            m->sessions_killed);
}

static void render_vms(FILE *o, const struct metrics *m, const struct metrics_live *l)
{
    static const char *const states[5] = {"starting", "running", "stopping", "pooled",
                                          "hibernated"};
    uint64_t n[5] = {l->vms_starting, l->vms_running, l->vms_stopping, l->vms_pooled,
                     l->vms_hibernated};
    by_label(o, "burrow_vms", "gauge",
             "VMs by state (pooled: paused forks in run_dir; hibernated: images on disk).", "state",
             states, n, 5);
    gauge(o, "burrow_vms_max", "The [vm] max_vms limit.", l->max_vms);
    counter(o, "burrow_vm_starts_total", "VMs started for users.", m->vm_starts);
    counter(o, "burrow_vm_start_failures_total", "VMs that failed before they were ready.",
            m->vm_start_failures);
    counter(o, "burrow_vm_refusals_total", "VM requests refused at the max_vms limit.",
            m->vm_refusals);
    by_label(o, "burrow_vm_stops_total", "counter",
             "Planned VM stops by reason (hibernate: a hibernation began).", "reason", stop_names,
             m->vm_stops, MX_STOPS);
    by_label(o, "burrow_vm_hibernations_total", "counter",
             "Hibernations by result (failed: the VM ran on).", "result", hib_names,
             m->hibernations, MX_HIBS);
    by_label(o, "burrow_vm_resumes_total", "counter",
             "Logins that found a hibernated VM, by result (refused: the image was kept aside "
             "and a fresh fork followed).",
             "result", resume_names, m->resumes, MX_HIBS);
    by_label(o, "burrow_vm_deaths_total", "counter",
             "VMs that ended unexpectedly, by cause (guest_stopped: power-off, reset or crash "
             "of the guest; killed: the VM process got a signal; error: it exited with an error; "
             "unknown: a VM re-adopted after a restart, whose exit status is not ours).",
             "cause", death_names, m->vm_deaths, MX_DEATHS);
    histogram(o, "burrow_vm_fork_seconds",
              "Time from a login's VM request to a fresh fork's vCPUs running (kvm backend).",
              &m->fork);
    histogram(o, "burrow_vm_pool_claim_seconds",
              "Time from a login's VM request to a pooled VM's vCPUs running (the claim).",
              &m->pool_claim);
    histogram(o, "burrow_vm_resume_seconds",
              "Time from a login's VM request to a hibernated VM's vCPUs running (its resume).",
              &m->resume);
    histogram(o, "burrow_vm_ready_seconds",
              "Time from a VM request to the guest agent's READY (fork or sandbox start included).",
              &m->ready);
}

/* One per-VM TAP family: bytes (drops = 0) or drops (1), both directions. */
static void net_family(FILE *o, const char *name, const char *help, const struct metrics_live *l,
                       int drops)
{
    family(o, name, "counter", help);
    for (size_t i = 0; i < l->n_net; i++) {
        const struct metrics_vm_net *v = &l->net[i];
        uint64_t out =
            drops ? v->dev.rx_dropped : v->dev.rx_bytes; /* the TAP receives what the VM sends */
        uint64_t in = drops ? v->dev.tx_dropped : v->dev.tx_bytes;
        sample(o, name, out, "vm", v->vm, "user", v->user, "direction", "out", NULL);
        sample(o, name, in, "vm", v->vm, "user", v->user, "direction", "in", NULL);
    }
}

static void render_host(FILE *o, const struct metrics_live *l)
{
    family(o, "burrow_vm_memory_bytes", "gauge",
           "Memory of burrowd's VMs (each VM's process tree), summed: private pages, shared "
           "pages (counted once per VM), and the proportional share (pss).");
    sample(o, "burrow_vm_memory_bytes", l->mem.private_kb * 1024, "kind", "private", NULL);
    sample(o, "burrow_vm_memory_bytes", l->mem.shared_kb * 1024, "kind", "shared", NULL);
    sample(o, "burrow_vm_memory_bytes", l->mem.pss_kb * 1024, "kind", "pss", NULL);
    if (l->ksm_ok) {
        const struct ksm_state *k = &l->ksm;
        gauge(o, "burrow_ksm_running", "KSM state (/sys/kernel/mm/ksm/run: 0 off, 1 on).", k->run);
        gauge(o, "burrow_ksm_shared_bytes", "KSM: memory of the shared pages in use.",
              k->pages_shared * k->page_size);
        gauge(o, "burrow_ksm_sharing_bytes", "KSM: memory saved (sites sharing those pages).",
              k->pages_sharing * k->page_size);
        gauge(o, "burrow_ksm_unshared_bytes", "KSM: memory checked but unique.",
              k->pages_unshared * k->page_size);
        gauge(o, "burrow_ksm_volatile_bytes", "KSM: memory changing too fast to merge.",
              k->pages_volatile * k->page_size);
        counter(o, "burrow_ksm_full_scans_total", "KSM: full scans done.", k->full_scans);
    }
    net_family(o, "burrow_vm_network_bytes_total",
               "Bytes through a VM's TAP ([net] enabled): out = sent by the VM, in = to it.", l, 0);
    net_family(o, "burrow_vm_network_drops_total",
               "Packets dropped at a VM's TAP: out = from the VM, in = to it.", l, 1);
}

int metrics_render(const struct metrics *m, const struct metrics_live *l, FILE *o)
{
    family(o, "burrow_build_info", "gauge", "burrowd's version and VM backend (value 1).");
    sample(o, "burrow_build_info", 1, "version", l->version, "backend", l->backend, NULL);
    family(o, "burrow_start_time_seconds", "gauge", "When burrowd started, unix time.");
    fprintf(o, "burrow_start_time_seconds %.3f\n", l->start_time);
    render_connections(o, m, l);
    render_channels(o, m, l);
    render_vms(o, m, l);
    render_host(o, l);
    counter(o, "burrow_audit_errors_total", "Audit records that could not be written.",
            m->audit_errors);
    return ferror(o) ? -1 : 0;
}
