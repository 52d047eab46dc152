/*
 * broker/config.c - burrow.ini: the key table, defaults, and loading.
 *
 * The generic engine (INI reading, value forms) is in config_ini.c; this
 * file only says which keys exist. To add a key: a field in
 * struct burrow_config, a row below, a line in etc/burrow.ini and
 * docs/config.md.
 */
#include "broker/config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "broker/authflow.h"
#include "broker/cli.h"
#include "broker/config_cluster.h"
#include "broker/envpolicy.h"
#include "broker/sshalgo.h"
#include "common/err.h"
#include "common/errmsg.h"

#define CFG_FIELD(member)                                                                          \
    offsetof(struct burrow_config, member), sizeof(((struct burrow_config *)0)->member)

/* RFC 1918, link-local (cloud metadata 169.254.169.254), CGNAT, loopback, "this network",
 * multicast, reserved. */
#define NET_DEFAULT_DENY                                                                           \
    "10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 169.254.0.0/16 100.64.0.0/10 127.0.0.0/8 "            \
    "0.0.0.0/8 224.0.0.0/4 240.0.0.0/4"

static const char *const backend_names[] = {"auto", "kvm", "sandbox", NULL};
static const char *const seccomp_names[] = {"enforce", "log", NULL};
static const char *const tcp_fwd_names[] = {"yes", "no", "local", "remote", NULL};

/* [ssh] listen: space-separated numeric addresses. */
static int parse_listen(const char *value, void *field, char *err, size_t errsz)
{
    struct config_listen *l = field;
    struct config_listen tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (strlen(value) >= sizeof(tmp.text))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "too long");
    memcpy(tmp.text, value, strlen(value) + 1);
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, " \t");
        if (tmp.n == CONFIG_LISTEN_MAX)
            return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "more than %d addresses",
                          CONFIG_LISTEN_MAX);
        if (n >= CONFIG_ADDR_MAX)
            return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "address too long");
        char *a = tmp.addr[tmp.n];
        memcpy(a, p, n);
        a[n] = '\0';
        unsigned char bin[16];
        if (inet_pton(AF_INET, a, bin) != 1 && inet_pton(AF_INET6, a, bin) != 1)
            return errmsg(err, errsz, BURROW_ERR_FORMAT,
                          "'%.*s' is not a numeric IPv4 or IPv6 address", (int)n, p);
        tmp.n++;
        p += n;
    }
    if (tmp.n == 0)
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "no address given");
    *l = tmp;
    return 0;
}

static int parse_startups(const char *value, void *field, char *err, size_t errsz)
{
    int r = config_parse_startups(value, field);
    if (r < 0)
        snprintf(err, errsz, "start <= full, rate <= 100");
    return r;
}

/* [ssh] kex / hostkey_algorithms / ciphers / macs: names libssh implements. */
static int parse_algos(enum sshalgo_kind kind, const char *value, void *field, char *err,
                       size_t errsz)
{
    int r = sshalgo_check(kind, value, err, errsz);
    if (r == 0)
        memcpy(field, value, strlen(value) + 1);
    return r;
}

static int parse_kex(const char *value, void *field, char *err, size_t errsz)
{
    return parse_algos(SSHALGO_KEX, value, field, err, errsz);
}

static int parse_hostkey_algos(const char *value, void *field, char *err, size_t errsz)
{
    return parse_algos(SSHALGO_HOSTKEY, value, field, err, errsz);
}

static int parse_ciphers(const char *value, void *field, char *err, size_t errsz)
{
    return parse_algos(SSHALGO_CIPHER, value, field, err, errsz);
}

static int parse_macs(const char *value, void *field, char *err, size_t errsz)
{
    return parse_algos(SSHALGO_MAC, value, field, err, errsz);
}

/* [ssh] accept_env: space-separated variable name patterns. */
static int parse_accept_env(const char *value, void *field, char *err, size_t errsz)
{
    int r = envpolicy_check(value, 0, err, errsz);
    if (r == 0)
        memcpy(field, value, strlen(value) + 1);
    return r;
}

