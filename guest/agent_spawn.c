/*
 * guest/agent_spawn.c - start a session's process as the user: a pty with
 * the requested TERM, size and terminal modes, or three pipes (stdout and
 * stderr kept apart); the login shell, `shell -c command`, or a subsystem.
 *
 * The child drops privileges in the order setgroups, setgid, setuid, checks
 * that root cannot be regained, and gets a fresh environment: HOME, USER,
 * LOGNAME, SHELL, PATH, TERM, plus the variables the broker sent (its
 * policy decides which; PATH and TERM may be replaced, the identity not).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "guest/agent.h"

#define ENV_MAX (PROTO_ENV_MAX + 8)

/*
 * A variable the broker may set: any shell identifier except the identity the
 * agent itself sets. Which names a client or an authorized_keys
 * environment= may send is the broker's policy ([ssh] accept_env,
 * permit_user_environment); the agent only keeps who the user is.
 */
int env_allowed(const char *name)
{
    static const char *const identity[] = {"HOME", "USER", "LOGNAME", "SHELL"};
    if (!(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    for (size_t i = 0; i < sizeof(identity) / sizeof(identity[0]); i++)
        if (strcmp(name, identity[i]) == 0)
            return 0;
    return 1;
}

/* ---- terminal modes (RFC 4254 §8) ---- */

struct mode_map {
    uint8_t op;
    char kind; /* 'c' control char, 'i' iflag, 'l' lflag, 'o' oflag, 'f' cflag */
    tcflag_t bit;
    int cc;
};

static const struct mode_map mode_table[] = {
    {1, 'c', 0, VINTR},    {2, 'c', 0, VQUIT},     {3, 'c', 0, VERASE},    {4, 'c', 0, VKILL},
    {5, 'c', 0, VEOF},     {6, 'c', 0, VEOL},      {7, 'c', 0, VEOL2},     {8, 'c', 0, VSTART},
    {9, 'c', 0, VSTOP},    {10, 'c', 0, VSUSP},    {12, 'c', 0, VREPRINT}, {13, 'c', 0, VWERASE},
    {14, 'c', 0, VLNEXT},  {18, 'c', 0, VDISCARD}, {30, 'i', IGNPAR, 0},   {31, 'i', PARMRK, 0},
    {32, 'i', INPCK, 0},   {33, 'i', ISTRIP, 0},   {34, 'i', INLCR, 0},    {35, 'i', IGNCR, 0},
    {36, 'i', ICRNL, 0},   {38, 'i', IXON, 0},     {39, 'i', IXANY, 0},    {40, 'i', IXOFF, 0},
    {41, 'i', IMAXBEL, 0}, {42, 'i', IUTF8, 0},    {50, 'l', ISIG, 0},     {51, 'l', ICANON, 0},
    {53, 'l', ECHO, 0},    {54, 'l', ECHOE, 0},    {55, 'l', ECHOK, 0},    {56, 'l', ECHONL, 0},
    {57, 'l', NOFLSH, 0},  {58, 'l', TOSTOP, 0},   {59, 'l', IEXTEN, 0},   {60, 'l', ECHOCTL, 0},
    {61, 'l', ECHOKE, 0},  {62, 'l', PENDIN, 0},   {70, 'o', OPOST, 0},    {72, 'o', ONLCR, 0},
    {73, 'o', OCRNL, 0},   {74, 'o', ONOCR, 0},    {75, 'o', ONLRET, 0},   {90, 'f', CS7, 0},
    {91, 'f', CS8, 0},     {92, 'f', PARENB, 0},   {93, 'f', PARODD, 0},
};

static void set_flag(tcflag_t *flags, tcflag_t bit, uint32_t on)
{
    if (on)
        *flags |= bit;
    else
        *flags &= ~bit;
}

/* Unknown opcodes (and speeds) are ignored, as OpenSSH does. */
static void apply_modes(struct termios *t, const struct proto_open *o)
{
    for (uint32_t i = 0; i < o->n_modes; i++) {
        for (size_t k = 0; k < sizeof(mode_table) / sizeof(mode_table[0]); k++) {
            const struct mode_map *m = &mode_table[k];
            if (m->op != o->modes[i].op)
                continue;
            uint32_t v = o->modes[i].value;
            switch (m->kind) {
            case 'c':
                t->c_cc[m->cc] = v == 255 ? _POSIX_VDISABLE : (cc_t)v;
                break;
            case 'i':
                set_flag(&t->c_iflag, m->bit, v);
                break;
            case 'l':
                set_flag(&t->c_lflag, m->bit, v);
                break;
            case 'o':
                set_flag(&t->c_oflag, m->bit, v);
                break;
            case 'f':
                if (m->bit == CS7 || m->bit == CS8) {
                    if (v) {
                        t->c_cflag &= ~CSIZE;
                        t->c_cflag |= m->bit;
                    }
                } else {
                    set_flag(&t->c_cflag, m->bit, v);
                }
                break;
            }
        }
    }
}

/* ---- environment ---- */

struct env_block {
    char *vars[ENV_MAX + 1];
    int n;
    char store[16384];
    size_t used;
};

static void env_add(struct env_block *e, const char *name, const char *value, size_t vlen)
{
    size_t nlen = strlen(name), need = nlen + 1 + vlen + 1;
    if (e->n >= ENV_MAX || need > sizeof(e->store) - e->used)
        return;
    for (int i = 0; i < e->n; i++) /* first definition wins: fixed ones come first */
        if (strncmp(e->vars[i], name, nlen) == 0 && e->vars[i][nlen] == '=')
            return;
    char *p = e->store + e->used;
    memcpy(p, name, nlen);
    p[nlen] = '=';
    memcpy(p + nlen + 1, value, vlen);
    p[nlen + 1 + vlen] = '\0';
    e->used += need;
    e->vars[e->n++] = p;
    e->vars[e->n] = NULL;
}

/*
 * The identity first (env_add keeps the first definition, so nothing can
 * replace it), then what the broker sent, then the defaults it did not
 * override (PATH, TERM), as sshd lets AcceptEnv/environment= replace them.
 */
static void env_build(struct env_block *e, const struct proto_open *o, const struct agent_user *u)
{
    e->n = 0;
    e->used = 0;
    e->vars[0] = NULL;
    const char *path = u->uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                                   : "/usr/local/bin:/usr/bin:/bin";
    env_add(e, "HOME", u->home, strlen(u->home));
    env_add(e, "USER", u->name, strlen(u->name));
    env_add(e, "LOGNAME", u->name, strlen(u->name));
    env_add(e, "SHELL", u->shell, strlen(u->shell));
    for (uint32_t i = 0; i < o->n_env; i++) {
        char name[PROTO_NAME_MAX + 1];
        if (proto_str_copy(o->env[i].name, name, sizeof(name)) || !env_allowed(name))
            continue;
        env_add(e, name, o->env[i].value.p, o->env[i].value.len);
    }
    env_add(e, "PATH", path, strlen(path));
    if ((o->flags & PROTO_OPEN_F_PTY) && o->term.len)
        env_add(e, "TERM", o->term.p, o->term.len);
}

/* ---- the child ---- */

struct child_plan {
    const char *prog;
    char *argv[4];
    char argv0[AGENT_PATH_MAX + 2];
    char command[PROTO_COMMAND_MAX + 1];
    gid_t groups[AGENT_GROUPS_MAX];
    int n_groups;
    struct env_block env;
};

static void child_fail(const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "burrow-agent: %s: %s\r\n", what, strerror(errno));
    if (n > 0 && write(2, msg, (size_t)n) < 0)
        _exit(127);
    _exit(127);
}

static void __attribute__((noreturn))
child_exec(struct child_plan *plan, const struct agent_user *u, int fds[3], int pty_slave)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    if (setsid() < 0)
        child_fail("setsid");
    if (pty_slave >= 0 && ioctl(pty_slave, TIOCSCTTY, 0) < 0)
        child_fail("TIOCSCTTY");
    for (int i = 0; i < 3; i++)
        if (dup2(fds[i], i) < 0)
            child_fail("dup2");
    if (users_drop_to(u, plan->groups, plan->n_groups))
        child_fail("dropping privileges");
    if (chdir(u->home) < 0 && chdir("/") < 0)
        child_fail("chdir");
    execve(plan->prog, plan->argv, plan->env.vars);
    child_fail(plan->prog);
    _exit(127);
}

