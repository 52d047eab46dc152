/* common/err.c - text for enum burrow_err (freestanding-safe: a table, no libc). */
#include "common/err.h"

static const char *const err_text[] = {
    [0] = "success",
    [-BURROW_ERR_SYSTEM] = "system error",
    [-BURROW_ERR_NOMEM] = "out of memory",
    [-BURROW_ERR_INVALID] = "invalid argument",
    [-BURROW_ERR_TRUNCATED] = "input truncated",
    [-BURROW_ERR_TOO_LARGE] = "length exceeds limit",
    [-BURROW_ERR_RANGE] = "value out of range",
    [-BURROW_ERR_FORMAT] = "malformed input",
    [-BURROW_ERR_NOT_FOUND] = "not found",
    [-BURROW_ERR_EXISTS] = "already exists",
    [-BURROW_ERR_BUSY] = "in use",
    [-BURROW_ERR_UNSUPPORTED] = "not supported",
    [-BURROW_ERR_VERSION] = "incompatible version",
    [-BURROW_ERR_CHECKSUM] = "checksum mismatch",
    [-BURROW_ERR_PROTOCOL] = "protocol violation",
    [-BURROW_ERR_TIMEOUT] = "timed out",
    [-BURROW_ERR_PERM] = "not permitted",
    [-BURROW_ERR_CLOSED] = "connection closed",
    [-BURROW_ERR_TRAILING] = "unexpected trailing data",
    [-BURROW_ERR_GUEST] = "guest violated device contract",
    [-BURROW_ERR_KVM] = "KVM error",
    [-BURROW_ERR_AGAIN] = "resource temporarily unavailable",
};

const char *burrow_strerror(int err)
{
    if (err > 0 || err <= BURROW_ERR_MAX_)
        return "unknown error";
    return err_text[-err];
}