/* [ssh] permit_user_environment: yes, no, or name patterns. */
static int parse_permit_user_env(const char *value, void *field, char *err, size_t errsz)
{
    int r = envpolicy_check(value, 1, err, errsz);
    if (r == 0)
        memcpy(field, value, strlen(value) + 1);
    return r;
}

/* [auth] methods: "any" or chains of methods (broker/authflow.h). */
static int parse_auth_methods(const char *value, void *field, char *err, size_t errsz)
{
    struct af_policy p = {0};
    int r = authflow_parse(value, &p, err, errsz);
    if (r == 0 && strlen(value) >= CONFIG_LIST_MAX)
        r = BURROW_ERR_TOO_LARGE;
    if (r == 0)
        memcpy(field, value, strlen(value) + 1);
    return r;
}

/* template: a template name, used as a directory name under templates/. */
static int parse_template_name(const char *value, void *field, char *err, size_t errsz)
{
    size_t n = strlen(value);
    if (n == 0 || n > 64 || value[0] == '.' || value[0] == '-' ||
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return errmsg(err, errsz, BURROW_ERR_FORMAT,
                      "1-64 of [A-Za-z0-9._-], not starting with '.' or '-'");
    memcpy(field, value, n + 1);
    return 0;
}

/* One "a.b.c.d/len" (len 0-32, no host bits set) into c. */
static int parse_one_cidr(const char *s, size_t n, struct config_cidr *c)
{
    char buf[24];
    if (n >= sizeof(buf))
        return BURROW_ERR_FORMAT;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    if (!slash)
        return BURROW_ERR_FORMAT;
    *slash = '\0';
    struct in_addr a;
    uint64_t len;
    if (inet_pton(AF_INET, buf, &a) != 1 || config_parse_u64(slash + 1, 0, 32, &len) < 0)
        return BURROW_ERR_FORMAT;
    uint32_t host = ntohl(a.s_addr);
    uint32_t mask = len ? ~0u << (32 - len) : 0;
    if (host & ~mask)
        return BURROW_ERR_INVALID;
    c->addr = host;
    c->len = (uint8_t)len;
    return 0;
}

/* [net] egress_allow / egress_deny: space-separated IPv4 networks (may be empty). */
static int parse_cidrs(const char *value, void *field, char *err, size_t errsz)
{
    struct config_cidrs tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (strlen(value) >= sizeof(tmp.text))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "too long");
    memcpy(tmp.text, value, strlen(value) + 1);
    for (const char *p = value; *p;) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        size_t n = strcspn(p, " \t");
        if (tmp.n == CONFIG_CIDR_MAX)
            return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "more than %d networks",
                          CONFIG_CIDR_MAX);
        int r = parse_one_cidr(p, n, &tmp.v[tmp.n]);
        if (r < 0)
            return errmsg(err, errsz, r,
                          "'%.*s' is not an IPv4 network a.b.c.d/len without host bits",
                          (int)(n < 40 ? n : 40), p);
        tmp.n++;
        p += n;
    }
    memcpy(field, &tmp, sizeof(tmp));
    return 0;
}

/* [net] subnet: exactly one network, /8 to /29 (room for the gateway and VMs). */
static int parse_subnet(const char *value, void *field, char *err, size_t errsz)
{
    struct config_cidrs tmp;
    int r = parse_cidrs(value, &tmp, err, errsz);
    if (r < 0)
        return r;
    if (tmp.n != 1 || tmp.v[0].len < 8 || tmp.v[0].len > 29)
        return errmsg(err, errsz, BURROW_ERR_RANGE, "one IPv4 network from /8 to /29");
    memcpy(field, &tmp, sizeof(tmp));
    return 0;
}

