/* broker/session.c - one SSH connection, from key exchange to disconnect. */
#include "broker/session.h"

#include <errno.h>
#include <execinfo.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "broker/channel.h"
#include "broker/mproto.h"
#include "broker/sandbox.h"
#include "common/err.h"
#include "common/log.h"

#define SESSION_VM_WAIT_MS 120000
#define SESSION_BANNER_MAX 4096

/*
 * A test and debug aid: with BURROW_SESSION_BACKTRACE=1 in burrowd's
 * environment (the e2e tier sets it), a crashing session process writes its
 * backtrace to stderr (burrowd's log), since it makes no core dump. The
 * handler only writes (backtrace_symbols_fd) and re-raises (tgkill) after
 * SA_RESETHAND restored the default action; the post-auth seccomp filter
 * allows both. Frames are binary+offset: addr2line -e burrowd -f OFFSET.
 */
static void crash_write(const char *text)
{
    if (write(STDERR_FILENO, text, strlen(text)) < 0)
        return;
}

static void on_crash(int sig, siginfo_t *si, void *uctx)
{
    void *frames[64];
    (void)si;
    crash_write("session process crashed; backtrace:\n");
#if defined(__x86_64__)
    /* First the faulting pc and the return address on top of the stack: after
     * a call through a bad pointer the pc is garbage and libgcc's unwinder
     * faults reading code there, so this may be all there is. */
    const ucontext_t *uc = uctx;
    void *at[2] = {(void *)uc->uc_mcontext.gregs[REG_RIP],
                   *(void *const *)uc->uc_mcontext.gregs[REG_RSP]};
    crash_write("  pc, then top of stack:\n");
    backtrace_symbols_fd(at, 2, STDERR_FILENO);
    crash_write("  unwound:\n");
#else
    (void)uctx;
#endif
    backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
    raise(sig);
}

static void install_crash_backtrace(void)
{
    const char *v = getenv("BURROW_SESSION_BACKTRACE");
    void *frames[1];
    if (!v || strcmp(v, "1") != 0)
        return;
    backtrace(frames, 1); /* loads libgcc_s now: no dlopen inside the handler, under seccomp */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_crash;
    sa.sa_flags = (int)(SA_SIGINFO | SA_RESETHAND | SA_NODEFER);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
}

static void tell_master(struct sess *s, int type, const char *a, const char *b)
{
    const char *f[2] = {a, b};
    if (mproto_send(s->mfd, type, 2, f) != 0)
        log_debug("master unreachable");
}

static void auth_failed(struct sess *s, const char *user, const char *method)
{
    s->failures++;
    tell_master(s, MPROTO_AUTH_FAIL, user, method);
    if (s->failures >= s->cfg->ssh.max_auth_tries) {
        ssh_session_set_disconnect_message(s->ssh, "Too many authentication failures");
        s->quit = 1;
    }
}

static void auth_succeeded(struct sess *s, const char *user, const char *method)
{
    s->authed = 1;
    snprintf(s->user, sizeof(s->user), "%s", user);
    snprintf(s->method, sizeof(s->method), "%s", method);
}

static void send_banner(struct sess *s)
{
    char text[SESSION_BANNER_MAX + 1];
    if (!s->cfg->ssh.banner[0])
        return;
    FILE *f = fopen(s->cfg->ssh.banner, "re");
    if (!f) {
        log_warn("cannot read banner %s: %s", s->cfg->ssh.banner, strerror(errno));
        return;
    }
    size_t n = fread(text, 1, SESSION_BANNER_MAX, f);
    fclose(f);
    text[n] = 0;
    ssh_string str = ssh_string_from_char(text);
    if (str) {
        if (ssh_send_issue_banner(s->ssh, str) != SSH_OK)
            log_debug("banner not sent");
        ssh_string_free(str);
    }
}

