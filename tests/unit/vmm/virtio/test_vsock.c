/* tests/unit/vmm/virtio/test_vsock.c - virtio-vsock against a simulated guest and real unix
 * sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "tests/lib/testutil.h"
#include "tests/unit/vmm/virtio/vsock_guest.h"

struct fx {
    struct gv g;
    char *dir;
    char uds[200];
    int handler_fd;
    uint32_t handler_port;
};

static void on_accept(void *ctx, int fd, uint32_t guest_port)
{
    struct fx *f = ctx;
    f->handler_fd = fd;
    f->handler_port = guest_port;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("vsock");
    snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
    f->handler_fd = -1;
    if (gv_init(&f->g, f->uds))
        return -1;
    if (virtio_vsock_register_port(f->g.v, 1025, on_accept, f))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->handler_fd >= 0)
        close(f->handler_fd);
    gv_fini(&f->g);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int client_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void write_all(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

/* Read exactly n bytes that must already be there (nonblocking fd). */
static void read_exact(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (uint8_t *)p + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

static int expect_pkt(struct gv *g, uint16_t op, struct vsock_hdr *h, void *data, size_t max)
{
    assert_int_equal(gv_recv(g, h, data, max), 1);
    assert_int_equal(h->op, op);
    assert_int_equal(h->src_cid, VSOCK_HOST_CID);
    assert_int_equal(h->dst_cid, GV_CID);
    assert_int_equal(h->type, VSOCK_TYPE_STREAM);
    return 1;
}

/* Host client connects to guest port gport; the guest accepts. Returns the client fd. */
static int host_open(struct fx *f, uint32_t gport, uint32_t *hport)
{
    int cfd = client_connect(f->uds);
    char line[32];
    int n = snprintf(line, sizeof(line), "CONNECT %u\n", gport);
    write_all(cfd, line, (size_t)n);
    gv_host(&f->g);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_REQUEST, &h, NULL, 0);
    assert_int_equal(h.dst_port, gport);
    assert_true(h.src_port >= (1u << 30));
    *hport = h.src_port;
    gv_send(&f->g, VSOCK_OP_RESPONSE, gport, h.src_port, NULL, 0, 0, 1 << 20, 0);
    char ok[32] = {0}, want[32];
    n = snprintf(want, sizeof(want), "OK %u\n", h.src_port);
    set_nonblock(cfd);
    read_exact(cfd, ok, (size_t)n);
    assert_string_equal(ok, want);
    return cfd;
}

static void test_config_cid(void **state)
{
    struct fx *f = *state;
    uint64_t cid = 0;
    virtio_mmio_io(&f->g.m, VIRTIO_MMIO_CONFIG, (uint8_t *)&cid, 8, 0);
    assert_int_equal(cid, GV_CID);
    assert_int_equal(mmio_rd(&f->g.m, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_VSOCK);
    struct virtio_vsock *bad;
    assert_int_equal(virtio_vsock_create(&f->g.m.transport, 2, NULL, &bad), BURROW_ERR_INVALID);
    /* the socket path is taken */
    assert_int_equal(virtio_vsock_create(&f->g.m.transport, 5, f->uds, &bad), BURROW_ERR_EXISTS);
}

static void test_host_connect_and_data(void **state)
{
    struct fx *f = *state;
    uint32_t hport;
    int cfd = host_open(f, 1024, &hport);
    write_all(cfd, "hello", 5);
    gv_host(&f->g);
    struct vsock_hdr h;
    char data[64] = {0};
    expect_pkt(&f->g, VSOCK_OP_RW, &h, data, sizeof(data));
    assert_int_equal(h.len, 5);
    assert_memory_equal(data, "hello", 5);
    assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF);
    gv_send(&f->g, VSOCK_OP_RW, 1024, hport, "world!", 6, 0, 1 << 20, 5);
    char back[6];
    read_exact(cfd, back, 6);
    assert_memory_equal(back, "world!", 6);
    /* a second connection gets another host port */
    uint32_t hport2;
    int c2 = host_open(f, 1024, &hport2);
    assert_int_not_equal(hport, hport2);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 2);
    close(cfd);
    close(c2);
}

