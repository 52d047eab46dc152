/*
 * tests/agent/agent_test.c - the agent tier: burrow-agent (the static musl
 * binary) on the host over unix sockets, as root, with real ptys and shells.
 *
 *   agent-test AGENT_BINARY
 * Prints one line per case: "ok NAME" or "fail NAME: why"; run-agent-tests.sh
 * turns them into testlib results. Everything lives in a temporary directory:
 * the agent gets --etc TMP/etc, so no host file is touched; the identity case
 * runs a second agent in a fresh UTS namespace.
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
#include "tests/agent/client.h"

#define TEST_USER "burrowtest"
#define TEST_UID  61234
#define ID_USER   "idtest"
#define ID_UID    61235

static char tmp[256], sock_path[300], etc_dir[300], home_dir[300];
static const char *agent_bin;
static pid_t agent_pid;
static int failures;

static void report(int ok, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(int ok, const char *name, const char *fmt, ...)
{
    char why[512] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    for (char *p = why; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("fail %s: %s\n", name, why);
        failures++;
    }
    fflush(stdout);
}

static void write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
        perror(path);
        exit(2);
    }
    close(fd);
}

static int wait_socket(const char *path)
{
    for (int i = 0; i < 500; i++) {
        struct cl c;
        if (cl_connect(&c, path) == 0) {
            cl_close(&c);
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

static pid_t start_agent(char *const extra[], int new_uts)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* A UTS namespace for the hostname, a private mount namespace for the home mount. */
        if (new_uts && (unshare(CLONE_NEWUTS | CLONE_NEWNS) < 0 ||
                        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)) {
            perror("unshare");
            _exit(2);
        }
        char *argv[32];
        int n = 0;
        argv[n++] = (char *)agent_bin;
        for (int i = 0; extra[i]; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execv(agent_bin, argv);
        perror(agent_bin);
        _exit(2);
    }
    return pid;
}

/* ---- helpers running a whole session ---- */

static int run_exec(const char *cmd, const void *in, size_t len, int eof, struct result *res,
                    int pty)
{
    struct cl c;
    struct proto_open o;
    memset(res, 0, sizeof(*res));
    if (cl_connect(&c, sock_path))
        return -1;
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, cmd);
    if (pty) {
        o.flags = PROTO_OPEN_F_PTY;
        o.term = proto_str_c("xterm");
        o.window = (struct proto_window){.cols = 80, .rows = 24};
    }
    int r = cl_start(&c, &o, res);
    if (r == 0)
        r = cl_run(&c, in, len, eof, res, 20000, 0);
    cl_close(&c);
    return r;
}

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
}

