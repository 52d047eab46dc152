/*
 * broker/ctl/audit.c - audit records of burrowctl's administrative commands
 * and the common way to ask burrowd something (see ctl.h).
 *
 * burrowd's master is the audit log's writer: a record goes to it over the
 * control socket ("admin ACTION TARGET RESULT"). With no burrowd running,
 * burrowctl appends the same record to [audit] file itself (O_APPEND: one
 * write per line, so the two writers never interleave).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/master/audit.h"
#include "broker/cli.h"
#include "broker/master/control.h"
#include "broker/ctl/ctl.h"
#include "common/err.h"

/* Which commands change something, and which argument names the target. */
struct audited {
    const char *group, *sub, *sub2; /* sub2: a third word (user key add) or NULL */
    const char *action;
    int target; /* argv index of the target; 0 = none; -1 = the value of --name */
};

static const struct audited audited[] = {
    {"user", "add", NULL, "user.add", 2},
    {"user", "del", NULL, "user.del", 2},
    {"user", "passwd", NULL, "user.passwd", 2},
    {"user", "lock", NULL, "user.lock", 2},
    {"user", "unlock", NULL, "user.unlock", 2},
    {"user", "set", NULL, "user.set", 2},
    {"user", "key", "add", "user.key.add", 3},
    {"user", "key", "rm", "user.key.rm", 3},
    {"user", "disk", "resize", "user.disk.resize", 3},
    {"template", "build", NULL, "template.build", -1},
    {"template", "activate", NULL, "template.activate", 2},
    {"template", "rm", NULL, "template.rm", 2},
    {"template", "gc", NULL, "template.gc", 0},
    {"net", "apply", NULL, "net.apply", 0},
    {"net", "remove", NULL, "net.remove", 0},
};

/* A target as the record may carry it: [A-Za-z0-9._:-], at most 120 bytes, else "invalid". */
static const char *target_word(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (!t)
        return "-";
    if (n == 0 || n > 120 ||
        strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:") != n)
        return "invalid";
    return t;
}

static const char *name_option(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--name=", 7) == 0)
            return argv[i] + 7;
    }
    return NULL;
}

/* Options of the audited commands that take no value (the others take the next argument). */
static int is_flag(const char *opt)
{
    return strcmp(opt, "--password-stdin") == 0 || strcmp(opt, "--keep-home") == 0 ||
           strcmp(opt, "--json") == 0;
}

/* The first positional argument from argv[from] on, skipping "--opt VALUE" pairs. */
static const char *positional(int argc, char **argv, int from)
{
    for (int i = from; i < argc; i++) {
        if (argv[i][0] != '-')
            return argv[i];
        if (!strchr(argv[i], '=') && !is_flag(argv[i]))
            i++;
    }
    return NULL;
}

void ctl_audit(const struct burrow_config *cfg, const char *action, const char *target, int rc)
{
    char req[CONTROL_LINE_MAX], *ans = NULL;
    const char *result = rc == EXIT_OK ? "ok" : "failed";
    snprintf(req, sizeof(req), "admin %s %s %s", action, target_word(target), result);
    int r = control_request_alloc(cfg->paths.run_dir, req, &ans);
    int taken = r == 0 && control_answer_ok(ans);
    free(ans);
    if (taken || r != BURROW_ERR_NOT_FOUND)
        return; /* burrowd wrote it (or is there and refused it: never twice) */
    struct audit a;
    char err[CONFIG_ERR_MAX];
    struct ucred me = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
    if (!cfg->audit.file[0] && !cfg->audit.journald)
        return;
    if (audit_open(&a, cfg, "burrowctl", NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "burrowctl: warning: %s\n", err);
        return;
    }
    if (audit_admin(&a, action, target_word(target), result, "burrowctl", &me) != 0)
        fprintf(stderr, "burrowctl: warning: cannot write the audit record\n");
    audit_close(&a);
}

void ctl_audit_plan(struct ctl_audit_plan *p, int argc, char **argv)
{
    memset(p, 0, sizeof(*p));
    for (size_t i = 0; i < sizeof(audited) / sizeof(audited[0]); i++) {
        const struct audited *a = &audited[i];
        if (argc < 2 || strcmp(argv[0], a->group) != 0 || strcmp(argv[1], a->sub) != 0 ||
            (a->sub2 && (argc < 3 || strcmp(argv[2], a->sub2) != 0)))
            continue;
        const char *target = a->target == -1  ? name_option(argc, argv)
                             : a->target == 0 ? NULL
                                              : positional(argc, argv, a->target);
        p->action = a->action;
        snprintf(p->target, sizeof(p->target), "%s", target_word(target));
        return;
    }
}

void ctl_audit_command(const struct ctl_ctx *ctx, const struct ctl_audit_plan *p, int rc)
{
    struct burrow_config cfg;
    if (!p->action || (rc != EXIT_OK && rc != EXIT_RUNTIME))
        return; /* not an administrative command, or a usage error that did nothing */
    /* The command loaded this config already; a broken one never gets here. */
    if (config_load(&cfg, ctx->config_path, ctx->config_explicit ? 0 : CONFIG_LOAD_OPTIONAL, NULL,
                    0) == 0)
        ctl_audit(&cfg, p->action, p->target, rc);
}

int ctl_daemon_request(const struct burrow_config *cfg, const char *req, char **answer)
{
    int r = control_request_alloc(cfg->paths.run_dir, req, answer);
    if (r == BURROW_ERR_NOT_FOUND)
        return cli_err(EXIT_RUNTIME,
                       "burrowd is not running (no control socket at %s/control.sock)",
                       cfg->paths.run_dir);
    if (r != 0)
        return cli_err(EXIT_RUNTIME, "cannot talk to burrowd: %s", burrow_strerror(r));
    return EXIT_OK;
}
