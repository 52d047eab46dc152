/* vmm/template_files.c - file helpers shared by template.c and template_build.c. */
#include "vmm/template_files.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "common/fdio.h"
#include "vmm/fork.h"
#include "vmm/rootfs.h"
#include "vmm/template.h"

#define PAGE 4096u

/* dir + "/" + file into out; BURROW_ERR_TOO_LARGE if it does not fit. */
int tpl_pjoin(char *out, size_t sz, const char *dir, const char *file)
{
    size_t a = strlen(dir), b = strlen(file);
    if (a + 1 + b >= sz)
        return BURROW_ERR_TOO_LARGE;
    memcpy(out, dir, a);
    out[a] = '/';
    memcpy(out + a + 1, file, b + 1);
    return 0;
}

/* A new read-only file (it must not exist), fsynced. */
int tpl_write_new_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    int r = fd_write_all(fd, data, len);
    if (!r && fsync(fd) < 0)
        r = BURROW_ERR_SYSTEM;
    close(fd);
    return r;
}

void tpl_hex(const uint8_t *h, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[2 * n] = '\0';
}

int tpl_hash_file(const char *path, char out[TPL_HASH_HEX])
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
    tpl_hex(h, sizeof(h), out);
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
int tpl_write_memory(const char *path, const uint8_t *ram, uint64_t size, char out[TPL_HASH_HEX])
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
    tpl_hex(h, sizeof(h), out);
    return r;
}

int tpl_read_manifest(const char *dir, char **text)
{
    char path[4096];
    uint8_t *p;
    size_t len;
    int r = tpl_pjoin(path, sizeof(path), dir, "manifest");
    if (!r)
        r = fork_read_file(path, TEMPLATE_MANIFEST_MAX, &p, &len);
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

void tpl_rm_build_dir(const char *dir)
{
    static const char *const files[] = {"memory", "state", "manifest", "vsock.sock",
                                        ROOTFS_IMAGE_FILE};
    char path[4096];
    for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (tpl_pjoin(path, sizeof(path), dir, files[i]) == 0)
            unlink(path);
    }
    /* A --rootfs build that died half-way leaves its debootstrap scratch tree. */
    if (tpl_pjoin(path, sizeof(path), dir, "rootfs.work") == 0 && access(path, F_OK) == 0)
        rootfs_rm_tree(path);
    rmdir(dir);
}
