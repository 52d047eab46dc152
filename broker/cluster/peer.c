/*
 * broker/cluster/peer.c - the owner's side of the host-to-host link
 * (clink.h): a peer session, one process per TCP connection on
 * [cluster] peer_listen, forked by the master like an SSH session and
 * talking to it with the same messages (broker/mproto.h: AUTH_OK with
 * method "peer", VM_REQ; VM_OK, VM_ERR, VM_GONE, END back), so her VM here
 * counts the forwarded sessions like local ones.
 *
 * The client must authenticate with the ed25519 key of a live host of the
 * cluster (run_dir/cluster/hosts, pinned from etcd); nothing else is
 * accepted, and only one exec channel: `hold USER` or `connect USER`.
 * The master serves her here only (ROUTE peer): a peer session never
 * forwards again.
 *
 * Known gap: unlike the SSH net child, this process is not jailed before
 * key exchange (it runs libssh as root). The peer port must only be
 * reachable from the cluster's hosts (docs/cluster.md).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
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

#define PEER_AUTH_TRIES 3
#define PEER_GRACE_S    30

/* Is this key the pinned key of a live host? */
static int key_known(const struct burrow_config *cfg, ssh_key k, struct chost *who)
{
    char *b64 = NULL;
    int ok = ssh_key_type(k) == SSH_KEYTYPE_ED25519 &&
             ssh_pki_export_pubkey_base64(k, &b64) == SSH_OK &&
             chosts_find_key(cfg, "ssh-ed25519", b64, who) == 0;
    ssh_string_free_char(b64);
    return ok;
}

/* What the callbacks learn, until the exec request arrives. */
struct peer {
    const struct burrow_config *cfg;
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
    struct peer *p = ud;
    (void)s, (void)user;
    if (p->tries >= PEER_AUTH_TRIES || !key_known(p->cfg, pubkey, &p->who)) {
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
    struct peer *p = ud;
    (void)s, (void)ch;
    if (p->have_cmd || strlen(command) >= sizeof(p->cmd))
        return SSH_ERROR;
    snprintf(p->cmd, sizeof(p->cmd), "%s", command);
    p->have_cmd = 1;
    return SSH_OK;
}

static ssh_channel on_open(ssh_session s, void *ud)
{
    struct peer *p = ud;
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
static int accept_peer(ssh_session s, void *bind, int fd, struct peer *p)
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

/* Ask the master for her VM here: its socket path, or the refusal in text. */
static int get_vm(int mfd, const char *user, const struct chost *who, char *sock, size_t socksz,
                  char *text, size_t textsz)
{
    const char *auth[3] = {user, "peer", ""}, *req[1] = {user};
    struct mproto_msg m;
    (void)who;
    if (mproto_send(mfd, MPROTO_AUTH_OK, 3, auth) != 0 ||
        mproto_send(mfd, MPROTO_VM_REQ, 1, req) != 0)
        return BURROW_ERR_CLOSED;
    int fd = -1, r = mproto_recv_wait(mfd, &m, &fd, clock_now_ms() + 130000);
    if (fd >= 0)
        close(fd);
    if (r != 0)
        return r;
    if (m.type == MPROTO_VM_OK && m.n >= 1) {
        snprintf(sock, socksz, "%.*s", (int)socksz - 1, m.f[0]);
        return 0;
    }
    snprintf(text, textsz, "%.*s", (int)textsz - 1, m.n >= 1 ? m.f[0] : "refused");
    return BURROW_ERR_PERM;
}

static int connect_sock(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path))
        return -1;
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
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

int cluster_peer_main(int fd, int mfd, const struct burrow_config *cfg, void *bind)
{
    static struct peer pr;
    ssh_session s = ssh_new();
    char user[USERDB_NAME_MAX + 1], sock[VMMGR_PATH_MAX], text[512];
    prctl(PR_SET_NAME, "burrow-peer", 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    memset(&pr, 0, sizeof(pr));
    pr.cfg = cfg;
    alarm(PEER_GRACE_S); /* key exchange, authentication and the command */
    if (!s || accept_peer(s, bind, fd, &pr) != 0)
        return 1;
    alarm(0);
    ssh_channel ch = pr.ch;
    const char *cmd = pr.cmd;
    struct chost who = pr.who;
    int is_hold = strncmp(cmd, "hold ", 5) == 0, is_conn = strncmp(cmd, "connect ", 8) == 0;
    snprintf(user, sizeof(user), "%.32s", cmd + (is_hold ? 5 : 8));
    if ((!is_hold && !is_conn) || userdb_name_check(user, NULL) != 0 ||
        strlen(cmd + (is_hold ? 5 : 8)) > USERDB_NAME_MAX) {
        say(ch, "ERR %s\n", "unknown request");
        return 1;
    }
    int r = get_vm(mfd, user, &who, sock, sizeof(sock), text, sizeof(text));
    if (r != 0) {
        say(ch, "ERR %s\n", r == BURROW_ERR_PERM ? text : "no answer from burrowd");
        ssh_channel_send_eof(ch);
        ssh_channel_close(ch);
        return 1;
    }
    if (is_hold) {
        say(ch, "%s\n", "OK");
        hold_loop(s, ch, mfd);
    } else {
        int vfd = connect_sock(sock);
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
