/* broker/session/netchild.c - a session's net child: one SSH connection, in a jail (see
 * netchild.h). */
#include "broker/session/netchild.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "broker/session/agentconn.h"
#include "broker/authflow.h"
#include "broker/session/channel.h"
#include "broker/mproto.h"
#include "broker/session/confine.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "common/testhook.h"

/* VM_GONE and END are recorded for proxy_loop to act on: 1 if m was one of them. */
static int note_master_msg(struct netchild *s, const struct mproto_msg *m)
{
    if (m->type == MPROTO_END) {
        snprintf(s->end_text, sizeof(s->end_text), "%s", m->n ? m->f[0] : "your session was ended");
        s->end_pending = 1;
        return 1;
    }
    if (m->type == MPROTO_VM_GONE) {
        snprintf(s->vm_err, sizeof(s->vm_err), "%s", m->n ? m->f[0] : "your environment stopped");
        s->vm_gone_pending = 1;
        return 1;
    }
    return 0;
}

/*
 * The next message from the monitor, waiting at most until deadline_ms (-1:
 * no limit; before auth the monitor's login_grace_time bounds the wait).
 * VM_GONE and END are recorded for proxy_loop and skipped. 0 or a negative code.
 */
static int recv_monitor(struct netchild *s, struct mproto_msg *m, int *fd, long deadline_ms)
{
    for (;;) {
        int r = mproto_recv_wait(s->mfd, m, fd, deadline_ms);
        if (r != 0 || !note_master_msg(s, m))
            return r;
        if (fd && *fd >= 0)
            close(*fd);
    }
}

static void send_banner(struct netchild *s)
{
    if (s->banner_sent)
        return;
    s->banner_sent = 1;
    if (!s->banner[0])
        return;
    ssh_string str = ssh_string_from_char(s->banner);
    if (str) {
        if (ssh_send_issue_banner(s->ssh, str) != SSH_OK)
            log_debug("banner not sent");
        ssh_string_free(str);
    }
}

/* The monitor's AUTH_YES for a login: the key's options become the session's. */
static void take_options(struct netchild *s, const struct mproto_msg *yes,
                         struct authkey_opts *opts)
{
    opts->flags = (unsigned)strtoul(yes->f[0], NULL, 10);
    if (yes->n >= 2)
        opts->command = strdup(yes->f[1]);
    authkey_opts_free(&s->opts);
    s->opts = *opts;
    memset(opts, 0, sizeof(*opts));
}

/* Append a copy of value to a bounded list: 0, or a negative code. */
static int list_add(char **list, unsigned *n, unsigned max, const char *value)
{
    if (*n >= max)
        return BURROW_ERR_TOO_LARGE;
    if (!(list[*n] = strdup(value)))
        return BURROW_ERR_NOMEM;
    (*n)++;
    return 0;
}

/* One option line before the verdict: 1 taken, 0 not an option line, or a negative code. */
static int take_option_line(struct authkey_opts *opts, const struct mproto_msg *m)
{
    int r;
    if (m->type == MPROTO_AUTH_ENV && m->n == 1)
        r = list_add(opts->env, &opts->n_env, AUTHKEYS_ENV_MAX, m->f[0]);
    else if (m->type == MPROTO_AUTH_PERMIT && m->n == 2 && strcmp(m->f[0], "open") == 0)
        r = list_add(opts->permit_open, &opts->n_permit_open, AUTHKEYS_PERMIT_MAX, m->f[1]);
    else if (m->type == MPROTO_AUTH_PERMIT && m->n == 2 && strcmp(m->f[0], "listen") == 0)
        r = list_add(opts->permit_listen, &opts->n_permit_listen, AUTHKEYS_PERMIT_MAX, m->f[1]);
    else
        return 0;
    return r == 0 ? 1 : r;
}

/* libssh's method bits for a mask of broker/authflow.h methods. */
static int ssh_methods(unsigned af_mask)
{
    return ((af_mask & AF_PUBLICKEY) ? SSH_AUTH_METHOD_PUBLICKEY : 0) |
           ((af_mask & AF_PASSWORD) ? SSH_AUTH_METHOD_PASSWORD : 0) |
           ((af_mask & AF_KBDINT) ? SSH_AUTH_METHOD_INTERACTIVE : 0);
}

/*
 * The monitor's verdict on the request just sent for user: SSH_AUTH_SUCCESS
 * (the key's options become the session's), SSH_AUTH_PARTIAL (more methods
 * must follow: libssh now offers those), or SSH_AUTH_DENIED. A probe only
 * asks "would this key do". The monitor counts the failures: its AUTH_NO
 * "last" ends the connection.
 */
