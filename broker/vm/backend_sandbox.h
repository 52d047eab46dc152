/*
 * broker/vm/backend_sandbox.h - the sandbox backend's pieces (see the comment
 * at the top of backend_sandbox.c for the whole picture).
 *
 *   backend_sandbox.c  namespaces, id-mapped root and home mounts, PID 1
 *   sbx_super.c        the supervisor: control connection to the agent,
 *                      the vsock-style socket, stop, and the vm_backend ops
 */
#ifndef BURROW_BROKER_BACKEND_SANDBOX_H
#define BURROW_BROKER_BACKEND_SANDBOX_H

#include <sys/types.h>

#include "broker/config.h"
#include "broker/users/userdb.h"
#include "broker/vm/vmmgr.h"

#define SBX_UID_BASE  0x60000000u /* reserved host uid range for sandboxes */
#define SBX_UID_COUNT 65536u      /* uids per sandbox: guest 0..65535 */
#define SBX_PIDS_MAX  512u        /* processes per sandbox (cgroup) and per uid in it (rlimit) */

struct sbx {
    const struct burrow_config *cfg;
    const struct uservm *vm;
    const struct user_record *rec;
    const char *image;
    char dir[VMMGR_PATH_MAX];
    char root[VMMGR_PATH_MAX + 16], stage[VMMGR_PATH_MAX + 16], homestage[VMMGR_PATH_MAX + 16];
    char agentdir[VMMGR_PATH_MAX + 16];
    uid_t base;  /* host uid of the sandbox's root */
    int home_fd; /* locked home.img, or -1 */
    int go[2];   /* supervisor -> PID 1: mounts are ready */
    pid_t child; /* PID 1 of the sandbox */
};

/* Create run_dir/vm/<id>/{root,stage,homestage,agent}. */
__attribute__((warn_unused_result)) int
sbx_setup_dirs(struct sbx *x, const struct burrow_config *cfg, const struct uservm *vm,
               const struct user_record *rec, const char *image);
/* Namespaces, mounts, then PID 1 starts the agent. */
__attribute__((warn_unused_result)) int sbx_spawn(struct sbx *x);

#endif /* BURROW_BROKER_BACKEND_SANDBOX_H */
