/* broker/users/usercert.c - OpenSSH user certificates (see usercert.h). */
#include "broker/users/usercert.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <sodium.h>

#include "broker/users/authkeys.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/errmsg.h"

#define FIELD_MAX 4096 /* any one string inside a certificate */

static int fail(char *why, size_t whysz, int code, const char *text)
{
    return errmsg(why, whysz, code, "%s", text);
}

/* A string field that must equal s exactly. */
static int str_is(const uint8_t *p, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(p, s, n) == 0;
}

/* Copy a string field into a C string (no NUL inside, fits). */
static int get_text(struct buf *b, char *out, size_t outsz)
{
    const uint8_t *p;
    size_t n;
    int r = buf_get_ssh_string(b, &p, &n, outsz - 1);
    if (r)
        return r;
    if (memchr(p, 0, n))
        return BURROW_ERR_FORMAT;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* Skip the public key fields of a certificate type (the client's own key). */
static int skip_key_fields(struct buf *b, const char *type)
{
    const uint8_t *p;
    size_t n;
    int fields = strcmp(type, "ssh-ed25519-cert-v01@openssh.com") == 0 ? 1
                 : strcmp(type, "ssh-rsa-cert-v01@openssh.com") == 0 ||
                         strncmp(type, "ecdsa-sha2-nistp", 16) == 0
                     ? 2
                     : 0;
    if (!fields)
        return BURROW_ERR_UNSUPPORTED;
    for (int i = 0; i < fields; i++)
        if (buf_get_ssh_string(b, &p, &n, FIELD_MAX))
            return BURROW_ERR_FORMAT;
    return 0;
}

/* Count the principals (each a string of 1..USERCERT_NAME_MAX bytes, no NUL). */
static int count_principals(const uint8_t *p, size_t len, unsigned *count)
{
    struct buf b;
    buf_init_reader(&b, p, len);
    *count = 0;
    while (buf_len(&b) > 0) {
        const uint8_t *s;
        size_t n;
        if (buf_get_ssh_string(&b, &s, &n, USERCERT_NAME_MAX) || n == 0 || memchr(s, 0, n) ||
            ++*count > USERCERT_PRINCIPALS_MAX)
            return BURROW_ERR_FORMAT;
    }
    return 0;
}

/* A critical option's value: a string inside the data string. */
static int option_value(const uint8_t *data, size_t n, char *out, size_t outsz)
{
    struct buf b;
    buf_init_reader(&b, data, n);
    int r = get_text(&b, out, outsz);
    return r ? r : buf_get_end(&b);
}

static int take_critical(struct usercert *c, const uint8_t *name, size_t nlen, const uint8_t *data,
                         size_t dlen)
{
    if (str_is(name, nlen, "force-command")) {
        if (c->force_command[0])
            return BURROW_ERR_FORMAT; /* twice */
        return option_value(data, dlen, c->force_command, sizeof(c->force_command));
    }
    if (str_is(name, nlen, "source-address")) {
        if (c->source_address[0])
            return BURROW_ERR_FORMAT;
        int r = option_value(data, dlen, c->source_address, sizeof(c->source_address));
        return r ? r : c->source_address[0] ? 0 : BURROW_ERR_FORMAT;
    }
    if (!c->unknown_critical[0])
        snprintf(c->unknown_critical, sizeof(c->unknown_critical), "%.*s",
                 (int)(nlen < 60 ? nlen : 60), (const char *)name);
    return 0;
}

static const struct {
    const char *name;
    unsigned flag;
} extension_flags[] = {
    {"permit-pty", AUTHKEY_NO_PTY},
    {"permit-port-forwarding", AUTHKEY_NO_PORT_FWD},
    {"permit-agent-forwarding", AUTHKEY_NO_AGENT_FWD},
    {"permit-X11-forwarding", AUTHKEY_NO_X11_FWD},
    {"permit-user-rc", AUTHKEY_NO_USER_RC},
};

/* The name/data pairs of critical options (critical = 1) or extensions. */
static int take_options(struct usercert *c, const uint8_t *p, size_t len, int critical)
{
    struct buf b;
    buf_init_reader(&b, p, len);
    unsigned permitted = 0;
    while (buf_len(&b) > 0) {
        const uint8_t *name, *data;
        size_t nlen, dlen;
        if (buf_get_ssh_string(&b, &name, &nlen, 255) || nlen == 0 ||
            buf_get_ssh_string(&b, &data, &dlen, FIELD_MAX))
            return BURROW_ERR_FORMAT;
        if (critical) {
            int r = take_critical(c, name, nlen, data, dlen);
            if (r)
                return r;
            continue;
        }
        for (size_t i = 0; i < sizeof(extension_flags) / sizeof(extension_flags[0]); i++)
            if (str_is(name, nlen, extension_flags[i].name))
                permitted |= extension_flags[i].flag;
    }
    if (!critical)
        c->restrict_flags = AUTHKEY_RESTRICT_ALL & ~permitted;
    return 0;
}

int usercert_parse(const uint8_t *blob, size_t len, struct usercert *c, char *why, size_t whysz)
{
    struct buf b;
    const uint8_t *p, *crit, *ext;
    size_t n, crit_len, ext_len;
    memset(c, 0, sizeof(*c));
    if (len > USERCERT_MAX)
        return fail(why, whysz, BURROW_ERR_TOO_LARGE, "certificate too large");
    buf_init_reader(&b, blob, len);
    if (get_text(&b, c->type_name, sizeof(c->type_name)) ||
        buf_get_ssh_string(&b, &p, &n, FIELD_MAX) /* nonce */)
        return fail(why, whysz, BURROW_ERR_FORMAT, "malformed certificate");
    if (skip_key_fields(&b, c->type_name))
        return fail(why, whysz, BURROW_ERR_UNSUPPORTED, "unsupported certificate type");
    if (buf_get_u64_be(&b, &c->serial) || buf_get_u32_be(&b, &c->type) ||
        get_text(&b, c->key_id, sizeof(c->key_id)) ||
        buf_get_ssh_string(&b, &c->principals, &c->principals_len, FIELD_MAX) ||
        count_principals(c->principals, c->principals_len, &c->n_principals) ||
        buf_get_u64_be(&b, &c->valid_after) || buf_get_u64_be(&b, &c->valid_before) ||
        buf_get_ssh_string(&b, &crit, &crit_len, FIELD_MAX) ||
        buf_get_ssh_string(&b, &ext, &ext_len, FIELD_MAX) ||
        buf_get_ssh_string(&b, &p, &n, FIELD_MAX) /* reserved */ ||
        buf_get_ssh_string(&b, &c->ca_key, &c->ca_key_len, FIELD_MAX))
        return fail(why, whysz, BURROW_ERR_FORMAT, "malformed certificate");
    c->signed_data = blob;
    c->signed_len = len - buf_len(&b); /* up to and including the signature key */
    if (buf_get_ssh_string(&b, &c->signature, &c->signature_len, FIELD_MAX) || buf_get_end(&b))
        return fail(why, whysz, BURROW_ERR_FORMAT, "malformed certificate signature");
    if (take_options(c, crit, crit_len, 1) || take_options(c, ext, ext_len, 0))
        return fail(why, whysz, BURROW_ERR_FORMAT, "malformed certificate options");
    return 0;
}

/* --- the CA's signature ---------------------------------------------------- */

/* An mpint's magnitude (leading zero bytes dropped); 0, or -1 for a negative/empty one. */
static int mpint(const uint8_t **p, size_t *n)
{
    if (*n == 0 || (**p & 0x80))
        return -1;
    while (*n > 1 && **p == 0) {
        (*p)++;
        (*n)--;
    }
    return 0;
}

/* A public key from OpenSSL parameters (RSA n/e, or an EC group and point). */
static EVP_PKEY *pkey_from(const char *alg, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pk = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, alg, NULL);
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pk;
}

static int digest_verify(EVP_PKEY *pk, const EVP_MD *md, const uint8_t *sig, size_t siglen,
                         const uint8_t *data, size_t len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, md, NULL, pk) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* ssh-rsa CA key (mpint e, mpint n), rsa-sha2-256/512 signature. */
static int verify_rsa(struct buf *key, const char *sig_type, const uint8_t *sig, size_t siglen,
                      const uint8_t *data, size_t len)
{
    const uint8_t *e, *n;
    size_t elen, nlen;
    const EVP_MD *md = strcmp(sig_type, "rsa-sha2-256") == 0   ? EVP_sha256()
                       : strcmp(sig_type, "rsa-sha2-512") == 0 ? EVP_sha512()
                                                               : NULL;
    if (!md || buf_get_ssh_string(key, &e, &elen, 16) || buf_get_ssh_string(key, &n, &nlen, 1025) ||
        buf_get_end(key) || mpint(&e, &elen) || mpint(&n, &nlen) || nlen < 256)
        return 0; /* SHA-1 signatures and keys under 2048 bits are refused */
    BIGNUM *bn_n = BN_bin2bn(n, (int)nlen, NULL), *bn_e = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;
    if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        pk = pkey_from("RSA", bld);
    int ok = pk && digest_verify(pk, md, sig, siglen, data, len);
    EVP_PKEY_free(pk);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return ok;
}

static const struct {
    const char *type, *curve, *group;
    const EVP_MD *(*md)(void);
} ec_curves[] = {
    {"ecdsa-sha2-nistp256", "nistp256", "P-256", EVP_sha256},
    {"ecdsa-sha2-nistp384", "nistp384", "P-384", EVP_sha384},
    {"ecdsa-sha2-nistp521", "nistp521", "P-521", EVP_sha512},
};

/* The SSH signature blob (mpint r, mpint s) as the DER OpenSSL verifies. */
static int ecdsa_der(const uint8_t *sig, size_t siglen, uint8_t **der, int *derlen)
{
    struct buf b;
    const uint8_t *r, *s;
    size_t rlen, slen;
    buf_init_reader(&b, sig, siglen);
    if (buf_get_ssh_string(&b, &r, &rlen, 67) || buf_get_ssh_string(&b, &s, &slen, 67) ||
        buf_get_end(&b) || mpint(&r, &rlen) || mpint(&s, &slen))
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)rlen, NULL), *bs = BN_bin2bn(s, (int)slen, NULL);
    if (!es || !br || !bs || ECDSA_SIG_set0(es, br, bs) != 1) {
        BN_free(br);
        BN_free(bs);
        ECDSA_SIG_free(es);
        return -1;
    }
    *der = NULL;
    *derlen = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es);
    return *derlen > 0 ? 0 : -1;
}