static int monitor_verdict(struct netchild *s, const char *user, int probe)
{
    struct mproto_msg ans;
    struct authkey_opts opts;
    int r = 0, mask = -1;
    memset(&opts, 0, sizeof(opts));
    ans.type = 0;
    /* AUTH_ENV and AUTH_PERMIT lines first (the key's options), then the verdict. */
    while (r == 0 && (r = recv_monitor(s, &ans, NULL, -1)) == 0 &&
           (r = take_option_line(&opts, &ans)) == 1)
        r = 0;
    if (r == 0 && ans.type == MPROTO_AUTH_PARTIAL && ans.n == 1)
        mask = authflow_mask(ans.f[0]);
    if (r != 0 || (ans.type != MPROTO_AUTH_YES && ans.type != MPROTO_AUTH_NO && mask <= 0) ||
        (ans.type == MPROTO_AUTH_YES && ans.n < 1)) {
        log_warn("%s: the session's monitor did not answer", s->addr);
        s->quit = 1;
    } else if (ans.type == MPROTO_AUTH_NO) {
        if (ans.n >= 1 && strcmp(ans.f[0], "last") == 0) {
            ssh_session_set_disconnect_message(s->ssh, "Too many authentication failures");
            s->quit = 1;
        }
    } else if (ans.type == MPROTO_AUTH_PARTIAL) {
        ssh_set_auth_methods(s->ssh, ssh_methods((unsigned)mask));
    } else if (!probe) {
        take_options(s, &ans, &opts);
        s->authed = 1;
        s->authed_ns = clock_now_ns();
        snprintf(s->user, sizeof(s->user), "%s", user);
    }
    authkey_opts_free(&opts);
    if (s->quit)
        return SSH_AUTH_DENIED;
    return ans.type == MPROTO_AUTH_YES       ? SSH_AUTH_SUCCESS
           : ans.type == MPROTO_AUTH_PARTIAL ? SSH_AUTH_PARTIAL
                                             : SSH_AUTH_DENIED;
}

/* Send a PUBKEY or PASSWORD request (fields f, f[0] the user) and take the verdict. */
static int ask_monitor(struct netchild *s, int type, const char *const *f, unsigned n, int probe)
{
    if (mproto_send(s->mfd, type, n, f) != 0) {
        log_warn("%s: the session's monitor did not answer", s->addr);
        s->quit = 1;
        return SSH_AUTH_DENIED;
    }
    return monitor_verdict(s, f[0], probe);
}

/* At most one byte past what the monitor accepts, so it still sees (and counts) a bad name. */
static void clip(char *out, size_t outsz, const char *in)
{
    snprintf(out, outsz, "%s", in ? in : "");
}

static int on_auth_pubkey(ssh_session ssh, const char *user, struct ssh_key_struct *key, char state,
                          void *ud)
{
    struct netchild *s = ud;
    char name[USERDB_NAME_MAX + 2], text[MPROTO_FIELD_MAX + 1] = "", *b64 = NULL;
    (void)ssh;
    send_banner(s);
    if (s->authed || s->quit)
        return SSH_AUTH_DENIED;
    clip(name, sizeof(name), user);
    /* "2": libssh found the signature bad (or the key cannot be passed on): a failure. */
    const char *st = state == SSH_PUBLICKEY_STATE_NONE    ? "0"
                     : state == SSH_PUBLICKEY_STATE_VALID ? "1"
                                                          : "2";
    if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK ||
        (size_t)snprintf(text, sizeof(text), "%s %s", ssh_key_type_to_char(ssh_key_type(key)),
                         b64) >= sizeof(text))
        st = "2";
    ssh_string_free_char(b64);
    const char *f[3] = {name, text, st};
    return ask_monitor(s, MPROTO_PUBKEY, f, 3, state == SSH_PUBLICKEY_STATE_NONE);
}

static int on_auth_password(ssh_session ssh, const char *user, const char *password, void *ud)
{
    struct netchild *s = ud;
    char name[USERDB_NAME_MAX + 2], pw[USERDB_PASSWORD_MAX + 2];
    (void)ssh;
    send_banner(s);
    if (s->authed || s->quit || !s->cfg->ssh.password_auth)
        return SSH_AUTH_DENIED;
    clip(name, sizeof(name), user);
    clip(pw, sizeof(pw), password);
    const char *f[2] = {name, pw};
    int r = ask_monitor(s, MPROTO_PASSWORD, f, 2, 0);
    explicit_bzero(pw, sizeof(pw));
    return r;
}

