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

#include "broker/config.h"
#include "vmm/registry.h"

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
int ctl_session_main(struct ctl_ctx *ctx, int argc, char **argv);

/* broker/ctl/status_mem.c: the memory and KSM section of `status`, "key value" lines. */
struct burrow_config;
int ctl_status_memory(const struct burrow_config *cfg, FILE *out);

/* `vm` subcommands (argv starts at the subcommand's name). */
int ctl_vm_boot(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_fork(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_list(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_kill(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_hibernate(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_vm_discard(struct ctl_ctx *ctx, int argc, char **argv);
/*
 * `vm CMD ID` (argv from CMD): the config and the live record of ID, or the
 * exit code of why not (usage, not a VM id, no running VM ID).
 */
int ctl_vm_record(struct ctl_ctx *ctx, int argc, char **argv, const char *usage,
                  struct burrow_config *cfg, struct vm_record *rec);

/*
 * broker/ctl/audit.c: the audit record of an administrative command: its
 * action and target, taken from argv (from the group name on) before the
 * command runs (getopt permutes argv), then the record with its exit code,
 * sent to burrowd, which writes it, or written here when no burrowd runs.
 * Read-only commands and usage errors leave no record.
 */
struct ctl_audit_plan {
    const char *action; /* NULL: nothing to record */
    char target[128];
};
void ctl_audit_plan(struct ctl_audit_plan *p, int argc, char **argv);
void ctl_audit_command(const struct ctl_ctx *ctx, const struct ctl_audit_plan *p, int rc);
/* One admin record as above, for a command that knows its action itself. */
void ctl_audit(const struct burrow_config *cfg, const char *action, const char *target, int rc);

/* The answer of burrowd to one control request (broker/master/control.h), or an exit code. */
int ctl_daemon_request(const struct burrow_config *cfg, const char *req, char **answer);
int ctl_vm_balloon(struct ctl_ctx *ctx, int argc, char **argv);
/* The config and the registry record of VM `id`, or the exit code of why not. */
int ctl_vm_lookup(struct ctl_ctx *ctx, const char *id, struct burrow_config *cfg,
                  struct vm_record *rec);

#endif /* BURROW_BROKER_CTL_CTL_H */
