/* broker/master/master.c - burrowd's master: listen, fork sessions, signals (see master.h). */
#include "broker/master/master.h"
#include "broker/master/master_priv.h"
#include "broker/session/confine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker/session/agentconn.h"
#include "broker/buildinfo.h"
#include "broker/cli.h"
#include "broker/session/monitor.h"
#include "broker/mproto.h"
#include "broker/master/notify.h"
#include "broker/master/preflight.h"
#include "broker/session/session_exec.h"
#include "common/clock.h"
#include "common/err.h"

#define MASTER_POLL_MAX (MASTER_SESS_MAX + 2 * VMMGR_MAX + CONFIG_LISTEN_MAX + CONTROL_CLIENTS + 7)

static struct master M;

/* --- listening ------------------------------------------------------------- */

static int listen_one(const char *addr, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    memset(&ss, 0, sizeof(ss));
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *s6 = (void *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            return -1;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (void *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            return -1;
        len = sizeof(*s4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 128) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void close_listeners(struct master *m)
{
    for (unsigned i = 0; i < m->n_lfd; i++)
        close(m->lfd[i]);
    m->n_lfd = 0;
}

static int open_listeners(struct master *m)
{
    const struct config_listen *l = &m->cfg.ssh.listen;
    for (unsigned i = 0; i < l->n; i++) {
        int fd = listen_one(l->addr[i], m->cfg.ssh.port);
        if (fd < 0) {
            log_error("cannot listen on [%s]:%u: %s", l->addr[i], m->cfg.ssh.port, strerror(errno));
            continue;
        }
        log_info("listening on [%s]:%u", l->addr[i], m->cfg.ssh.port);
        m->lfd[m->n_lfd++] = fd;
    }
    return m->n_lfd ? 0 : BURROW_ERR_SYSTEM;
}

/* --- sessions -------------------------------------------------------------- */

static void describe_peer(struct msess *s)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (s->sa.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (void *)&s->sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
    } else if (s->sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (void *)&s->sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        if (strncmp(ip, "::ffff:", 7) == 0)
            memmove(ip, ip + 7, strlen(ip + 7) + 1);
        port = ntohs(s6->sin6_port);
    }
    snprintf(s->ip, sizeof(s->ip), "%s", ip);
    snprintf(s->addr, sizeof(s->addr), "%s port %u", ip, port);
    s->port = port;
}

/* A random id for burrowctl session list/kill (12 hex characters). */
static void new_session_id(char out[MASTER_SID_LEN + 1])
{
    unsigned char r[MASTER_SID_LEN / 2];
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)rand();
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void accept_one(struct master *m, int lfd, int peer)
{
    struct msess tmp;
    socklen_t salen = sizeof(tmp.sa);
    memset(&tmp, 0, sizeof(tmp));
    tmp.peer = peer;
    int fd = accept4(lfd, (struct sockaddr *)&tmp.sa, &salen, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    /*
     * TCP keep-alive, as OpenSSH's TCPKeepAlive (on by default): a client
     * that vanished without a word (its host or network gone) ends its
     * session instead of leaving it waiting for ever.
     */
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) != 0)
        log_debug("connection: SO_KEEPALIVE: %s", strerror(errno));
    describe_peer(&tmp);
    long now = vmmgr_now();
    long wait = penalty_refused(&m->pen, &tmp.sa, now);
    if (wait > 0) {
        if (log_ratelimit_ok(&m->fail_rl, 20, 10))
            log_info("refused %s: penalised for %lds after repeated failures", tmp.addr, wait);
        ev_connection_refused(m, &tmp, MX_REFUSED_PENALTY, wait);
        close(fd);
        return;
    }
    unsigned rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
        rnd = (unsigned)rand();
    if (penalty_startups_drop(&m->cfg.ssh.max_startups, m->unauth, rnd)) {
        if (log_ratelimit_ok(&m->fail_rl, 20, 10))
            log_info("dropped %s: max_startups (%u unauthenticated)", tmp.addr, m->unauth);
        ev_connection_refused(m, &tmp, MX_REFUSED_MAX_STARTUPS, 0);
        close(fd);
        return;
    }
    int slot = -1;
    for (int i = 0; i < MASTER_SESS_MAX; i++)
        if (!m->sess[i]) {
            slot = i;
            break;
        }
    int sp[2];
    if (slot < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
        ev_connection_refused(m, &tmp, MX_REFUSED_CAPACITY, 0);
        close(fd);
        return;
    }
    new_session_id(tmp.id);
    /* A session (an SSH client's, or a cluster peer's, docs/cluster.md) is a fresh burrowd in
     * its own pid namespace: nothing of the master's memory. */
    pid_t pid = session_spawn(&m->cfg, fd, sp[1], tmp.ip, m->config_path,
                              peer ? SESSION_PEER_ARG : SESSION_EXEC_ARG);
    close(fd);
    close(sp[1]);
    struct msess *s = pid < 0 ? NULL : malloc(sizeof(*s));
    if (!s) {
        if (pid > 0)
            kill(pid, SIGKILL);
        close(sp[0]);
        ev_connection_refused(m, &tmp, MX_REFUSED_CAPACITY, 0);
        return;
    }
    *s = tmp;
    s->pid = pid;
    s->mfd = sp[0];
    s->start = now;
    s->start_ms = clock_now_ms();
    s->started = time(NULL);
    fcntl(s->mfd, F_SETFL, O_NONBLOCK);
    m->sess[slot] = s;
    m->unauth++;
    log_debug("connection %s from %s (pid %d)", s->id, s->addr, (int)pid);
    ev_connection_accepted(m, s);
}

static int on_session_msg(struct master *m, int i);

static void session_ended(struct master *m, int i, int status)
{
    struct msess *s = m->sess[i];
    long dur = vmmgr_now() - s->start;
    /* Messages it sent just before exiting (its last AUTH_FAIL) still count. */
    s->reaped = 1;
    for (int n = 0; n < 64 && on_session_msg(m, i) == 0; n++)
        ;
    vmmgr_forget_waiter(&m->vm, i);
    cluster_forget(m->cluster, i);
    ev_channels_lost(m, s);
    if (s->authed) {
        log_info("logout: user=%s from=%s vm=%s duration=%lds", s->user, s->addr,
                 s->vm_id[0] ? s->vm_id : "none", dur);
        if (s->has_vm)
            vmmgr_session_end(&m->vm, s->user);
    } else {
        m->unauth--;
        if (s->failures) {
            ev_penalty(m, s, penalty_strike(&m->pen, &s->sa, vmmgr_now()));
            log_info("connection closed without login: from=%s failures=%u", s->addr, s->failures);
        }
    }
    const char *how = s->killed ? "killed" : s->authed ? "logout" : "no_login";
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    /* (PID 1 of its namespace, a session ends itself on SIGTERM: a signal death is a crash.) */
    if (sig && sig != SIGKILL) {
        log_warn("session process %d (%s) crashed: signal %d", (int)s->pid, s->addr, sig);
        how = "crashed";
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == SESSION_EXIT_GRACE) {
        how = "login_grace_time";
    }
    ev_connection_closed(m, s, how);
    close(s->mfd);
    free(s);
    m->sess[i] = NULL;
}

/* Reap session processes only: VM supervisors are waited for by the VM
 * manager when their pidfd fires, so it sees their exit status. */
static void reap(struct master *m)
{
    int status;
    for (int i = 0; i < MASTER_SESS_MAX; i++)
        if (m->sess[i] && waitpid(m->sess[i]->pid, &status, WNOHANG) == m->sess[i]->pid)
            session_ended(m, i, status);
}

static void send_to(struct msess *s, int type, const char *a, const char *b)
{
    const char *f[2] = {a, b};
    if (mproto_send(s->mfd, type, 2, f) != 0)
        log_debug("session %d unreachable", (int)s->pid);
}

/* A key fingerprint as the monitor reported it ("SHA256:" + base64), or "" if it is not one. */
static void fingerprint_copy(char out[MASTER_FP_MAX], const char *fp)
{
    size_t n = strlen(fp);
    out[0] = 0;
    if (n < MASTER_FP_MAX && strncmp(fp, "SHA256:", 7) == 0 &&
        strspn(fp + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
            n - 7)
        memcpy(out, fp, n + 1);
}

/*
 * A connection to the session user's VM, for one channel: the master opens
 * it (it may reach every VM's socket; the session's monitor has no socket()
 * or connect() at all) and sends "CONNECT 1024" without waiting; the
 * monitor reads the VMM's answer on the fd it is passed.
 */
static void vm_connect(struct master *m, struct msess *s)
{
    struct uservm *vm = s->has_vm ? vmmgr_find(&m->vm, s->user) : NULL;
    char err[AGENTCONN_ERR_MAX];
    int fd;
    if (!vm || vm->state != VM_RUNNING) {
        send_to(s, MPROTO_VM_CONN_ERR, "your environment stopped; log in again", NULL);
        return;
    }
    if (agentconn_open(vm->sock, &fd, err, sizeof(err)) != 0) {
        log_warn("%s: cannot reach the VM's agent: %s", s->user, err);
        send_to(s, MPROTO_VM_CONN_ERR, err, NULL);
        return;
    }
    const char *none[1] = {NULL};
    if (mproto_send_fd(s->mfd, MPROTO_VM_CONN, 0, none, fd) != 0)
        log_debug("session %d unreachable", (int)s->pid);
    close(fd);
}

/* One message from session i: 0 handled, else a negative code (AGAIN, CLOSED, bad). */
/* A session whose message the table or its state refuses: killed. */
static int broke_protocol(struct msess *s)
{
    log_warn("session %d (%s) broke the master protocol: killed", (int)s->pid, s->addr);
    if (!s->reaped)
        kill(s->pid, SIGKILL);
    return BURROW_ERR_PROTOCOL;
}

static int on_session_msg(struct master *m, int i)
{
    struct msess *s = m->sess[i];
    struct mproto_msg msg;
    /* Which message may come now, and in which form: broker/mproto.h's table. */
    int r = mproto_recv_checked(s->mfd, MPROTO_MONITOR_TO_MASTER,
                                s->authed ? MPROTO_POSTAUTH : MPROTO_PREAUTH, &msg, NULL,
                                MPROTO_NOWAIT, NULL);
    if (r == BURROW_ERR_AGAIN || r == BURROW_ERR_CLOSED)
        return r; /* the exit is handled by reap() */
    if (r == BURROW_ERR_PERM || (r == BURROW_ERR_FORMAT && msg.n >= 1))
        return broke_protocol(s);
    if (r != 0) {
        log_warn("session %d (%s) sent a bad message: killed", (int)s->pid, s->addr);
        if (!s->reaped)
            kill(s->pid, SIGKILL);
        return r;
    }
    switch (msg.type) {
    case MPROTO_AUTH_OK:
        if (userdb_name_check(msg.f[0], NULL) != 0)
            break;
        s->authed = 1;
        m->unauth--;
        memcpy(s->user, msg.f[0], strlen(msg.f[0]) + 1); /* name_check bounded it */
        snprintf(s->method, sizeof(s->method), "%.63s", msg.f[1]);
        fingerprint_copy(s->fingerprint, msg.n > 2 ? msg.f[2] : "");
        penalty_clear(&m->pen, &s->sa);
        ev_auth(m, s, 1, s->user, s->method, s->fingerprint);
        return 0;
    case MPROTO_AUTH_FAIL: {
        char fp[MASTER_FP_MAX], method[16];
        s->failures++;
        snprintf(method, sizeof(method), "%.15s", msg.n > 1 ? msg.f[1] : "?");
        if (log_ratelimit_ok(&m->fail_rl, 20, 10)) {
            char u[2 * USERDB_NAME_MAX];
            log_escape(u, sizeof(u), msg.f[0]);
            log_info("auth failure: user=%s from=%s method=%.63s", u, s->addr,
                     msg.n > 1 ? msg.f[1] : "?");
        }
        fingerprint_copy(fp, msg.n > 2 ? msg.f[2] : "");
        ev_auth(m, s, 0, msg.f[0], method, fp);
        return 0;
    }
    case MPROTO_CHAN_OPEN:
    case MPROTO_CHAN_CLOSE: {
        const char *f[3] = {msg.f[0], msg.f[1], msg.f[2]};
        if (ev_channel_report(m, s, msg.type, f) == 0)
            return 0;
        break;
    }
    case MPROTO_VM_REQ: {
        struct user_record rec;
        char err[USERDB_ERR_MAX];
        if (strcmp(msg.f[0], s->user) != 0 || s->has_vm)
            break;
        if (userdb_get(&m->db, s->user, &rec, err, sizeof(err)) != 0 || rec.locked) {
            send_to(s, MPROTO_VM_ERR, "your account is not available", NULL);
            return 0;
        }
        if (m->cluster)
            cluster_request(m->cluster, &m->vm, &rec, i, s->peer);
        else
            vmmgr_request(&m->vm, &rec, i);
        return 0;
    }
    case MPROTO_VM_CONNECT:
        /* (Not has_vm: a VM_GONE may cross the request; the answer says so.) */
        if (strcmp(msg.f[0], s->user) != 0)
            break;
        vm_connect(m, s);
        return 0;
    default:
        break;
    }
    return broke_protocol(s);
}

/* --- VM manager hooks ------------------------------------------------------- */

static void hook_ready(void *ctx, int waiter, struct uservm *vm)
{
    struct master *m = ctx;
    struct msess *s = waiter >= 0 && waiter < MASTER_SESS_MAX ? m->sess[waiter] : NULL;
    if (!s) {
        vmmgr_session_end(&m->vm, vm->user);
        return;
    }
    s->has_vm = 1;
    snprintf(s->vm_id, sizeof(s->vm_id), "%s", vm->id);
    send_to(s, MPROTO_VM_OK, vm->sock, vm->id);
    log_info("login: user=%s from=%s method=%s vm=%s", s->user, s->addr, s->method, vm->id);
    ev_login(m, s, vm->id, NULL);
}

static void hook_failed(void *ctx, int waiter, const char *text)
{
    struct master *m = ctx;
    struct msess *s = waiter >= 0 && waiter < MASTER_SESS_MAX ? m->sess[waiter] : NULL;
    if (!s)
        return;
    send_to(s, MPROTO_VM_ERR, text, NULL);
    log_info("login: user=%s from=%s method=%s vm=none (%s)", s->user, s->addr, s->method, text);
    ev_login(m, s, NULL, text);
}

static void hook_gone(void *ctx, const char *user, const char *text)
{
    struct master *m = ctx;
    for (int i = 0; i < MASTER_SESS_MAX; i++) {
        struct msess *s = m->sess[i];
        if (s && s->has_vm && strcmp(s->user, user) == 0) {
            send_to(s, MPROTO_VM_GONE, text, NULL);
            s->has_vm = 0;
        }
    }
}

/* --- cluster hooks (docs/cluster.md; the logic is in broker/cluster/) ------ */

static void hook_routed(void *ctx, int waiter, const struct user_record *rec,
                        const struct vm_backend_ops *be, const char *text)
{
    struct master *m = ctx;
    if (text)
        hook_failed(m, waiter, text);
    else
        vmmgr_request_on(&m->vm, rec, waiter, be);
}

static void hook_fence(void *ctx, const char *why)
{
    struct master *m = ctx;
    log_warn("cluster: stopping every VM: %s", why);
    cluster_fence_all(&m->vm);
}

static void hook_vm_event(void *ctx, enum vmmgr_event ev, const struct uservm *vm, const char *user)
{
    struct master *m = ctx;
    ev_vm(ctx, ev, vm, user);
    cluster_vm_event(m->cluster, ev, vm);
}

static int setup_cluster(struct master *m)
{
    struct cluster_hooks ch = {hook_routed, hook_fence, m};
    if (!cluster_enabled(&m->cfg))
        return 0;
    return cluster_start(&m->cluster, &m->cfg, &ch);
}

/* --- signals and reload ---------------------------------------------------- */

static void start_metrics(struct master *m)
{
    char err[CONFIG_ERR_MAX];
    if (metrics_http_start(&m->http, &m->cfg.metrics.listen, ev_render_metrics, m, err,
                           sizeof(err)) != 0)
        log_error("metrics unavailable: %s", err);
    else if (m->cfg.metrics.listen.kind != METRICS_OFF)
        log_info("metrics on %s (GET /metrics)", m->cfg.metrics.listen.text);
}

static void reload(struct master *m)
{
    struct burrow_config next;
    char err[CONFIG_ERR_MAX];
    notify_send("RELOADING=1");
    if (config_load(&next, m->config_path, m->config_explicit ? 0 : CONFIG_LOAD_OPTIONAL, err,
                    sizeof(err)) != 0) {
        log_error("reload refused, keeping the running configuration: %s", err);
        notify_send("READY=1");
        return;
    }
    int relisten = next.ssh.port != m->cfg.ssh.port ||
                   strcmp(next.ssh.listen.text, m->cfg.ssh.listen.text) != 0;
    if (strcmp(next.paths.run_dir, m->cfg.paths.run_dir) != 0 ||
        strcmp(next.paths.state_dir, m->cfg.paths.state_dir) != 0) {
        log_warn("reload: [paths] changes need a restart; keeping the old paths");
        memcpy(&next.paths, &m->cfg.paths, sizeof(next.paths));
    }
    int remetrics = strcmp(next.metrics.listen.text, m->cfg.metrics.listen.text) != 0;
    /* Sessions load the host keys from it; only a start generates missing ones. */
    if (strcmp(next.ssh.host_key_dir, m->cfg.ssh.host_key_dir) != 0) {
        log_warn("reload: a [ssh] host_key_dir change needs a restart; keeping the old one");
        memcpy(next.ssh.host_key_dir, m->cfg.ssh.host_key_dir, sizeof(next.ssh.host_key_dir));
    }
    m->cfg = next;
    if (relisten) {
        close_listeners(m);
        if (open_listeners(m) != 0)
            log_error("reload: no listening socket could be opened");
    }
    if (remetrics) {
        metrics_http_stop(&m->http);
        start_metrics(m);
    }
    /* The audit file again: logrotate moved it, or [audit] names another. */
    if (audit_reopen(&m->audit, &m->cfg, err, sizeof(err)) != 0)
        log_error("reload: %s; audit records still go to the old file", err);
    log_info("configuration reloaded from %s (running sessions kept)", m->config_path);
    confine_announce_seccomp_mode(&m->cfg);
    notify_send("READY=1");
}

static void on_signal(struct master *m)
{
    struct signalfd_siginfo si;
    while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGHUP:
            reload(m);
            break;
        case SIGTERM:
        case SIGINT:
            m->stopping = 1;
            break;
        case SIGCHLD:
            reap(m);
            break;
        default:
            break;
        }
    }
}

