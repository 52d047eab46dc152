/* common/errmsg.c - message-buffer error reporting (see errmsg.h). */
#include "common/errmsg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

static int errmsg_v(char *why, size_t whysz, int r, int add_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    if (why && whysz) {
        vsnprintf(why, whysz, fmt, ap);
        if (add_errno && r == BURROW_ERR_SYSTEM) {
            size_t n = strlen(why);
            snprintf(why + n, whysz - n, ": %s", strerror(saved));
        }
    }
    errno = saved;
    return r;
}

int errmsg(char *why, size_t whysz, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r = errmsg_v(why, whysz, r, 0, fmt, ap);
    va_end(ap);
    return r;
}

int errmsg_sys(char *why, size_t whysz, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    r = errmsg_v(why, whysz, r, 1, fmt, ap);
    va_end(ap);
    return r;
}
