/*
 * broker/config_ini.c - the table-driven INI engine behind config.h: reads a
 * file with iniparser, rejects unknown sections and keys, and parses each
 * value with the form its table row names. Also the value-form parsers.
 *
 * iniparser reads by path with fgets, so we first open the file ourselves,
 * check it is a bounded regular file without NUL bytes, and hand iniparser
 * /proc/self/fd/N: the file checked is the file parsed.
 */
#include "broker/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iniparser/iniparser.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"

/* --- value forms -------------------------------------------------------- */

int config_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return BURROW_ERR_FORMAT;
}

/* Leading decimal digits of s into *v; *end after them. No sign, no spaces. */
static int parse_digits(const char *s, uint64_t *v, const char **end)
{
    uint64_t x = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return BURROW_ERR_FORMAT;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return BURROW_ERR_RANGE;
        x = x * 10 + d;
    }
    *v = x;
    *end = p;
    return 0;
}

int config_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v;
    const char *end;
    int r = parse_digits(s, &v, &end);
    if (r < 0)
        return r;
    if (*end)
        return BURROW_ERR_FORMAT;
    if (v < min || v > max)
        return BURROW_ERR_RANGE;
    *out = v;
    return 0;
}

/* digits + optional one-letter unit from `units` (with multipliers). */
static int parse_scaled(const char *s, const char *units, const uint64_t *mult, uint64_t min,
                        uint64_t max, uint64_t *out)
{
    uint64_t v, m = 1;
    const char *end;
    int r = parse_digits(s, &v, &end);
    if (r < 0)
        return r;
    if (*end) {
        const char *u = end[1] == '\0' ? strchr(units, tolower((unsigned char)*end)) : NULL;
        if (!u || !*end)
            return BURROW_ERR_FORMAT;
        m = mult[u - units];
    }
    if (v > UINT64_MAX / m)
        return BURROW_ERR_RANGE;
    v *= m;
    if (v < min || v > max)
        return BURROW_ERR_RANGE;
    *out = v;
    return 0;
}

int config_parse_duration(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    static const uint64_t mult[] = {1, 60, 3600};
    uint64_t v;
    int r = parse_scaled(s, "smh", mult, min, max, &v);
    if (r == 0)
        *out = (uint32_t)v;
    return r;
}

int config_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    static const uint64_t mult[] = {1ull << 10, 1ull << 20, 1ull << 30, 1ull << 40};
    return parse_scaled(s, "kmgt", mult, min, max, out);
}

int config_parse_startups(const char *s, struct config_startups *out)
{
    uint64_t v[3];
    const char *p = s, *end;
    int n = 0;
    for (;;) {
        if (n == 3 || parse_digits(p, &v[n], &end) < 0 || v[n] > 100000)
            return BURROW_ERR_FORMAT;
        n++;
        if (*end == '\0')
            break;
        if (*end != ':')
            return BURROW_ERR_FORMAT;
        p = end + 1;
    }
    if (n == 2)
        return BURROW_ERR_FORMAT;
    if (n == 1) { /* OpenSSH: a single number is start == full, no early drops */
        v[1] = 100;
        v[2] = v[0];
    }
    if (v[0] == 0 || v[1] > 100 || v[0] > v[2])
        return BURROW_ERR_RANGE;
    out->start = (uint32_t)v[0];
    out->rate = (uint32_t)v[1];
    out->full = (uint32_t)v[2];
    return 0;
}

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return 0;
    return 1;
}

int config_check_abs_path(const char *s)
{
    if (s[0] != '/' || !printable(s))
        return BURROW_ERR_FORMAT;
    /* refuse any ".." component: paths are used to build other paths */
    for (const char *p = s; (p = strstr(p, "..")) != NULL; p += 2)
        if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
            return BURROW_ERR_FORMAT;
    return 0;
}

/* --- one value ---------------------------------------------------------- */

