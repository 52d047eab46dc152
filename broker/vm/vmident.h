/*
 * broker/vm/vmident.h - who a VM is for: the one place where a user record
 * becomes the identity her VM gets (vmm/fork.h's struct fork_identity), for
 * every path that starts one: burrowd's kvm backend (fresh forks and pool
 * claims), the sandbox backend and `burrowctl vm fork [--user NAME]`.
 *
 * Owns: the hostname rule (burrow-<user>), the home directory
 * (/home/<user>) and [users] allow_root.
 */
#ifndef BURROW_BROKER_VMIDENT_H
#define BURROW_BROKER_VMIDENT_H

#include "broker/config.h"
#include "broker/users/userdb.h"
#include "vmm/identity.h"

#define VMIDENT_HOSTNAME_PREFIX "burrow-"
/* `burrowctl vm fork` without --user: a VM for nobody in particular. */
#define VMIDENT_GUEST_USER "guest"
#define VMIDENT_GUEST_UID  1000u

/* The identity of rec's VM (no network: the backend adds it). */
void vm_identity(const struct burrow_config *cfg, const struct user_record *rec,
                 struct fork_identity *id);
/* The same for the guest user (uid/gid 1000, /bin/sh). */
void vm_identity_guest(const struct burrow_config *cfg, struct fork_identity *id);

#endif /* BURROW_BROKER_VMIDENT_H */
