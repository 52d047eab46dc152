/*
 * broker/cluster/clusterd.c - the cluster process: the one place that keeps
 * this host's standing in etcd (docs/cluster.md).
 *
 * burrowd's master forks it at start (cmaster.c) and talks to it over a
 * SEQPACKET socketpair, because every etcd call blocks (up to lease_ttl/10)
 * and the master must not. It owns:
 *   - membership: a lease of [cluster] lease_ttl seconds, kept alive every
 *     ttl/10, and PREFIX/hosts/NAME under it (address, pinned host key,
 *     capacity, load);
 *   - fencing: run_dir/cluster/lease holds the deadline (last successful
 *     keep-alive *sent* + ttl/2) after which no disk of ours may be written;
 *     the NBD bridges enforce it on their own (nbdfuse.c), and at ttl/3 the
 *     master is told FENCE and stops every VM gracefully. The lease cannot
 *     expire at etcd before last-sent + ttl, so both happen first.
 *     One exception keeps sessions alive through an etcd outage: while every
 *     member *refuses* the connection (no etcd process is running, so no
 *     leader exists that could expire a lease, and a new leader renews every
 *     lease in full) the deadline is carried forward. A timeout, an
 *     unreachable network or an answer without a renewal is not that proof.
 *   - the user database mirror: PREFIX/users/ -> state_dir/users/ (cusers.c);
 *   - the hosts mirror: PREFIX/hosts/ -> run_dir/cluster/hosts;
 *   - routing (ROUTE): who owns users/NAME/vm, placement on the least-loaded
 *     live host by a transaction that wins only if no owner exists;
 *   - RELEASE: a VM of ours ended: its ownership key is deleted if it still
 *     names us.
 *
 * Messages (text, one per packet, at most CLUSTER_MSG_MAX bytes):
 *   master -> here: ROUTE seq user front|peer, RELEASE user, LOAD n
 *   here -> master: UP new|reused, ROUTED seq local | remote host | error text,
 *                   FENCE text
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "broker/cluster/chosts.h"
#include "broker/cluster/clusterd.h"
#include "broker/cluster/cluster.h"
#include "broker/cluster/etcd.h"
#include "broker/fsutil.h"
#include "common/atomicfile.h"
#include "common/err.h"
#include "common/log.h"

#define DOWN_TEXT                                                                                  \
    "the cluster's state store (etcd) cannot be reached: new logins are refused until it is "      \
    "back; please try again later"

struct cd {
    const struct burrow_config *cfg;
    struct etcd e;
    int mfd;
    struct chost self;
    int64_t last_ok_ns;  /* monotonic time the last successful keep-alive was sent */
    int64_t deadline_ns; /* fencing deadline written to run_dir/cluster/lease */
    int64_t next_ka_ns, next_sync_ns;
    int fenced;    /* FENCE sent since the last success */
    int reachable; /* the last etcd call succeeded */
    unsigned load, published_load;
    int64_t users_rev; /* revision of the last users mirror */
};

static int64_t ttl_ns(const struct cd *c, unsigned div)
{
    return (int64_t)c->cfg->cluster.lease_ttl * 1000000000LL / div;
}

static void key_of(const struct cd *c, char *out, size_t outsz, const char *a, const char *b,
                   const char *d)
{
    snprintf(out, outsz, "%s%s%s%s", c->cfg->cluster.prefix, a, b ? b : "", d ? d : "");
}

