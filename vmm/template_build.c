/* vmm/template_build.c - `template build`: boot, READY, quiescent point, snapshot, write, activate
 * (see template.h). */
#include "vmm/template.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/atomicfile.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/machine.h"
#include "vmm/rootfs.h"
#include "vmm/snapshot.h"
#include "vmm/template_files.h"

/* ---- building ---- */

struct build_ctx {
    const struct template_build_config *cfg;
    char tmpdir[4096];
    char sock[108];
    struct machine m;
    struct control_port cp;
    struct fork_identity id;
    int cp_inited;
    uint8_t *kernel, *initrd;
    size_t kernel_len, initrd_len;
    struct snap_writer w;
    char memory_hash[TPL_HASH_HEX];
    char rootfs_img[4096]; /* "" without --rootfs */
    char rootfs_hash[TPL_HASH_HEX];
    char cmdline[BOOT_CMDLINE_MAX]; /* with burrow.root= when there is a rootfs */
};

static void progress(const struct build_ctx *b, const char *step)
{
    if (b->cfg->progress)
        b->cfg->progress(b->cfg->progress_ctx, step);
}

static int build_boot(struct build_ctx *b, char *why, size_t whysz)
{
    const struct template_build_config *cfg = b->cfg;
    /*
     * A virtio-net slot with no backend: forks attach their TAP and MAC
     * (vmm/fork.c). The balloon: every fork restores it and returns the
     * pages its guest frees (free page reporting).
     */
    struct devices_config dc = {.vsock_uds = b->sock,
                                .disk_empty_slot = true,
                                .root_disk = b->rootfs_img[0] ? b->rootfs_img : NULL,
                                .net = true,
                                .net_tap_fd = -1,
                                .balloon = true};
    struct machine_config mc = {.kernel = b->kernel,
                                .kernel_len = b->kernel_len,
                                .initrd = b->initrd,
                                .initrd_len = b->initrd_len,
                                .cmdline = b->rootfs_img[0] ? b->cmdline : cfg->cmdline,
                                .mem_size = (uint64_t)cfg->mem_mib * 1024 * 1024,
                                .nr_vcpus = cfg->vcpus,
                                .console_in = -1,
                                .console_out = cfg->console_fd,
                                .devices = &dc};
    int r = machine_create(&b->m, &mc);
    if (r)
        return errmsg_sys(why, whysz, r, "%s", b->m.why);
    snprintf(b->id.user, sizeof(b->id.user), "root");
    snprintf(b->id.shell, sizeof(b->id.shell), "/bin/sh");
    snprintf(b->id.home, sizeof(b->id.home), "/root");
    snprintf(b->id.hostname, sizeof(b->id.hostname), "%s", cfg->name);
    control_port_init(&b->cp, b->m.vm, &b->id);
    b->cp_inited = 1;
    if ((r = control_port_listen(&b->cp, &b->m.devices)))
        return errmsg_sys(why, whysz, r, "control port: %s", burrow_strerror(r));
    progress(b, "booting the template VM");
    if ((r = vm_start(b->m.vm)))
        return errmsg_sys(why, whysz, r, "cannot start the VM: %s", burrow_strerror(r));
    progress(b, "waiting for the guest to report READY on port 1025");
    r = control_port_wait_ready(&b->cp, 0, cfg->ready_timeout_ms);
    if (r == BURROW_ERR_CLOSED)
        return errmsg_sys(why, whysz, r, "the template VM stopped before READY: %s",
                          b->m.vm->exit.detail);
    if (r)
        return errmsg_sys(why, whysz, r, "the guest did not report READY within %u s",
                          cfg->ready_timeout_ms / 1000);
    return 0;
}

/*
 * The root filesystem disk: built (or a prebuilt one copied) into the build
 * directory, scratch removed, then made read-only and checksummed. A
 * failure leaves the image and the scratch for template_build's cleanup.
 */
static int build_rootfs(struct build_ctx *b, char *why, size_t whysz)
{
    const struct template_build_config *cfg = b->cfg;
    char work[4096];
    int r;
    if (!rootfs_kind_ok(cfg->rootfs))
        return errmsg(why, whysz, BURROW_ERR_INVALID, "--rootfs %s: only '%s' is known",
                      cfg->rootfs, ROOTFS_KIND_DEBIAN);
    if (!cfg->initrd)
        return errmsg(why, whysz, BURROW_ERR_INVALID,
                      "--rootfs needs --initrd (its burrow-init mounts the root disk)");
    if (cfg->rootfs_packages && (r = rootfs_packages_check(cfg->rootfs_packages, why, whysz)))
        return r;
    if ((r = tpl_pjoin(b->rootfs_img, sizeof(b->rootfs_img), b->tmpdir, ROOTFS_IMAGE_FILE)) ||
        (r = tpl_pjoin(work, sizeof(work), b->tmpdir, "rootfs.work")) ||
        (r = rootfs_cmdline(cfg->cmdline, b->cmdline, sizeof(b->cmdline))))
        return errmsg(why, whysz, r, "build directory path or command line too long");
    if (cfg->rootfs_prebuilt) {
        progress(b, "copying the prebuilt root filesystem image");
        r = rootfs_copy_image(cfg->rootfs_prebuilt, b->rootfs_img, why, whysz);
    } else {
        progress(b, "building the Debian root filesystem (debootstrap, mke2fs)");
        struct rootfs_build rb = {.script = cfg->rootfs_script,
                                  .image = b->rootfs_img,
                                  .work_dir = work,
                                  .initrd = cfg->initrd,
                                  .cache_dir = cfg->rootfs_cache,
                                  .packages = cfg->rootfs_packages};
        r = rootfs_build_image(&rb, why, whysz);
        rootfs_rm_tree(work);
    }
    if (r)
        return r;
    progress(b, "checksumming the root filesystem image");
    if (chmod(b->rootfs_img, 0444) < 0 || (r = tpl_hash_file(b->rootfs_img, b->rootfs_hash)))
        return errmsg_sys(why, whysz, r ? r : BURROW_ERR_SYSTEM, "%s", b->rootfs_img);
    return 0;
}

