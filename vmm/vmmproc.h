/*
 * vmm/vmmproc.h - VMM processes for forked VMs: started detached (fork,
 * setsid, fork) so they outlive whoever asked, registered under
 * run_dir/vm/<id>/ (vmm/registry.h), restored from a template build
 * (vmm/fork.h), and either started at once or kept paused in the warm pool
 * (vmm/pool.h). `burrowctl vm fork` uses this; burrowd's kvm backend can too
 * (vmm_spawn_start gives a pipe that speaks once, without blocking).
 *
 * A VMM process blocks SIGTERM/SIGINT/SIGHUP before it creates any thread
 * and waits for them with sigtimedwait: on one it stops the VM, unregisters
 * and exits. Its report, one line on the pipe (or on the claim socket):
 *     OK <id> <pid> <restore_ns> <ready_ns>     started, the guest said READY
 *     POOL <id> <pid>                           restored and waiting in the pool
 *     ERR <reason>                              nothing left behind
 * Times count from request_ns (CLOCK_MONOTONIC) to the vCPUs starting and to
 * READY.
 */
#ifndef BURROW_VMM_VMMPROC_H
#define BURROW_VMM_VMMPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/fork.h"
#include "vmm/registry.h"
#include "vmm/template.h"

struct vmm_request {
    char run_dir[512];
    unsigned pool_size; /* [vm] pool_size: 0 = never claim from or fill the pool */
    char template_name[TEMPLATE_NAME_MAX + 1];
    char build[TEMPLATE_BUILD_MAX + 1];
    char build_dir[1024]; /* templates/<build> */
    char home_disk[1024]; /* "" = none */
    struct fork_identity id;
    uint64_t request_ns; /* set by vmm_fork */
    int seccomp_log;     /* [security] seccomp = log: the jailed VMM's filters only log */
    /*
     * Network ("" = none): the VMM process creates the TAP net_tap as root
     * before it is jailed, sets it up, enslaves it to net_bridge ("" = none)
     * and gives it to the VM's virtio-net device. Such a fork never comes
     * from the pool (a pooled VMM is jailed already). MAC all zero: derived
     * from the identity. net_rate: bytes/s per direction, 0 = unlimited.
     */
    char net_tap[16];
    char net_bridge[16];
    uint8_t net_mac[6];
    uint64_t net_rate;
};

struct vmm_report {
    char id[REGISTRY_ID_LEN + 1];
    pid_t pid;
    uint64_t restore_ns, ready_ns;
    char error[512]; /* for ERR */
};

/*
 * Start a detached VMM process (pooled: restore and wait to be claimed).
 * *report_fd is the read end of its report pipe (O_CLOEXEC); read it with
 * vmm_read_report.
 */
__attribute__((warn_unused_result)) int vmm_spawn_start(const struct vmm_request *req, int pooled,
                                                        int *report_fd);
/* One report line (newline stripped), bounded wait. */
__attribute__((warn_unused_result)) int vmm_read_report(int fd, char *line, size_t sz);
/* OK line into *out; BURROW_ERR_GUEST for an ERR line (out->error says why), FORMAT otherwise. */
__attribute__((warn_unused_result)) int vmm_parse_report(const char *line, struct vmm_report *out);
/*
 * Blocking: claim a pooled VM of req->build if the pool has one, else spawn
 * a fresh VMM process; line gets its report.
 */
__attribute__((warn_unused_result)) int vmm_fork(struct vmm_request *req, char *line, size_t sz,
                                                 int *from_pool);
/* Bring the pool of req->build up to req->pool_size; retire other builds' pooled VMs. */
void vmm_pool_top_up(const struct vmm_request *req);

#endif /* BURROW_VMM_VMMPROC_H */
