/*
 * tests/kvm/virtio_host.c - the host side of the KVM tier's virtio checks
 * and of `make bench-vsock`'s real-guest rows, against `burrowctl vm boot
 * --vsock-uds UDS` running the test guest (testguest.mode=echo/blk).
 *
 *   echo UDS PORT BYTES CONNS   CONNS concurrent connections (CONNECT PORT);
 *                               each streams BYTES of its own pseudo-random
 *                               data, half-closes, reads the echo to EOF and
 *                               compares length and BLAKE2b of what went out
 *                               with what came back
 *   refused UDS PORT            CONNECT to a port nobody listens on: the
 *                               socket must close with no "OK" line
 *   listen PATH BYTES           a host listener at PATH (= UDS_<port>): accept
 *                               the guest's connection, check its greeting
 *                               line, echo-check BYTES through it
 *   blkcheck IMAGE SEED         the image holds mode=blk's pattern in its
 *                               sectors, zeros before them
 *   bench UDS PORT MIB PINGS    throughput and 1-byte round trips through the
 *                               guest, then the same over a socketpair to an
 *                               echo process; prints table rows with ratios
 * Exit 0 on success; 1 with one line on stderr saying what differed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/kvm/kvmtest.h"
#include "tests/testguest/abi.h"

#define MAX_CONNS  64
#define CHUNK      65536
#define TIMEOUT_MS 30000

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("virtio_host: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static unsigned long num(const char *s)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s)
        die("not a number: %s", s);
    return v;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        die("socket path too long");
    strcpy(sa.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("connect %s: %s", path, strerror(errno));
    return s;
}

/* Read one line (byte by byte: nothing behind it is consumed); 0 on EOF/reset. */
static int read_line(int s, char *line, size_t sz)
{
    size_t n = 0;
    while (n + 1 < sz) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, TIMEOUT_MS) != 1)
            die("no answer within %d ms", TIMEOUT_MS);
        ssize_t r = read(s, line + n, 1);
        if (r <= 0)
            return 0;
        if (line[n++] == '\n')
            break;
    }
    line[n] = 0;
    return 1;
}

/* Firecracker's host protocol: "CONNECT <port>\n" -> "OK <hostport>\n". -1 if refused. */
static int vsock_connect(const char *uds, unsigned long port)
{
    int s = unix_connect(uds);
    char line[64];
    int n = snprintf(line, sizeof(line), "CONNECT %lu\n", port);
    if (write(s, line, (size_t)n) != n)
        die("write CONNECT: %s", strerror(errno));
    if (!read_line(s, line, sizeof(line))) {
        close(s);
        return -1;
    }
    if (strncmp(line, "OK ", 3) != 0)
        die("CONNECT %lu answered '%s'", port, line);
    return s;
}

/* One connection's stream: its data is BLAKE2b-keyed by its index, hashed both ways. */
struct stream {
    int fd;
    size_t total, sent, recvd;
    int shut;
    uint64_t seed;
    crypto_generichash_state out, in;
};

static void fill(uint8_t *p, size_t n, uint64_t seed, size_t off)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = seed ^ ((off + i) / 8 * 0x9e3779b97f4a7c15ull);
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        p[i] = (uint8_t)(x >> (8 * ((off + i) % 8)));
    }
}

/* Stream every connection's data out and its echo back, all at once. */
static void run_streams(struct stream *st, unsigned n)
{
    static uint8_t buf[CHUNK];
    unsigned open = n;
    while (open) {
        struct pollfd p[MAX_CONNS];
        for (unsigned i = 0; i < n; i++) {
            p[i].fd = st[i].fd;
            p[i].events = st[i].fd < 0 ? 0 : POLLIN | (st[i].sent < st[i].total ? POLLOUT : 0);
        }
        int r = poll(p, n, TIMEOUT_MS);
        if (r <= 0)
            die("no progress for %d ms (%u connections still open)", TIMEOUT_MS, open);
        for (unsigned i = 0; i < n; i++) {
            struct stream *s = &st[i];
            if (s->fd < 0)
                continue;
            if ((p[i].revents & POLLOUT) && s->sent < s->total) {
                size_t k = s->total - s->sent < CHUNK ? s->total - s->sent : CHUNK;
                fill(buf, k, s->seed, s->sent);
                ssize_t w = send(s->fd, buf, k, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN)
                    die("connection %u: send: %s", i, strerror(errno));
                if (w > 0) {
                    crypto_generichash_update(&s->out, buf, (size_t)w);
                    s->sent += (size_t)w;
                }
            }
            if (s->sent == s->total && !s->shut) {
                shutdown(s->fd, SHUT_WR);
                s->shut = 1;
            }
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t got = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
                if (got < 0 && errno != EAGAIN)
                    die("connection %u: recv after %zu bytes: %s", i, s->recvd, strerror(errno));
                if (got == 0) {
                    close(s->fd);
                    s->fd = -1;
                    open--;
                }
                if (got > 0) {
                    crypto_generichash_update(&s->in, buf, (size_t)got);
                    s->recvd += (size_t)got;
                }
            }
        }
    }
}