/* [net] dns: up to 3 space-separated IPv4 addresses (stored as /32 networks). */
static int parse_dns(const char *value, void *field, char *err, size_t errsz)
{
    struct config_cidrs tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (strlen(value) >= sizeof(tmp.text))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "too long");
    memcpy(tmp.text, value, strlen(value) + 1);
    for (const char *p = value; *p;) {
        p += strspn(p, " \t");
        if (!*p)
            break;
        size_t n = strcspn(p, " \t");
        char a[INET_ADDRSTRLEN];
        struct in_addr in;
        if (tmp.n == 3)
            return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "more than 3 addresses");
        if (n >= sizeof(a) || (memcpy(a, p, n), a[n] = '\0', inet_pton(AF_INET, a, &in) != 1))
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "'%.*s' is not an IPv4 address",
                          (int)(n < 40 ? n : 40), p);
        tmp.v[tmp.n++] = (struct config_cidr){.addr = ntohl(in.s_addr), .len = 32};
        p += n;
    }
    memcpy(field, &tmp, sizeof(tmp));
    return 0;
}

/* [net] bridge: a Linux interface name. */
static int parse_ifname(const char *value, void *field, char *err, size_t errsz)
{
    size_t n = strlen(value);
    if (n == 0 || n >= CONFIG_IFNAME || !strcmp(value, ".") || !strcmp(value, "..") ||
        strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "1-15 of [A-Za-z0-9._-]");
    memcpy(field, value, n + 1);
    return 0;
}

/* Loopback only: metrics name users and must not be served beyond the host. */
static int metrics_addr_loopback(const char *addr, size_t n)
{
    char a[INET6_ADDRSTRLEN];
    struct in_addr v4;
    struct in6_addr v6;
    if (n >= sizeof(a))
        return 0;
    memcpy(a, addr, n);
    a[n] = '\0';
    if (inet_pton(AF_INET, a, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, a, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

/* [metrics] listen: empty (off), ADDR:PORT with a loopback ADDR ([::1]:PORT), or a socket path. */
static int parse_metrics_listen(const char *value, void *field, char *err, size_t errsz)
{
    struct config_metrics_listen tmp;
    size_t n = strlen(value);
    memset(&tmp, 0, sizeof(tmp));
    if (n >= sizeof(tmp.text) || (value[0] == '/' && n >= sizeof(tmp.path)))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "too long");
    memcpy(tmp.text, value, n + 1);
    if (n > 0 && value[0] == '/') {
        if (config_check_abs_path(value) != 0)
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "not a clean absolute path");
        tmp.kind = METRICS_UNIX;
        memcpy(tmp.path, value, n + 1);
    } else if (n > 0) {
        const char *colon = strrchr(value, ':'), *host = value;
        size_t hlen = colon ? (size_t)(colon - value) : 0;
        if (host[0] == '[' && hlen >= 2 && host[hlen - 1] == ']') {
            host++;
            hlen -= 2;
        } else if (hlen && memchr(host, ':', hlen)) {
            hlen = 0; /* an IPv6 address needs brackets */
        }
        uint64_t port;
        if (!colon || hlen == 0 || config_parse_u64(colon + 1, 1, 65535, &port) != 0)
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "ADDRESS:PORT");
        if (!metrics_addr_loopback(host, hlen))
            return errmsg(err, errsz, BURROW_ERR_FORMAT,
                          "loopback addresses only: the metrics name users");
        tmp.kind = METRICS_TCP;
        memcpy(tmp.addr, host, hlen);
        tmp.port = (uint16_t)port;
    }
    memcpy(field, &tmp, sizeof(tmp));
    return 0;
}

