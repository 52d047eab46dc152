/* broker/channel.c - SSH channels proxied to agent connections (see channel.h). */
#include "broker/channel.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/callbacks.h>

#include "broker/agentconn.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#define CHAN_ENV_MAX 16
#define CHAN_OUT_HIGH (128u * 1024) /* stop reading SSH when this much waits for the agent */
#define CHAN_IN_CAP (256u * 1024)   /* bytes buffered from the agent */

enum chan_kind { CHAN_SESSION = 1, CHAN_TCP = 2 };

struct chan {
    struct sess *s;
    ssh_channel ch;
    struct ssh_channel_callbacks_struct cb;
    enum chan_kind kind;
    int afd;            /* agent connection, -1 before OPEN or after close */
    short afd_events;   /* what the ssh_event watches on afd */
    struct buf *out;    /* frames for the agent */
    uint8_t *in;        /* bytes from the agent */
    size_t in_len;      /* valid bytes in `in` */
    size_t partial;     /* bytes of the first data frame already sent to SSH */
    int started;        /* shell/exec/subsystem accepted */
    int pty;
    char term[PROTO_NAME_MAX + 1];
    struct proto_window win;
    char env_name[CHAN_ENV_MAX][PROTO_NAME_MAX + 1];
    char env_val[CHAN_ENV_MAX][PROTO_ENV_VALUE_MAX + 1];
    unsigned n_env;
    int stdin_eof_sent;
    int eof_sent;  /* SSH EOF to the client */
    int exited;    /* exit-status/exit-signal sent */
    int agent_gone;
    int closing;   /* we sent (or will send) CHANNEL_CLOSE */
    int remote_closed;
    char fail_text[MPROTO_FIELD_MAX + 1]; /* shown after the request is answered */
};

static void chan_close_agent(struct chan *c);

/* --- small helpers ----------------------------------------------------- */

static int slot_of(struct sess *s, struct chan *c)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        if (s->chans[i] == c)
            return i;
    return -1;
}

static struct chan *chan_alloc(struct sess *s, enum chan_kind kind)
{
    int slot = slot_of(s, NULL);
    if (slot < 0)
        return NULL;
    struct chan *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->in = malloc(CHAN_IN_CAP);
    c->out = buf_new(CHAN_OUT_HIGH + 2 * PROTO_FRAME_MAX);
    if (!c->in || !c->out) {
        free(c->in);
        buf_free(c->out);
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

static void chan_destroy(struct chan *c)
{
    struct sess *s = c->s;
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
    free(c);
}

static void stderr_text(struct chan *c, const char *text)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "burrow: %s\r\n", text);
    if (c->ch && !c->eof_sent && n > 0 && ssh_channel_window_size(c->ch) >= (uint32_t)n)
        ssh_channel_write_stderr(c->ch, line, (uint32_t)n);
}

