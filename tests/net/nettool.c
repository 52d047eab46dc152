/*
 * tests/net/nettool.c - the tiny client/server the network tier runs in its
 * namespaces (no socat/nc on the test machines):
 *
 *   nettool serve-tcp PORT        for each connection: read to EOF, answer
 *                                 "<sha256 hex> <peer ip>\n"
 *   nettool send-tcp IP PORT BYTES MS   send BYTES deterministic bytes, check
 *                                 the server's digest; prints the peer ip
 *                                 the server saw, and MB/s on stderr
 *   nettool serve-udp PORT        echo every datagram
 *   nettool send-udp IP PORT MS [FROM]  one 1200-byte datagram (from source
 *                                 address FROM, which must be on an interface),
 *                                 wait for the echo
 *   nettool count-udp PORT MS     count the datagrams that arrive in MS ms,
 *                                 print the count
 *   nettool arp IFACE SPA TPA     send one broadcast ARP request "who has TPA,
 *                                 tell SPA" from IFACE's own MAC (a raw frame:
 *                                 SPA may be any address, as a spoofer's)
 *   nettool frame IFACE TYPE      send one broadcast frame of ethertype TYPE
 *                                 (hex, e.g. 86dd) from IFACE's own MAC
 *   nettool frame-count IFACE TYPE SRCMAC MS   count the frames of ethertype
 *                                 TYPE from SRCMAC that IFACE receives in MS ms,
 *                                 print the count
 *
 * Client exit codes: 0 ok, 2 refused or unreachable (an RST or an ICMP
 * error came back), 3 timeout (silently dropped), 1 anything else.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fail_code(int e)
{
    return (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EACCES ||
            e == EPERM || e == ECONNRESET)
               ? 2
           : e == ETIMEDOUT ? 3
                            : 1;
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", ip);
        exit(1);
    }
    return a;
}

static int wait_fd(int fd, short ev, int ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    int r = poll(&p, 1, ms);
    return r == 1 ? 0 : -1;
}

static void fill(uint8_t *p, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (off + i) * 0x9e3779b97f4a7c15ull;
        p[i] = (uint8_t)(x >> 56);
    }
}

static int serve_tcp(const char *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = addr_of("0.0.0.0", port);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 16))
        return perror("serve-tcp"), 1;
    for (;;) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        int c = accept(s, (struct sockaddr *)&peer, &pl);
        if (c < 0)
            continue;
        crypto_hash_sha256_state h;
        crypto_hash_sha256_init(&h);
        static uint8_t buf[65536];
        ssize_t n;
        while ((n = read(c, buf, sizeof(buf))) > 0)
            crypto_hash_sha256_update(&h, buf, (size_t)n);
        uint8_t d[32];
        char hex[65], line[128], ip[INET_ADDRSTRLEN];
        crypto_hash_sha256_final(&h, d);
        sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
        inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
        int len = snprintf(line, sizeof(line), "%s %s\n", hex, ip);
        if (write(c, line, (size_t)len) != len)
            perror("write");
        close(c);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int send_tcp(const char *ip, const char *port, const char *bytes_s, const char *ms_s)
{
    uint64_t total = strtoull(bytes_s, NULL, 10);
    int ms = atoi(ms_s);
    struct sockaddr_in a = addr_of(ip, port);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
        return fail_code(errno);
    if (wait_fd(s, POLLOUT, ms))
        return 3;
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err)
        return fail_code(err);
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    static uint8_t buf[65536];
    double t0 = now_s();
    for (uint64_t off = 0; off < total;) {
        size_t n = total - off < sizeof(buf) ? (size_t)(total - off) : sizeof(buf);
        fill(buf, n, off);
        crypto_hash_sha256_update(&h, buf, n);
        size_t done = 0;
        while (done < n) {
            if (wait_fd(s, POLLOUT, ms))
                return 3;
            ssize_t w = write(s, buf + done, n - done);
            if (w < 0 && errno != EAGAIN)
                return fail_code(errno);
            if (w > 0)
                done += (size_t)w;
        }
        off += n;
    }
    shutdown(s, SHUT_WR);
    char line[160];
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        if (wait_fd(s, POLLIN, ms))
            return 3;
        ssize_t n = read(s, line + got, sizeof(line) - 1 - got);
        if (n < 0 && errno == EAGAIN)
            continue;
        if (n < 0)
            return fail_code(errno);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    double secs = now_s() - t0;
    line[got] = '\0';
    uint8_t d[32];
    char hex[65];
    crypto_hash_sha256_final(&h, d);
    sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
    if (got < 66 || strncmp(line, hex, 64) != 0) {
        fprintf(stderr, "digest mismatch: sent %s, server said %s\n", hex, line);
        return 1;
    }
    printf("%s", line + 65); /* the peer address the server saw */
    fprintf(stderr, "%.1f MB/s\n", (double)total / 1e6 / (secs > 0 ? secs : 1e-9));
    return 0;
}

static int serve_udp(const char *port)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr_of("0.0.0.0", port);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)))
        return perror("serve-udp"), 1;
    for (;;) {
        static uint8_t buf[65536];
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        ssize_t n = recvfrom(s, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &pl);
        if (n > 0)
            sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&peer, pl);
    }
}

