/*
 * broker/sshalgo.h - the SSH algorithms burrowd offers: [ssh] kex, ciphers,
 * macs and hostkey_algorithms.
 *
 * Owns: the names each setting may list (what libssh 0.10 implements, minus
 * "none" and the sk- host keys Burrow never has), their validation for the
 * config loader, and applying them to the listening ssh_bind (at start and
 * at every reload, so new connections get the new lists).
 *
 * The defaults pass ssh-audit without a warning: curve25519 and the big
 * finite-field groups, ed25519 and rsa-sha2 host keys (no ECDSA: NIST
 * curves), chacha20-poly1305/AES-GCM/AES-CTR, encrypt-then-MAC only.
 * Compression is not configurable: libssh 0.10's server default is "none"
 * or the delayed zlib@openssh.com (after authentication), never plain zlib.
 */
#ifndef BURROW_BROKER_SSHALGO_H
#define BURROW_BROKER_SSHALGO_H

#include <stddef.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker/config.h"

#define SSHALGO_LIST_MAX CONFIG_LIST_MAX /* bytes of one list, with its NUL */

enum sshalgo_kind { SSHALGO_KEX, SSHALGO_HOSTKEY, SSHALGO_CIPHER, SSHALGO_MAC, SSHALGO_KINDS };

#define SSHALGO_DEFAULT_KEX                                                                        \
    "curve25519-sha256,curve25519-sha256@libssh.org,diffie-hellman-group16-sha512,"                \
    "diffie-hellman-group18-sha512"
#define SSHALGO_DEFAULT_HOSTKEY "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"
#define SSHALGO_DEFAULT_CIPHER                                                                     \
    "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,"      \
    "aes192-ctr,aes128-ctr"
#define SSHALGO_DEFAULT_MAC "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"

/*
 * 0 if list is a comma-separated list of names libssh implements for kind,
 * none repeated, at most SSHALGO_LIST_MAX - 1 bytes; else a negative code
 * and why (for the config error) names the offending entry.
 */
int sshalgo_check(enum sshalgo_kind kind, const char *list, char *why, size_t whysz);

/*
 * Set the four lists on the bind (and turn off libssh's reading of a system
 * config file, which could change them): 0, or a negative code (logged).
 */
int sshalgo_apply(ssh_bind bind, const struct burrow_config *cfg);

#endif /* BURROW_BROKER_SSHALGO_H */
