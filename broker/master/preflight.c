/* broker/master/preflight.c - burrowd's start-up prerequisites (see preflight.h). */
#include "broker/master/preflight.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/buildinfo.h"
#include "vmm/template.h"

static void problem(int *n, preflight_report_fn report, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(int *n, preflight_report_fn report, void *ctx, const char *fmt, ...)
{
    char text[PREFLIGHT_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    (*n)++;
    report(ctx, text);
}

int preflight_unsearchable(const char *path, char *bad, size_t badsz, unsigned *mode)
{
    char prefix[CONFIG_PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(prefix) || path[0] != '/')
        return 0;
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        memcpy(prefix, path, i);
        prefix[i] = 0;
        struct stat st;
        if (stat(prefix, &st) != 0)
            return 0; /* burrowd creates the rest 0755 */
        if (S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH)) {
            snprintf(bad, badsz, "%s", prefix);
            *mode = st.st_mode & 07777;
            return 1;
        }
    }
    return 0;
}

static void check_kvm(const struct burrow_config *cfg, int *n, preflight_report_fn report,
                      void *ctx)
{
    char tdir[CONFIG_PATH_MAX + 16], build[TEMPLATE_BUILD_MAX + 1];
    snprintf(tdir, sizeof(tdir), "%s/templates", cfg->paths.state_dir);
    if (template_active(tdir, cfg->vm.template_name, build, sizeof(build)) != 0)
        problem(n, report, ctx,
                "the kvm backend forks every VM from [vm] template = %s, which has no active "
                "build in %s: build one with `burrowctl template build --name %s --kernel "
                "VMLINUZ --initrd INITRD` (docs/fork.md), or set [vm] backend = sandbox",
                cfg->vm.template_name, tdir, cfg->vm.template_name);
}

static void check_sandbox(const struct burrow_config *cfg, struct preflight *out, int *n,
                          preflight_report_fn report, void *ctx)
{
    if (vmmgr_guest_image(cfg, out->guest_image, sizeof(out->guest_image)) != 0)
        problem(n, report, ctx,
                "the sandbox backend needs a guest image and there is none at %s nor at "
                "%s/initramfs.cpio.gz: install it with `make install` in the source tree, or "
                "copy one there: `install -D -m 0644 build/guest/initramfs.cpio.gz %s`",
                out->guest_image, burrow_guest_dir, out->guest_image);
}

static void check_run_dir(const struct burrow_config *cfg, int *n, preflight_report_fn report,
                          void *ctx)
{
    char bad[CONFIG_PATH_MAX];
    unsigned mode;
    if (preflight_unsearchable(cfg->paths.run_dir, bad, sizeof(bad), &mode))
        problem(n, report, ctx,
                "[paths] run_dir = %s: %s is mode %04o, so session processes (an "
                "unprivileged uid after login) cannot reach their VM's socket below it: "
                "`chmod o+x %s`, or choose a run_dir whose every directory is searchable "
                "(e.g. /run/burrow)",
                cfg->paths.run_dir, bad, mode, bad);
}

/* A file burrowd creates at path: its directory (or that one's parent) must be writable. */
static void check_writable_place(const char *key, const char *path, int *n,
                                 preflight_report_fn report, void *ctx)
{
    char dir[CONFIG_PATH_MAX], parent[CONFIG_PATH_MAX];
    struct stat st;
    if (!path[0])
        return;
    if (lstat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode) && !S_ISSOCK(st.st_mode))
            problem(n, report, ctx, "%s = %s: exists and is not a regular file", key, path);
        else if (S_ISREG(st.st_mode) && access(path, W_OK) != 0)
            problem(n, report, ctx, "%s = %s: not writable: %s", key, path, strerror(errno));
        return;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    snprintf(parent, sizeof(parent), "%s", dirname(dir));
    if (access(parent, W_OK | X_OK) == 0)
        return;
    char up[CONFIG_PATH_MAX];
    snprintf(up, sizeof(up), "%s", parent);
    if (errno == ENOENT && access(dirname(up), W_OK | X_OK) == 0)
        return; /* burrowd makes that one directory */
    problem(n, report, ctx, "%s = %s: cannot create it in %s: %s (create the directory)", key, path,
            parent, strerror(errno));
}

int preflight_check(const struct burrow_config *cfg, struct preflight *out,
                    preflight_report_fn report, void *ctx)
{
    int n = 0;
    memset(out, 0, sizeof(*out));
    out->be = vmmgr_pick_backend(cfg, out->backend_why, sizeof(out->backend_why));
    if (!out->be)
        problem(&n, report, ctx,
                "[vm] backend: %s; load the KVM module (`modprobe kvm_intel` or `modprobe "
                "kvm_amd`) or set [vm] backend = sandbox",
                out->backend_why);
    else if (out->be == &backend_kvm)
        check_kvm(cfg, &n, report, ctx);
    else
        check_sandbox(cfg, out, &n, report, ctx);
    check_run_dir(cfg, &n, report, ctx);
    check_writable_place("[audit] file", cfg->audit.file, &n, report, ctx);
    if (cfg->metrics.listen.kind == METRICS_UNIX)
        check_writable_place("[metrics] listen", cfg->metrics.listen.path, &n, report, ctx);
    return n;
}
