/* broker/session/monitor.c - a session's privileged half: the net child's only authority (see
 * monitor.h).
 */
#include "broker/session/monitor.h"

#include <errno.h>
#include <execinfo.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "broker/session/agentconn.h"
#include "broker/session/auth.h"
#include "broker/authflow.h"
#include "broker/envpolicy.h"
#include "broker/session/confine.h"
#include "broker/users/totp.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "common/testhook.h"

#define MONITOR_FP_MAX 128 /* "SHA256:" and 43 base64 characters, with room */

struct mon {
    const struct burrow_config *cfg;
    int mfd; /* the master */
    int cfd; /* the net child */
    pid_t child;
    const char *addr;
    struct auth_ctx auth;
    unsigned failures; /* refused requests: max_auth_tries ends the connection */
    unsigned attempts; /* every request, probes answered "this key would do" too */
    int authed;
    char user[USERDB_NAME_MAX + 1];
    char method[64]; /* the methods that succeeded, in order */
    struct user_record rec;
    /* Before auth: the login so far (broker/authflow.h), for af_user only. */
    struct af_policy policy;
    struct af_state af;
    char af_user[USERDB_NAME_MAX + 1];
    struct user_record af_rec;   /* the record its first method found */
    struct authkey_opts af_opts; /* the options of the key (or certificate) it used */
    int kbd_asked;               /* a keyboard-interactive prompt is out: 1 password, 2 code */
    int totp_fd; /* the replay table (broker/users/totp.h), opened before the filter */
    char vm_sock[MPROTO_FIELD_MAX + 1];
    char vm_err[MPROTO_FIELD_MAX + 1]; /* non-empty: every CONNECT gets this */
    int master_closed;
    char fingerprint[MONITOR_FP_MAX]; /* of the key she logged in with, for the audit log */
};

/*
 * As OpenSSH (auth2.c): a public-key probe answered "this key would do" is
 * not a failure, but every auth request is an attempt, and the connection
 * ends at this many whatever they were. Without it a client holding a
 * user's public key (public by nature) could keep the monitor reading her
 * records, probe after probe, for the whole login_grace_time.
 */
#define MONITOR_AUTH_ATTEMPTS_MAX 1024

/* --- crash backtraces ------------------------------------------------------ */

/*
 * A test aid, in test builds only (common/testhook.h): with
 * BURROW_SESSION_BACKTRACE=1 in the test burrowd's environment (the e2e
 * tier sets it), a crashing session process (monitor
 * or net child: installed before the fork) writes its backtrace to stderr
 * (burrowd's log), since it makes no core dump. The handler only writes
 * (backtrace_symbols_fd) and re-raises (tgkill) after SA_RESETHAND restored
 * the default action; every session filter allows both. Frames are
 * binary+offset: addr2line -e burrowd -f OFFSET.
 */
static void crash_write(const char *text)
{
    if (write(STDERR_FILENO, text, strlen(text)) < 0)
        return;
}

static void on_crash(int sig, siginfo_t *si, void *uctx)
{
    void *frames[64];
    (void)si;
    crash_write("session process crashed; backtrace:\n");
#if defined(__x86_64__)
    /* First the faulting pc and the return address on top of the stack: after
     * a call through a bad pointer the pc is garbage and libgcc's unwinder
     * faults reading code there, so this may be all there is. */
    const ucontext_t *uc = uctx;
    void *at[2] = {(void *)uc->uc_mcontext.gregs[REG_RIP],
                   *(void *const *)uc->uc_mcontext.gregs[REG_RSP]};
    crash_write("  pc, then top of stack:\n");
    backtrace_symbols_fd(at, 2, STDERR_FILENO);
    crash_write("  unwound:\n");
#else
    (void)uctx;
#endif
    backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
    raise(sig);
}

static void install_crash_backtrace(void)
{
    const char *v = testhook("BURROW_SESSION_BACKTRACE");
    void *frames[1];
    if (!v || strcmp(v, "1") != 0)
        return;
    backtrace(frames, 1); /* loads libgcc_s now: no dlopen inside the handler, in a jail */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_crash;
    sa.sa_flags = (int)(SA_SIGINFO | SA_RESETHAND | SA_NODEFER);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
}

/* --- talking to the master and the child ------------------------------------ */

