/*
 * tests/agent/cases_session.c - session cases of the agent tier, against the
 * main agent (--control none, test --etc): shells, exec, ptys, streams,
 * backpressure, signals, environment, users, tcp, sftp, malformed frames,
 * leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/agent/agent_test.h"

static void t_shell(void)
{
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    open_init(&o, PROTO_OPEN_SHELL, TEST_USER, NULL);
    o.flags = PROTO_OPEN_F_PTY;
    o.term = proto_str_c("xterm");
    o.window = (struct proto_window){.cols = 80, .rows = 24};
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "interactive-shell", "open failed: %s", res.error_text);
        return;
    }
    const char *in = "echo $((6*7))\nexit\n";
    int r = cl_run(&c, in, strlen(in), 0, &res, 10000, 0);
    int ok = r == 0 && res.got_exit && res.exit.kind == PROTO_EXIT_STATUS && res.exit.value == 0 &&
             res.out && strstr((char *)res.out, "42\r\n");
    report(ok, "interactive-shell", "r=%d exit=%u out=%s", r, res.exit.value,
           res.out ? (char *)res.out : "");
    cl_close(&c);
    res_free(&res);
}

static void t_exit_codes(void)
{
    struct result res;
    int r = run_exec("true", NULL, 0, 1, &res, 0);
    report(r == 0 && res.exit.kind == PROTO_EXIT_STATUS && res.exit.value == 0, "exit-0",
           "r=%d kind=%u value=%u", r, res.exit.kind, res.exit.value);
    res_free(&res);
    r = run_exec("exit 1", NULL, 0, 1, &res, 0);
    report(r == 0 && res.exit.kind == PROTO_EXIT_STATUS && res.exit.value == 1, "exit-1",
           "r=%d kind=%u value=%u", r, res.exit.kind, res.exit.value);
    res_free(&res);
    r = run_exec("kill -KILL $$", NULL, 0, 1, &res, 0);
    report(r == 0 && res.exit.kind == PROTO_EXIT_SIGNAL && res.exit.value == 9, "exit-killed",
           "r=%d kind=%u value=%u", r, res.exit.kind, res.exit.value);
    res_free(&res);
}

static void t_stderr(void)
{
    struct result res;
    int r = run_exec("echo out; echo err >&2", NULL, 0, 1, &res, 0);
    int ok = r == 0 && res.out_len == 4 && memcmp(res.out, "out\n", 4) == 0 && res.err_len == 4 &&
             memcmp(res.err, "err\n", 4) == 0;
    report(ok, "stderr-apart", "out=%s err=%s", res.out ? (char *)res.out : "",
           res.err ? (char *)res.err : "");
    res_free(&res);
}

/* The user's process inherits stdin/stdout/stderr and nothing else (O_CLOEXEC everywhere). */
static void t_child_fds(void)
{
    struct result res;
    int r = run_exec("ls /proc/self/fd", NULL, 0, 1, &res, 0);
    int ok = r == 0 && res.out && strcmp((char *)res.out, "0\n1\n2\n3\n") == 0;
    report(ok, "child-fds", "fds=%s", res.out ? (char *)res.out : "");
    res_free(&res);
    r = run_exec("ls /proc/self/fd", NULL, 0, 1, &res, 1);
    ok = r == 0 && res.out && strcmp((char *)res.out, "0  1  2  3\r\n") == 0;
    report(ok, "child-fds-pty", "fds=%s", res.out ? (char *)res.out : "");
    res_free(&res);
}

static void t_stdin_eof(void)
{
    struct result res;
    int r = run_exec("cat; echo done", "hello", 5, 1, &res, 0);
    int ok = r == 0 && res.out_len == 10 && memcmp(res.out, "hellodone\n", 10) == 0 &&
             res.exit.value == 0;
    report(ok, "stdin-eof", "r=%d out=%s", r, res.out ? (char *)res.out : "");
    res_free(&res);
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void t_large(void)
{
    size_t n = 8u << 20;
    uint8_t *data = malloc(n);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (uint8_t)x;
    }
    struct result res;
    int r = run_exec("cat", data, n, 1, &res, 0);
    int ok = r == 0 && res.out_len == n && fnv1a(res.out, n) == fnv1a(data, n);
    report(ok, "large-binary-8MiB", "r=%d got %zu bytes", r, res.out_len);
    /* The same through a checksum computed inside: the data reached the child intact. */
    res_free(&res);
    char expect[64];
    r = run_exec("cksum", data, n, 1, &res, 0);
    FILE *p = popen("true", "r");
    if (p)
        pclose(p);
    snprintf(expect, sizeof(expect), " %zu\n", n);
    ok = r == 0 && res.out && strstr((char *)res.out, expect);
    report(ok, "large-binary-cksum", "out=%s", res.out ? (char *)res.out : "");
    res_free(&res);
    free(data);
}

