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
#include "common/proto.h"
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
    int seccomp_log;        /* [security] seccomp = log: the jail's filters only log */
    int log_level;          /* the master's enum log_level */
    struct user_record rec; /* password_hash is blanked before the exec */
    /*
     * [net] enabled: the VMM creates TAP net_tap (as root, before its jail) on
     * net_bridge, the device gets it with net.mac and net_rate (bytes/s), and
     * IDENTITY tells the agent net (address, gateway, DNS).
     */
    int net_enabled;
    char net_tap[16];
    char net_bridge[16];
    uint64_t net_rate;
    struct proto_net net;
};

/* The hidden burrowd argument that makes it a VMM process (kvm_vmm_exec). */
#define KVM_VMM_EXEC_ARG "--vmm-process"
/* The fd on which the exec'd VMM process reads its struct kvm_vmm_args. */
#define KVM_VMM_ARGS_FD 4

/*
 * The VMM process, PID 1 of its own pid namespace (jail_pidns_fork done by
 * the caller), jailed (vmm/jail/jail.h) before the guest runs: fd 3 is the
 * master's ready pipe ('R' once the guest is READY). Never returns: exit 0
 * after a requested stop (SIGTERM), 1 when the VM stopped on its own, >1
 * when it could not start.
 */
void kvm_vmm_main(const struct kvm_vmm_args *a) __attribute__((noreturn));

/*
 * Called in the forked child instead of kvm_vmm_main: re-executes burrowd
 * (/proc/self/exe KVM_VMM_EXEC_ARG) with the arguments on KVM_VMM_ARGS_FD,
 * so the VMM process starts from a fresh image. A plain fork would leave a
 * copy of the master's memory (host private keys, the user database's
 * password hashes) in the one process a guest escape reaches first.
 */
void kvm_vmm_exec(const struct kvm_vmm_args *a) __attribute__((noreturn));
/* burrowd's entry for KVM_VMM_EXEC_ARG: read the arguments, run kvm_vmm_main. */
int kvm_vmm_exec_main(void);

#endif /* BURROW_BROKER_KVM_VMM_H */