/* The key table. `def` strings go through the same parsers as the file. */
static const struct config_key keys[] = {
    /* [ssh] */
    {"ssh", "listen", CFG_CUSTOM, CFG_FIELD(ssh.listen), 0, 0, NULL, parse_listen,
     "0.0.0.0 ::", "space-separated numeric IPv4/IPv6 addresses"},
    {"ssh", "port", CFG_U16, CFG_FIELD(ssh.port), 1, 65535, NULL, NULL, "22", "a port 1-65535"},
    {"ssh", "host_key_dir", CFG_PATH, CFG_FIELD(ssh.host_key_dir), 0, 0, NULL, NULL, "",
     "an absolute path (empty: <state_dir>/hostkeys)"},
    {"ssh", "password_auth", CFG_BOOL, CFG_FIELD(ssh.password_auth), 0, 1, NULL, NULL, "no",
     "yes or no"},
    {"ssh", "max_auth_tries", CFG_U32, CFG_FIELD(ssh.max_auth_tries), 1, 100, NULL, NULL, "6",
     "an integer 1-100"},
    {"ssh", "login_grace_time", CFG_DURATION, CFG_FIELD(ssh.login_grace_time), 0, 3600, NULL, NULL,
     "120", "a duration 0-1h (seconds, or with s/m/h)"},
    {"ssh", "max_startups", CFG_CUSTOM, CFG_FIELD(ssh.max_startups), 0, 0, NULL, parse_startups,
     "10:30:100", "start:rate:full"},
    {"ssh", "banner", CFG_PATH, CFG_FIELD(ssh.banner), 0, 0, NULL, NULL, "",
     "an absolute path of a file, or empty for none"},
    {"ssh", "max_sessions", CFG_U32, CFG_FIELD(ssh.max_sessions), 0, CONFIG_CHANNELS_MAX, NULL,
     NULL, "10", "an integer 0-64 (0: forwarding only)"},
    {"ssh", "accept_env", CFG_CUSTOM, CFG_FIELD(ssh.accept_env), 0, 0, NULL, parse_accept_env,
     ENVPOLICY_DEFAULT_ACCEPT, "space-separated variable name patterns (* and ?)"},
    {"ssh", "allow_agent_forwarding", CFG_BOOL, CFG_FIELD(ssh.allow_agent_forwarding), 0, 1, NULL,
     NULL, "yes", "yes or no"},
    {"ssh", "allow_tcp_forwarding", CFG_ENUM, CFG_FIELD(ssh.allow_tcp_forwarding), 0, 0,
     tcp_fwd_names, NULL, "yes", "yes, no, local (ssh -L only) or remote (ssh -R only)"},
    {"ssh", "permit_user_environment", CFG_CUSTOM, CFG_FIELD(ssh.permit_user_environment), 0, 0,
     NULL, parse_permit_user_env, "no", "yes, no, or space-separated variable name patterns"},
    {"ssh", "kex", CFG_CUSTOM, CFG_FIELD(ssh.kex), 0, 0, NULL, parse_kex, SSHALGO_DEFAULT_KEX,
     "comma-separated key exchange algorithms"},
    {"ssh", "hostkey_algorithms", CFG_CUSTOM, CFG_FIELD(ssh.hostkey_algorithms), 0, 0, NULL,
     parse_hostkey_algos, SSHALGO_DEFAULT_HOSTKEY, "comma-separated host key algorithms"},
    {"ssh", "ciphers", CFG_CUSTOM, CFG_FIELD(ssh.ciphers), 0, 0, NULL, parse_ciphers,
     SSHALGO_DEFAULT_CIPHER, "comma-separated ciphers"},
    {"ssh", "macs", CFG_CUSTOM, CFG_FIELD(ssh.macs), 0, 0, NULL, parse_macs, SSHALGO_DEFAULT_MAC,
     "comma-separated MACs"},
    /* [auth] */
    {"auth", "methods", CFG_CUSTOM, CFG_FIELD(auth.methods), 0, 0, NULL, parse_auth_methods, "any",
     "any, or space-separated chains such as publickey,keyboard-interactive"},
    {"auth", "trusted_user_ca_keys", CFG_PATH, CFG_FIELD(auth.trusted_user_ca_keys), 0, 0, NULL,
     NULL, "", "an absolute path of a file of CA public keys, or empty for none"},
    /* [vm] */
    {"vm", "backend", CFG_ENUM, CFG_FIELD(vm.backend), 0, 0, backend_names, NULL, "auto",
     "auto, kvm or sandbox"},
    {"vm", "template", CFG_CUSTOM, CFG_FIELD(vm.template_name), 0, 0, NULL, parse_template_name,
     "default", "a template name"},
    {"vm", "memory_mb", CFG_U32, CFG_FIELD(vm.memory_mb), 32, 65536, NULL, NULL, "256",
     "an integer 32-65536 (MiB)"},
    {"vm", "vcpus", CFG_U32, CFG_FIELD(vm.vcpus), 1, 64, NULL, NULL, "1", "an integer 1-64"},
    {"vm", "idle_timeout", CFG_DURATION, CFG_FIELD(vm.idle_timeout), 0, 7 * 24 * 3600, NULL, NULL,
     "30m", "a duration up to 168h (seconds, or with s/m/h; 0 = never)"},
    {"vm", "idle_hibernate", CFG_DURATION, CFG_FIELD(vm.idle_hibernate), 0, 7 * 24 * 3600, NULL,
     NULL, "0", "a duration up to 168h (seconds, or with s/m/h; 0 = never)"},
    {"vm", "max_vms", CFG_U32, CFG_FIELD(vm.max_vms), 1, 4096, NULL, NULL, "64",
     "an integer 1-4096"},
    {"vm", "pool_size", CFG_U32, CFG_FIELD(vm.pool_size), 0, 64, NULL, NULL, "2",
     "an integer 0-64"},
    {"vm", "ksm", CFG_BOOL, CFG_FIELD(vm.ksm), 0, 1, NULL, NULL, "yes", "yes or no"},
    {"vm", "idle_reclaim", CFG_DURATION, CFG_FIELD(vm.idle_reclaim), 0, 7 * 24 * 3600, NULL, NULL,
     "5m", "a duration up to 168h (seconds, or with s/m/h; 0 = never)"},
    /* [paths] */
    {"paths", "state_dir", CFG_PATH, CFG_FIELD(paths.state_dir), 1, 0, NULL, NULL,
     "/var/lib/burrow", "an absolute path"},
    {"paths", "run_dir", CFG_PATH, CFG_FIELD(paths.run_dir), 1, 0, NULL, NULL, "/run/burrow",
     "an absolute path"},
    /* [users] */
    /* Below 2^28: a session runs as 0x50000000 + uid, one host uid per user. */
    {"users", "uid_min", CFG_U32, CFG_FIELD(users.uid_min), 1000, CONFIG_UID_MAX, NULL, NULL,
     "10000", "an integer 1000-268435455"},
    {"users", "uid_max", CFG_U32, CFG_FIELD(users.uid_max), 1000, CONFIG_UID_MAX, NULL, NULL,
     "59999", "an integer 1000-268435455 (session processes run as 0x50000000 + uid), >= uid_min"},
    {"users", "default_shell", CFG_PATH, CFG_FIELD(users.default_shell), 1, 0, NULL, NULL,
     "/bin/sh", "an absolute path"},
    {"users", "default_disk_size", CFG_SIZE, CFG_FIELD(users.default_disk_size), 16ull << 20,
     16ull << 40, NULL, NULL, "1G", "a size 16M-16T (bytes, or with K/M/G/T)"},
    {"users", "allow_root", CFG_BOOL, CFG_FIELD(users.allow_root), 0, 1, NULL, NULL, "no",
     "yes or no"},
    {"security", "seccomp", CFG_ENUM, CFG_FIELD(security.seccomp), 0, 0, seccomp_names, NULL,
     "enforce", "enforce or log (log: forbidden syscalls are logged by the kernel, not killed)"},
    /* [net] */
    {"net", "enabled", CFG_BOOL, CFG_FIELD(net.enabled), 0, 1, NULL, NULL, "no", "yes or no"},
    {"net", "bridge", CFG_CUSTOM, CFG_FIELD(net.bridge), 0, 0, NULL, parse_ifname, "burrow0",
     "an interface name"},
    {"net", "subnet", CFG_CUSTOM, CFG_FIELD(net.subnet), 0, 0, NULL, parse_subnet, "10.213.0.0/16",
     "one IPv4 network /8-/29"},
    {"net", "egress_allow", CFG_CUSTOM, CFG_FIELD(net.egress_allow), 0, 0, NULL, parse_cidrs, "",
     "space-separated IPv4 networks"},
    {"net", "egress_deny", CFG_CUSTOM, CFG_FIELD(net.egress_deny), 0, 0, NULL, parse_cidrs,
     NET_DEFAULT_DENY, "space-separated IPv4 networks"},
    {"net", "dns", CFG_CUSTOM, CFG_FIELD(net.dns), 0, 0, NULL, parse_dns, "",
     "up to 3 space-separated IPv4 addresses"},
    {"net", "block_host", CFG_BOOL, CFG_FIELD(net.block_host), 0, 1, NULL, NULL, "yes",
     "yes or no"},
    {"net", "isolate", CFG_BOOL, CFG_FIELD(net.isolate), 0, 1, NULL, NULL, "yes", "yes or no"},
    {"net", "bandwidth_mbit", CFG_U32, CFG_FIELD(net.bandwidth_mbit), 0, 100000, NULL, NULL, "100",
     "an integer 0-100000 (Mbit/s per VM and direction; 0 = unlimited)"},
    /* [metrics] */
    {"metrics", "listen", CFG_CUSTOM, CFG_FIELD(metrics.listen), 0, 0, NULL, parse_metrics_listen,
     "", "127.0.0.1:PORT, [::1]:PORT or a unix socket path (empty: off)"},
    /* [audit] */
    {"audit", "file", CFG_PATH, CFG_FIELD(audit.file), 0, 0, NULL, NULL, "",
     "an absolute path (empty: no audit file)"},
    {"audit", "journald", CFG_BOOL, CFG_FIELD(audit.journald), 0, 1, NULL, NULL, "no", "yes or no"},
    /* [cluster]: broker/config_cluster.c, docs/cluster.md */
    {"cluster", "etcd", CFG_CUSTOM, CFG_FIELD(cluster.etcd), 0, 0, NULL, ccfg_parse_etcd, "",
     "space-separated http:// or https:// URLs (at most 8)"},
    {"cluster", "etcd_ca", CFG_PATH, CFG_FIELD(cluster.etcd_ca), 0, 0, NULL, NULL, "",
     "an absolute path"},
    {"cluster", "etcd_cert", CFG_PATH, CFG_FIELD(cluster.etcd_cert), 0, 0, NULL, NULL, "",
     "an absolute path"},
    {"cluster", "etcd_key", CFG_PATH, CFG_FIELD(cluster.etcd_key), 0, 0, NULL, NULL, "",
     "an absolute path"},
    {"cluster", "name", CFG_CUSTOM, CFG_FIELD(cluster.name), 0, 0, NULL, ccfg_parse_name, "",
     "1-63 of [a-z0-9-], not starting with '-'"},
    {"cluster", "peer_listen", CFG_CUSTOM, CFG_FIELD(cluster.peer_listen), 0, 0, NULL,
     ccfg_parse_peer_listen, "", "IPV4:PORT or [IPV6]:PORT, not an unspecified address"},
    {"cluster", "lease_ttl", CFG_DURATION, CFG_FIELD(cluster.lease_ttl), 4, 120, NULL, NULL, "10",
     "a duration of 4-120 seconds"},
    {"cluster", "home_nbd", CFG_CUSTOM, CFG_FIELD(cluster.home_nbd), 0, 0, NULL, ccfg_parse_nbd, "",
     "nbd://HOST[:PORT]"},
    {"cluster", "prefix", CFG_CUSTOM, CFG_FIELD(cluster.prefix), 0, 0, NULL, ccfg_parse_prefix,
     "/burrow/", "1-63 of [A-Za-z0-9/._-], starting and ending with '/'"},
    {"cluster", "capacity", CFG_U32, CFG_FIELD(cluster.capacity), 0, 4096, NULL, NULL, "0",
     "an integer 0-4096"},
};

