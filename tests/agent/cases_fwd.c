/*
 * tests/agent/cases_fwd.c - listener cases of the agent tier (ssh -R, ssh -A):
 * OPEN(listen) as the user, a connection made to the listener reported in
 * ACCEPTED and claimed with OPEN(accept), data both ways; claims with a
 * wrong token, twice, or for an unknown id refused; the agent socket's
 * directory and mode, another uid refused at it; a privileged port refused
 * to a user; the broker's close ends the listener and removes the socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/agent/agent_test.h"

/* A listener session: OPENED, then LISTENING copied into *l (path into path). */
static int open_listener(struct cl *c, uint32_t flags, uint32_t port, struct proto_listening *l,
                         char *path, size_t pathsz, struct result *res)
{
    struct proto_open o;
    struct proto_frame f;
    open_init(&o, PROTO_OPEN_LISTEN, TEST_USER, NULL);
    o.flags = flags;
    o.port = port;
    if (cl_connect(c, sock_path))
        return -1;
    int r = cl_start(c, &o, res);
    if (r)
        return r;
    if (cl_read_frame(c, &f, 5000) || proto_get_listening(&f, l))
        return -1;
    return proto_str_copy(l->path, path, pathsz) ? -1 : 0;
}

static int read_accepted(struct cl *c, struct proto_accepted *a, char *origin, size_t originsz)
{
    struct proto_frame f;
    if (cl_read_frame(c, &f, 5000) || proto_get_accepted(&f, a))
        return -1;
    return proto_str_copy(a->origin, origin, originsz) ? -1 : 0;
}

/* OPEN(accept): 0 with the claim session started, or the agent's refusal. */
static int claim(struct cl *c, const uint8_t *token, uint32_t id, struct result *res)
{
    struct proto_open o;
    open_init(&o, PROTO_OPEN_ACCEPT, TEST_USER, NULL);
    memcpy(o.token, token, PROTO_TOKEN_LEN);
    o.conn_id = id;
    if (cl_connect(c, sock_path))
        return -1;
    return cl_start(c, &o, res);
}

