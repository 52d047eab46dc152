/*
 * broker/session/chanreport.c - the net child's reports of its channels (see
 * channel_priv.h): CHAN_OPEN when a shell, exec, sftp or direct-tcpip
 * channel starts, CHAN_CLOSE with its byte counts and exit when it is
 * freed. The monitor passes them to the master, which writes the audit
 * log and counts them; losing one (the master restarted) is harmless.
 */
#include <inttypes.h>
#include <stdio.h>

#include "broker/session/channel_priv.h"
#include "broker/session/monwrap.h"
#include "common/log.h"

static void send_report(struct chan *c, int type, const char *a, const char *b)
{
    char no[16];
    snprintf(no, sizeof(no), "%u", c->no);
    monwrap_report(c->s, type, no, a, b);
}

void chan_report_open(struct chan *c, const char *type, const char *detail)
{
    if (c->no)
        return;
    c->no = ++c->s->chan_seq;
    send_report(c, MPROTO_CHAN_OPEN, type, detail ? detail : "");
}

void chan_report_exit(struct chan *c, int is_signal, uint32_t value)
{
    const char *name = is_signal ? proto_signal_name(value) : NULL;
    if (is_signal)
        snprintf(c->exit_text, sizeof(c->exit_text), "signal %s", name ? name : "KILL");
    else
        snprintf(c->exit_text, sizeof(c->exit_text), "status %u", value & 0xff);
}

void chan_report_close(struct chan *c)
{
    char bytes[48];
    if (!c->no)
        return;
    snprintf(bytes, sizeof(bytes), "%" PRIu64 " %" PRIu64, c->bytes_in, c->bytes_out);
    send_report(c, MPROTO_CHAN_CLOSE, bytes, c->exit_text[0] ? c->exit_text : "none");
    c->no = 0;
}
