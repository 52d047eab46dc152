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
#include "broker/session/monwrap.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "common/testhook.h"

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
    return monwrap_ask(s, MPROTO_PUBKEY, f, 3, state == SSH_PUBLICKEY_STATE_NONE);
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
    int r = monwrap_ask(s, MPROTO_PASSWORD, f, 2, 0);
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
        if (monwrap_kbdint(s, s->kbd_user, &ans) != 0) {
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
    int verdict = monwrap_ask(s, MPROTO_KBDINT_ANSWER, f, 2, 0);
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
    return netchild_ssh_methods(authflow_next(&p, &none));
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
    (void)fd;
    (void)revents;
    if (!s->master_closed)
        monwrap_poll_master(s);
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
        return monwrap_hostile(s, hostile);
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
