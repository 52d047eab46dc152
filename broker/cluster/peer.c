/*
 * broker/cluster/peer.c - the owner's side of the host-to-host link
 * (clink.h): a peer session, one process per TCP connection on
 * [cluster] peer_listen, talking to the master with the same messages as
 * an SSH session's monitor (broker/mproto.h: AUTH_OK with method "peer",
 * VM_REQ, VM_CONNECT; VM_OK, VM_ERR, VM_GONE, VM_CONN, END back), so her VM
 * here counts the forwarded sessions like local ones.
 *
 * The master starts it like an SSH session (a re-executed burrowd, PID 1
 * of its own pid namespace: nothing of the master's memory). As root it
 * loads the host keys and, here (cluster_peer_prepare), a snapshot of the
 * pinned keys of the live hosts (run_dir/cluster/hosts); then the caller
 * jails it like the SSH front's net child (its own namespaces, an empty
 * root, a per-connection uid, no capabilities, the session-net seccomp
 * filter) before cluster_peer_serve reads a byte from the network. So it
 * opens no file and no socket: the master hands it the connection to her
 * VM's socket (VM_CONNECT), as to a session's monitor.
 *
 * The client must authenticate with the ed25519 key of a live host of the
 * cluster; nothing else is accepted, and only one exec channel: `hold
 * USER` or `connect USER`. A `connect` stream must begin with the
 * "CONNECT 1024" of the session protocol (the master sends it to her VM;
 * no other port of her VM is reachable through the link). The master
 * serves her here only (ROUTE peer): a peer session never forwards again.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker/cluster/clink.h"
#include "broker/cluster/cluster.h"
#include "broker/mproto.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/vsockconn.h"

#define PEER_AUTH_TRIES 3
#define PEER_GRACE_S    30

/* Is this key the pinned key of a live host (in the snapshot taken before the jail)? */
static int key_known(const char *hosts, ssh_key k, struct chost *who)
{
    char *b64 = NULL;
    int ok = ssh_key_type(k) == SSH_KEYTYPE_ED25519 &&
             ssh_pki_export_pubkey_base64(k, &b64) == SSH_OK &&
             chosts_find_key_in(hosts, "ssh-ed25519", b64, who) == 0;
    ssh_string_free_char(b64);
    return ok;
}

/* What the callbacks learn, until the exec request arrives. */
struct cluster_peer {
    char *hosts; /* run_dir/cluster/hosts as it was when the process started */
    struct chost who;
    int authed, tries;
    ssh_channel ch;
    char cmd[128];
    int have_cmd;
    struct ssh_channel_callbacks_struct chcb;
};

static int on_pubkey(ssh_session s, const char *user, struct ssh_key_struct *pubkey,
                     char signature_state, void *ud)
{
    struct cluster_peer *p = ud;
    (void)s, (void)user;
    if (p->tries >= PEER_AUTH_TRIES || !key_known(p->hosts, pubkey, &p->who)) {
        p->tries++;
        return SSH_AUTH_DENIED;
    }
    if (signature_state == SSH_PUBLICKEY_STATE_NONE)
        return SSH_AUTH_SUCCESS; /* a probe: PK_OK */
    if (signature_state == SSH_PUBLICKEY_STATE_VALID) {
        p->authed = 1;
        return SSH_AUTH_SUCCESS;
    }
    p->tries++;
    return SSH_AUTH_DENIED;
}

static int on_exec(ssh_session s, ssh_channel ch, const char *command, void *ud)
{
    struct cluster_peer *p = ud;
    (void)s, (void)ch;
    if (p->have_cmd || strlen(command) >= sizeof(p->cmd))
        return SSH_ERROR;
    snprintf(p->cmd, sizeof(p->cmd), "%s", command);
    p->have_cmd = 1;
    return SSH_OK;
}

static ssh_channel on_open(ssh_session s, void *ud)
{
    struct cluster_peer *p = ud;
    if (!p->authed || p->ch)
        return NULL;
    p->ch = ssh_channel_new(s);
    memset(&p->chcb, 0, sizeof(p->chcb));
    p->chcb.userdata = p;
    p->chcb.channel_exec_request_function = on_exec;
    ssh_callbacks_init(&p->chcb);
    ssh_set_channel_callbacks(p->ch, &p->chcb);
    return p->ch;
}

/* Key exchange, a pinned host's key, one channel with one exec command. */
static int accept_peer(ssh_session s, void *bind, int fd, struct cluster_peer *p)
{
    struct ssh_server_callbacks_struct cb;
    memset(&cb, 0, sizeof(cb));
    cb.userdata = p;
    cb.auth_pubkey_function = on_pubkey;
    cb.channel_open_request_session_function = on_open;
    ssh_callbacks_init(&cb);
    if (ssh_bind_accept_fd((ssh_bind)bind, s, fd) != SSH_OK)
        return BURROW_ERR_CLOSED;
    ssh_set_server_callbacks(s, &cb);
    ssh_set_auth_methods(s, SSH_AUTH_METHOD_PUBLICKEY);
    if (ssh_handle_key_exchange(s) != SSH_OK)
        return BURROW_ERR_CLOSED;
    ssh_event ev = ssh_event_new();
    if (!ev || ssh_event_add_session(ev, s) != SSH_OK)
        return BURROW_ERR_NOMEM;
    while (!p->have_cmd && p->tries < PEER_AUTH_TRIES && ssh_is_connected(s))
        if (ssh_event_dopoll(ev, 1000) == SSH_ERROR)
            break;
    ssh_event_remove_session(ev, s);
    ssh_event_free(ev);
    if (!p->authed)
        log_warn("peer link: a client that is not a live cluster host was refused");
    return p->have_cmd && p->authed ? 0 : BURROW_ERR_PERM;
}

