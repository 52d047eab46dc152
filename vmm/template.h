/*
 * vmm/template.h - template builds on disk (docs/fork.md).
 *
 * Owns: templates/<name>-<ts>/{memory,state,manifest[,rootfs.img]}, the templates/<name>
 * symlink (the active build, switched atomically: symlink to a temporary
 * name, then rename), building (boot, wait for READY on port 1025, pause,
 * snapshot, write, verify, activate), activation (memory checksum checked),
 * listing, removal (refused while a VM maps the build) and gc.
 *
 * `memory` is written sparse (zero pages are holes), fsynced and made
 * read-only; the template VM is stopped for good before activation, since
 * MAP_PRIVATE forks would still see later writes to pages they have not
 * copied. A build's files are never modified after it is written.
 */
#ifndef BURROW_VMM_TEMPLATE_H
#define BURROW_VMM_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#define TEMPLATE_NAME_MAX     32
#define TEMPLATE_BUILD_MAX    (TEMPLATE_NAME_MAX + 20) /* NAME-YYYYmmddTHHMMSS(-N) */
#define TEMPLATE_MANIFEST_MAX 8192

/* Progress lines (NULL: silent). */
typedef void (*template_progress_fn)(void *ctx, const char *step);

struct template_build_config {
    const char *templates_dir; /* state_dir/templates (created if missing) */
    const char *name;
    const char *kernel, *initrd; /* initrd may be NULL */
    const char *cmdline;         /* may be NULL */
    unsigned mem_mib, vcpus;
    unsigned ready_timeout_ms;
    int console_fd; /* the template guest's serial output, -1: dropped */
    template_progress_fn progress;
    void *progress_ctx;
    /*
     * A root filesystem disk (vmm/rootfs.h): NULL, or "debian". The image
     * is built into the build directory (rootfs.img, read-only, checksummed
     * in the manifest), attached read-only, and burrow.root= is added to the
     * command line; needs initrd (its burrow-init mounts the disk).
     */
    const char *rootfs;
    const char *rootfs_packages; /* extra packages (checked by rootfs_packages_check), or NULL */
    const char *rootfs_cache;    /* the download cache directory */
    const char *rootfs_script;   /* rootfs_script_path() */
    const char *rootfs_prebuilt; /* an image to copy instead of building one (tests), or NULL */
};

/* Name: [a-z0-9_] first, then [a-z0-9_.-], at most TEMPLATE_NAME_MAX. */
int template_name_ok(const char *name);
/* A build id NAME-TS; *name_len gets the name's length. */
int template_build_id_ok(const char *build, size_t *name_len);

/* Build and activate; *build_out (TEMPLATE_BUILD_MAX+1) gets NAME-TS. */
__attribute__((warn_unused_result)) int template_build(const struct template_build_config *cfg,
                                                       char *build_out, char *why, size_t whysz);
/* Verify (memory and state checksums against the manifest) and switch the symlink. */
__attribute__((warn_unused_result)) int
template_activate(const char *templates_dir, const char *build, char *why, size_t whysz);
/* The active build of name (the symlink's target), or NOT_FOUND. */
__attribute__((warn_unused_result)) int template_active(const char *templates_dir, const char *name,
                                                        char *build, size_t buildsz);

struct template_info {
    char build[TEMPLATE_BUILD_MAX + 1];
    char name[TEMPLATE_NAME_MAX + 1];
    int active;
    unsigned mem_mib, vcpus;
    char created[32];
};
/* Every build (sorted); malloc'd array. */
__attribute__((warn_unused_result)) int template_list(const char *templates_dir,
                                                      struct template_info **out, size_t *n);

/* Is a build mapped by a running VM? (the callback says; registry-backed in practice) */
typedef int (*template_in_use_fn)(void *ctx, const char *build);
/* Remove a build: BUSY if in use or active. */
__attribute__((warn_unused_result)) int template_rm(const char *templates_dir, const char *build,
                                                    template_in_use_fn in_use, void *ctx, char *why,
                                                    size_t whysz);
/* Remove every build that is neither active nor in use, and leftover temporaries. */
__attribute__((warn_unused_result)) int
template_gc(const char *templates_dir, template_in_use_fn in_use, void *ctx, unsigned *removed);

/* Manifest value of key (from a manifest file's text). */
int template_manifest_get(const char *text, const char *key, char *out, size_t outsz);

#endif /* BURROW_VMM_TEMPLATE_H */