static void test_data_right_after_connect_line(void **state)
{
    struct fx *f = *state;
    int cfd = client_connect(f->uds);
    write_all(cfd, "CONNECT 77\nearly", 16);
    gv_host(&f->g);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_REQUEST, &h, NULL, 0);
    gv_send(&f->g, VSOCK_OP_RESPONSE, 77, h.src_port, NULL, 0, 0, 4096, 0);
    char data[16] = {0};
    expect_pkt(&f->g, VSOCK_OP_RW, &h, data, sizeof(data));
    assert_memory_equal(data, "early", 5);
    close(cfd);
}

static void expect_closed_after(struct fx *f, const char *line, size_t len)
{
    int cfd = client_connect(f->uds);
    write_all(cfd, line, len);
    gv_host(&f->g);
    char b;
    set_nonblock(cfd);
    /* closed, nothing said (unread bytes turn the close into a reset) */
    ssize_t r = read(cfd, &b, 1);
    assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
    struct vsock_hdr h;
    assert_int_equal(gv_recv(&f->g, &h, NULL, 0), 0); /* and the guest heard nothing */
    close(cfd);
}

static void test_bad_connect_lines(void **state)
{
    struct fx *f = *state;
    expect_closed_after(f, "HELLO 1024\n", 11);
    expect_closed_after(f, "CONNECT abc\n", 12);
    expect_closed_after(f, "CONNECT \n", 9);
    expect_closed_after(f, "CONNECT 4294967296\n", 19);
    expect_closed_after(f, "CONNECT -1\n", 11);
    expect_closed_after(f, "CONNECT 1024 \n", 14);
    expect_closed_after(f, "CONNECT 1024000000000000000000000000000000\n", 43);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 0);
}

static void test_guest_cannot_touch_handshaking_client(void **state)
{
    struct fx *f = *state;
    int cfd = client_connect(f->uds);
    write_all(cfd, "CONN", 4); /* handshake in progress: no ports yet */
    gv_host(&f->g);
    gv_send(&f->g, VSOCK_OP_RW, 0, 0, "x", 1, 0, 4096, 0);
    gv_send(&f->g, VSOCK_OP_RST, 0, 0, NULL, 0, 0, 4096, 0);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0); /* answered as "no such connection" */
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 1);
    write_all(cfd, "ECT 1024\n", 9);
    gv_host(&f->g);
    expect_pkt(&f->g, VSOCK_OP_REQUEST, &h, NULL, 0);
    assert_int_equal(h.dst_port, 1024);
    close(cfd);
}

static void test_guest_refuses_host_connect(void **state)
{
    struct fx *f = *state;
    int cfd = client_connect(f->uds);
    write_all(cfd, "CONNECT 9\n", 10);
    gv_host(&f->g);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_REQUEST, &h, NULL, 0);
    gv_send(&f->g, VSOCK_OP_RST, 9, h.src_port, NULL, 0, 0, 0, 0);
    char b;
    set_nonblock(cfd);
    assert_int_equal(read(cfd, &b, 1), 0);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 0);
    close(cfd);
}

static void test_guest_connect_unknown_port_rst(void **state)
{
    struct fx *f = *state;
    gv_send(&f->g, VSOCK_OP_REQUEST, 5555, 4000, NULL, 0, 0, 4096, 0);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    assert_int_equal(h.src_port, 4000);
    assert_int_equal(h.dst_port, 5555);
    /* data for a connection that does not exist: RST too */
    gv_send(&f->g, VSOCK_OP_RW, 5555, 4000, "x", 1, 0, 4096, 0);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    /* an RST for nothing is not answered */
    gv_send(&f->g, VSOCK_OP_RST, 5555, 4000, NULL, 0, 0, 4096, 0);
    assert_int_equal(gv_recv(&f->g, &h, NULL, 0), 0);
}

