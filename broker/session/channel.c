/* broker/session/channel.c - SSH channels: opening them and their requests (see channel.h). */
#include "broker/session/channel.h"
#include "broker/session/channel_priv.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "broker/session/agentconn.h"
#include "broker/envpolicy.h"
#include "broker/session/forward.h"
#include "broker/session/monwrap.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

/* --- small helpers ----------------------------------------------------- */

static int slot_of(struct netchild *s, struct chan *c)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        if (s->chans[i] == c)
            return i;
    return -1;
}

struct chan *chan_new(struct netchild *s, enum chan_kind kind)
{
    int slot = slot_of(s, NULL);
    if (slot < 0)
        return NULL;
    struct chan *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->in = malloc(CHAN_IN_CAP);
    c->out = buf_new(CHAN_OUT_HIGH + 2 * PROTO_FRAME_MAX);
    c->mirror = malloc(CHAN_MIRROR_CAP); /* pages are touched only as data comes */
    if (!c->in || !c->out || !c->mirror) {
        free(c->in);
        buf_free(c->out);
        free(c->mirror);
        free(c);
        return NULL;
    }
    c->s = s;
    c->kind = kind;
    c->afd = -1;
    c->win.cols = 80;
    c->win.rows = 24;
    s->chans[slot] = c;
    return c;
}

void chan_destroy(struct chan *c)
{
    struct netchild *s = c->s;
    chan_report_close(c);
    chan_close_agent(c);
    if (c->ch) {
        ssh_remove_channel_callbacks(c->ch, &c->cb);
        ssh_channel_free(c->ch);
    }
    int slot = slot_of(s, c);
    if (slot >= 0)
        s->chans[slot] = NULL;
    free(c->in);
    buf_free(c->out);
    free(c->mirror);
    free(c);
}

void chan_stderr_text(struct chan *c, const char *text)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "burrow: %s\r\n", text);
    if (c->ch && !c->eof_sent && n > 0 && ssh_channel_window_size(c->ch) >= (uint32_t)n)
        ssh_channel_write_stderr(c->ch, line, (uint32_t)n);
}

/* End a session channel with a message and exit status 255. */
void chan_fail(struct chan *c, const char *text)
{
    if (c->kind == CHAN_SESSION && !c->exited && c->ch) {
        chan_stderr_text(c, text);
        ssh_channel_request_send_exit_status(c->ch, 255);
        chan_report_exit(c, 0, 255);
        c->exited = 1;
    }
    chan_close_agent(c);
    c->closing = 1;
}

static int agent_event_cb(socket_t fd, int revents, void *userdata)
{
    (void)fd;
    (void)revents;
    (void)userdata;
    return 0; /* the work happens in channel_pump_all after the poll */
}

void chan_watch_agent(struct chan *c, short events)
{
    if (c->afd_events == events)
        return;
    if (c->afd_events)
        ssh_event_remove_fd(c->s->ev, c->afd);
    c->afd_events = 0;
    if (events && ssh_event_add_fd(c->s->ev, c->afd, events, agent_event_cb, c) == SSH_OK)
        c->afd_events = events;
}

void chan_close_agent(struct chan *c)
{
    if (c->afd < 0)
        return;
    chan_watch_agent(c, 0);
    close(c->afd);
    c->afd = -1;
}

/* --- opening the agent side ---------------------------------------------- */

static int open_agent(struct chan *c, struct proto_open *o)
{
    char err[MPROTO_FIELD_MAX + 1];
    struct netchild *s = c->s;
    o->user = proto_str_c(s->user);
    if (monwrap_connect_vm(s, &c->afd, err, sizeof(err)) != 0)
        goto fail;
    if (agentconn_start(c->afd, o, err, sizeof(err)) == 0)
        return 0;
    close(c->afd);
    c->afd = -1;
    log_warn("%s: cannot open a session in the VM: %s", s->user, err);
fail:
    /* Not now: the client must see the request's answer before exit-status. */
    if (c->kind == CHAN_SESSION)
        memcpy(c->fail_text, err, sizeof(c->fail_text));
    return -1;
}

