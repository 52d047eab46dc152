/*
 * vmm/rootfs.h - root filesystem images for templates (`template build
 * --rootfs debian`, docs/guest.md "The Debian root filesystem").
 *
 * Owns: the checks on what an administrator passes (the rootfs kind, the
 * --packages list: Debian package names only, so nothing reaches a shell or
 * debootstrap's option parser), where the builder script lives, running it
 * (argv, no shell) and copying a prebuilt image sparsely. The image itself is
 * made by guest/mkrootfs-debian.sh (debootstrap + mke2fs -d); the template
 * build (vmm/template_build.c) checksums it, makes it read-only and attaches
 * it to the VM as a read-only virtio-blk disk (ROOTFS_GUEST_DEV).
 */
#ifndef BURROW_VMM_ROOTFS_H
#define BURROW_VMM_ROOTFS_H

#include <stddef.h>

#define ROOTFS_KIND_DEBIAN  "debian"
#define ROOTFS_PKG_NAME_MAX 64 /* per package name */
#define ROOTFS_PKGS_MAX     64 /* names per --packages list */
#define ROOTFS_PKGS_LEN_MAX 2048
/* The root disk is the second virtio-blk device (the home slot is vda). */
#define ROOTFS_GUEST_DEV   "/dev/vdb"
#define ROOTFS_CMDLINE_KEY "burrow.root="
#define ROOTFS_IMAGE_FILE  "rootfs.img"
#define ROOTFS_SERIAL      "burrow-root"
/* The builder, relative to the burrowctl binary (build/bin, PREFIX/bin). */
#define ROOTFS_SCRIPT_REL "../lib/burrow/mkrootfs-debian.sh"

/* Debian policy 5.6.1: [a-z0-9][a-z0-9+.-]+, here at most ROOTFS_PKG_NAME_MAX. */
int rootfs_pkg_name_ok(const char *name, size_t len);
/*
 * A --packages value: comma-separated package names (no spaces, no empty
 * entries), at most ROOTFS_PKGS_MAX names and ROOTFS_PKGS_LEN_MAX bytes.
 * BURROW_ERR_INVALID with `why` naming the offending entry.
 */
__attribute__((warn_unused_result)) int rootfs_packages_check(const char *list, char *why,
                                                              size_t whysz);
/* Only "debian" today. */
int rootfs_kind_ok(const char *kind);

/* The builder script: $BURROW_MKROOTFS, else ROOTFS_SCRIPT_REL next to /proc/self/exe. */
__attribute__((warn_unused_result)) int rootfs_script_path(char *out, size_t outsz);

struct rootfs_build {
    const char *script;   /* rootfs_script_path() */
    const char *image;    /* the image to write (must not exist) */
    const char *work_dir; /* scratch, under the build directory; the caller removes it */
    const char *initrd;   /* the template's initramfs: burrow-agent comes from it */
    const char *cache_dir;
    const char *packages; /* checked list, or NULL */
};

/* Run the builder (its stage lines go to our stderr); BURROW_ERR_SYSTEM if it fails. */
__attribute__((warn_unused_result)) int rootfs_build_image(const struct rootfs_build *rb, char *why,
                                                           size_t whysz);
/* Copy a prebuilt image to dst (new file; zero blocks stay holes). */
__attribute__((warn_unused_result)) int rootfs_copy_image(const char *src, const char *dst,
                                                          char *why, size_t whysz);
/* The kernel command line with ROOTFS_CMDLINE_KEY ROOTFS_GUEST_DEV added (base NULL: default). */
__attribute__((warn_unused_result)) int rootfs_cmdline(const char *base, char *out, size_t outsz);
/* rm -rf dir without crossing mount points (a killed debootstrap may leave /proc mounted). */
void rootfs_rm_tree(const char *dir);

#endif /* BURROW_VMM_ROOTFS_H */
