/*
 * broker/session/monwrap.c - the net child's side of the monitor protocol
 * (see monwrap.h): every message the net child sends to its monitor or
 * reads from it goes through here.
 */
#include "broker/session/monwrap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/authflow.h"
#include "broker/mproto.h"
#include "broker/session/agentconn.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"

/* VM_GONE and END are recorded for proxy_loop to act on: 1 if m was one of them. */
static int note_master_msg(struct netchild *s, const struct mproto_msg *m)
{
    if (m->type == MPROTO_END) {
        snprintf(s->end_text, sizeof(s->end_text), "%s", m->n ? m->f[0] : "your session was ended");
        s->end_pending = 1;
        return 1;
    }
    if (m->type == MPROTO_VM_GONE) {
        snprintf(s->vm_err, sizeof(s->vm_err), "%s", m->n ? m->f[0] : "your environment stopped");
        s->vm_gone_pending = 1;
        return 1;
    }
    return 0;
}

int monwrap_recv(struct netchild *s, struct mproto_msg *m, int *fd, long deadline_ms)
{
    for (;;) {
        int r = mproto_recv_checked(s->mfd, MPROTO_MONITOR_TO_NET,
                                    s->authed ? MPROTO_POSTAUTH : MPROTO_PREAUTH, m, fd,
                                    deadline_ms, NULL);
        if (r != 0 || !note_master_msg(s, m))
            return r;
        if (fd && *fd >= 0)
            close(*fd);
    }
}

/* The monitor's AUTH_YES for a login: the key's options become the session's. */
static void take_options(struct netchild *s, const struct mproto_msg *yes,
                         struct authkey_opts *opts)
{
    opts->flags = (unsigned)strtoul(yes->f[0], NULL, 10);
    if (yes->n >= 2)
        opts->command = strdup(yes->f[1]);
    authkey_opts_free(&s->opts);
    s->opts = *opts;
    memset(opts, 0, sizeof(*opts));
}

/* Append a copy of value to a bounded list: 0, or a negative code. */
static int list_add(char **list, unsigned *n, unsigned max, const char *value)
{
    if (*n >= max)
        return BURROW_ERR_TOO_LARGE;
    if (!(list[*n] = strdup(value)))
        return BURROW_ERR_NOMEM;
    (*n)++;
    return 0;
}

/* One option line before the verdict: 1 taken, 0 not an option line, or a negative code. */
static int take_option_line(struct authkey_opts *opts, const struct mproto_msg *m)
{
    int r;
    if (m->type == MPROTO_AUTH_ENV && m->n == 1)
        r = list_add(opts->env, &opts->n_env, AUTHKEYS_ENV_MAX, m->f[0]);
    else if (m->type == MPROTO_AUTH_PERMIT && m->n == 2 && strcmp(m->f[0], "open") == 0)
        r = list_add(opts->permit_open, &opts->n_permit_open, AUTHKEYS_PERMIT_MAX, m->f[1]);
    else if (m->type == MPROTO_AUTH_PERMIT && m->n == 2 && strcmp(m->f[0], "listen") == 0)
        r = list_add(opts->permit_listen, &opts->n_permit_listen, AUTHKEYS_PERMIT_MAX, m->f[1]);
    else
        return 0;
    return r == 0 ? 1 : r;
}

/*
 * The monitor's verdict on the request just sent for user: SSH_AUTH_SUCCESS
 * (the key's options become the session's), SSH_AUTH_PARTIAL (more methods
 * must follow: libssh now offers those), or SSH_AUTH_DENIED. A probe only
 * asks "would this key do". The monitor counts the failures: its AUTH_NO
 * "last" ends the connection.
 */
static int monitor_verdict(struct netchild *s, const char *user, int probe)
{
    struct mproto_msg ans;
    struct authkey_opts opts;
    int r = 0, mask = -1;
    memset(&opts, 0, sizeof(opts));
    ans.type = 0;
    /* AUTH_ENV and AUTH_PERMIT lines first (the key's options), then the verdict. */
    while (r == 0 && (r = monwrap_recv(s, &ans, NULL, -1)) == 0 &&
           (r = take_option_line(&opts, &ans)) == 1)
        r = 0;
    if (r == 0 && ans.type == MPROTO_AUTH_PARTIAL && ans.n == 1)
        mask = authflow_mask(ans.f[0]);
    if (r != 0 || (ans.type != MPROTO_AUTH_YES && ans.type != MPROTO_AUTH_NO && mask <= 0) ||
        (ans.type == MPROTO_AUTH_YES && ans.n < 1)) {
        log_warn("%s: the session's monitor did not answer", s->addr);
        s->quit = 1;
    } else if (ans.type == MPROTO_AUTH_NO) {
        if (ans.n >= 1 && strcmp(ans.f[0], "last") == 0) {
            ssh_session_set_disconnect_message(s->ssh, "Too many authentication failures");
            s->quit = 1;
        }
    } else if (ans.type == MPROTO_AUTH_PARTIAL) {
        ssh_set_auth_methods(s->ssh, netchild_ssh_methods((unsigned)mask));
    } else if (!probe) {
        take_options(s, &ans, &opts);
        s->authed = 1;
        s->authed_ns = clock_now_ns();
        snprintf(s->user, sizeof(s->user), "%s", user);
    }
    authkey_opts_free(&opts);
    if (s->quit)
        return SSH_AUTH_DENIED;
    return ans.type == MPROTO_AUTH_YES       ? SSH_AUTH_SUCCESS
           : ans.type == MPROTO_AUTH_PARTIAL ? SSH_AUTH_PARTIAL
                                             : SSH_AUTH_DENIED;
}