/* Process state letter of pid ('?' if gone). */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    char state = '?';
    if (fp) {
        char *rp = fgets(buf, sizeof(buf), fp) ? strrchr(buf, ')') : NULL;
        if (rp && rp[1] == ' ')
            state = rp[2];
        fclose(fp);
    }
    return state;
}

/*
 * Backpressure both ways: a child that does not read stdin stalls the
 * client's sending after a bounded amount; a client that does not read
 * stalls the child's writing, and everything arrives once it reads.
 */
static void t_backpressure(void)
{
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "exec sleep 5");
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "backpressure-stdin", "open failed");
        return;
    }
    static uint8_t frame[PROTO_FRAME_MAX], chunk[PROTO_DATA_MAX];
    struct buf b;
    buf_init_writer(&b, frame, sizeof(frame));
    int r = proto_put_data(&b, PROTO_STDIN, chunk, sizeof(chunk));
    size_t sent = 0, limit = 16u << 20;
    fcntl(c.fd, F_SETFL, O_NONBLOCK);
    while (r == 0 && sent < limit) {
        struct pollfd p = {.fd = c.fd, .events = POLLOUT};
        if (poll(&p, 1, 500) != 1)
            break; /* stalled for half a second: backpressure */
        ssize_t w = send(c.fd, frame, buf_used(&b), MSG_NOSIGNAL);
        if (w > 0)
            sent += (size_t)w;
        if (w > 0 && (size_t)w < buf_used(&b))
            break; /* a partial frame: the stream is done for anyway */
    }
    printf("info: a child that reads nothing stalled the client after %zu KiB\n", sent >> 10);
    report(r == 0 && sent < (4u << 20), "backpressure-stdin",
           "the agent took %zu bytes for a child that reads nothing", sent);
    cl_close(&c);
    res_free(&res);

    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "exec head -c 8388608 /dev/zero");
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "backpressure-stdout", "open failed");
        return;
    }
    usleep(1000000); /* nobody reads */
    char st = proc_state((pid_t)c.pid);
    r = cl_run(&c, NULL, 0, 1, &res, 20000, 0);
    report(st != '?' && st != 'Z' && r == 0 && res.out_len == 8388608 && res.exit.value == 0,
           "backpressure-stdout", "writer state after 1 s '%c', then r=%d got %zu bytes", st, r,
           res.out_len);
    cl_close(&c);
    res_free(&res);
}

static void t_window(void)
{
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "stty size; read x; stty size");
    o.flags = PROTO_OPEN_F_PTY;
    o.term = proto_str_c("xterm");
    o.window = (struct proto_window){.cols = 80, .rows = 24};
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "window-change", "open failed");
        return;
    }
    int ok = cl_wait_output(&c, &res, "24 80", 5000) == 0;
    ok = ok && cl_send_window(&c, 132, 50) == 0 && cl_send_data(&c, "\n", 1) == 0;
    ok = ok && cl_wait_output(&c, &res, "50 132", 5000) == 0;
    report(ok, "window-change", "out=%s", res.out ? (char *)res.out : "");
    cl_close(&c);
    res_free(&res);
}

