/*
 * common/errmsg.h - error text for functions that report failures through a
 * caller's message buffer (`char *why, size_t whysz`) as well as a code.
 *
 * Owns: the one formatter for that pattern, so every such function writes
 * its message the same way: `return errmsg(why, whysz, r, "...", ...);`.
 * Not for freestanding code (uses vsnprintf).
 */
#ifndef BURROW_COMMON_ERRMSG_H
#define BURROW_COMMON_ERRMSG_H

#include <stddef.h>

/* Format into why (NULL or whysz 0: nothing written) and return r. errno is kept. */
int errmsg(char *why, size_t whysz, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same, plus ": strerror(errno)" when r is BURROW_ERR_SYSTEM. */
int errmsg_sys(char *why, size_t whysz, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* BURROW_COMMON_ERRMSG_H */
