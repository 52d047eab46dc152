/*
 * broker/config_cluster.c - parsing and checking [cluster] (config_cluster.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker/config_cluster.h"
#include "common/err.h"
#include "common/errmsg.h"

static int copy_out(const char *value, void *field, size_t cap, char *err, size_t errsz)
{
    size_t n = strlen(value);
    if (n >= cap)
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "too long");
    memcpy(field, value, n + 1);
    return 0;
}

int ccfg_parse_etcd(const char *value, void *field, char *err, size_t errsz)
{
    unsigned n = 0;
    for (const char *p = value + strspn(value, " "); *p; p += strspn(p, " ")) {
        size_t l = strcspn(p, " ");
        int https = strncmp(p, "https://", 8) == 0;
        if ((!https && strncmp(p, "http://", 7) != 0) || l < 9 || l > 200 || ++n > 8)
            return errmsg(err, errsz, BURROW_ERR_FORMAT,
                          "'%.*s' is not an http:// or https:// URL (at most 8)",
                          (int)(l < 60 ? l : 60), p);
        for (size_t i = 0; i < l; i++)
            if (p[i] <= ' ' || p[i] > '~' || p[i] == '"' || p[i] == '\\')
                return errmsg(err, errsz, BURROW_ERR_FORMAT,
                              "a URL has a character it may not have");
        p += l;
    }
    return copy_out(value, field, CONFIG_STR_MAX, err, errsz);
}

int ccfg_name_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 63 && s[0] != '-' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

int ccfg_parse_name(const char *value, void *field, char *err, size_t errsz)
{
    if (value[0] && !ccfg_name_ok(value))
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "1-63 of [a-z0-9-], not starting with '-'");
    return copy_out(value, field, CONFIG_CLUSTER_NAME_MAX, err, errsz);
}

int ccfg_parse_peer_listen(const char *value, void *field, char *err, size_t errsz)
{
    struct config_peer_listen tmp;
    memset(&tmp, 0, sizeof(tmp));
    size_t n = strlen(value);
    if (n >= sizeof(tmp.text))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "too long");
    memcpy(tmp.text, value, n + 1);
    if (n) {
        const char *colon = strrchr(value, ':'), *host = value;
        size_t hlen = colon ? (size_t)(colon - value) : 0;
        unsigned char a[16];
        uint64_t port;
        if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
            host++;
            hlen -= 2;
        }
        if (!colon || hlen == 0 || hlen >= sizeof(tmp.addr) ||
            config_parse_u64(colon + 1, 1, 65535, &port) != 0)
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "ADDRESS:PORT");
        memcpy(tmp.addr, host, hlen);
        static const unsigned char zero[16];
        int v4 = inet_pton(AF_INET, tmp.addr, a) == 1,
            v6 = !v4 && inet_pton(AF_INET6, tmp.addr, a) == 1;
        if ((!v4 && !v6) || memcmp(a, zero, v4 ? 4 : 16) == 0)
            return errmsg(err, errsz, BURROW_ERR_FORMAT,
                          "a numeric address other hosts can reach (not 0.0.0.0 or ::)");
        tmp.port = (uint16_t)port;
    }
    memcpy(field, &tmp, sizeof(tmp));
    return 0;
}

int ccfg_parse_nbd(const char *value, void *field, char *err, size_t errsz)
{
    if (value[0]) {
        const char *h = value + 6;
        size_t hl = strcspn(h, ":");
        uint64_t port;
        if (strncmp(value, "nbd://", 6) != 0 || hl == 0 || hl > 253 ||
            strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != hl ||
            (h[hl] == ':' && config_parse_u64(h + hl + 1, 1, 65535, &port) != 0))
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "nbd://HOST[:PORT]");
    }
    return copy_out(value, field, CONFIG_STR_MAX, err, errsz);
}

int ccfg_parse_prefix(const char *value, void *field, char *err, size_t errsz)
{
    size_t n = strlen(value);
    if (n < 1 || n > 63 || value[0] != '/' || value[n - 1] != '/' || strstr(value, "..") ||
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != n)
        return errmsg(err, errsz, BURROW_ERR_FORMAT,
                      "1-63 of [A-Za-z0-9/._-], starting and ending with '/'");
    return copy_out(value, field, CONFIG_CLUSTER_NAME_MAX, err, errsz);
}

int ccfg_finish(struct burrow_config *cfg, char *err, size_t errsz)
{
    const char *missing = NULL;
    if (!cluster_enabled(cfg))
        return 0;
    if (!cfg->cluster.peer_listen.text[0])
        missing = "peer_listen";
    else if (!cfg->cluster.home_nbd[0])
        missing = "home_nbd";
    if (missing)
        return errmsg(err, errsz, BURROW_ERR_INVALID,
                      "[cluster] etcd is set but [cluster] %s is not (a cluster needs both; "
                      "docs/cluster.md)",
                      missing);
    if (!!cfg->cluster.etcd_cert[0] != !!cfg->cluster.etcd_key[0])
        return errmsg(err, errsz, BURROW_ERR_INVALID,
                      "[cluster] etcd_cert and etcd_key go together");
    return 0;
}

int ccfg_host_name(const struct burrow_config *cfg, char *out, size_t outsz)
{
    char h[256];
    if (cfg->cluster.name[0])
        return (size_t)snprintf(out, outsz, "%s", cfg->cluster.name) < outsz ? 0
                                                                             : BURROW_ERR_TOO_LARGE;
    if (gethostname(h, sizeof(h)) != 0)
        return BURROW_ERR_SYSTEM;
    h[sizeof(h) - 1] = 0;
    h[strcspn(h, ".")] = 0;
    if (!ccfg_name_ok(h))
        return BURROW_ERR_INVALID;
    return (size_t)snprintf(out, outsz, "%s", h) < outsz ? 0 : BURROW_ERR_TOO_LARGE;
}

int ccfg_nbd_server(const struct burrow_config *cfg, char *host, size_t hostsz, char *port,
                    size_t portsz)
{
    const char *h = cfg->cluster.home_nbd;
    if (strncmp(h, "nbd://", 6) != 0)
        return BURROW_ERR_INVALID;
    h += 6;
    size_t hl = strcspn(h, ":");
    if (hl >= hostsz)
        return BURROW_ERR_TOO_LARGE;
    memcpy(host, h, hl);
    host[hl] = 0;
    snprintf(port, portsz, "%s", h[hl] == ':' ? h + hl + 1 : "10809");
    return 0;
}