static void test_guest_connect_internal_handler(void **state)
{
    struct fx *f = *state;
    gv_send(&f->g, VSOCK_OP_REQUEST, 700, 1025, NULL, 0, 0, 1 << 16, 0);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_RESPONSE, &h, NULL, 0);
    assert_true(f->handler_fd >= 0);
    assert_int_equal(f->handler_port, 700);
    gv_send(&f->g, VSOCK_OP_RW, 700, 1025, "ping", 4, 0, 1 << 16, 0);
    char b[4];
    read_exact(f->handler_fd, b, 4);
    assert_memory_equal(b, "ping", 4);
    write_all(f->handler_fd, "pong", 4);
    gv_host(&f->g);
    char d[8];
    expect_pkt(&f->g, VSOCK_OP_RW, &h, d, sizeof(d));
    assert_memory_equal(d, "pong", 4);
    assert_int_equal(h.dst_port, 700);
    /* a second REQUEST on the same pair is a protocol error: RST */
    gv_send(&f->g, VSOCK_OP_REQUEST, 700, 1025, NULL, 0, 0, 1 << 16, 0);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 0);
}

static void test_guest_connect_uds_port(void **state)
{
    struct fx *f = *state;
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(f->uds) + 6 < sizeof(sa.sun_path));
    memcpy(sa.sun_path, f->uds, strlen(f->uds));
    memcpy(sa.sun_path + strlen(f->uds), "_5000", 6);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    gv_send(&f->g, VSOCK_OP_REQUEST, 800, 5000, NULL, 0, 0, 1 << 16, 0);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_RESPONSE, &h, NULL, 0);
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    gv_send(&f->g, VSOCK_OP_RW, 800, 5000, "abc", 3, 0, 1 << 16, 0);
    char b[3];
    read_exact(afd, b, 3);
    assert_memory_equal(b, "abc", 3);
    close(afd);
    close(lfd);
    /* a port with no socket file: RST */
    gv_send(&f->g, VSOCK_OP_REQUEST, 801, 5001, NULL, 0, 0, 1 << 16, 0);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
}

/* Guest keeps sending while the host never reads: bounded, then RST for the excess. */
static void test_host_stops_reading(void **state)
{
    struct fx *f = *state;
    gv_send(&f->g, VSOCK_OP_REQUEST, 900, 1025, NULL, 0, 0, 1 << 16, 0);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_RESPONSE, &h, NULL, 0);
    uint32_t buf_alloc = h.buf_alloc, fwd = h.fwd_cnt, sent = 0;
    static uint8_t chunk[VSOCK_MAX_PKT];
    memset(chunk, 0x42, sizeof(chunk));
    /* a well-behaved guest: never more than its credit */
    for (int i = 0; i < 1000; i++) {
        while (gv_recv(&f->g, &h, NULL, 0)) {
            assert_true(h.op == VSOCK_OP_CREDIT_UPDATE || h.op == VSOCK_OP_RW);
            buf_alloc = h.buf_alloc;
            fwd = h.fwd_cnt;
        }
        uint32_t credit = buf_alloc - (sent - fwd);
        if (credit == 0)
            break;
        uint32_t n = credit < sizeof(chunk) ? credit : sizeof(chunk);
        gv_send(&f->g, VSOCK_OP_RW, 900, 1025, chunk, n, 0, 1 << 16, 0);
        sent += n;
        gv_host(&f->g);
    }
    assert_int_equal(buf_alloc - (sent - fwd), 0);
    /* whatever the socket took plus at most one connection buffer */
    assert_true(sent - fwd <= VSOCK_CONN_BUF);
    assert_true(sent > VSOCK_CONN_BUF);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 1);
    /* beyond its credit: RST, buffers released */
    gv_send(&f->g, VSOCK_OP_RW, 900, 1025, chunk, 1024, 0, 1 << 16, 0);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 0);
}

/* Host floods a guest that never returns credit: exactly buf_alloc bytes arrive. */
static void test_guest_never_returns_credit(void **state)
{
    struct fx *f = *state;
    gv_send(&f->g, VSOCK_OP_REQUEST, 901, 1025, NULL, 0, 0, 10000, 0);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_RESPONSE, &h, NULL, 0);
    static uint8_t chunk[65536];
    memset(chunk, 0x17, sizeof(chunk));
    size_t host_wrote = 0;
    for (int i = 0; i < 200; i++) {
        ssize_t w = send(f->handler_fd, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (w < 0) {
            assert_int_equal(errno, EAGAIN);
            break;
        }
        host_wrote += (size_t)w;
        gv_host(&f->g);
    }
    assert_true(host_wrote < 200 * sizeof(chunk)); /* the host writer was stopped */
    gv_host(&f->g);
    uint32_t got = 0;
    while (gv_recv(&f->g, &h, NULL, 0))
        if (h.op == VSOCK_OP_RW)
            got += h.len;
    assert_int_equal(got, 10000);
    /* credit returned: more flows */
    gv_send(&f->g, VSOCK_OP_CREDIT_UPDATE, 901, 1025, NULL, 0, 0, 10000, 10000);
    got = 0;
    while (gv_recv(&f->g, &h, NULL, 0))
        if (h.op == VSOCK_OP_RW)
            got += h.len;
    assert_int_equal(got, 10000);
}

