/* broker/master.c - burrowd's master: listen, fork sessions, signals (see master.h). */
#include "broker/master.h"
#include "broker/sandbox.h"

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
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker/agentconn.h"
#include "broker/cli.h"
#include "broker/control.h"
#include "broker/hostkeys.h"
#include "broker/mproto.h"
#include "broker/notify.h"
#include "broker/penalty.h"
#include "broker/session.h"
#include "broker/session_exec.h"
#include "broker/userdb.h"
#include "broker/vmmgr.h"
#include "common/err.h"
#include "common/log.h"

#define MASTER_SESS_MAX 4096
#define MASTER_POLL_MAX (MASTER_SESS_MAX + 2 * VMMGR_MAX + CONFIG_LISTEN_MAX + CONTROL_CLIENTS + 4)

struct msess {
    pid_t pid;
    int mfd;
    struct sockaddr_storage sa;
    char addr[SESSION_ADDR_MAX + 16]; /* "host port N" */
    char ip[SESSION_ADDR_MAX];
    int authed;
    unsigned failures;
    int has_vm;
    char user[USERDB_NAME_MAX + 1];
    char method[16];
    char vm_id[VMMGR_ID_MAX];
    long start;
    int reaped; /* its pid is gone: never signal it */
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
};

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
}

static void accept_one(struct master *m, int lfd)
{
    struct msess tmp;
    socklen_t salen = sizeof(tmp.sa);
    memset(&tmp, 0, sizeof(tmp));
    int fd = accept4(lfd, (struct sockaddr *)&tmp.sa, &salen, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    describe_peer(&tmp);
    long now = vmmgr_now();
    long wait = penalty_refused(&m->pen, &tmp.sa, now);
    if (wait > 0) {
        if (log_ratelimit_ok(&m->fail_rl, 20, 10))
            log_info("refused %s: penalised for %lds after repeated failures", tmp.addr, wait);
        close(fd);
        return;
    }
    unsigned rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
        rnd = (unsigned)rand();
    if (penalty_startups_drop(&m->cfg.ssh.max_startups, m->unauth, rnd)) {
        if (log_ratelimit_ok(&m->fail_rl, 20, 10))
            log_info("dropped %s: max_startups (%u unauthenticated)", tmp.addr, m->unauth);
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
        close(fd);
        return;
    }
    /* A fresh burrowd in its own pid namespace: nothing of the master's memory goes along. */
    pid_t pid = session_spawn(&m->cfg, fd, sp[1], tmp.ip, m->config_path);
    close(fd);
    close(sp[1]);
    if (pid < 0) {
        close(sp[0]);
        return;
    }
    struct msess *s = malloc(sizeof(*s));
    if (!s) {
        kill(pid, SIGKILL);
        close(sp[0]);
        return;
    }
    *s = tmp;
    s->pid = pid;
    s->mfd = sp[0];
    s->start = now;
    fcntl(s->mfd, F_SETFL, O_NONBLOCK);
    m->sess[slot] = s;
    m->unauth++;
    log_debug("connection from %s (pid %d)", s->addr, (int)pid);
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
    if (s->authed) {
        log_info("logout: user=%s from=%s vm=%s duration=%lds", s->user, s->addr,
                 s->vm_id[0] ? s->vm_id : "none", dur);
        if (s->has_vm)
            vmmgr_session_end(&m->vm, s->user);
    } else {
        m->unauth--;
        if (s->failures) {
            penalty_strike(&m->pen, &s->sa, vmmgr_now());
            log_info("connection closed without login: from=%s failures=%u", s->addr, s->failures);
        }
    }
    /* (PID 1 of its namespace, a session ends itself on SIGTERM: a signal death is a crash.) */
    if (WIFSIGNALED(status))
        log_warn("session process %d (%s) crashed: signal %d", (int)s->pid, s->addr,
                 WTERMSIG(status));
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

/*
 * A connection to the session user's VM, for one channel: the master opens
 * it (it may reach every VM's socket; the session's monitor has no socket()
 * or connect() at all) and sends "CONNECT 1024" without waiting; the
 * monitor reads the VMM's answer on the fd it is passed.
 */
static void vm_connect(struct master *m, struct msess *s)
{
    struct vm *vm = s->has_vm ? vmmgr_find(&m->vm, s->user) : NULL;
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
static int on_session_msg(struct master *m, int i)
{
    struct msess *s = m->sess[i];
    struct mproto_msg msg;
    int r = mproto_recv(s->mfd, &msg);
    if (r == BURROW_ERR_AGAIN || r == BURROW_ERR_CLOSED)
        return r; /* the exit is handled by reap() */
    if (r != 0 || msg.n < 1) {
        log_warn("session %d (%s) sent a bad message: killed", (int)s->pid, s->addr);
        if (!s->reaped)
            kill(s->pid, SIGKILL);
        return r ? r : BURROW_ERR_PROTOCOL;
    }
    switch (msg.type) {
    case MPROTO_AUTH_OK:
        if (s->authed || msg.n < 2 || userdb_name_check(msg.f[0], NULL) != 0)
            break;
        s->authed = 1;
        m->unauth--;
        memcpy(s->user, msg.f[0], strlen(msg.f[0]) + 1); /* name_check bounded it */
        snprintf(s->method, sizeof(s->method), "%.15s", msg.f[1]);
        penalty_clear(&m->pen, &s->sa);
        return 0;
    case MPROTO_AUTH_FAIL:
        s->failures++;
        if (log_ratelimit_ok(&m->fail_rl, 20, 10)) {
            char u[2 * USERDB_NAME_MAX];
            log_escape(u, sizeof(u), msg.f[0]);
            log_info("auth failure: user=%s from=%s method=%.15s", u, s->addr,
                     msg.n > 1 ? msg.f[1] : "?");
        }
        return 0;
    case MPROTO_VM_REQ: {
        struct user_record rec;
        char err[USERDB_ERR_MAX];
        if (!s->authed || strcmp(msg.f[0], s->user) != 0 || s->has_vm)
            break;
        if (userdb_get(&m->db, s->user, &rec, err, sizeof(err)) != 0 || rec.locked) {
            send_to(s, MPROTO_VM_ERR, "your account is not available", NULL);
            return 0;
        }
        vmmgr_request(&m->vm, &rec, i);
        return 0;
    }
    case MPROTO_VM_CONNECT:
        /* (Not has_vm: a VM_GONE may cross the request; the answer says so.) */
        if (!s->authed || strcmp(msg.f[0], s->user) != 0)
            break;
        vm_connect(m, s);
        return 0;
    default:
        break;
    }
    log_warn("session %d (%s) broke the master protocol: killed", (int)s->pid, s->addr);
    if (!s->reaped)
        kill(s->pid, SIGKILL);
    return BURROW_ERR_PROTOCOL;
}

/* --- VM manager hooks ------------------------------------------------------- */

static void hook_ready(void *ctx, int waiter, struct vm *vm)
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
}

static void hook_failed(void *ctx, int waiter, const char *text)
{
    struct master *m = ctx;
    struct msess *s = waiter >= 0 && waiter < MASTER_SESS_MAX ? m->sess[waiter] : NULL;
    if (!s)
        return;
    send_to(s, MPROTO_VM_ERR, text, NULL);
    log_info("login: user=%s from=%s method=%s vm=none (%s)", s->user, s->addr, s->method, text);
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

/* --- signals and reload ---------------------------------------------------- */

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
    log_info("configuration reloaded from %s (running sessions kept)", m->config_path);
    sandbox_announce_seccomp_mode(&m->cfg);
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
    enum { O_SIG = -1, O_LISTEN = -2, O_VM = -3, O_CTL = -4 };
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
            else if (owner[i] == O_LISTEN && !m->stopping)
                accept_one(m, pf[i].fd);
            else if (owner[i] == O_VM)
                vmmgr_event(&m->vm, pf[i].fd);
            else if (owner[i] == O_CTL)
                control_event(&m->ctl, pf[i].fd);
            else if (owner[i] >= 0 && m->sess[owner[i]] && m->sess[owner[i]]->mfd == pf[i].fd)
                (void)on_session_msg(m, owner[i]);
        }
        long now = vmmgr_now();
        if (now != last_tick) {
            last_tick = now;
            vmmgr_tick(&m->vm, now);
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
 * itself (broker/session_exec.h), so no private key stays in the master.
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
    int r = hostkeys_bind(&hk, &bind);
    hostkeys_free(&hk);
    if (r == 0)
        ssh_bind_free(bind);
    return r;
}

int master_run(const char *config_path, int config_explicit)
{
    struct master *m = &M;
    char err[CONFIG_ERR_MAX];
    memset(m, 0, sizeof(*m));
    m->config_path = config_path;
    m->config_explicit = config_explicit;
    if (config_load(&m->cfg, config_path, config_explicit ? 0 : CONFIG_LOAD_OPTIONAL, err,
                    sizeof(err)) != 0)
        return cli_err(EXIT_USAGE, "%s", err);
    sandbox_announce_seccomp_mode(&m->cfg);
    if (geteuid() != 0)
        log_warn("not running as root: the sandbox backend and privilege drops need root");
    if (ssh_init() != SSH_OK)
        return cli_err(EXIT_RUNTIME, "libssh initialisation failed");
    mkdir(m->cfg.paths.state_dir, 0755);
    mkdir(m->cfg.paths.run_dir, 0755);
    /* Session processes drop to an unprivileged uid and then connect to
     * run_dir/vm/<id>/vsock.sock: every directory on the way must be searchable. */
    if (access(m->cfg.paths.run_dir, X_OK) == 0) {
        struct stat st;
        if (stat(m->cfg.paths.run_dir, &st) == 0 && !(st.st_mode & S_IXOTH))
            log_warn("run_dir %s is not searchable by other users: sessions will not reach "
                     "their VMs after dropping privileges (chmod o+x)",
                     m->cfg.paths.run_dir);
    }
    if (setup_keys(m) != 0)
        return cli_err(EXIT_RUNTIME, "host keys unavailable in %s", m->cfg.ssh.host_key_dir);
    if (userdb_open(&m->db, &m->cfg, USERDB_CREATE) != 0)
        return cli_err(EXIT_RUNTIME, "cannot open the user database in %s", m->cfg.paths.state_dir);
    if (setup_signals(m) != 0)
        return cli_err(EXIT_RUNTIME, "signalfd: %s", strerror(errno));
    struct vmmgr_hooks hooks = {hook_ready, hook_failed, hook_gone, m};
    snprintf(m->vm.guest_image, sizeof(m->vm.guest_image), "%s", "");
    if (vmmgr_init(&m->vm, &m->cfg, &hooks) != 0)
        return cli_err(EXIT_RUNTIME, "no usable VM backend");
    if ((size_t)snprintf(m->vm.guest_image, sizeof(m->vm.guest_image),
                         "%s/sandbox/initramfs.cpio.gz",
                         m->cfg.paths.state_dir) >= sizeof(m->vm.guest_image))
        return cli_err(EXIT_USAGE, "state_dir is too long");
    /* No image of this state dir's own: the one `make install` put in place. */
    if (access(m->vm.guest_image, R_OK) != 0 &&
        access(BURROW_GUEST_DIR "/initramfs.cpio.gz", R_OK) == 0)
        snprintf(m->vm.guest_image, sizeof(m->vm.guest_image), "%s",
                 BURROW_GUEST_DIR "/initramfs.cpio.gz");
    if (control_open(&m->ctl, &m->cfg, &m->vm) != 0)
        log_warn("control socket unavailable: burrowctl cannot reach this daemon");
    if (open_listeners(m) != 0)
        return cli_err(EXIT_RUNTIME, "no listening socket could be opened");
    /* Everything the master opens once is open: from here on, it and its children lose
     * what none of them needs (modules, kexec, ptrace, eBPF, ...). */
    if (sandbox_master_filter(&m->cfg) != 0)
        return cli_err(EXIT_RUNTIME, "cannot load the master's seccomp filter");
    log_info("burrowd ready: %u listening socket(s), %u VM(s) re-adopted", m->n_lfd,
             vmmgr_count(&m->vm));
    if (notify_send("READY=1") != 0)
        log_warn("readiness notification failed: %s", strerror(errno));
    int rc = loop(m);
    notify_send("STOPPING=1");
    close_listeners(m);
    control_close(&m->ctl);
    log_info("burrowd stopping: no longer accepting; running sessions and VMs continue");
    return rc;
}