static void t_env(void)
{
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    open_init(&o, PROTO_OPEN_EXEC, TEST_USER, "env");
    const char *kv[][2] = {{"LANG", "C.UTF-8"}, {"LC_TIME", "C"},        {"EVIL", "1"},
                           {"PATH", "/evil"},   {"LD_PRELOAD", "/x.so"}, {"HOME", "/evil"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        o.env[i].name = proto_str_c(kv[i][0]);
        o.env[i].value = proto_str_c(kv[i][1]);
    }
    o.n_env = sizeof(kv) / sizeof(kv[0]);
    if (cl_connect(&c, sock_path) || cl_start(&c, &o, &res)) {
        report(0, "env-allow-list", "open failed");
        return;
    }
    int r = cl_run(&c, NULL, 0, 1, &res, 5000, 0);
    const char *out = res.out ? (char *)res.out : "";
    int ok = r == 0 && strstr(out, "LANG=C.UTF-8\n") && strstr(out, "LC_TIME=C\n") &&
             !strstr(out, "EVIL") && !strstr(out, "/evil") && !strstr(out, "LD_PRELOAD") &&
             strstr(out, "USER=" TEST_USER "\n") && strstr(out, "LOGNAME=" TEST_USER "\n") &&
             strstr(out, "SHELL=/bin/sh\n") && strstr(out, "PATH=/usr/local/bin:/usr/bin:/bin\n");
    report(ok, "env-allow-list", "env=%s", out);
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

static double now_s(void);

/*
 * The guest transport: there is no vsock peer on the host, but an agent
 * listening on a vsock port makes a second bind of that port fail, which
 * shows the address layout (musl has no <linux/vm_sockets.h>) is right.
 */
static void t_vsock_listen(void)
{
    struct {
        unsigned short family, reserved;
        unsigned int port, cid;
        unsigned char zero[4];
    } vm = {.family = 40 /* AF_VSOCK */,
            .port = 40000 + (unsigned)(getpid() % 20000),
            .cid = 0xffffffffu};
    int probe = socket(40, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        printf("skip vsock-listen: no AF_VSOCK on this host (%s)\n", strerror(errno));
        return;
    }
    char listen_arg[32];
    snprintf(listen_arg, sizeof(listen_arg), "vsock:%u", vm.port);
    char *args[] = {"--listen", listen_arg, "--control", "none", "--etc", etc_dir, NULL};
    pid_t pid = start_agent(args, 0);
    int in_use = 0;
    for (int i = 0; i < 100 && !in_use; i++) {
        usleep(20000);
        in_use = bind(probe, (struct sockaddr *)&vm, sizeof(vm)) < 0 && errno == EADDRINUSE;
    }
    report(in_use, "vsock-listen", "the agent did not bind vsock port %u", vm.port);
    close(probe);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ---- identity over a control socket, in a fresh UTS namespace ---- */

static void t_identity(void)
{
    char ctl_path[320], l2[320], etc2[320], hooks[400], home2[320], marker[400], path[500];
    snprintf(ctl_path, sizeof(ctl_path), "%s/control.sock", tmp);
    snprintf(l2, sizeof(l2), "%s/agent2.sock", tmp);
    snprintf(etc2, sizeof(etc2), "%s/etc2", tmp);
    snprintf(hooks, sizeof(hooks), "%s/hooks", tmp);
    snprintf(home2, sizeof(home2), "%s/home2", tmp);
    snprintf(marker, sizeof(marker), "%s/hook-ran", tmp);
    mkdir(etc2, 0755);
    mkdir(hooks, 0755);
    mkdir(home2, 0755);
    write_file((snprintf(path, sizeof(path), "%s/passwd", etc2), path),
               "root:x:0:0:root:/root:/bin/sh\n", 0644);
    write_file((snprintf(path, sizeof(path), "%s/group", etc2), path), "root:x:0:\n", 0644);
    char hook[600];
    snprintf(hook, sizeof(hook), "#!/bin/sh\necho \"$BURROW_USER $BURROW_HOSTNAME\" > %s\n",
             marker);
    write_file((snprintf(path, sizeof(path), "%s/10-mark", hooks), path), hook, 0755);
    write_file((snprintf(path, sizeof(path), "%s/20-slow", hooks), path),
               "#!/bin/sh\nexec sleep 30\n", 0755);

    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int too_long =
        snprintf(un.sun_path, sizeof(un.sun_path), "%s", ctl_path) >= (int)sizeof(un.sun_path);
    if (l < 0 || too_long || bind(l, (struct sockaddr *)&un, sizeof(un)) || listen(l, 4)) {
        report(0, "identity", "control listener: %s", strerror(errno));
        return;
    }
    /*
     * The home disk: a loop device over an empty file (capacity 0, like the
     * template's empty virtio-blk slot) that gets an ext4 image and a new
     * capacity while the agent polls /sys/block/DEV/size.
     */
    char fs_img[340], hd_img[340], loopdev[64] = "", cmd[2048];
    snprintf(fs_img, sizeof(fs_img), "%s/fs.img", tmp);
    snprintf(hd_img, sizeof(hd_img), "%s/hd.img", tmp);
    snprintf(cmd, sizeof(cmd),
             "truncate -s 16M %s && mkfs.ext4 -q -F %s && : > %s && losetup --find --show %s",
             fs_img, fs_img, hd_img, hd_img);
    FILE *lp = popen(cmd, "r");
    if (lp) {
        if (!fgets(loopdev, sizeof(loopdev), lp))
            loopdev[0] = 0;
        loopdev[strcspn(loopdev, "\n")] = 0;
        pclose(lp);
    }
    const char *loopname = strncmp(loopdev, "/dev/", 5) == 0 ? loopdev + 5 : NULL;
    if (!loopname)
        printf("skip home-disk-mount: no loop device (%s)\n", loopdev);
    char a_listen[340], a_control[340], a_etc[340], a_hooks[420], a_home[340];
    snprintf(a_listen, sizeof(a_listen), "unix:%s", l2);
    snprintf(a_control, sizeof(a_control), "unix:%s", ctl_path);
    snprintf(a_etc, sizeof(a_etc), "%s", etc2);
    snprintf(a_hooks, sizeof(a_hooks), "%s", hooks);
    snprintf(a_home, sizeof(a_home), "%s", home2);
    char *args[] = {"--listen",
                    a_listen,
                    "--control",
                    a_control,
                    "--etc",
                    a_etc,
                    "--hooks",
                    a_hooks,
                    "--home-root",
                    a_home,
                    "--hook-timeout",
                    "1",
                    "--heartbeat",
                    "1",
                    "--home-dev",
                    loopname ? (char *)loopname : "none",
                    "--home-timeout",
                    "5",
                    NULL};
    pid_t pid = start_agent(args, 1);
    struct pollfd p = {.fd = l, .events = POLLIN};
    struct cl c = {.fd = -1};
    struct proto_frame f;
    struct proto_hello h;
    int ok = poll(&p, 1, 5000) == 1;
    if (ok) {
        c.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        buf_init_writer(&c.in, c.in_mem, sizeof(c.in_mem));
    }
    ok = ok && c.fd >= 0 && cl_read_frame(&c, &f, 5000) == 0 && proto_get_hello(&f, &h) == 0 &&
         h.role == PROTO_ROLE_AGENT;
    report(ok, "control-hello", "no hello from the agent");

    /* Sessions wait for READY: the listener is not served yet. */
    struct cl s;
    struct result res = {0};
    struct proto_frame sf;
    int early = cl_connect(&s, l2) == 0 && cl_send_hello(&s) == 0 &&
                cl_read_frame(&s, &sf, 300) == BURROW_ERR_TIMEOUT;
    report(early, "no-session-before-ready", "a session was served before READY");

    uint8_t mem[PROTO_FRAME_MAX];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    struct proto_hello vh = {.version = PROTO_VERSION, .role = PROTO_ROLE_VMM};
    struct proto_identity id = {.user = proto_str_c(ID_USER),
                                .uid = ID_UID,
                                .gid = ID_UID,
                                .shell = proto_str_c("/bin/sh"),
                                .home = proto_str_c(NULL),
                                .hostname = proto_str_c("burrow-test-host"),
                                .time_sec = 1,
                                .time_nsec = 0,
                                .flags = loopname ? PROTO_ID_F_HOME_DISK : 0};
    int ufd = open("/dev/urandom", O_RDONLY);
    if (ufd < 0 || read(ufd, id.entropy, sizeof(id.entropy)) != (ssize_t)sizeof(id.entropy))
        ok = 0;
    if (ufd >= 0)
        close(ufd);
    ok = ok && proto_put_hello(&b, &vh) == 0 && proto_put_identity(&b, &id) == 0 &&
         cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0;
    pid_t attach = -1;
    if (ok && loopname) { /* the "VMM" attaches the disk a moment later */
        snprintf(cmd, sizeof(cmd), "sleep 0.3 && cp %s %s && losetup -c %s", fs_img, hd_img,
                 loopdev);
        attach = fork();
        if (attach == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
    }
    struct proto_ready rd;
    int got_ready = 0;
    for (int i = 0; ok && i < 10 && !got_ready; i++) {
        if (cl_read_frame(&c, &f, 10000))
            break;
        if (f.type == PROTO_READY)
            got_ready = proto_get_ready(&f, &rd) == 0;
    }
    ok = ok && got_ready;
    report(ok, "identity-ready", "no READY");
    if (got_ready) {
        char t[6][256];
        for (int i = 0; i < 6; i++)
            if (proto_str_copy(rd.text[i], t[i], sizeof(t[i])))
                t[i][0] = 0;
        report(rd.outcome[PROTO_STEP_ENTROPY] == PROTO_STEP_OK, "identity-rng-ioctls", "%s", t[0]);
        report(rd.outcome[PROTO_STEP_CLOCK] == PROTO_STEP_SKIPPED, "identity-clock-left-alone",
               "outcome %u %s", rd.outcome[1], t[1]);
        report(rd.outcome[PROTO_STEP_HOSTNAME] == PROTO_STEP_OK, "identity-hostname-step", "%s",
               t[2]);
        report(rd.outcome[PROTO_STEP_USERS] == PROTO_STEP_OK, "identity-users-step", "%s", t[3]);
        if (loopname)
            report(rd.outcome[PROTO_STEP_HOME] == PROTO_STEP_OK, "home-disk-mount", "%s", t[4]);
        else
            report(rd.outcome[PROTO_STEP_HOME] == PROTO_STEP_SKIPPED, "identity-home-step", "%s",
                   t[4]);
        report(rd.outcome[PROTO_STEP_HOOKS] == PROTO_STEP_FAILED && strstr(t[5], "20-slow") &&
                   strstr(t[5], "timed out") && !strstr(t[5], "10-mark"),
               "hooks-timeout", "%s", t[5]);
        char *m = NULL;
        FILE *fp = fopen(marker, "r");
        char line[128] = "";
        if (fp) {
            m = fgets(line, sizeof(line), fp);
            fclose(fp);
        }
        report(m && strcmp(line, ID_USER " burrow-test-host\n") == 0, "hooks-run", "marker=%s",
               line);
    }
    /* The early session is served now. */
    res = (struct result){0};
    struct proto_open o;
    open_init(&o, PROTO_OPEN_EXEC, ID_USER,
              "hostname; id -u; echo $HOME; stat -c %u $HOME; "
              "awk -v h=$HOME '$5 == h' /proc/self/mountinfo | wc -l");
    int r = cl_send_open(&s, &o);
    if (r == 0)
        r = cl_read_frame(&s, &sf, 5000) == 0 && sf.type == PROTO_HELLO ? 0 : -1;
    if (r == 0)
        r = cl_read_frame(&s, &sf, 5000) == 0 && sf.type == PROTO_OPENED ? 0 : -1;
    if (r == 0)
        r = cl_run(&s, NULL, 0, 1, &res, 5000, 0);
    char expect[600];
    snprintf(expect, sizeof(expect), "burrow-test-host\n%d\n%s/%s\n%d\n%d\n", ID_UID, home2,
             ID_USER, ID_UID, loopname ? 1 : 0);
    report(r == 0 && res.out && strcmp((char *)res.out, expect) == 0, "identity-session",
           "r=%d out=%s", r, res.out ? (char *)res.out : "");
    cl_close(&s);
    res_free(&res);
    char host[256] = "";
    gethostname(host, sizeof(host));
    report(strcmp(host, "burrow-test-host") != 0, "host-hostname-untouched", "host renamed!");

    /* Heartbeats arrive; shutdown is answered. */
    int hb = 0;
    for (int i = 0; i < 5 && !hb; i++)
        hb = cl_read_frame(&c, &f, 3000) == 0 && f.type == PROTO_HEARTBEAT;
    report(hb, "heartbeat", "none within 3 s");
    buf_reset(&b);
    struct proto_shutdown sd = {0};
    struct proto_shutdown_answer ans;
    int got = 0;
    if (proto_put_shutdown(&b, &sd) == 0 && cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0)
        for (int i = 0; i < 10 && !got; i++)
            got = cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_SHUTDOWN_ANSWER &&
                  proto_get_shutdown_answer(&f, &ans) == 0 && ans.code == 0;
    char ans_text[256] = "";
    if (got && proto_str_copy(ans.text, ans_text, sizeof(ans_text)))
        ans_text[0] = 0;
    report(got && (!loopname || strstr(ans_text, "unmounted")), "shutdown-answer", "answer: %s",
           ans_text);

    /* A reset: the agent reconnects and says hello again. */
    cl_close(&c);
    double reset_at = now_s();
    int again = poll(&p, 1, 5000) == 1;
    if (again) {
        c.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        buf_init_writer(&c.in, c.in_mem, sizeof(c.in_mem));
        again = c.fd >= 0 && cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_HELLO;
    }
    report(again, "control-reconnect", "no reconnect after a reset");
    if (again)
        printf("info: control reset -> new HELLO in %.3f ms\n", (now_s() - reset_at) * 1e3);

    /* A home disk that never gets a capacity is reported, not hidden. */
    if (again && loopname) {
        if (attach > 0)
            waitpid(attach, NULL, 0);
        attach = -1;
        /* Back to capacity 0 while still ours (detaching would let others take it). */
        snprintf(cmd, sizeof(cmd), ": > %s && losetup -c %s", hd_img, loopdev);
        int detached = system(cmd) == 0;
        buf_reset(&b);
        got_ready = 0;
        if (detached && proto_put_hello(&b, &vh) == 0 && proto_put_identity(&b, &id) == 0 &&
            cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0)
            for (int i = 0; i < 10 && !got_ready; i++) {
                if (cl_read_frame(&c, &f, 10000))
                    break;
                if (f.type == PROTO_READY)
                    got_ready = proto_get_ready(&f, &rd) == 0;
            }
        char t4[256] = "";
        if (got_ready && proto_str_copy(rd.text[PROTO_STEP_HOME], t4, sizeof(t4)))
            t4[0] = 0;
        report(got_ready && rd.outcome[PROTO_STEP_HOME] == PROTO_STEP_FAILED &&
                   strstr(t4, "no capacity"),
               "home-disk-missing-reported", "detached=%d ready=%d home: %s", detached, got_ready,
               t4);
    }
    cl_close(&c);
    close(l);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (attach > 0)
        waitpid(attach, NULL, 0);
    if (loopname) {
        snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
        if (system(cmd) != 0)
            fprintf(stderr, "could not detach %s\n", loopdev);
    }
}

/* ---- agent-test --bench AGENT: throughput and session latency vs. no agent ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Baseline: the same bytes through `cat` on plain pipes, no protocol. */
static double pipe_cat_seconds(const uint8_t *data, size_t n)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    double t0 = now_s();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/bin/cat", "cat", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0;
    static uint8_t buf[65536];
    while (got < n) {
        struct pollfd p[2] = {{.fd = sent < n ? in[1] : -1, .events = POLLOUT},
                              {.fd = out[0], .events = POLLIN}};
        poll(p, 2, -1);
        if (p[0].revents) {
            ssize_t w = write(in[1], data + sent, n - sent);
            if (w > 0)
                sent += (size_t)w;
            if (sent == n)
                close(in[1]);
        }
        if (p[1].revents) {
            ssize_t r = read(out[0], buf, sizeof(buf));
            if (r <= 0)
                break;
            got += (size_t)r;
        }
    }
    close(out[0]);
    waitpid(pid, NULL, 0);
    return got == n ? now_s() - t0 : -1;
}

static int bench_mode(void)
{
    size_t n = 64u << 20;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 2654435761u >> 13);
    struct result res;
    double t0 = now_s();
    int r = run_exec("cat", data, n, 1, &res, 0);
    double agent_s = now_s() - t0;
    int ok = r == 0 && res.out_len == n && memcmp(res.out, data, n) == 0;
    res_free(&res);
    double base_s = pipe_cat_seconds(data, n);
    free(data);

    int sessions = 50;
    t0 = now_s();
    for (int i = 0; i < sessions; i++) {
        ok &= run_exec("true", NULL, 0, 1, &res, 0) == 0;
        res_free(&res);
    }
    double agent_open = (now_s() - t0) / sessions;
    t0 = now_s();
    for (int i = 0; i < sessions; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/sh", "sh", "-c", "true", (char *)NULL);
            _exit(127);
        }
        waitpid(pid, NULL, 0);
    }
    double base_open = (now_s() - t0) / sessions;
    printf("%-34s %12s %12s %8s\n", "agent bench (same run)", "agent", "baseline", "ratio");
    printf("%-34s %9.0f MiB/s %7.0f MiB/s %7.2fx\n", "64 MiB cat round trip (throughput)",
           64 / agent_s, 64 / base_s, base_s / agent_s);
    printf("%-34s %9.2f ms %9.2f ms %7.2fx\n", "exec `true` session (latency)", agent_open * 1e3,
           base_open * 1e3, agent_open / base_open);
    printf("baseline: the same work with fork+exec and plain pipes, no agent or protocol\n");
    return ok ? 0 : 1;
}

/* agent-test --exec SOCK USER CMD EXPECTED: one exec session, stdout must equal EXPECTED. */
static int exec_mode(char **argv)
{
    struct cl c;
    struct proto_open o;
    struct result res = {0};
    for (int i = 0; i < 300 && cl_connect(&c, argv[2]) != 0; i++)
        usleep(10000);
    if (c.fd < 0) {
        fprintf(stderr, "cannot connect to %s\n", argv[2]);
        return 1;
    }
    open_init(&o, PROTO_OPEN_EXEC, argv[3], argv[4]);
    int r = cl_start(&c, &o, &res);
    if (r == 0)
        r = cl_run(&c, NULL, 0, 1, &res, 10000, 0);
    char want[1024];
    snprintf(want, sizeof(want), "%s\n", argv[5]);
    if (r || !res.out || strcmp((char *)res.out, want) != 0) {
        fprintf(stderr, "r=%d error=%s out=%s err=%s\n", r, res.error_text,
                res.out ? (char *)res.out : "", res.err ? (char *)res.err : "");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--exec") == 0)
        return exec_mode(argv);
    int bench = argc == 3 && strcmp(argv[1], "--bench") == 0;
    if (argc != 2 && !bench) {
        fprintf(stderr, "usage: agent-test [--bench] AGENT_BINARY\n");
        return 2;
    }
    agent_bin = argv[argc - 1];
    if (geteuid() != 0) {
        printf("fail setup: the agent tier needs root (setuid to a test user, ptys, UTS ns)\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    snprintf(tmp, sizeof(tmp), "%s/burrow-agent-test.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 2;
    }
    chmod(tmp, 0755);
    char path[400], passwd[1024];
    snprintf(etc_dir, sizeof(etc_dir), "%s/etc", tmp);
    snprintf(home_dir, sizeof(home_dir), "%s/home", tmp);
    mkdir(etc_dir, 0755);
    mkdir(home_dir, 0755);
    snprintf(home_dir, sizeof(home_dir), "%s/home/" TEST_USER, tmp);
    mkdir(home_dir, 0755);
    if (chown(home_dir, TEST_UID, TEST_UID) < 0)
        perror("chown");
    snprintf(passwd, sizeof(passwd),
             "root:x:0:0:root:/root:/bin/sh\n" TEST_USER ":x:%d:%d::%s:/bin/sh\n"
             "sftptest:x:65534:65534::/:/bin/sh\n",
             TEST_UID, TEST_UID, home_dir);
    write_file((snprintf(path, sizeof(path), "%s/passwd", etc_dir), path), passwd, 0644);
    write_file((snprintf(path, sizeof(path), "%s/group", etc_dir), path),
               "root:x:0:\n" TEST_USER ":x:61234:\n", 0644);
    snprintf(sock_path, sizeof(sock_path), "%s/agent.sock", tmp);
    char a_listen[320];
    snprintf(a_listen, sizeof(a_listen), "unix:%s", sock_path);
    char *args[] = {"--listen", a_listen, "--control", "none", "--etc", etc_dir, NULL};
    agent_pid = start_agent(args, 0);
    if (wait_socket(sock_path)) {
        printf("fail setup: the agent did not start\n");
        return 1;
    }

    if (bench) {
        int rc = bench_mode();
        kill(agent_pid, SIGTERM);
        waitpid(agent_pid, NULL, 0);
        char rm[400];
        snprintf(rm, sizeof(rm), "rm -rf '%s'", tmp);
        if (system(rm) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
        return rc;
    }
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
    t_identity();
    t_vsock_listen();

    kill(agent_pid, SIGTERM);
    waitpid(agent_pid, NULL, 0);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return failures ? 1 : 0;
}
