/* broker/sshalgo.c - the algorithm lists burrowd offers (see sshalgo.h). */
#include "broker/sshalgo.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"

#define NAMES_END NULL

/* What libssh 0.10 (OpenSSL build) implements, by kind; "none" is never allowed. */
static const char *const kex_names[] = {
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group1-sha1",
    NAMES_END,
};
/* Burrow's host keys are ed25519, ECDSA P-256 and RSA (broker/users/hostkeys.h). */
static const char *const hostkey_names[] = {
    "ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa", NAMES_END,
};
static const char *const cipher_names[] = {
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-gcm@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
    "aes256-cbc",
    "aes192-cbc",
    "aes128-cbc",
    "3des-cbc",
    NAMES_END,
};
static const char *const mac_names[] = {
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
    NAMES_END,
};

static const char *const *const names_of[SSHALGO_KINDS] = {
    [SSHALGO_KEX] = kex_names,
    [SSHALGO_HOSTKEY] = hostkey_names,
    [SSHALGO_CIPHER] = cipher_names,
    [SSHALGO_MAC] = mac_names,
};

static int known(enum sshalgo_kind kind, const char *name, size_t n)
{
    for (const char *const *p = names_of[kind]; *p; p++)
        if (strlen(*p) == n && memcmp(*p, name, n) == 0)
            return 1;
    return 0;
}

/* Does the entry [name, name+n) occur in list before `before`? */
static int repeated(const char *list, const char *before, const char *name, size_t n)
{
    for (const char *p = list; p < before;) {
        size_t m = strcspn(p, ",");
        if (m == n && memcmp(p, name, n) == 0)
            return 1;
        p += m + 1;
    }
    return 0;
}

int sshalgo_check(enum sshalgo_kind kind, const char *list, char *why, size_t whysz)
{
    if ((unsigned)kind >= SSHALGO_KINDS)
        return BURROW_ERR_INVALID;
    if (strlen(list) >= SSHALGO_LIST_MAX)
        return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "longer than %d bytes",
                      SSHALGO_LIST_MAX - 1);
    if (!*list)
        return errmsg(why, whysz, BURROW_ERR_FORMAT, "empty");
    for (const char *p = list;;) {
        size_t n = strcspn(p, ",");
        if (n == 0)
            return errmsg(why, whysz, BURROW_ERR_FORMAT, "empty entry in the list");
        if (!known(kind, p, n))
            return errmsg(why, whysz, BURROW_ERR_UNSUPPORTED,
                          "'%.*s' is not an algorithm libssh 0.10 offers here",
                          (int)(n > 64 ? 64 : n), p);
        if (repeated(list, p, p, n))
            return errmsg(why, whysz, BURROW_ERR_FORMAT, "'%.*s' is listed twice", (int)n, p);
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

int sshalgo_apply(ssh_bind bind, const struct burrow_config *cfg)
{
    static const struct {
        enum ssh_bind_options_e opt;
        size_t offset;
        const char *what;
    } sets[] = {
        {SSH_BIND_OPTIONS_KEY_EXCHANGE, offsetof(struct burrow_config, ssh.kex), "kex"},
        {SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS,
         offsetof(struct burrow_config, ssh.hostkey_algorithms), "hostkey_algorithms"},
        {SSH_BIND_OPTIONS_CIPHERS_C_S, offsetof(struct burrow_config, ssh.ciphers), "ciphers"},
        {SSH_BIND_OPTIONS_CIPHERS_S_C, offsetof(struct burrow_config, ssh.ciphers), "ciphers"},
        {SSH_BIND_OPTIONS_HMAC_C_S, offsetof(struct burrow_config, ssh.macs), "macs"},
        {SSH_BIND_OPTIONS_HMAC_S_C, offsetof(struct burrow_config, ssh.macs), "macs"},
    };
    bool no = false;
    if (ssh_bind_options_set(bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no) != SSH_OK) {
        log_error("libssh refused to skip its system config file");
        return BURROW_ERR_INVALID;
    }
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
        const char *list = (const char *)cfg + sets[i].offset;
        if (ssh_bind_options_set(bind, sets[i].opt, list) != SSH_OK) {
            log_error("[ssh] %s: libssh refused '%s': %s", sets[i].what, list, ssh_get_error(bind));
            return BURROW_ERR_INVALID;
        }
    }
    return 0;
}