/* --- main loop --------------------------------------------------------------- */

static int loop(struct master *m)
{
    static struct pollfd pf[MASTER_POLL_MAX];
    static int owner[MASTER_POLL_MAX]; /* what each pollfd is */
    enum {
        O_SIG = -1,
        O_LISTEN = -2,
        O_VM = -3,
        O_CTL = -4,
        O_METRICS = -5,
        O_PEER = -6,
        O_CLUSTER = -7
    };
    long last_tick = vmmgr_now();
    while (!m->stopping) {
        unsigned n = 0;
        pf[n] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
        owner[n++] = O_SIG;
        for (unsigned i = 0; i < m->n_lfd; i++) {
            pf[n] = (struct pollfd){.fd = m->lfd[i], .events = POLLIN};
            owner[n++] = O_LISTEN;
        }
        int vfds[2 * VMMGR_MAX];
        unsigned nv = vmmgr_pollfds(&m->vm, vfds, 2 * VMMGR_MAX);
        for (unsigned i = 0; i < nv; i++) {
            pf[n] = (struct pollfd){.fd = vfds[i], .events = POLLIN};
            owner[n++] = O_VM;
        }
        int cfds[CONTROL_CLIENTS + 1];
        unsigned nc = control_pollfds(&m->ctl, cfds, CONTROL_CLIENTS + 1);
        for (unsigned i = 0; i < nc; i++) {
            pf[n] = (struct pollfd){.fd = cfds[i], .events = POLLIN};
            owner[n++] = O_CTL;
        }
        if (metrics_http_fd(&m->http) >= 0) {
            pf[n] = (struct pollfd){.fd = metrics_http_fd(&m->http), .events = POLLIN};
            owner[n++] = O_METRICS;
        }
        if (cluster_peer_fd(m->cluster) >= 0) {
            pf[n] = (struct pollfd){.fd = cluster_peer_fd(m->cluster), .events = POLLIN};
            owner[n++] = O_PEER;
        }
        int clfd[1];
        if (cluster_pollfds(m->cluster, clfd, 1) && clfd[0] >= 0) {
            pf[n] = (struct pollfd){.fd = clfd[0], .events = POLLIN};
            owner[n++] = O_CLUSTER;
        }
        for (int i = 0; i < MASTER_SESS_MAX; i++)
            if (m->sess[i]) {
                pf[n] = (struct pollfd){.fd = m->sess[i]->mfd, .events = POLLIN};
                owner[n++] = i;
            }
        if (poll(pf, n, 1000) < 0 && errno != EINTR)
            return EXIT_RUNTIME;
        for (unsigned i = 0; i < n; i++) {
            if (!pf[i].revents)
                continue;
            if (owner[i] == O_SIG)
                on_signal(m);
            else if ((owner[i] == O_LISTEN || owner[i] == O_PEER) && !m->stopping)
                accept_one(m, pf[i].fd, owner[i] == O_PEER);
            else if (owner[i] == O_CLUSTER)
                cluster_event(m->cluster, pf[i].fd);
            else if (owner[i] == O_VM)
                vmmgr_event(&m->vm, pf[i].fd);
            else if (owner[i] == O_CTL)
                control_event(&m->ctl, pf[i].fd);
            else if (owner[i] == O_METRICS)
                metrics_http_run(&m->http);
            else if (owner[i] >= 0 && m->sess[owner[i]] && m->sess[owner[i]]->mfd == pf[i].fd)
                (void)on_session_msg(m, owner[i]);
        }
        long now = vmmgr_now();
        if (now != last_tick) {
            last_tick = now;
            vmmgr_tick(&m->vm, now);
            cluster_load(m->cluster, vmmgr_count(&m->vm));
            master_ctl_tick(m, now);
            metrics_http_run(&m->http); /* connection timeouts */
        }
    }
    return EXIT_OK;
}

