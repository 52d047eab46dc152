/* vmm/template.c - template builds on disk: names, activation, list, rm, gc (see template.h). */
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

int template_manifest_get(const char *text, const char *key, char *out, size_t outsz)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) != 0 || strncmp(p + kl, " = ", 3) != 0)
            continue;
        const char *v = p + kl + 3;
        const char *e = strchr(v, '\n');
        size_t n = e ? (size_t)(e - v) : strlen(v);
        if (n >= outsz)
            return BURROW_ERR_TOO_LARGE;
        memcpy(out, v, n);
        out[n] = '\0';
        return 0;
    }
    return BURROW_ERR_NOT_FOUND;
}

/* ---- activation ---- */

static int verify_build(const char *dir, const char *build, char *why, size_t whysz)
{
    char *m = NULL;
    int r = tpl_read_manifest(dir, &m);
    if (r)
        return errmsg_sys(why, whysz, r, "%s/manifest: %s", dir, burrow_strerror(r));
    char want[TPL_HASH_HEX + 1], got[TPL_HASH_HEX], bid[TEMPLATE_BUILD_MAX + 2], path[4096];
    static const char *const files[] = {"state", "memory", "rootfs"};
    if (template_manifest_get(m, "build", bid, sizeof(bid)) || strcmp(bid, build) != 0) {
        free(m);
        return errmsg_sys(why, whysz, BURROW_ERR_FORMAT, "%s/manifest: not the manifest of %s", dir,
                          build);
    }
    /* rootfs.img only in a --rootfs build (whose manifest says rootfs_blake2b) */
    unsigned nfiles = template_manifest_get(m, "rootfs_blake2b", want, sizeof(want)) == 0 ? 3 : 2;
    for (unsigned i = 0; i < nfiles; i++) {
        char key[32];
        snprintf(key, sizeof(key), "%s_blake2b", files[i]);
        if (tpl_pjoin(path, sizeof(path), dir, i == 2 ? ROOTFS_IMAGE_FILE : files[i]) ||
            template_manifest_get(m, key, want, sizeof(want))) {
            free(m);
            return errmsg_sys(why, whysz, BURROW_ERR_FORMAT, "%s/manifest: no %s", dir, key);
        }
        if ((r = tpl_hash_file(path, got))) {
            free(m);
            return errmsg_sys(why, whysz, r, "%s", path);
        }
        if (strcmp(want, got) != 0) {
            free(m);
            return errmsg_sys(why, whysz, BURROW_ERR_CHECKSUM,
                              "%s: checksum does not match the manifest (corrupt or replaced)",
                              path);
        }
    }
    free(m);
    /* The state must also parse and match the memory file. */
    int mem_fd;
    uint8_t *state;
    size_t state_len;
    struct snapshot *snap = malloc(sizeof(*snap));
    struct snap_vm_info info;
    if (!snap)
        return BURROW_ERR_NOMEM;
    r = fork_open_build(dir, &mem_fd, &state, &state_len, snap, &info, why, whysz);
    if (mem_fd >= 0)
        close(mem_fd);
    free(state);
    free(snap);
    return r;
}

int template_activate(const char *templates_dir, const char *build, char *why, size_t whysz)
{
    size_t nl;
    if (!template_build_id_ok(build, &nl))
        return errmsg_sys(why, whysz, BURROW_ERR_INVALID,
                          "'%s' is not a build name (NAME-TIMESTAMP)", build);
    char dir[4096], link[4096], tmp[4096], name[TEMPLATE_NAME_MAX + 1];
    memcpy(name, build, nl);
    name[nl] = '\0';
    snprintf(dir, sizeof(dir), "%s/%s", templates_dir, build);
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return errmsg_sys(why, whysz, BURROW_ERR_NOT_FOUND, "no template build %s", build);
    int r = verify_build(dir, build, why, whysz);
    if (r)
        return r;
    snprintf(link, sizeof(link), "%s/%s", templates_dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.link-%d", templates_dir, name, (int)getpid());
    unlink(tmp);
    if (symlink(build, tmp) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "symlink %s", tmp);
    if (rename(tmp, link) < 0) {
        unlink(tmp);
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "rename to %s", link);
    }
    if (fs_fsync_dir(templates_dir))
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "fsync %s", templates_dir);
    return 0;
}

int template_active(const char *templates_dir, const char *name, char *build, size_t buildsz)
{
    char link[4096];
    snprintf(link, sizeof(link), "%s/%s", templates_dir, name);
    ssize_t n = readlink(link, build, buildsz - 1);
    if (n < 0)
        return errno == ENOENT || errno == EINVAL ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    build[n] = '\0';
    return template_build_id_ok(build, NULL) ? 0 : BURROW_ERR_FORMAT;
}

