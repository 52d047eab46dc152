/*
 * guest/agent.h - burrow-agent's internal interfaces.
 *
 * The agent is one main process (agent.c: listener, control connection,
 * reaper of everything, PR_SET_CHILD_SUBREAPER) plus one process per session
 * (agent_session.c), forked from the main process after the connection is
 * accepted. A session process speaks the protocol with the broker, starts the
 * user's process (agent_spawn.c) and relays bytes with bounded buffers.
 * Files: agent_net.c (vsock/unix addresses), agent_users.c (passwd/group),
 * agent_identity.c (applying an IDENTITY), agent_control.c (port 1025),
 * agent_reclaim.c (giving memory back when the VMM asks).
 */
#ifndef BURROW_GUEST_AGENT_H
#define BURROW_GUEST_AGENT_H

#include <stdint.h>
#include <sys/types.h>

#include "common/proto.h"

#define AGENT_EXIT_POWEROFF 100 /* burrow-init powers the VM off when the agent exits so */

#define AGENT_PATH_MAX     512
#define AGENT_HEARTBEAT_MS 5000 /* default HEARTBEAT interval */

/* A transport address: vsock:CID:PORT, vsock:PORT (listen), unix:PATH, none. */
enum addr_kind { ADDR_NONE = 0, ADDR_VSOCK, ADDR_UNIX };
struct agent_addr {
    enum addr_kind kind;
    uint32_t cid, port;
    char path[108];
};

struct agent_config {
    struct agent_addr listen;        /* default vsock:1024 */
    struct agent_addr control;       /* default vsock:2:1025 */
    char etc[AGENT_PATH_MAX];        /* passwd, group live here (default /etc) */
    char hooks[AGENT_PATH_MAX];      /* post-fork hooks (default ETC/burrow/post-fork.d) */
    char home_root[AGENT_PATH_MAX];  /* /home */
    char home_dev[64];               /* block device name for the home disk, "" = none */
    char random_dev[AGENT_PATH_MAX]; /* /dev/random */
    char sftp_server[AGENT_PATH_MAX];
    int hook_timeout_s;
    int home_timeout_s;
    int heartbeat_ms; /* HEARTBEAT interval (--heartbeat S, --heartbeat-ms MS) */
    int no_clock;     /* never call clock_settime */
    int allow_root;   /* for --control none (no identity) */
};

/* What the sessions need to know about the applied identity. */
struct agent_state {
    int ready;                         /* sessions are served only when ready */
    int allow_root;                    /* from the identity or the config */
    char home_mounted[AGENT_PATH_MAX]; /* where the home disk is mounted, "" = not */
};

/* ---- agent_net.c ---- */
int addr_parse(const char *s, struct agent_addr *a, int for_listen);
/* Listening socket (SOCK_CLOEXEC|SOCK_NONBLOCK), or -1 with errno. */
int net_listen(const struct agent_addr *a);
/* Connected blocking socket (SOCK_CLOEXEC), or -1 with errno. */
int net_connect(const struct agent_addr *a);
/* Write all of [p, p+n) to a (possibly nonblocking) fd, waiting up to timeout_ms. */
int net_write_all(int fd, const void *p, size_t n, int timeout_ms);
/*
 * Read into `in` until one whole frame is available or timeout_ms passes.
 * 0 with *f (consumed from in), BURROW_ERR_CLOSED, _TIMEOUT, or a framing error.
 */
int net_read_frame(int fd, struct buf *in, struct proto_frame *f, int timeout_ms);
/* A tcp connection for ssh -L (nonblocking once connected), or -1 with err set. */
int tcp_connect(const char *host, uint16_t port, char *err, size_t errsz);

/* ---- agent_reclaim.c ---- */
/* RECLAIM (PROTO_RECLAIM_F_* flags) with proc = "/proc"; the answer says how it went. */
void agent_reclaim(const char *proc, uint32_t flags, struct proto_reclaim_answer *out);

/* ---- agent_users.c ---- */
struct agent_user {
    char name[PROTO_NAME_MAX + 1];
    uid_t uid;
    gid_t gid;
    char home[AGENT_PATH_MAX];
    char shell[AGENT_PATH_MAX];
};
#define AGENT_GROUPS_MAX 64
int users_lookup(const char *etc, const char *name, struct agent_user *u);
int users_groups(const char *etc, const char *name, gid_t primary, gid_t *groups, int *n);
/* Add or replace NAME in ETC/passwd and ETC/group (atomic rewrite). */
int users_install(const char *etc, const struct agent_user *u);
/* A name safe for passwd/group and paths: [A-Za-z0-9._-], not starting with - or . */
int users_name_ok(const char *name);
struct agent_state;
/* The user an OPEN names, looked up; root only with allow_root. err says why not. */
int users_for_session(const struct agent_config *cfg, const struct agent_state *st,
                      struct proto_str user, struct agent_user *u, char *err, size_t errsz);