static int on_auth_pubkey(ssh_session ssh, const char *user, struct ssh_key_struct *key, char state,
                          void *ud)
{
    struct sess *s = ud;
    struct authkey_opts opts;
    struct user_record rec;
    (void)ssh;
    if (!s->banner_sent) {
        s->banner_sent = 1;
        send_banner(s);
    }
    if (s->authed || s->quit)
        return SSH_AUTH_DENIED;
    if (state != SSH_PUBLICKEY_STATE_NONE && state != SSH_PUBLICKEY_STATE_VALID) {
        auth_failed(s, user, "publickey");
        return SSH_AUTH_DENIED;
    }
    int ok = auth_pubkey(&s->auth, user, key, &opts, &rec);
    if (!ok) {
        auth_failed(s, user, "publickey");
        return SSH_AUTH_DENIED;
    }
    if (state == SSH_PUBLICKEY_STATE_NONE) {
        authkey_opts_free(&opts); /* a probe: "this key would do" */
        return SSH_AUTH_SUCCESS;
    }
    authkey_opts_free(&s->opts);
    s->opts = opts;
    s->rec = rec;
    auth_succeeded(s, user, "publickey");
    return SSH_AUTH_SUCCESS;
}

static int on_auth_password(ssh_session ssh, const char *user, const char *password, void *ud)
{
    struct sess *s = ud;
    struct user_record rec;
    (void)ssh;
    if (!s->banner_sent) {
        s->banner_sent = 1;
        send_banner(s);
    }
    if (s->authed || s->quit || !s->cfg->ssh.password_auth)
        return SSH_AUTH_DENIED;
    if (!auth_password(&s->auth, user, password, &rec)) {
        auth_failed(s, user, "password");
        return SSH_AUTH_DENIED;
    }
    memset(&s->opts, 0, sizeof(s->opts));
    s->rec = rec;
    auth_succeeded(s, user, "password");
    return SSH_AUTH_SUCCESS;
}

/* The banner may only be sent once the client is in the userauth phase. */
static int on_auth_none(ssh_session ssh, const char *user, void *ud)
{
    struct sess *s = ud;
    (void)ssh;
    (void)user;
    if (!s->banner_sent) {
        s->banner_sent = 1;
        send_banner(s);
    }
    return SSH_AUTH_DENIED; /* the method list, not a failure */
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int authenticate(struct sess *s)
{
    int methods = SSH_AUTH_METHOD_PUBLICKEY;
    if (s->cfg->ssh.password_auth)
        methods |= SSH_AUTH_METHOD_PASSWORD;
    ssh_set_auth_methods(s->ssh, methods);
    while (!s->authed && !s->quit) {
        if (ssh_event_dopoll(s->ev, 1000) == SSH_ERROR)
            return -1;
        if (!ssh_is_connected(s->ssh))
            return -1;
    }
    return s->authed ? 0 : -1;
}

/* Ask the master for a VM; on failure remember the text every channel shows. */
void session_request_vm(struct sess *s)
{
    struct mproto_msg m;
    const char *f[1] = {s->user};
    if (s->vm_asked)
        return;
    s->vm_asked = 1;
    if (mproto_send(s->mfd, MPROTO_VM_REQ, 1, f) != 0) {
        snprintf(s->vm_err, sizeof(s->vm_err), "the service is restarting; try again shortly");
        return;
    }
    long deadline = now_ms() + SESSION_VM_WAIT_MS;
    for (;;) {
        long left = deadline - now_ms();
        struct pollfd p = {.fd = s->mfd, .events = POLLIN};
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR)) {
            snprintf(s->vm_err, sizeof(s->vm_err), "your environment did not start in time");
            return;
        }
        int r = mproto_recv(s->mfd, &m);
        if (r == BURROW_ERR_AGAIN)
            continue;
        if (r != 0) {
            snprintf(s->vm_err, sizeof(s->vm_err), "the service is restarting; try again shortly");
            return;
        }
        if (m.type == MPROTO_VM_OK && m.n >= 1) {
            snprintf(s->vm_sock, sizeof(s->vm_sock), "%s", m.f[0]);
            return;
        }
        if ((m.type == MPROTO_VM_ERR || m.type == MPROTO_VM_GONE) && m.n >= 1) {
            snprintf(s->vm_err, sizeof(s->vm_err), "%s", m.f[0]);
            return;
        }
    }
}

/*
 * Runs inside libssh's poll loop (ssh_event_dopoll, and the nested polls of
 * ssh_channel_poll/read/write): it must not add or remove fds of the event
 * there - libssh 0.10 keeps iterating its pollfd array and handle pointers
 * after the callback, and a removed handle (freed) or a moved slot is then
 * used after free. So it only records what happened; proxy_loop acts on it.
 */
