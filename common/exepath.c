/* common/exepath.c - files beside the running program (see exepath.h). */
#include "common/exepath.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

int exepath_beside(const char *rel, char *out, size_t outsz)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return BURROW_ERR_SYSTEM;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return BURROW_ERR_SYSTEM;
    *slash = '\0';
    int len = snprintf(out, outsz, "%s/%s", exe, rel);
    return len < 0 || (size_t)len >= outsz ? BURROW_ERR_TOO_LARGE : 0;
}
