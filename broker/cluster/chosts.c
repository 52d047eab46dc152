/*
 * broker/cluster/chosts.c - host records and their mirror file (chosts.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/config_cluster.h"
#include "broker/cluster/chosts.h"
#include "broker/cluster/cluster.h"
#include "broker/fsutil.h"
#include "common/atomicfile.h"
#include "common/err.h"

#define B64_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

int chost_format(const struct chost *h, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s %u %s %s %lld %u %u", h->addr, (unsigned)h->port, h->keytype,
                     h->key, (long long)h->lease, h->capacity, h->load);
    return n > 0 && (size_t)n < outsz ? 0 : BURROW_ERR_TOO_LARGE;
}

static int u64_field(const char *s, uint64_t max, uint64_t *out)
{
    return config_parse_u64(s, 0, max, out);
}

int chost_parse(const char *name, const char *value, struct chost *h)
{
    char copy[CHOST_LINE_MAX], *f[8], *save = NULL;
    unsigned n = 0;
    unsigned char a[16];
    uint64_t port, lease, cap, load;
    memset(h, 0, sizeof(*h));
    if (!ccfg_name_ok(name) || strlen(value) >= sizeof(copy))
        return BURROW_ERR_FORMAT;
    strcpy(copy, value);
    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == 7)
            return BURROW_ERR_FORMAT;
        f[n++] = t;
    }
    if (n != 7 || strlen(f[0]) >= sizeof(h->addr) ||
        (inet_pton(AF_INET, f[0], a) != 1 && inet_pton(AF_INET6, f[0], a) != 1) ||
        u64_field(f[1], 65535, &port) || port == 0 || strlen(f[2]) >= sizeof(h->keytype) ||
        strspn(f[2], "abcdefghijklmnopqrstuvwxyz0123456789-@.") != strlen(f[2]) ||
        strlen(f[3]) >= sizeof(h->key) || strspn(f[3], B64_CHARS) != strlen(f[3]) ||
        u64_field(f[4], INT64_MAX, &lease) || u64_field(f[5], 1u << 20, &cap) ||
        u64_field(f[6], 1u << 20, &load))
        return BURROW_ERR_FORMAT;
    snprintf(h->name, sizeof(h->name), "%s", name);
    snprintf(h->addr, sizeof(h->addr), "%s", f[0]);
    h->port = (uint16_t)port;
    snprintf(h->keytype, sizeof(h->keytype), "%s", f[2]);
    snprintf(h->key, sizeof(h->key), "%s", f[3]);
    h->lease = (int64_t)lease;
    h->capacity = (uint32_t)cap;
    h->load = (uint32_t)load;
    return 0;
}

int chosts_write(const struct burrow_config *cfg, const struct chost *hs, size_t n)
{
    char path[CONFIG_PATH_MAX + 32], line[CHOST_LINE_MAX];
    size_t cap = n * (CHOST_LINE_MAX + CONFIG_CLUSTER_NAME_MAX + 2) + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return BURROW_ERR_NOMEM;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        if (chost_format(&hs[i], line, sizeof(line)) == 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s %s\n", hs[i].name, line);
    int r = cluster_path(cfg, "hosts", path, sizeof(path));
    if (r == 0)
        r = fs_write_atomic(path, buf, len, 0644);
    free(buf);
    return r;
}

int chosts_read(const struct burrow_config *cfg, char **text)
{
    char path[CONFIG_PATH_MAX + 32];
    size_t len;
    int r = cluster_path(cfg, "hosts", path, sizeof(path));
    if (r || (r = fs_read_file(path, CHOSTS_MAX * (CHOST_LINE_MAX + 80), text, &len)) != 0)
        return r ? r : BURROW_ERR_NOT_FOUND;
    return 0;
}

/* Walk the mirror file's text (left intact); match(h, ctx) returning 1 stops with *out = h. */
static int chosts_scan_text(const char *text, int (*match)(const struct chost *, const void *),
                            const void *ctx, struct chost *out)
{
    char *copy = strdup(text), *save = NULL;
    int r = BURROW_ERR_NOT_FOUND;
    if (!copy)
        return BURROW_ERR_NOMEM;
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(l, ' ');
        struct chost h;
        if (!sp)
            continue;
        *sp = 0;
        if (chost_parse(l, sp + 1, &h) == 0 && match(&h, ctx)) {
            *out = h;
            r = 0;
            break;
        }
    }
    free(copy);
    return r;
}

/* As chosts_scan_text, on the mirror file as it is now. */
static int chosts_scan(const struct burrow_config *cfg,
                       int (*match)(const struct chost *, const void *), const void *ctx,
                       struct chost *out)
{
    char *text = NULL;
    int r = chosts_read(cfg, &text);
    if (r == 0)
        r = chosts_scan_text(text, match, ctx, out);
    free(text);
    return r;
}

static int by_name(const struct chost *h, const void *ctx)
{
    return strcmp(h->name, ctx) == 0;
}

int chosts_find(const struct burrow_config *cfg, const char *name, struct chost *out)
{
    return chosts_scan(cfg, by_name, name, out);
}

struct keyq {
    const char *type, *key;
};

static int by_key(const struct chost *h, const void *ctx)
{
    const struct keyq *q = ctx;
    return strcmp(h->keytype, q->type) == 0 && strcmp(h->key, q->key) == 0;
}

int chosts_find_key_in(const char *text, const char *keytype, const char *key, struct chost *out)
{
    struct keyq q = {keytype, key};
    return chosts_scan_text(text, by_key, &q, out);
}