int monwrap_ask(struct netchild *s, int type, const char *const *f, unsigned n, int probe)
{
    if (mproto_send(s->mfd, type, n, f) != 0) {
        log_warn("%s: the session's monitor did not answer", s->addr);
        s->quit = 1;
        return SSH_AUTH_DENIED;
    }
    return monitor_verdict(s, f[0], probe);
}

int monwrap_kbdint(struct netchild *s, const char *user, struct mproto_msg *ans)
{
    const char *f[1] = {user};
    if (mproto_send(s->mfd, MPROTO_KBDINT, 1, f) != 0)
        return BURROW_ERR_CLOSED;
    return monwrap_recv(s, ans, NULL, -1);
}

int monwrap_connect_vm(struct netchild *s, int *fd, char *err, size_t errsz)
{
    struct mproto_msg m;
    const char *none[1] = {NULL};
    *fd = -1;
    if (!s->vm_err[0] && mproto_send(s->mfd, MPROTO_CONNECT, 0, none) == 0) {
        long deadline = clock_now_ms() + SESSION_VM_WAIT_MS + AGENTCONN_TIMEOUT_MS;
        int r = monwrap_recv(s, &m, fd, deadline);
        if (r == 0 && m.type == MPROTO_CONN_OK && *fd >= 0)
            return 0;
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        if (r == 0 && m.type == MPROTO_CONN_ERR && m.n == 1)
            return errmsg(err, errsz, -1, "%s", m.f[0]);
        if (r == BURROW_ERR_TIMEOUT)
            return errmsg(err, errsz, -1, "your environment did not start in time");
    }
    return errmsg(err, errsz, -1, "%s",
                  s->vm_err[0] ? s->vm_err : "the service is restarting; try again shortly");
}

void monwrap_poll_master(struct netchild *s)
{
    struct mproto_msg m;
    int r = mproto_recv_checked(s->mfd, MPROTO_MONITOR_TO_NET,
                                s->authed ? MPROTO_POSTAUTH : MPROTO_PREAUTH, &m, NULL,
                                MPROTO_NOWAIT, NULL);
    if (r == 0 && note_master_msg(s, &m))
        return;
    if (r == BURROW_ERR_CLOSED)
        s->master_closed = 1; /* the master restarted: sessions live on */
}

void monwrap_report(struct netchild *s, int type, const char *no, const char *a, const char *b)
{
    const char *f[3] = {no, a, b};
    if (mproto_send(s->mfd, type, 3, f) != 0)
        log_debug("channel report not sent");
}

/*
 * Test builds only (common/testhook.h; BURROW_TEST_HOSTILE_NET in the test
 * burrowd's environment): the jailed
 * net child acts as if libssh had been taken over, so test-security can
 * check what the monitor then refuses. "connect": ask for a VM connection
 * before any login; "flood": keep reporting failed logins past
 * max_auth_tries. Logs what it got; the monitor should kill it first.
 */
int monwrap_hostile(struct netchild *s, const char *how)
{
    struct mproto_msg m;
    int fd = -1, answers = 0;
    const char *connect[1] = {NULL}, *fail[3] = {"alice", "", "2"};
    for (int i = 0; i < 64; i++) {
        int flood = strcmp(how, "flood") == 0;
        if (mproto_send(s->mfd, flood ? MPROTO_PUBKEY : MPROTO_CONNECT, flood ? 3 : 0,
                        flood ? fail : connect) != 0 ||
            mproto_recv_wait(s->mfd, &m, &fd, clock_now_ms() + 5000) != 0)
            break;
        answers++;
        if (fd >= 0) {
            log_warn("hostile net child: the monitor handed over a VM connection");
            return 0;
        }
        if (!flood)
            break;
    }
    log_warn("hostile net child (%s): %d answers, then the monitor stopped answering", how,
             answers);
    return 0;
}