static int send_udp(const char *ip, const char *port, const char *ms_s, const char *from)
{
    struct sockaddr_in a = addr_of(ip, port);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (from) {
        struct sockaddr_in f = addr_of(from, "0");
        if (bind(s, (struct sockaddr *)&f, sizeof(f)) < 0)
            return perror("bind"), 1;
    }
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) /* ICMP errors reach a connected socket */
        return fail_code(errno);
    uint8_t out[1200], in[2000];
    fill(out, sizeof(out), 7);
    if (send(s, out, sizeof(out), 0) < 0)
        return fail_code(errno);
    if (wait_fd(s, POLLIN, atoi(ms_s)))
        return 3;
    ssize_t n = recv(s, in, sizeof(in), 0);
    if (n < 0)
        return fail_code(errno);
    return n == (ssize_t)sizeof(out) && !memcmp(in, out, sizeof(out)) ? 0 : 1;
}

static int count_udp(const char *port, const char *ms_s)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0), n = 0;
    struct sockaddr_in a = addr_of("0.0.0.0", port);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)))
        return perror("count-udp"), 1;
    double end = now_s() + atoi(ms_s) / 1000.0;
    for (double left; (left = end - now_s()) > 0;) {
        static uint8_t buf[65536];
        if (wait_fd(s, POLLIN, (int)(left * 1000) + 1) == 0 && recv(s, buf, sizeof(buf), 0) >= 0)
            n++;
    }
    printf("%d\n", n);
    return 0;
}

/* A raw socket on iface for ethertype type: its fd, index and MAC, or -1. */
static int raw_socket(const char *iface, uint16_t type, int *ifindex, uint8_t mac[6])
{
    int s = socket(AF_PACKET, SOCK_RAW, htons(type));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
    /* (Both answers share one union: take the MAC before asking for the index.) */
    if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
        perror(iface);
        return -1;
    }
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
        perror(iface);
        return -1;
    }
    *ifindex = ifr.ifr_ifindex;
    struct sockaddr_ll at = {
        .sll_family = AF_PACKET, .sll_protocol = htons(type), .sll_ifindex = ifr.ifr_ifindex};
    if (bind(s, (struct sockaddr *)&at, sizeof(at)) < 0) {
        perror("bind");
        return -1;
    }
    return s;
}

/* Broadcast frame f (len bytes, the header is filled in here) from iface's own MAC. */
static int send_frame(const char *iface, uint16_t type, uint8_t *f, size_t len)
{
    int ifindex;
    uint8_t mac[6];
    int s = raw_socket(iface, type, &ifindex, mac);
    if (s < 0)
        return 1;
    memset(f, 0xff, 6);
    memcpy(f + 6, mac, 6);
    f[12] = (uint8_t)(type >> 8), f[13] = (uint8_t)type;
    if (type == ETH_P_ARP)
        memcpy(f + 22, mac, 6); /* the ARP sender's hardware address is its own too */
    struct sockaddr_ll to = {.sll_family = AF_PACKET,
                             .sll_protocol = htons(type),
                             .sll_ifindex = ifindex,
                             .sll_halen = 6};
    memset(to.sll_addr, 0xff, 6);
    return sendto(s, f, len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)len
               ? 0
               : (perror("sendto"), 1);
}

/* A broadcast ARP request from iface's MAC with any sender address (raw: the kernel would not). */
static int send_arp(const char *iface, const char *spa, const char *tpa)
{
    uint8_t f[42];
    struct in_addr sa, ta;
    if (inet_pton(AF_INET, spa, &sa) != 1 || inet_pton(AF_INET, tpa, &ta) != 1)
        return 1;
    f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0; /* Ethernet, IPv4 */
    f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;    /* request */
    memcpy(f + 28, &sa, 4);
    memset(f + 32, 0, 6);
    memcpy(f + 38, &ta, 4);
    return send_frame(iface, ETH_P_ARP, f, sizeof(f));
}

static int frame(const char *iface, const char *type_hex)
{
    uint8_t f[64];
    memset(f, 0, sizeof(f));
    return send_frame(iface, (uint16_t)strtoul(type_hex, NULL, 16), f, sizeof(f));
}

static int frame_count(const char *iface, const char *type_hex, const char *src, const char *ms_s)
{
    int ifindex, n = 0;
    uint8_t mac[6], from[6], buf[2048];
    if (sscanf(src, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &from[0], &from[1], &from[2], &from[3],
               &from[4], &from[5]) != 6)
        return 1;
    int s = raw_socket(iface, (uint16_t)strtoul(type_hex, NULL, 16), &ifindex, mac);
    if (s < 0)
        return 1;
    double end = now_s() + atoi(ms_s) / 1000.0;
    for (double left; (left = end - now_s()) > 0;) {
        if (wait_fd(s, POLLIN, (int)(left * 1000) + 1) != 0)
            continue;
        ssize_t k = recv(s, buf, sizeof(buf), 0);
        n += k >= 14 && memcmp(buf + 6, from, 6) == 0;
    }
    printf("%d\n", n);
    return 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && !strcmp(argv[1], "serve-tcp"))
        return serve_tcp(argv[2]);
    if (argc == 6 && !strcmp(argv[1], "send-tcp"))
        return send_tcp(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 3 && !strcmp(argv[1], "serve-udp"))
        return serve_udp(argv[2]);
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "send-udp"))
        return send_udp(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    if (argc == 4 && !strcmp(argv[1], "count-udp"))
        return count_udp(argv[2], argv[3]);
    if (argc == 5 && !strcmp(argv[1], "arp"))
        return send_arp(argv[2], argv[3], argv[4]);
    if (argc == 4 && !strcmp(argv[1], "frame"))
        return frame(argv[2], argv[3]);
    if (argc == 6 && !strcmp(argv[1], "frame-count"))
        return frame_count(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: see tests/net/nettool.c\n");
    return 1;
}