static void tell_master(struct mon *m, int type, unsigned n, const char *const *f)
{
    if (mproto_send(m->mfd, type, n, f) != 0)
        log_debug("master unreachable");
}

static int answer(struct mon *m, int type, unsigned n, const char *a, const char *b)
{
    const char *f[2] = {a, b};
    return mproto_send(m->cfd, type, n, f);
}

/*
 * The child runs libssh, which faces the network: a message it should not
 * send means it is no longer ours. Before the drop the monitor can kill it;
 * after, it is another uid, and dies with the monitor (PR_SET_PDEATHSIG).
 */
static int violation(struct mon *m, const char *what)
{
    log_warn("%s: the session's net process %d broke the monitor protocol (%s): killed", m->addr,
             (int)m->child, what);
    kill(m->child, SIGKILL);
    return BURROW_ERR_PROTOCOL;
}

/*
 * The child's next message, as broker/mproto.h's table allows it in this
 * phase, until deadline_ms (-1: none; MPROTO_NOWAIT): 0, or a negative code
 * (BURROW_ERR_PERM, BURROW_ERR_FORMAT with *malformed: a breach).
 */
static int recv_child(struct mon *m, struct mproto_msg *msg, long deadline_ms,
                      const char **malformed)
{
    return mproto_recv_checked(m->cfd, MPROTO_NET_TO_MONITOR,
                               m->authed ? MPROTO_POSTAUTH : MPROTO_PREAUTH, msg, NULL, deadline_ms,
                               malformed);
}

/* The master's next message (only after the login), as the table allows it. */
static int recv_master(struct mon *m, struct mproto_msg *msg, int *fd, long deadline_ms)
{
    return mproto_recv_checked(m->mfd, MPROTO_MASTER_TO_MONITOR, MPROTO_POSTAUTH, msg, fd,
                               deadline_ms, NULL);
}

/* --- before auth -------------------------------------------------------------- */

static int auth_failed(struct mon *m, const char *user, const char *method, const char *fp)
{
    const char *f[3] = {user, method, fp};
    m->failures++;
    tell_master(m, MPROTO_AUTH_FAIL, 3, f);
    int last = m->failures >= m->cfg->ssh.max_auth_tries;
    return answer(m, MPROTO_AUTH_NO, last ? 1 : 0, "last", NULL);
}

/*
 * The login's progress is for one user name: a request for another starts
 * over (nothing a first method achieved carries to another account).
 */
static void af_begin(struct mon *m, const char *user)
{
    if (strcmp(m->af_user, user) == 0)
        return;
    authkey_opts_free(&m->af_opts);
    memset(&m->af, 0, sizeof(m->af));
    memset(&m->af_rec, 0, sizeof(m->af_rec));
    m->kbd_asked = 0;
    m->method[0] = '\0';
    snprintf(m->af_user, sizeof(m->af_user), "%.*s", USERDB_NAME_MAX, user);
}

static int af_allows(const struct mon *m, enum af_method method)
{
    return (authflow_next(&m->policy, &m->af) & (unsigned)method) != 0;
}

/* Is "TYPE BASE64" an OpenSSH certificate (checked by broker/users/usercert.c, not libssh)? */
static int is_certificate(const char *text)
{
    static const char suffix[] = "-cert-v01@openssh.com ";
    const char *sp = strchr(text, ' ');
    size_t n = sizeof(suffix) - 1;
    return sp && (size_t)(sp + 1 - text) > n && memcmp(sp + 1 - n, suffix, n) == 0;
}

/* "SHA256:<base64>" of a key, as ssh-keygen -l prints it (for the audit log), or "". */
static void key_fingerprint(ssh_key key, char *out, size_t outsz)
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    out[0] = 0;
    if (!key || ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) != 0)
        return;
    char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp)
        snprintf(out, outsz, "%s", fp);
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
}

/* "TYPE BASE64" (as the child exported it) into a key, or -1. */
static int import_key(const char *text, ssh_key *key)
{
    char type[64];
    const char *sp = strchr(text, ' ');
    if (!sp || (size_t)(sp - text) >= sizeof(type))
        return -1;
    memcpy(type, text, (size_t)(sp - text));
    type[sp - text] = 0;
    enum ssh_keytypes_e t = ssh_key_type_from_name(type);
    if (t == SSH_KEYTYPE_UNKNOWN)
        return -1;
    return ssh_pki_import_pubkey_base64(sp + 1, t, key) == SSH_OK ? 0 : -1;
}