static void send_master(struct cd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_master(struct cd *c, const char *fmt, ...)
{
    char buf[CLUSTER_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0 &&
        send(c->mfd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1, MSG_NOSIGNAL) < 0)
        _exit(0); /* the master is gone */
}

/* --- the lease and the fencing deadline ------------------------------------ */

static int write_lease_file(struct cd *c)
{
    char path[CONFIG_PATH_MAX + 32], text[96];
    int n = snprintf(text, sizeof(text), "lease %lld\ndeadline %lld\n", (long long)c->self.lease,
                     (long long)c->deadline_ns);
    int r = cluster_path(c->cfg, "lease", path, sizeof(path));
    return r ? r : fs_write_atomic(path, text, (size_t)n, 0644);
}

static int publish_self(struct cd *c)
{
    char key[ETCD_KEY_MAX], val[CHOST_LINE_MAX];
    c->self.load = c->load;
    key_of(c, key, sizeof(key), "hosts/", c->self.name, NULL);
    int r = chost_format(&c->self, val, sizeof(val));
    if (r == 0)
        r = etcd_put(&c->e, key, val, strlen(val), c->self.lease);
    if (r == 0)
        c->published_load = c->load;
    return r;
}

/* A new lease and our record under it. */
static int join(struct cd *c)
{
    int64_t sent = cluster_now_ns();
    int r = etcd_lease_grant(&c->e, (int)c->cfg->cluster.lease_ttl, &c->self.lease);
    if (r == 0)
        r = publish_self(c);
    if (r)
        return r;
    c->last_ok_ns = sent;
    c->deadline_ns = sent + ttl_ns(c, 2);
    c->fenced = 0;
    c->reachable = 1;
    return write_lease_file(c);
}

/* After a restart of burrowd: keep the lease of run_dir/cluster/lease if etcd still has it. */
static int rejoin(struct cd *c)
{
    char path[CONFIG_PATH_MAX + 32], *text = NULL;
    size_t len;
    long long id = 0;
    int ttl = 0;
    if (cluster_path(c->cfg, "lease", path, sizeof(path)) || fs_read_file(path, 256, &text, &len))
        return BURROW_ERR_NOT_FOUND;
    int ok = sscanf(text, "lease %lld", &id) == 1 && id > 0;
    free(text);
    int64_t sent = cluster_now_ns();
    if (!ok || etcd_lease_keepalive(&c->e, id, &ttl) != 0 || ttl <= 0)
        return BURROW_ERR_NOT_FOUND;
    c->self.lease = id;
    if (publish_self(c) != 0)
        return BURROW_ERR_NOT_FOUND;
    c->last_ok_ns = sent;
    c->deadline_ns = sent + ttl_ns(c, 2);
    c->reachable = 1;
    return write_lease_file(c);
}

static void fence(struct cd *c, const char *why)
{
    if (c->fenced)
        return;
    c->fenced = 1;
    log_warn("cluster: fencing: %s: stopping every VM of this host", why);
    send_master(c, "FENCE %s", why);
}

static void keepalive(struct cd *c)
{
    int ttl = 0;
    int64_t sent = cluster_now_ns();
    int r = etcd_lease_keepalive(&c->e, c->self.lease, &ttl);
    if (r == 0 && ttl > 0) {
        c->last_ok_ns = sent;
        c->deadline_ns = sent + ttl_ns(c, 2);
        if (!c->reachable || c->fenced) {
            log_info("cluster: etcd reachable again, lease %llx kept", (long long)c->self.lease);
            send_master(c, "UP kept");
        }
        c->reachable = 1;
        c->fenced = 0;
    } else if (r == 0) {
        /* The lease is gone: our ownership keys went with it; someone may own her now. */
        c->deadline_ns = 0;
        write_lease_file(c);
        fence(c, "this host's etcd lease expired");
        if (join(c) == 0)
            log_info("cluster: joined again with lease %llx", (long long)c->self.lease);
        return;
    } else {
        if (c->reachable) {
            log_warn("cluster: etcd unreachable (%s): new logins are refused", c->e.err);
            send_master(c, "DOWN");
        }
        c->reachable = 0;
        if (etcd_all_refused(&c->e))
            c->deadline_ns = sent + ttl_ns(c, 2); /* no etcd process runs: see the top */
        else if (sent >= c->deadline_ns - ttl_ns(c, 2) + ttl_ns(c, 3))
            fence(c, "etcd unreachable since the last lease renewal");
    }
    write_lease_file(c);
}

/* --- mirrors ------------------------------------------------------------- */

static void sync_hosts(struct cd *c)
{
    char prefix[ETCD_KEY_MAX];
    struct etcd_kvs kvs;
    struct chost hs[CHOSTS_MAX];
    size_t n = 0, pl;
    key_of(c, prefix, sizeof(prefix), "hosts/", NULL, NULL);
    pl = strlen(prefix);
    if (etcd_get_prefix(&c->e, prefix, &kvs) != 0)
        return;
    for (size_t i = 0; i < kvs.n && n < CHOSTS_MAX; i++)
        if (chost_parse(kvs.v[i].key + pl, kvs.v[i].value, &hs[n]) == 0 &&
            hs[n].lease == kvs.v[i].lease)
            n++;
        else
            log_warn("cluster: ignoring a malformed host record in etcd");
    etcd_kvs_free(&kvs);
    if (chosts_write(c->cfg, hs, n) != 0)
        log_warn("cluster: cannot write the hosts mirror");
}

static void sync_all(struct cd *c)
{
    if (!c->reachable)
        return;
    if (c->load != c->published_load)
        publish_self(c);
    sync_hosts(c);
    cusers_mirror(c->cfg, &c->e, &c->users_rev);
}

/* --- routing ----------------------------------------------------------------- */

/* The live host with the lowest load/capacity; ties: this host, then by name. */
static int place(struct cd *c, struct chost *out)
{
    char prefix[ETCD_KEY_MAX];
    struct etcd_kvs kvs;
    int found = 0;
    double best = 0;
    key_of(c, prefix, sizeof(prefix), "hosts/", NULL, NULL);
    size_t pl = strlen(prefix);
    int r = etcd_get_prefix(&c->e, prefix, &kvs);
    if (r)
        return r;
    for (size_t i = 0; i < kvs.n; i++) {
        struct chost h;
        if (chost_parse(kvs.v[i].key + pl, kvs.v[i].value, &h) != 0 || h.lease != kvs.v[i].lease ||
            h.load >= (h.capacity ? h.capacity : 1))
            continue;
        double score = (double)h.load / (double)h.capacity;
        int self = strcmp(h.name, c->self.name) == 0;
        if (!found || score < best ||
            (score == best &&
             (self || (strcmp(out->name, c->self.name) && strcmp(h.name, out->name) < 0)))) {
            *out = h;
            best = score;
            found = 1;
        }
    }
    etcd_kvs_free(&kvs);
    return found ? 0 : BURROW_ERR_BUSY;
}

/* The live record of host `name`, straight from etcd. */
static int host_record(struct cd *c, const char *name, struct chost *out)
{
    char key[ETCD_KEY_MAX];
    struct etcd_kvs kvs;
    key_of(c, key, sizeof(key), "hosts/", name, NULL);
    int r = etcd_get(&c->e, key, &kvs);
    if (r)
        return r;
    r = kvs.n == 1 && chost_parse(name, kvs.v[0].value, out) == 0 ? 0 : BURROW_ERR_NOT_FOUND;
    etcd_kvs_free(&kvs);
    return r;
}

static void route(struct cd *c, const char *seq, const char *user, int peer)
{
    char key[ETCD_KEY_MAX];
    struct etcd_kvs cur;
    struct chost target;
    if (userdb_name_check(user, NULL) != 0) {
        send_master(c, "ROUTED %s error bad user name", seq);
        return;
    }
    key_of(c, key, sizeof(key), "users/", user, "/vm");
    int r = etcd_get(&c->e, key, &cur);
    for (int tries = 0; r == 0 && cur.n == 0 && tries < 3; tries++) {
        /* No owner: place her, and win the key for the chosen host or learn the winner. */
        etcd_kvs_free(&cur);
        if (peer)
            target = c->self;
        else if ((r = place(c, &target)) != 0)
            break;
        const char *k[1] = {key}, *v[1] = {target.name};
        r = etcd_create(&c->e, 1, k, v, target.lease, &cur);
        if (r == 0) {
            cur.n = 0;
            goto have_target;
        }
        if (r == BURROW_ERR_EXISTS)
            r = 0; /* cur holds the winner (or is empty: retry) */
    }
    if (r) {
        c->reachable = r != BURROW_ERR_BUSY ? 0 : c->reachable;
        send_master(c, "ROUTED %s error %s", seq,
                    r == BURROW_ERR_BUSY ? "every host of the cluster is at its limit of running "
                                           "environments; please try again later"
                                         : DOWN_TEXT);
        return;
    }
    char owner[CONFIG_CLUSTER_NAME_MAX];
    snprintf(owner, sizeof(owner), "%s", cur.n ? cur.v[0].value : "");
    etcd_kvs_free(&cur);
    if (!ccfg_name_ok(owner)) {
        send_master(c, "ROUTED %s error her environment's owner record is malformed", seq);
        return;
    }
    if (strcmp(owner, c->self.name) == 0) {
        target = c->self;
    } else if (peer) {
        send_master(c, "ROUTED %s error her environment runs on another host (%s)", seq, owner);
        return;
    } else if (host_record(c, owner, &target) != 0) {
        send_master(c, "ROUTED %s error her environment's host %s is not live", seq, owner);
        return;
    }
have_target:
    if (strcmp(target.name, c->self.name) == 0)
        send_master(c, "ROUTED %s local", seq);
    else
        send_master(c, "ROUTED %s remote %s", seq, target.name);
    /* The forwarder pins the owner's key from the hosts mirror: make sure it is there. */
    if (strcmp(target.name, c->self.name) != 0)
        sync_hosts(c);
}

static void release(struct cd *c, const char *user)
{
    char key[ETCD_KEY_MAX];
    if (userdb_name_check(user, NULL) != 0)
        return;
    key_of(c, key, sizeof(key), "users/", user, "/vm");
    int r = etcd_delete_if(&c->e, key, c->self.name);
    if (r != 0 && r != BURROW_ERR_NOT_FOUND)
        log_warn("cluster: cannot release %s's VM ownership: %s", user, c->e.err);
}

static void on_master(struct cd *c)
{
    char buf[CLUSTER_MSG_MAX + 1], *f[4], *save = NULL;
    ssize_t n = recv(c->mfd, buf, CLUSTER_MSG_MAX, 0);
    unsigned k = 0;
    if (n <= 0)
        _exit(0); /* the master stopped: our VMs' deadline runs out unless it returns */
    buf[n] = 0;
    for (char *t = strtok_r(buf, " ", &save); t && k < 4; t = strtok_r(NULL, " ", &save))
        f[k++] = t;
    if (k == 4 && strcmp(f[0], "ROUTE") == 0) {
        if (!c->reachable)
            send_master(c, "ROUTED %s error %s", f[1], DOWN_TEXT); /* at once, not after timeouts */
        else
            route(c, f[1], f[2], strcmp(f[3], "peer") == 0);
    } else if (k == 2 && strcmp(f[0], "RELEASE") == 0) {
        release(c, f[1]);
    } else if (k == 2 && strcmp(f[0], "LOAD") == 0) {
        c->load = (unsigned)strtoul(f[1], NULL, 10) & 0xfffff;
    } else {
        log_warn("cluster: unknown request from the master");
    }
}

static int self_record(struct cd *c)
{
    char *b64 = NULL;
    struct hostkeys hks, *hk = &hks;
    if (hostkeys_load(hk, c->cfg->ssh.host_key_dir, 0) != 0) {
        log_error("cluster: cannot read the host keys in %s", c->cfg->ssh.host_key_dir);
        return BURROW_ERR_NOT_FOUND;
    }
    memset(&c->self, 0, sizeof(c->self));
    if (ccfg_host_name(c->cfg, c->self.name, sizeof(c->self.name)) != 0) {
        log_error("cluster: this host has no usable name: set [cluster] name");
        return BURROW_ERR_INVALID;
    }
    snprintf(c->self.addr, sizeof(c->self.addr), "%s", c->cfg->cluster.peer_listen.addr);
    c->self.port = c->cfg->cluster.peer_listen.port;
    c->self.capacity = c->cfg->cluster.capacity ? c->cfg->cluster.capacity : c->cfg->vm.max_vms;
    for (int i = 0; i < HOSTKEYS_N; i++)
        if (hk->k[i].key && ssh_key_type(hk->k[i].key) == SSH_KEYTYPE_ED25519 &&
            ssh_pki_export_pubkey_base64(hk->k[i].key, &b64) == SSH_OK)
            break;
    hostkeys_free(hk);
    if (!b64 || strlen(b64) >= sizeof(c->self.key)) {
        log_error("cluster: no ed25519 host key to pin for the host-to-host link");
        free(b64);
        return BURROW_ERR_NOT_FOUND;
    }
    snprintf(c->self.keytype, sizeof(c->self.keytype), "ssh-ed25519");
    snprintf(c->self.key, sizeof(c->self.key), "%s", b64);
    ssh_string_free_char(b64);
    return 0;
}

int clusterd_main(const struct burrow_config *cfg, int mfd)
{
    static struct cd cd;
    struct cd *c = &cd;
    prctl(PR_SET_NAME, "burrow-cluster", 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    memset(c, 0, sizeof(*c));
    c->cfg = cfg;
    c->mfd = mfd;
    if (self_record(c) != 0 ||
        cluster_etcd_open(cfg, &c->e, (long)cfg->cluster.lease_ttl * 100) != 0)
        return 1;
    int reused = rejoin(c) == 0;
    while (!reused && join(c) != 0) {
        /* No etcd yet: burrowd runs, refusing logins, until it can join. */
        log_warn("cluster: cannot join through etcd (%s); retrying", c->e.err);
        send_master(c, "DOWN");
        struct pollfd p = {mfd, POLLIN, 0};
        if (poll(&p, 1, 1000) > 0) {
            char b[CLUSTER_MSG_MAX];
            ssize_t n = recv(mfd, b, sizeof(b), MSG_DONTWAIT);
            if (n == 0)
                _exit(0);
            if (n > 0 && strncmp(b, "ROUTE ", 6) == 0) {
                char seq[32] = "";
                sscanf(b + 6, "%31s", seq);
                send_master(c, "ROUTED %s error %s", seq, DOWN_TEXT);
            }
        }
    }
    log_info("cluster: host %s %s lease %llx (ttl %us), peer link %s", c->self.name,
             reused ? "kept" : "joined with", (long long)c->self.lease, cfg->cluster.lease_ttl,
             cfg->cluster.peer_listen.text);
    send_master(c, "UP %s", reused ? "reused" : "new");
    sync_all(c);
    c->next_ka_ns = cluster_now_ns() + ttl_ns(c, 10);
    c->next_sync_ns = cluster_now_ns() + 1000000000LL;
    for (;;) {
        int64_t now = cluster_now_ns();
        int64_t next = c->next_ka_ns < c->next_sync_ns ? c->next_ka_ns : c->next_sync_ns;
        int wait = next > now ? (int)((next - now) / 1000000) + 1 : 0;
        struct pollfd p = {mfd, POLLIN, 0};
        if (poll(&p, 1, wait) > 0)
            on_master(c);
        now = cluster_now_ns();
        if (now >= c->next_ka_ns) {
            keepalive(c);
            c->next_ka_ns = now + ttl_ns(c, 10);
        }
        if (now >= c->next_sync_ns) {
            sync_all(c);
            c->next_sync_ns = cluster_now_ns() + 1000000000LL;
        }
    }
}
