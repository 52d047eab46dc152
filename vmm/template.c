/* vmm/template.c - template builds on disk (see template.h). */
#include "vmm/template.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "vmm/fork.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"

#define PAGE     4096u
#define HASH_HEX (2 * crypto_generichash_BYTES + 1)

static int say(char *why, size_t whysz, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t whysz, int r, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
    if (r == BURROW_ERR_SYSTEM) {
        size_t n = strlen(why);
        snprintf(why + n, whysz - n, ": %s", strerror(saved));
    }
    return r;
}

/* dir + "/" + file into out; BURROW_ERR_TOO_LARGE if it does not fit. */
static int pjoin(char *out, size_t sz, const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    if (a + 1 + b >= sz)
        return BURROW_ERR_TOO_LARGE;
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, file, b + 1);
    return 0;
}

int template_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TEMPLATE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!alnum && (i == 0 || (c != '-' && c != '.')))
            return 0;
    }
    return 1;
}

int template_build_id_ok(const char *build, size_t *name_len)
{
    const char *dash = strrchr(build, '-');
    if (!dash || strlen(build) > TEMPLATE_BUILD_MAX)
        return 0;
    size_t nl = (size_t)(dash - build);
    char name[TEMPLATE_NAME_MAX + 1];
    if (nl == 0 || nl > TEMPLATE_NAME_MAX)
        return 0;
    memcpy(name, build, nl);
    name[nl] = '\0';
    const char *ts = dash + 1;
    /* YYYYmmddTHHMMSS, optionally .N */
    if (strlen(ts) < 15 || ts[8] != 'T')
        return 0;
    for (size_t i = 0; ts[i]; i++) {
        if (i == 8)
            continue;
        if (i == 15 && ts[i] == '.' && ts[i + 1])
            continue;
        if (ts[i] < '0' || ts[i] > '9')
            return 0;
    }
    if (name_len)
        *name_len = nl;
    return template_name_ok(name);
}

/* ---- files ---- */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    int r = fsync(fd) < 0 ? BURROW_ERR_SYSTEM : 0;
    close(fd);
    return r;
}

static int write_all(int fd, const void *p, size_t len)
{
    const uint8_t *b = p;
    while (len) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return BURROW_ERR_SYSTEM;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A new read-only file (it must not exist), fsynced. */
static int write_new_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    int r = write_all(fd, data, len);
    if (!r && fsync(fd) < 0)
        r = BURROW_ERR_SYSTEM;
    close(fd);
    return r;
}

static void hex(const uint8_t *h, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hash_file(const char *path, char out[HASH_HEX])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
    static uint8_t b[1 << 20];
    ssize_t n;
    while ((n = read(fd, b, sizeof(b))) > 0)
        crypto_generichash_update(&st, b, (size_t)n);
    close(fd);
    if (n < 0)
        return BURROW_ERR_SYSTEM;
    uint8_t h[crypto_generichash_BYTES];
    crypto_generichash_final(&st, h, sizeof(h));
    hex(h, sizeof(h), out);
    return 0;
}

static int page_is_zero(const uint8_t *p)
{
    uint64_t first;
    memcpy(&first, p, 8);
    return first == 0 && memcmp(p, p + 8, PAGE - 8) == 0;
}

/*
 * RAM to `memory`: zero pages stay holes (so the file is sparse and a
 * fork's untouched zero pages cost nothing), then fsync and read-only.
 */
static int write_memory(const char *path, const uint8_t *ram, uint64_t size, char out[HASH_HEX])
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    int r = ftruncate(fd, (off_t)size) < 0 ? BURROW_ERR_SYSTEM : 0;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
    for (uint64_t off = 0; !r && off < size; off += PAGE) {
        crypto_generichash_update(&st, ram + off, PAGE);
        if (page_is_zero(ram + off))
            continue;
        if (pwrite(fd, ram + off, PAGE, (off_t)off) != (ssize_t)PAGE)
            r = BURROW_ERR_SYSTEM;
    }
    if (!r && (fsync(fd) < 0 || fchmod(fd, 0444) < 0))
        r = BURROW_ERR_SYSTEM;
    close(fd);
    uint8_t h[crypto_generichash_BYTES];
    crypto_generichash_final(&st, h, sizeof(h));
    hex(h, sizeof(h), out);
    return r;
}

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

