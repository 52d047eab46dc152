/*
 * broker/cluster/cmaster.c - the master's side of the cluster (cluster.h):
 * it forks the cluster process, opens the peer listener, turns VM requests
 * into ROUTE questions and their answers into vmmgr requests, forwards the
 * VM manager's events (RELEASE) and the host's load, and relays FENCE.
 * Non-blocking: one SEQPACKET socket polled with the master's others.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/cluster/clusterd.h"
#include "broker/cluster/cluster.h"
#include "broker/fsutil.h"
#include "common/err.h"
#include "common/log.h"

#define PENDING_MAX 256

struct pending {
    int used;
    unsigned seq;
    int waiter;
    struct user_record rec;
};

/* Where the forwarder of a user whose VM runs elsewhere connects (fwd.c asks). */
struct remote_target {
    char user[USERDB_NAME_MAX + 1];
    char host[CONFIG_CLUSTER_NAME_MAX];
};

struct cluster {
    const struct burrow_config *cfg;
    struct cluster_hooks hooks;
    pid_t pid;
    int fd;
    int peer_lfd;
    int up; /* the cluster process joined (UP) */
    unsigned seq, last_load;
    struct pending pend[PENDING_MAX];
    struct remote_target targets[VMMGR_MAX];
};

static struct cluster *the_cluster; /* for backend_remote's start */

