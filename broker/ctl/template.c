/*
 * broker/ctl/template.c - `burrowctl template build|list|activate|rm|gc`
 * (docs/fork.md; the work is in vmm/template.c). Builds live in
 * <state_dir>/templates; a build in use by a running VM (run_dir registry)
 * cannot be removed.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "common/err.h"
#include "vmm/hibernate.h"
#include "vmm/registry.h"
#include "vmm/rootfs.h"
#include "vmm/template.h"
#include "vmm/vm.h"

static const char template_usage[] =
    "usage: burrowctl template build --name NAME --kernel FILE [--initrd FILE] [--cmdline STR] "
    "[--mem MiB] [--vcpus N] [--rootfs debian [--packages LIST]]\n"
    "       burrowctl template list | activate NAME-TS | rm NAME-TS | gc";

static void tty_progress(void *ctx, const char *step)
{
    (void)ctx;
    fprintf(stderr, "template: %s...\n", step);
}

static int parse_num(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || x < min || x > max)
        return -1;
    *v = x;
    return 0;
}

/* A running VM maps the build, or a hibernated one will map it again when it resumes. */
static int in_use(void *ctx, const char *build)
{
    const struct burrow_config *cfg = ctx;
    return registry_build_in_use(cfg->paths.run_dir, build) ||
           hib_build_in_use(cfg->paths.state_dir, build);
}

static void templates_dir(const struct burrow_config *cfg, char *out, size_t sz)
{
    snprintf(out, sz, "%s/templates", cfg->paths.state_dir);
}

static int cmd_build(struct burrow_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'N'},
                                         {"kernel", required_argument, NULL, 'k'},
                                         {"initrd", required_argument, NULL, 'i'},
                                         {"cmdline", required_argument, NULL, 'c'},
                                         {"mem", required_argument, NULL, 'm'},
                                         {"vcpus", required_argument, NULL, 'n'},
                                         {"rootfs", required_argument, NULL, 'r'},
                                         {"packages", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    char dir[CONFIG_PATH_MAX + 16];
    templates_dir(cfg, dir, sizeof(dir));
    struct template_build_config bc = {.templates_dir = dir,
                                       .mem_mib = cfg->vm.memory_mb,
                                       .vcpus = cfg->vm.vcpus,
                                       .ready_timeout_ms = 120000,
                                       .console_fd = -1};
    unsigned long v;
    char why[512];
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'N':
            bc.name = optarg;
            break;
        case 'k':
            bc.kernel = optarg;
            break;
        case 'i':
            bc.initrd = optarg;
            break;
        case 'c':
            bc.cmdline = optarg;
            break;
        case 'm':
            if (parse_num(optarg, 32, 1024 * 1024, &v) || v % 2)
                return cli_err(EXIT_USAGE, "--mem: an even number of MiB, at least 32");
            bc.mem_mib = (unsigned)v;
            break;
        case 'n':
            if (parse_num(optarg, 1, VM_MAX_VCPUS, &v))
                return cli_err(EXIT_USAGE, "--vcpus: 1..%u", VM_MAX_VCPUS);
            bc.vcpus = (unsigned)v;
            break;
        case 'r':
            if (!rootfs_kind_ok(optarg))
                return cli_err(EXIT_USAGE, "--rootfs: only '%s' is known", ROOTFS_KIND_DEBIAN);
            bc.rootfs = optarg;
            break;
        case 'p':
            if (rootfs_packages_check(optarg, why, sizeof(why)))
                return cli_err(EXIT_USAGE, "%s", why);
            bc.rootfs_packages = optarg;
            break;
        default:
            return cli_err(EXIT_USAGE, "%s", template_usage);
        }
    }
    if (!bc.name || !bc.kernel || optind != argc)
        return cli_err(EXIT_USAGE, "%s", template_usage);
    if (bc.rootfs_packages && !bc.rootfs)
        return cli_err(EXIT_USAGE, "--packages needs --rootfs debian");
    if (bc.rootfs && !bc.initrd)
        return cli_err(EXIT_USAGE,
                       "--rootfs needs --initrd (its burrow-init mounts the root disk)");
    char script[PATH_MAX], cache[CONFIG_PATH_MAX + 16];
    if (bc.rootfs) {
        snprintf(cache, sizeof(cache), "%s/cache/rootfs", cfg->paths.state_dir);
        bc.rootfs_cache = cache;
        /* Tests: an image made earlier (e.g. on the host before a nested run). */
        const char *pre = getenv("BURROW_ROOTFS_IMAGE");
        if (pre && *pre)
            bc.rootfs_prebuilt = pre;
        else if (rootfs_script_path(script, sizeof(script)))
            return cli_err(EXIT_RUNTIME,
                           "cannot find the root filesystem builder (%s next to burrowctl, or "
                           "$BURROW_MKROOTFS)",
                           ROOTFS_SCRIPT_REL);
        else
            bc.rootfs_script = script;
    }
    /* The files are read with O_NOFOLLOW; the administrator's own symlinks
     * (make guest-kernel's build/guest/kernel/vmlinuz is one) are resolved here. */
    char kernel[PATH_MAX], initrd[PATH_MAX];
    if (!realpath(bc.kernel, kernel))
        return cli_err(EXIT_RUNTIME, "--kernel %s: %s", bc.kernel, strerror(errno));
    bc.kernel = kernel;
    if (bc.initrd) {
        if (!realpath(bc.initrd, initrd))
            return cli_err(EXIT_RUNTIME, "--initrd %s: %s", bc.initrd, strerror(errno));
        bc.initrd = initrd;
    }
    if (isatty(STDERR_FILENO))
        bc.progress = tty_progress;
    /* A new state directory: make what is missing, as `user add` does. */
    if ((mkdir(cfg->paths.state_dir, 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST))
        return cli_err(EXIT_RUNTIME, "cannot create %s: %s", dir, strerror(errno));
    char build[TEMPLATE_BUILD_MAX + 1];
    if (template_build(&bc, build, why, sizeof(why)))
        return cli_err(EXIT_RUNTIME, "template build failed: %s", why);
    printf("%s\n", build);
    return EXIT_OK;
}

