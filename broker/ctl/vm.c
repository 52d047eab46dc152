/* broker/ctl/vm.c - `burrowctl vm`: dispatch to boot (vm_boot.c), fork/list/kill. */
#include <string.h>

#include "broker/cli.h"
#include "broker/ctl/ctl.h"

int ctl_vm_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    if (argc < 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl vm boot|fork|list|kill ...");
    return cli_err(EXIT_RUNTIME, "'vm %s' is not available in this build yet", argv[1]);
}
