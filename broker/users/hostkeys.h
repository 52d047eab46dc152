/*
 * broker/users/hostkeys.h - the SSH host keys: load, or generate at first start.
 *
 * Owns: the host key files in [ssh] host_key_dir (ssh_host_ed25519_key,
 * ssh_host_ecdsa_key, ssh_host_rsa_key and their .pub), their generation
 * (atomic: temp file 0600, fsync, rename) and their SHA256 fingerprints.
 *
 * The keys stay in memory for the lifetime of every session process because
 * libssh signs with the host key at each key exchange, rekeys included
 * (docs/security.md).
 */
#ifndef BURROW_BROKER_HOSTKEYS_H
#define BURROW_BROKER_HOSTKEYS_H

#include <stddef.h>
#include <stdio.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#define HOSTKEYS_N      3
#define HOSTKEYS_FP_MAX 128

struct hostkey {
    const char *file;                  /* base name, e.g. "ssh_host_ed25519_key" */
    ssh_key key;                       /* private key, NULL if not loaded */
    char fingerprint[HOSTKEYS_FP_MAX]; /* "SHA256:..." */
    int generated;                     /* created by this call */
};

struct hostkeys {
    struct hostkey k[HOSTKEYS_N];
};

/*
 * Load every host key from dir; create the directory (0700) and any missing
 * key (ed25519, ecdsa p256, rsa 3072). Returns 0 or a negative burrow_err.
 */
__attribute__((warn_unused_result)) int hostkeys_load(struct hostkeys *hk, const char *dir,
                                                      int generate);
void hostkeys_free(struct hostkeys *hk);
/* One line per key: "<type> <fingerprint> <path>". */
void hostkeys_print(const struct hostkeys *hk, const char *dir, FILE *out);
/* 1 if this call generated at least one key. */
int hostkeys_any_generated(const struct hostkeys *hk);
/*
 * A libssh server bind holding every loaded key (they move into it: hk's
 * pointers become NULL). BURROW_ERR_NOT_FOUND without any key,
 * BURROW_ERR_INVALID if libssh refuses one (logged).
 */
__attribute__((warn_unused_result)) int hostkeys_bind(struct hostkeys *hk, ssh_bind *out);

struct burrow_config;
/*
 * A server process's listening bind: hostkeys_bind, hk freed either way, and
 * [ssh]'s algorithm lists applied (broker/sshalgo.h). 0, or a negative code
 * with *out NULL.
 */
__attribute__((warn_unused_result)) int
hostkeys_server_bind(struct hostkeys *hk, const struct burrow_config *cfg, ssh_bind *out);

#endif /* BURROW_BROKER_HOSTKEYS_H */
