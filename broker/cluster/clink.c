/*
 * broker/cluster/clink.c - the host-to-host SSH link (clink.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/cluster/clink.h"
#include "broker/cluster/cluster.h"
#include "broker/users/hostkeys.h"
#include "common/err.h"
#include "common/errmsg.h"

#define RELAY_BUF (64u << 10)

int clink_own_key(const struct burrow_config *cfg, ssh_key *out)
{
    struct hostkeys hk;
    *out = NULL;
    if (hostkeys_load(&hk, cfg->ssh.host_key_dir, 0) != 0)
        return BURROW_ERR_NOT_FOUND;
    for (int i = 0; i < HOSTKEYS_N; i++)
        if (hk.k[i].key && ssh_key_type(hk.k[i].key) == SSH_KEYTYPE_ED25519) {
            *out = hk.k[i].key;
            hk.k[i].key = NULL;
        }
    hostkeys_free(&hk);
    return *out ? 0 : BURROW_ERR_NOT_FOUND;
}

/* The server's key must be exactly the one its record pins. */
static int key_pinned(ssh_session s, const struct chost *h)
{
    ssh_key k = NULL;
    char *b64 = NULL;
    int ok = ssh_get_server_publickey(s, &k) == SSH_OK && ssh_key_type(k) == SSH_KEYTYPE_ED25519 &&
             strcmp(h->keytype, "ssh-ed25519") == 0 &&
             ssh_pki_export_pubkey_base64(k, &b64) == SSH_OK && strcmp(b64, h->key) == 0;
    ssh_string_free_char(b64);
    ssh_key_free(k);
    return ok;
}

int clink_connect(const struct burrow_config *cfg, const struct chost *h, ssh_key ours,
                  ssh_session *out, char *err, size_t errsz)
{
    char port[8];
    (void)cfg;
    snprintf(port, sizeof(port), "%u", (unsigned)h->port);
    int fd = cluster_tcp_connect(h->addr, port);
    if (fd < 0)
        return errmsg(err, errsz, BURROW_ERR_CLOSED, "host %s (%s port %s) unreachable: %s",
                      h->name, h->addr, port, strerror(errno));
    ssh_session s = ssh_new();
    long timeout = 10;
    int no = 0;
    if (!s || ssh_options_set(s, SSH_OPTIONS_FD, &fd) ||
        ssh_options_set(s, SSH_OPTIONS_HOST, h->addr) ||
        ssh_options_set(s, SSH_OPTIONS_USER, CLINK_USER) ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) ||
        ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) ||
        ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, "ssh-ed25519") ||
        ssh_options_set(s, SSH_OPTIONS_KEY_EXCHANGE, "curve25519-sha256") ||
        ssh_connect(s) != SSH_OK) {
        snprintf(err, errsz, "host %s: %s", h->name, s ? ssh_get_error(s) : "no memory");
        if (s)
            ssh_free(s);
        close(fd);
        return BURROW_ERR_CLOSED;
    }
    if (!key_pinned(s, h)) {
        snprintf(err, errsz, "host %s: its SSH host key is not the one pinned in etcd", h->name);
    } else if (ssh_userauth_publickey(s, NULL, ours) != SSH_AUTH_SUCCESS) {
        snprintf(err, errsz, "host %s refused this host's key: %s", h->name, ssh_get_error(s));
    } else {
        *out = s;
        return 0;
    }
    ssh_disconnect(s);
    ssh_free(s);
    close(fd);
    return BURROW_ERR_PERM;
}

int clink_exec(ssh_session s, const char *cmd, ssh_channel *out)
{
    ssh_channel ch = ssh_channel_new(s);
    if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
        ssh_channel_request_exec(ch, cmd) != SSH_OK) {
        if (ch)
            ssh_channel_free(ch);
        return BURROW_ERR_CLOSED;
    }
    *out = ch;
    return 0;
}

int clink_read_line(ssh_channel ch, char *out, size_t outsz, int timeout_ms)
{
    size_t n = 0;
    while (n + 1 < outsz) {
        char c;
        int r = ssh_channel_read_timeout(ch, &c, 1, 0, timeout_ms);
        if (r <= 0)
            return r == 0 ? BURROW_ERR_TIMEOUT : BURROW_ERR_CLOSED;
        if (c == '\n') {
            out[n] = 0;
            return 0;
        }
        if ((unsigned char)c < ' ' || c == 0x7f)
            return BURROW_ERR_PROTOCOL;
        out[n++] = c;
    }
    return BURROW_ERR_TOO_LARGE;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int clink_relay(ssh_session s, ssh_channel ch, int fd)
{
    char *buf = malloc(RELAY_BUF);
    int from_fd = 1, from_ch = 1;
    if (!buf)
        return BURROW_ERR_NOMEM;
    while (from_fd || from_ch) {
        struct pollfd p[2] = {{ssh_get_fd(s), POLLIN, 0}, {from_fd ? fd : -1, POLLIN, 0}};
        if (poll(p, 2, 1000) < 0 && errno != EINTR)
            break;
        if (from_ch) {
            int n;
            while ((n = ssh_channel_read_nonblocking(ch, buf, RELAY_BUF, 0)) > 0)
                if (write_all(fd, buf, (size_t)n) != 0) {
                    from_ch = 0;
                    break;
                }
            if (n == SSH_ERROR || ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch)) {
                from_ch = 0;
                shutdown(fd, SHUT_WR);
                if (ssh_channel_is_closed(ch) || n == SSH_ERROR)
                    break;
            }
        }
        if (from_fd && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(fd, buf, RELAY_BUF);
            if (n > 0 && ssh_channel_write(ch, buf, (uint32_t)n) != n)
                break;
            if (n <= 0 && !(n < 0 && errno == EINTR)) {
                from_fd = 0;
                ssh_channel_send_eof(ch);
            }
        }
    }
    free(buf);
    return 0;
}
