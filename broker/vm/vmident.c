/* broker/vm/vmident.c - the identity a user's VM gets (see vmident.h). */
#include "broker/vm/vmident.h"

#include <stdio.h>
#include <string.h>

void vm_identity(const struct burrow_config *cfg, const struct user_record *rec,
                 struct fork_identity *id)
{
    memset(id, 0, sizeof(*id));
    snprintf(id->user, sizeof(id->user), "%s", rec->name);
    id->uid = rec->uid;
    id->gid = rec->gid;
    snprintf(id->shell, sizeof(id->shell), "%s", rec->shell);
    snprintf(id->home, sizeof(id->home), "/home/%s", rec->name);
    snprintf(id->hostname, sizeof(id->hostname), VMIDENT_HOSTNAME_PREFIX "%s", rec->name);
    id->allow_root = cfg->users.allow_root != 0;
}

void vm_identity_guest(const struct burrow_config *cfg, struct fork_identity *id)
{
    struct user_record guest;
    memset(&guest, 0, sizeof(guest));
    snprintf(guest.name, sizeof(guest.name), VMIDENT_GUEST_USER);
    guest.uid = guest.gid = VMIDENT_GUEST_UID;
    snprintf(guest.shell, sizeof(guest.shell), "/bin/sh");
    vm_identity(cfg, &guest, id);
}