static int cmd_list(struct burrow_config *cfg)
{
    char dir[CONFIG_PATH_MAX + 16];
    templates_dir(cfg, dir, sizeof(dir));
    struct template_info *v;
    size_t n;
    if (template_list(dir, &v, &n))
        return cli_err(EXIT_RUNTIME, "cannot list %s: %s", dir, strerror(errno));
    printf("%-40s %-6s %8s %5s %5s  %s\n", "BUILD", "ACTIVE", "MEM_MIB", "VCPUS", "VMS", "CREATED");
    for (size_t i = 0; i < n; i++)
        printf("%-40s %-6s %8u %5u %5u  %s\n", v[i].build, v[i].active ? "*" : "", v[i].mem_mib,
               v[i].vcpus, registry_build_vms(cfg->paths.run_dir, v[i].build), v[i].created);
    free(v);
    return EXIT_OK;
}

int ctl_template_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_err(EXIT_USAGE, "%s", template_usage);
    struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    const char *cmd = argv[1];
    char dir[CONFIG_PATH_MAX + 16], why[512];
    static const char *const cmds[] = {"build", "list", "activate", "rm", "gc"};
    size_t i = 0;
    while (i < sizeof(cmds) / sizeof(cmds[0]) && strcmp(cmd, cmds[i]) != 0)
        i++;
    if (i == sizeof(cmds) / sizeof(cmds[0]))
        return cli_unknown("template", cmd, cmds, i);
    templates_dir(&cfg, dir, sizeof(dir));
    if (strcmp(cmd, "build") == 0)
        return cmd_build(&cfg, argc - 1, argv + 1);
    if (strcmp(cmd, "list") == 0 && argc == 2)
        return cmd_list(&cfg);
    if (strcmp(cmd, "activate") == 0 && argc == 3) {
        if (template_activate(dir, argv[2], why, sizeof(why)))
            return cli_err(EXIT_RUNTIME, "cannot activate %s: %s", argv[2], why);
        printf("activated %s\n", argv[2]);
        return EXIT_OK;
    }
    if (strcmp(cmd, "rm") == 0 && argc == 3) {
        if (template_rm(dir, argv[2], in_use, &cfg, why, sizeof(why)))
            return cli_err(EXIT_RUNTIME, "cannot remove %s: %s", argv[2], why);
        printf("removed %s\n", argv[2]);
        return EXIT_OK;
    }
    if (strcmp(cmd, "gc") == 0 && argc == 2) {
        unsigned removed;
        if (template_gc(dir, in_use, &cfg, &removed))
            return cli_err(EXIT_RUNTIME, "gc of %s failed: %s", dir, strerror(errno));
        printf("removed %u build(s)\n", removed);
        return EXIT_OK;
    }
    return cli_err(EXIT_USAGE, "%s", template_usage);
}