static int on_master(socket_t fd, int revents, void *ud)
{
    struct sess *s = ud;
    struct mproto_msg m;
    (void)fd;
    (void)revents;
    if (s->master_closed)
        return 0;
    int r = mproto_recv(s->mfd, &m);
    if (r == BURROW_ERR_AGAIN)
        return 0;
    if (r == 0 && m.type == MPROTO_VM_GONE) {
        snprintf(s->vm_err, sizeof(s->vm_err), "%s", m.n ? m.f[0] : "your environment stopped");
        s->vm_gone_pending = 1;
        return 0;
    }
    if (r == BURROW_ERR_CLOSED)
        s->master_closed = 1; /* the master restarted: sessions live on */
    return 0;
}

/* What on_master recorded, outside libssh's poll loop. */
static void handle_master_events(struct sess *s)
{
    if (s->vm_gone_pending) {
        s->vm_gone_pending = 0;
        channel_fail_all(s, s->vm_err);
    }
    if (s->master_closed == 1) {
        s->master_closed = 2; /* stop watching the old pair, once */
        ssh_event_remove_fd(s->ev, s->mfd);
    }
}

static void proxy_loop(struct sess *s)
{
    ssh_event_add_fd(s->ev, s->mfd, POLLIN, on_master, s);
    while (!s->quit && ssh_is_connected(s->ssh)) {
        handle_master_events(s);
        channel_pump_all(s);
        if (ssh_event_dopoll(s->ev, 1000) == SSH_ERROR)
            break;
        handle_master_events(s);
        channel_pump_all(s);
    }
    channel_free_all(s);
}

static int setup(struct sess *s, const struct session_args *a,
                 struct ssh_server_callbacks_struct *cb)
{
    s->ssh = ssh_new();
    if (!s->ssh)
        return -1;
    if (ssh_bind_accept_fd(a->bind, s->ssh, a->fd) != SSH_OK) {
        log_warn("%s: accept: %s", s->addr, ssh_get_error(a->bind));
        return -1;
    }
    memset(cb, 0, sizeof(*cb));
    cb->userdata = s;
    cb->auth_pubkey_function = on_auth_pubkey;
    cb->auth_password_function = on_auth_password;
    cb->auth_none_function = on_auth_none;
    cb->channel_open_request_session_function = channel_on_open_session;
    ssh_callbacks_init(cb);
    ssh_set_server_callbacks(s->ssh, cb);
    if (ssh_handle_key_exchange(s->ssh) != SSH_OK) {
        log_debug("%s: key exchange failed: %s", s->addr, ssh_get_error(s->ssh));
        return -1;
    }
    s->ev = ssh_event_new();
    if (!s->ev || ssh_event_add_session(s->ev, s->ssh) != SSH_OK)
        return -1;
    channel_setup(s);
    return 0;
}

int session_main(const struct session_args *a)
{
    static struct sess sess;
    struct ssh_server_callbacks_struct cb;
    struct sess *s = &sess;

    memset(s, 0, sizeof(*s));
    s->cfg = a->cfg;
    s->mfd = a->mfd;
    snprintf(s->addr, sizeof(s->addr), "%s", a->addr);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    install_crash_backtrace();
    if (sandbox_session_filter(s->cfg, SANDBOX_PREAUTH) != 0) {
        log_error("%s: cannot load the pre-auth seccomp filter", s->addr);
        return 1;
    }
    if (auth_init(&s->auth, s->cfg, s->addr) != 0)
        return 1;
    /* login_grace_time covers key exchange and authentication. */
    signal(SIGALRM, SIG_DFL);
    alarm(s->cfg->ssh.login_grace_time);
    if (setup(s, a, &cb) != 0 || authenticate(s) != 0) {
        if (s->ssh) {
            ssh_disconnect(s->ssh);
        }
        return 1;
    }
    alarm(0);
    tell_master(s, MPROTO_AUTH_OK, s->user, s->method);
    auth_close(&s->auth);
    session_request_vm(s);
    if (sandbox_session_unshare(s->cfg) != 0 || sandbox_session_postauth(&s->rec) != 0 ||
        sandbox_session_filter(s->cfg, SANDBOX_POSTAUTH) != 0) {
        log_error("%s: cannot drop privileges after auth", s->user);
        return 1;
    }
    ssh_set_blocking(s->ssh, 0);
    proxy_loop(s);
    ssh_disconnect(s->ssh);
    return 0;
}
