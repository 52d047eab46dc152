/* broker/ctl/vm.c - `burrowctl vm`: dispatch to boot (vm_boot.c), fork, list, kill, balloon
 * (vm_fork.c, ...), hibernate and discard (vm_hibernate.c). */
#include <string.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "common/err.h"
#include "vmm/registry.h"

struct vm_subcmd {
    const char *name;
    int (*main)(struct ctl_ctx *ctx, int argc, char **argv);
};

static const struct vm_subcmd vm_subcmds[] = {
    {"boot", ctl_vm_boot},       {"fork", ctl_vm_fork},       {"list", ctl_vm_list},
    {"kill", ctl_vm_kill},       {"balloon", ctl_vm_balloon}, {"hibernate", ctl_vm_hibernate},
    {"discard", ctl_vm_discard},
};

int ctl_vm_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_err(EXIT_USAGE,
                       "usage: burrowctl vm boot|fork|list|kill|balloon|hibernate|discard ...");
    for (size_t i = 0; i < sizeof(vm_subcmds) / sizeof(vm_subcmds[0]); i++)
        if (strcmp(argv[1], vm_subcmds[i].name) == 0)
            return vm_subcmds[i].main(ctx, argc - 1, argv + 1);
    static const char *const names[] = {"boot",    "fork",      "list",   "kill",
                                        "balloon", "hibernate", "discard"};
    return cli_unknown("vm", argv[1], names, sizeof(names) / sizeof(names[0]));
}

int ctl_vm_lookup(struct ctl_ctx *ctx, const char *id, struct burrow_config *cfg,
                  struct vm_record *rec)
{
    int rc = config_load_cli(cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    int r = registry_get(cfg->paths.run_dir, id, rec);
    if (r == BURROW_ERR_INVALID)
        return cli_err(EXIT_USAGE, "'%s' is not a VM id", id);
    if (r)
        return cli_err(EXIT_RUNTIME, "no running VM %s", id);
    return EXIT_OK;
}

int ctl_vm_record(struct ctl_ctx *ctx, int argc, char **argv, const char *usage,
                  struct burrow_config *cfg, struct vm_record *rec)
{
    if (argc != 2)
        return cli_err(EXIT_USAGE, "%s", usage);
    return ctl_vm_lookup(ctx, argv[1], cfg, rec);
}