/* Quiescent point: vCPUs parked (I/O completed), device thread stopped. */
static int build_snapshot(struct build_ctx *b, char *why, size_t whysz)
{
    progress(b, "pausing and snapshotting");
    struct vm *vm = b->m.vm;
    int r = vm_pause(vm, 5000);
    if (r)
        return errmsg_sys(why, whysz, r, "the vCPUs did not reach a quiescent point");
    evloop_stop(vm->loop);
    evloop_join(vm->loop);
    if ((r = snap_writer_init(&b->w)) || (r = snap_save_machine(&b->m, &b->w, why, whysz)) ||
        (r = snap_finish(&b->w)))
        return why[0] ? r : errmsg_sys(why, whysz, r, "snapshot: %s", burrow_strerror(r));
    /* Stopped for good: parked vCPUs leave without running guest code again. */
    vm_request_stop(vm, VM_STOP_HOST, 0, "template snapshot taken");
    vm_wait(vm, NULL);
    return 0;
}

static int build_write(struct build_ctx *b, char *why, size_t whysz)
{
    const struct template_build_config *cfg = b->cfg;
    char path[4096], state_hash[TPL_HASH_HEX], khash[TPL_HASH_HEX], ihash[TPL_HASH_HEX] = "";
    progress(b, "writing memory (sparse) and state");
    int r;
    if ((r = tpl_pjoin(path, sizeof(path), b->tmpdir, "memory")) ||
        (r = tpl_write_memory(path, b->m.vm->ram, b->m.vm->ram_size, b->memory_hash)))
        return errmsg_sys(why, whysz, r, "%s/memory", b->tmpdir);
    if ((r = tpl_pjoin(path, sizeof(path), b->tmpdir, "state")) ||
        (r = tpl_write_new_file(path, buf_data(b->w.out), buf_used(b->w.out))) ||
        (r = tpl_hash_file(path, state_hash)))
        return errmsg_sys(why, whysz, r, "%s", path);
    uint8_t h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof(h), b->kernel, b->kernel_len, NULL, 0);
    tpl_hex(h, sizeof(h), khash);
    if (b->initrd) {
        crypto_generichash(h, sizeof(h), b->initrd, b->initrd_len, NULL, 0);
        tpl_hex(h, sizeof(h), ihash);
    }
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    /* Absolute paths in the manifest: it must still say what was booted when read elsewhere. */
    char kernel[4096], initrd[4096] = "";
    if (!realpath(cfg->kernel, kernel))
        snprintf(kernel, sizeof(kernel), "%s", cfg->kernel);
    if (cfg->initrd && !realpath(cfg->initrd, initrd))
        snprintf(initrd, sizeof(initrd), "%s", cfg->initrd);
    const char *slash = strrchr(b->tmpdir, '/');
    const char *build = strchr(slash ? slash + 1 : b->tmpdir, '-') + 1; /* ".build-" prefix */
    char text[TEMPLATE_MANIFEST_MAX], rootfs[1024 + ROOTFS_PKGS_LEN_MAX] = "";
    if (b->rootfs_img[0] &&
        snprintf(rootfs, sizeof(rootfs),
                 "rootfs = %s\nrootfs_image = %s\nrootfs_blake2b = %s\nrootfs_packages = %s\n"
                 "rootfs_device = %s\n",
                 cfg->rootfs, ROOTFS_IMAGE_FILE, b->rootfs_hash,
                 cfg->rootfs_packages ? cfg->rootfs_packages : "",
                 ROOTFS_GUEST_DEV) >= (int)sizeof(rootfs))
        return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "manifest too large (--packages?)");
    int n = snprintf(text, sizeof(text),
                     "# Burrow template build (design section 4). Never edited after writing.\n"
                     "format = 1\nname = %s\nbuild = %s\ncreated = %s\n"
                     "kernel = %s\nkernel_blake2b = %s\ninitrd = %s\ninitrd_blake2b = %s\n"
                     "cmdline = %s\nmemory_mib = %u\nvcpus = %u\n"
                     "memory_blake2b = %s\nstate_blake2b = %s\n%s",
                     cfg->name, build, created, kernel, khash, initrd, ihash, b->m.cmdline,
                     cfg->mem_mib, cfg->vcpus, b->memory_hash, state_hash, rootfs);
    if (n < 0 || (size_t)n >= sizeof(text))
        return errmsg_sys(why, whysz, BURROW_ERR_TOO_LARGE, "manifest too large (command line?)");
    if ((r = tpl_pjoin(path, sizeof(path), b->tmpdir, "manifest")) ||
        (r = tpl_write_new_file(path, text, (size_t)n)) || (r = fs_fsync_dir(b->tmpdir)))
        return errmsg_sys(why, whysz, r, "%s", path);
    return 0;
}

