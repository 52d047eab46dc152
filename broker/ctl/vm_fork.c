/*
 * broker/ctl/vm_fork.c - `burrowctl vm fork [--template NAME] [--user NAME]
 * [--count N] [--net-tap NAME [--net-bridge BR] [--net-mac MAC]
 * [--net-mbit N] [--net-addr A.B.C.D/P [--net-gateway A.B.C.D]]]`: VMs forked from the active build
 * of a template, each in its own detached VMM process (vmm/vmmproc.c), claimed from the warm pool
 * when [vm] pool_size allows, which is topped up afterwards. One line per VM: <id> pid <pid>
 * restore <ms> ms ready <ms> ms [(pool)] counted from the request to the vCPUs starting (restore)
 * and to the guest's READY on port 1025 (ready). With --user, a VM of hers that was hibernated
 * (`vm hibernate`, vmm/hibernate.h) is resumed instead: "(resume)".
 *
 * --net-tap: the VMM process creates that TAP before it is jailed, sets it up
 * (on BR with --net-bridge) and backs the fork's virtio-net device with it;
 * the MAC defaults to one derived from the identity, the limit to [net]
 * bandwidth_mbit. Such a fork never comes from the pool. --net-addr: the
 * identity tells the agent to put that address on eth0 with a default route
 * via --net-gateway (default: the network's first address) and [net] dns in
 * resolv.conf, before READY.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/vm/ksm.h"
#include "broker/users/userdb.h"
#include "broker/vm/vmident.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/virtio/net/tap.h"
#include "vmm/pool.h"
#include "vmm/registry.h"
#include "vmm/template.h"
#include "vmm/vmmproc.h"

static const char vm_fork_usage[] =
    "usage: burrowctl vm fork [--template NAME] [--user NAME] [--count N] "
    "[--net-tap NAME [--net-bridge BR] [--net-mac MAC] [--net-mbit N] "
    "[--net-addr A.B.C.D/P [--net-gateway A.B.C.D]]]";

struct fork_request {
    const struct burrow_config *cfg;
    struct vmm_request v;
};

static int print_report(const struct fork_request *req, const char *line)
{
    struct vmm_report rep;
    int r = vmm_parse_report(line, &rep);
    if (r == BURROW_ERR_GUEST)
        return cli_err(EXIT_RUNTIME, "fork failed: %s", rep.error);
    if (r)
        return cli_err(EXIT_RUNTIME, "the VMM process reported '%s'", line);
    vmm_note_report(req->v.run_dir, &rep);
    printf("%s pid %d restore %.3f ms ready %.3f ms%s\n", rep.id, (int)rep.pid,
           rep.restore_ns / 1e6, rep.ready_ns / 1e6,
           rep.from_pool ? " (pool)"
           : rep.resumed ? " (resume)"
                         : "");
    fflush(stdout);
    return EXIT_OK;
}

static int fork_one(struct fork_request *req)
{
    char line[600];
    req->v.request_ns = 0; /* each VM of --count N is its own request */
    int r = vmm_fork(&req->v, line, sizeof(line));
    if (r)
        return cli_err(EXIT_RUNTIME, "fork failed: %s%s%s", burrow_strerror(r),
                       r == BURROW_ERR_SYSTEM ? ": " : "",
                       r == BURROW_ERR_SYSTEM ? strerror(errno) : "");
    return print_report(req, line);
}

/* "A.B.C.D/P" (P 1-30) into host-order address and prefix; -1 if malformed. */
static int parse_addr_prefix(const char *s, uint32_t *addr, uint32_t *prefix)
{
    char a[INET_ADDRSTRLEN];
    const char *slash = strchr(s, '/');
    char *end;
    struct in_addr in;
    if (!slash || (size_t)(slash - s) >= sizeof(a))
        return -1;
    memcpy(a, s, (size_t)(slash - s));
    a[slash - s] = '\0';
    errno = 0;
    unsigned long p = strtoul(slash + 1, &end, 10);
    if (inet_pton(AF_INET, a, &in) != 1 || errno || *end || end == slash + 1 || p < 1 || p > 30)
        return -1;
    *addr = ntohl(in.s_addr);
    *prefix = (uint32_t)p;
    return 0;
}

