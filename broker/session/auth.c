/* broker/session/auth.c - public-key and password decisions for a session process. */
#include "broker/session/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "broker/users/usercert.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"

/*
 * The slot files are opened here, before the session's pre-auth filter,
 * which allows only read-only opens: a slot is then taken with flock alone.
 * A slot that cannot be opened stays -1 (verifications then go unbounded
 * by it rather than fail).
 */
static void open_slots(struct auth_ctx *a)
{
    char dir[CONFIG_PATH_MAX + 32], path[sizeof(dir) + 16];
    snprintf(dir, sizeof(dir), "%s/pwslots", a->cfg->paths.run_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        log_debug("%s: %s", dir, strerror(errno));
    for (int i = 0; i < AUTH_PASSWORD_SLOTS; i++) {
        snprintf(path, sizeof(path), "%s/%d", dir, i);
        a->slot_fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
}

int auth_init(struct auth_ctx *a, const struct burrow_config *cfg, const char *client_addr)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->client_addr = client_addr;
    open_slots(a);
    return userdb_open(&a->db, cfg, 0);
}

void auth_close(struct auth_ctx *a)
{
    for (int i = 0; i < AUTH_PASSWORD_SLOTS; i++)
        if (a->slot_fd[i] >= 0)
            close(a->slot_fd[i]);
    memset(a->slot_fd, 0xff, sizeof(a->slot_fd));
    userdb_close(&a->db);
}

/* A valid, unlocked record for user, or 0. */
static int lookup(struct auth_ctx *a, const char *user, struct user_record *rec)
{
    char err[USERDB_ERR_MAX];
    if (userdb_name_check(user, NULL) != 0)
        return 0;
    if (userdb_get(&a->db, user, rec, err, sizeof(err)) != 0)
        return 0;
    return !rec->locked;
}

int auth_pubkey(struct auth_ctx *a, const char *user, const ssh_key key, struct authkey_opts *opts,
                struct user_record *rec)
{
    char path[CONFIG_PATH_MAX * 2];
    memset(opts, 0, sizeof(*opts));
    if (!lookup(a, user, rec))
        return 0;
    if (userdb_path(&a->db, user, "authorized_keys", path, sizeof(path)) != 0)
        return 0;
    return authkeys_match_file(path, key, a->client_addr, opts) == 1;
}

/* The CA key inside a certificate as an ssh_key (for the key lists), or NULL. */
static ssh_key ca_key_of(const struct usercert *c)
{
    char b64[sodium_base64_ENCODED_LEN(USERCERT_MAX, sodium_base64_VARIANT_ORIGINAL)];
    char type[64];
    struct buf b;
    size_t n;
    const uint8_t *t;
    ssh_key key = NULL;
    buf_init_reader(&b, c->ca_key, c->ca_key_len);
    if (buf_get_ssh_string(&b, &t, &n, sizeof(type) - 1) != 0)
        return NULL;
    memcpy(type, t, n);
    type[n] = '\0';
    sodium_bin2base64(b64, sizeof(b64), c->ca_key, c->ca_key_len, sodium_base64_VARIANT_ORIGINAL);
    enum ssh_keytypes_e kt = ssh_key_type_from_name(type);
    if (kt == SSH_KEYTYPE_UNKNOWN || ssh_pki_import_pubkey_base64(b64, kt, &key) != SSH_OK)
        return NULL;
    return key;
}

/* Is ca listed in [auth] trusted_user_ca_keys (a plain line: options are not for CAs there)? */
static int globally_trusted(const struct auth_ctx *a, const ssh_key ca)
{
    struct authkeys ak;
    if (!a->cfg->auth.trusted_user_ca_keys[0] ||
        authkeys_load(a->cfg->auth.trusted_user_ca_keys, 0, &ak, NULL, 0) != 0)
        return 0;
    long i = authkeys_find(&ak, ca);
    int ok = i >= 0 && ak.keys[i].opts.flags == 0 && !ak.keys[i].opts.command &&
             !ak.keys[i].opts.from && !ak.keys[i].opts.cert_authority;
    authkeys_free(&ak);
    return ok;
}

/*
 * Who vouches for the certificate's CA: 1 with the options of her cert-authority
 * line (empty for the global file), or 0.
 */
static int ca_trusted(struct auth_ctx *a, const char *user, const ssh_key ca,
                      struct authkey_opts *opts)
{
    char path[CONFIG_PATH_MAX * 2];
    memset(opts, 0, sizeof(*opts));
    if (globally_trusted(a, ca))
        return 1;
    if (userdb_path(&a->db, user, "authorized_keys", path, sizeof(path)) != 0)
        return 0;
    struct authkeys ak;
    if (authkeys_load(path, 0, &ak, NULL, 0) != 0)
        return 0;
    int r = authkeys_match_ca(&ak, ca, a->client_addr, opts);
    authkeys_free(&ak);
    return r == 1;
}

/* The certificate's force-command and missing extensions on top of the line's options. */
static int fold_cert(const struct usercert *c, struct authkey_opts *opts, char *why, size_t whysz)
{
    opts->flags |= c->restrict_flags;
    if (!c->force_command[0])
        return 0;
    if (opts->command && strcmp(opts->command, c->force_command) != 0)
        return errmsg(why, whysz, BURROW_ERR_PERM,
                      "certificate and cert-authority line force different commands");
    if (!opts->command && !(opts->command = strdup(c->force_command)))
        return BURROW_ERR_NOMEM;
    return 0;
}

int auth_cert(struct auth_ctx *a, const char *user, const char *cert_text,
              struct authkey_opts *opts, struct user_record *rec)
{
    static uint8_t blob[USERCERT_MAX];
    struct usercert c = {0};
    char why[160] = "";
    size_t len = 0;
    const char *sp = strchr(cert_text, ' ');
    memset(opts, 0, sizeof(*opts));
    if (!lookup(a, user, rec) || !sp)
        return 0;
    int r = sodium_base642bin(blob, sizeof(blob), sp + 1, strlen(sp + 1), NULL, &len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) == 0
                ? usercert_parse(blob, len, &c, why, sizeof(why))
                : BURROW_ERR_FORMAT;
    if (r == 0 && (strlen(c.type_name) != (size_t)(sp - cert_text) ||
                   memcmp(c.type_name, cert_text, (size_t)(sp - cert_text)) != 0))
        r = BURROW_ERR_FORMAT; /* the blob is of another type than announced */
    if (r == 0)
        r = usercert_verify(&c, why, sizeof(why));
    ssh_key ca = r == 0 ? ca_key_of(&c) : NULL;
    if (r == 0 && (!ca || !ca_trusted(a, user, ca, opts))) {
        snprintf(why, sizeof(why), "signed by a CA that is not trusted");
        r = BURROW_ERR_PERM;
    }
    ssh_key_free(ca);
    if (r == 0)
        r = usercert_check(&c, user, opts->principals, a->client_addr, (uint64_t)time(NULL), why,
                           sizeof(why));
    if (r == 0)
        r = fold_cert(&c, opts, why, sizeof(why));
    if (r != 0) {
        log_info("%s: certificate for %s refused: %s (key id \"%s\")", a->client_addr, user,
                 why[0] ? why : "malformed", c.key_id);
        authkey_opts_free(opts);
        return 0;
    }
    log_info("%s: certificate for %s accepted (key id \"%s\", serial %llu)", a->client_addr, user,
             c.key_id, (unsigned long long)c.serial);
    return 1;
}

/*
 * Take one of AUTH_PASSWORD_SLOTS flock slots (blocking on a random one when
 * all are busy): bounds argon2id memory across all session processes.
 * Returns the slot's fd (unlock it when done) or -1.
 */
static int take_slot(struct auth_ctx *a)
{
    int start = rand() % AUTH_PASSWORD_SLOTS;
    for (int i = 0; i < AUTH_PASSWORD_SLOTS; i++) {
        int fd = a->slot_fd[(start + i) % AUTH_PASSWORD_SLOTS];
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
    }
    int fd = a->slot_fd[start];
    return fd >= 0 && flock(fd, LOCK_EX) == 0 ? fd : -1;
}

int auth_password(struct auth_ctx *a, const char *user, const char *password,
                  struct user_record *rec)
{
    size_t len = strnlen(password, USERDB_PASSWORD_MAX + 1);
    if (len > USERDB_PASSWORD_MAX)
        return 0;
    int slot = take_slot(a);
    int ok = 0;
    if (lookup(a, user, rec) && rec->password_hash[0])
        ok = userdb_password_verify(rec, password, len) == 0;
    else
        userdb_password_burn(password, len);
    if (slot >= 0)
        flock(slot, LOCK_UN);
    return ok;
}
