/*
 * tests/net/bench_net.c - `make bench-net`: the cost of a userspace
 * virtio-net device (no vhost-net) on this host, in one run, inside network
 * namespaces this program makes (the host's network is not touched):
 *
 *   veth     kernel UDP between two namespaces over a veth pair (baseline)
 *   tap      1514-byte UDP frames written straight into a TAP by this process
 *   device   the same frames from a simulated guest's tx ring through the
 *            virtio-net device (vmm/virtio/net/net.c) into the TAP
 *
 * A UDP socket behind each path counts the payload that arrived. There is
 * no guest kernel here (KVM-PVM cannot boot Linux): the device row is the
 * device's own cost per frame, without exits or a guest TCP stack. Needs
 * root. Prints a table with ratios against veth and against the bare TAP.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/vmm/virtio/sim_driver.h"
#include "vmm/virtio/net/tap.h"
#include "vmm/virtio/net/net.h"

#define PAYLOAD 1472u
#define FRAME   (14u + 20u + 8u + PAYLOAD)
#define SECONDS 1.0
#define RING    256u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void run(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "bench-net: '%s' failed\n", cmd);
        exit(1);
    }
}

/* ---- the receiver: counts UDP payload bytes until told to stop ---- */

struct sink {
    int fd;
    volatile int stop;
    unsigned long long bytes, dgrams;
    pthread_t th;
};

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    static __thread uint8_t buf[65536];
    while (!s->stop) {
        ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            s->bytes += (unsigned long long)n;
            s->dgrams++;
        }
    }
    return NULL;
}

static void sink_start(struct sink *s, const char *ip, uint16_t port)
{
    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int big = 8 << 20;
    setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    struct timeval tv = {0, 100000};
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("bench-net: bind");
        exit(1);
    }
    pthread_create(&s->th, NULL, sink_main, s);
}

static void sink_stop(struct sink *s)
{
    usleep(150000); /* let the queues drain */
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->fd);
}

/* ---- frames ---- */

static uint16_t ip_csum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Ethernet + IPv4 + UDP (checksum 0: none) from 10.9.0.2 to 10.9.0.1:9999. */
static void build_frame(uint8_t *f, const uint8_t dst_mac[6])
{
    static const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
    memset(f, 0, FRAME);
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, src_mac, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    uint16_t tot = (uint16_t)(20 + 8 + PAYLOAD);
    ip[2] = (uint8_t)(tot >> 8);
    ip[3] = (uint8_t)tot;
    ip[8] = 64;
    ip[9] = 17;
    uint8_t src[4] = {10, 9, 0, 2}, dst[4] = {10, 9, 0, 1};
    memcpy(ip + 12, src, 4);
    memcpy(ip + 16, dst, 4);
    uint16_t c = ip_csum(ip, 20);
    ip[10] = (uint8_t)(c >> 8);
    ip[11] = (uint8_t)c;
    uint8_t *udp = ip + 20;
    udp[0] = 0x30, udp[1] = 0x39; /* 12345 */
    udp[2] = 0x27, udp[3] = 0x0f; /* 9999 */
    udp[4] = (uint8_t)((8 + PAYLOAD) >> 8);
    udp[5] = (uint8_t)(8 + PAYLOAD);
    for (unsigned i = 0; i < PAYLOAD; i++)
        udp[8 + i] = (uint8_t)i;
}

struct result {
    const char *name;
    double secs;
    unsigned long long bytes, dgrams;
    unsigned long long sent; /* datagrams or frames handed to the path */
};

static void print_row(const struct result *r, const struct result *veth, const struct result *tap)
{
    double mbs = (double)r->bytes / 1e6 / r->secs;
    printf("%-48s %8.1f %10.0f %9.1f%% %8.2f %7.2f\n", r->name, mbs, (double)r->dgrams / r->secs,
           r->sent ? 100.0 * (double)r->dgrams / (double)r->sent : 0.0,
           mbs / ((double)veth->bytes / 1e6 / veth->secs),
           mbs / ((double)tap->bytes / 1e6 / tap->secs));
}

/* ---- the three paths ---- */

static void bench_veth(struct result *r)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "ip netns add bnb-%d && ip link add bva type veth peer name bvb netns bnb-%d && "
             "ip addr add 10.9.1.1/24 dev bva && ip link set bva up && "
             "ip -n bnb-%d addr add 10.9.1.2/24 dev bvb && ip -n bnb-%d link set bvb up",
             (int)getpid(), (int)getpid(), (int)getpid(), (int)getpid());
    run(cmd);
    struct sink s;
    sink_start(&s, "10.9.1.1", 9998);
    snprintf(cmd, sizeof(cmd), "/var/run/netns/bnb-%d", (int)getpid());
    int nsfd = open(cmd, O_RDONLY | O_CLOEXEC);
    int cnt[2];
    if (pipe(cnt) != 0)
        exit(1);
    pid_t pid = fork();
    if (pid == 0) { /* the sender, in the other namespace */
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
            _exit(1);
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9998)};
        inet_pton(AF_INET, "10.9.1.1", &a.sin_addr);
        static uint8_t buf[PAYLOAD];
        unsigned long long sent = 0;
        double end = now_s() + SECONDS;
        while (now_s() < end)
            for (int i = 0; i < 64; i++)
                sent += sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&a, sizeof(a)) > 0;
        _exit(write(cnt[1], &sent, sizeof(sent)) == sizeof(sent) ? 0 : 1);
    }
    double t0 = now_s();
    close(cnt[1]);
    if (read(cnt[0], &r->sent, sizeof(r->sent)) != sizeof(r->sent))
        r->sent = 0;
    close(cnt[0]);
    waitpid(pid, NULL, 0);
    r->secs = now_s() - t0;
    sink_stop(&s);
    r->bytes = s.bytes;
    r->dgrams = s.dgrams;
    close(nsfd);
    snprintf(cmd, sizeof(cmd), "ip link del bva; ip netns del bnb-%d", (int)getpid());
    run(cmd);
}

