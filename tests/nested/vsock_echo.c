/*
 * tests/nested/vsock_echo.c - both ends of the nested virtio case
 * (cases/20-virtio-linux.sh), one static binary:
 *   guest-server PORT          AF_VSOCK: print "guest-server-ready", echo one connection
 *   guest-client CID PORT MSG  AF_VSOCK: send MSG, print the reply
 *   host-echo PATH             unix listener: answer one client with "echo:" + its bytes
 *   host-connect PATH PORT N   Firecracker handshake on the VMM's socket, send N
 *                              pseudo-random bytes, expect them back, verbatim
 */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what)
{
    printf("vsock_echo: %s: %s\n", what, strerror(errno));
    return 1;
}

static int guest_server(unsigned port)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4))
        return die("guest-server bind/listen");
    printf("guest-server-ready\n");
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    if (c < 0)
        return die("accept");
    static char buf[65536];
    long total = 0;
    ssize_t n;
    while ((n = read(c, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(c, buf + off, (size_t)(n - off));
            if (w <= 0)
                return die("write");
            off += w;
        }
        total += n;
    }
    printf("guest-server-echoed %ld bytes\n", total);
    close(c);
    return 0;
}

static int guest_client(unsigned cid, unsigned port, const char *msg)
{
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
        return die("guest-client connect");
    if (write(s, msg, strlen(msg)) != (ssize_t)strlen(msg))
        return die("guest-client write");
    char buf[256] = {0};
    ssize_t n = read(s, buf, sizeof(buf) - 1);
    printf("guest-client-got '%s'\n", n > 0 ? buf : "");
    return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -1;
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

static int host_echo(const char *path)
{
    struct sockaddr_un sa;
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || unix_addr(path, &sa) || bind(l, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(l, 4))
        return die("host-echo listen");
    int c = accept(l, NULL, NULL);
    char buf[128] = "echo:";
    ssize_t n = c >= 0 ? read(c, buf + 5, sizeof(buf) - 6) : -1;
    if (n > 0 && write(c, buf, (size_t)n + 5) != n + 5)
        return die("host-echo write");
    return 0;
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)((i * 2654435761u) >> 13);
}

static int host_connect(const char *path, unsigned port, size_t total)
{
    struct sockaddr_un sa;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || unix_addr(path, &sa) || connect(s, (struct sockaddr *)&sa, sizeof(sa)))
        return die("host-connect connect");
    char line[64];
    int len = snprintf(line, sizeof(line), "CONNECT %u\n", port);
    if (write(s, line, (size_t)len) != len)
        return die("host-connect CONNECT");
    size_t got = 0;
    while (got < sizeof(line) - 1) { /* byte by byte: the echo follows the line */
        if (read(s, line + got, 1) != 1)
            return die("host-connect: no OK line");
        if (line[got++] == '\n')
            break;
    }
    line[got] = '\0';
    if (got && line[got - 1] == '\n')
        line[got - 1] = '\0';
    if (strncmp(line, "OK ", 3))
        return printf("host-connect: bad answer '%s'\n", line), 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static uint8_t out[65536], in[65536];
    size_t sent = 0, recvd = 0;
    while (recvd < total) {
        struct pollfd p = {.fd = s, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (poll(&p, 1, 60000) <= 0)
            return printf("host-connect: stalled at %zu sent, %zu back\n", sent, recvd), 1;
        if ((p.revents & POLLOUT) && sent < total) {
            size_t n = total - sent < sizeof(out) ? total - sent : sizeof(out);
            for (size_t i = 0; i < n; i++)
                out[i] = pattern(sent + i);
            ssize_t w = send(s, out, n, MSG_DONTWAIT);
            if (w > 0)
                sent += (size_t)w;
            if (sent == total)
                shutdown(s, SHUT_WR);
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            ssize_t r = recv(s, in, sizeof(in), MSG_DONTWAIT);
            if (r == 0)
                break;
            for (ssize_t i = 0; i < r; i++)
                if (in[i] != pattern(recvd + (size_t)i))
                    return printf("host-connect: byte %zu differs\n", recvd + (size_t)i), 1;
            if (r > 0)
                recvd += (size_t)r;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("host-connect: %s, %zu of %zu bytes back in %.0f ms\n", line, recvd, total, ms);
    return recvd == total ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "guest-server"))
        return guest_server((unsigned)atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "guest-client"))
        return guest_client((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]), argv[4]);
    if (argc == 3 && !strcmp(argv[1], "host-echo"))
        return host_echo(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "host-connect"))
        return host_connect(argv[2], (unsigned)atoi(argv[3]), (size_t)atol(argv[4]));
    fprintf(stderr, "usage: see tests/nested/vsock_echo.c\n");
    return 2;
}
