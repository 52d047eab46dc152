/*
 * vmm/jail/tool.h - confinement of host tools that read hostile images
 * (e2fsck and resize2fs on a home image a guest with root has written:
 * docs/security.md). Owns a run from start to end; the caller supplies the tool
 * and reads its output.
 *
 * Each run (jail_tool_start) is PID 1 of its own pid, mount, net, ipc and
 * uts namespaces: a fresh /proc that shows only itself, no network. Its uid
 * is its own, JAIL_TOOL_UID_BASE + its host pid (allocated by the kernel: no
 * two live runs share one, and it cannot even traverse state_dir: no other
 * user's disk, no host key); the image, already open and locked, is chowned
 * to that uid for the run and becomes fd JAIL_TOOL_FD (the tool opens
 * JAIL_TOOL_PATH), every other fd >= 3 is closed; no capabilities;
 * NO_NEW_PRIVS; rlimits (CPU, core, files, no fork); the e2fsprogs seccomp
 * filter (it survives execve). jail_tool_finish waits up to a wall-clock
 * deadline and kills the run after it; as PID 1 of its namespace the tool
 * takes everything it might have started with it, so nothing of a run
 * outlives it, and the image's owner is restored.
 */
#ifndef BURROW_VMM_JAIL_TOOL_H
#define BURROW_VMM_JAIL_TOOL_H

#include <sys/types.h>

#include "vmm/jail/seccomp.h"

/* One uid per run: + its host pid (< 2^22), above the per-VM uids (vmm/jail/jail.h). */
#define JAIL_TOOL_UID_BASE  0x71000000u
#define JAIL_TOOL_FD        3
#define JAIL_TOOL_PATH      "/proc/self/fd/3"
#define JAIL_TOOL_TIMEOUT_S 1800 /* wall clock for one e2fsck or resize2fs run */

extern const struct sc_policy jail_tool_policy;

struct jail_tool_spec {
    const char *exe; /* absolute path, never searched */
    char *const *argv;
    char *const *envp;
    int image_fd; /* open read-write and locked by the caller (who keeps it) */
    int out_fd;   /* the tool's stdout and stderr; -1: /dev/null. Stdin is /dev/null */
    enum sc_mode mode;
};

struct jail_tool_run {
    pid_t pid; /* host pid of the tool: PID 1 of the run's namespaces */
    uid_t uid; /* JAIL_TOOL_UID_BASE + pid */
    int image_fd;
    uid_t saved_uid; /* the image's owner before the run */
    gid_t saved_gid;
};

/*
 * Start a run: 0 with run filled in, or a negative code (nothing started,
 * the image's owner unchanged). Root only.
 */
__attribute__((warn_unused_result)) int jail_tool_start(const struct jail_tool_spec *s,
                                                        struct jail_tool_run *run);
/*
 * Wait for the run until deadline_ms (CLOCK_MONOTONIC milliseconds, -1: no
 * limit), killing it at the deadline. 0 with its wait status in *status, or
 * BURROW_ERR_TIMEOUT (killed) / BURROW_ERR_SYSTEM. Either way the run is
 * over, nothing of it is left and the image has its owner back.
 */
__attribute__((warn_unused_result)) int jail_tool_finish(struct jail_tool_run *run,
                                                         long deadline_ms, int *status);

#endif /* BURROW_VMM_JAIL_TOOL_H */