/* Does [ssh] permit_user_environment pass this "NAME=value" of an environment= option? */
static int env_permitted(const struct mon *m, const char *assignment)
{
    char name[AUTHKEYS_OPT_MAX + 1];
    size_t n = strcspn(assignment, "=");
    if (n >= sizeof(name))
        return 0;
    memcpy(name, assignment, n);
    name[n] = '\0';
    return envpolicy_match(m->cfg->ssh.permit_user_environment, name);
}

/*
 * The key's authorized_keys options: AUTH_ENV per variable permit_user_environment
 * passes (the monitor decides; the child never sees the others), AUTH_PERMIT per
 * permitopen=/permitlisten=, then AUTH_YES flags [command].
 */
static int send_options(struct mon *m, const struct authkey_opts *o)
{
    char flags[16];
    int r = 0;
    for (unsigned i = 0; r == 0 && i < o->n_env; i++)
        if (env_permitted(m, o->env[i]))
            r = answer(m, MPROTO_AUTH_ENV, 1, o->env[i], NULL);
    for (unsigned i = 0; r == 0 && i < o->n_permit_open; i++)
        r = answer(m, MPROTO_AUTH_PERMIT, 2, "open", o->permit_open[i]);
    for (unsigned i = 0; r == 0 && i < o->n_permit_listen; i++)
        r = answer(m, MPROTO_AUTH_PERMIT, 2, "listen", o->permit_listen[i]);
    snprintf(flags, sizeof(flags), "%u", o->flags);
    if (r == 0)
        r = answer(m, MPROTO_AUTH_YES, o->command ? 2 : 1, flags, o->command);
    return r;
}

/*
 * A method succeeded for af_user: with the login complete, the options and
 * AUTH_YES; otherwise AUTH_PARTIAL with the methods that may follow.
 */
static int af_success(struct mon *m, enum af_method method, int totp, const struct user_record *rec)
{
    if (m->af.n_done == 0) {
        m->af_rec = *rec;
        m->af.totp_required = rec->totp[0] != '\0';
    }
    if (authflow_record(&m->af, method, totp) != 0)
        return violation(m, "too many methods");
    char names[64];
    size_t used = strlen(m->method);
    authflow_names((unsigned)method, names, sizeof(names));
    snprintf(m->method + used, sizeof(m->method) - used, "%s%s", used ? "," : "", names);
    if (!authflow_complete(&m->policy, &m->af)) {
        authflow_names(authflow_next(&m->policy, &m->af), names, sizeof(names));
        return answer(m, MPROTO_AUTH_PARTIAL, 1, names, NULL);
    }
    int r = send_options(m, &m->af_opts);
    if (r != 0) {
        log_warn("%s: %s: cannot pass the key's options to the session: %s", m->addr, m->af_user,
                 burrow_strerror(r));
        return r;
    }
    m->authed = 1;
    m->rec = m->af_rec;
    snprintf(m->user, sizeof(m->user), "%s", m->af_user); /* lookup() checked it */
    return 0;
}

/* PUBKEY user "TYPE BASE64" state: 0 a probe, 1 libssh verified the signature, 2 it did not. */
static int on_pubkey(struct mon *m, const struct mproto_msg *msg)
{
    struct authkey_opts opts;
    struct user_record rec;
    ssh_key key = NULL;
    char fp[MONITOR_FP_MAX] = "";
    int ok = 0;
    if (strcmp(msg->f[2], "0") && strcmp(msg->f[2], "1") && strcmp(msg->f[2], "2"))
        return violation(m, "malformed PUBKEY");
    const char *user = msg->f[0], *state = msg->f[2];
    af_begin(m, user);
    memset(&opts, 0, sizeof(opts));
    int cert = is_certificate(msg->f[1]);
    if (!cert && import_key(msg->f[1], &key) == 0)
        key_fingerprint(key, fp, sizeof(fp));
    if (state[0] == '2' || !af_allows(m, AF_PUBLICKEY))
        ok = 0;
    else if (cert)
        ok = auth_cert(&m->auth, user, msg->f[1], &opts, &rec);
    else if (key)
        ok = auth_pubkey(&m->auth, user, key, &opts, &rec);
    ssh_key_free(key);
    if (!ok)
        return auth_failed(m, user, "publickey", fp);
    if (state[0] == '0') {
        authkey_opts_free(&opts); /* a probe: "this key would do" */
        return answer(m, MPROTO_AUTH_YES, 1, "0", NULL);
    }
    authkey_opts_free(&m->af_opts);
    m->af_opts = opts; /* applies when the login completes */
    snprintf(m->fingerprint, sizeof(m->fingerprint), "%s", fp);
    return af_success(m, AF_PUBLICKEY, 0, &rec);
}

