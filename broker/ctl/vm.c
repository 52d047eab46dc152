/* broker/ctl/vm.c - `burrowctl vm`: dispatch to boot (vm_boot.c), fork, list, kill (vm_fork.c,
 * ...). */
#include <string.h>

#include "broker/cli.h"
#include "broker/ctl/ctl.h"

struct vm_subcmd {
    const char *name;
    int (*main)(struct ctl_ctx *ctx, int argc, char **argv);
};

static const struct vm_subcmd vm_subcmds[] = {
    {"boot", ctl_vm_boot},
    {"fork", ctl_vm_fork},
    {"list", ctl_vm_list},
    {"kill", ctl_vm_kill},
};

int ctl_vm_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl vm boot|fork|list|kill ...");
    for (size_t i = 0; i < sizeof(vm_subcmds) / sizeof(vm_subcmds[0]); i++)
        if (strcmp(argv[1], vm_subcmds[i].name) == 0)
            return vm_subcmds[i].main(ctx, argc - 1, argv + 1);
    return cli_err(EXIT_RUNTIME, "'vm %s' is not available in this build yet", argv[1]);
}