static int setup_signals(struct master *m)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    m->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    return m->sigfd < 0 ? BURROW_ERR_SYSTEM : 0;
}

/*
 * Generate missing host keys (first start) and check that libssh takes
 * them. The master then lets them go: each session process loads them
 * itself (broker/session/session_exec.h), so no private key stays in the master.
 */
static int setup_keys(struct master *m)
{
    const char *dir = m->cfg.ssh.host_key_dir;
    struct hostkeys hk;
    ssh_bind bind;
    if (hostkeys_load(&hk, dir, 1) != 0)
        return BURROW_ERR_SYSTEM;
    if (hostkeys_any_generated(&hk)) {
        printf("burrowd: generated SSH host keys in %s:\n", dir);
        hostkeys_print(&hk, dir, stdout);
        fflush(stdout);
    }
    int r = hostkeys_server_bind(&hk, &m->cfg, &bind); /* keys and algorithm lists usable */
    if (r == 0)
        ssh_bind_free(bind);
    return r;
}

/* A preflight problem at start: on stderr (the unit's journal) and in the log. */
static void report_problem(void *ctx, const char *problem)
{
    (void)ctx;
    log_error("cannot start: %s", problem);
}

/* Audit log and metrics endpoint: a configured one that cannot open stops the start. */
static int setup_operations(struct master *m)
{
    char err[CONFIG_ERR_MAX];
    if (audit_open(&m->audit, &m->cfg, "burrowd", NULL, err, sizeof(err)) != 0)
        return cli_err(EXIT_RUNTIME, "%s", err);
    if (metrics_http_start(&m->http, &m->cfg.metrics.listen, ev_render_metrics, m, err,
                           sizeof(err)) != 0)
        return cli_err(EXIT_RUNTIME, "%s", err);
    if (m->cfg.metrics.listen.kind != METRICS_OFF)
        log_info("metrics on %s (GET /metrics)", m->cfg.metrics.listen.text);
    return EXIT_OK;
}

