/*
 * broker/kvm_vmm.h - the kvm backend's VMM process (broker/kvm_vmm.c),
 * forked by broker/backend_kvm.c. Separate because vmm/vm.h and
 * broker/vmmgr.h both name a `struct vm`: this header shares neither.
 */
#ifndef BURROW_BROKER_KVM_VMM_H
#define BURROW_BROKER_KVM_VMM_H

#include <sys/types.h>

#include "broker/config.h"
#include "broker/userdb.h"
#include "vmm/template.h"

/* Everything the VMM process needs, resolved in the master before the fork. */
struct kvm_vmm_args {
    char id[48];    /* registry id (VMMGR_ID_MAX) */
    char dir[512];  /* run_dir/vm/<id> */
    char sock[512]; /* dir/vsock.sock */
    char template_name[CONFIG_STR_MAX];
    char build[TEMPLATE_BUILD_MAX + 1];
    char build_dir[CONFIG_PATH_MAX + TEMPLATE_BUILD_MAX + 16];
    char home_disk[CONFIG_PATH_MAX + USERDB_NAME_MAX + 32]; /* "" = none */
    uid_t sock_owner;                                       /* the user's session uid */
    struct user_record rec;
};

/*
 * The VMM process: fd 3 is the master's ready pipe ('R' once the guest is
 * READY). Never returns: exit 0 after a requested stop (SIGTERM), 1 when the
 * VM stopped on its own, >1 when it could not start.
 */
void kvm_vmm_main(const struct kvm_vmm_args *a) __attribute__((noreturn));

#endif /* BURROW_BROKER_KVM_VMM_H */
