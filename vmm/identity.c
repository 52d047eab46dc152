/* vmm/identity.c - who a forked VM is for (see identity.h). */
#include "vmm/identity.h"

#include <string.h>

void fork_identity_to_proto(const struct fork_identity *id, struct proto_identity *pi)
{
    memset(pi, 0, sizeof(*pi));
    pi->user = proto_str_c(id->user);
    pi->uid = id->uid;
    pi->gid = id->gid;
    pi->shell = proto_str_c(id->shell);
    pi->home = proto_str_c(id->home);
    pi->hostname = proto_str_c(id->hostname);
    pi->flags = id->allow_root ? PROTO_ID_F_ALLOW_ROOT : 0;
    if (id->net_enabled) {
        pi->flags |= PROTO_ID_F_NET;
        pi->net = id->net;
    }
}