static void t_signals(void)
{
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER,
              "trap 'echo got-int; exit 3' INT; echo ready; while :; do sleep 0.05; done");
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "signal-int", "open failed");
        return;
    }
    int ok = cl_wait_output(&c, &res, "ready", 5000) == 0 &&
             cl_send_signal(&c, proto_signal_from_name("INT")) == 0 &&
             cl_run(&c, NULL, 0, 0, &res, 5000, 0) == 0;
    ok = ok && strstr((char *)res.out, "got-int") && res.exit.kind == PROTO_EXIT_STATUS &&
         res.exit.value == 3;
    report(ok, "signal-int", "out=%s exit=%u/%u", res.out ? (char *)res.out : "", res.exit.kind,
           res.exit.value);
    cl_close(&c);
    res_free(&res);

    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "echo ready; exec sleep 100");
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "signal-term", "open failed");
        return;
    }
    ok = cl_wait_output(&c, &res, "ready", 5000) == 0;
    usleep(100000); /* let the exec happen */
    ok = ok && cl_send_signal(&c, proto_signal_from_name("TERM")) == 0 &&
         cl_run(&c, NULL, 0, 0, &res, 5000, 0) == 0;
    ok = ok && res.exit.kind == PROTO_EXIT_SIGNAL && res.exit.value == 15;
    report(ok, "signal-term", "exit=%u/%u", res.exit.kind, res.exit.value);
    cl_close(&c);
    res_free(&res);

    /* RFC 4254 6.9 as sshd does it: the whole process group, so the shell's
     * sleep dies too and the session ends at once (not when sleep would). */
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "echo started; sleep 30; echo notkilled");
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "signal-group", "open failed");
        return;
    }
    ok = cl_wait_output(&c, &res, "started", 5000) == 0;
    usleep(100000); /* sleep is running */
    double t0 = now_s();
    ok = ok && cl_send_signal(&c, proto_signal_from_name("TERM")) == 0 &&
         cl_run(&c, NULL, 0, 0, &res, 10000, 0) == 0;
    long took = (long)((now_s() - t0) * 1000);
    ok = ok && took < 3000 && !strstr((char *)res.out, "notkilled") &&
         res.exit.kind == PROTO_EXIT_SIGNAL && res.exit.value == 15;
    report(ok, "signal-group", "ended %ld ms after TERM, exit=%u/%u", took, res.exit.kind,
           res.exit.value);
    cl_close(&c);
    res_free(&res);
}

/* The broker decides which variables reach a session; the agent keeps the identity. */
static void t_env(void)
{
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "env");
    const char *kv[][2] = {{"LANG", "C.UTF-8"}, {"LC_TIME", "C"},          {"SSH_AUTH_SOCK", "/a"},
                           {"GIT_AUTHOR", "x"}, {"PATH", "/opt/bin:/bin"}, {"HOME", "/evil"},
                           {"USER", "evil"},    {"BAD-NAME", "1"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        o.env[i].name = proto_str_c(kv[i][0]);
        o.env[i].value = proto_str_c(kv[i][1]);
    }
    o.n_env = sizeof(kv) / sizeof(kv[0]);
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "env-broker-policy", "open failed");
        return;
    }
    int r = cl_run(&c, NULL, 0, 1, &res, 5000, 0);
    const char *out = res.out ? (char *)res.out : "";
    int ok = r == 0 && strstr(out, "LANG=C.UTF-8\n") && strstr(out, "LC_TIME=C\n") &&
             strstr(out, "SSH_AUTH_SOCK=/a\n") && strstr(out, "GIT_AUTHOR=x\n") &&
             strstr(out, "PATH=/opt/bin:/bin\n") && !strstr(out, "/evil") &&
             !strstr(out, "=evil") && !strstr(out, "BAD-NAME") &&
             strstr(out, "USER=" TEST_USER "\n") && strstr(out, "LOGNAME=" TEST_USER "\n") &&
             strstr(out, "SHELL=/bin/sh\n");
    report(ok, "env-broker-policy", "env=%s", out);
    cl_close(&c);
    res_free(&res);
}

static void t_identity_of_session(void)
{
    struct result res;
    int r = run_exec("id -u; id -g; echo $HOME; pwd", NULL, 0, 1, &res, 0);
    char expect[1024];
    snprintf(expect, sizeof(expect), "%d\n%d\n%s\n%s\n", TEST_UID, TEST_UID, home_dir, home_dir);
    int ok = r == 0 && res.out && strcmp((char *)res.out, expect) == 0;
    report(ok, "uid-gid-home", "got=%s want=%s", res.out ? (char *)res.out : "", expect);
    res_free(&res);

    struct cl c;
    struct proto_open o;
    memset(&res, 0, sizeof(res));
    open_init(&o, PROTO_OPEN_EXEC, "root", "id");
    r = cl_connect(&c, sock_path) ? -1 : cl_start(&c, &o, &res);
    report(r == BURROW_ERR_PERM && strstr(res.error_text, "root"), "root-refused", "r=%d %s", r,
           res.error_text);
    cl_close(&c);
    res_free(&res);
}