static int fork_identity_for(struct fork_request *req, const char *user)
{
    struct fork_identity *id = &req->v.id;
    if (!user) {
        vm_identity_guest(req->cfg, id);
        return EXIT_OK;
    }
    struct userdb db;
    struct user_record rec;
    char err[256];
    if (userdb_open(&db, req->cfg, 0))
        return cli_err(EXIT_RUNTIME, "cannot open the user database");
    int r = userdb_get(&db, user, &rec, err, sizeof(err));
    if (r) {
        userdb_close(&db);
        return cli_err(EXIT_RUNTIME, "user %s: %s", user, err);
    }
    vm_identity(req->cfg, &rec, id);
    /* Her directory: a hibernated VM there is resumed instead of a fork (vmm/hibernate.h). */
    if ((rec.disk_size &&
         userdb_path(&db, rec.name, "home.img", req->v.home_disk, sizeof(req->v.home_disk))) ||
        userdb_path(&db, rec.name, "", req->v.user_dir, sizeof(req->v.user_dir))) {
        userdb_close(&db);
        return cli_err(EXIT_RUNTIME, "user %s: home disk path too long", user);
    }
    userdb_close(&db);
    /* One VM per user: the disk lock says so too, but users without a disk need this. */
    struct vm_record *v;
    size_t n;
    if (registry_list(req->cfg->paths.run_dir, &v, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(v[i].user, rec.name) == 0) {
                int rc = cli_err(EXIT_RUNTIME, "user %s already has a VM (%s, pid %d)", rec.name,
                                 v[i].id, (int)v[i].pid);
                free(v);
                return rc;
            }
        }
        free(v);
    }
    return EXIT_OK;
}

