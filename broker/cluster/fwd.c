/*
 * broker/cluster/fwd.c - the "remote" VM backend: her VM runs on another
 * host, and this host (the front) forwards her sessions' connections there.
 *
 * Per user, one forwarder process, forked by the master like a sandbox's
 * supervisor, so the VM manager treats it as her VM: it serves
 * run_dir/vm/<id>/vsock.sock (owned by her session uid, 0600) and the
 * session code is the same as for a local VM. It holds one SSH connection
 * to the owner with a `hold USER` channel (clink.h): its "OK" is this VM's
 * READY, its end is this VM's death (her sessions here are told). Each
 * connection to the socket becomes its own SSH connection with a
 * `connect USER` channel, relayed by a child process; dir/conns counts
 * them for the idle reap. SIGTERM (idle reap, vm kill) closes the hold.
 * The owner's host key is pinned (run_dir/cluster/hosts, from etcd).
 *
 * Like a sandbox's supervisor it outlives the master (a restart is SIGTERM
 * of burrowd with VMs running): it publishes a registry record of itself
 * (vmm/registry.h, build "remote"), and the next master re-adopts it
 * (vmmgr.c), so her sessions through this host go on reaching her VM.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/cluster/clink.h"
#include "broker/cluster/cluster.h"
#include "broker/users/hostuid.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/registry.h"

struct fwd {
    const struct burrow_config *cfg;
    struct chost owner;
    ssh_key key;
    char user[USERDB_NAME_MAX + 1];
    char id[VMMGR_ID_MAX], dir[VMMGR_PATH_MAX], sock[VMMGR_PATH_MAX];
    uid_t sock_uid;
    unsigned conns;
};

static volatile sig_atomic_t got_term;
static void on_term(int sig)
{
    (void)sig;
    got_term = 1;
}

static void write_conns(const struct fwd *f)
{
    char p[VMMGR_PATH_MAX + 16], tmp[VMMGR_PATH_MAX + 16], t[16];
    int n = snprintf(t, sizeof(t), "%u\n", f->conns);
    snprintf(p, sizeof(p), "%s/conns", f->dir);
    snprintf(tmp, sizeof(tmp), "%s/.conns.tmp", f->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0 && write(fd, t, (size_t)n) == n && close(fd) == 0)
        rename(tmp, p);
}

static int listen_sock(const struct fwd *f)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(f->sock) >= sizeof(a.sun_path))
        return -1;
    strcpy(a.sun_path, f->sock);
    unlink(f->sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || chmod(f->sock, 0600) != 0 ||
        chown(f->sock, f->sock_uid, f->sock_uid) != 0 || listen(fd, 64) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* One connection of a session: its own SSH connection and `connect USER` channel. */
static void conn_main(struct fwd *f, int cfd)
{
    char err[256], cmd[64];
    ssh_session s;
    ssh_channel ch;
    snprintf(cmd, sizeof(cmd), "connect %s", f->user);
    if (clink_connect(f->cfg, &f->owner, f->key, &s, err, sizeof(err)) != 0) {
        log_warn("forward %s: %s", f->user, err);
        _exit(1);
    }
    if (clink_exec(s, cmd, &ch) != 0)
        _exit(1);
    clink_relay(s, ch, cfd);
    ssh_channel_close(ch);
    ssh_disconnect(s);
    _exit(0);
}

static void reap_conns(struct fwd *f)
{
    int changed = 0;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
        f->conns -= f->conns > 0;
        changed = 1;
    }
    if (changed)
        write_conns(f);
}

static void accept_conn(struct fwd *f, int lfd)
{
    int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    pid_t pid = fork();
    if (pid == 0)
        conn_main(f, cfd);
    close(cfd);
    if (pid > 0) {
        f->conns++;
        write_conns(f);
    }
}

/* Hold her VM on the owner; "OK" on the ready pipe once it is running there. */
static int hold(struct fwd *f, ssh_session *s, ssh_channel *ch, int ready)
{
    char err[256], line[256], cmd[64];
    snprintf(cmd, sizeof(cmd), "hold %s", f->user);
    if (clink_connect(f->cfg, &f->owner, f->key, s, err, sizeof(err)) != 0 ||
        (clink_exec(*s, cmd, ch) != 0 &&
         snprintf(err, sizeof(err), "no channel to %s", f->owner.name))) {
        dprintf(ready, "ERR %s\n", err);
        return -1;
    }
    /* The owner may have to start her VM: as long as a local start may take. */
    int r = clink_read_line(*ch, line, sizeof(line), 130000);
    if (r != 0 || strcmp(line, "OK") != 0) {
        dprintf(ready, "ERR %s\n",
                r == 0 && strncmp(line, "ERR ", 4) == 0 ? line + 4
                                                        : "her environment's host did not answer");
        return -1;
    }
    return 0;
}

