/*
 * tests/agent/bench.c - agent-test --bench: throughput and session latency
 * of the agent against fork+exec with plain pipes, in the same run.
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

/* ---- agent-test --bench AGENT: throughput and session latency vs. no agent ---- */

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

int bench_mode(void)
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
