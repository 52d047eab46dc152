/*
 * broker/vm/kvm_hibernate.c - the kvm backend's hibernate op: the master
 * cannot block, so a detached helper (double-forked: nobody has to reap
 * it) runs the requester's side of vmm/hibernate.h (the agent syncs, the
 * VMM saves the VM into state_dir/users/NAME/hibernate/image and exits)
 * and writes one line to the master: "OK <bytes> <pages> <ms>" or "ERR
 * <reason>" (the VM then runs on; the reason also lands in
 * hibernate/last-error, where `burrowctl vm hibernate` reads it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/vm/vmmgr.h"
#include "common/err.h"
#include "vmm/hibernate.h"
#include "vmm/jail/jail.h"

static void __attribute__((noreturn))
hibernate_helper(const struct burrow_config *cfg, const struct uservm *vm, int report_fd)
{
    int keep[1] = {3};
    char dir[VMMGR_PATH_MAX], why[600];
    struct hib_result res;
    if (dup2(report_fd, 3) < 0 || jail_close_inherited(keep, 1) != 0)
        _exit(2);
    int r = vmmgr_user_dir(cfg, vm->user, dir, sizeof(dir));
    if (!r)
        r = hib_request(cfg->paths.run_dir, vm->id, dir, &res, why, sizeof(why));
    else
        snprintf(why, sizeof(why), "%s", burrow_strerror(r));
    if (r)
        dprintf(3, "ERR %s\n", why);
    else
        dprintf(3, "OK %llu %llu %llu\n", (unsigned long long)res.bytes,
                (unsigned long long)res.pages, (unsigned long long)res.ms);
    _exit(r ? 1 : 0);
}

int kvm_hibernate(struct vmmgr *m, struct uservm *vm)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (fork() == 0)
            hibernate_helper(m->cfg, vm, p[1]);
        _exit(0);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return BURROW_ERR_SYSTEM;
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    vm->hib_fd = p[0];
    return 0;
}
