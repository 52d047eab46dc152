/*
 * vmm/jail/tool.h - confinement of host tools that read hostile images
 * (e2fsck and resize2fs on a home image a guest with root has written:
 * design §3). Owns the steps; the caller forks and execs.
 *
 *   parent: jail_tool_own(fd)     the image (already open, locked) is
 *                                 chowned to JAIL_TOOL_UID for the run
 *   child:  jail_tool_enter(fd)   fd becomes JAIL_TOOL_FD (the tool opens
 *           JAIL_TOOL_PATH), every other fd >= 3 closed; own net, ipc and
 *           uts namespaces (no network); uid/gid JAIL_TOOL_UID (cannot even
 *           traverse state_dir: other users' disks, host keys); no
 *           capabilities; NO_NEW_PRIVS; rlimits (CPU, core, files, procs);
 *           the tool seccomp filter (it survives execve)
 *   parent: jail_tool_disown(fd)  ownership restored
 */
#ifndef BURROW_VMM_JAIL_TOOL_H
#define BURROW_VMM_JAIL_TOOL_H

#include <sys/types.h>

#include "vmm/jail/seccomp.h"

#define JAIL_TOOL_UID  0x71000000u /* above the per-VM range: never a VM, session or user */
#define JAIL_TOOL_FD   3
#define JAIL_TOOL_PATH "/proc/self/fd/3"

extern const struct sc_policy jail_tool_policy;

struct jail_tool_owner {
    uid_t uid;
    gid_t gid;
};

__attribute__((warn_unused_result)) int jail_tool_own(int fd, struct jail_tool_owner *saved);
void jail_tool_disown(int fd, const struct jail_tool_owner *saved);
/* In the forked child; on failure the child must _exit. */
__attribute__((warn_unused_result)) int jail_tool_enter(int image_fd, enum sc_mode mode);

#endif /* BURROW_VMM_JAIL_TOOL_H */