/* End a session channel with a message and exit status 255. */
static void chan_fail(struct chan *c, const char *text)
{
    if (c->kind == CHAN_SESSION && !c->exited && c->ch) {
        stderr_text(c, text);
        ssh_channel_request_send_exit_status(c->ch, 255);
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

static void watch_agent(struct chan *c, short events)
{
    if (c->afd_events == events)
        return;
    if (c->afd_events)
        ssh_event_remove_fd(c->s->ev, c->afd);
    c->afd_events = 0;
    if (events && ssh_event_add_fd(c->s->ev, c->afd, events, agent_event_cb, c) == SSH_OK)
        c->afd_events = events;
}

static void chan_close_agent(struct chan *c)
{
    if (c->afd < 0)
        return;
    watch_agent(c, 0);
    close(c->afd);
    c->afd = -1;
}

/* --- opening the agent side ---------------------------------------------- */

static int open_agent(struct chan *c, struct proto_open *o)
{
    char err[MPROTO_FIELD_MAX + 1];
    struct sess *s = c->s;
    o->user = proto_str_c(s->user);
    session_request_vm(s);
    if (s->vm_err[0]) {
        snprintf(err, sizeof(err), "%s", s->vm_err);
        goto fail;
    }
    int r = agentconn_open(s->vm_sock, o, &c->afd, err, sizeof(err));
    if (r == 0)
        return 0;
    log_warn("%s: cannot open a session in the VM: %s", s->user, err);
fail:
    /* Not now: the client must see the request's answer before exit-status. */
    if (c->kind == CHAN_SESSION)
        memcpy(c->fail_text, err, sizeof(c->fail_text));
    return -1;
}

/* Build OPEN for shell/exec/subsystem, applying authorized_keys options. */
static int start_session(struct chan *c, uint32_t kind, const char *command)
{
    struct proto_open o;
    struct sess *s = c->s;
    char orig[PROTO_COMMAND_MAX + 1];
    if (c->started)
        return SSH_ERROR;
    memset(&o, 0, sizeof(o));
    o.kind = kind;
    if (s->opts.command) {
        /* A forced command replaces whatever the client asked for. */
        snprintf(orig, sizeof(orig), "%s", command ? command : "");
        o.kind = PROTO_OPEN_EXEC;
        o.command = proto_str_c(s->opts.command);
        if (command && c->n_env < CHAN_ENV_MAX) {
            snprintf(c->env_name[c->n_env], sizeof(c->env_name[0]), "SSH_ORIGINAL_COMMAND");
            size_t n = strnlen(orig, sizeof(c->env_val[0]) - 1); /* longer: truncated */
            memcpy(c->env_val[c->n_env], orig, n);
            c->env_val[c->n_env][n] = 0;
            c->n_env++;
        }
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
    c->win = (struct proto_window){(uint32_t)w, (uint32_t)h, (uint32_t)pw, (uint32_t)ph};
    if (c->afd >= 0 && proto_put_window(c->out, &c->win) != 0)
        return SSH_ERROR;
    return SSH_OK;
}

/* Like OpenSSH's default AcceptEnv: LANG and LC_* only. */
static int on_env(ssh_session ssh, ssh_channel ch, const char *name, const char *value, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    if (c->started || c->n_env >= CHAN_ENV_MAX || strlen(name) > PROTO_NAME_MAX ||
        strlen(value) > PROTO_ENV_VALUE_MAX)
        return SSH_ERROR;
    if (strcmp(name, "LANG") != 0 && strncmp(name, "LC_", 3) != 0)
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

static void on_eof(ssh_session ssh, ssh_channel ch, void *ud)
{
    (void)ssh;
    (void)ch;
    (void)ud; /* noticed by ssh_channel_poll() returning SSH_EOF once drained */
}

static void on_close(ssh_session ssh, ssh_channel ch, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    c->remote_closed = 1;
    c->closing = 1;
}

static void chan_callbacks(struct chan *c)
{
    memset(&c->cb, 0, sizeof(c->cb));
    c->cb.userdata = c;
    c->cb.channel_eof_function = on_eof;
    c->cb.channel_close_function = on_close;
    c->cb.channel_signal_function = on_signal;
    if (c->kind == CHAN_SESSION) {
        c->cb.channel_pty_request_function = on_pty;
        c->cb.channel_shell_request_function = on_shell;
        c->cb.channel_pty_window_change_function = on_window;
        c->cb.channel_exec_request_function = on_exec;
        c->cb.channel_env_request_function = on_env;
        c->cb.channel_subsystem_request_function = on_subsystem;
    }
    ssh_callbacks_init(&c->cb);
    ssh_set_channel_callbacks(c->ch, &c->cb);
}

ssh_channel channel_on_open_session(ssh_session ssh, void *userdata)
{
    struct sess *s = userdata;
    if (!s->authed)
        return NULL;
    struct chan *c = chan_alloc(s, CHAN_SESSION);
    if (!c)
        return NULL;
    c->ch = ssh_channel_new(ssh);
    if (!c->ch) {
        chan_destroy(c);
        return NULL;
    }
    chan_callbacks(c);
    return c->ch;
}

/* direct-tcpip ("ssh -L"): libssh 0.10 has no server callback, so the message API. */
static int on_message(ssh_session ssh, ssh_message msg, void *userdata)
{
    struct sess *s = userdata;
    (void)ssh;
    if (!s->authed || ssh_message_type(msg) != SSH_REQUEST_CHANNEL_OPEN ||
        ssh_message_subtype(msg) != SSH_CHANNEL_DIRECT_TCPIP)
        return 1; /* libssh answers with the default refusal */
    if (s->opts.flags & AUTHKEY_NO_PORT_FWD)
        return 1;
    const char *host = ssh_message_channel_request_open_destination(msg);
    int port = ssh_message_channel_request_open_destination_port(msg);
    if (!host || strlen(host) > PROTO_HOST_MAX || port < 1 || port > 65535)
        return 1;
    struct chan *c = chan_alloc(s, CHAN_TCP);
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
    chan_callbacks(c);
    return 0;
}

void channel_setup(struct sess *s)
{
    ssh_set_message_callback(s->ssh, on_message, s);
}

/* --- pumping ------------------------------------------------------------ */

/* SSH -> agent: move what libssh buffered into STDIN frames while there is room. */
static void pump_from_ssh(struct chan *c)
{
    uint8_t tmp[PROTO_DATA_MAX];
    while (c->afd >= 0 && !c->stdin_eof_sent && buf_len(c->out) < CHAN_OUT_HIGH) {
        int n = ssh_channel_poll(c->ch, 0);
        if (n == SSH_EOF) {
            if (proto_put_eof(c->out, PROTO_STREAM_STDIN) == 0)
                c->stdin_eof_sent = 1;
            return;
        }
        if (n <= 0)
            return;
        n = ssh_channel_read_nonblocking(c->ch, tmp, sizeof(tmp), 0);
        if (n <= 0)
            return;
        if (proto_put_data(c->out, PROTO_STDIN, tmp, (size_t)n) != 0) {
            chan_fail(c, "internal buffer overflow");
            return;
        }
    }
}

static void flush_to_agent(struct chan *c)
{
    while (c->afd >= 0 && buf_len(c->out) > 0) {
        ssize_t w = send(c->afd, buf_ptr(c->out), buf_len(c->out), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w <= 0) {
            c->agent_gone = 1;
            break;
        }
        if (buf_skip(c->out, (size_t)w) != 0)
            break;
    }
    buf_compact(c->out);
}

static void read_from_agent(struct chan *c)
{
    while (c->afd >= 0 && c->in_len < CHAN_IN_CAP) {
        ssize_t n = read(c->afd, c->in + c->in_len, CHAN_IN_CAP - c->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            c->agent_gone = 1;
            return;
        }
        c->in_len += (size_t)n;
    }
}

/* Write a data frame to SSH within the client's window. 1 if done, 0 if stalled. */
static int deliver_data(struct chan *c, uint16_t type, const uint8_t *data, size_t len)
{
    while (c->partial < len) {
        uint32_t win = ssh_channel_window_size(c->ch);
        if (win == 0)
            return 0;
        size_t n = len - c->partial;
        if (n > win)
            n = win;
        int w = type == PROTO_STDERR
                    ? ssh_channel_write_stderr(c->ch, data + c->partial, (uint32_t)n)
                    : ssh_channel_write(c->ch, data + c->partial, (uint32_t)n);
        if (w < 0) {
            c->closing = 1;
            return 0;
        }
        if (w == 0)
            return 0;
        c->partial += (size_t)w;
    }
    c->partial = 0;
    return 1;
}

static void deliver_exit(struct chan *c, const struct proto_exit *e)
{
    if (c->exited)
        return;
    if (e->kind == PROTO_EXIT_SIGNAL) {
        const char *name = proto_signal_name(e->value);
        ssh_channel_request_send_exit_signal(c->ch, name ? name : "KILL", e->core_dumped ? 1 : 0,
                                             "", "");
    } else {
        ssh_channel_request_send_exit_status(c->ch, (int)(e->value & 0xff));
    }
    c->exited = 1;
}

/* One frame from the agent. 1 consumed, 0 stalled (retry later), -1 fatal. */
static int handle_frame(struct chan *c, const struct proto_frame *f)
{
    const uint8_t *data;
    size_t len;
    uint32_t stream;
    struct proto_exit e;
    struct proto_error er;
    char text[PROTO_TEXT_MAX + 1];

    switch (f->type) {
    case PROTO_STDOUT:
    case PROTO_STDERR:
        if (proto_get_data(f, &data, &len) != 0)
            return -1;
        if (c->eof_sent)
            return 1;
        return deliver_data(c, f->type, data, len);
    case PROTO_EOF:
        if (proto_get_eof(f, &stream) != 0)
            return -1;
        if (stream == PROTO_STREAM_STDOUT && !c->eof_sent) {
            ssh_channel_send_eof(c->ch);
            c->eof_sent = 1;
        }
        return 1;
    case PROTO_EXIT:
        if (proto_get_exit(f, &e) != 0)
            return -1;
        deliver_exit(c, &e);
        return 1;
    case PROTO_ERROR:
        if (proto_get_error(f, &er) == 0 && proto_str_copy(er.text, text, sizeof(text)) == 0)
            stderr_text(c, text);
        return 1;
    default:
        return proto_type_known(f->type) ? 1 : -1;
    }
}

static void pump_to_ssh(struct chan *c)
{
    size_t off = 0;
    while (!c->closing) {
        struct proto_frame f;
        int r = proto_frame_parse(c->in + off, c->in_len - off, &f);
        if (r == BURROW_ERR_AGAIN)
            break;
        if (r == 0)
            r = handle_frame(c, &f);
        else
            r = -1;
        if (r < 0) {
            chan_fail(c, "protocol error from the environment's agent");
            break;
        }
        if (r == 0)
            break;
        off += f.size;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
}

/* The agent connection ended: make sure the channel ends cleanly too. */
static void finish_if_agent_done(struct chan *c)
{
    if (!c->agent_gone || c->in_len > 0 || c->closing)
        return;
    chan_close_agent(c);
    if (c->kind == CHAN_SESSION && !c->exited)
        chan_fail(c, "the connection to your environment was lost");
    if (!c->eof_sent) {
        ssh_channel_send_eof(c->ch);
        c->eof_sent = 1;
    }
    c->closing = 1;
}

static void pump_one(struct chan *c)
{
    if (!c->ch)
        return;
    if (!c->closing && c->afd >= 0) {
        pump_from_ssh(c);
        flush_to_agent(c);
        read_from_agent(c);
        pump_to_ssh(c);
        if (c->agent_gone && c->in_len > 0)
            pump_to_ssh(c);
    }
    if (c->fail_text[0]) {
        chan_fail(c, c->fail_text);
        c->fail_text[0] = 0;
    }
    if (c->started && c->afd < 0 && !c->closing && c->kind == CHAN_SESSION)
        c->closing = 1;
    if (c->afd >= 0 && c->agent_gone)
        finish_if_agent_done(c);
    if (c->afd >= 0) {
        short ev = 0;
        if (c->in_len < CHAN_IN_CAP && !c->agent_gone)
            ev |= POLLIN;
        if (buf_len(c->out) > 0)
            ev |= POLLOUT;
        watch_agent(c, ev);
    }
}

void channel_pump_all(struct sess *s)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++) {
        struct chan *c = s->chans[i];
        if (!c)
            continue;
        pump_one(c);
        if (c->closing) {
            if (c->ch && !ssh_channel_is_closed(c->ch)) {
                if (!c->eof_sent)
                    ssh_channel_send_eof(c->ch);
                c->eof_sent = 1;
                ssh_channel_close(c->ch);
            }
            chan_destroy(c); /* libssh keeps the channel until the peer's CLOSE */
        }
    }
}

void channel_fail_all(struct sess *s, const char *text)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        if (s->chans[i])
            chan_fail(s->chans[i], text);
}

int channel_count(const struct sess *s)
{
    int n = 0;
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        n += s->chans[i] != NULL;
    return n;
}

void channel_free_all(struct sess *s)
{
    for (int i = 0; i < SESSION_CHANS_MAX; i++)
        if (s->chans[i])
            chan_destroy(s->chans[i]);
}