static void t_tcp(void)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &alen)) {
        report(0, "tcp-open", "listener: %s", strerror(errno));
        return;
    }
    pid_t srv = fork();
    if (srv == 0) {
        int s = accept(l, NULL, NULL);
        char buf[16] = "";
        ssize_t n = 0, m;
        while (n < 4 && (m = read(s, buf + n, (size_t)(4 - n))) > 0)
            n += m;
        if (n == 4 && memcmp(buf, "ping", 4) == 0 && write(s, "pong", 4) == 4)
            _exit(0);
        _exit(1);
    }
    close(l);
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    open_init(&o, PROTO_OPEN_TCP, TEST_USER, NULL);
    o.host = proto_str_c("127.0.0.1");
    o.port = ntohs(a.sin_port);
    int r = cl_connect(&c, sock_path) ? -1 : cl_start(&c, &o, &res);
    if (r == 0)
        r = cl_run(&c, "ping", 4, 1, &res, 5000, 1);
    int st = -1;
    waitpid(srv, &st, 0);
    int ok = r == 0 && res.out_len == 4 && memcmp(res.out, "pong", 4) == 0 && res.got_eof &&
             WIFEXITED(st) && WEXITSTATUS(st) == 0;
    report(ok, "tcp-open", "r=%d out=%s eof=%d", r, res.out ? (char *)res.out : "", res.got_eof);
    cl_close(&c);
    res_free(&res);
}

static void t_sftp(void)
{
    if (access("/usr/lib/openssh/sftp-server", X_OK) != 0) {
        printf("skip sftp-subsystem: /usr/lib/openssh/sftp-server not installed\n");
        return;
    }
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    /*
     * sftp-server looks its uid up with getpwuid(), i.e. in the host's
     * /etc/passwd: run it as the host's nobody (65534), listed in our passwd too.
     */
    open_init(&o, PROTO_OPEN_SUBSYSTEM, "sftptest", "sftp");
    /* SSH_FXP_INIT version 3: the server answers SSH_FXP_VERSION (2). */
    const uint8_t init[] = {0, 0, 0, 5, 1, 0, 0, 0, 3};
    int r = cl_connect(&c, sock_path) ? -1 : cl_start(&c, &o, &res);
    if (r == 0)
        r = cl_send_data(&c, init, sizeof(init));
    /* sftp-server drops unsent output at stdin EOF: wait for the answer first. */
    while (r == 0 && res.out_len < 9) {
        struct proto_frame f;
        r = cl_read_frame(&c, &f, 5000);
        if (r == 0)
            res_take(&res, &f);
    }
    int ok = r == 0 && res.out_len >= 9 && res.out[4] == 2;
    if (r == 0)
        r = cl_run(&c, NULL, 0, 1, &res, 5000, 0);
    ok = ok && r == 0 && res.exit.kind == PROTO_EXIT_STATUS;
    report(ok, "sftp-subsystem", "r=%d got %zu bytes, exit %u/%u, err=%s error=%s", r, res.out_len,
           res.exit.kind, res.exit.value, res.err ? (char *)res.err : "", res.error_text);
    cl_close(&c);
    res_free(&res);
}