/* ---- list, rm, gc ---- */

static int cmp_info(const void *a, const void *b)
{
    return strcmp(((const struct template_info *)a)->build,
                  ((const struct template_info *)b)->build);
}

int template_list(const char *templates_dir, struct template_info **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(templates_dir);
    if (!d)
        return errno == ENOENT ? 0 : BURROW_ERR_SYSTEM;
    struct template_info *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl;
        if (e->d_name[0] == '.' || !template_build_id_ok(e->d_name, &nl))
            continue;
        if (cnt == cap) {
            cap = cap ? 2 * cap : 16;
            struct template_info *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return BURROW_ERR_NOMEM;
            }
            v = nv;
        }
        struct template_info *t = &v[cnt++];
        memset(t, 0, sizeof(*t));
        memcpy(t->build, e->d_name, strlen(e->d_name) + 1); /* length checked by build_id_ok */
        memcpy(t->name, e->d_name, nl);
        t->name[nl] = '\0';
        char active[TEMPLATE_BUILD_MAX + 2], dir[4096], val[64];
        t->active = template_active(templates_dir, t->name, active, sizeof(active)) == 0 &&
                    strcmp(active, t->build) == 0;
        snprintf(dir, sizeof(dir), "%s/%s", templates_dir, t->build);
        char *m = NULL;
        if (tpl_read_manifest(dir, &m) == 0) {
            if (template_manifest_get(m, "memory_mib", val, sizeof(val)) == 0)
                t->mem_mib = (unsigned)strtoul(val, NULL, 10);
            if (template_manifest_get(m, "vcpus", val, sizeof(val)) == 0)
                t->vcpus = (unsigned)strtoul(val, NULL, 10);
            if (template_manifest_get(m, "created", val, sizeof(val)) == 0)
                if (strlen(val) < sizeof(t->created))
                    memcpy(t->created, val, strlen(val) + 1);
            free(m);
        }
    }
    closedir(d);
    qsort(v, cnt, sizeof(*v), cmp_info);
    *out = v;
    *n = cnt;
    return 0;
}

int template_rm(const char *templates_dir, const char *build, template_in_use_fn in_use, void *ctx,
                char *why, size_t whysz)
{
    size_t nl;
    if (!template_build_id_ok(build, &nl))
        return errmsg_sys(why, whysz, BURROW_ERR_INVALID,
                          "'%s' is not a build name (NAME-TIMESTAMP)", build);
    char dir[4096], name[TEMPLATE_NAME_MAX + 1], active[TEMPLATE_BUILD_MAX + 2];
    snprintf(dir, sizeof(dir), "%s/%s", templates_dir, build);
    memcpy(name, build, nl);
    name[nl] = '\0';
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return errmsg_sys(why, whysz, BURROW_ERR_NOT_FOUND, "no template build %s", build);
    if (template_active(templates_dir, name, active, sizeof(active)) == 0 &&
        strcmp(active, build) == 0)
        return errmsg_sys(why, whysz, BURROW_ERR_BUSY,
                          "%s is the active build of %s; activate another build first", build,
                          name);
    if (in_use && in_use(ctx, build))
        return errmsg_sys(why, whysz, BURROW_ERR_BUSY, "%s is in use by a running or hibernated VM",
                          build);
    tpl_rm_build_dir(dir);
    if (access(dir, F_OK) == 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "cannot remove %s", dir);
    return fs_fsync_dir(templates_dir);
}

int template_gc(const char *templates_dir, template_in_use_fn in_use, void *ctx, unsigned *removed)
{
    *removed = 0;
    struct template_info *v;
    size_t n;
    int r = template_list(templates_dir, &v, &n);
    if (r)
        return r;
    char why[256];
    for (size_t i = 0; i < n; i++)
        if (!v[i].active &&
            template_rm(templates_dir, v[i].build, in_use, ctx, why, sizeof(why)) == 0)
            (*removed)++;
    free(v);
    /* Builds that died half-way (.build-*), once they are an hour old. */
    DIR *d = opendir(templates_dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char dir[4096];
        struct stat st;
        if (strncmp(e->d_name, ".build-", 7) != 0)
            continue;
        snprintf(dir, sizeof(dir), "%s/%s", templates_dir, e->d_name);
        if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && time(NULL) - st.st_mtime > 3600) {
            tpl_rm_build_dir(dir);
            (*removed)++;
        }
    }
    if (d)
        closedir(d);
    return 0;
}
