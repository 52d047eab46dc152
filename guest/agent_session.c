/*
 * guest/agent_session.c - one session per accepted connection, in its own
 * process (forked by the main agent): handshake, OPEN, start the user's
 * process or the tcp connection, then relay both ways.
 *
 * Backpressure: the socket is read only while the input buffer has room,
 * STDIN frames are taken only while the child's stdin queue has room, and
 * the child's output is read only while a whole frame fits in the output
 * buffer. Every buffer is a fixed size, so a stalled peer stalls its own
 * session only.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "guest/agent.h"

#define HANDSHAKE_TIMEOUT_MS 30000
#define FLUSH_TIMEOUT_MS     10000
#define IN_CAP               (2 * PROTO_FRAME_MAX)
#define OUT_CAP              (4 * PROTO_FRAME_MAX)
#define STDIN_CAP            (2 * PROTO_DATA_MAX)
#define PTY_DRAIN_MS         200

static uint8_t in_mem[IN_CAP], out_mem[OUT_CAP], stdin_mem[STDIN_CAP];

struct session {
    int sock;
    int sigfd;
    struct buf in, out;
    size_t stdin_off, stdin_len; /* queued bytes: stdin_mem[stdin_off, stdin_off + stdin_len) */
    struct spawned sp;
    int tcp;
    int stdin_eof;    /* the broker sent EOF(stdin) */
    int stdin_closed; /* our side of the child's stdin is done */
    int out_open, err_open;
    int child_exited, wstatus;
    int peer_gone; /* the broker hung up */
};

static void __attribute__((noreturn)) finish(struct session *s, int code)
{
    if (buf_len(&s->out))
        (void)net_write_all(s->sock, buf_ptr(&s->out), buf_len(&s->out), FLUSH_TIMEOUT_MS);
    close(s->sock);
    _exit(code);
}

static void send_error(struct session *s, int code, const char *text)
{
    if (proto_put_error(&s->out, code, text) == BURROW_ERR_AGAIN) {
        (void)net_write_all(s->sock, buf_ptr(&s->out), buf_len(&s->out), FLUSH_TIMEOUT_MS);
        buf_reset(&s->out);
        if (proto_put_error(&s->out, code, text))
            return; /* cannot even say why: the close says enough */
    }
}

/* Stop the user's process: SIGHUP to its session, then SIGKILL after 1 s. */
static void end_child(struct session *s)
{
    if (s->tcp || s->child_exited || s->sp.pid <= 0)
        return;
    kill(-s->sp.pid, SIGHUP);
    kill(s->sp.pid, SIGHUP);
    for (int i = 0; i < 100; i++) {
        if (waitpid(s->sp.pid, &s->wstatus, WNOHANG) == s->sp.pid) {
            s->child_exited = 1;
            return;
        }
        usleep(10000);
    }
    kill(-s->sp.pid, SIGKILL);
    kill(s->sp.pid, SIGKILL);
    if (waitpid(s->sp.pid, &s->wstatus, 0) == s->sp.pid)
        s->child_exited = 1;
}

static void __attribute__((noreturn)) fail(struct session *s, int code, const char *text)
{
    send_error(s, code, text);
    end_child(s);
    finish(s, 1);
}

/* ---- handshake and open ---- */

static void handshake(struct session *s, struct proto_frame *f)
{
    int r = net_read_frame(s->sock, &s->in, f, HANDSHAKE_TIMEOUT_MS);
    if (r)
        fail(s, r, "no hello");
    struct proto_hello h;
    if (f->type != PROTO_HELLO || proto_get_hello(f, &h) || proto_hello_check(&h))
        fail(s, BURROW_ERR_VERSION, "expected a compatible hello");
    struct proto_hello mine = {.version = PROTO_VERSION, .role = PROTO_ROLE_AGENT};
    if (proto_put_hello(&s->out, &mine))
        fail(s, BURROW_ERR_INVALID, "hello");
    r = net_read_frame(s->sock, &s->in, f, HANDSHAKE_TIMEOUT_MS);
    if (r)
        fail(s, r, "no open");
}

/* The session relays the byte stream of a connected socket (no process, no EXIT). */
static void become_tcp(struct session *s, int fd)
{
    s->tcp = 1;
    s->sp.pid = 0;
    s->sp.in_fd = s->sp.out_fd = fd;
    s->sp.err_fd = -1;
    s->sp.pty = 0;
}