static int build_name(const struct template_build_config *cfg, char *build, size_t sz)
{
    char ts[32];
    time_t now = time(NULL);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%S", gmtime(&now));
    for (int i = 0; i < 10; i++) {
        char dir[4096];
        if (i == 0)
            snprintf(build, sz, "%s-%s", cfg->name, ts);
        else
            snprintf(build, sz, "%s-%s.%d", cfg->name, ts, i);
        snprintf(dir, sizeof(dir), "%s/%s", cfg->templates_dir, build);
        if (access(dir, F_OK) < 0)
            return 0;
    }
    return BURROW_ERR_EXISTS;
}

static void build_cleanup(struct build_ctx *b)
{
    if (b->m.vm) {
        machine_destroy(&b->m);
    }
    if (b->cp_inited)
        control_port_fini(&b->cp);
    snap_writer_free(&b->w);
    free(b->kernel);
    free(b->initrd);
    unlink(b->sock);
}

int template_build(const struct template_build_config *cfg, char *build_out, char *why,
                   size_t whysz)
{
    why[0] = '\0';
    if (!template_name_ok(cfg->name))
        return errmsg_sys(why, whysz, BURROW_ERR_INVALID,
                          "template name '%s': 1-%d of [a-z0-9_.-], starting with [a-z0-9_]",
                          cfg->name, TEMPLATE_NAME_MAX);
    if (mkdir(cfg->templates_dir, 0755) < 0 && errno != EEXIST)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "cannot create %s", cfg->templates_dir);
    char build[TEMPLATE_BUILD_MAX + 1], final[4096];
    if (build_name(cfg, build, sizeof(build)))
        return errmsg_sys(why, whysz, BURROW_ERR_EXISTS, "too many builds of %s this second",
                          cfg->name);
    struct build_ctx *b = calloc(1, sizeof(*b));
    if (!b)
        return BURROW_ERR_NOMEM;
    b->cfg = cfg;
    snprintf(b->tmpdir, sizeof(b->tmpdir), "%s/.build-%s", cfg->templates_dir, build);
    /*
     * The template VM's vsock socket lives in its build directory (nobody
     * else can pre-create it there); vsock allows 96 bytes of path, so a
     * deep templates_dir falls back to a per-process name in /tmp.
     */
    if (tpl_pjoin(b->sock, 97, b->tmpdir, "vsock.sock")) {
        snprintf(b->sock, sizeof(b->sock), "/tmp/burrow-template-%d.sock", (int)getpid());
        unlink(b->sock);
    }
    snprintf(final, sizeof(final), "%s/%s", cfg->templates_dir, build);
    int r;
    if (mkdir(b->tmpdir, 0755) < 0) {
        r = errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "cannot create %s", b->tmpdir);
        goto out;
    }
    if ((r = fork_read_file(cfg->kernel, MACHINE_KERNEL_MAX, &b->kernel, &b->kernel_len))) {
        errmsg_sys(why, whysz, r, "kernel %s: %s", cfg->kernel, burrow_strerror(r));
        goto out;
    }
    if (cfg->initrd &&
        (r = fork_read_file(cfg->initrd, MACHINE_INITRD_MAX, &b->initrd, &b->initrd_len))) {
        errmsg_sys(why, whysz, r, "initrd %s: %s", cfg->initrd, burrow_strerror(r));
        goto out;
    }
    if (cfg->rootfs && (r = build_rootfs(b, why, whysz)))
        goto out;
    if ((r = build_boot(b, why, whysz)) || (r = build_snapshot(b, why, whysz)) ||
        (r = build_write(b, why, whysz)))
        goto out;
    unlink(b->sock); /* the VM is stopped: nothing listens there any more */
    if (rename(b->tmpdir, final) < 0 || fs_fsync_dir(cfg->templates_dir)) {
        r = errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "cannot rename the build to %s", final);
        goto out;
    }
    progress(b, "verifying and activating");
    if ((r = template_activate(cfg->templates_dir, build, why, whysz)))
        goto out;
    snprintf(build_out, TEMPLATE_BUILD_MAX + 1, "%s", build);
out:
    build_cleanup(b);
    if (r)
        tpl_rm_build_dir(b->tmpdir);
    free(b);
    return r;
}