static int verify_ecdsa(struct buf *key, const char *key_type, const char *sig_type,
                        const uint8_t *sig, size_t siglen, const uint8_t *data, size_t len)
{
    const uint8_t *curve, *q;
    size_t clen, qlen;
    size_t i = 0;
    while (i < sizeof(ec_curves) / sizeof(ec_curves[0]) && strcmp(ec_curves[i].type, key_type))
        i++;
    if (i == sizeof(ec_curves) / sizeof(ec_curves[0]) || strcmp(sig_type, key_type) ||
        buf_get_ssh_string(key, &curve, &clen, 16) || !str_is(curve, clen, ec_curves[i].curve) ||
        buf_get_ssh_string(key, &q, &qlen, 133) || buf_get_end(key))
        return 0;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pk = NULL;
    uint8_t *der = NULL;
    int derlen = 0;
    if (bld &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ec_curves[i].group, 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q, qlen))
        pk = pkey_from("EC", bld);
    int ok = pk && ecdsa_der(sig, siglen, &der, &derlen) == 0 &&
             digest_verify(pk, ec_curves[i].md(), der, (size_t)derlen, data, len);
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    OSSL_PARAM_BLD_free(bld);
    return ok;
}

int usercert_verify(const struct usercert *c, char *why, size_t whysz)
{
    struct buf key, sig;
    char key_type[64], sig_type[64];
    const uint8_t *s, *pk;
    size_t slen, pklen;
    int ok = 0;
    buf_init_reader(&key, c->ca_key, c->ca_key_len);
    buf_init_reader(&sig, c->signature, c->signature_len);
    if (get_text(&key, key_type, sizeof(key_type)) || get_text(&sig, sig_type, sizeof(sig_type)) ||
        buf_get_ssh_string(&sig, &s, &slen, FIELD_MAX) || buf_get_end(&sig))
        return fail(why, whysz, BURROW_ERR_FORMAT, "malformed CA key or signature");
    if (strcmp(key_type, "ssh-ed25519") == 0) {
        ok = strcmp(sig_type, "ssh-ed25519") == 0 && slen == crypto_sign_BYTES &&
             buf_get_ssh_string(&key, &pk, &pklen, 32) == 0 &&
             pklen == crypto_sign_PUBLICKEYBYTES && buf_get_end(&key) == 0 &&
             crypto_sign_verify_detached(s, c->signed_data, c->signed_len, pk) == 0;
    } else if (strcmp(key_type, "ssh-rsa") == 0) {
        ok = verify_rsa(&key, sig_type, s, slen, c->signed_data, c->signed_len);
    } else {
        ok = verify_ecdsa(&key, key_type, sig_type, s, slen, c->signed_data, c->signed_len);
    }
    return ok ? 0 : fail(why, whysz, BURROW_ERR_PERM, "bad CA signature");
}

