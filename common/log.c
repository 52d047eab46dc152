/* common/log.c - leveled, escaped logging (see log.h). */
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "common/err.h"

#define LOG_LINE_MAX 1024

static const char *log_ident = "burrow";
static enum log_level log_level = LOG_LVL_INFO;
static int log_syslog;
static log_handler_fn log_handler;
static void *log_handler_ctx;

void log_init(const char *ident, enum log_level level)
{
    log_ident = ident;
    log_level = level;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

void log_use_syslog(int on)
{
    if (on && !log_syslog)
        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = on;
}

void log_set_handler(log_handler_fn fn, void *ctx)
{
    log_handler = fn;
    log_handler_ctx = ctx;
}

void log_escape(char *out, unsigned long outsz, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    unsigned long o = 0;
    if (outsz == 0)
        return;
    for (; *in && o + 1 < outsz; in++) {
        unsigned char c = (unsigned char)*in;
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else if (o + 5 < outsz) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            break;
        }
    }
    out[o] = '\0';
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LVL_ERROR:
        return "error";
    case LOG_LVL_WARN:
        return "warning";
    case LOG_LVL_INFO:
        return "info";
    default:
        return "debug";
    }
}

static int syslog_priority(enum log_level level)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    return prio[level <= LOG_LVL_DEBUG ? level : LOG_LVL_DEBUG];
}

static void deliver(enum log_level level, const char *msg)
{
    if (log_handler) {
        log_handler(level, msg, log_handler_ctx);
        return;
    }
    if (log_syslog)
        syslog(syslog_priority(level), "%s", msg);
    else if (level <= LOG_LVL_WARN)
        fprintf(stderr, "%s: %s\n", log_ident, msg);
    else
        fprintf(stderr, "%s: %s: %s\n", log_ident, level_name(level), msg);
}

void log_vemit(enum log_level level, const char *func, int line, int flags, int r, const char *fmt,
               va_list ap)
{
    char raw[LOG_LINE_MAX], msg[LOG_LINE_MAX];
    int saved_errno = errno;
    size_t n = 0;
    if (level > log_level)
        return;
    if (flags & LOG_F_FUNC)
        n = (size_t)snprintf(raw, sizeof(raw), "%s:%d: ", func, line);
    if (n < sizeof(raw))
        vsnprintf(raw + n, sizeof(raw) - n, fmt, ap);
    log_escape(msg, sizeof(msg), raw);
    if (flags & LOG_F_ERR) {
        n = strlen(msg);
        if (r == BURROW_ERR_SYSTEM)
            snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved_errno));
        else
            snprintf(msg + n, sizeof(msg) - n, ": %s", burrow_strerror(r));
    }
    deliver(level, msg);
    errno = saved_errno;
}

void log_emit(enum log_level level, const char *func, int line, int flags, int r, const char *fmt,
              ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(level, func, line, flags, r, fmt, ap);
    va_end(ap);
}

void log_fatal(const char *func, int line, int flags, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vemit(LOG_LVL_ERROR, func, line, flags, r, fmt, ap);
    va_end(ap);
    exit(1);
}

int log_ratelimit_ok(struct log_ratelimit *rl, unsigned burst, unsigned interval_s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (ts.tv_sec - rl->window_start >= (long)interval_s) {
        if (rl->suppressed)
            deliver(LOG_LVL_WARN, "some messages were suppressed (rate limit)");
        rl->window_start = ts.tv_sec;
        rl->count = 0;
        rl->suppressed = 0;
    }
    if (rl->count < burst) {
        rl->count++;
        return 1;
    }
    rl->suppressed++;
    return 0;
}