static uint32_t fnv(uint32_t hsh, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hsh = (hsh ^ p[i]) * 16777619u;
    return hsh;
}

/* Several MiB each way with checksums, the guest returning credit as it reads. */
static void test_large_transfer(void **state)
{
    struct fx *f = *state;
    uint32_t hport;
    int cfd = host_open(f, 1024, &hport);
    const size_t total = 4u << 20;
    static uint8_t chunk[65536], rx[GV_RXBUF];
    uint32_t sum_in = 2166136261u, sum_out = 2166136261u, sum_guest = 2166136261u;
    size_t wrote = 0, guest_got = 0;
    uint32_t guest_fwd = 0;
    struct vsock_hdr h;
    while (guest_got < total) {
        if (wrote < total) {
            for (size_t i = 0; i < sizeof(chunk); i++)
                chunk[i] = (uint8_t)((wrote + i) * 31 + 7);
            ssize_t w = send(cfd, chunk, sizeof(chunk), MSG_DONTWAIT);
            if (w > 0) {
                sum_in = fnv(sum_in, chunk, (size_t)w);
                wrote += (size_t)w;
            }
        }
        gv_host(&f->g);
        int any = 0;
        while (gv_recv(&f->g, &h, rx, sizeof(rx))) {
            assert_int_equal(h.op, VSOCK_OP_RW);
            sum_guest = fnv(sum_guest, rx, h.len);
            guest_got += h.len;
            guest_fwd += h.len;
            any = 1;
        }
        if (any) /* the guest read it all: credit back */
            gv_send(&f->g, VSOCK_OP_CREDIT_UPDATE, 1024, hport, NULL, 0, 0, 1 << 18, guest_fwd);
        gv_kick_rx(&f->g);
    }
    assert_int_equal(guest_got, total);
    assert_int_equal(sum_guest, sum_in);

    /* and back: guest -> host, honouring the device's credit */
    size_t sent = 0, host_got = 0;
    uint32_t fwd = 0, alloc = VSOCK_CONN_BUF;
    sum_in = 2166136261u;
    while (host_got < total) {
        uint32_t credit = alloc - ((uint32_t)sent - fwd);
        if (sent < total && credit) {
            uint32_t n = credit < VSOCK_MAX_PKT ? credit : VSOCK_MAX_PKT;
            if (n > total - sent)
                n = (uint32_t)(total - sent);
            for (uint32_t i = 0; i < n; i++)
                chunk[i] = (uint8_t)((sent + i) * 13 + 1);
            sum_in = fnv(sum_in, chunk, n);
            gv_send(&f->g, VSOCK_OP_RW, 1024, hport, chunk, n, 0, 1 << 18, guest_fwd);
            sent += n;
        }
        ssize_t r;
        while ((r = read(cfd, chunk, sizeof(chunk))) > 0) {
            sum_out = fnv(sum_out, chunk, (size_t)r);
            host_got += (size_t)r;
        }
        gv_host(&f->g);
        while (gv_recv(&f->g, &h, NULL, 0)) {
            alloc = h.buf_alloc;
            fwd = h.fwd_cnt;
        }
        gv_kick_rx(&f->g);
    }
    assert_int_equal(sum_out, sum_in);
    close(cfd);
}

