/*
 * broker/ctl/vm_kill.c - `burrowctl vm kill ID`. While burrowd runs and
 * manages that VM, the request goes through its control socket
 * (broker/master/control.h: "vm kill <id>"), so the user's sessions get a clear
 * message and the master's table stays right; then we wait for the process
 * to end. Otherwise (no daemon, or a standalone VMM burrowd does not know):
 * SIGTERM to the VMM process (its agent syncs and unmounts the home disk,
 * within 5 s, then it stops its VM, unregisters and exits); SIGKILL after
 * 10 s, and the record is removed then.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/master/control.h"
#include "broker/ctl/ctl.h"
#include "common/err.h"
#include "vmm/registry.h"

/*
 * 1 if burrowd took the request and the VM is gone; 0: kill it ourselves
 * (no daemon, burrowd does not manage this VM, or it did not end in time).
 */
static int kill_via_burrowd(const char *run_dir, const struct vm_record *rec)
{
    char req[64], ans[512];
    snprintf(req, sizeof(req), "vm kill %s", rec->id);
    if (control_request(run_dir, req, ans, sizeof(ans)) != 0 || !control_answer_ok(ans))
        return 0;
    /* burrowd asks the agent to sync first (up to 5 s), then stops the VM. */
    return registry_wait_gone(rec, 10000);
}

int ctl_vm_kill(struct ctl_ctx *ctx, int argc, char **argv)
{
    struct burrow_config cfg;
    struct vm_record rec;
    int rc = ctl_vm_record(ctx, argc, argv, "usage: burrowctl vm kill ID", &cfg, &rec);
    if (rc != EXIT_OK)
        return rc;
    if (kill_via_burrowd(cfg.paths.run_dir, &rec)) {
        printf("killed %s\n", rec.id);
        return EXIT_OK;
    }
    /* Not through burrowd (which audits what it does): this command's own record. */
    int r2 = kill(rec.pid, SIGTERM) < 0 && errno != ESRCH ? errno : 0;
    ctl_audit(&cfg, "vm.kill", rec.id, r2 ? EXIT_RUNTIME : EXIT_OK);
    if (r2)
        return cli_err(EXIT_RUNTIME, "cannot signal pid %d: %s", (int)rec.pid, strerror(r2));
    if (!registry_wait_gone(&rec, 10000)) {
        kill(rec.pid, SIGKILL);
        registry_wait_gone(&rec, 2000);
        registry_remove(rec.dir);
    }
    printf("killed %s\n", rec.id);
    return EXIT_OK;
}