static int open_tcp(struct session *s, const struct proto_open *o, char *err, size_t errsz)
{
    char host[PROTO_HOST_MAX + 1];
    if (proto_str_copy(o->host, host, sizeof(host)) || host[0] == '\0')
        return errmsg(err, errsz, BURROW_ERR_INVALID, "bad host");
    int fd = tcp_connect(host, (uint16_t)o->port, err, errsz);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    become_tcp(s, fd);
    return 0;
}

/* A connection one of our listeners accepted (ssh -R, ssh -A), from the hub. */
static int open_claimed(struct session *s, const struct proto_open *o, char *err, size_t errsz)
{
    int fd;
    int r = fwd_claim(o->token, o->conn_id, &fd, err, errsz);
    if (r == 0)
        become_tcp(s, fd);
    return r;
}

static int open_user(struct session *s, const struct agent_config *cfg,
                     const struct agent_state *st, const struct proto_open *o, char *err,
                     size_t errsz)
{
    struct agent_user u;
    int r = users_for_session(cfg, st, o->user, &u, err, errsz);
    if (r)
        return r;
    return spawn_session(cfg, o, &u, &s->sp, err, errsz);
}

/* ---- relay ---- */

static size_t out_room(struct session *s)
{
    if (buf_len(&s->out) == 0)
        buf_reset(&s->out);
    else if (OUT_CAP - buf_used(&s->out) < PROTO_FRAME_MAX)
        buf_compact(&s->out);
    return OUT_CAP - buf_used(&s->out);
}