static int plan_program(struct child_plan *plan, const struct agent_config *cfg,
                        const struct proto_open *o, const struct agent_user *u, char *err,
                        size_t errsz)
{
    const char *base = strrchr(u->shell, '/');
    base = base ? base + 1 : u->shell;
    plan->prog = u->shell;
    switch (o->kind) {
    case PROTO_OPEN_SHELL:
        snprintf(plan->argv0, sizeof(plan->argv0), "-%s", base); /* a login shell */
        plan->argv[0] = plan->argv0;
        plan->argv[1] = NULL;
        return 0;
    case PROTO_OPEN_EXEC:
        if (proto_str_copy(o->command, plan->command, sizeof(plan->command)))
            break;
        snprintf(plan->argv0, sizeof(plan->argv0), "%s", base);
        plan->argv[0] = plan->argv0;
        plan->argv[1] = (char *)"-c";
        plan->argv[2] = plan->command;
        plan->argv[3] = NULL;
        return 0;
    case PROTO_OPEN_SUBSYSTEM:
        if (!proto_str_eq(o->command, "sftp"))
            return errmsg(err, errsz, BURROW_ERR_UNSUPPORTED, "unknown subsystem");
        plan->prog = cfg->sftp_server;
        plan->argv[0] = (char *)"sftp-server";
        plan->argv[1] = NULL;
        return 0;
    }
    return errmsg(err, errsz, BURROW_ERR_INVALID, "bad session kind");
}