static void t_malformed(void)
{
    struct cl c;
    struct proto_frame f;
    struct result res = {0};
    /* A header announcing more than the maximum frame size. */
    uint8_t huge[8] = {0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0};
    int ok = cl_connect(&c, sock_path) == 0 && cl_send_raw(&c, huge, sizeof(huge)) == 0 &&
             cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_ERROR &&
             cl_read_frame(&c, &f, 5000) == BURROW_ERR_CLOSED;
    report(ok, "malformed-oversize", "no error frame then close");
    cl_close(&c);

    /* Not a hello first. */
    ok = cl_connect(&c, sock_path) == 0 && cl_send_eof(&c) == 0 &&
         cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_ERROR;
    report(ok, "malformed-no-hello", "no error frame");
    cl_close(&c);

    /* A truncated OPEN body. */
    uint8_t bad_open[] = {4, 0, 0, 0, PROTO_OPEN, 0, 0, 0, 1, 0, 0, 0};
    ok = cl_connect(&c, sock_path) == 0 && cl_send_hello(&c) == 0 &&
         cl_send_raw(&c, bad_open, sizeof(bad_open)) == 0 && cl_read_frame(&c, &f, 5000) == 0 &&
         f.type == PROTO_HELLO && cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_ERROR;
    report(ok, "malformed-open", "no error frame");
    cl_close(&c);

    /* An unknown frame type inside a session: error frame, session goes on. */
    struct proto_open o;
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "cat");
    uint8_t unknown[] = {2, 0, 0, 0, 0xee, 0x7e, 0, 0, 'x', 'y'};
    ok = cl_connect(&c, sock_path) == 0 && cl_start(&c, &o, &res) == 0 &&
         cl_send_raw(&c, unknown, sizeof(unknown)) == 0 &&
         cl_run(&c, "still", 5, 1, &res, 5000, 0) == 0 && res.got_error &&
         res.error_code == BURROW_ERR_UNSUPPORTED && res.out_len == 5 && res.exit.value == 0;
    report(ok, "malformed-unknown-type", "error=%d text=%s out=%zu", res.error_code, res.error_text,
           res.out_len);
    cl_close(&c);
    res_free(&res);

    /* Still alive. */
    ok = kill(agent_pid, 0) == 0 && run_exec("true", NULL, 0, 1, &res, 0) == 0;
    report(ok, "malformed-agent-alive", "agent gone");
    res_free(&res);
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Children of pid (zombies or not). */
static int count_children(pid_t pid, int *zombies)
{
    DIR *d = opendir("/proc");
    int n = 0;
    *zombies = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], buf[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *fp = fopen(path, "r");
        if (!fp)
            continue;
        if (fgets(buf, sizeof(buf), fp)) {
            char *rp = strrchr(buf, ')');
            char state;
            int ppid;
            if (rp && sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == pid) {
                n++;
                *zombies += state == 'Z';
            }
        }
        fclose(fp);
    }
    if (d)
        closedir(d);
    return n;
}

static void t_many_sessions(void)
{
    /* Measure at rest: no session of an earlier case still being set up or torn down. */
    int zombies = 0, children = 0;
    for (int i = 0; i < 100 && count_children(agent_pid, &zombies) > 0; i++)
        usleep(20000);
    usleep(50000);
    int before = count_fds(agent_pid), ok = 1;
    for (int round = 0; round < 10 && ok; round++) {
        struct cl c[10];
        struct result res[10];
        struct proto_open o;
        open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "echo $$");
        for (int i = 0; i < 10; i++) {
            memset(&res[i], 0, sizeof(res[i]));
            if (i % 2)
                o.flags = PROTO_OPEN_F_PTY;
            else
                o.flags = 0;
            ok &= cl_connect(&c[i], sock_path) == 0 && cl_start(&c[i], &o, &res[i]) == 0;
        }
        for (int i = 0; i < 10; i++) {
            ok &= cl_run(&c[i], NULL, 0, 1, &res[i], 10000, 0) == 0 && res[i].exit.value == 0;
            cl_close(&c[i]);
            res_free(&res[i]);
        }
    }
    for (int i = 0; i < 250; i++) { /* session processes exit just after their last frame */
        children = count_children(agent_pid, &zombies);
        if (children == 0)
            break;
        usleep(20000);
    }
    usleep(50000);
    int after = count_fds(agent_pid);
    report(ok && before == after && children == 0 && zombies == 0, "100-sessions-no-leaks",
           "ok=%d fds %d -> %d, children %d zombies %d", ok, before, after, children, zombies);
}

void run_session_cases(void)
{
    t_shell();
    t_exit_codes();
    t_stderr();
    t_stdin_eof();
    t_child_fds();
    t_large();
    t_window();
    t_backpressure();
    t_signals();
    t_env();
    t_identity_of_session();
    t_tcp();
    t_sftp();
    t_malformed();
    t_many_sessions();
}