static int read_manifest(const char *dir, char **text)
{
    char path[4096];
    (void)pjoin(path, sizeof(path), dir, "manifest");
    uint8_t *p;
    size_t len;
    int r = fork_read_file(path, TEMPLATE_MANIFEST_MAX, &p, &len);
    if (r)
        return r;
    char *t = realloc(p, len + 1);
    if (!t) {
        free(p);
        return BURROW_ERR_NOMEM;
    }
    t[len] = '\0';
    if (strlen(t) != len) { /* an embedded NUL: not ours */
        free(t);
        return BURROW_ERR_FORMAT;
    }
    *text = t;
    return 0;
}

/* ---- activation ---- */

static int verify_build(const char *dir, const char *build, char *why, size_t whysz)
{
    char *m = NULL;
    int r = read_manifest(dir, &m);
    if (r)
        return say(why, whysz, r, "%s/manifest: %s", dir, burrow_strerror(r));
    char want[HASH_HEX + 1], got[HASH_HEX], bid[TEMPLATE_BUILD_MAX + 2], path[4096];
    static const char *const files[] = {"state", "memory"};
    if (template_manifest_get(m, "build", bid, sizeof(bid)) || strcmp(bid, build) != 0) {
        free(m);
        return say(why, whysz, BURROW_ERR_FORMAT, "%s/manifest: not the manifest of %s", dir,
                   build);
    }
    for (unsigned i = 0; i < 2; i++) {
        char key[32];
        snprintf(key, sizeof(key), "%s_blake2b", files[i]);
        (void)pjoin(path, sizeof(path), dir, files[i]);
        if (template_manifest_get(m, key, want, sizeof(want))) {
            free(m);
            return say(why, whysz, BURROW_ERR_FORMAT, "%s/manifest: no %s", dir, key);
        }
        if ((r = hash_file(path, got))) {
            free(m);
            return say(why, whysz, r, "%s", path);
        }
        if (strcmp(want, got) != 0) {
            free(m);
            return say(why, whysz, BURROW_ERR_CHECKSUM,
                       "%s: checksum does not match the manifest (corrupt or replaced)", path);
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
        return say(why, whysz, BURROW_ERR_INVALID, "'%s' is not a build name (NAME-TIMESTAMP)",
                   build);
    char dir[4096], link[4096], tmp[4096], name[TEMPLATE_NAME_MAX + 1];
    memcpy(name, build, nl);
    name[nl] = '\0';
    snprintf(dir, sizeof(dir), "%s/%s", templates_dir, build);
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return say(why, whysz, BURROW_ERR_NOT_FOUND, "no template build %s", build);
    int r = verify_build(dir, build, why, whysz);
    if (r)
        return r;
    snprintf(link, sizeof(link), "%s/%s", templates_dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.link-%d", templates_dir, name, (int)getpid());
    unlink(tmp);
    if (symlink(build, tmp) < 0)
        return say(why, whysz, BURROW_ERR_SYSTEM, "symlink %s", tmp);
    if (rename(tmp, link) < 0) {
        unlink(tmp);
        return say(why, whysz, BURROW_ERR_SYSTEM, "rename to %s", link);
    }
    if (fsync_dir(templates_dir))
        return say(why, whysz, BURROW_ERR_SYSTEM, "fsync %s", templates_dir);
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
    char memory_hash[HASH_HEX];
};

static void progress(const struct build_ctx *b, const char *step)
{
    if (b->cfg->progress)
        b->cfg->progress(b->cfg->progress_ctx, step);
}

static int build_boot(struct build_ctx *b, char *why, size_t whysz)
{
    const struct template_build_config *cfg = b->cfg;
    struct devices_config dc = {.vsock_uds = b->sock, .disk_empty_slot = true};
    struct machine_config mc = {.kernel = b->kernel,
                                .kernel_len = b->kernel_len,
                                .initrd = b->initrd,
                                .initrd_len = b->initrd_len,
                                .cmdline = cfg->cmdline,
                                .mem_size = (uint64_t)cfg->mem_mib * 1024 * 1024,
                                .nr_vcpus = cfg->vcpus,
                                .console_in = -1,
                                .console_out = cfg->console_fd,
                                .devices = &dc};
    int r = machine_create(&b->m, &mc);
    if (r)
        return say(why, whysz, r, "%s", b->m.why);
    snprintf(b->id.user, sizeof(b->id.user), "root");
    snprintf(b->id.shell, sizeof(b->id.shell), "/bin/sh");
    snprintf(b->id.home, sizeof(b->id.home), "/root");
    snprintf(b->id.hostname, sizeof(b->id.hostname), "%s", cfg->name);
    control_port_init(&b->cp, b->m.vm, &b->id);
    b->cp_inited = 1;
    if ((r = control_port_listen(&b->cp, &b->m.devices)))
        return say(why, whysz, r, "control port: %s", burrow_strerror(r));
    progress(b, "booting the template VM");
    if ((r = vm_start(b->m.vm)))
        return say(why, whysz, r, "cannot start the VM: %s", burrow_strerror(r));
    progress(b, "waiting for the guest to report READY on port 1025");
    r = control_port_wait_ready(&b->cp, 0, cfg->ready_timeout_ms);
    if (r == BURROW_ERR_CLOSED)
        return say(why, whysz, r, "the template VM stopped before READY: %s", b->m.vm->exit.detail);
    if (r)
        return say(why, whysz, r, "the guest did not report READY within %u s",
                   cfg->ready_timeout_ms / 1000);
    return 0;
}

/* Quiescent point: vCPUs parked (I/O completed), device thread stopped. */
static int build_snapshot(struct build_ctx *b, char *why, size_t whysz)
{
    progress(b, "pausing and snapshotting");
    struct vm *vm = b->m.vm;
    int r = vm_pause(vm, 5000);
    if (r)
        return say(why, whysz, r, "the vCPUs did not reach a quiescent point");
    evloop_stop(vm->loop);
    evloop_join(vm->loop);
    if ((r = snap_writer_init(&b->w)) || (r = snap_save_machine(&b->m, &b->w, why, whysz)) ||
        (r = snap_finish(&b->w)))
        return why[0] ? r : say(why, whysz, r, "snapshot: %s", burrow_strerror(r));
    /* Stopped for good: parked vCPUs leave without running guest code again. */
    vm_request_stop(vm, VM_STOP_HOST, 0, "template snapshot taken");
    vm_wait(vm, NULL);
    return 0;
}

static int build_write(struct build_ctx *b, char *why, size_t whysz)
{
    const struct template_build_config *cfg = b->cfg;
    char path[4096], state_hash[HASH_HEX], khash[HASH_HEX], ihash[HASH_HEX] = "";
    progress(b, "writing memory (sparse) and state");
    (void)pjoin(path, sizeof(path), b->tmpdir, "memory");
    int r = write_memory(path, b->m.vm->ram, b->m.vm->ram_size, b->memory_hash);
    if (r)
        return say(why, whysz, r, "%s", path);
    (void)pjoin(path, sizeof(path), b->tmpdir, "state");
    if ((r = write_new_file(path, buf_data(b->w.out), buf_used(b->w.out))) ||
        (r = hash_file(path, state_hash)))
        return say(why, whysz, r, "%s", path);
    uint8_t h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof(h), b->kernel, b->kernel_len, NULL, 0);
    hex(h, sizeof(h), khash);
    if (b->initrd) {
        crypto_generichash(h, sizeof(h), b->initrd, b->initrd_len, NULL, 0);
        hex(h, sizeof(h), ihash);
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
    char text[TEMPLATE_MANIFEST_MAX];
    int n = snprintf(text, sizeof(text),
                     "# Burrow template build (design section 4). Never edited after writing.\n"
                     "format = 1\nname = %s\nbuild = %s\ncreated = %s\n"
                     "kernel = %s\nkernel_blake2b = %s\ninitrd = %s\ninitrd_blake2b = %s\n"
                     "cmdline = %s\nmemory_mib = %u\nvcpus = %u\n"
                     "memory_blake2b = %s\nstate_blake2b = %s\n",
                     cfg->name, build, created, kernel, khash, initrd,
                     ihash, b->m.cmdline, cfg->mem_mib, cfg->vcpus, b->memory_hash, state_hash);
    if (n < 0 || (size_t)n >= sizeof(text))
        return say(why, whysz, BURROW_ERR_TOO_LARGE, "manifest too large (command line?)");
    (void)pjoin(path, sizeof(path), b->tmpdir, "manifest");
    if ((r = write_new_file(path, text, (size_t)n)) || (r = fsync_dir(b->tmpdir)))
        return say(why, whysz, r, "%s", path);
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

static void rm_build_dir(const char *dir)
{
    static const char *const files[] = {"memory", "state", "manifest", "vsock.sock"};
    char path[4096];
    for (unsigned i = 0; i < 4; i++) {
        (void)pjoin(path, sizeof(path), dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int template_build(const struct template_build_config *cfg, char *build_out, char *why,
                   size_t whysz)
{
    why[0] = '\0';
    if (!template_name_ok(cfg->name))
        return say(why, whysz, BURROW_ERR_INVALID,
                   "template name '%s': 1-%d of [a-z0-9_.-], starting with [a-z0-9_]", cfg->name,
                   TEMPLATE_NAME_MAX);
    if (mkdir(cfg->templates_dir, 0755) < 0 && errno != EEXIST)
        return say(why, whysz, BURROW_ERR_SYSTEM, "cannot create %s", cfg->templates_dir);
    char build[TEMPLATE_BUILD_MAX + 1], final[4096];
    if (build_name(cfg, build, sizeof(build)))
        return say(why, whysz, BURROW_ERR_EXISTS, "too many builds of %s this second", cfg->name);
    struct build_ctx *b = calloc(1, sizeof(*b));
    if (!b)
        return BURROW_ERR_NOMEM;
    b->cfg = cfg;
    snprintf(b->tmpdir, sizeof(b->tmpdir), "%s/.build-%s", cfg->templates_dir, build);
    snprintf(b->sock, sizeof(b->sock), "/tmp/burrow-template-%d.sock", (int)getpid());
    unlink(b->sock);
    snprintf(final, sizeof(final), "%s/%s", cfg->templates_dir, build);
    int r;
    if (mkdir(b->tmpdir, 0755) < 0) {
        r = say(why, whysz, BURROW_ERR_SYSTEM, "cannot create %s", b->tmpdir);
        goto out;
    }
    if ((r = fork_read_file(cfg->kernel, MACHINE_KERNEL_MAX, &b->kernel, &b->kernel_len))) {
        say(why, whysz, r, "kernel %s: %s", cfg->kernel, burrow_strerror(r));
        goto out;
    }
    if (cfg->initrd &&
        (r = fork_read_file(cfg->initrd, MACHINE_INITRD_MAX, &b->initrd, &b->initrd_len))) {
        say(why, whysz, r, "initrd %s: %s", cfg->initrd, burrow_strerror(r));
        goto out;
    }
    if ((r = build_boot(b, why, whysz)) || (r = build_snapshot(b, why, whysz)) ||
        (r = build_write(b, why, whysz)))
        goto out;
    if (rename(b->tmpdir, final) < 0 || fsync_dir(cfg->templates_dir)) {
        r = say(why, whysz, BURROW_ERR_SYSTEM, "cannot rename the build to %s", final);
        goto out;
    }
    progress(b, "verifying and activating");
    if ((r = template_activate(cfg->templates_dir, build, why, whysz)))
        goto out;
    snprintf(build_out, TEMPLATE_BUILD_MAX + 1, "%s", build);
out:
    build_cleanup(b);
    if (r)
        rm_build_dir(b->tmpdir);
    free(b);
    return r;
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
        if (read_manifest(dir, &m) == 0) {
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
        return say(why, whysz, BURROW_ERR_INVALID, "'%s' is not a build name (NAME-TIMESTAMP)",
                   build);
    char dir[4096], name[TEMPLATE_NAME_MAX + 1], active[TEMPLATE_BUILD_MAX + 2];
    snprintf(dir, sizeof(dir), "%s/%s", templates_dir, build);
    memcpy(name, build, nl);
    name[nl] = '\0';
    struct stat st;
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return say(why, whysz, BURROW_ERR_NOT_FOUND, "no template build %s", build);
    if (template_active(templates_dir, name, active, sizeof(active)) == 0 &&
        strcmp(active, build) == 0)
        return say(why, whysz, BURROW_ERR_BUSY,
                   "%s is the active build of %s; activate another build first", build, name);
    if (in_use && in_use(ctx, build))
        return say(why, whysz, BURROW_ERR_BUSY, "%s is in use by a running VM", build);
    rm_build_dir(dir);
    if (access(dir, F_OK) == 0)
        return say(why, whysz, BURROW_ERR_SYSTEM, "cannot remove %s", dir);
    return fsync_dir(templates_dir);
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
            rm_build_dir(dir);
            (*removed)++;
        }
    }
    if (d)
        closedir(d);
    return 0;
}