static int on_password(struct mon *m, struct mproto_msg *msg)
{
    struct user_record rec;
    af_begin(m, msg->f[0]);
    int ok = af_allows(m, AF_PASSWORD) && auth_password(&m->auth, msg->f[0], msg->f[1], &rec);
    explicit_bzero(msg->f[1], sizeof(msg->f[1]));
    if (!ok)
        return auth_failed(m, msg->f[0], "password", "");
    return af_success(m, AF_PASSWORD, 0, &rec);
}

/*
 * KBDINT user: the one prompt keyboard-interactive asks now, the code (after
 * another method, for a user with a TOTP secret) or else the password; the
 * same answer for unknown users as for real ones.
 */
static int on_kbdint(struct mon *m, const struct mproto_msg *msg)
{
    af_begin(m, msg->f[0]);
    if (!af_allows(m, AF_KBDINT))
        return auth_failed(m, msg->f[0], "keyboard-interactive", "");
    m->kbd_asked = authflow_kbdint_wants_code(&m->af) ? 2 : 1;
    return answer(m, MPROTO_KBDINT_PROMPT, 2,
                  m->kbd_asked == 2 ? "Verification code: " : "Password: ", "0");
}

/* The code for af_user, once: a replayed or earlier code is refused (broker/users/totp.h). */
static int code_ok(struct mon *m, const char *code)
{
    uint64_t step;
    time_t now = time(NULL);
    if (totp_check(m->af_rec.totp, code, (uint64_t)now, &step) != 0)
        return 0;
    if (totp_replay_claim(m->totp_fd, m->af_rec.uid, step) != 0) {
        log_info("%s: %s: a one-time code used before was refused", m->addr, m->af_user);
        return 0;
    }
    return 1;
}

/* KBDINT_ANSWER user answer: the reply to the prompt on_kbdint sent. */
static int on_kbdint_answer(struct mon *m, struct mproto_msg *msg)
{
    struct user_record rec;
    int ok = 0, asked = m->kbd_asked;
    if (!asked || strcmp(msg->f[0], m->af_user) != 0)
        return violation(m, "a KBDINT_ANSWER without a prompt");
    m->kbd_asked = 0;
    if (asked == 2)
        ok = code_ok(m, msg->f[1]);
    else
        ok = auth_password(&m->auth, msg->f[0], msg->f[1], &rec);
    explicit_bzero(msg->f[1], sizeof(msg->f[1]));
    if (!ok)
        return auth_failed(m, msg->f[0], "keyboard-interactive", "");
    return af_success(m, AF_KBDINT, asked == 2, asked == 2 ? &m->af_rec : &rec);
}

/*
 * Answer auth requests until one succeeds: 0, or negative (the child left
 * or misbehaved, or login_grace_time, which covers key exchange and
 * authentication, ran out).
 */
