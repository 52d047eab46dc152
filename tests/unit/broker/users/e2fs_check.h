/* tests/unit/broker/users/e2fs_check.h - read facts about an ext4 image with the
 * e2fsprogs tools themselves (debugfs, dumpe2fs, e2fsck), not our code. */
#ifndef BURROW_TESTS_UNIT_BROKER_E2FS_CHECK_H
#define BURROW_TESTS_UNIT_BROKER_E2FS_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* Run `cmd` and return its whole stdout (malloc'd) or NULL. */
static inline char *e2_capture(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    size_t got;
    while (out && n < cap - 1 && (got = fread(out + n, 1, cap - 1 - n, p)) > 0)
        n += got;
    pclose(p);
    if (out)
        out[n] = '\0';
    return out;
}

/* uid and gid of `file` inside the image (debugfs stat). 0 on success. */
static inline int e2_owner(const char *img, const char *file, unsigned *uid, unsigned *gid)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "debugfs -R 'stat %s' '%s' 2>/dev/null", file, img);
    char *out = e2_capture(cmd);
    const char *u = out ? strstr(out, "User:") : NULL;
    int r = (u && sscanf(u, "User: %u Group: %u", uid, gid) == 2) ? 0 : -1;
    free(out);
    return r;
}

/* Filesystem size in bytes (dumpe2fs: block count x block size). */
static inline uint64_t e2_fs_bytes(const char *img)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "dumpe2fs -h '%s' 2>/dev/null", img);
    char *out = e2_capture(cmd);
    unsigned long long count = 0, bsize = 0;
    const char *c = out ? strstr(out, "Block count:") : NULL;
    const char *b = out ? strstr(out, "Block size:") : NULL;
    if (c)
        sscanf(c, "Block count: %llu", &count);
    if (b)
        sscanf(b, "Block size: %llu", &bsize);
    free(out);
    return (uint64_t)count * bsize;
}

/* e2fsck -fn: 1 if the filesystem is clean. */
static inline int e2_clean(const char *img)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "e2fsck -fn '%s' >/dev/null 2>&1", img);
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

#endif /* BURROW_TESTS_UNIT_BROKER_E2FS_CHECK_H */
