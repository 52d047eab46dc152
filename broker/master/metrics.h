/*
 * broker/master/metrics.h - burrowd's Prometheus metrics (docs/operations.md).
 *
 * Owns: the counters and latency histograms the master keeps (struct
 * metrics: plain numbers, bumped by broker/master/master_events.c), the gauges
 * read at scrape time (struct metrics_live, filled by the master), and the
 * rendering of both in the Prometheus text exposition format 0.0.4: every
 * name has the burrow_ prefix, counters end in _total, values are in base
 * units (seconds, bytes), each family has HELP and TYPE.
 */
#ifndef BURROW_BROKER_METRICS_H
#define BURROW_BROKER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "broker/master/hoststats.h"
#include "broker/vm/ksm.h"

/* Label values; each enum's names are in metrics.c in the same order. */
enum mx_method { MX_PUBLICKEY, MX_PASSWORD, MX_METHOD_OTHER, MX_METHODS };
enum mx_login { MX_LOGIN_SUCCESS, MX_LOGIN_NO_VM, MX_LOGIN_RESULTS };
enum mx_refusal { MX_REFUSED_PENALTY, MX_REFUSED_MAX_STARTUPS, MX_REFUSED_CAPACITY, MX_REFUSALS };
enum mx_chan { MX_CHAN_SHELL, MX_CHAN_EXEC, MX_CHAN_SFTP, MX_CHAN_TCP, MX_CHANS };
enum mx_stop { MX_STOP_IDLE, MX_STOP_ADMIN, MX_STOP_HIBERNATE, MX_STOPS };
/* Hibernations (kvm): saved or failed (it ran on); resumes: resumed or refused (fresh fork). */
enum mx_hib { MX_HIB_OK, MX_HIB_FAILED, MX_HIBS };
enum mx_death {
    MX_DEATH_GUEST_STOPPED,
    MX_DEATH_KILLED,
    MX_DEATH_ERROR,
    MX_DEATH_UNKNOWN,
    MX_DEATHS
};

#define MX_BUCKETS 14

struct mx_hist {
    uint64_t bucket[MX_BUCKETS]; /* observations <= the bucket's bound (not cumulative) */
    uint64_t count;
    double sum;
};

struct metrics {
    uint64_t connections_accepted;
    uint64_t connections_refused[MX_REFUSALS];
    uint64_t logins[MX_METHODS][MX_LOGIN_RESULTS];
    uint64_t auth_failures[MX_METHODS];
    uint64_t penalty_strikes;
    uint64_t penalties; /* a source entered a penalty */
    uint64_t channels[MX_CHANS];
    uint64_t bytes_in, bytes_out; /* client -> environment, environment -> client */
    uint64_t vm_starts, vm_start_failures, vm_refusals;
    uint64_t vm_stops[MX_STOPS];
    uint64_t vm_deaths[MX_DEATHS];
    uint64_t hibernations[MX_HIBS], resumes[MX_HIBS];
    uint64_t sessions_killed;
    uint64_t audit_errors;
    struct mx_hist fork, pool_claim, resume, ready;
};

/* A VM's network counters (its TAP; rx = sent by the VM). */
struct metrics_vm_net {
    char vm[16];
    char user[65];
    struct hoststats_netdev dev;
};

/* Gauges, read when /metrics is asked for. */
struct metrics_live {
    const char *version, *backend;
    double start_time; /* unix seconds */
    unsigned connections, unauthenticated, sessions;
    unsigned channels[MX_CHANS];
    unsigned vms_starting, vms_running, vms_stopping, vms_pooled;
    unsigned vms_hibernated; /* images under state_dir/users (vmm/hibernate.h) */
    unsigned max_vms;
    struct vm_memory mem; /* summed over burrowd's VMs */
    int ksm_ok;
    struct ksm_state ksm;
    const struct metrics_vm_net *net;
    size_t n_net;
};

void metrics_observe(struct mx_hist *h, double seconds);
/* Label helpers: the index for a method or channel type name (unknown: OTHER / -1). */
enum mx_method metrics_method(const char *name);
int metrics_chan(const char *type);
const char *metrics_chan_name(enum mx_chan c);
/* Write the whole exposition. 0, or -1 if the stream failed. */
int metrics_render(const struct metrics *m, const struct metrics_live *l, FILE *out);

#endif /* BURROW_BROKER_METRICS_H */