/* The banner may only be sent once the client is in the userauth phase. */
static int on_auth_none(ssh_session ssh, const char *user, void *ud)
{
    (void)ssh;
    (void)user;
    send_banner(ud);
    return SSH_AUTH_DENIED; /* the method list, not a failure */
}

/*
 * keyboard-interactive (libssh 0.10: the message API). The monitor says what
 * the one prompt asks (the password, or a one-time code after another
 * method) and judges the answer; a request starts it, the response ends it.
 */
int netchild_on_kbdint(struct netchild *s, ssh_message msg)
{
    struct mproto_msg ans;
    send_banner(s);
    if (s->authed || s->quit)
        return 1;
    if (!ssh_message_auth_kbdint_is_response(msg)) {
        clip(s->kbd_user, sizeof(s->kbd_user), ssh_message_auth_user(msg));
        const char *f[1] = {s->kbd_user};
        if (mproto_send(s->mfd, MPROTO_KBDINT, 1, f) != 0 || recv_monitor(s, &ans, NULL, -1) != 0) {
            s->quit = 1;
            return 1;
        }
        if (ans.type == MPROTO_KBDINT_PROMPT && ans.n == 2) {
            const char *prompt = ans.f[0];
            char echo = ans.f[1][0] == '1';
            if (ssh_message_auth_interactive_request(msg, "", "", 1, &prompt, &echo) != SSH_OK)
                s->quit = 1;
            return 0;
        }
        if (ans.type == MPROTO_AUTH_NO && ans.n >= 1 && strcmp(ans.f[0], "last") == 0) {
            ssh_session_set_disconnect_message(s->ssh, "Too many authentication failures");
            s->quit = 1;
        }
        return 1; /* refused: the failure lists the methods that may go on */
    }
    char answer[USERDB_PASSWORD_MAX + 2] = "";
    if (ssh_userauth_kbdint_getnanswers(s->ssh) == 1)
        clip(answer, sizeof(answer), ssh_userauth_kbdint_getanswer(s->ssh, 0));
    const char *f[2] = {s->kbd_user, answer};
    int verdict = ask_monitor(s, MPROTO_KBDINT_ANSWER, f, 2, 0);
    explicit_bzero(answer, sizeof(answer));
    if (verdict == SSH_AUTH_DENIED)
        return 1;
    if (ssh_message_auth_reply_success(msg, verdict == SSH_AUTH_PARTIAL) != SSH_OK)
        s->quit = 1;
    return 0;
}

/* What may be tried first: [auth] methods and password_auth (broker/authflow.h). */
static int first_methods(const struct burrow_config *cfg)
{
    struct af_policy p = {.password_auth = cfg->ssh.password_auth};
    struct af_state none = {0};
    char why[160];
    if (authflow_parse(cfg->auth.methods, &p, why, sizeof(why)) != 0)
        return SSH_AUTH_METHOD_PUBLICKEY; /* the config loader checked it: cannot happen */
    return ssh_methods(authflow_next(&p, &none));
}

static int authenticate(struct netchild *s)
{
    ssh_set_auth_methods(s->ssh, first_methods(s->cfg));
    while (!s->authed && !s->quit) {
        if (ssh_event_dopoll(s->ev, 1000) == SSH_ERROR || !ssh_is_connected(s->ssh)) {
            log_info("connection closed before authentication: from=%s: %s", s->addr,
                     ssh_get_error(s->ssh));
            return -1;
        }
    }
    return s->authed ? 0 : -1;
}

int session_connect_vm(struct netchild *s, int *fd, char *err, size_t errsz)
{
    struct mproto_msg m;
    const char *none[1] = {NULL};
    *fd = -1;
    if (!s->vm_err[0] && mproto_send(s->mfd, MPROTO_CONNECT, 0, none) == 0) {
        long deadline = clock_now_ms() + SESSION_VM_WAIT_MS + AGENTCONN_TIMEOUT_MS;
        int r = recv_monitor(s, &m, fd, deadline);
        if (r == 0 && m.type == MPROTO_CONN_OK && *fd >= 0)
            return 0;
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        if (r == 0 && m.type == MPROTO_CONN_ERR && m.n == 1)
            return errmsg(err, errsz, -1, "%s", m.f[0]);
        if (r == BURROW_ERR_TIMEOUT)
            return errmsg(err, errsz, -1, "your environment did not start in time");
    }
    return errmsg(err, errsz, -1, "%s",
                  s->vm_err[0] ? s->vm_err : "the service is restarting; try again shortly");
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
    struct netchild *s = ud;
    struct mproto_msg m;
    (void)fd;
    (void)revents;
    if (s->master_closed)
        return 0;
    int r = mproto_recv(s->mfd, &m);
    if (r == BURROW_ERR_AGAIN)
        return 0;
    if (r == 0 && note_master_msg(s, &m))
        return 0;
    if (r == BURROW_ERR_CLOSED)
        s->master_closed = 1; /* the master restarted: sessions live on */
    return 0;
}