/* 32 host connections at once: every byte reaches the right guest port and comes back. */
static void test_concurrent_connections(void **state)
{
    struct fx *f = *state;
    enum { N = 32, BYTES = 20000 };
    int fd[N];
    uint32_t hport[N];
    size_t to_guest[N] = {0}, back[N] = {0};
    static uint8_t pat[N][BYTES], rx[GV_RXBUF];
    for (int i = 0; i < N; i++) {
        fd[i] = host_open(f, 1024, &hport[i]);
        for (int k = 0; k < BYTES; k++)
            pat[i][k] = (uint8_t)(i * 37 + k * 7);
    }
    for (int i = 0; i < N; i++) /* all open first: only data from here on */
        write_all(fd[i], pat[i], BYTES);
    uint32_t guest_fwd[N] = {0};
    for (int round = 0; round < 2000; round++) {
        gv_host(&f->g);
        struct vsock_hdr h;
        int any = 0;
        while (gv_recv(&f->g, &h, rx, sizeof(rx))) {
            int i = 0;
            while (i < N && hport[i] != h.src_port)
                i++;
            assert_true(i < N);
            assert_int_equal(h.op, VSOCK_OP_RW);
            assert_true(to_guest[i] + h.len <= BYTES);
            assert_memory_equal(rx, pat[i] + to_guest[i], h.len);
            to_guest[i] += h.len;
            guest_fwd[i] += h.len;
            /* echo it straight back, returning the credit with it */
            gv_send(&f->g, VSOCK_OP_RW, 1024, hport[i], rx, h.len, 0, 1 << 20, guest_fwd[i]);
            any = 1;
        }
        gv_kick_rx(&f->g);
        for (int i = 0; i < N; i++) {
            uint8_t b[4096];
            ssize_t r;
            while ((r = read(fd[i], b, sizeof(b))) > 0) {
                assert_memory_equal(b, pat[i] + back[i], (size_t)r);
                back[i] += (size_t)r;
            }
        }
        int done = 1;
        for (int i = 0; i < N; i++)
            done &= back[i] == BYTES;
        if (done && !any)
            break;
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(back[i], BYTES);
        close(fd[i]);
    }
}

static void test_shutdown_and_close(void **state)
{
    struct fx *f = *state;
    uint32_t hport;
    int cfd = host_open(f, 1024, &hport);
    shutdown(cfd, SHUT_WR);
    gv_host(&f->g);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_SHUTDOWN, &h, NULL, 0);
    assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
    /* the guest can still answer after the host's half-close */
    gv_send(&f->g, VSOCK_OP_RW, 1024, hport, "bye", 3, 0, 4096, 0);
    char b[3];
    read_exact(cfd, b, 3);
    assert_memory_equal(b, "bye", 3);
    /* guest closes: RST back, host socket closed */
    gv_send(&f->g, VSOCK_OP_SHUTDOWN, 1024, hport, NULL, 0,
            VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, 4096, 0);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    assert_int_equal(read(cfd, b, 1), 0);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 0);
    close(cfd);
}

static void test_credit_request(void **state)
{
    struct fx *f = *state;
    uint32_t hport;
    int cfd = host_open(f, 1024, &hport);
    gv_send(&f->g, VSOCK_OP_CREDIT_REQUEST, 1024, hport, NULL, 0, 0, 4096, 0);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_CREDIT_UPDATE, &h, NULL, 0);
    assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF);
    close(cfd);
    gv_host(&f->g);
}

static void test_transport_reset(void **state)
{
    struct fx *f = *state;
    uint32_t hport;
    int cfd = host_open(f, 1024, &hport);
    unsigned irqs = f->g.s.irqs;
    virtio_vsock_transport_reset(f->g.v);
    assert_true(f->g.s.irqs > irqs);
    uint32_t id = 0xffff, len = 0;
    assert_int_equal(sim_take_used(&f->g.s, &f->g.q[2], &id, &len), 1);
    assert_int_equal(len, 4);
    uint32_t ev;
    memcpy(&ev, sim_hva(&f->g.s, f->g.ev_buf), 4);
    assert_int_equal(ev, VSOCK_EVENT_TRANSPORT_RESET);
    char b;
    assert_int_equal(read(cfd, &b, 1), 0);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 0);
    close(cfd);
    /* no event buffer posted: the event waits for one */
    virtio_vsock_transport_reset(f->g.v);
    assert_int_equal(sim_take_used(&f->g.s, &f->g.q[2], &id, &len), 0);
    sim_avail(&f->g.s, &f->g.q[2], 0);
    mmio_wr(&f->g.m, VIRTIO_MMIO_QUEUE_NOTIFY, 2);
    assert_int_equal(sim_take_used(&f->g.s, &f->g.q[2], &id, &len), 1);
}