const struct config_key *config_keys(size_t *n)
{
    *n = sizeof(keys) / sizeof(keys[0]);
    return keys;
}

/* Checks that involve more than one key, and derived defaults. */
static int config_finish(struct burrow_config *cfg, char *err, size_t errsz)
{
    if (cfg->users.uid_max < cfg->users.uid_min)
        return errmsg(err, errsz, BURROW_ERR_RANGE, "[users] uid_max (%u) is below uid_min (%u)",
                      cfg->users.uid_max, cfg->users.uid_min);
    if (cfg->ssh.host_key_dir[0] == '\0') {
        int n = snprintf(cfg->ssh.host_key_dir, sizeof(cfg->ssh.host_key_dir), "%s/hostkeys",
                         cfg->paths.state_dir);
        if (n < 0 || (size_t)n >= sizeof(cfg->ssh.host_key_dir))
            return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "[paths] state_dir is too long");
    }
    return ccfg_finish(cfg, err, errsz);
}

/* Every key at its table default, before derived values are filled in. */
static void table_defaults(struct burrow_config *cfg)
{
    char err[CONFIG_ERR_MAX];
    memset(cfg, 0, sizeof(*cfg));
    /* The defaults are constants checked by the unit tests; failure is a bug. */
    if (config_apply_defaults(keys, sizeof(keys) / sizeof(keys[0]), cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "burrow: built-in config defaults are invalid: %s\n", err);
        abort();
    }
}

