/*
 * broker/ctl/net.c - `burrowctl net`: the host side of VM networking from
 * [net] in burrow.ini (broker/vm/netpolicy.h).
 *
 *   burrowctl net rules    print the nftables ruleset that apply would load
 *   burrowctl net apply    bridge, address, forwarding and the ruleset (root)
 *   burrowctl net remove   delete the ruleset tables and the bridge (root)
 *   burrowctl net addr N   VM number N's address, the gateway, its MAC and TAP (the
 *                          one MAC and address its bridge port passes)
 *
 * apply and remove act on the network namespace burrowctl runs in, so the
 * tests run them under `ip netns exec`.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/vm/netpolicy.h"
#include "common/err.h"

static const char net_usage[] = "usage: burrowctl net rules | apply | remove | addr N";

static void ip_text(uint32_t host, char *out)
{
    struct in_addr a = {.s_addr = htonl(host)};
    inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
}

int ctl_net_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc >= 2) {
            printf("%s\n", net_usage);
            return EXIT_OK;
        }
        return cli_err(EXIT_USAGE, "%s", net_usage);
    }
    const char *cmd = argv[1];
    static const char *const cmds[] = {"rules", "apply", "remove", "addr"};
    if (strcmp(cmd, "rules") && strcmp(cmd, "apply") && strcmp(cmd, "remove") &&
        strcmp(cmd, "addr"))
        return cli_unknown("net", cmd, cmds, sizeof(cmds) / sizeof(cmds[0]));
    bool is_addr = !strcmp(cmd, "addr");
    if ((is_addr && argc != 3) || (!is_addr && argc != 2))
        return cli_err(EXIT_USAGE, "%s", net_usage);
    struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc)
        return rc;
    struct netpolicy np;
    netpolicy_from_config(&cfg, &np);
    if (!strcmp(cmd, "rules")) {
        static char rules[NETPOLICY_RULESET_MAX];
        if (netpolicy_ruleset(&np, rules, sizeof(rules)))
            return cli_err(EXIT_RUNTIME, "the ruleset does not fit in %d bytes",
                           NETPOLICY_RULESET_MAX);
        fputs(rules, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "apply")) {
        char err[512];
        if (netpolicy_apply(&np, err, sizeof(err)))
            return cli_err(EXIT_RUNTIME, "net apply: %s", err);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "remove")) {
        netpolicy_remove(&np);
        return EXIT_OK;
    }
    if (is_addr) {
        char *end;
        unsigned long n = strtoul(argv[2], &end, 10);
        uint32_t a;
        if (end == argv[2] || *end || argv[2][0] == '-' || n > UINT32_MAX ||
            netpolicy_vm_addr(&np, (uint32_t)n, &a))
            return cli_err(EXIT_USAGE, "addr: N from 0 to the subnet's size minus 4");
        char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN];
        uint8_t m[6];
        ip_text(a, ip);
        ip_text(netpolicy_gateway(&np), gw);
        if (netpolicy_vm_mac(&np, (uint32_t)n, m))
            return cli_err(EXIT_USAGE, "addr: N from 0 to the subnet's size minus 4");
        printf("address %s/%u gateway %s mac %02x:%02x:%02x:%02x:%02x:%02x tap %s%lu\n", ip,
               np.subnet.len, gw, m[0], m[1], m[2], m[3], m[4], m[5], NETPOLICY_TAP_PREFIX, n);
        return EXIT_OK;
    }
    return cli_err(EXIT_USAGE, "%s", net_usage);
}
