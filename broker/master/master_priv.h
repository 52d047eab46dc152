/*
 * broker/master/master_priv.h - the master's state, shared by its parts and by
 * nothing else: master.c (listeners, sessions, signals, the loop),
 * master_events.c (what happened -> metrics and the audit log) and
 * master_ctl.c (control-socket requests: status, sessions, VMs).
 */
#ifndef BURROW_BROKER_MASTER_PRIV_H
#define BURROW_BROKER_MASTER_PRIV_H

#include <sys/socket.h>
#include <time.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker/master/audit.h"
#include "broker/cluster/cluster.h"
#include "broker/config.h"
#include "broker/master/control.h"
#include "broker/users/hostkeys.h"
#include "broker/master/metrics.h"
#include "broker/master/metrics_http.h"
#include "broker/master/penalty.h"
#include "broker/session/netchild.h"
#include "broker/users/userdb.h"
#include "broker/vm/vmmgr.h"
#include "common/log.h"

#define MASTER_SESS_MAX 4096
#define MASTER_SID_LEN  12 /* hex characters of a session id */
#define MASTER_FP_MAX   96 /* a key fingerprint as reported ("SHA256:..." is 50) */
#define MASTER_KILL_S   5  /* a killed session that has not gone by then gets SIGKILL */

/* A channel the net child reported open (CHAN_OPEN), until CHAN_CLOSE. */
struct mchan {
    unsigned no; /* 0: slot free */
    int type;    /* enum mx_chan */
    long start_ms;
};

struct msess {
    pid_t pid;
    int mfd;
    char id[MASTER_SID_LEN + 1]; /* random, for burrowctl session list/kill */
    struct sockaddr_storage sa;
    char addr[SESSION_ADDR_MAX + 16]; /* "host port N" */
    char ip[SESSION_ADDR_MAX];
    unsigned port;
    int authed;
    unsigned failures;
    int has_vm;
    char user[USERDB_NAME_MAX + 1];
    char method[64]; /* "publickey", or the methods of a multi-step login */
    char fingerprint[MASTER_FP_MAX];
    char vm_id[VMMGR_ID_MAX];
    long start;     /* monotonic seconds */
    long start_ms;  /* monotonic milliseconds */
    time_t started; /* wall clock, for burrowctl */
    struct mchan chans[SESSION_CHANS_MAX];
    int killed;         /* burrowctl session kill */
    long kill_deadline; /* monotonic seconds; 0 = no SIGKILL pending */
    int reaped;         /* its pid is gone: never signal it */
    int peer;           /* a peer session of the cluster's host-to-host link */
};

struct master {
    struct burrow_config cfg;
    const char *config_path;
    int config_explicit;
    int lfd[CONFIG_LISTEN_MAX];
    unsigned n_lfd;
    int sigfd;
    int stopping;
    struct msess *sess[MASTER_SESS_MAX];
    unsigned unauth;
    struct penalty pen;
    struct vmmgr vm;
    struct userdb db;
    struct control ctl;
    struct log_ratelimit fail_rl;
    /* operations: docs/operations.md, docs/audit.md */
    struct metrics mx;
    struct audit audit;
    struct metrics_http http;
    struct timespec started; /* CLOCK_REALTIME at start */
    long started_mono;       /* vmmgr_now() at start */
    struct cluster *cluster; /* [cluster] configured: broker/cluster/cluster.h; else NULL */
};

/* master_events.c: one call per event; each updates the metrics and writes the audit record. */
void ev_connection_accepted(struct master *m, const struct msess *s);
void ev_connection_refused(struct master *m, const struct msess *s, int reason, long wait_s);
void ev_connection_closed(struct master *m, const struct msess *s, const char *how);
void ev_auth(struct master *m, const struct msess *s, int ok, const char *user, const char *method,
             const char *fingerprint);
void ev_penalty(struct master *m, const struct msess *s, long penalty_s);
void ev_login(struct master *m, const struct msess *s, const char *vm_id, const char *no_vm_text);
/* A CHAN_OPEN / CHAN_CLOSE message from session i: 0, or BURROW_ERR_PROTOCOL (malformed). */
int ev_channel_report(struct master *m, struct msess *s, int type, const char *const *f);
/* Channels still open when the session ended (the net child died without reporting). */
void ev_channels_lost(struct master *m, struct msess *s);
void ev_vm(void *ctx, enum vmmgr_event ev, const struct uservm *vm, const char *user);
void ev_admin(struct master *m, const char *action, const char *target, const char *result,
              const struct ucred *who, const char *via);
/* The gauges /metrics shows, read now. */
void ev_render_metrics(void *ctx, FILE *out);

/* master_ctl.c: the control socket's requests (broker/master/control.h). */
/* The gauges as they are now (net: room for netcap VMs' TAP counters). */
void master_live(struct master *m, struct metrics_live *l, struct metrics_vm_net *net,
                 size_t netcap);
void master_ctl_request(void *ctx, const char *line, const struct ucred *who, FILE *out);
/* Sessions being killed that have not ended in MASTER_KILL_S: SIGKILL. */
void master_ctl_tick(struct master *m, long now);

#endif /* BURROW_BROKER_MASTER_PRIV_H */