static void bench_tap(int tap, const uint8_t *frame, struct result *r)
{
    struct sink s;
    sink_start(&s, "10.9.0.1", 9999);
    double t0 = now_s(), end = t0 + SECONDS;
    while (now_s() < end)
        for (int i = 0; i < 64; i++)
            r->sent += write(tap, frame, FRAME) == (ssize_t)FRAME;
    r->secs = now_s() - t0;
    sink_stop(&s);
    r->bytes = s.bytes;
    r->dgrams = s.dgrams;
}

static void bench_device(int tap, const uint8_t *frame, struct result *r)
{
    static struct sim sm;
    static struct virtio_mmio m;
    struct virtio_net *net;
    struct simq q[3];
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x02};
    sim_init(&sm);
    if (virtio_mmio_init(&m, &virtio_net_ops, &sm.mem, sim_irq, &sm) ||
        virtio_net_create(&m.transport, tap, mac, &net)) {
        fprintf(stderr, "bench-net: device setup failed\n");
        exit(1);
    }
    virtio_mmio_attach_dev(&m, net);
    for (unsigned i = 0; i < 3; i++)
        simq_layout(&q[i], i, (uint16_t)RING);
    if (mmio_bring_up(&m, q, 3, 0) != 0xf) {
        fprintf(stderr, "bench-net: bring-up failed\n");
        exit(1);
    }
    uint64_t buf = sim_alloc(&sm, NET_HDR_SIZE + FRAME);
    memcpy((uint8_t *)sim_hva(&sm, buf) + NET_HDR_SIZE, frame, FRAME);
    struct sink s;
    sink_start(&s, "10.9.0.1", 9999);
    uint16_t posted = 0;
    double t0 = now_s(), end = t0 + SECONDS;
    while (now_s() < end) {
        uint16_t used = sim_used_idx(&sm, &q[1]);
        while ((uint16_t)(posted - used) < RING) {
            uint16_t d = posted % RING;
            sim_desc(&sm, q[1].desc, d, buf, NET_HDR_SIZE + FRAME, 0, 0);
            sim_avail(&sm, &q[1], d);
            posted++;
        }
        mmio_wr(&m, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
        struct pollfd p = {.fd = virtio_net_host_fd(net), .events = POLLIN};
        if (poll(&p, 1, 0) == 1)
            virtio_net_host_process(net);
    }
    r->secs = now_s() - t0;
    sink_stop(&s);
    r->bytes = s.bytes;
    r->dgrams = s.dgrams;
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    r->sent = st.tx_packets;
    virtio_net_destroy(net); /* closes the TAP */
    virtio_mmio_destroy(&m);
    sim_free(&sm);
}

int main(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "bench-net: needs root (network namespaces, a TAP)\n");
        return 1;
    }
    if (unshare(CLONE_NEWNET) != 0) {
        perror("bench-net: unshare(CLONE_NEWNET)");
        return 1;
    }
    run("ip link set lo up");
    int tap;
    if (tap_open("bt0", &tap) || tap_set_up("bt0")) {
        perror("bench-net: TAP bt0");
        return 1;
    }
    run("ip addr add 10.9.0.1/24 dev bt0");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "bt0");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (ioctl(s, SIOCGIFHWADDR, &ifr) != 0)
        return 1;
    close(s);
    static uint8_t frame[FRAME];
    build_frame(frame, (const uint8_t *)ifr.ifr_hwaddr.sa_data);

    struct result veth = {.name = "veth: kernel UDP between two namespaces"},
                  bare = {.name = "TAP: frames written by this process"},
                  dev = {.name = "virtio-net: sim guest tx ring -> device -> TAP"};
    bench_veth(&veth);
    bench_tap(tap, frame, &bare);
    bench_device(tap, frame, &dev);
    printf("bench-net: %u-byte UDP payloads (%u-byte frames), %.1f s each, received bytes\n",
           PAYLOAD, FRAME, SECONDS);
    printf("%-48s %8s %10s %10s %8s %7s\n", "path", "MB/s", "frames/s", "delivered", "vs veth",
           "vs TAP");
    print_row(&veth, &veth, &bare);
    print_row(&bare, &veth, &bare);
    print_row(&dev, &veth, &bare);
    return 0;
}