static void send_cd(struct cluster *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_cd(struct cluster *c, const char *fmt, ...)
{
    char buf[CLUSTER_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof(buf) ||
        send(c->fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_warn("cluster: the cluster process is not listening");
}

static int open_peer_listener(const struct burrow_config *cfg)
{
    char port[8];
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV},
                    *res;
    snprintf(port, sizeof(port), "%u", (unsigned)cfg->cluster.peer_listen.port);
    if (getaddrinfo(cfg->cluster.peer_listen.addr, port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
                    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 128) != 0)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int cluster_start(struct cluster **out, const struct burrow_config *cfg,
                  const struct cluster_hooks *hooks)
{
    char dir[CONFIG_PATH_MAX + 32];
    int sp[2];
    struct cluster *c = calloc(1, sizeof(*c));
    if (!c || cluster_path(cfg, "", dir, sizeof(dir)) != 0 || fs_ensure_dir(dir, 0755) != 0) {
        free(c);
        return BURROW_ERR_SYSTEM;
    }
    c->cfg = cfg;
    c->hooks = *hooks;
    c->peer_lfd = open_peer_listener(cfg);
    if (c->peer_lfd < 0) {
        log_error("cluster: cannot listen on [cluster] peer_listen %s: %s",
                  cfg->cluster.peer_listen.text, strerror(errno));
        free(c);
        return BURROW_ERR_SYSTEM;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
        close(c->peer_lfd);
        free(c);
        return BURROW_ERR_SYSTEM;
    }
    c->pid = fork();
    if (c->pid == 0) {
        if (dup2(sp[1], 3) != 3)
            _exit(1);
        close_range(4, ~0u, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        _exit(clusterd_main(cfg, 3));
    }
    close(sp[1]);
    c->fd = sp[0];
    if (c->pid < 0) {
        close(c->fd);
        close(c->peer_lfd);
        free(c);
        return BURROW_ERR_SYSTEM;
    }
    the_cluster = c;
    *out = c;
    return 0;
}

void cluster_stop(struct cluster *c)
{
    if (!c)
        return;
    close(c->fd);
    close(c->peer_lfd);
    kill(c->pid, SIGTERM);
    waitpid(c->pid, NULL, 0);
    the_cluster = NULL;
    free(c);
}

unsigned cluster_pollfds(struct cluster *c, int *fds, unsigned max)
{
    if (!c || max < 1)
        return 0;
    fds[0] = c->fd;
    return 1;
}

int cluster_peer_fd(const struct cluster *c)
{
    return c ? c->peer_lfd : -1;
}

static struct pending *pending_take(struct cluster *c, unsigned seq)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (c->pend[i].used && c->pend[i].seq == seq) {
            c->pend[i].used = 0;
            return &c->pend[i];
        }
    return NULL;
}

static void set_target(struct cluster *c, const char *user, const char *host)
{
    struct remote_target *free_slot = NULL;
    for (int i = 0; i < VMMGR_MAX; i++) {
        if (strcmp(c->targets[i].user, user) == 0) {
            free_slot = &c->targets[i];
            break;
        }
        if (!free_slot && !c->targets[i].user[0])
            free_slot = &c->targets[i];
    }
    if (free_slot) {
        snprintf(free_slot->user, sizeof(free_slot->user), "%s", user);
        snprintf(free_slot->host, sizeof(free_slot->host), "%s", host);
    }
}

int cluster_remote_target(const char *user, char *host, size_t hostsz)
{
    struct cluster *c = the_cluster;
    for (int i = 0; c && i < VMMGR_MAX; i++)
        if (strcmp(c->targets[i].user, user) == 0)
            return (size_t)snprintf(host, hostsz, "%s", c->targets[i].host) < hostsz
                       ? 0
                       : BURROW_ERR_TOO_LARGE;
    return BURROW_ERR_NOT_FOUND;
}

/* "ROUTED seq local | remote HOST | error TEXT" */
static void on_routed(struct cluster *c, char *rest)
{
    char *sp = strchr(rest, ' ');
    if (!sp)
        return;
    *sp = 0;
    struct pending *p = pending_take(c, (unsigned)strtoul(rest, NULL, 10));
    char *what = sp + 1, *arg = strchr(what, ' ');
    if (arg)
        *arg++ = 0;
    if (!p || p->waiter < 0)
        return; /* its session went away */
    if (strcmp(what, "local") == 0) {
        c->hooks.routed(c->hooks.ctx, p->waiter, &p->rec, NULL, NULL);
    } else if (strcmp(what, "remote") == 0 && arg && ccfg_name_ok(arg)) {
        set_target(c, p->rec.name, arg);
        c->hooks.routed(c->hooks.ctx, p->waiter, &p->rec, &backend_remote, NULL);
    } else {
        c->hooks.routed(c->hooks.ctx, p->waiter, &p->rec, NULL,
                        arg && what[0] == 'e' ? arg
                                              : "the cluster could not place your environment");
    }
}

int cluster_event(struct cluster *c, int fd)
{
    char buf[CLUSTER_MSG_MAX + 1];
    if (!c || fd != c->fd)
        return 0;
    ssize_t n = recv(c->fd, buf, CLUSTER_MSG_MAX, MSG_DONTWAIT);
    if (n == 0) {
        /* Without it nothing renews the lease: the NBD bridges fence at the deadline. */
        log_error("cluster: the cluster process ended; fencing now");
        c->up = 0;
        c->hooks.fence(c->hooks.ctx, "the cluster process ended");
        close(c->fd);
        c->fd = -1;
        return 1;
    }
    if (n < 0)
        return 1;
    buf[n] = 0;
    if (strncmp(buf, "ROUTED ", 7) == 0) {
        on_routed(c, buf + 7);
    } else if (strncmp(buf, "FENCE ", 6) == 0) {
        c->hooks.fence(c->hooks.ctx, buf + 6);
    } else if (strcmp(buf, "UP new") == 0) {
        /* A new lease: VMs adopted from before hold no ownership any more. */
        c->up = 1;
        c->hooks.fence(c->hooks.ctx, "a new cluster lease (the old one expired)");
    } else if (strncmp(buf, "UP ", 3) == 0) {
        c->up = 1;
    } else if (strcmp(buf, "DOWN") == 0) {
        c->up = 0;
    }
    return 1;
}

void cluster_route(struct cluster *c, const struct user_record *rec, int waiter, int peer)
{
    for (int i = 0; i < PENDING_MAX; i++)
        if (!c->pend[i].used) {
            struct pending *p = &c->pend[i];
            p->used = 1;
            p->seq = ++c->seq;
            p->waiter = waiter;
            p->rec = *rec;
            send_cd(c, "ROUTE %u %s %s", p->seq, rec->name, peer ? "peer" : "front");
            return;
        }
    c->hooks.routed(c->hooks.ctx, waiter, rec, NULL, "too many logins are starting; try again");
}

void cluster_forget(struct cluster *c, int waiter)
{
    for (int i = 0; c && i < PENDING_MAX; i++)
        if (c->pend[i].used && c->pend[i].waiter == waiter)
            c->pend[i].waiter = -1;
}

void cluster_request(struct cluster *c, struct vmmgr *vm, const struct user_record *rec, int waiter,
                     int peer)
{
    struct uservm *have = vmmgr_find(vm, rec->name);
    if (!peer && (!c->up || c->fd < 0)) {
        c->hooks.routed(c->hooks.ctx, waiter, rec, NULL,
                        "the cluster's state store (etcd) cannot be reached: new logins are "
                        "refused until it is back; please try again later");
        return;
    }
    if (have && have->state == VM_STOPPING) {
        /* Its stop releases her ownership: a restart here would run without it. */
        c->hooks.routed(c->hooks.ctx, waiter, rec, NULL,
                        "your environment is stopping; please log in again in a moment");
        return;
    }
    if (have) {
        vmmgr_request(vm, rec, waiter);
        return;
    }
    if (c->fd < 0) {
        c->hooks.routed(c->hooks.ctx, waiter, rec, NULL, "this host has left the cluster");
        return;
    }
    cluster_route(c, rec, waiter, peer);
}

void cluster_vm_event(struct cluster *c, enum vmmgr_event ev, const struct uservm *vm)
{
    if (!c || !vm || vm->be == &backend_remote)
        return;
    if (ev == VMEV_STOPPED || ev == VMEV_DIED || ev == VMEV_START_FAILED)
        send_cd(c, "RELEASE %s", vm->user);
}

void cluster_load(struct cluster *c, unsigned vms)
{
    if (c && c->fd >= 0 && vms != c->last_load) {
        c->last_load = vms;
        send_cd(c, "LOAD %u", vms);
    }
}

void cluster_fence_all(struct vmmgr *m)
{
    for (unsigned i = 0; i < VMMGR_MAX; i++) {
        struct uservm *vm = &m->vms[i];
        if (vm->state != VM_FREE && vm->state != VM_STOPPING && vm->be != &backend_remote &&
            vm->id[0] && vmmgr_kill(m, vm->id) != 0)
            log_warn("cluster: cannot stop vm %s", vm->id);
    }
}