/*
 * "SSH_ORIGINAL_COMMAND='<orig>'; export SSH_ORIGINAL_COMMAND; <forced>" with
 * orig single-quoted for sh (each ' becomes '\''). Without a client command
 * the variable is left unset, as sshd does.
 */
static int forced_command(char *out, size_t outsz, const char *forced, const char *orig)
{
    struct buf b;
    int r = 0;
    buf_init_writer(&b, out, outsz - 1);
    if (orig) {
        static const char pre[] = "SSH_ORIGINAL_COMMAND='",
                          post[] = "'; export SSH_ORIGINAL_COMMAND; ";
        r = buf_put_bytes(&b, pre, sizeof(pre) - 1);
        for (const char *p = orig; r == 0 && *p; p++)
            r = *p == '\'' ? buf_put_bytes(&b, "'\\''", 4) : buf_put_u8(&b, (uint8_t)*p);
        if (r == 0)
            r = buf_put_bytes(&b, post, sizeof(post) - 1);
    }
    if (r == 0)
        r = buf_put_bytes(&b, forced, strlen(forced));
    if (r != 0)
        return r;
    out[buf_used(&b)] = 0;
    return 0;
}

/* Build OPEN for shell/exec/subsystem, applying authorized_keys options. */
static int start_session(struct chan *c, uint32_t kind, const char *command)
{
    struct proto_open o;
    struct netchild *s = c->s;
    if (c->started)
        return SSH_ERROR;
    memset(&o, 0, sizeof(o));
    o.kind = kind;
    if (s->opts.command) {
        /* A forced command replaces whatever the client asked for; the client's
         * command reaches it as $SSH_ORIGINAL_COMMAND, set by the command line
         * itself (the agent passes only a fixed list of variables through). */
        if (forced_command(c->forced, sizeof(c->forced), s->opts.command, command) != 0)
            return SSH_ERROR;
        o.kind = PROTO_OPEN_EXEC;
        o.command = proto_str_c(c->forced);
    } else if (command) {
        o.command = proto_str_c(command);
    }
    if (c->pty) {
        o.flags |= PROTO_OPEN_F_PTY;
        o.term = proto_str_c(c->term);
    }
    o.window = c->win;
    for (unsigned i = 0; i < c->n_env && o.n_env < PROTO_ENV_MAX; i++) {
        o.env[o.n_env].name = proto_str_c(c->env_name[i]);
        o.env[o.n_env].value = proto_str_c(c->env_val[i]);
        o.n_env++;
    }
    const char *agent_sock = c->agent_req ? fwd_agent_socket(s) : NULL;
    if (agent_sock && o.n_env < PROTO_ENV_MAX) {
        o.env[o.n_env].name = proto_str_c("SSH_AUTH_SOCK");
        o.env[o.n_env].value = proto_str_c(agent_sock);
        o.n_env++;
    }
    for (unsigned i = 0; i < s->opts.n_env && o.n_env < PROTO_ENV_MAX; i++) {
        const char *eq = strchr(s->opts.env[i], '=');
        if (!eq)
            continue;
        o.env[o.n_env].name.p = s->opts.env[i];
        o.env[o.n_env].name.len = (uint32_t)(eq - s->opts.env[i]);
        o.env[o.n_env].value = proto_str_c(eq + 1);
        o.n_env++;
    }
    c->started = 1;
    chan_report_open(c,
                     kind == PROTO_OPEN_SHELL  ? "shell"
                     : kind == PROTO_OPEN_EXEC ? "exec"
                                               : "sftp",
                     command && kind == PROTO_OPEN_EXEC ? command : NULL);
    /* Accept the request even when the VM is unavailable, so the user sees why. */
    open_agent(c, &o);
    return SSH_OK;
}

/* --- SSH channel callbacks ------------------------------------------------ */

static int on_pty(ssh_session ssh, ssh_channel ch, const char *term, int w, int h, int pw, int ph,
                  void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    if ((c->s->opts.flags & AUTHKEY_NO_PTY) || c->started || !term || strlen(term) > PROTO_NAME_MAX)
        return SSH_ERROR;
    c->pty = 1;
    snprintf(c->term, sizeof(c->term), "%s", term);
    c->win = (struct proto_window){(uint32_t)w, (uint32_t)h, (uint32_t)pw, (uint32_t)ph};
    return SSH_OK;
}

