/*
 * broker/ctl/vm_hibernate.c - `burrowctl vm hibernate ID` and `burrowctl
 * vm discard USER` (vmm/hibernate.h, docs/hibernate.md).
 *
 * hibernate: a user's running VM is saved to state_dir/users/NAME/hibernate/
 * and its VMM exits; her next VM (a login, `vm fork --user NAME`) resumes
 * it. While burrowd runs and manages that VM the request goes through its
 * control socket ("vm hibernate <id>": her sessions are told, its table
 * stays right, it writes the audit record) and we wait for the outcome: the
 * VM gone with its image in place, or the reason in hibernate/last-error.
 * Otherwise (no daemon, a standalone `vm fork --user` VM) we do it here.
 *
 * discard: her hibernated image is removed, with a warning: its processes
 * are lost; her home disk keeps what the agent synced before the save.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/master/control.h"
#include "broker/ctl/ctl.h"
#include "broker/users/userdb.h"
#include "common/err.h"
#include "vmm/hibernate.h"
#include "vmm/registry.h"

#define WAIT_MS (11 * 60 * 1000) /* burrowd's helper gives the VMM 10 minutes */

/* state_dir/users/NAME, which must exist: only a user's VM has somewhere to go. */
static int user_dir(const struct burrow_config *cfg, const char *user, char *out, size_t sz)
{
    struct stat st;
    if (userdb_name_check(user, NULL) != 0 ||
        (size_t)snprintf(out, sz, "%s/users/%s", cfg->paths.state_dir, user) >= sz ||
        stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
        return BURROW_ERR_NOT_FOUND;
    return 0;
}

static int print_saved(const char *id, const char *user, const char *dir, uint64_t ms,
                       uint64_t save_ms)
{
    struct hib_info info;
    if (hib_info_read(dir, &info) != 0)
        return cli_err(EXIT_RUNTIME, "VM %s stopped, but %s/%s/%s does not read back", id, dir,
                       HIB_DIR, HIB_IMAGE);
    printf("hibernated %s (user %s): %llu pages, %llu KiB on disk in %llu ms", id, user,
           (unsigned long long)info.h.nr_pages, (unsigned long long)info.disk_kib,
           (unsigned long long)ms);
    if (save_ms)
        printf(" (the VMM's save %llu ms)", (unsigned long long)save_ms);
    printf("\n");
    return EXIT_OK;
}

/* burrowd took the request: wait until the VM is gone (saved) or the reason is written. */
static int wait_outcome(const char *run_dir, const struct vm_record *rec, const char *dir,
                        time_t since, struct timespec t0)
{
    struct timespec step = {0, 50000000L}, now;
    char why[600];
    struct vm_record cur;
    for (unsigned t = 0; t < WAIT_MS; t += 50) {
        if (registry_get(run_dir, rec->id, &cur) != 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            uint64_t ms = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000 +
                          (uint64_t)(now.tv_nsec - t0.tv_nsec) / 1000000;
            if (hib_present(dir))
                return print_saved(rec->id, rec->user, dir, ms, 0);
            if (!hib_last_error(dir, (uint64_t)since, why, sizeof(why)))
                snprintf(why, sizeof(why), "no reason was recorded");
            return cli_err(EXIT_RUNTIME, "VM %s ended without being hibernated: %s", rec->id, why);
        }
        if (hib_last_error(dir, (uint64_t)since, why, sizeof(why)))
            return cli_err(EXIT_RUNTIME, "not hibernated (VM %s keeps running): %s", rec->id, why);
        nanosleep(&step, NULL);
    }
    return cli_err(EXIT_RUNTIME, "VM %s: no outcome after %u s", rec->id, WAIT_MS / 1000);
}

/*
 * 1: burrowd manages the VM and answered (rc set); 0: do it here (no
 * daemon, or a VM it does not know).
 */
static int via_burrowd(const struct burrow_config *cfg, const struct vm_record *rec,
                       const char *dir, int *rc)
{
    char req[64], ans[512];
    struct timespec t0;
    time_t since = time(NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snprintf(req, sizeof(req), "vm hibernate %s", rec->id);
    if (control_request(cfg->paths.run_dir, req, ans, sizeof(ans)) != 0 ||
        strncmp(ans, "error unknown vm", 16) == 0)
        return 0;
    if (!control_answer_ok(ans)) {
        ans[strcspn(ans, "\n")] = '\0';
        *rc = cli_err(EXIT_RUNTIME, "burrowd: %s", strncmp(ans, "error ", 6) ? ans : ans + 6);
        return 1;
    }
    *rc = wait_outcome(cfg->paths.run_dir, rec, dir, since, t0);
    return 1;
}

int ctl_vm_hibernate(struct ctl_ctx *ctx, int argc, char **argv)
{
    struct burrow_config cfg;
    struct vm_record rec;
    char dir[CONFIG_PATH_MAX + 64], why[600];
    int rc = ctl_vm_record(ctx, argc, argv, "usage: burrowctl vm hibernate ID", &cfg, &rec);
    if (rc != EXIT_OK)
        return rc;
    if (strcmp(rec.state, "running") != 0)
        return cli_err(EXIT_RUNTIME, "VM %s is %s, not a user's running VM", rec.id, rec.state);
    if (user_dir(&cfg, rec.user, dir, sizeof(dir)))
        return cli_err(EXIT_RUNTIME,
                       "VM %s is not a user's (user '%s' has no directory in %s/users): only a "
                       "user's VM can be hibernated",
                       rec.id, rec.user, cfg.paths.state_dir);
    if (via_burrowd(&cfg, &rec, dir, &rc))
        return rc;
    struct hib_result res;
    int r = hib_request(cfg.paths.run_dir, rec.id, dir, &res, why, sizeof(why));
    ctl_audit(&cfg, "vm.hibernate", rec.id, r ? EXIT_RUNTIME : EXIT_OK);
    if (r)
        return cli_err(EXIT_RUNTIME, "not hibernated: %s", why);
    return print_saved(rec.id, rec.user, dir, res.ms, res.save_ms);
}

int ctl_vm_discard(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl vm discard USER");
    if (userdb_name_check(argv[1], NULL) != 0)
        return cli_err(EXIT_USAGE, "'%s' is not a user name", argv[1]);
    struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    char dir[CONFIG_PATH_MAX + 64], why[600];
    struct hib_info info;
    if (user_dir(&cfg, argv[1], dir, sizeof(dir)) || !hib_present(dir))
        return cli_err(EXIT_RUNTIME, "%s has no hibernated VM", argv[1]);
    int bad = hib_info_read(dir, &info);
    fprintf(stderr,
            "burrowctl: warning: discarding the hibernated VM of %s (%llu KiB%s%s): every "
            "process it ran and everything in its memory is lost; her home disk keeps what was "
            "synced when it was saved, and her next login gets a fresh VM\n",
            argv[1], (unsigned long long)info.disk_kib, bad ? "" : ", from build ",
            bad ? "" : info.h.build);
    int r = hib_discard(dir, why, sizeof(why));
    ctl_audit(&cfg, "vm.discard", argv[1], r ? EXIT_RUNTIME : EXIT_OK);
    if (r)
        return cli_err(EXIT_RUNTIME, "not discarded: %s", why);
    printf("discarded the hibernated VM of %s\n", argv[1]);
    return EXIT_OK;
}
