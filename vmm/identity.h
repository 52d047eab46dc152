/*
 * vmm/identity.h - who a forked VM is for: what the VMM tells the agent in
 * IDENTITY (port 1025) after a fork or a pool claim. Apart from vmm/fork.h
 * so that code which runs no VM of its own (the broker's VM manager, the
 * sandbox backend) can build one without vmm/vm.h.
 */
#ifndef BURROW_VMM_IDENTITY_H
#define BURROW_VMM_IDENTITY_H

#include <stdint.h>

#include "common/proto.h"

#define FORK_NAME_MAX 64

/*
 * Who the VM is for (sent in IDENTITY). burrowd and burrowctl build it from
 * a user record in one place (broker/vm/vmident.h), for every backend.
 */
struct fork_identity {
    char user[FORK_NAME_MAX + 1];
    uint32_t uid, gid;
    char shell[256];
    char home[256];
    char hostname[FORK_NAME_MAX + 1];
    int allow_root; /* [users] allow_root: the user may become root inside */
    /*
     * net_enabled: IDENTITY carries `net` (address, prefix, gateway, DNS)
     * and the agent configures eth0 before READY. The MAC sent is the one
     * the fork's device got (fork_config.net), whatever net.mac says.
     */
    int net_enabled;
    struct proto_net net;
};

/*
 * The IDENTITY frame's fields that say who the VM is for (user, ids, shell,
 * home, hostname, allow_root, network). The sender adds entropy, the time
 * and the home-disk flag; strings point into id.
 */
void fork_identity_to_proto(const struct fork_identity *id, struct proto_identity *pi);

#endif /* BURROW_VMM_IDENTITY_H */