static void say(ssh_channel ch, const char *fmt, const char *arg)
{
    char line[512];
    int n = snprintf(line, sizeof(line), fmt, arg);
    if (n > 0)
        ssh_channel_write(ch, line,
                          (uint32_t)((size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1));
}

/* Ask the master for her VM here: 0, or the refusal in text. */
static int get_vm(int mfd, const char *user, char *text, size_t textsz)
{
    const char *auth[3] = {user, "peer", ""}, *req[1] = {user};
    struct mproto_msg m;
    if (mproto_send(mfd, MPROTO_AUTH_OK, 3, auth) != 0 ||
        mproto_send(mfd, MPROTO_VM_REQ, 1, req) != 0)
        return BURROW_ERR_CLOSED;
    int fd = -1, r = mproto_recv_wait(mfd, &m, &fd, clock_now_ms() + 130000);
    if (fd >= 0)
        close(fd);
    if (r != 0)
        return r;
    if (m.type == MPROTO_VM_OK)
        return 0;
    snprintf(text, textsz, "%.*s", (int)textsz - 1, m.n >= 1 ? m.f[0] : "refused");
    return BURROW_ERR_PERM;
}

/*
 * The stream's first line must be the session protocol's "CONNECT 1024";
 * the master then connects to her VM's socket and sends it there, as for a
 * session's monitor: the connection (its "OK" still to come), or -1.
 */
static int vm_connect(ssh_channel ch, int mfd, const char *user)
{
    char line[VSOCKCONN_LINE_MAX];
    const char *req[1] = {user};
    uint32_t port;
    struct mproto_msg m;
    int fd = -1;
    if (clink_read_line(ch, line, sizeof(line), 30000) != 0 ||
        vsockconn_parse_connect(line, &port) != 0 || port != PROTO_SESSION_PORT) {
        log_warn("peer link: a connect stream for %s did not start with CONNECT %u", user,
                 PROTO_SESSION_PORT);
        return -1;
    }
    if (mproto_send(mfd, MPROTO_VM_CONNECT, 1, req) != 0 ||
        mproto_recv_wait(mfd, &m, &fd, clock_now_ms() + 130000) != 0)
        return -1;
    if (m.type == MPROTO_VM_CONN && fd >= 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* hold: keep the channel (and so one session of hers here) until either side ends. */
static void hold_loop(ssh_session s, ssh_channel ch, int mfd)
{
    char c;
    for (;;) {
        struct pollfd p[2] = {{ssh_get_fd(s), POLLIN, 0}, {mfd, POLLIN, 0}};
        poll(p, 2, 1000);
        if (p[1].revents) {
            struct mproto_msg m;
            int r = mproto_recv(mfd, &m);
            if (r == BURROW_ERR_CLOSED ||
                (r == 0 && (m.type == MPROTO_VM_GONE || m.type == MPROTO_END)))
                return;
        }
        int n = ssh_channel_read_nonblocking(ch, &c, 1, 0);
        if (n == SSH_ERROR || ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))
            return;
    }
}

int cluster_peer_prepare(const struct burrow_config *cfg, struct cluster_peer **out)
{
    static struct cluster_peer pr;
    memset(&pr, 0, sizeof(pr));
    prctl(PR_SET_NAME, "burrow-peer", 0, 0, 0);
    if (chosts_read(cfg, &pr.hosts) != 0) {
        log_warn("peer link: no live hosts known here yet (run_dir/cluster/hosts)");
        return BURROW_ERR_NOT_FOUND;
    }
    *out = &pr;
    return 0;
}

/* `hold USER` or `connect USER` with a valid name: the user in out (0), else -1. */
static int parse_cmd(const char *cmd, char *user, size_t usersz)
{
    const char *name = strncmp(cmd, "hold ", 5) == 0      ? cmd + 5
                       : strncmp(cmd, "connect ", 8) == 0 ? cmd + 8
                                                          : NULL;
    if (!name || strlen(name) >= usersz || userdb_name_check(name, NULL) != 0)
        return -1;
    snprintf(user, usersz, "%s", name);
    return 0;
}

int cluster_peer_serve(struct cluster_peer *pr, int fd, int mfd, void *bind)
{
    ssh_session s = ssh_new();
    char user[USERDB_NAME_MAX + 1], text[512];
    alarm(PEER_GRACE_S); /* key exchange, authentication and the command */
    if (!s || accept_peer(s, bind, fd, pr) != 0)
        return 1;
    alarm(0);
    ssh_channel ch = pr->ch;
    if (parse_cmd(pr->cmd, user, sizeof(user)) != 0) {
        say(ch, "ERR %s\n", "unknown request");
        return 1;
    }
    int r = get_vm(mfd, user, text, sizeof(text));
    if (r != 0) {
        say(ch, "ERR %s\n", r == BURROW_ERR_PERM ? text : "no answer from burrowd");
        ssh_channel_send_eof(ch);
        ssh_channel_close(ch);
        return 1;
    }
    if (strncmp(pr->cmd, "hold ", 5) == 0) {
        say(ch, "%s\n", "OK");
        hold_loop(s, ch, mfd);
    } else {
        int vfd = vm_connect(ch, mfd, user);
        if (vfd < 0)
            return 1;
        clink_relay(s, ch, vfd);
        close(vfd);
    }
    ssh_channel_send_eof(ch);
    ssh_channel_close(ch);
    ssh_disconnect(s);
    return 0;
}