/* Its registry record: a live process a restarted master may re-adopt (vmmgr.c). */
static int publish(const struct fwd *f)
{
    struct vm_record reg;
    memset(&reg, 0, sizeof(reg));
    snprintf(reg.id, sizeof(reg.id), "%.*s", REGISTRY_ID_LEN, f->id);
    snprintf(reg.dir, sizeof(reg.dir), "%s", f->dir);
    snprintf(reg.user, sizeof(reg.user), "%s", f->user);
    snprintf(reg.template_name, sizeof(reg.template_name), "-");
    snprintf(reg.build, sizeof(reg.build), "%s", backend_remote.name);
    reg.started = (uint64_t)time(NULL);
    return registry_publish(&reg);
}

static void fwd_main(struct fwd *f, int ready)
{
    ssh_session s;
    ssh_channel ch;
    char c;
    setsid(); /* (no parent-death signal: it outlives a master's restart) */
    prctl(PR_SET_NAME, "burrow-forward", 0, 0, 0);
    if (dup2(ready, 3) != 3)
        _exit(2);
    ready = 3;
    close_range(4, ~0u, 0);
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    if (clink_own_key(f->cfg, &f->key) != 0) {
        dprintf(ready, "ERR this host has no ed25519 host key\n");
        _exit(1);
    }
    if (hold(f, &s, &ch, ready) != 0)
        _exit(1);
    int lfd = listen_sock(f);
    write_conns(f);
    if (lfd < 0 || publish(f) != 0 || write(ready, "OK\n", 3) != 3)
        _exit(1);
    close(ready);
    while (!got_term) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {ssh_get_fd(s), POLLIN, 0}};
        poll(p, 2, 1000);
        reap_conns(f);
        if (p[0].revents & POLLIN)
            accept_conn(f, lfd);
        int n = ssh_channel_read_nonblocking(ch, &c, 1, 0);
        if (n == SSH_ERROR || ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch)) {
            log_info("forward %s: her environment on %s ended", f->user, f->owner.name);
            _exit(1);
        }
    }
    ssh_channel_close(ch);
    ssh_disconnect(s);
    _exit(0);
}

static int fwd_start(struct vmmgr *m, struct uservm *vm, const struct user_record *rec)
{
    static struct fwd f;
    char host[CONFIG_CLUSTER_NAME_MAX];
    int ready[2];
    memset(&f, 0, sizeof(f));
    f.cfg = m->cfg;
    if (cluster_remote_target(rec->name, host, sizeof(host)) != 0 ||
        chosts_find(m->cfg, host, &f.owner) != 0) {
        log_error("forward %s: the owner host is not known here", rec->name);
        return BURROW_ERR_NOT_FOUND;
    }
    snprintf(f.user, sizeof(f.user), "%s", rec->name);
    snprintf(f.id, sizeof(f.id), "%s", vm->id);
    snprintf(f.dir, sizeof(f.dir), "%s", vm->dir);
    snprintf(f.sock, sizeof(f.sock), "%s", vm->sock);
    if (hostuid_session(rec->uid, &f.sock_uid) != 0) {
        log_error("forward %s: uid %u has no session uid", rec->name, rec->uid);
        return BURROW_ERR_RANGE;
    }
    if (pipe2(ready, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        fwd_main(&f, ready[1]);
    }
    close(ready[1]);
    if (pid < 0) {
        close(ready[0]);
        return BURROW_ERR_SYSTEM;
    }
    log_info("forward %s: her environment runs on %s (%s port %u)", rec->name, f.owner.name,
             f.owner.addr, (unsigned)f.owner.port);
    vm->pid = pid;
    vm->ready_fd = ready[0];
    return 0;
}

const struct vm_backend_ops backend_remote = {
    .name = "remote",
    .start = fwd_start,
    .stop = vmmgr_signal_stop,
    .active = vmmgr_read_conns,
};