static int on_window(ssh_session ssh, ssh_channel ch, int w, int h, int pw, int ph, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    struct proto_window win = {(uint32_t)w, (uint32_t)h, (uint32_t)pw, (uint32_t)ph};
    if (win.cols > 65535 || win.rows > 65535 || win.xpixel > 65535 || win.ypixel > 65535)
        return SSH_ERROR;
    c->win = win;
    c->win_pending = 1; /* sent after the bytes that came before it (proxy.c) */
    return SSH_OK;
}

/* A client's env request (SetEnv/SendEnv): only names [ssh] accept_env matches. */
static int on_env(ssh_session ssh, ssh_channel ch, const char *name, const char *value, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    if (c->started || c->n_env >= CHAN_ENV_MAX || strlen(name) > PROTO_NAME_MAX ||
        strlen(value) > PROTO_ENV_VALUE_MAX)
        return SSH_ERROR;
    if (!envpolicy_match(c->s->cfg->ssh.accept_env, name))
        return SSH_ERROR;
    snprintf(c->env_name[c->n_env], sizeof(c->env_name[0]), "%s", name);
    snprintf(c->env_val[c->n_env], sizeof(c->env_val[0]), "%s", value);
    c->n_env++;
    return SSH_OK;
}

static int on_shell(ssh_session ssh, ssh_channel ch, void *ud)
{
    (void)ssh;
    (void)ch;
    return start_session(ud, PROTO_OPEN_SHELL, NULL);
}

static int on_exec(ssh_session ssh, ssh_channel ch, const char *command, void *ud)
{
    (void)ssh;
    (void)ch;
    if (strlen(command) > PROTO_COMMAND_MAX)
        return SSH_ERROR;
    return start_session(ud, PROTO_OPEN_EXEC, command);
}

static int on_subsystem(ssh_session ssh, ssh_channel ch, const char *name, void *ud)
{
    (void)ssh;
    (void)ch;
    if (strcmp(name, "sftp") != 0)
        return SSH_ERROR;
    return start_session(ud, PROTO_OPEN_SUBSYSTEM, name);
}

static void on_signal(ssh_session ssh, ssh_channel ch, const char *sig, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    uint32_t signo = proto_signal_from_name(sig);
    if (signo && c->afd >= 0 && proto_put_signal(c->out, signo) != 0)
        log_debug("signal frame dropped");
}

/* ssh -A: registered only where agent forwarding is allowed (libssh answers
 * success whenever the callback exists); start_session adds SSH_AUTH_SOCK. */
static void on_agent_req(ssh_session ssh, ssh_channel ch, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    c->agent_req = 1;
}

/* After every data packet before it: chan_on_data has copied them all. */
static void on_eof(ssh_session ssh, ssh_channel ch, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    c->remote_eof = 1;
}

/*
 * The client closed the channel. A session ends at once (its process gets
 * the hang-up, as with sshd); a tcp channel first hands the VM side every
 * byte the client sent and the EOF, and ends when the agent does (proxy.c).
 */
static void on_close(ssh_session ssh, ssh_channel ch, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    c->remote_closed = 1;
    c->remote_eof = 1;
    if (c->kind == CHAN_SESSION || c->afd < 0)
        c->closing = 1;
}

void chan_set_callbacks(struct chan *c)
{
    memset(&c->cb, 0, sizeof(c->cb));
    c->cb.userdata = c;
    c->cb.channel_eof_function = on_eof;
    c->cb.channel_close_function = on_close;
    c->cb.channel_signal_function = on_signal;
    c->cb.channel_data_function = chan_on_data;
    if (c->kind == CHAN_SESSION) {
        c->cb.channel_pty_request_function = on_pty;
        c->cb.channel_shell_request_function = on_shell;
        c->cb.channel_pty_window_change_function = on_window;
        c->cb.channel_exec_request_function = on_exec;
        c->cb.channel_env_request_function = on_env;
        c->cb.channel_subsystem_request_function = on_subsystem;
        if (fwd_agent_allowed(c->s))
            c->cb.channel_auth_agent_req_function = on_agent_req;
    }
    ssh_callbacks_init(&c->cb);
    ssh_set_channel_callbacks(c->ch, &c->cb);
}

