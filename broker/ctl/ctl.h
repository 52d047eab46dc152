/*
 * broker/ctl/ctl.h - burrowctl's subcommand table.
 *
 * Owns: the interface every `burrowctl <group>` implementation provides.
 * Each group lives in its own file (user.c, vm.c, template.c, ...). A group's
 * main gets argv starting at the group name and returns an exit code from
 * broker/cli.h.
 */
#ifndef BURROW_BROKER_CTL_CTL_H
#define BURROW_BROKER_CTL_CTL_H

struct ctl_ctx {
    const char *config_path; /* -c FILE, or BURROW_DEFAULT_CONFIG */
    int config_explicit;     /* -c was given: a missing file is an error */
};

typedef int (*ctl_main_fn)(struct ctl_ctx *ctx, int argc, char **argv);

int ctl_user_main(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_main(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_template_main(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_hostkeys_main(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_net_main(struct ctl_ctx *ctx, int argc, char **argv);

/* `vm` subcommands (argv starts at the subcommand's name). */
int ctl_vm_boot(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_fork(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_list(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_kill(struct ctl_ctx *ctx, int argc, char **argv);

#endif /* BURROW_BROKER_CTL_CTL_H */