static void test_malformed_packets(void **state)
{
    struct fx *f = *state;
    struct vsock_hdr h;
    uint8_t junk[VSOCK_HDR_SIZE + 8];
    memset(junk, 0xff, sizeof(junk));
    gv_send_raw(&f->g, junk, 20, 20); /* shorter than a header */
    /* foreign source CID: dropped silently */
    struct vsock_hdr bad = {.src_cid = 99,
                            .dst_cid = 2,
                            .src_port = 1,
                            .dst_port = 1025,
                            .type = 1,
                            .op = VSOCK_OP_REQUEST};
    vsock_hdr_build(&bad, junk);
    gv_send_raw(&f->g, junk, VSOCK_HDR_SIZE, VSOCK_HDR_SIZE);
    assert_int_equal(gv_recv(&f->g, &h, NULL, 0), 0);
    assert_int_equal(f->handler_fd, -1);
    /* len beyond the descriptor, huge len, unknown type: RST, no crash */
    bad = (struct vsock_hdr){.src_cid = GV_CID,
                             .dst_cid = 2,
                             .src_port = 1,
                             .dst_port = 1025,
                             .type = 1,
                             .op = VSOCK_OP_RW,
                             .len = 100};
    vsock_hdr_build(&bad, junk);
    gv_send_raw(&f->g, junk, VSOCK_HDR_SIZE, VSOCK_HDR_SIZE + 8);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    bad.len = UINT32_MAX;
    vsock_hdr_build(&bad, junk);
    gv_send_raw(&f->g, junk, VSOCK_HDR_SIZE, VSOCK_HDR_SIZE);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    bad.len = 0;
    bad.type = 2; /* SEQPACKET, not negotiated */
    vsock_hdr_build(&bad, junk);
    gv_send_raw(&f->g, junk, VSOCK_HDR_SIZE, VSOCK_HDR_SIZE);
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    assert_false(mmio_rd(&f->g.m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    /* a descriptor outside guest memory is a ring violation: NEEDS_RESET */
    uint16_t id = f->g.q[1].avail_idx % GV_QSIZE;
    sim_desc(&f->g.s, f->g.q[1].desc, id, SIM_BASE + SIM_SIZE - 8, 64, 0, 0);
    sim_avail(&f->g.s, &f->g.q[1], id);
    mmio_wr(&f->g.m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    assert_true(mmio_rd(&f->g.m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_reset_mid_transfer(void **state)
{
    struct fx *f = *state;
    uint32_t hport;
    int cfd = host_open(f, 1024, &hport);
    static uint8_t chunk[65536];
    assert_true(send(cfd, chunk, sizeof(chunk), MSG_DONTWAIT) > 0);
    gv_host(&f->g);
    mmio_wr(&f->g.m, VIRTIO_MMIO_STATUS, 0); /* driver reset with data in flight */
    char b;
    ssize_t r;
    while ((r = read(cfd, &b, 1)) > 0)
        ;
    assert_int_equal(r, 0);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 0);
    gv_host(&f->g); /* no crash with the device inactive */
    close(cfd);
    /* a client arriving while the driver is down waits for it */
    int c2 = client_connect(f->uds);
    write_all(c2, "CONNECT 1024\n", 13);
    gv_host(&f->g);
    assert_int_equal(virtio_vsock_nr_conns(f->g.v), 1);
    close(c2);
}

static void test_small_rx_buffer_needs_reset(void **state)
{
    struct fx *f = *state;
    /* replace every posted rx buffer by a 16-byte one: too small for a header */
    struct gv *g = &f->g;
    for (uint16_t i = 0; i < GV_QSIZE; i++)
        sim_desc(&g->s, g->q[0].desc, i, g->rx_addr[i], 16, VRING_DESC_F_WRITE, 0);
    gv_send(g, VSOCK_OP_REQUEST, 1, 4242, NULL, 0, 0, 0, 0); /* provokes an RST */
    assert_true(mmio_rd(&g->m, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_save_restore(void **state)
{
    struct fx *f = *state;
    uint32_t hport;
    int cfd = host_open(f, 1024, &hport);
    struct buf *b = buf_new(1 << 16);
    assert_int_equal(virtio_mmio_save(&f->g.m, b), 0);

    /* a fresh device (another CID) restored from it: the guest's view comes back */
    struct virtio_mmio m2;
    struct virtio_vsock *v2;
    assert_int_equal(virtio_mmio_init(&m2, &virtio_vsock_ops, &f->g.s.mem, sim_irq, &f->g.s), 0);
    assert_int_equal(virtio_vsock_create(&m2.transport, 5, NULL, &v2), 0);
    virtio_mmio_attach_dev(&m2, v2);
    assert_int_equal(virtio_mmio_restore(&m2, b), 0);
    uint64_t cid = 0;
    virtio_mmio_io(&m2, VIRTIO_MMIO_CONFIG, (uint8_t *)&cid, 8, 0);
    assert_int_equal(cid, GV_CID);
    assert_int_equal(mmio_rd(&m2, VIRTIO_MMIO_STATUS), 0xf);
    assert_int_equal(virtio_vsock_nr_conns(v2), 0); /* host sockets never survive */
    /* the restored device carries on with the same rings: an unknown port gets RST */
    struct vsock_hdr rq = {.src_cid = GV_CID,
                           .dst_cid = VSOCK_HOST_CID,
                           .src_port = 77,
                           .dst_port = 4242,
                           .type = VSOCK_TYPE_STREAM,
                           .op = VSOCK_OP_REQUEST};
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_build(&rq, raw);
    memcpy(sim_hva(&f->g.s, f->g.tx_buf), raw, sizeof(raw));
    uint16_t id = f->g.q[1].avail_idx % GV_QSIZE;
    sim_desc(&f->g.s, f->g.q[1].desc, id, f->g.tx_buf, VSOCK_HDR_SIZE, 0, 0);
    sim_avail(&f->g.s, &f->g.q[1], id);
    mmio_wr(&m2, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    struct vsock_hdr h;
    expect_pkt(&f->g, VSOCK_OP_RST, &h, NULL, 0);
    assert_int_equal(h.dst_port, 77);
    virtio_vsock_destroy(v2);
    virtio_mmio_destroy(&m2);

    /* a CID below 3 in the device section is refused */
    uint8_t *copy = malloc(buf_used(b));
    memcpy(copy, buf_data(b), buf_used(b));
    size_t cid_at = buf_used(b) - 9; /* device section: le64 cid, u8 event_pending */
    uint64_t bad = 2, was;
    memcpy(&was, copy + cid_at, 8);
    assert_int_equal(was, GV_CID);
    memcpy(copy + cid_at, &bad, 8);
    struct buf in;
    buf_init_reader(&in, copy, buf_used(b));
    assert_int_equal(virtio_mmio_init(&m2, &virtio_vsock_ops, &f->g.s.mem, sim_irq, &f->g.s), 0);
    assert_int_equal(virtio_vsock_create(&m2.transport, 5, NULL, &v2), 0);
    virtio_mmio_attach_dev(&m2, v2);
    assert_int_not_equal(virtio_mmio_restore(&m2, &in), 0);
    assert_int_equal(mmio_rd(&m2, VIRTIO_MMIO_STATUS), 0);
    virtio_vsock_destroy(v2);
    virtio_mmio_destroy(&m2);
    free(copy);
    buf_free(b);
    close(cfd);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_cid),
        T(test_host_connect_and_data),
        T(test_data_right_after_connect_line),
        T(test_bad_connect_lines),
        T(test_guest_cannot_touch_handshaking_client),
        T(test_guest_refuses_host_connect),
        T(test_guest_connect_unknown_port_rst),
        T(test_guest_connect_internal_handler),
        T(test_guest_connect_uds_port),
        T(test_host_stops_reading),
        T(test_guest_never_returns_credit),
        T(test_large_transfer),
        T(test_concurrent_connections),
        T(test_shutdown_and_close),
        T(test_credit_request),
        T(test_transport_reset),
        T(test_malformed_packets),
        T(test_reset_mid_transfer),
        T(test_small_rx_buffer_needs_reset),
        T(test_save_restore),
    };
    return cmocka_run_group_tests_name("vmm/virtio/vsock", tests, NULL, NULL);
}