static void check_streams(struct stream *st, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t ho[32], hi[32];
        crypto_generichash_final(&st[i].out, ho, sizeof(ho));
        crypto_generichash_final(&st[i].in, hi, sizeof(hi));
        if (st[i].recvd != st[i].sent || st[i].sent != st[i].total)
            die("connection %u: sent %zu of %zu, got %zu back", i, st[i].sent, st[i].total,
                st[i].recvd);
        if (memcmp(ho, hi, sizeof(ho)) != 0)
            die("connection %u: BLAKE2b of the echo differs from what was sent", i);
    }
}

static void stream_init(struct stream *s, int fd, size_t total, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->total = total;
    s->seed = seed;
    crypto_generichash_init(&s->out, NULL, 0, 32);
    crypto_generichash_init(&s->in, NULL, 0, 32);
}

static int cmd_echo(const char *uds, unsigned long port, size_t bytes, unsigned long conns)
{
    static struct stream st[MAX_CONNS];
    if (conns < 1 || conns > MAX_CONNS)
        die("CONNS: 1..%d", MAX_CONNS);
    for (unsigned i = 0; i < conns; i++) {
        int fd = vsock_connect(uds, port);
        if (fd < 0)
            die("CONNECT %lu refused (connection %u)", port, i);
        stream_init(&st[i], fd, bytes, 0x5eed0000ull + i * 7919 + (uint64_t)getpid());
    }
    uint64_t t0 = kt_now_ns();
    run_streams(st, (unsigned)conns);
    check_streams(st, (unsigned)conns);
    double s = (double)(kt_now_ns() - t0) / 1e9;
    printf("echo: %lu connection(s) x %zu bytes, BLAKE2b equal, %.2f s, %.1f MB/s each way\n",
           conns, bytes, s, (double)bytes * (double)conns / s / 1e6);
    return 0;
}

static int cmd_refused(const char *uds, unsigned long port)
{
    int s = vsock_connect(uds, port);
    if (s >= 0)
        die("CONNECT %lu was accepted, want refused", port);
    printf("refused: CONNECT %lu closed without OK\n", port);
    return 0;
}

static int cmd_listen(const char *path, size_t bytes)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        die("socket path too long");
    strcpy(sa.sun_path, path);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4) < 0)
        die("listen on %s: %s", path, strerror(errno));
    struct pollfd p = {.fd = l, .events = POLLIN};
    if (poll(&p, 1, 60000) != 1)
        die("the guest did not connect to %s within 60 s", path);
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0)
        die("accept: %s", strerror(errno));
    char line[128];
    if (!read_line(s, line, sizeof(line)))
        die("connection closed before the greeting");
    unsigned long cid, port;
    char nl;
    if (sscanf(line, "testguest cid=%lu port=%lu%c", &cid, &port, &nl) != 3 || nl != '\n')
        die("unexpected greeting '%s'", line);
    struct stream st;
    stream_init(&st, s, bytes, 0xfeedull + port);
    run_streams(&st, 1);
    check_streams(&st, 1);
    printf("listen: guest cid=%lu connected to port %lu, %zu bytes echoed, BLAKE2b equal\n", cid,
           port, bytes);
    unlink(path);
    return 0;
}

static int cmd_blkcheck(const char *image, uint64_t seed)
{
    size_t len;
    uint8_t *img = kt_read_file(image, &len);
    if (len < (TG_BLK_FIRST + TG_BLK_COUNT) * 512)
        die("%s: %zu bytes, shorter than the pattern", image, len);
    for (size_t i = 0; i < TG_BLK_FIRST * 512; i++)
        if (img[i])
            die("%s: byte %zu before the pattern is not zero", image, i);
    for (uint64_t s = TG_BLK_FIRST; s < TG_BLK_FIRST + TG_BLK_COUNT; s++)
        for (unsigned w = 0; w < 64; w++) {
            uint64_t want = tg_blk_word(seed, s, w), got;
            memcpy(&got, img + s * 512 + w * 8, 8);
            if (got != want)
                die("%s: sector %llu word %u is %016llx, want %016llx", image,
                    (unsigned long long)s, w, (unsigned long long)got, (unsigned long long)want);
        }
    printf("blkcheck: sectors %d..%d hold the pattern for seed %llu\n", TG_BLK_FIRST,
           TG_BLK_FIRST + TG_BLK_COUNT - 1, (unsigned long long)seed);
    free(img);
    return 0;
}