void config_defaults(struct burrow_config *cfg)
{
    char err[CONFIG_ERR_MAX];
    table_defaults(cfg);
    if (config_finish(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "burrow: built-in config defaults are invalid: %s\n", err);
        abort();
    }
}

int config_load(struct burrow_config *cfg, const char *path, unsigned flags, char *err,
                size_t errsz)
{
    char dummy[CONFIG_ERR_MAX];
    if (!err) {
        err = dummy;
        errsz = sizeof(dummy);
    }
    err[0] = '\0';
    config_defaults(cfg);
    struct burrow_config tmp;
    table_defaults(&tmp);
    int r = config_parse_ini(path, keys, sizeof(keys) / sizeof(keys[0]), &tmp, CONFIG_FILE_MAX, err,
                             errsz);
    if (r == BURROW_ERR_NOT_FOUND && (flags & CONFIG_LOAD_OPTIONAL)) {
        err[0] = '\0';
        return 0;
    }
    if (r < 0)
        return r;
    char msg[CONFIG_ERR_MAX];
    r = config_finish(&tmp, msg, sizeof(msg));
    if (r < 0)
        return errmsg(err, errsz, r, "%s: %s", path, msg);
    *cfg = tmp;
    return 0;
}

int config_load_cli(struct burrow_config *cfg, const char *path, int explicit_path)
{
    char err[CONFIG_ERR_MAX];
    int r = config_load(cfg, path, explicit_path ? 0 : CONFIG_LOAD_OPTIONAL, err, sizeof(err));
    if (r < 0)
        return cli_err(EXIT_USAGE, "%s", err);
    return EXIT_OK;
}

