/*
 * broker/ctl/vm_kill.c - `burrowctl vm kill ID`. While burrowd runs and
 * manages that VM, the request goes through its control socket
 * (broker/control.h: "vm kill <id>"), so the user's sessions get a clear
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
#include <time.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/control.h"
#include "broker/ctl/ctl.h"
#include "common/err.h"
#include "vmm/registry.h"

static int gone(const struct vm_record *rec)
{
    return (kill(rec->pid, 0) < 0 && errno == ESRCH) ||
           registry_pid_start(rec->pid) != rec->pid_start;
}

static int wait_gone(const struct vm_record *rec, unsigned ms)
{
    struct timespec step = {0, 20000000L};
    for (unsigned t = 0; t < ms; t += 20) {
        if (gone(rec))
            return 1;
        nanosleep(&step, NULL);
    }
    return gone(rec);
}

/*
 * 1 if burrowd took the request and the VM is gone; 0: kill it ourselves
 * (no daemon, burrowd does not manage this VM, or it did not end in time).
 */
static int kill_via_burrowd(const char *run_dir, const struct vm_record *rec)
{
    char req[64], ans[512];
    snprintf(req, sizeof(req), "vm kill %s", rec->id);
    if (control_request(run_dir, req, ans, sizeof(ans)) != 0)
        return 0;
    size_t n = strlen(ans);
    if (n < 3 || strcmp(ans + n - 3, "ok\n") != 0 || (n > 3 && ans[n - 4] != '\n'))
        return 0;
    /* burrowd asks the agent to sync first (up to 5 s), then stops the VM. */
    return wait_gone(rec, 10000);
}

int ctl_vm_kill(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl vm kill ID");
    struct burrow_config cfg;
    struct vm_record rec;
    int rc = ctl_vm_lookup(ctx, argv[1], &cfg, &rec);
    if (rc != EXIT_OK)
        return rc;
    if (kill_via_burrowd(cfg.paths.run_dir, &rec)) {
        printf("killed %s\n", rec.id);
        return EXIT_OK;
    }
    if (kill(rec.pid, SIGTERM) < 0 && errno != ESRCH)
        return cli_err(EXIT_RUNTIME, "cannot signal pid %d: %s", (int)rec.pid, strerror(errno));
    if (!wait_gone(&rec, 10000)) {
        kill(rec.pid, SIGKILL);
        wait_gone(&rec, 2000);
        registry_remove(rec.dir);
    }
    printf("killed %s\n", rec.id);
    return EXIT_OK;
}
