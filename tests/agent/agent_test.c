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
#include "tests/agent/agent_test.h"

char tmp[256], sock_path[300], etc_dir[300], home_dir[300];
const char *agent_bin;
pid_t agent_pid;
static int failures;

void report(int ok, const char *name, const char *fmt, ...)
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

void write_file(const char *path, const char *content, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
        perror(path);
        exit(2);
    }
    close(fd);
}

int wait_socket(const char *path)
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

pid_t start_agent(char *const extra[], int new_uts)
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

int run_exec(const char *cmd, const void *in, size_t len, int eof, struct result *res, int pty)
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

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
    run_session_cases();
    run_fwd_cases();
    run_control_cases();

    kill(agent_pid, SIGTERM);
    waitpid(agent_pid, NULL, 0);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return failures ? 1 : 0;
}