static int open_pty(const struct proto_open *o, const struct agent_user *u, int *master, int *slave)
{
    char name[64];
    *master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return BURROW_ERR_SYSTEM;
    if (grantpt(*master) < 0 || unlockpt(*master) < 0 || ptsname_r(*master, name, sizeof(name))) {
        close(*master);
        return BURROW_ERR_SYSTEM;
    }
    *slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0) {
        close(*master);
        return BURROW_ERR_SYSTEM;
    }
    struct termios t;
    if (tcgetattr(*slave, &t) == 0) {
        apply_modes(&t, o);
        tcsetattr(*slave, TCSANOW, &t);
    }
    struct winsize ws = {.ws_row = (unsigned short)o->window.rows,
                         .ws_col = (unsigned short)o->window.cols,
                         .ws_xpixel = (unsigned short)o->window.xpixel,
                         .ws_ypixel = (unsigned short)o->window.ypixel};
    if (ws.ws_row == 0 || ws.ws_col == 0) {
        ws.ws_row = 24;
        ws.ws_col = 80;
    }
    ioctl(*slave, TIOCSWINSZ, &ws);
    /* The user owns their terminal (like login does); failures are not fatal. */
    if (fchown(*slave, u->uid, (gid_t)-1) < 0 || fchmod(*slave, 0620) < 0)
        errno = 0;
    return 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

int spawn_session(const struct agent_config *cfg, const struct proto_open *o,
                  const struct agent_user *u, struct spawned *out, char *err, size_t errsz)
{
    static struct child_plan plan; /* large: keep it off the stack */
    memset(&plan.argv, 0, sizeof(plan.argv));
    int r = plan_program(&plan, cfg, o, u, err, errsz);
    if (r)
        return r;
    if (users_groups(cfg->etc, u->name, u->gid, plan.groups, &plan.n_groups))
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "cannot read groups");
    env_build(&plan.env, o, u);

    int child_fds[3], parent_fds[3] = {-1, -1, -1}, slave = -1, master = -1;
    out->pty = (o->flags & PROTO_OPEN_F_PTY) != 0;
    if (out->pty) {
        if (open_pty(o, u, &master, &slave))
            return errmsg(err, errsz, BURROW_ERR_SYSTEM, "cannot allocate a pty: %s",
                          strerror(errno));
        child_fds[0] = child_fds[1] = child_fds[2] = slave;
    } else {
        int p[3][2];
        for (int i = 0; i < 3; i++) {
            if (pipe2(p[i], O_CLOEXEC) < 0) {
                for (int j = 0; j < i; j++) {
                    close(p[j][0]);
                    close(p[j][1]);
                }
                return errmsg(err, errsz, BURROW_ERR_SYSTEM, "pipe: %s", strerror(errno));
            }
        }
        child_fds[0] = p[0][0], parent_fds[0] = p[0][1];
        child_fds[1] = p[1][1], parent_fds[1] = p[1][0];
        child_fds[2] = p[2][1], parent_fds[2] = p[2][0];
    }

    pid_t pid = fork();
    if (pid == 0)
        child_exec(&plan, u, child_fds, slave);
    int fork_errno = errno;
    if (out->pty) {
        close(slave);
    } else {
        for (int i = 0; i < 3; i++)
            close(child_fds[i]);
    }
    if (pid < 0) {
        if (out->pty)
            close(master);
        else
            for (int i = 0; i < 3; i++)
                close(parent_fds[i]);
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "fork: %s", strerror(fork_errno));
    }
    out->pid = pid;
    if (out->pty) {
        out->in_fd = out->out_fd = master;
        out->err_fd = -1;
    } else {
        out->in_fd = parent_fds[0];
        out->out_fd = parent_fds[1];
        out->err_fd = parent_fds[2];
    }
    set_nonblock(out->in_fd);
    set_nonblock(out->out_fd);
    if (out->err_fd >= 0)
        set_nonblock(out->err_fd);
    return 0;
}
