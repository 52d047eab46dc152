/*
 * tests/virtio/bench_vsock.c - `make bench-vsock`: the virtio-vsock device
 * path against a plain unix socketpair, in the same run.
 *
 * Device path: a host process connects to the VMM's unix socket, says
 * "CONNECT 1024" and streams through the device into a simulated guest
 * (guest RAM + rings in this process, tests/unit/vmm/virtio/vsock_guest.h)
 * that echoes every byte back, returning credit as it goes. Baseline: the
 * same host process against an echo process over socketpair(). Both measure
 * echo throughput (MiB each way) and 1-byte round-trip latency. No KVM: this
 * is the device's own cost (descriptor walking, credit, syscalls), not the
 * guest's.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "tests/unit/vmm/virtio/vsock_guest.h"

#define TOTAL     (32u << 20)
#define PINGS     2000
#define GUEST_BUF (1u << 20)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Host side: stream TOTAL bytes and read them back, then PINGS 1-byte round trips. */
static int host_client(int s, double *mbps, double *rtt_us)
{
    static uint8_t out[65536], in[65536];
    size_t sent = 0, back = 0;
    double t0 = now_s();
    memset(out, 0x5a, sizeof(out));
    while (back < TOTAL) {
        struct pollfd p = {.fd = s, .events = POLLIN | (sent < TOTAL ? POLLOUT : 0)};
        if (poll(&p, 1, 10000) <= 0)
            return -1;
        if ((p.revents & POLLOUT) && sent < TOTAL) {
            size_t n = TOTAL - sent < sizeof(out) ? TOTAL - sent : sizeof(out);
            ssize_t w = send(s, out, n, MSG_DONTWAIT);
            if (w > 0)
                sent += (size_t)w;
        }
        if (p.revents & POLLIN) {
            ssize_t r = recv(s, in, sizeof(in), MSG_DONTWAIT);
            if (r == 0)
                return -1;
            if (r > 0)
                back += (size_t)r;
        }
    }
    *mbps = 2.0 * TOTAL / (now_s() - t0) / 1e6;
    t0 = now_s();
    for (int i = 0; i < PINGS; i++) {
        char c = 'p';
        if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1)
            return -1;
    }
    *rtt_us = (now_s() - t0) / PINGS * 1e6;
    return 0;
}

static void report_child(int fd, int rc, double mbps, double rtt)
{
    double r[3] = {rc, mbps, rtt};
    if (write(fd, r, sizeof(r)) != sizeof(r))
        _exit(3);
}

static int collect(int fd, pid_t pid, double *mbps, double *rtt)
{
    double r[3];
    ssize_t n = read(fd, r, sizeof(r));
    int st;
    waitpid(pid, &st, 0);
    if (n != sizeof(r) || r[0] != 0)
        return -1;
    *mbps = r[1];
    *rtt = r[2];
    return 0;
}

static int baseline(double *mbps, double *rtt)
{
    int sv[2], res[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || pipe(res))
        return -1;
    pid_t echo = fork();
    if (echo == 0) {
        close(sv[0]);
        static char buf[65536];
        ssize_t n;
        while ((n = read(sv[1], buf, sizeof(buf))) > 0)
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(sv[1], buf + off, (size_t)(n - off));
                if (w <= 0)
                    _exit(1);
                off += w;
            }
        _exit(0);
    }
    pid_t host = fork();
    if (host == 0) {
        double m = 0, r = 0;
        int rc = host_client(sv[0], &m, &r);
        report_child(res[1], rc, m, r);
        _exit(0);
    }
    close(sv[0]);
    close(sv[1]);
    close(res[1]);
    int rc = collect(res[0], host, mbps, rtt);
    kill(echo, SIGTERM);
    waitpid(echo, NULL, 0);
    close(res[0]);
    return rc;
}

/* The simulated guest: accept port 1024, echo everything within the device's credit. */
struct guest_echo {
    uint32_t hport;
    bool open;
    uint8_t *pending;
    size_t pend_len;
    uint32_t consumed; /* our fwd_cnt: bytes echoed (freed from our buffer) */
    uint32_t sent;     /* bytes we sent to the host */
    uint32_t dev_alloc, dev_fwd;
};