/* --- what a certificate allows --------------------------------------------- */

int usercert_has_principal(const struct usercert *c, const char *name)
{
    struct buf b;
    buf_init_reader(&b, c->principals, c->principals_len);
    while (buf_len(&b) > 0) {
        const uint8_t *s;
        size_t n;
        if (buf_get_ssh_string(&b, &s, &n, USERCERT_NAME_MAX))
            return 0;
        if (str_is(s, n, name))
            return 1;
    }
    return 0;
}

/* Is one of the comma-separated names in allowed a principal of the certificate? */
static int any_principal(const struct usercert *c, const char *allowed)
{
    char name[USERCERT_NAME_MAX + 1];
    for (const char *p = allowed; *p;) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < sizeof(name)) {
            memcpy(name, p, n);
            name[n] = '\0';
            if (usercert_has_principal(c, name))
                return 1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

int usercert_check(const struct usercert *c, const char *user, const char *allowed,
                   const char *client_addr, uint64_t now, char *why, size_t whysz)
{
    if (c->type != USERCERT_TYPE_USER)
        return fail(why, whysz, BURROW_ERR_PERM, "not a user certificate");
    if (now < c->valid_after)
        return fail(why, whysz, BURROW_ERR_PERM, "certificate not yet valid");
    if (now >= c->valid_before)
        return fail(why, whysz, BURROW_ERR_PERM, "certificate expired");
    if (c->n_principals == 0)
        return fail(why, whysz, BURROW_ERR_PERM, "certificate names no principal");
    if (allowed ? !any_principal(c, allowed) : !usercert_has_principal(c, user))
        return fail(why, whysz, BURROW_ERR_PERM, "no principal of the certificate is allowed");
    if (c->unknown_critical[0])
        return errmsg(why, whysz, BURROW_ERR_UNSUPPORTED, "unknown critical option '%s'",
                      c->unknown_critical);
    if (c->source_address[0] && !authkeys_from_allows(c->source_address, client_addr))
        return fail(why, whysz, BURROW_ERR_PERM, "source-address does not allow the client");
    return 0;
}
