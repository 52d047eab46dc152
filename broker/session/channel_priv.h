/*
 * broker/session/channel_priv.h - struct chan, shared by channel.c (opening channels,
 * channel requests) and proxy.c (moving bytes). Not for other modules.
 */
#ifndef BURROW_BROKER_CHANNEL_PRIV_H
#define BURROW_BROKER_CHANNEL_PRIV_H

#include <libssh/callbacks.h>

#include "broker/session/netchild.h"
#include "common/buf.h"
#include "common/proto.h"

#define CHAN_ENV_MAX  16
#define CHAN_OUT_HIGH (128u * 1024) /* stop reading SSH when this much waits for the agent */
#define CHAN_IN_CAP   (256u * 1024) /* bytes buffered from the agent */
/*
 * The client's bytes are copied as libssh receives them (chan_on_data) and
 * stay in libssh's buffer too until they are framed for the agent, so
 * libssh's window accounting (it grants more only while little is held)
 * bounds what a client can send ahead: at most about two windows (2 x 1.28
 * MB) plus a packet.
 */
#define CHAN_MIRROR_CAP (2 * 1280000u + 2 * 32768)

enum chan_kind { CHAN_SESSION = 1, CHAN_TCP = 2 };

struct chan {
    struct netchild *s;
    ssh_channel ch;
    struct ssh_channel_callbacks_struct cb;
    enum chan_kind kind;
    int afd;          /* agent connection, -1 before OPEN or after close */
    short afd_events; /* what the ssh_event watches on afd */
    struct buf *out;  /* frames for the agent */
    /* The client's data, copied by the data callback as libssh buffers it: libssh
     * 0.10 refuses to read buffered data once the client's CLOSE is processed, and
     * ssh -L/-R clients send data, EOF and CLOSE together. libssh holds `held`
     * bytes: the `released` oldest are framed (it drops them at its next data
     * callback, or at once when nothing else waits), the rest are the mirror's. */
    uint8_t *mirror;
    size_t mirror_off, mirror_len; /* unframed bytes: mirror[mirror_off, +mirror_len) */
    size_t held, released;
    uint8_t *in;    /* bytes from the agent */
    size_t in_len;  /* valid bytes in `in` */
    size_t partial; /* bytes of the first data frame already sent to SSH */
    int started;    /* shell/exec/subsystem accepted */
    int pty;
    char term[PROTO_NAME_MAX + 1];
    struct proto_window win;
    int win_pending; /* a window change to pass on once the bytes before it are framed */
    char env_name[CHAN_ENV_MAX][PROTO_NAME_MAX + 1];
    char env_val[CHAN_ENV_MAX][PROTO_ENV_VALUE_MAX + 1];
    unsigned n_env;
    int stdin_eof_sent;
    int eof_sent; /* SSH EOF to the client */
    int exited;   /* exit-status/exit-signal sent */
    int agent_gone;
    int closing; /* we sent (or will send) CHANNEL_CLOSE */
    int remote_closed;
    int remote_eof;                       /* the client's EOF (or CLOSE) has been processed */
    char fail_text[MPROTO_FIELD_MAX + 1]; /* shown after the request is answered */
    char forced[PROTO_COMMAND_MAX + 1];   /* authorized_keys command=, with the original */
    /* What the audit log and metrics hear of it (broker/session/chanreport.c). */
    unsigned no;                  /* > 0 once CHAN_OPEN was sent */
    uint64_t bytes_in, bytes_out; /* client -> VM, VM -> client */
    char exit_text[32];           /* "status N" or "signal NAME"; "" = none */
    int agent_req; /* auth-agent-req@openssh.com seen (only asked for where allowed) */
    /* A channel we open to the client (broker/session/forward.c): forwarded-tcpip or
     * auth-agent@openssh.com, not answered yet while `opening`. */
    int opening;
    int fwd_agent;
    char fwd_addr[PROTO_HOST_MAX + 1];  /* the listen address the client asked for */
    uint32_t fwd_port;                  /* the port bound in the VM */
    char orig_addr[PROTO_HOST_MAX + 1]; /* who connected, inside the VM */
    uint32_t orig_port;
};

/* A new channel of kind in a free slot (no SSH channel, no agent connection yet), or NULL. */
struct chan *chan_new(struct netchild *s, enum chan_kind kind);
/* The channel callbacks for c->ch (the session requests for CHAN_SESSION). */
void chan_set_callbacks(struct chan *c);

/* The channel data callback (stdin of a session, the stream of a tcp channel). */
int chan_on_data(ssh_session ssh, ssh_channel ch, void *data, uint32_t len, int is_stderr,
                 void *ud);

/* Free the channel (closing its agent connection) and its slot. */
void chan_destroy(struct chan *c);
/* "burrow: <text>" on the channel's stderr, if the window allows. */
void chan_stderr_text(struct chan *c, const char *text);
/* End a session channel with text and exit status 255. */
void chan_fail(struct chan *c, const char *text);
/* What the ssh_event watches on the agent fd (0 = nothing). */
void chan_watch_agent(struct chan *c, short events);
void chan_close_agent(struct chan *c);

/* broker/session/chanreport.c: tell the monitor (for the master) a channel began or ended. */
void chan_report_open(struct chan *c, const char *type, const char *detail);
void chan_report_close(struct chan *c);
void chan_report_exit(struct chan *c, int is_signal, uint32_t value);

#endif /* BURROW_BROKER_CHANNEL_PRIV_H */