/* A text value as the loader reads it back: quoted when it holds a comment character. */
static void dump_text(const char *text, FILE *out)
{
    fprintf(out, strpbrk(text, ";#") ? "\"%s\"" : "%s", text);
}

static void dump_value(const struct config_key *k, const struct burrow_config *cfg, FILE *out)
{
    const char *field = (const char *)cfg + k->offset;
    switch (k->type) {
    case CFG_STRING:
    case CFG_PATH:
        dump_text(field, out);
        break;
    case CFG_U16:
        fprintf(out, "%u", (unsigned)*(const uint16_t *)field);
        break;
    case CFG_U32:
    case CFG_DURATION:
        fprintf(out, "%u", *(const uint32_t *)field);
        break;
    case CFG_U64:
    case CFG_SIZE:
        fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case CFG_BOOL:
        fprintf(out, "%s", *(const int *)field ? "yes" : "no");
        break;
    case CFG_ENUM:
        fprintf(out, "%s", k->names[*(const int *)field]);
        break;
    case CFG_CUSTOM:
        if (k->parse == parse_listen)
            fprintf(out, "%s", cfg->ssh.listen.text);
        else if (k->parse == parse_startups)
            fprintf(out, "%u:%u:%u", cfg->ssh.max_startups.start, cfg->ssh.max_startups.rate,
                    cfg->ssh.max_startups.full);
        else
            dump_text(field, out);
        break;
    }
}

void config_dump(const struct burrow_config *cfg, FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            fprintf(out, "%s[%s]\n", i ? "\n" : "", section);
        }
        fprintf(out, "%s = ", keys[i].name);
        dump_value(&keys[i], cfg, out);
        fputc('\n', out);
    }
}
