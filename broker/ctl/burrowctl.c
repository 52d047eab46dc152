/* broker/ctl/burrowctl.c - burrowctl: global options and subcommand dispatch. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "broker/buildinfo.h"
#include "broker/cli.h"
#include "broker/ctl/ctl.h"
#include "common/log.h"
#include "vmm/vmmproc.h"

struct ctl_cmd {
    const char *name;
    ctl_main_fn main;
    const char *summary;
};

static const struct ctl_cmd ctl_cmds[] = {
    {"user", ctl_user_main, "manage users, keys, passwords and home disks"},
    {"template", ctl_template_main, "build, list, activate and remove VM templates"},
    {"vm", ctl_vm_main, "boot, fork, list and kill VMs; set their balloons"},
    {"hostkeys", ctl_hostkeys_main, "show the SSH host key fingerprints"},
    {"net", ctl_net_main, "VM networking: bridge, NAT and egress rules"},
    {"status", ctl_status_main, "what the running burrowd serves, memory and KSM (--json)"},
    {"session", ctl_session_main, "list the SSH sessions burrowd serves, or end one"},
};
#define N_CMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: burrowctl [-c FILE] [-v] COMMAND [ARGS...] | --version\n\ncommands:\n");
    for (size_t i = 0; i < N_CMDS; i++)
        fprintf(out, "  %-10s %s\n", ctl_cmds[i].name, ctl_cmds[i].summary);
    fprintf(out, "\nRun 'burrowctl COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"version", no_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct ctl_ctx ctx = {.config_path = BURROW_DEFAULT_CONFIG};
    const char *names[N_CMDS];
    int opt;

    cli_set_prog("burrowctl");
    if (argc == 2 && strcmp(argv[1], VMM_EXEC_ARG) == 0) {
        log_init("burrowctl-vmm", LOG_LVL_INFO);
        vmm_exec_main(); /* `vm fork`'s VMM process, re-executed (vmm/vmmproc.h) */
    }
    log_init("burrowctl", LOG_LVL_WARN);
    /* '+': stop at the first non-option so subcommands parse their own flags. */
    while ((opt = getopt_long(argc, argv, "+c:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            ctx.config_path = optarg;
            ctx.config_explicit = 1;
            break;
        case 'v':
            log_set_level(log_get_level() < LOG_LVL_DEBUG ? log_get_level() + 1 : LOG_LVL_DEBUG);
            break;
        case 'V':
            printf("burrowctl %s\n", burrow_version);
            return EXIT_OK;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < N_CMDS; i++) {
        names[i] = ctl_cmds[i].name;
        if (strcmp(argv[optind], ctl_cmds[i].name) == 0) {
            char **sub = argv + optind;
            int subc = argc - optind;
            struct ctl_audit_plan audit;
            ctl_audit_plan(&audit, subc, sub);
            optind = 1; /* reset getopt for the subcommand */
            int rc = ctl_cmds[i].main(&ctx, subc, sub);
            ctl_audit_command(&ctx, &audit, rc);
            return rc;
        }
    }
    return cli_unknown("", argv[optind], names, N_CMDS);
}
