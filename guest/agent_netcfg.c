/*
 * guest/agent_netcfg.c - the identity's network step (PROTO_ID_F_NET): the
 * fork's MAC, IPv4 address and default route on the VM's Ethernet
 * interface, and its name servers in ETC/resolv.conf, before READY.
 *
 * The interface is eth0, or else the first non-loopback interface. Plain
 * ioctls (no netlink library in a static musl binary). Over a unix control
 * socket (tests, the sandbox backend) the agent refuses unless it is in a
 * network namespace other than PID 1's, so a test can never reconfigure the
 * host's network.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/agent.h"

static int same_netns_as_pid1(void)
{
    struct stat a, b;
    if (stat("/proc/self/ns/net", &a) < 0 || stat("/proc/1/ns/net", &b) < 0)
        return 1; /* cannot tell: assume the worst */
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* eth0 if it exists, else the first interface that is not lo. */
static int pick_interface(char name[IF_NAMESIZE])
{
    struct if_nameindex *all = if_nameindex(), *p;
    int found = 0;
    if (!all)
        return -1;
    for (p = all; p->if_index; p++)
        if (!strcmp(p->if_name, "eth0"))
            found = 1;
    for (p = all; !found && p->if_index; p++)
        if (strcmp(p->if_name, "lo") != 0) {
            snprintf(name, IF_NAMESIZE, "%s", p->if_name);
            found = 2;
        }
    if (found == 1)
        snprintf(name, IF_NAMESIZE, "eth0");
    if_freenameindex(all);
    return found ? 0 : -1;
}

static void set_sin(struct sockaddr *sa, uint32_t host_order)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(host_order)};
    memcpy(sa, &sin, sizeof(sin));
}

static int if_req(int s, unsigned long req, const char *ifn, struct ifreq *ifr)
{
    snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifn);
    return ioctl(s, req, ifr);
}

static int set_flags(int s, const char *ifn, int up)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (if_req(s, SIOCGIFFLAGS, ifn, &ifr) < 0)
        return -1;
    if (up)
        ifr.ifr_flags |= IFF_UP;
    else
        ifr.ifr_flags &= ~IFF_UP;
    return if_req(s, SIOCSIFFLAGS, ifn, &ifr);
}

/* The MAC; a driver without live address change needs the link down for it. */
static int set_mac(int s, const char *ifn, const uint8_t mac[6])
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
    memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
    if (if_req(s, SIOCSIFHWADDR, ifn, &ifr) == 0)
        return 0;
    if (errno != EBUSY || set_flags(s, ifn, 0) < 0)
        return -1;
    return if_req(s, SIOCSIFHWADDR, ifn, &ifr);
}

static int set_route(int s, const char *ifn, uint32_t gateway)
{
    struct rtentry rt;
    char dev[IF_NAMESIZE];
    memset(&rt, 0, sizeof(rt));
    snprintf(dev, sizeof(dev), "%s", ifn);
    set_sin(&rt.rt_dst, 0);
    set_sin(&rt.rt_genmask, 0);
    set_sin(&rt.rt_gateway, gateway);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = dev;
    while (ioctl(s, SIOCDELRT, &rt) == 0) /* an old default route (agent restarted) */
        ;
    return ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST ? -1 : 0;
}

/* ETC/resolv.conf, written atomically. */
static int write_resolv(const char *etc, const struct proto_net *n)
{
    char path[AGENT_PATH_MAX + 32], tmp[AGENT_PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/resolv.conf", etc);
    snprintf(tmp, sizeof(tmp), "%s/.resolv.conf.burrow", etc);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    char text[256];
    int len = snprintf(text, sizeof(text), "# written by burrow-agent from the VM's identity\n");
    for (uint32_t i = 0; i < n->nr_dns && i < PROTO_DNS_MAX; i++) {
        char a[INET_ADDRSTRLEN];
        struct in_addr in = {.s_addr = htonl(n->dns[i])};
        inet_ntop(AF_INET, &in, a, sizeof(a));
        len += snprintf(text + len, sizeof(text) - (size_t)len, "nameserver %s\n", a);
    }
    int ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

uint32_t netcfg_apply(const struct agent_config *cfg, const struct proto_identity *id, char *text,
                      size_t textsz)
{
    const struct proto_net *n = &id->net;
    char ifn[IF_NAMESIZE];
    if (!(id->flags & PROTO_ID_F_NET)) {
        snprintf(text, textsz, "no network in the identity");
        return PROTO_STEP_SKIPPED;
    }
    if (cfg->control.kind == ADDR_UNIX && same_netns_as_pid1()) {
        snprintf(text, textsz,
                 "refusing to configure the host's network: not in a network "
                 "namespace of its own");
        return PROTO_STEP_FAILED;
    }
    if (n->prefix < 1 || n->prefix > 32 || n->addr == 0 || (n->mac[0] & 1)) {
        snprintf(text, textsz, "invalid address, prefix or MAC");
        return PROTO_STEP_FAILED;
    }
    if (pick_interface(ifn) < 0) {
        snprintf(text, textsz, "no network interface");
        return PROTO_STEP_FAILED;
    }
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        snprintf(text, textsz, "socket: %s", strerror(errno));
        return PROTO_STEP_FAILED;
    }
    struct ifreq ifr;
    const char *what = "MAC";
    int r = set_mac(s, ifn, n->mac);
    if (r == 0) {
        what = "address";
        memset(&ifr, 0, sizeof(ifr));
        set_sin(&ifr.ifr_addr, n->addr);
        r = if_req(s, SIOCSIFADDR, ifn, &ifr);
    }
    if (r == 0) {
        what = "netmask";
        memset(&ifr, 0, sizeof(ifr));
        set_sin(&ifr.ifr_netmask, n->prefix == 32 ? ~0u : ~(~0u >> n->prefix));
        r = if_req(s, SIOCSIFNETMASK, ifn, &ifr);
    }
    if (r == 0) {
        what = "link up";
        r = set_flags(s, ifn, 1);
    }
    if (r == 0 && n->gateway) {
        what = "default route";
        r = set_route(s, ifn, n->gateway);
    }
    int e = errno;
    close(s);
    if (r < 0) {
        snprintf(text, textsz, "%s %s: %s", ifn, what, strerror(e));
        return PROTO_STEP_FAILED;
    }
    if (n->nr_dns && write_resolv(cfg->etc, n) < 0) {
        snprintf(text, textsz, "%s/resolv.conf: %s", cfg->etc, strerror(errno));
        return PROTO_STEP_FAILED;
    }
    char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
    struct in_addr ia = {.s_addr = htonl(n->addr)}, ga = {.s_addr = htonl(n->gateway)};
    inet_ntop(AF_INET, &ia, a, sizeof(a));
    inet_ntop(AF_INET, &ga, g, sizeof(g));
    snprintf(text, textsz, "%s %02x:%02x:%02x:%02x:%02x:%02x %s/%u via %s, %u name servers", ifn,
             n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5], a,
             (unsigned)n->prefix, n->gateway ? g : "none", (unsigned)n->nr_dns);
    return PROTO_STEP_OK;
}