int ctl_vm_fork(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"template", required_argument, NULL, 't'},    {"user", required_argument, NULL, 'u'},
        {"count", required_argument, NULL, 'n'},       {"net-tap", required_argument, NULL, 'T'},
        {"net-bridge", required_argument, NULL, 'R'},  {"net-mac", required_argument, NULL, 'M'},
        {"net-mbit", required_argument, NULL, 'B'},    {"net-addr", required_argument, NULL, 'A'},
        {"net-gateway", required_argument, NULL, 'G'}, {NULL, 0, NULL, 0}};
    const char *tname = NULL, *user = NULL, *tap = NULL, *bridge = NULL, *addr = NULL,
               *gateway = NULL;
    unsigned long count = 1;
    long mbit = -1;
    uint8_t mac[6] = {0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 't':
            tname = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'n':
            errno = 0;
            count = strtoul(optarg, &end, 10);
            if (errno || *end || optarg[0] == '-' || count < 1 || count > 1000)
                return cli_err(EXIT_USAGE, "--count: 1..1000");
            break;
        case 'T':
        case 'R':
            if (!tap_name_valid(optarg))
                return cli_err(EXIT_USAGE, "--%s: 1-15 characters of A-Z a-z 0-9 _ . -",
                               opt == 'T' ? "net-tap" : "net-bridge");
            *(opt == 'T' ? &tap : &bridge) = optarg;
            break;
        case 'M':
            if (net_mac_parse(optarg, mac))
                return cli_err(EXIT_USAGE, "--net-mac: a unicast MAC like 02:00:00:00:00:01");
            break;
        case 'B':
            errno = 0;
            mbit = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || mbit < 0 || mbit > 100000)
                return cli_err(EXIT_USAGE, "--net-mbit: 0..100000 (0: unlimited)");
            break;
        case 'A':
            addr = optarg;
            break;
        case 'G':
            gateway = optarg;
            break;
        default:
            return cli_err(EXIT_USAGE, "%s", vm_fork_usage);
        }
    }
    static const uint8_t zero_mac[6];
    if ((!tap && addr) || (gateway && !addr))
        return cli_err(EXIT_USAGE, "--net-addr needs --net-tap, --net-gateway needs --net-addr");
    if (!tap && (bridge || mbit >= 0 || memcmp(mac, zero_mac, 6)))
        return cli_err(EXIT_USAGE, "--net-bridge, --net-mac and --net-mbit need --net-tap");
    if (tap && count > 1)
        return cli_err(EXIT_USAGE, "--net-tap allows one VM (--count 1)");
    if (optind != argc)
        return cli_err(EXIT_USAGE, "%s", vm_fork_usage);
    static struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    static struct fork_request req;
    memset(&req, 0, sizeof(req));
    req.cfg = &cfg;
    snprintf(req.v.run_dir, sizeof(req.v.run_dir), "%s", cfg.paths.run_dir);
    req.v.pool_size = cfg.vm.pool_size;
    req.v.seccomp_log = cfg.security.seccomp;
    req.v.log_level = (int)log_get_level();
    req.v.sock_owner = VMM_SOCK_ROOT;
    req.v.ksm = cfg.vm.ksm;
    req.v.idle_reclaim = cfg.vm.idle_reclaim;
    if (tap) {
        snprintf(req.v.net_tap, sizeof(req.v.net_tap), "%s", tap);
        snprintf(req.v.net_bridge, sizeof(req.v.net_bridge), "%s", bridge ? bridge : "");
        memcpy(req.v.net_mac, mac, sizeof(mac));
        req.v.net_rate =
            (uint64_t)(mbit >= 0 ? (unsigned long)mbit : cfg.net.bandwidth_mbit) * 1000000 / 8;
    }
    if (!tname)
        tname = cfg.vm.template_name;
    if (!template_name_ok(tname))
        return cli_err(EXIT_USAGE, "--template: '%s' is not a template name", tname);
    memcpy(req.v.template_name, tname, strlen(tname) + 1); /* template_name_ok bounds it */
    if (user && count > 1)
        return cli_err(EXIT_USAGE, "--user allows one VM (--count 1)");
    char tdir[CONFIG_PATH_MAX + 16];
    snprintf(tdir, sizeof(tdir), "%s/templates", cfg.paths.state_dir);
    /* Resolve the symlink once: this fork keeps its build even if it is switched. */
    if (template_active(tdir, tname, req.v.build, sizeof(req.v.build)))
        return cli_err(EXIT_RUNTIME, "template %s has no active build in %s", tname, tdir);
    snprintf(req.v.build_dir, sizeof(req.v.build_dir), "%s/%s", tdir, req.v.build);
    if ((rc = fork_identity_for(&req, user)) != EXIT_OK)
        return rc;
    if (addr) {
        struct proto_net *n = &req.v.id.net;
        struct in_addr in;
        if (parse_addr_prefix(addr, &n->addr, &n->prefix))
            return cli_err(EXIT_USAGE, "--net-addr: A.B.C.D/P with P from 1 to 30");
        uint32_t mask = ~0u << (32 - n->prefix);
        n->gateway = (n->addr & mask) + 1;
        if (gateway) {
            if (inet_pton(AF_INET, gateway, &in) != 1)
                return cli_err(EXIT_USAGE, "--net-gateway: an IPv4 address");
            n->gateway = ntohl(in.s_addr);
        }
        if (n->gateway == n->addr || (n->gateway & mask) != (n->addr & mask))
            return cli_err(EXIT_USAGE, "--net-gateway: another address inside %s", addr);
        for (unsigned i = 0; i < cfg.net.dns.n && i < PROTO_DNS_MAX; i++)
            n->dns[n->nr_dns++] = cfg.net.dns.v[i].addr;
        req.v.id.net_enabled = 1;
    }
    /* Said at -v here, and in the log of the VM it was switched on for (its vmm.log). */
    enum ksm_outcome ksm;
    if (cfg.vm.ksm && ksm_switch_on(KSM_SYSFS, LOG_LVL_INFO, &ksm) == 0)
        req.v.ksm_switched = ksm == KSM_SWITCHED_ON;
    for (unsigned long i = 0; i < count; i++) {
        if ((rc = fork_one(&req)) != EXIT_OK)
            return rc;
        req.v.ksm_switched = 0;
    }
    vmm_pool_top_up(&req.v);
    return EXIT_OK;
}
