/* vmm/virtio/net/tap.c - TAP devices for virtio-net backends (see tap.h). */
#include "vmm/virtio/net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"

bool tap_name_valid(const char *name)
{
    size_t n = strnlen(name, TAP_NAME_MAX + 1);
    if (n == 0 || n > TAP_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static void ifr_set_name(struct ifreq *ifr, const char *name)
{
    memset(ifr, 0, sizeof(*ifr));
    memcpy(ifr->ifr_name, name, strlen(name)); /* valid names fit with their NUL */
}

int tap_open(const char *name, int *fd_out)
{
    if (!tap_name_valid(name))
        return BURROW_ERR_INVALID;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    struct ifreq ifr;
    ifr_set_name(&ifr, name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return BURROW_ERR_SYSTEM;
    }
    *fd_out = fd;
    return 0;
}

/* An ioctl on a throwaway AF_INET socket (the interface ioctls need one). */
static int if_ioctl(unsigned long req, struct ifreq *ifr)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return BURROW_ERR_SYSTEM;
    int r = ioctl(s, req, ifr);
    int e = errno;
    close(s);
    errno = e;
    return r < 0 ? BURROW_ERR_SYSTEM : 0;
}

int tap_set_up(const char *name)
{
    if (!tap_name_valid(name))
        return BURROW_ERR_INVALID;
    struct ifreq ifr;
    ifr_set_name(&ifr, name);
    int r = if_ioctl(SIOCGIFFLAGS, &ifr);
    if (r)
        return r;
    ifr.ifr_flags |= IFF_UP;
    return if_ioctl(SIOCSIFFLAGS, &ifr);
}

int tap_attach_bridge(const char *name, const char *bridge)
{
    if (!tap_name_valid(name) || !tap_name_valid(bridge))
        return BURROW_ERR_INVALID;
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return errno == ENODEV ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    struct ifreq ifr;
    ifr_set_name(&ifr, bridge);
    ifr.ifr_ifindex = (int)idx;
    return if_ioctl(SIOCBRADDIF, &ifr);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tap_create(const char *name, const char *bridge, int *fd_out, char *why, size_t whysz)
{
    int fd = -1;
    const char *step = "open";
    int r = tap_open(name, &fd);
    if (r == 0 && (r = tap_set_up(name)) != 0)
        step = "set up";
    else if (r == 0 && bridge && bridge[0] && (r = tap_attach_bridge(name, bridge)) != 0)
        step = "add to the bridge";
    if (r == 0) {
        *fd_out = fd;
        return 0;
    }
    int e = errno;
    if (fd >= 0)
        close(fd);
    return errmsg(why, whysz, r, "TAP %s%s%s: cannot %s: %s", name,
                  bridge && bridge[0] ? " on " : "", bridge ? bridge : "", step,
                  r == BURROW_ERR_SYSTEM ? strerror(e) : burrow_strerror(r));
}

int net_mac_parse(const char *s, uint8_t mac[6])
{
    uint8_t m[6];
    for (unsigned i = 0; i < 6; i++) {
        const char *p = s + i * 3;
        int hi = hex_digit(p[0]), lo = hi < 0 ? -1 : hex_digit(p[1]);
        if (hi < 0 || lo < 0 || p[2] != (i == 5 ? '\0' : ':'))
            return BURROW_ERR_FORMAT;
        m[i] = (uint8_t)(hi << 4 | lo);
    }
    if (m[0] & 1) /* multicast: not a station address */
        return BURROW_ERR_FORMAT;
    memcpy(mac, m, 6);
    return 0;
}

void net_mac_format(const uint8_t mac[6], char *out, size_t outsz)
{
    snprintf(out, outsz, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}
