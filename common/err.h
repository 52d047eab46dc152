/*
 * common/err.h - Burrow's one error code space.
 *
 * Owns: enum burrow_err and burrow_strerror(). Functions return 0 or a
 * negative code and put results in out-parameters. BURROW_ERR_SYSTEM means
 * "look at errno". Freestanding-safe (the test guest links err.c).
 */
#ifndef BURROW_COMMON_ERR_H
#define BURROW_COMMON_ERR_H

enum burrow_err {
    BURROW_OK = 0,
    BURROW_ERR_SYSTEM = -1,       /* a system call failed; errno says why */
    BURROW_ERR_NOMEM = -2,        /* out of memory */
    BURROW_ERR_INVALID = -3,      /* invalid argument or value */
    BURROW_ERR_TRUNCATED = -4,    /* input ended early */
    BURROW_ERR_TOO_LARGE = -5,    /* a length exceeds its hard limit */
    BURROW_ERR_RANGE = -6,        /* a number outside its allowed range */
    BURROW_ERR_FORMAT = -7,       /* malformed input */
    BURROW_ERR_NOT_FOUND = -8,    /* no such object */
    BURROW_ERR_EXISTS = -9,       /* object already exists */
    BURROW_ERR_BUSY = -10,        /* object in use (locked) */
    BURROW_ERR_UNSUPPORTED = -11, /* feature or type not supported */
    BURROW_ERR_VERSION = -12,     /* incompatible format/protocol version */
    BURROW_ERR_CHECKSUM = -13,    /* checksum mismatch */
    BURROW_ERR_PROTOCOL = -14,    /* peer broke the protocol */
    BURROW_ERR_TIMEOUT = -15,     /* timed out */
    BURROW_ERR_PERM = -16,        /* not permitted */
    BURROW_ERR_CLOSED = -17,      /* peer closed the connection */
    BURROW_ERR_TRAILING = -18,    /* data left over after parsing */
    BURROW_ERR_GUEST = -19,       /* the guest broke a device contract */
    BURROW_ERR_KVM = -20,         /* KVM refused or lacks a capability */
    BURROW_ERR_AGAIN = -21,       /* try again later (would block, no room) */
    BURROW_ERR_MAX_ = -22
};

/* Text for a code; never NULL. For BURROW_ERR_SYSTEM callers add strerror(errno). */
const char *burrow_strerror(int err);

#endif /* BURROW_COMMON_ERR_H */
