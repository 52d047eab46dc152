/*
 * broker/session/proxy.c - moving bytes between an SSH channel and its agent
 * connection, with flow control both ways (see channel.h):
 *   SSH -> agent: data stays in libssh's channel buffer (whose window then
 *     stops growing) until the agent connection has room;
 *   agent -> SSH: frames stay in our buffer (and we stop reading the agent)
 *     until the client's window has room.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/session/channel.h"
#include "broker/session/channel_priv.h"
#include "broker/session/forward.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

/* Append n bytes to the copy of the client's data (room is there: see CHAN_MIRROR_CAP). */
static void mirror_append(struct chan *c, const void *p, size_t n)
{
    if (c->mirror_off + c->mirror_len + n > CHAN_MIRROR_CAP) {
        memmove(c->mirror, c->mirror + c->mirror_off, c->mirror_len);
        c->mirror_off = 0;
    }
    memcpy(c->mirror + c->mirror_off + c->mirror_len, p, n);
    c->mirror_len += n;
}

/*
 * Runs inside libssh's packet processing; data is all libssh holds for the
 * channel, of which the first c->held bytes were seen before. Copy the new
 * ones (so a CLOSE right behind them loses nothing), and let libssh drop
 * only what has been framed: what it still holds keeps its window from
 * growing, so a slow VM slows the client.
 */
int chan_on_data(ssh_session ssh, ssh_channel ch, void *data, uint32_t len, int is_stderr, void *ud)
{
    struct chan *c = ud;
    (void)ssh;
    (void)ch;
    if (is_stderr)
        return (int)len; /* a client's extended data has no use here: dropped, as sshd does */
    if (len < c->held) { /* cannot happen: libssh only appends; start over from here */
        c->held = len;
        c->released = c->released < len ? c->released : len;
    }
    size_t add = len - c->held;
    if (add > CHAN_MIRROR_CAP - c->mirror_len) {
        c->closing = 1; /* more than the windows libssh granted: not a client to serve */
        return 0;
    }
    mirror_append(c, (const uint8_t *)data + c->held, add);
    c->held = len;
    size_t drop = c->released;
    c->held -= drop;
    c->released = 0;
    return (int)drop;
}

/*
 * Everything libssh holds is framed and no data callback may come (the
 * client's window may be used up): take it all out, which lets libssh grant
 * a new window with nothing held.
 */
static void release_all(struct chan *c)
{
    uint8_t tmp[PROTO_DATA_MAX];
    while (c->held > 0 && c->released == c->held && !c->remote_closed) {
        size_t want = c->held < sizeof(tmp) ? c->held : sizeof(tmp);
        int n = ssh_channel_read_nonblocking(c->ch, tmp, (uint32_t)want, 0);
        if (n <= 0)
            return;
        c->held -= (size_t)n;
        c->released -= (size_t)n;
    }
}

/* SSH -> agent: the client's bytes into STDIN frames while there is room, then EOF. */
static void pump_from_ssh(struct chan *c)
{
    while (c->afd >= 0 && !c->stdin_eof_sent && c->mirror_len > 0 &&
           buf_len(c->out) < CHAN_OUT_HIGH) {
        size_t n = c->mirror_len < PROTO_DATA_MAX ? c->mirror_len : PROTO_DATA_MAX;
        if (proto_put_data(c->out, PROTO_STDIN, c->mirror + c->mirror_off, n) != 0) {
            chan_fail(c, "internal buffer overflow");
            return;
        }
        c->bytes_in += n;
        c->mirror_off += n;
        c->mirror_len -= n;
        c->released += n;
        if (c->mirror_len == 0)
            c->mirror_off = 0;
    }
    if (c->mirror_len == 0)
        release_all(c);
    /* A window change after the bytes the client sent before it. */
    if (c->afd >= 0 && c->win_pending && c->mirror_len == 0 &&
        proto_put_window(c->out, &c->win) == 0)
        c->win_pending = 0;
    /* The client's EOF (a CLOSE implies it) once every byte before it is framed. */
    if (c->afd >= 0 && !c->stdin_eof_sent && c->mirror_len == 0 && c->remote_eof &&
        proto_put_eof(c->out, PROTO_STREAM_STDIN) == 0)
        c->stdin_eof_sent = 1;
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
        if (!c->s->first_byte_seen) {
            /* Where a login's time goes (the VM's own split is burrowd's "vm ... READY"). */
            c->s->first_byte_seen = 1;
            log_debug("login: user=%s first byte from the environment %.1f ms after "
                      "authentication",
                      c->s->user, (clock_now_ns() - c->s->authed_ns) / 1e6);
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
        c->bytes_out += (uint64_t)w;
    }
    c->partial = 0;
    return 1;
}

static void deliver_exit(struct chan *c, const struct proto_exit *e)
{
    if (c->exited || c->remote_closed)
        return;
    if (e->kind == PROTO_EXIT_SIGNAL) {
        const char *name = proto_signal_name(e->value);
        ssh_channel_request_send_exit_signal(c->ch, name ? name : "KILL", e->core_dumped ? 1 : 0,
                                             "", "");
    } else {
        ssh_channel_request_send_exit_status(c->ch, (int)(e->value & 0xff));
    }
    chan_report_exit(c, e->kind == PROTO_EXIT_SIGNAL, e->value);
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
        if (c->eof_sent || c->remote_closed)
            return 1; /* nowhere to go: the client is done with the channel */
        return deliver_data(c, f->type, data, len);
    case PROTO_EOF:
        if (proto_get_eof(f, &stream) != 0)
            return -1;
        if (stream == PROTO_STREAM_STDOUT && !c->eof_sent && !c->remote_closed) {
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
            chan_stderr_text(c, text);
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
    /* VM_GONE read in the same poll round (not acted on yet) says more. */
    if (c->kind == CHAN_SESSION && !c->exited)
        chan_fail(c, c->s->vm_gone_pending ? c->s->vm_err
                                           : "the connection to your environment was lost");
    if (!c->eof_sent && !c->remote_closed) {
        ssh_channel_send_eof(c->ch);
        c->eof_sent = 1;
    }
    c->closing = 1;
}

static void pump_one(struct chan *c)
{
    if (!c->ch)
        return;
    if (c->opening) {
        int r = fwd_open_step(c);
        if (r > 0)
            return; /* the client has not answered the open yet */
        if (r < 0) {
            c->closing = 1; /* refused: the connection in the VM is closed */
            return;
        }
    }
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
        chan_watch_agent(c, ev);
    }
}

void channel_pump_all(struct netchild *s)
{
    fwd_pump_all(s); /* new forwarded connections first: their channels pump below */
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
