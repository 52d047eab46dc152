/* broker/session/forward.c - ssh -R and ssh -A in the net child (see forward.h). */
#include "broker/session/forward.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/server.h>

#include "broker/session/agentconn.h"
#include "broker/session/channel_priv.h"
#include "broker/session/monwrap.h"
#include "common/err.h"
#include "common/log.h"

#define FWD_TCP_MAX (SESSION_FWD_MAX - 1) /* one slot stays for the agent socket */
#define FWD_IN_CAP  4096                  /* a few ACCEPTED frames */

struct fwd_listener {
    int afd;                        /* the agent connection holding the listener */
    short watched;                  /* POLLIN registered with the ssh_event */
    int agent;                      /* the agent socket, else a tcp port */
    int closing;                    /* cancelled: closed at the next pump */
    char addr[PROTO_HOST_MAX + 1];  /* tcp: the address as the client named it */
    uint32_t asked_port;            /* tcp: as asked (0: any free one) */
    struct agentconn_listener info; /* bound port or socket path, token */
    uint8_t in[FWD_IN_CAP];
    size_t in_len;
};

/* --- policy ------------------------------------------------------------------ */

static int remote_allowed(const struct netchild *s)
{
    int sw = s->cfg->ssh.allow_tcp_forwarding;
    return (sw == TCP_FWD_YES || sw == TCP_FWD_REMOTE) && !(s->opts.flags & AUTHKEY_NO_PORT_FWD);
}

int fwd_agent_allowed(const struct netchild *s)
{
    return s->cfg->ssh.allow_agent_forwarding && !(s->opts.flags & AUTHKEY_NO_AGENT_FWD);
}

/* --- listeners ------------------------------------------------------------------ */

static int free_slot(const struct netchild *s)
{
    for (int i = 0; i < SESSION_FWD_MAX; i++)
        if (!s->fwd[i])
            return i;
    return -1;
}

static unsigned count_tcp(const struct netchild *s)
{
    unsigned n = 0;
    for (int i = 0; i < SESSION_FWD_MAX; i++)
        n += s->fwd[i] && !s->fwd[i]->agent && !s->fwd[i]->closing;
    return n;
}

/* OPEN(listen) on a fresh agent connection: the listener, or NULL (logged). */
static struct fwd_listener *listen_in_vm(struct netchild *s, int agent, uint32_t port)
{
    char err[MPROTO_FIELD_MAX + 1];
    struct proto_open o = {.kind = PROTO_OPEN_LISTEN, .port = port};
    struct fwd_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    o.flags = agent ? PROTO_OPEN_F_UNIX : 0;
    o.user = proto_str_c(s->user);
    l->agent = agent;
    l->asked_port = port;
    if (monwrap_connect_vm(s, &l->afd, err, sizeof(err)) != 0) {
        free(l);
        log_info("%s: no listener in the VM: %s", s->user, err);
        return NULL;
    }
    if (agentconn_listen(l->afd, &o, &l->info, err, sizeof(err)) != 0) {
        close(l->afd);
        free(l);
        log_info("%s: no listener in the VM: %s", s->user, err);
        return NULL;
    }
    return l;
}

int fwd_request(struct netchild *s, const char *addr, int port, uint16_t *bound)
{
    int slot = free_slot(s);
    if (!addr)
        addr = "";
    if (!remote_allowed(s) || port < 0 || port > 65535 || strlen(addr) > PROTO_HOST_MAX ||
        !authkeys_permits_listen(&s->opts, addr, (unsigned)port) || slot < 0 ||
        count_tcp(s) >= FWD_TCP_MAX) {
        log_info("%s: remote forward %s:%d refused", s->user, addr, port);
        return BURROW_ERR_PERM;
    }
    struct fwd_listener *l = listen_in_vm(s, 0, (uint32_t)port);
    if (!l)
        return BURROW_ERR_SYSTEM;
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    s->fwd[slot] = l;
    *bound = (uint16_t)l->info.port;
    log_info("%s: remote forward: port %u in the VM to the client's %s:%d", s->user, l->info.port,
             addr, port);
    return 0;
}

int fwd_cancel(struct netchild *s, const char *addr, int port)
{
    for (int i = 0; i < SESSION_FWD_MAX; i++) {
        struct fwd_listener *l = s->fwd[i];
        if (l && !l->agent && !l->closing && strcmp(l->addr, addr ? addr : "") == 0 &&
            (l->asked_port == (uint32_t)port || l->info.port == (uint32_t)port)) {
            l->closing = 1;
            return 0;
        }
    }
    return BURROW_ERR_NOT_FOUND;
}

int fwd_on_global(struct netchild *s, ssh_message msg)
{
    const char *addr = ssh_message_global_request_address(msg);
    int port = ssh_message_global_request_port(msg);
    uint16_t bound = 0;
    switch (ssh_message_subtype(msg)) {
    case SSH_GLOBAL_REQUEST_TCPIP_FORWARD:
        if (fwd_request(s, addr, port, &bound) != 0)
            return 1;
        break;
    case SSH_GLOBAL_REQUEST_CANCEL_TCPIP_FORWARD:
        if (fwd_cancel(s, addr, port) != 0)
            return 1;
        break;
    default:
        return 1; /* REQUEST_FAILURE, as sshd answers what it does not know */
    }
    if (ssh_message_global_request_reply_success(msg, bound) != SSH_OK)
        log_debug("global request answer not sent");
    return 0;
}