static int set_typed(const struct config_key *k, char *field, const char *v, char *why,
                     size_t whysz)
{
    uint64_t u;
    int r;
    why[0] = '\0';
    switch (k->type) {
    case CFG_STRING:
        if (!printable(v))
            return BURROW_ERR_FORMAT;
        if (strlen(v) >= k->size)
            return BURROW_ERR_TOO_LARGE;
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case CFG_PATH:
        if (v[0] == '\0' && k->min == 0) {
            field[0] = '\0';
            return 0;
        }
        if ((r = config_check_abs_path(v)) < 0)
            return r;
        if (strlen(v) >= k->size)
            return BURROW_ERR_TOO_LARGE;
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case CFG_U16:
    case CFG_U32:
    case CFG_U64:
        if ((r = config_parse_u64(v, k->min, k->max, &u)) < 0)
            return r;
        if (k->type == CFG_U16)
            *(uint16_t *)(void *)field = (uint16_t)u;
        else if (k->type == CFG_U32)
            *(uint32_t *)(void *)field = (uint32_t)u;
        else
            *(uint64_t *)(void *)field = u;
        return 0;
    case CFG_BOOL:
        return config_parse_bool(v, (int *)(void *)field);
    case CFG_DURATION:
        return config_parse_duration(v, (uint32_t)k->min, (uint32_t)k->max,
                                     (uint32_t *)(void *)field);
    case CFG_SIZE:
        return config_parse_size(v, k->min, k->max, (uint64_t *)(void *)field);
    case CFG_ENUM:
        for (int i = 0; k->names[i]; i++) {
            if (strcasecmp(v, k->names[i]) == 0) {
                *(int *)(void *)field = i;
                return 0;
            }
        }
        return BURROW_ERR_FORMAT;
    case CFG_CUSTOM:
        return k->parse(v, field, why, whysz);
    }
    return BURROW_ERR_INVALID;
}

int config_set_value(const struct config_key *k, void *base, const char *value, char *err,
                     size_t errsz)
{
    char why[160], shown[96];
    int r = set_typed(k, (char *)base + k->offset, value, why, sizeof(why));
    if (r < 0) {
        /* the value is hostile: escape it and cut it short */
        char cut[64];
        snprintf(cut, sizeof(cut), "%s", value);
        log_escape(shown, sizeof(shown), cut);
        snprintf(err, errsz, "[%s] %s: expected %s%s%s%s, got '%s'%s", k->section, k->name, k->form,
                 why[0] ? " (" : "", why, why[0] ? ")" : "", shown,
                 strlen(value) >= sizeof(cut) ? "..." : "");
    }
    return r;
}

int config_apply_defaults(const struct config_key *keys, size_t n, void *base, char *err,
                          size_t errsz)
{
    for (size_t i = 0; i < n; i++) {
        if (!keys[i].def)
            continue;
        int r = config_set_value(&keys[i], base, keys[i].def, err, errsz);
        if (r < 0)
            return r;
    }
    return 0;
}

/* --- the file ----------------------------------------------------------- */

static char ini_error[256];

/* iniparser reports syntax errors through this; keep the first, one line. */
static int ini_errback(const char *fmt, ...)
{
    if (ini_error[0])
        return 0;
    char raw[sizeof(ini_error)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* "iniparser: syntax error in /proc/self/fd/N (LINE):\n-> text" */
    const char *lp = strchr(raw, '('); /* the path has none; the quoted line might */
    unsigned line = 0;
    if (lp && sscanf(lp, "(%u)", &line) == 1)
        snprintf(ini_error, sizeof(ini_error), "%s at line %u",
                 strstr(raw, "too long") ? "line too long" : "syntax error", line);
    else
        snprintf(ini_error, sizeof(ini_error), "syntax error");
    return 0;
}

/* Open and sanity-check path; returns an fd or a negative code with err set. */
static int open_checked(const char *path, unsigned flags, size_t max_bytes, char *err, size_t errsz)
{
    int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (flags & CONFIG_PARSE_NOFOLLOW)
        oflags |= O_NOFOLLOW;
    int fd = open(path, oflags);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errsz, "%s: cannot read: %s", path, strerror(e));
        errno = e;
        return e == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errsz, "%s: not a regular file", path);
        close(fd);
        return BURROW_ERR_FORMAT;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        snprintf(err, errsz, "%s: larger than %zu bytes", path, max_bytes);
        close(fd);
        return BURROW_ERR_TOO_LARGE;
    }
    /* fgets would silently cut a line at a NUL byte: refuse them. */
    char chunk[4096];
    ssize_t got;
    size_t total = 0;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
        total += (size_t)got;
        if (total > max_bytes || memchr(chunk, '\0', (size_t)got)) {
            snprintf(err, errsz, "%s: %s", path,
                     total > max_bytes ? "file grew while reading" : "contains a NUL byte");
            close(fd);
            return BURROW_ERR_FORMAT;
        }
    }
    if (got < 0) {
        int e = errno;
        snprintf(err, errsz, "%s: cannot read: %s", path, strerror(e));
        close(fd);
        errno = e;
        return BURROW_ERR_SYSTEM;
    }
    return fd;
}

