/*
 * broker/proxy.c - moving bytes between an SSH channel and its agent
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

#include "broker/channel.h"
#include "broker/channel_priv.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"

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
        c->bytes_in += (uint64_t)n;
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
    if (c->exited)
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
        chan_watch_agent(c, ev);
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