static void guest_step(struct gv *g, struct guest_echo *e)
{
    static uint8_t data[GV_RXBUF];
    struct vsock_hdr h;
    bool got = false;
    while (gv_recv(g, &h, data, sizeof(data))) {
        got = true;
        if (h.op == VSOCK_OP_REQUEST) {
            e->hport = h.src_port;
            e->open = true;
            gv_send(g, VSOCK_OP_RESPONSE, 1024, h.src_port, NULL, 0, 0, GUEST_BUF, 0);
        }
        if (h.src_port != e->hport)
            continue;
        e->dev_alloc = h.buf_alloc;
        e->dev_fwd = h.fwd_cnt;
        if (h.op == VSOCK_OP_RW && e->pend_len + h.len <= GUEST_BUF) {
            memcpy(e->pending + e->pend_len, data, h.len);
            e->pend_len += h.len;
        }
    }
    if (got)
        gv_kick_rx(g);
    /* echo what the device's credit allows */
    size_t off = 0;
    while (e->open && off < e->pend_len) {
        uint32_t credit = e->dev_alloc - (e->sent - e->dev_fwd);
        if (!credit)
            break;
        uint32_t n = (uint32_t)(e->pend_len - off);
        if (n > credit)
            n = credit;
        if (n > VSOCK_MAX_PKT)
            n = VSOCK_MAX_PKT;
        e->consumed += n;
        gv_send(g, VSOCK_OP_RW, 1024, e->hport, e->pending + off, n, 0, GUEST_BUF, e->consumed);
        e->sent += n;
        off += n;
    }
    memmove(e->pending, e->pending + off, e->pend_len - off);
    e->pend_len -= off;
}

static int device_path(const char *uds, double *mbps, double *rtt)
{
    static struct gv g;
    struct guest_echo e = {.pending = malloc(GUEST_BUF)};
    int res[2];
    if (!e.pending || gv_init(&g, uds) || pipe(res))
        return -1;
    pid_t host = fork();
    if (host == 0) {
        double m = 0, r = 0;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        memcpy(sa.sun_path, uds, strlen(uds) + 1);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        char line[32];
        int rc = connect(s, (struct sockaddr *)&sa, sizeof(sa));
        if (!rc && write(s, "CONNECT 1024\n", 13) == 13) {
            for (size_t i = 0; i < sizeof(line) - 1; i++)
                if (read(s, line + i, 1) != 1 || line[i] == '\n')
                    break;
            rc = host_client(s, &m, &r);
        }
        report_child(res[1], rc ? -1 : 0, m, r);
        _exit(0);
    }
    close(res[1]);
    struct pollfd p[2] = {{.fd = virtio_vsock_host_fd(g.v), .events = POLLIN},
                          {.fd = res[0], .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, 1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            break;
        virtio_vsock_host_process(g.v);
        guest_step(&g, &e);
    }
    int rc = collect(res[0], host, mbps, rtt);
    close(res[0]);
    gv_fini(&g);
    free(e.pending);
    return rc;
}

int main(void)
{
    log_set_level(LOG_LVL_ERROR);
    char dir[] = "/tmp/bench-vsock-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char uds[64];
    snprintf(uds, sizeof(uds), "%s/v.sock", dir);
    double bm = 0, br = 0, dm = 0, dr = 0;
    int rb = baseline(&bm, &br);
    int rd = device_path(uds, &dm, &dr);
    rmdir(dir);
    if (rb || rd) {
        fprintf(stderr, "bench-vsock: a run failed (baseline %d, device %d)\n", rb, rd);
        return 1;
    }
    printf("bench-vsock: %u MiB echoed each way, %d 1-byte round trips\n", TOTAL >> 20, PINGS);
    printf("  %-34s %10s %10s %12s %8s\n", "path", "MB/s", "ratio", "rtt us", "ratio");
    printf("  %-34s %10.0f %10s %12.1f %8s\n", "unix socketpair (baseline)", bm, "1.00", br,
           "1.00");
    printf("  %-34s %10.0f %10.2f %12.1f %8.2f\n", "vsock device, simulated guest", dm, dm / bm, dr,
           dr / br);
    return 0;
}