const char *fwd_agent_socket(struct netchild *s)
{
    for (int i = 0; i < SESSION_FWD_MAX; i++)
        if (s->fwd[i] && s->fwd[i]->agent)
            return s->fwd[i]->info.path;
    int slot = free_slot(s);
    if (!fwd_agent_allowed(s) || slot < 0)
        return NULL;
    struct fwd_listener *l = listen_in_vm(s, 1, 0);
    if (!l)
        return NULL;
    s->fwd[slot] = l;
    return l->info.path;
}

/* --- connections made to a listener -------------------------------------------- */

/* A claimed connection becomes a channel to the client, opened at the next pump. */
static void take_accepted(struct netchild *s, struct fwd_listener *l,
                          const struct proto_accepted *a)
{
    char err[MPROTO_FIELD_MAX + 1];
    struct chan *c = chan_new(s, CHAN_TCP);
    if (!c) {
        log_info("%s: a forwarded connection dropped: no free channel", s->user);
        return; /* unclaimed, the agent closes it */
    }
    struct proto_open o = {.kind = PROTO_OPEN_ACCEPT, .conn_id = a->id};
    o.user = proto_str_c(s->user);
    memcpy(o.token, l->info.token, sizeof(o.token));
    if (monwrap_connect_vm(s, &c->afd, err, sizeof(err)) != 0 ||
        agentconn_start(c->afd, &o, err, sizeof(err)) != 0) {
        log_info("%s: a forwarded connection lost: %s", s->user, err);
        chan_destroy(c);
        return;
    }
    c->ch = ssh_channel_new(s->ssh);
    if (!c->ch || proto_str_copy(a->origin, c->orig_addr, sizeof(c->orig_addr)) != 0) {
        chan_destroy(c);
        return;
    }
    c->opening = 1;
    c->fwd_agent = l->agent;
    snprintf(c->fwd_addr, sizeof(c->fwd_addr), "%s", l->addr);
    c->fwd_port = l->info.port;
    c->orig_port = a->origin_port;
    chan_set_callbacks(c);
}

int fwd_open_step(struct chan *c)
{
    int r = c->fwd_agent ? ssh_channel_open_auth_agent(c->ch)
                         : ssh_channel_open_reverse_forward(c->ch, c->fwd_addr, (int)c->fwd_port,
                                                            c->orig_addr, (int)c->orig_port);
    if (r == SSH_AGAIN)
        return 1;
    /* A client may confirm, send its data, EOF and CLOSE in one go: libssh then
     * reports the (closed) channel as not open, but the data is ours to deliver. */
    if (r != SSH_OK && !c->remote_closed)
        return -1;
    c->opening = 0;
    c->started = 1;
    return 0;
}

static int listener_event_cb(socket_t fd, int revents, void *userdata)
{
    (void)fd;
    (void)revents;
    (void)userdata;
    return 0; /* handled in fwd_pump_all, after the poll */
}

static void listener_free(struct netchild *s, int i)
{
    struct fwd_listener *l = s->fwd[i];
    if (l->watched)
        ssh_event_remove_fd(s->ev, l->afd);
    close(l->afd); /* the agent's listener session ends: the port or socket goes */
    free(l);
    s->fwd[i] = NULL;
}

/* Read what the agent sent; each ACCEPTED becomes a channel. 0, or -1 if the listener ended. */
static int pump_listener(struct netchild *s, struct fwd_listener *l)
{
    for (;;) {
        ssize_t n = read(l->afd, l->in + l->in_len, sizeof(l->in) - l->in_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return -1; /* the VM or its agent went away */
        l->in_len += (size_t)n;
        size_t off = 0;
        struct proto_frame f;
        int r;
        while ((r = proto_frame_parse(l->in + off, l->in_len - off, &f)) == 0) {
            struct proto_accepted a;
            if (f.type == PROTO_ACCEPTED && proto_get_accepted(&f, &a) == 0)
                take_accepted(s, l, &a);
            else if (!proto_type_known(f.type) || f.type == PROTO_ACCEPTED)
                return -1; /* a broken agent: drop the listener */
            off += f.size;
        }
        if (r != BURROW_ERR_AGAIN)
            return -1;
        memmove(l->in, l->in + off, l->in_len - off);
        l->in_len -= off;
        if (l->in_len == sizeof(l->in))
            return -1; /* no frame fits: not ours */
    }
    return 0;
}

void fwd_pump_all(struct netchild *s)
{
    for (int i = 0; i < SESSION_FWD_MAX; i++) {
        struct fwd_listener *l = s->fwd[i];
        if (!l)
            continue;
        if (l->closing || pump_listener(s, l) != 0) {
            listener_free(s, i);
            continue;
        }
        if (!l->watched && ssh_event_add_fd(s->ev, l->afd, POLLIN, listener_event_cb, l) == SSH_OK)
            l->watched = POLLIN;
    }
}

void fwd_free_all(struct netchild *s)
{
    for (int i = 0; i < SESSION_FWD_MAX; i++)
        if (s->fwd[i])
            listener_free(s, i);
}