/*
 * burrowctl session kill: every channel shows the text and ends (exit 255),
 * what is queued goes out, then the connection is closed with the text as
 * the disconnect message.
 */
static void end_session(struct netchild *s)
{
    s->end_pending = 0;
    channel_fail_all(s, s->end_text);
    channel_pump_all(s);
    if (ssh_blocking_flush(s->ssh, 2000) != SSH_OK)
        log_debug("%s: output not flushed before the disconnect", s->addr);
    ssh_session_set_disconnect_message(s->ssh, s->end_text);
    s->quit = 1;
}

/* What on_master recorded, outside libssh's poll loop. */
static void handle_master_events(struct netchild *s)
{
    if (s->end_pending)
        end_session(s);
    if (s->vm_gone_pending) {
        s->vm_gone_pending = 0;
        channel_fail_all(s, s->vm_err);
    }
    if (s->master_closed == 1) {
        s->master_closed = 2; /* stop watching the old pair, once */
        ssh_event_remove_fd(s->ev, s->mfd);
    }
}

static void proxy_loop(struct netchild *s)
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

static int setup(struct netchild *s, const struct session_args *a,
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
        /* Like sshd, one line per connection that never got past the banner or
         * key exchange (garbage, bad banners, bad packet lengths, scanners). */
        log_info("key exchange failed: from=%s: %s", s->addr, ssh_get_error(s->ssh));
        return -1;
    }
    s->ev = ssh_event_new();
    if (!s->ev || ssh_event_add_session(s->ev, s->ssh) != SSH_OK)
        return -1;
    channel_setup(s);
    return 0;
}

/*
 * Test builds only (common/testhook.h; BURROW_TEST_HOSTILE_NET in the test
 * burrowd's environment): the jailed
 * net child acts as if libssh had been taken over, so test-security can
 * check what the monitor then refuses. "connect": ask for a VM connection
 * before any login; "flood": keep reporting failed logins past
 * max_auth_tries. Logs what it got; the monitor should kill it first.
 */
static int act_hostile(struct netchild *s, const char *how)
{
    struct mproto_msg m;
    int fd = -1, answers = 0;
    const char *connect[1] = {NULL}, *fail[3] = {"alice", "", "2"};
    for (int i = 0; i < 64; i++) {
        int flood = strcmp(how, "flood") == 0;
        if (mproto_send(s->mfd, flood ? MPROTO_PUBKEY : MPROTO_CONNECT, flood ? 3 : 0,
                        flood ? fail : connect) != 0 ||
            recv_monitor(s, &m, &fd, clock_now_ms() + 5000) != 0)
            break;
        answers++;
        if (fd >= 0) {
            log_warn("hostile net child: the monitor handed over a VM connection");
            return 0;
        }
        if (!flood)
            break;
    }
    log_warn("hostile net child (%s): %d answers, then the monitor stopped answering", how,
             answers);
    return 0;
}

int netchild_main(const struct session_args *a, int monfd, pid_t monitor, const char *banner)
{
    static struct netchild sess;
    struct ssh_server_callbacks_struct cb;
    struct netchild *s = &sess;

    memset(s, 0, sizeof(*s));
    s->cfg = a->cfg;
    s->mfd = monfd;
    s->banner = banner;
    snprintf(s->addr, sizeof(s->addr), "%s", a->addr);
    if (confine_net_child(s->cfg, monitor) != 0 ||
        confine_session_filter(s->cfg, CONFINE_NET, 0) != 0) {
        log_error("%s: cannot confine the session's net process", s->addr);
        return 1;
    }
    const char *hostile = testhook("BURROW_TEST_HOSTILE_NET");
    if (hostile)
        return act_hostile(s, hostile);
    if (setup(s, a, &cb) != 0 || authenticate(s) != 0) {
        if (s->ssh)
            ssh_disconnect(s->ssh);
        return 1;
    }
    ssh_set_blocking(s->ssh, 0);
    proxy_loop(s);
    ssh_disconnect(s->ssh);
    return 0;
}
