/*
 * common/log.h - leveled logging that records the call site.
 *
 * Owns: the process-wide log level, destination and handler. Messages are
 * escaped (control bytes shown as \xNN) so peer- or guest-controlled text
 * cannot forge log lines. Forms: log_X(fmt...) plain; log_X_f adds the
 * function name; log_X_r / log_X_fr append ": <burrow_strerror(r)>"
 * (plus strerror(errno) for BURROW_ERR_SYSTEM). fatal*() never return.
 */
#ifndef BURROW_COMMON_LOG_H
#define BURROW_COMMON_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Where messages go by default: stderr, prefixed with ident. */
void log_init(const char *ident, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Also send to syslog (daemons). */
void log_use_syslog(int on);
/* Replace the destination (e.g. a sandboxed child forwarding to its monitor). */
typedef void (*log_handler_fn)(enum log_level level, const char *msg, void *ctx);
void log_set_handler(log_handler_fn fn, void *ctx);

#define LOG_F_FUNC 0x1
#define LOG_F_ERR  0x2

void log_emit(enum log_level level, const char *func, int line, int flags, int r, const char *fmt,
              ...) __attribute__((format(printf, 6, 7)));
void log_vemit(enum log_level level, const char *func, int line, int flags, int r, const char *fmt,
               va_list ap) __attribute__((format(printf, 6, 0)));
void log_fatal(const char *func, int line, int flags, int r, const char *fmt, ...)
    __attribute__((format(printf, 5, 6), noreturn));

/*
 * Rate limit for messages a peer or guest can trigger: returns nonzero at
 * most `burst` times per `interval_s` seconds per call site state.
 */
struct log_ratelimit {
    long window_start;
    unsigned count;
    unsigned suppressed;
};
int log_ratelimit_ok(struct log_ratelimit *rl, unsigned burst, unsigned interval_s);

/* Escape `in` into out (always NUL-terminated): printable ASCII kept, rest \xNN. */
void log_escape(char *out, unsigned long outsz, const char *in);

#define LOG_AT(lvl, flags, r, ...) log_emit(lvl, __func__, __LINE__, flags, r, __VA_ARGS__)

#define log_error(...)       LOG_AT(LOG_LVL_ERROR, 0, 0, __VA_ARGS__)
#define log_error_f(...)     LOG_AT(LOG_LVL_ERROR, LOG_F_FUNC, 0, __VA_ARGS__)
#define log_error_r(r, ...)  LOG_AT(LOG_LVL_ERROR, LOG_F_ERR, r, __VA_ARGS__)
#define log_error_fr(r, ...) LOG_AT(LOG_LVL_ERROR, LOG_F_FUNC | LOG_F_ERR, r, __VA_ARGS__)
#define log_warn(...)        LOG_AT(LOG_LVL_WARN, 0, 0, __VA_ARGS__)
#define log_warn_f(...)      LOG_AT(LOG_LVL_WARN, LOG_F_FUNC, 0, __VA_ARGS__)
#define log_warn_r(r, ...)   LOG_AT(LOG_LVL_WARN, LOG_F_ERR, r, __VA_ARGS__)
#define log_warn_fr(r, ...)  LOG_AT(LOG_LVL_WARN, LOG_F_FUNC | LOG_F_ERR, r, __VA_ARGS__)
#define log_info(...)        LOG_AT(LOG_LVL_INFO, 0, 0, __VA_ARGS__)
#define log_info_f(...)      LOG_AT(LOG_LVL_INFO, LOG_F_FUNC, 0, __VA_ARGS__)
#define log_debug(...)       LOG_AT(LOG_LVL_DEBUG, LOG_F_FUNC, 0, __VA_ARGS__)
#define log_debug_r(r, ...)  LOG_AT(LOG_LVL_DEBUG, LOG_F_FUNC | LOG_F_ERR, r, __VA_ARGS__)
#define fatal(...)           log_fatal(__func__, __LINE__, 0, 0, __VA_ARGS__)
#define fatal_f(...)         log_fatal(__func__, __LINE__, LOG_F_FUNC, 0, __VA_ARGS__)
#define fatal_r(r, ...)      log_fatal(__func__, __LINE__, LOG_F_ERR, r, __VA_ARGS__)
#define fatal_fr(r, ...)     log_fatal(__func__, __LINE__, LOG_F_FUNC | LOG_F_ERR, r, __VA_ARGS__)

#endif /* BURROW_COMMON_LOG_H */