static int preauth_loop(struct mon *m)
{
    struct mproto_msg msg;
    unsigned grace = m->cfg->ssh.login_grace_time;
    long deadline = grace ? clock_now_ms() + grace * 1000L : -1;
    while (!m->authed) {
        const char *malformed;
        int r = recv_child(m, &msg, deadline, &malformed);
        if (r == BURROW_ERR_CLOSED)
            return r; /* the client left before logging in */
        if (r == BURROW_ERR_TIMEOUT) {
            log_info("login grace time over: from=%s", m->addr);
            return r;
        }
        if (r == BURROW_ERR_PERM)
            return violation(m, "not an auth request before auth");
        if (r == BURROW_ERR_FORMAT)
            return violation(m, malformed);
        if (r != 0)
            return violation(m, "undecodable message");
        if (m->failures >= m->cfg->ssh.max_auth_tries)
            return violation(m, "a request after max_auth_tries");
        if (m->attempts > MONITOR_AUTH_ATTEMPTS_MAX)
            return violation(m, "a request after the last attempt");
        if (++m->attempts > MONITOR_AUTH_ATTEMPTS_MAX) {
            log_info("%s: %d authentication attempts: no more", m->addr, MONITOR_AUTH_ATTEMPTS_MAX);
            explicit_bzero(&msg, sizeof(msg)); /* a PASSWORD message holds a password */
            if ((r = answer(m, MPROTO_AUTH_NO, 1, "last", NULL)) != 0)
                return r;
            continue; /* the child disconnects; another request kills it */
        }
        if (msg.type == MPROTO_PUBKEY)
            r = on_pubkey(m, &msg);
        else if (msg.type == MPROTO_PASSWORD)
            r = on_password(m, &msg);
        else if (msg.type == MPROTO_KBDINT)
            r = on_kbdint(m, &msg);
        else /* the table lets nothing else through before auth */
            r = on_kbdint_answer(m, &msg);
        if (r != 0)
            return r;
    }
    return 0;
}

/* --- after auth ----------------------------------------------------------------- */

/* Ask the master for the user's VM; on failure remember the text every channel shows. */
static void request_vm(struct mon *m)
{
    struct mproto_msg msg;
    const char *f[1] = {m->user};
    if (mproto_send(m->mfd, MPROTO_VM_REQ, 1, f) != 0) {
        snprintf(m->vm_err, sizeof(m->vm_err), "the service is restarting; try again shortly");
        return;
    }
    long deadline = clock_now_ms() + SESSION_VM_WAIT_MS;
    for (;;) {
        int r = recv_master(m, &msg, NULL, deadline);
        if (r == BURROW_ERR_TIMEOUT) {
            snprintf(m->vm_err, sizeof(m->vm_err), "your environment did not start in time");
            return;
        }
        if (r != 0) {
            snprintf(m->vm_err, sizeof(m->vm_err), "the service is restarting; try again shortly");
            return;
        }
        if (msg.type == MPROTO_VM_OK && msg.n >= 1)
            return; /* each channel's connection comes from the master (VM_CONNECT) */
        if ((msg.type == MPROTO_VM_ERR || msg.type == MPROTO_VM_GONE) && msg.n >= 1) {
            snprintf(m->vm_err, sizeof(m->vm_err), "%s", msg.f[0]);
            return;
        }
    }
}

/* The master's VM_GONE: every later CONNECT gets its text, and the child is told now. */
static void vm_gone(struct mon *m, const struct mproto_msg *msg)
{
    snprintf(m->vm_err, sizeof(m->vm_err), "%s", msg->n ? msg->f[0] : "your environment stopped");
    if (answer(m, MPROTO_VM_GONE, 1, m->vm_err, NULL) != 0)
        log_debug("net child unreachable");
}

/*
 * A connection to the user's VM from the master (VM_CONNECT -> VM_CONN +
 * fd, "CONNECT 1024" already sent), its "OK" read here: 0 and *fd, or a
 * negative code and the text the channel shows in err.
 */
static int vm_conn_from_master(struct mon *m, int *fd, char *err, size_t errsz)
{
    struct mproto_msg msg;
    const char *f[1] = {m->user};
    long deadline = clock_now_ms() + AGENTCONN_TIMEOUT_MS;
    *fd = -1;
    if (m->master_closed || mproto_send(m->mfd, MPROTO_VM_CONNECT, 1, f) != 0)
        return errmsg(err, errsz, BURROW_ERR_CLOSED,
                      "the service restarted: log in again for a new session");
    int r = recv_master(m, &msg, fd, deadline);
    if (r == BURROW_ERR_CLOSED)
        m->master_closed = 1;
    if (r != 0)
        return errmsg(err, errsz, r, "the service is restarting; try again shortly");
    /* The answer, or a VM_GONE or END that crossed the request (then that is the answer). */
    if (msg.type == MPROTO_VM_GONE) {
        vm_gone(m, &msg);
        snprintf(err, errsz, "%.200s", m->vm_err);
    } else if (msg.type == MPROTO_END && msg.n == 1) {
        if (answer(m, MPROTO_END, 1, msg.f[0], NULL) != 0)
            log_debug("net child unreachable");
        snprintf(err, errsz, "%.200s", msg.f[0]);
    } else if (msg.type == MPROTO_VM_CONN_ERR && msg.n >= 1) {
        snprintf(err, errsz, "%.200s", msg.f[0]);
    } else if (msg.type == MPROTO_VM_CONN && *fd >= 0) {
        if ((r = agentconn_await_ok(*fd, err, errsz)) == 0)
            return 0;
        log_warn("%s: cannot reach the VM's agent: %s", m->user, err);
    } else {
        snprintf(err, errsz, "the service is restarting; try again shortly");
    }
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    return BURROW_ERR_CLOSED;
}