/* ---- bench ---- */

/* Echo throughput in MB/s, counting both directions (2 x bytes / time). */
static double stream_rate(int fd, size_t bytes)
{
    static uint8_t buf[CHUNK];
    size_t sent = 0, recvd = 0;
    memset(buf, 0x5a, sizeof(buf));
    uint64_t t0 = kt_now_ns();
    while (recvd < bytes) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < bytes ? POLLOUT : 0)};
        if (poll(&p, 1, TIMEOUT_MS) <= 0)
            die("bench: no progress after %zu bytes back", recvd);
        if ((p.revents & POLLOUT) && sent < bytes) {
            size_t k = bytes - sent < CHUNK ? bytes - sent : CHUNK;
            ssize_t w = send(fd, buf, k, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP)) {
            ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (r == 0)
                die("bench: connection closed after %zu bytes back", recvd);
            if (r > 0)
                recvd += (size_t)r;
        }
    }
    return 2.0 * (double)bytes / ((double)(kt_now_ns() - t0) / 1e9) / 1e6;
}

static double rtt_us(int fd, unsigned long pings)
{
    uint64_t t0 = kt_now_ns();
    for (unsigned long i = 0; i < pings; i++) {
        char c = 'p';
        if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
            die("bench: round trip %lu failed", i);
    }
    return (double)(kt_now_ns() - t0) / 1e3 / (double)pings;
}

static void echo_child(int fd)
{
    static uint8_t buf[CHUNK];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
            _exit(0);
        for (ssize_t o = 0; o < r;) {
            ssize_t w = write(fd, buf + o, (size_t)(r - o));
            if (w <= 0)
                _exit(1);
            o += w;
        }
    }
}

static int cmd_bench(const char *uds, unsigned long port, size_t mib, unsigned long pings)
{
    size_t bytes = mib << 20;
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        die("socketpair: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(sp[0]);
        echo_child(sp[1]);
    }
    close(sp[1]);
    double base_mbps = stream_rate(sp[0], bytes), base_rtt = rtt_us(sp[0], pings);
    close(sp[0]);
    waitpid(pid, NULL, 0);
    int fd = vsock_connect(uds, port);
    if (fd < 0)
        die("CONNECT %lu refused", port);
    double vm_mbps = stream_rate(fd, bytes), vm_rtt = rtt_us(fd, pings);
    close(fd);
    printf("bench-vsock, real guest: %zu MiB echoed each way, %lu 1-byte round trips\n", mib,
           pings);
    printf("  %-40s %10s %10s %12s %8s\n", "path", "MB/s", "ratio", "rtt us", "ratio");
    printf("  %-40s %10.0f %10s %12.1f %8s\n", "unix socketpair (baseline)", base_mbps, "1.00",
           base_rtt, "1.00");
    printf("  %-40s %10.0f %10.2f %12.1f %8.2f\n", "vm boot + test guest (KVM), unix socket",
           vm_mbps, vm_mbps / base_mbps, vm_rtt, vm_rtt / base_rtt);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        die("sodium_init failed");
    signal(SIGPIPE, SIG_IGN);
    if (argc == 6 && !strcmp(argv[1], "echo"))
        return cmd_echo(argv[2], num(argv[3]), num(argv[4]), num(argv[5]));
    if (argc == 4 && !strcmp(argv[1], "refused"))
        return cmd_refused(argv[2], num(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "listen"))
        return cmd_listen(argv[2], num(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "blkcheck"))
        return cmd_blkcheck(argv[2], num(argv[3]));
    if (argc == 6 && !strcmp(argv[1], "bench"))
        return cmd_bench(argv[2], num(argv[3]), num(argv[4]), num(argv[5]));
    fprintf(stderr, "usage: virtio_host echo UDS PORT BYTES CONNS | refused UDS PORT | "
                    "listen PATH BYTES | blkcheck IMAGE SEED | bench UDS PORT MIB PINGS\n");
    return 2;
}
