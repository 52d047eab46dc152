/*
 * broker/ctl/vm_balloon.c - `burrowctl vm balloon ID MiB`: the balloon
 * target of a running VM, set through the VMM's control socket
 * (dir/control.sock, vmm/vmmctl.h), with or without burrowd. The guest gives
 * up that much memory (inflates) or takes it back (deflates) at its own
 * pace; `vm list --json` shows the target, what the guest reports it holds
 * and what the device counted. 0 gives everything back. A guest under
 * memory pressure may deflate on its own (deflate-on-OOM): the target then
 * follows it down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "common/err.h"
#include "vmm/registry.h"
#include "vmm/vmmctl.h"

static int parse_mib(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || s[0] == '-' || s[0] == '+' || v > 1024ul * 1024)
        return -1;
    *out = v;
    return 0;
}

int ctl_vm_balloon(struct ctl_ctx *ctx, int argc, char **argv)
{
    unsigned long mib;
    if (argc != 3)
        return cli_err(EXIT_USAGE, "usage: burrowctl vm balloon ID MiB");
    if (parse_mib(argv[2], &mib))
        return cli_err(EXIT_USAGE, "MiB: a whole number of MiB, 0 to the VM's memory ('%s')",
                       argv[2]);
    struct burrow_config cfg;
    struct vm_record rec;
    int rc = ctl_vm_lookup(ctx, argv[1], &cfg, &rec);
    if (rc != EXIT_OK)
        return rc;
    if (strcmp(rec.state, "pool") == 0)
        return cli_err(EXIT_RUNTIME,
                       "VM %s waits in the warm pool: nobody's yet, no balloon to set", rec.id);
    char req[64], ans[256];
    snprintf(req, sizeof(req), "BALLOON %lu", mib);
    int r = vmmctl_call(rec.dir, req, ans, sizeof(ans));
    if (r == BURROW_ERR_NOT_FOUND)
        return cli_err(EXIT_RUNTIME, "VM %s has no control socket (its VMM predates it)", rec.id);
    if (r)
        return cli_err(EXIT_RUNTIME, "VM %s: the VMM did not answer: %s", rec.id,
                       burrow_strerror(r));
    if (strncmp(ans, "ERR ", 4) == 0)
        return cli_err(EXIT_RUNTIME, "VM %s: %s", rec.id, ans + 4);
    if (strncmp(ans, "OK ", 3) != 0)
        return cli_err(EXIT_RUNTIME, "VM %s: unexpected answer '%s'", rec.id, ans);
    printf("%s balloon target %s MiB\n", rec.id, ans + 3);
    return EXIT_OK;
}