/* CONNECT: a connection to the agent's session port of this user's VM, or why not. */
static int on_connect(struct mon *m)
{
    char err[AGENTCONN_ERR_MAX];
    int fd;
    if (m->vm_err[0])
        return answer(m, MPROTO_CONN_ERR, 1, m->vm_err, NULL);
    if (vm_conn_from_master(m, &fd, err, sizeof(err)) != 0)
        return answer(m, MPROTO_CONN_ERR, 1, err, NULL);
    const char *none[1] = {NULL};
    int r = mproto_send_fd(m->cfd, MPROTO_CONN_OK, 0, none, fd);
    close(fd);
    return r;
}

static void on_master(struct mon *m)
{
    struct mproto_msg msg;
    int r = recv_master(m, &msg, NULL, MPROTO_NOWAIT);
    if (r == BURROW_ERR_AGAIN)
        return;
    if (r == BURROW_ERR_CLOSED) {
        m->master_closed = 1; /* the master restarted: open channels live on */
        return;
    }
    if (r == 0 && msg.type == MPROTO_VM_GONE)
        vm_gone(m, &msg);
    if (r == 0 && msg.type == MPROTO_END && msg.n == 1 &&
        answer(m, MPROTO_END, 1, msg.f[0], NULL) != 0)
        log_debug("net child unreachable");
}

/* A channel report from the child, passed on to the master as it is (the master checks it). */
static int forward_report(struct mon *m, const struct mproto_msg *msg)
{
    const char *f[3] = {msg->f[0], msg->f[1], msg->f[2]};
    if (!m->master_closed)
        tell_master(m, msg->type, 3, f);
    return 0;
}

/* Serve CONNECTs and forward VM_GONE until the child is done: BURROW_ERR_CLOSED, or another error.
 */
static int postauth_loop(struct mon *m)
{
    struct mproto_msg msg;
    for (;;) {
        struct pollfd p[2] = {{.fd = m->cfd, .events = POLLIN},
                              {.fd = m->master_closed ? -1 : m->mfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return BURROW_ERR_SYSTEM;
        }
        if (p[1].revents)
            on_master(m);
        if (!p[0].revents)
            continue;
        const char *malformed;
        int r = recv_child(m, &msg, MPROTO_NOWAIT, &malformed);
        if (r == BURROW_ERR_AGAIN)
            continue;
        if (r == BURROW_ERR_PERM)
            return violation(m, "not a CONNECT or a channel report after auth");
        if (r == BURROW_ERR_FORMAT)
            return violation(m, malformed);
        if (r != 0)
            return r == BURROW_ERR_CLOSED ? r : violation(m, "undecodable message");
        if (msg.type == MPROTO_CONNECT)
            r = on_connect(m);
        else /* CHAN_OPEN or CHAN_CLOSE: the table lets nothing else through after auth */
            r = forward_report(m, &msg);
        if (r != 0)
            return r;
    }
}

/* --- the session process ---------------------------------------------------------- */

/* The child's exit status is the session's; a crash is logged like the master logs one. */
static int reap_child(struct mon *m)
{
    int st;
    while (waitpid(m->child, &st, 0) < 0)
        if (errno != EINTR)
            return 1;
    if (WIFSIGNALED(st)) {
        if (WTERMSIG(st) != SIGKILL)
            log_warn("session process %d (%s) crashed: signal %d", (int)m->child, m->addr,
                     WTERMSIG(st));
        return 1;
    }
    return WEXITSTATUS(st);
}

/* The banner is read here, as root, before the child gives up the filesystem. */
static void read_banner(const struct burrow_config *cfg, char *text, size_t size)
{
    text[0] = 0;
    if (!cfg->ssh.banner[0])
        return;
    FILE *f = fopen(cfg->ssh.banner, "re");
    if (!f) {
        log_warn("cannot read banner %s: %s", cfg->ssh.banner, strerror(errno));
        return;
    }
    size_t n = fread(text, 1, size - 1, f);
    fclose(f);
    text[n] = 0;
}

static int start_child(struct mon *m, const struct session_args *a)
{
    static char banner[SESSION_BANNER_MAX + 1];
    int sp[2];
    read_banner(a->cfg, banner, sizeof(banner));
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0)
        return BURROW_ERR_SYSTEM;
    pid_t monitor = getpid();
    m->child = fork();
    if (m->child == 0) {
        close(sp[0]);
        close(a->mfd);
        _exit(netchild_main(a, sp[1], monitor, banner));
    }
    close(sp[1]);
    if (m->child < 0) {
        close(sp[0]);
        return BURROW_ERR_SYSTEM;
    }
    close(a->fd);           /* the monitor never reads the network */
    ssh_bind_free(a->bind); /* nor signs anything: only the child keeps the host keys */
    m->cfd = sp[0];
    return 0;
}

