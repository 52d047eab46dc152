/*
 * broker/vm/netpolicy.h - the host side of VM networking: the bridge the VMs'
 * TAPs join, NAT of the VM subnet and the egress policy ([net] in
 * burrow.ini).
 *
 * Owns: the nftables ruleset (generated text, applied with `nft -f -` as one
 * transaction that replaces `table inet burrow` and `table bridge burrow`
 * atomically: no moment without a policy), the bridge (`ip link`, the
 * subnet's first address as the VMs' gateway), IPv4 forwarding, and the
 * address plan (gateway .1, VM n at .2 + n).
 *
 * Every VM port is bound to its own MAC and IPv4 address (the address plan:
 * port bvm<n>, address .2 + n, MAC netpolicy_vm_mac), in the bridge family
 * before anything else sees a frame: from a bvm* port only IPv4 from that
 * MAC and address and ARP whose Ethernet and ARP senders are those pass;
 * IPv6, VLAN tags and every other ethertype are dropped. So a VM cannot
 * speak for another VM's address or MAC: not to the host's neighbour table
 * (ARP), not to the bridge's forwarding table, not to anyone.
 *
 * Then, for packets from the bridge: a source outside the
 * subnet is dropped (spoofing); IPv6 is dropped (the VMs get none);
 * egress_allow is accepted; egress_deny is refused (TCP reset / ICMP
 * admin-prohibited, so clients fail fast); everything else is accepted and
 * masqueraded. Nothing new comes in to the VMs. block_host refuses packets
 * from the VMs to the host itself (any of its addresses: the input hook),
 * isolate drops frames bridged from one VM's TAP to another's.
 *
 * Needs root (CAP_NET_ADMIN) and nft/ip from Debian's nftables/iproute2.
 */
#ifndef BURROW_BROKER_NETPOLICY_H
#define BURROW_BROKER_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/config.h"

#define NETPOLICY_RULESET_MAX (96 * 1024)
/* VM ports the ruleset binds: burrowd's VM slots (broker/vm/vmmgr.h VMMGR_MAX). */
#define NETPOLICY_PORTS_MAX 1024
/*
 * VM TAPs are named NETPOLICY_TAP_PREFIX + a number; isolation matches
 * bridge ports by this prefix (the kernel's bridge family has no working
 * "input bridge name" match on every kernel), so other ports a host adds to
 * the bridge are not isolated.
 */
#define NETPOLICY_TAP_PREFIX "bvm"

struct netpolicy {
    char bridge[CONFIG_IFNAME];
    struct config_cidr subnet;
    struct config_cidrs allow, deny;
    bool block_host;
    bool isolate;
};

void netpolicy_from_config(const struct burrow_config *cfg, struct netpolicy *np);

/* The ruleset `nft -f` gets. BURROW_ERR_TOO_LARGE if outsz is too small. */
__attribute__((warn_unused_result)) int netpolicy_ruleset(const struct netpolicy *np, char *out,
                                                          size_t outsz);

/* Gateway address (host order): the subnet's first address. */
uint32_t netpolicy_gateway(const struct netpolicy *np);
/* VM number n's address (host order): .2 + n; BURROW_ERR_RANGE past the broadcast address. */
__attribute__((warn_unused_result)) int netpolicy_vm_addr(const struct netpolicy *np, uint32_t n,
                                                          uint32_t *addr);
/*
 * VM number n's MAC: 02:b0 (locally administered, unicast) and its IPv4
 * address, the one MAC its port bvm<n> passes; BURROW_ERR_RANGE as above.
 */
__attribute__((warn_unused_result)) int netpolicy_vm_mac(const struct netpolicy *np, uint32_t n,
                                                         uint8_t mac[6]);
/* How many ports (bvm0 ...) the ruleset binds: the plan's addresses, at most NETPOLICY_PORTS_MAX.
 */
uint32_t netpolicy_ports(const struct netpolicy *np);

/*
 * Create the bridge if missing, give it the gateway address, bring it up,
 * enable IPv4 forwarding and load the ruleset. On failure `err` says which
 * step and what the tool printed.
 */
__attribute__((warn_unused_result)) int netpolicy_apply(const struct netpolicy *np, char *err,
                                                        size_t errsz);
/* Delete the tables and the bridge (errors ignored: they may not exist). */
void netpolicy_remove(const struct netpolicy *np);

#endif /* BURROW_BROKER_NETPOLICY_H */