static void close_stdin(struct session *s)
{
    if (s->stdin_closed)
        return;
    s->stdin_closed = 1;
    s->stdin_len = 0;
    s->stdin_off = 0;
    if (s->tcp) {
        shutdown(s->sp.in_fd, SHUT_WR);
    } else if (s->sp.pty) {
        /* A pty has no half close: type the EOF character, as a user would. */
        struct termios t;
        char eof = 4;
        if (tcgetattr(s->sp.in_fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
            eof = (char)t.c_cc[VEOF];
        if (write(s->sp.in_fd, &eof, 1) < 0)
            errno = 0;
    } else {
        close(s->sp.in_fd);
        s->sp.in_fd = -1;
    }
}

static void handle_frame(struct session *s, const struct proto_frame *f)
{
    uint32_t v;
    struct proto_window w;
    switch (f->type) {
    case PROTO_EOF:
        if (proto_get_eof(f, &v) || v != PROTO_STREAM_STDIN)
            fail(s, BURROW_ERR_PROTOCOL, "malformed eof");
        s->stdin_eof = 1;
        return;
    case PROTO_WINDOW:
        if (proto_get_window(f, &w))
            fail(s, BURROW_ERR_PROTOCOL, "malformed window");
        if (s->sp.pty) {
            struct winsize ws = {.ws_row = (unsigned short)w.rows,
                                 .ws_col = (unsigned short)w.cols,
                                 .ws_xpixel = (unsigned short)w.xpixel,
                                 .ws_ypixel = (unsigned short)w.ypixel};
            ioctl(s->sp.out_fd, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH */
        }
        return;
    case PROTO_SIGNAL:
        if (proto_get_signal(f, &v))
            fail(s, BURROW_ERR_PROTOCOL, "malformed signal");
        /* To the session's process group, as sshd does (killpg): the user's
         * process called setsid(), so its pid is the group; a shell's children
         * (sleep in "echo a; sleep 30") get it too, not only the shell. */
        if (!s->tcp && !s->child_exited)
            kill(-s->sp.pid, (int)v);
        return;
    default:
        if (!proto_type_known(f->type)) {
            if (proto_put_error_unknown(&s->out, f->type))
                fail(s, BURROW_ERR_AGAIN, "output full");
            return;
        }
        fail(s, BURROW_ERR_PROTOCOL, "unexpected frame");
    }
}

/* Take frames from the input buffer as far as backpressure allows. */
static void process_input(struct session *s)
{
    for (;;) {
        struct proto_frame f;
        int r = proto_frame_parse(buf_ptr(&s->in), buf_len(&s->in), &f);
        if (r == BURROW_ERR_AGAIN)
            break;
        if (r)
            fail(s, r, "bad frame header");
        if (f.type == PROTO_STDIN) {
            const uint8_t *data;
            size_t len;
            if (proto_get_data(&f, &data, &len))
                fail(s, BURROW_ERR_PROTOCOL, "malformed data");
            if (s->stdin_eof)
                fail(s, BURROW_ERR_PROTOCOL, "data after eof");
            if (!s->stdin_closed) {
                if (len > STDIN_CAP - s->stdin_len)
                    break; /* wait until the child has read some */
                if (len > STDIN_CAP - s->stdin_off - s->stdin_len) {
                    memmove(stdin_mem, stdin_mem + s->stdin_off, s->stdin_len);
                    s->stdin_off = 0;
                }
                memcpy(stdin_mem + s->stdin_off + s->stdin_len, data, len);
                s->stdin_len += len;
            }
        } else {
            if (out_room(s) < PROTO_FRAME_MAX)
                break; /* an answer might not fit */
            handle_frame(s, &f);
        }
        if (buf_skip(&s->in, f.size))
            fail(s, BURROW_ERR_INVALID, "internal");
    }
    /* Move the unread tail to the front only when the free room runs short. */
    if (IN_CAP - buf_used(&s->in) < PROTO_FRAME_MAX)
        buf_compact(&s->in);
    if (s->stdin_eof && s->stdin_len == 0)
        close_stdin(s);
}

static void write_stdin(struct session *s)
{
    ssize_t n = write(s->sp.in_fd, stdin_mem + s->stdin_off, s->stdin_len);
    if (n > 0) {
        s->stdin_off += (size_t)n;
        s->stdin_len -= (size_t)n;
        if (s->stdin_len == 0)
            s->stdin_off = 0;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        close_stdin(s); /* the reader went away: drop what is queued */
    }
}

/* Read one chunk of child output into a frame. Returns 0 on EOF. */
static int read_output(struct session *s, int fd, uint32_t type)
{
    uint8_t tmp[PROTO_DATA_MAX];
    ssize_t n = read(fd, tmp, sizeof(tmp));
    if (n > 0) {
        if (proto_put_data(&s->out, type, tmp, (size_t)n))
            fail(s, BURROW_ERR_INVALID, "internal: output full");
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    return 0; /* EOF, or EIO: the pty's last slave fd is closed */
}

static void reap(struct session *s)
{
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof(si)) > 0)
        ;
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
        if (p == s->sp.pid) {
            s->child_exited = 1;
            s->wstatus = st;
        }
}

static void flush_out(struct session *s)
{
    ssize_t n = send(s->sock, buf_ptr(&s->out), buf_len(&s->out), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
        if (buf_skip(&s->out, (size_t)n))
            fail(s, BURROW_ERR_INVALID, "internal");
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        s->peer_gone = 1;
    }
}

static void read_sock(struct session *s)
{
    uint8_t *p;
    size_t room = IN_CAP - buf_used(&s->in);
    if (room == 0 || buf_reserve(&s->in, room, &p))
        return;
    ssize_t n = recv(s->sock, p, room, MSG_DONTWAIT);
    s->in.len -= room - (n > 0 ? (size_t)n : 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        s->peer_gone = 1;
}

/* Everything the session produced has been queued: add the closing frames. */
static int session_done(struct session *s)
{
    if (s->tcp)
        return !s->out_open && s->stdin_closed;
    return s->child_exited && !s->out_open && !s->err_open;
}

static void __attribute__((noreturn)) close_session(struct session *s)
{
    if (!s->tcp) {
        struct proto_exit x = {0};
        if (WIFSIGNALED(s->wstatus)) {
            x.kind = PROTO_EXIT_SIGNAL;
            x.value = (uint32_t)WTERMSIG(s->wstatus);
            x.core_dumped = WCOREDUMP(s->wstatus) ? 1 : 0;
        } else {
            x.kind = PROTO_EXIT_STATUS;
            x.value = (uint32_t)WEXITSTATUS(s->wstatus);
        }
        if (out_room(s) < 2 * PROTO_HDR_LEN + 64 || proto_put_eof(&s->out, PROTO_STREAM_STDOUT) ||
            proto_put_exit(&s->out, &x))
            fail(s, BURROW_ERR_INVALID, "internal: no room for exit");
    }
    finish(s, 0);
}

static void relay(struct session *s)
{
    enum { P_SOCK, P_IN, P_OUT, P_ERR, P_SIG, P_N };
    for (;;) {
        process_input(s);
        if (s->peer_gone) {
            end_child(s);
            finish(s, 0);
        }
        if (session_done(s))
            close_session(s);

        struct pollfd p[P_N];
        for (int i = 0; i < P_N; i++)
            p[i] = (struct pollfd){.fd = -1};
        p[P_SOCK].fd = s->sock;
        if (IN_CAP - buf_used(&s->in) > 0)
            p[P_SOCK].events |= POLLIN;
        if (buf_len(&s->out))
            p[P_SOCK].events |= POLLOUT;
        if (!s->stdin_closed && s->stdin_len) {
            p[P_IN].fd = s->sp.in_fd;
            p[P_IN].events = POLLOUT;
        }
        int room = out_room(s) >= PROTO_FRAME_MAX;
        if (s->out_open && room) {
            p[P_OUT].fd = s->sp.out_fd;
            p[P_OUT].events = POLLIN;
        }
        if (s->err_open && room) {
            p[P_ERR].fd = s->sp.err_fd;
            p[P_ERR].events = POLLIN;
        }
        p[P_SIG].fd = s->sigfd;
        p[P_SIG].events = POLLIN;
        /*
         * After the child exits, a pty is read until EIO (no slave left) or
         * until it stays quiet for a moment (a background job holds it).
         */
        int draining = s->sp.pty && s->child_exited && s->out_open;
        int n = poll(p, P_N, draining ? PTY_DRAIN_MS : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail(s, BURROW_ERR_SYSTEM, "poll");
        }
        if (n == 0 && draining && room)
            s->out_open = 0;
        if (p[P_SIG].revents)
            reap(s);
        if (p[P_SOCK].revents & POLLOUT)
            flush_out(s);
        if (p[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR))
            read_sock(s);
        if (p[P_IN].revents)
            write_stdin(s);
        if (p[P_OUT].revents && !read_output(s, s->sp.out_fd, PROTO_STDOUT)) {
            s->out_open = 0;
            if (s->tcp && proto_put_eof(&s->out, PROTO_STREAM_STDOUT))
                fail(s, BURROW_ERR_INVALID, "internal");
        }
        if (p[P_ERR].revents && !read_output(s, s->sp.err_fd, PROTO_STDERR))
            s->err_open = 0;
    }
}

void session_main(int sock, const struct agent_config *cfg, const struct agent_state *st)
{
    static struct session s;
    memset(&s, 0, sizeof(s));
    s.sock = sock;
    s.sp.pid = -1;
    buf_init_writer(&s.in, in_mem, sizeof(in_mem));
    buf_init_writer(&s.out, out_mem, sizeof(out_mem));

    /* SIGCHLD arrives through a signalfd; the main agent's other signals are its own. */
    sigset_t chld, rest;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    sigemptyset(&rest);
    sigaddset(&rest, SIGTERM);
    sigaddset(&rest, SIGINT);
    sigaddset(&rest, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &rest, NULL);
    signal(SIGPIPE, SIG_IGN);
    s.sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s.sigfd < 0)
        fail(&s, BURROW_ERR_SYSTEM, "signalfd");

    struct proto_frame f;
    handshake(&s, &f);
    static struct proto_open o;
    if (f.type != PROTO_OPEN || proto_get_open(&f, &o))
        fail(&s, BURROW_ERR_PROTOCOL, "expected a valid open");

    if (o.kind == PROTO_OPEN_LISTEN)
        fwd_listen_session(s.sock, &s.out, cfg, st, &o);
    char err[256] = "";
    int r = o.kind == PROTO_OPEN_TCP      ? open_tcp(&s, &o, err, sizeof(err))
            : o.kind == PROTO_OPEN_ACCEPT ? open_claimed(&s, &o, err, sizeof(err))
                                          : open_user(&s, cfg, st, &o, err, sizeof(err));
    if (r)
        fail(&s, r, err[0] ? err : burrow_strerror(r));
    struct proto_opened opened = {.pid = s.tcp ? 0 : (uint32_t)s.sp.pid};
    if (proto_put_opened(&s.out, &opened))
        fail(&s, BURROW_ERR_INVALID, "internal");
    s.out_open = 1;
    s.err_open = s.sp.err_fd >= 0;
    /* The open frame is no longer referenced: its bytes may be compacted away. */
    relay(&s);
    finish(&s, 0);
}
