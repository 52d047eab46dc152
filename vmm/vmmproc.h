/*
 * vmm/vmmproc.h - the VMM process of a forked VM: the one implementation
 * that `burrowctl vm fork`, burrowd's kvm backend and the warm pool all
 * start, the same way.
 *
 * Owns: starting it (fork, setsid, a new pid namespace, then an exec of
 * burrow-vmm, the VMM alone (VMM_PROGRAM_REL; without it, a re-exec of the
 * calling binary), with VMM_EXEC_ARG, so it holds no copy of its parent's
 * memory: burrowd's user records, keys, sessions), its life
 * (registry record under run_dir/vm/<id>/, restore from a template build
 * (vmm/fork.h), the jail, waiting in the pool until claimed (vmm/pool.h),
 * READY, dir/conns, the graceful stop through the agent), and the report
 * it gives its requester, one line each on the report descriptor:
 *     PID <host pid>                                  at once, from the spawner
 *     POOL <id> <pid>                                 restored, waiting in the pool
 *     OK <id> <pid> <restore_ns> <ready_ns> [pool|resume]   running, the guest said READY
 *     REFUSED <reason>                 a hibernated image was refused; a fresh fork follows
 *     ERR <reason>                                    nothing left behind
 * Times count from request_ns (CLOCK_MONOTONIC) to the vCPUs starting and
 * to READY; "pool" says the VM was claimed from the pool, "resume" that it
 * was resumed from a hibernated image (vmm/hibernate.h).
 *
 * A VMM process blocks SIGTERM/SIGINT/SIGHUP before any thread exists and
 * waits for them with sigtimedwait. On one, a running VM's agent is asked
 * to sync and unmount the home disk (SHUTDOWN, bounded), then the VM stops,
 * its record goes and the process exits 0; a VM that stops on its own
 * (power-off, crash) makes it exit 1. Its session connections (vsock minus
 * the agent's control connection) are kept in dir/conns for idle decisions.
 * A running VM also serves dir/control.sock, keeps dir/balloon and applies
 * [vm] idle_reclaim (vmm/vmmctl.h).
 */
#ifndef BURROW_VMM_VMMPROC_H
#define BURROW_VMM_VMMPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/identity.h"
#include "vmm/registry.h"
#include "vmm/template.h"

/* The hidden first argument that makes burrow-vmm (or burrowd, burrowctl) a VMM process. */
#define VMM_EXEC_ARG "--vmm-process"
/* The VMM's own program, beside burrowd and burrowctl (build/bin -> build/lib/burrow). */
#define VMM_PROGRAM_REL "../lib/burrow/burrow-vmm"
/* vsock.sock stays root's (0600): only root reaches the VM (burrowctl vm fork). */
#define VMM_SOCK_ROOT ((uint32_t)-1)

struct vmm_request {
    char run_dir[512];
    unsigned pool_size; /* [vm] pool_size: 0 = never claim from or fill the pool */
    char template_name[TEMPLATE_NAME_MAX + 1];
    char build[TEMPLATE_BUILD_MAX + 1];
    char build_dir[1024]; /* templates/<build> */
    char home_disk[1024]; /* "" = none */
    struct fork_identity id;
    uint64_t request_ns; /* CLOCK_MONOTONIC of the request; 0: vmm_fork_report sets it */
    int seccomp_log;     /* [security] seccomp = log: the jailed VMM's filters only log */
    int log_level;       /* the requester's enum log_level (the VMM logs at least info) */
    int log_inherit;     /* 1: log to the requester's stderr (burrowd's), 0: dir/vmm.log */
    /* Who may connect to vsock.sock (chowned, 0600): burrowd's session uid of the user. */
    uint32_t sock_owner;
    /*
     * Network ("" = none): a TAP net_tap, up and on net_bridge ("" = none),
     * backs the VM's virtio-net device: created by the VMM process as root
     * before its jail, or for a pool claim by the claimer, which passes it.
     * MAC all zero: derived from the identity and the VM's id. net_rate:
     * bytes/s per direction, 0 = unlimited.
     */
    char net_tap[16];
    char net_bridge[16];
    uint8_t net_mac[6];
    uint64_t net_rate;
    /*
     * Hibernation (vmm/hibernate.h): user_dir is state_dir/users/NAME ("" =
     * none): a hibernated image there is resumed instead of a fork.
     * hib_image is the image a resuming VMM restores ("" = a fork); the
     * starter sets it, with the image's build.
     */
    char user_dir[1024];
    char hib_image[1100];
    int ksm;               /* [vm] ksm: the guest's RAM is MADV_MERGEABLE */
    int ksm_switched;      /* the requester just switched KSM on for it: said in dir/vmm.log */
    uint32_t idle_reclaim; /* [vm] idle_reclaim: seconds without a session byte; 0 = never */
};

struct vmm_report {
    char id[REGISTRY_ID_LEN + 1];
    pid_t pid;
    uint64_t restore_ns, ready_ns;
    int from_pool;
    int resumed;     /* from a hibernated image */
    char error[512]; /* for ERR */
};

/*
 * Blocking: claim a pooled VM of req->build if pooling is on and the pool
 * has one, else start a fresh VMM process. Writes "PID <pid>" to out_fd as
 * soon as the VMM's pid is known, then its report line (a fresh VMM writes
 * that itself). 0 once the last line is written or handed to the VMM.
 */
__attribute__((warn_unused_result)) int vmm_fork_report(struct vmm_request *req, int out_fd);
/*
 * The same, for a caller that waits: the final report line (PID line
 * skipped) into line, without its newline.
 */
__attribute__((warn_unused_result)) int vmm_fork(struct vmm_request *req, char *line, size_t sz);
/* Start a pooled VMM (restore, jail, wait to be claimed); its report goes to out_fd. */
__attribute__((warn_unused_result)) int vmm_spawn_pooled(const struct vmm_request *req, int out_fd);
/* Bring the pool of req->build up to req->pool_size; retire other builds' pooled VMs. Blocking. */
void vmm_pool_top_up(const struct vmm_request *req);

/* OK line into *out; BURROW_ERR_GUEST for an ERR line (out->error says why), FORMAT otherwise. */
__attribute__((warn_unused_result)) int vmm_parse_report(const char *line, struct vmm_report *out);
/* "PID <pid>" into *pid; FORMAT otherwise. */
__attribute__((warn_unused_result)) int vmm_parse_pid(const char *line, pid_t *pid);
/*
 * Whoever reads an OK report keeps its origin and timings in the VM's
 * record (`burrowctl vm list --json`: pooled, restore_ms, ready_ms); the
 * jailed VMM cannot rewrite its own.
 */
void vmm_note_report(const char *run_dir, const struct vmm_report *rep);

/* Entry point of a re-executed VMM process (main() with VMM_EXEC_ARG); never returns. */
int vmm_exec_main(void) __attribute__((noreturn));

#endif /* BURROW_VMM_VMMPROC_H */
