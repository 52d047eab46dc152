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

#include <stdio.h>

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
int ctl_status_main(struct ctl_ctx *ctx, int argc, char **argv);

/* broker/ctl/status_mem.c: the memory and KSM section of `status`, "key value" lines. */
struct burrow_config;
int ctl_status_memory(const struct burrow_config *cfg, FILE *out);

/* `vm` subcommands (argv starts at the subcommand's name). */
int ctl_vm_boot(int argc, char **argv);
int ctl_vm_fork(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_list(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_kill(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_balloon(struct ctl_ctx *ctx, int argc, char **argv);
/* The config and the registry record of VM `id` (vm.c), or an exit code having said why. */
struct vm_record;
int ctl_vm_lookup(struct ctl_ctx *ctx, const char *id, struct burrow_config *cfg,
                  struct vm_record *rec);

#endif /* BURROW_BROKER_CTL_CTL_H */