static const struct config_key *find_key(const struct config_key *keys, size_t n,
                                         const char *section, size_t seclen, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i].section) == seclen && strncmp(keys[i].section, section, seclen) == 0 &&
            (!name || strcmp(keys[i].name, name) == 0))
            return &keys[i];
    return NULL;
}

/* Walk every dictionary entry: "section" alone, or "section:key" = value. */
static int apply_dict(const dictionary *d, const char *path, const struct config_key *keys,
                      size_t n, void *base, char *err, size_t errsz)
{
    char shown[96], msg[CONFIG_ERR_MAX];
    for (ssize_t i = 0; i < d->size; i++) {
        const char *entry = d->key[i];
        if (!entry)
            continue;
        log_escape(shown, sizeof(shown), entry);
        const char *colon = strchr(entry, ':');
        if (!colon) {
            if (!find_key(keys, n, entry, strlen(entry), NULL))
                return errmsg(err, errsz, BURROW_ERR_INVALID, "%s: unknown section [%s]", path,
                              shown);
            continue;
        }
        size_t seclen = (size_t)(colon - entry);
        if (seclen == 0)
            return errmsg(err, errsz, BURROW_ERR_INVALID, "%s: key '%s' is outside any section",
                          path, shown + 1);
        if (!find_key(keys, n, entry, seclen, NULL))
            return errmsg(err, errsz, BURROW_ERR_INVALID, "%s: unknown section [%.*s]", path,
                          (int)seclen, shown);
        const struct config_key *k = find_key(keys, n, entry, seclen, colon + 1);
        if (!k)
            return errmsg(err, errsz, BURROW_ERR_INVALID, "%s: unknown key '%s' in section [%.*s]",
                          path, shown + seclen + 1, (int)seclen, shown);
        const char *value = d->val[i] ? d->val[i] : "";
        int r = config_set_value(k, base, value, msg, sizeof(msg));
        if (r < 0)
            return errmsg(err, errsz, r, "%s: %s", path, msg);
    }
    return 0;
}

int config_parse_ini(const char *path, const struct config_key *keys, size_t n, void *base,
                     size_t max_bytes, char *err, size_t errsz)
{
    return config_parse_ini_flags(path, 0, keys, n, base, max_bytes, err, errsz);
}

int config_parse_ini_flags(const char *path, unsigned flags, const struct config_key *keys,
                           size_t n, void *base, size_t max_bytes, char *err, size_t errsz)
{
    char dummy[CONFIG_ERR_MAX];
    if (!err) {
        err = dummy;
        errsz = sizeof(dummy);
    }
    int fd = open_checked(path, flags, max_bytes, err, errsz);
    if (fd < 0)
        return fd;
    char procpath[64];
    snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d", fd);
    ini_error[0] = '\0';
    iniparser_set_error_callback(ini_errback);
    dictionary *d = iniparser_load(procpath);
    close(fd);
    if (!d)
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "%s: %s", path,
                      ini_error[0] ? ini_error : "cannot parse");
    int r = apply_dict(d, path, keys, n, base, err, errsz);
    iniparser_freedict(d);
    return r;
}
