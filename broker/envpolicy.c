/* broker/envpolicy.c - environment variable policy lists (see envpolicy.h). */
#include "broker/envpolicy.h"

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "broker/config.h"
#include "common/err.h"
#include "common/errmsg.h"

#define PATTERN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_*?"
#define SPACE         " \t"

int envpolicy_check(const char *list, int allow_bool, char *why, size_t whysz)
{
    int b;
    unsigned n = 0;
    if (allow_bool && config_parse_bool(list, &b) == 0)
        return 0;
    if (strlen(list) >= CONFIG_LIST_MAX)
        return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "longer than %d bytes",
                      CONFIG_LIST_MAX - 1);
    for (const char *p = list + strspn(list, SPACE); *p; p += strspn(p, SPACE)) {
        size_t len = strcspn(p, SPACE);
        if (strspn(p, PATTERN_CHARS) < len)
            return errmsg(why, whysz, BURROW_ERR_FORMAT,
                          "'%.*s' is not a pattern of [A-Za-z0-9_*?]", (int)(len > 64 ? 64 : len),
                          p);
        if (++n > ENVPOLICY_PATTERNS_MAX)
            return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "more than %d patterns",
                          ENVPOLICY_PATTERNS_MAX);
        p += len;
    }
    return 0;
}

int envpolicy_match(const char *list, const char *name)
{
    char pat[CONFIG_LIST_MAX];
    int b;
    if (config_parse_bool(list, &b) == 0)
        return b;
    for (const char *p = list + strspn(list, SPACE); *p; p += strspn(p, SPACE)) {
        size_t len = strcspn(p, SPACE);
        if (len >= sizeof(pat))
            return 0;
        memcpy(pat, p, len);
        pat[len] = '\0';
        if (fnmatch(pat, name, 0) == 0)
            return 1;
        p += len;
    }
    return 0;
}