int master_run(const char *config_path, int config_explicit)
{
    struct master *m = &M;
    struct preflight pf;
    char err[CONFIG_ERR_MAX];
    memset(m, 0, sizeof(*m));
    m->config_path = config_path;
    m->config_explicit = config_explicit;
    clock_gettime(CLOCK_REALTIME, &m->started);
    m->started_mono = vmmgr_now();
    if (config_load(&m->cfg, config_path, config_explicit ? 0 : CONFIG_LOAD_OPTIONAL, err,
                    sizeof(err)) != 0)
        return cli_err(EXIT_USAGE, "%s", err);
    confine_announce_seccomp_mode(&m->cfg);
    if (geteuid() != 0)
        log_warn("not running as root: the sandbox backend and privilege drops need root");
    /* What every login needs is checked now, not at the first login (burrowd -t runs the same). */
    if (preflight_check(&m->cfg, &pf, report_problem, NULL) != 0)
        return EXIT_RUNTIME;
    if (ssh_init() != SSH_OK)
        return cli_err(EXIT_RUNTIME, "libssh initialisation failed");
    mkdir(m->cfg.paths.state_dir, 0755);
    mkdir(m->cfg.paths.run_dir, 0755);
    if (setup_keys(m) != 0)
        return cli_err(EXIT_RUNTIME, "host keys unavailable in %s", m->cfg.ssh.host_key_dir);
    if (userdb_open(&m->db, &m->cfg, USERDB_CREATE) != 0)
        return cli_err(EXIT_RUNTIME, "cannot open the user database in %s", m->cfg.paths.state_dir);
    if (setup_signals(m) != 0)
        return cli_err(EXIT_RUNTIME, "signalfd: %s", strerror(errno));
    int rc = setup_operations(m);
    if (rc != EXIT_OK)
        return rc;
    struct vmmgr_hooks hooks = {hook_ready, hook_failed, hook_gone, m, hook_vm_event};
    if (vmmgr_init(&m->vm, &m->cfg, &hooks) != 0)
        return cli_err(EXIT_RUNTIME, "no usable VM backend");
    snprintf(m->vm.guest_image, sizeof(m->vm.guest_image), "%s", pf.guest_image);
    if (setup_cluster(m) != 0)
        return cli_err(EXIT_RUNTIME, "cannot join the cluster ([cluster], docs/cluster.md)");
    if (control_open(&m->ctl, &m->cfg, master_ctl_request, m) != 0)
        log_warn("control socket unavailable: burrowctl cannot reach this daemon");
    if (open_listeners(m) != 0)
        return cli_err(EXIT_RUNTIME, "no listening socket could be opened");
    /* Everything the master opens once is open: from here on, it and its children lose
     * what none of them needs (modules, kexec, ptrace, eBPF, ...). */
    if (confine_master_filter(&m->cfg) != 0)
        return cli_err(EXIT_RUNTIME, "cannot load the master's seccomp filter");
    log_info("burrowd %s ready: %u listening socket(s), %u VM(s) re-adopted", burrow_version,
             m->n_lfd, vmmgr_count(&m->vm));
    if (notify_send("READY=1") != 0)
        log_warn("readiness notification failed: %s", strerror(errno));
    rc = loop(m);
    notify_send("STOPPING=1");
    close_listeners(m);
    control_close(&m->ctl);
    metrics_http_stop(&m->http);
    audit_close(&m->audit);
    log_info("burrowd stopping: no longer accepting; running sessions and VMs continue");
    return rc;
}