static unsigned count_kind(const struct netchild *s, enum chan_kind kind)
{
    unsigned n = 0;
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        n += s->chans[i] && s->chans[i]->kind == kind;
    return n;
}

ssh_channel channel_on_open_session(ssh_session ssh, void *userdata)
{
    struct netchild *s = userdata;
    if (!s->authed)
        return NULL;
    if (count_kind(s, CHAN_SESSION) >= s->cfg->ssh.max_sessions) {
        log_info("%s: session refused: max_sessions (%u) open on this connection", s->user,
                 s->cfg->ssh.max_sessions);
        return NULL; /* "administratively prohibited", as sshd answers at MaxSessions */
    }
    struct chan *c = chan_new(s, CHAN_SESSION);
    if (!c)
        return NULL;
    c->ch = ssh_channel_new(ssh);
    if (!c->ch) {
        chan_destroy(c);
        return NULL;
    }
    chan_set_callbacks(c);
    return c->ch;
}

static int local_allowed(const struct netchild *s, const char *host, int port)
{
    int sw = s->cfg->ssh.allow_tcp_forwarding;
    return (sw == TCP_FWD_YES || sw == TCP_FWD_LOCAL) && !(s->opts.flags & AUTHKEY_NO_PORT_FWD) &&
           authkeys_permits_open(&s->opts, host, (unsigned)port);
}

/* direct-tcpip ("ssh -L"): libssh 0.10 has no server callback, so the message API. */
static int open_direct_tcpip(struct netchild *s, ssh_message msg)
{
    const char *host = ssh_message_channel_request_open_destination(msg);
    int port = ssh_message_channel_request_open_destination_port(msg);
    if (!host || strlen(host) > PROTO_HOST_MAX || port < 1 || port > 65535)
        return 1;
    if (!local_allowed(s, host, port)) {
        log_info("%s: port forwarding to %s:%d refused", s->user, host, port);
        return 1;
    }
    struct chan *c = chan_new(s, CHAN_TCP);
    if (!c)
        return 1;
    struct proto_open o = {.kind = PROTO_OPEN_TCP, .port = (uint32_t)port};
    o.host = proto_str_c(host);
    if (open_agent(c, &o) != 0) {
        chan_destroy(c);
        return 1;
    }
    c->ch = ssh_message_channel_request_open_reply_accept(msg);
    if (!c->ch) {
        chan_destroy(c);
        return 0;
    }
    c->started = 1;
    char target[PROTO_HOST_MAX + 16];
    snprintf(target, sizeof(target), "%s:%d", host, port);
    chan_report_open(c, "direct-tcpip", target);
    chan_set_callbacks(c);
    return 0;
}

/* What libssh 0.10 hands the message API (1: libssh's default refusal). */
static int on_message(ssh_session ssh, ssh_message msg, void *userdata)
{
    struct netchild *s = userdata;
    (void)ssh;
    if (ssh_message_type(msg) == SSH_REQUEST_AUTH &&
        ssh_message_subtype(msg) == SSH_AUTH_METHOD_INTERACTIVE)
        return netchild_on_kbdint(s, msg);
    if (!s->authed)
        return 1;
    if (ssh_message_type(msg) == SSH_REQUEST_GLOBAL)
        return fwd_on_global(s, msg);
    if (ssh_message_type(msg) == SSH_REQUEST_CHANNEL_OPEN &&
        ssh_message_subtype(msg) == SSH_CHANNEL_DIRECT_TCPIP)
        return open_direct_tcpip(s, msg);
    return 1;
}

void channel_setup(struct netchild *s)
{
    ssh_set_message_callback(s->ssh, on_message, s);
}

void channel_fail_all(struct netchild *s, const char *text)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        if (s->chans[i])
            chan_fail(s->chans[i], text);
}

int channel_count(const struct netchild *s)
{
    int n = 0;
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        n += s->chans[i] != NULL;
    return n;
}

void channel_free_all(struct netchild *s)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        if (s->chans[i])
            chan_destroy(s->chans[i]);
    fwd_free_all(s);
}