/* setgroups, setgid, setuid to u for good (and check root cannot be regained). */
int users_drop_to(const struct agent_user *u, const gid_t *groups, int n_groups);

/* ---- agent_spawn.c ---- */
struct spawned {
    pid_t pid;
    int in_fd;  /* child's stdin (pipe write end) or pty master */
    int out_fd; /* child's stdout (pipe read end) or pty master (same fd) */
    int err_fd; /* child's stderr (pipe read end) or -1 with a pty */
    int pty;
};
/* Start the session's process; err is a message for the ERROR frame. */
int spawn_session(const struct agent_config *cfg, const struct proto_open *o,
                  const struct agent_user *u, struct spawned *out, char *err, size_t errsz);
/* May the broker set this variable? A shell identifier, not HOME/USER/LOGNAME/SHELL (tests). */
int env_allowed(const char *name);

/* ---- agent_session.c ---- */
/* Runs one session on an accepted connection; never returns. */
void session_main(int sock, const struct agent_config *cfg, const struct agent_state *st)
    __attribute__((noreturn));

/* ---- agent_fwd.c: listeners (ssh -R, ssh -A) and the hub that hands connections on ---- */
/* In the main process, before any session: the socketpair between sessions and the hub. */
int fwd_hub_init(void);
/* The main process's end (poll it; fwd_hub_step when readable or at the deadline). */
int fwd_hub_fd(void);
void fwd_hub_step(void);
int64_t fwd_hub_deadline(void);
/* In a session process right after fork: drop the hub's end and the waiting connections. */
void fwd_hub_in_child(void);
/* OPEN(accept): the connection the hub holds for (token, id), nonblocking, or err says why. */
int fwd_claim(const uint8_t *token, uint32_t id, int *fd_out, char *err, size_t errsz);
/* OPEN(listen): a listener session, as the user; out holds what is queued for the broker. */
void fwd_listen_session(int sock, struct buf *out, const struct agent_config *cfg,
                        const struct agent_state *st, const struct proto_open *o)
    __attribute__((noreturn));

/* ---- agent_netcfg.c ---- */
/*
 * The identity's network step: MAC, address, default route on eth0 and
 * ETC/resolv.conf. Returns a PROTO_STEP_* outcome; text says what happened.
 */
uint32_t netcfg_apply(const struct agent_config *cfg, const struct proto_identity *id, char *text,
                      size_t textsz);

/* ---- agent_identity.c ---- */
/*
 * Apply an identity step by step; fills ready (texts point into `texts`).
 * Updates st->allow_root and st->home_mounted.
 */
void identity_apply(const struct agent_config *cfg, struct agent_state *st,
                    const struct proto_identity *id, struct proto_ready *ready,
                    char texts[PROTO_STEP_COUNT][256]);
/* sync and unmount the home disk; 0 or negative; text says what happened. */
int identity_shutdown(struct agent_state *st, char *text, size_t textsz);
/*
 * The VM is about to be hibernated: sync every filesystem (the home disk's
 * errors reported); nothing is unmounted, every process keeps running.
 */
int identity_hibernate(const struct agent_state *st, char *text, size_t textsz);
/*
 * Resumed from a hibernated image: only what a running system can take
 * without being clobbered: fresh entropy, the wall clock and, with
 * PROTO_ID_F_NET, the network. Users, hostname, home and hooks are kept
 * (SKIPPED in READY).
 */
void identity_resume(const struct agent_config *cfg, const struct proto_resume *rs,
                     struct proto_ready *ready, char texts[PROTO_STEP_COUNT][256]);

/* ETC/skel into the user's home, once per home (agent_skel.c); note gets "; N files ..." or "". */
int skel_apply(const struct agent_config *cfg, const struct agent_user *u, char *note,
               size_t notesz);
/*
 * The login shell for a user whose identity names /bin/sh or no shell: the
 * absolute path in ETC/burrow/default-shell if that file exists and names an
 * executable (the Debian rootfs says /bin/bash), else /bin/sh.
 */
void identity_default_shell(const char *etc, char *shell, size_t shellsz);

/* ---- agent_control.c ---- */
struct control;
/* The control connection lives in the main loop: fd to poll (or -1), and when to call again. */
struct control *control_new(const struct agent_config *cfg, struct agent_state *st);
int control_fd(const struct control *c);
int64_t control_deadline_ms(const struct control *c);
/* Handle readiness / timers. Returns 1 if the agent should power off. */
int control_step(struct control *c, int readable);

#endif /* BURROW_GUEST_AGENT_H */