/* After auth: tell the master, start the VM, then give up root. 0 or negative. */
static int become_user(struct mon *m)
{
    const char *f[3] = {m->user, m->method, m->fingerprint};
    tell_master(m, MPROTO_AUTH_OK, 3, f);
    auth_close(&m->auth);
    /* The replay table is root's: a monitor running as her must not keep it writable. */
    if (m->totp_fd >= 0)
        close(m->totp_fd);
    m->totp_fd = -1;
    authkey_opts_free(&m->af_opts);
    request_vm(m);
    if (confine_session_hide(m->cfg) != 0 || confine_session_postauth(&m->rec) != 0 ||
        confine_session_filter(m->cfg, CONFINE_POSTAUTH, m->child) != 0) {
        log_error("%s: cannot drop privileges after auth", m->user);
        return BURROW_ERR_SYSTEM;
    }
    return 0;
}

int session_monitor_main(const struct session_args *a)
{
    static struct mon mon;
    struct mon *m = &mon;
    memset(m, 0, sizeof(*m));
    m->cfg = a->cfg;
    m->mfd = a->mfd;
    m->addr = a->addr;
    install_crash_backtrace();
    if (confine_monitor_namespaces() != 0 || start_child(m, a) != 0) {
        log_error("%s: cannot start the session's net process", a->addr);
        return 1;
    }
    /* The net child has what it needs to jail itself: keep only what the monitor needs. */
    if (auth_init(&m->auth, m->cfg, m->addr) != 0 || confine_monitor_caps() != 0) {
        log_error("%s: cannot set up the session's monitor", a->addr);
        kill(m->child, SIGKILL);
        return 1;
    }
    m->policy.password_auth = m->cfg->ssh.password_auth;
    if (authflow_parse(m->cfg->auth.methods, &m->policy, m->vm_err, sizeof(m->vm_err)) != 0) {
        kill(m->child, SIGKILL); /* the config loader checked it: cannot happen */
        return 1;
    }
    m->totp_fd = totp_replay_open(m->cfg->paths.run_dir); /* before the read-only filter */
    if (confine_session_filter(m->cfg, CONFINE_PREAUTH, m->child) != 0) {
        log_error("%s: cannot load the pre-auth seccomp filter", m->addr);
        kill(m->child, SIGKILL);
        return 1;
    }
    int r = preauth_loop(m);
    if (r == 0)
        r = become_user(m);
    if (r == 0)
        r = postauth_loop(m);
    if (r != BURROW_ERR_CLOSED) {
        /* Not the child's own end: after the drop kill() is refused (another uid),
         * and the monitor's exit ends it (PR_SET_PDEATHSIG). */
        kill(m->child, SIGKILL);
        return r == BURROW_ERR_TIMEOUT && !m->authed ? SESSION_EXIT_GRACE : 1;
    }
    close(m->cfd);
    return reap_child(m);
}