static int tcp_to(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int read_exact(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1)
            return -1;
        ssize_t k = read(fd, buf + got, n - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

static void t_tcp_listener(void)
{
    struct cl lc, cc, bad;
    struct result lres = {0}, cres = {0}, bres = {0};
    struct proto_listening l;
    struct proto_accepted a;
    char path[128], origin[64], buf[8];
    if (open_listener(&lc, 0, 0, &l, path, sizeof(path), &lres) || l.port == 0) {
        report(0, "listen-tcp", "listener: %s", lres.error_text);
        return;
    }
    int fd = tcp_to((uint16_t)l.port);
    int ok = fd >= 0 && read_accepted(&lc, &a, origin, sizeof(origin)) == 0 && a.id == 1 &&
             strcmp(origin, "127.0.0.1") == 0 && a.origin_port > 0;
    report(ok, "listen-tcp", "port %u, accepted id %u from %s", l.port, a.id, origin);

    /* A wrong token, then an unknown id: refused; the right claim works once. */
    uint8_t wrong[PROTO_TOKEN_LEN];
    memcpy(wrong, l.token, sizeof(wrong));
    wrong[0] ^= 1;
    int refused = claim(&bad, wrong, a.id, &bres) != 0;
    cl_close(&bad);
    res_free(&bres);
    memset(&bres, 0, sizeof(bres));
    refused = refused && claim(&bad, l.token, a.id + 1, &bres) != 0;
    cl_close(&bad);
    res_free(&bres);
    memset(&bres, 0, sizeof(bres));
    report(refused, "claim-wrong-token-or-id-refused", "%s", bres.error_text);

    ok = claim(&cc, l.token, a.id, &cres) == 0 && cl_send_data(&cc, "ping", 4) == 0 &&
         read_exact(fd, buf, 4) == 0 && memcmp(buf, "ping", 4) == 0 && write(fd, "pong", 4) == 4 &&
         shutdown(fd, SHUT_WR) == 0 && cl_run(&cc, NULL, 0, 1, &cres, 5000, 1) == 0 &&
         cres.out_len == 4 && memcmp(cres.out, "pong", 4) == 0;
    report(ok, "claim-relays-both-ways", "out=%.*s", (int)cres.out_len,
           cres.out ? (char *)cres.out : "");
    cl_close(&cc);
    res_free(&cres);
    if (fd >= 0)
        close(fd);
    memset(&bres, 0, sizeof(bres));
    ok = claim(&bad, l.token, a.id, &bres) != 0;
    report(ok, "claim-only-once", "%s", bres.error_text);
    cl_close(&bad);
    res_free(&bres);

    /* The broker's close ends the listener: the port is free again. */
    cl_close(&lc);
    res_free(&lres);
    int gone = 0;
    for (int i = 0; i < 50 && !gone; i++) {
        int t = tcp_to((uint16_t)l.port);
        gone = t < 0;
        if (t >= 0)
            close(t);
        usleep(20000);
    }
    report(gone, "listener-ends-with-its-connection", "port %u", l.port);
}

/* Connect to a unix socket as uid; 0 or errno. */
static int unix_connect_as(const char *path, uid_t uid)
{
    pid_t p = fork();
    if (p == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (setgid(uid) || setuid(uid))
            _exit(100);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        _exit(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno & 0x7f);
    }
    int st;
    waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void t_agent_socket(void)
{
    struct cl lc;
    struct result res = {0};
    struct proto_listening l;
    struct proto_accepted a;
    char path[128], dir[128], origin[64];
    struct stat sd, ss;
    if (open_listener(&lc, PROTO_OPEN_F_UNIX, 0, &l, path, sizeof(path), &res) || !path[0]) {
        report(0, "agent-socket", "listener: %s", res.error_text);
        return;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    int ok = stat(dir, &sd) == 0 && stat(path, &ss) == 0 && S_ISDIR(sd.st_mode) &&
             (sd.st_mode & 0777) == 0700 && sd.st_uid == TEST_UID && S_ISSOCK(ss.st_mode) &&
             (ss.st_mode & 0777) == 0600 && ss.st_uid == TEST_UID && l.port == 0;
    report(ok, "agent-socket-hers-only", "%s: dir %o uid %u, socket %o uid %u", path,
           sd.st_mode & 0777, sd.st_uid, ss.st_mode & 0777, ss.st_uid);
    int other = unix_connect_as(path, 65534);
    int mine = unix_connect_as(path, TEST_UID);
    ok = other == EACCES && mine == 0 && read_accepted(&lc, &a, origin, sizeof(origin)) == 0 &&
         a.id == 1 && origin[0] == '\0';
    report(ok, "agent-socket-other-uid-refused", "other uid: %d, hers: %d", other, mine);
    cl_close(&lc);
    res_free(&res);
    int gone = 0;
    for (int i = 0; i < 50 && !gone; i++) {
        gone = access(path, F_OK) != 0 && access(dir, F_OK) != 0;
        usleep(20000);
    }
    report(gone, "agent-socket-removed-at-close", "%s", path);
}

static void t_privileged_port(void)
{
    struct cl lc;
    struct result res = {0};
    struct proto_listening l;
    char path[128];
    FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
    int start = 1024;
    if (f) {
        if (fscanf(f, "%d", &start) != 1)
            start = 1024;
        fclose(f);
    }
    if (start <= 80) {
        printf("skip listen-privileged-port: ip_unprivileged_port_start is %d here\n", start);
        return;
    }
    int r = open_listener(&lc, 0, 80, &l, path, sizeof(path), &res);
    report(r != 0 && strstr(res.error_text, "127.0.0.1:80"), "listen-privileged-port-refused",
           "r=%d %s", r, res.error_text);
    cl_close(&lc);
    res_free(&res);
}

void run_fwd_cases(void)
{
    t_tcp_listener();
    t_agent_socket();
    t_privileged_port();
}
