/* broker/users/hostkeys.c - SSH host keys: load or generate, fingerprints. */
#include "broker/users/hostkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/sshalgo.h"
#include "common/atomicfile.h"
#include "common/err.h"
#include "common/log.h"

struct hostkey_kind {
    const char *file;
    enum ssh_keytypes_e type;
    int bits;
};

static const struct hostkey_kind kinds[HOSTKEYS_N] = {
    {"ssh_host_ed25519_key", SSH_KEYTYPE_ED25519, 0},
    {"ssh_host_ecdsa_key", SSH_KEYTYPE_ECDSA_P256, 256},
    {"ssh_host_rsa_key", SSH_KEYTYPE_RSA, 3072},
};

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    int r = fsync(fd) == 0 ? 0 : BURROW_ERR_SYSTEM;
    close(fd);
    return r;
}

static int write_pub(const ssh_key key, const char *path)
{
    char *b64 = NULL;
    char text[4200];
    if (ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK)
        return BURROW_ERR_INVALID;
    int n = snprintf(text, sizeof(text), "%s %s burrow-host\n",
                     ssh_key_type_to_char(ssh_key_type(key)), b64);
    ssh_string_free_char(b64);
    if (n < 0 || (size_t)n >= sizeof(text))
        return BURROW_ERR_TOO_LARGE;
    return fs_write_atomic(path, text, (size_t)n, 0644);
}

/* Generate into "<path>.tmp" (0600 from the umask), fsync, rename. */
static int generate_key(const struct hostkey_kind *kind, const char *path, ssh_key *out)
{
    char tmp[4200], pub[4200];
    ssh_key key = NULL;
    if (ssh_pki_generate(kind->type, kind->bits, &key) != SSH_OK)
        return BURROW_ERR_INVALID;
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp) ||
        (size_t)snprintf(pub, sizeof(pub), "%s.pub", path) >= sizeof(pub)) {
        ssh_key_free(key);
        return BURROW_ERR_TOO_LARGE;
    }
    unlink(tmp);
    mode_t old = umask(077);
    int rc = ssh_pki_export_privkey_file(key, NULL, NULL, NULL, tmp);
    umask(old);
    int r = rc == SSH_OK ? 0 : BURROW_ERR_SYSTEM;
    if (r == 0 && chmod(tmp, 0600) != 0)
        r = BURROW_ERR_SYSTEM;
    if (r == 0)
        r = fsync_path(tmp);
    if (r == 0)
        r = write_pub(key, pub);
    if (r == 0 && rename(tmp, path) != 0)
        r = BURROW_ERR_SYSTEM;
    if (r != 0) {
        unlink(tmp);
        ssh_key_free(key);
        return r;
    }
    *out = key;
    return 0;
}

static int fingerprint(const ssh_key key, char *out, size_t outsz)
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    ssh_key pub = NULL;
    if (ssh_pki_export_privkey_to_pubkey(key, &pub) != SSH_OK)
        return BURROW_ERR_INVALID;
    int rc = ssh_get_publickey_hash(pub, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen);
    ssh_key_free(pub);
    if (rc != 0)
        return BURROW_ERR_INVALID;
    char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    ssh_clean_pubkey_hash(&hash);
    if (!fp)
        return BURROW_ERR_NOMEM;
    snprintf(out, outsz, "%s", fp);
    ssh_string_free_char(fp);
    return 0;
}

int hostkeys_load(struct hostkeys *hk, const char *dir, int generate)
{
    char path[4096];
    memset(hk, 0, sizeof(*hk));
    if (generate && mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create host key directory %s: %s", dir, strerror(errno));
        return BURROW_ERR_SYSTEM;
    }
    for (int i = 0; i < HOSTKEYS_N; i++) {
        struct hostkey *h = &hk->k[i];
        h->file = kinds[i].file;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, h->file) >= sizeof(path))
            return BURROW_ERR_TOO_LARGE;
        if (access(path, F_OK) != 0 && errno == ENOENT) {
            if (!generate)
                continue;
            int r = generate_key(&kinds[i], path, &h->key);
            if (r != 0) {
                log_error("cannot generate host key %s: %s", path, strerror(errno));
                hostkeys_free(hk);
                return r;
            }
            h->generated = 1;
        } else if (ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &h->key) != SSH_OK) {
            log_error("cannot load host key %s", path);
            hostkeys_free(hk);
            return BURROW_ERR_FORMAT;
        }
        if (fingerprint(h->key, h->fingerprint, sizeof(h->fingerprint)) != 0)
            snprintf(h->fingerprint, sizeof(h->fingerprint), "?");
    }
    return 0;
}

void hostkeys_free(struct hostkeys *hk)
{
    for (int i = 0; i < HOSTKEYS_N; i++) {
        ssh_key_free(hk->k[i].key);
        hk->k[i].key = NULL;
    }
}

int hostkeys_any_generated(const struct hostkeys *hk)
{
    for (int i = 0; i < HOSTKEYS_N; i++)
        if (hk->k[i].generated)
            return 1;
    return 0;
}

void hostkeys_print(const struct hostkeys *hk, const char *dir, FILE *out)
{
    for (int i = 0; i < HOSTKEYS_N; i++) {
        const struct hostkey *h = &hk->k[i];
        if (!h->key)
            continue;
        fprintf(out, "%-19s %s %s/%s\n", ssh_key_type_to_char(ssh_key_type(h->key)), h->fingerprint,
                dir, h->file);
    }
}

int hostkeys_bind(struct hostkeys *hk, ssh_bind *out)
{
    ssh_bind b = ssh_bind_new();
    int n = 0;
    if (!b)
        return BURROW_ERR_NOMEM;
    for (int i = 0; i < HOSTKEYS_N; i++) {
        if (!hk->k[i].key)
            continue;
        /* The bind takes ownership of the key it imports (libssh 0.10). */
        if (ssh_bind_options_set(b, SSH_BIND_OPTIONS_IMPORT_KEY, hk->k[i].key) != SSH_OK) {
            log_error("cannot use host key %s", hk->k[i].file);
            ssh_bind_free(b);
            return BURROW_ERR_INVALID;
        }
        hk->k[i].key = NULL;
        n++;
    }
    if (n == 0) {
        ssh_bind_free(b);
        return BURROW_ERR_NOT_FOUND;
    }
    *out = b;
    return 0;
}

int hostkeys_server_bind(struct hostkeys *hk, const struct burrow_config *cfg, ssh_bind *out)
{
    *out = NULL;
    int r = hostkeys_bind(hk, out);
    hostkeys_free(hk);
    if (r == 0 && (r = sshalgo_apply(*out, cfg)) != 0) {
        ssh_bind_free(*out);
        *out = NULL;
    }
    return r;
}
