/*
 * broker/ctl/vm_kill.c - `burrowctl vm kill ID`: SIGTERM to the VMM process
 * (it stops its VM, unregisters and exits); SIGKILL after 5 s, and the
 * record is removed then.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "broker/cli.h"
#include "broker/config.h"
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

int ctl_vm_kill(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl vm kill ID");
    struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    struct vm_record rec;
    int r = registry_get(cfg.paths.run_dir, argv[1], &rec);
    if (r == BURROW_ERR_INVALID)
        return cli_err(EXIT_USAGE, "'%s' is not a VM id", argv[1]);
    if (r)
        return cli_err(EXIT_RUNTIME, "no running VM %s", argv[1]);
    if (kill(rec.pid, SIGTERM) < 0 && errno != ESRCH)
        return cli_err(EXIT_RUNTIME, "cannot signal pid %d: %s", (int)rec.pid, strerror(errno));
    if (!wait_gone(&rec, 5000)) {
        kill(rec.pid, SIGKILL);
        wait_gone(&rec, 2000);
        registry_remove(rec.dir);
    }
    printf("killed %s\n", rec.id);
    return EXIT_OK;
}
