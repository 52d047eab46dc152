/*
 * broker/users/authkeys.c - authorized_keys parsing, validation and matching.
 *
 * A line is `[options] keytype base64 [comment]`. Each line is parsed with
 * explicit bounds; the key blob goes through libssh's parser and its type
 * must agree with the keytype word. Options follow sshd(8) syntax:
 * comma-separated, values in double quotes where `\"` is a literal quote.
 * from= patterns are matched only against the numeric client address
 * (Burrow never resolves client names), see authkeys_from_allows().
 */
#include "broker/users/authkeys.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"

#define B64_MAX      8192 /* a 16384-bit RSA key is ~2.8 KB of base64 */
#define RSA_MIN_BITS 2048

static const struct {
    const char *name;
    enum ssh_keytypes_e type;
} key_types[] = {
    {"ssh-ed25519", SSH_KEYTYPE_ED25519},
    {"ssh-rsa", SSH_KEYTYPE_RSA},
    {"ecdsa-sha2-nistp256", SSH_KEYTYPE_ECDSA_P256},
    {"ecdsa-sha2-nistp384", SSH_KEYTYPE_ECDSA_P384},
    {"ecdsa-sha2-nistp521", SSH_KEYTYPE_ECDSA_P521},
    {"sk-ssh-ed25519@openssh.com", SSH_KEYTYPE_SK_ED25519},
    {"sk-ecdsa-sha2-nistp256@openssh.com", SSH_KEYTYPE_SK_ECDSA},
};

static int key_type_of(const char *word, size_t n, enum ssh_keytypes_e *type)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++) {
        if (strlen(key_types[i].name) == n && memcmp(key_types[i].name, word, n) == 0) {
            *type = key_types[i].type;
            return 1;
        }
    }
    return 0;
}

static void free_list(char **v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        free(v[i]);
}

void authkey_opts_free(struct authkey_opts *o)
{
    free(o->command);
    free(o->from);
    free(o->principals);
    free_list(o->env, o->n_env);
    free_list(o->permit_open, o->n_permit_open);
    free_list(o->permit_listen, o->n_permit_listen);
    memset(o, 0, sizeof(*o));
}

/* Copy n strings; *dst_n counts the ones copied (for the free on failure). */
static int copy_list(char **dst, unsigned *dst_n, char *const *src, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (!(dst[i] = strdup(src[i])))
            return BURROW_ERR_NOMEM;
        (*dst_n)++;
    }
    return 0;
}

int authkey_opts_copy(struct authkey_opts *dst, const struct authkey_opts *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->flags = src->flags;
    dst->cert_authority = src->cert_authority;
    if ((src->command && !(dst->command = strdup(src->command))) ||
        (src->from && !(dst->from = strdup(src->from))) ||
        (src->principals && !(dst->principals = strdup(src->principals))) ||
        copy_list(dst->env, &dst->n_env, src->env, src->n_env) ||
        copy_list(dst->permit_open, &dst->n_permit_open, src->permit_open, src->n_permit_open) ||
        copy_list(dst->permit_listen, &dst->n_permit_listen, src->permit_listen,
                  src->n_permit_listen)) {
        authkey_opts_free(dst);
        return BURROW_ERR_NOMEM;
    }
    return 0;
}

/* --- permitopen= / permitlisten= ------------------------------------------ */

/*
 * Split "host:port" (host may be "[v6]") at its last colon into host (brackets
 * dropped) and port; "port" alone when !need_host. 0, or -1 if malformed.
 */
static int split_host_port(const char *v, int need_host, char *host, size_t hostsz, char *port,
                           size_t portsz)
{
    const char *colon = strrchr(v, ':');
    const char *h = v, *p = colon ? colon + 1 : v;
    size_t hlen = colon ? (size_t)(colon - v) : 0;
    if (!colon && need_host)
        return -1;
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    } else if (memchr(h, ':', hlen) || memchr(h, '[', hlen)) {
        return -1; /* a bare IPv6 address: sshd wants it in brackets */
    }
    if ((colon && hlen == 0) || hlen >= hostsz || strlen(p) == 0 || strlen(p) >= portsz)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    strcpy(port, p);
    return 0;
}

/* A decimal port 1-65535 (no sign, no spaces, no leading zeros), or 0. */
static unsigned port_number(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5 || p[0] == '0' || strspn(p, "0123456789") != n)
        return 0;
    unsigned long v = strtoul(p, NULL, 10);
    return v <= 65535 ? (unsigned)v : 0;
}

static int port_valid(const char *p)
{
    return strcmp(p, "*") == 0 || port_number(p) != 0;
}

int authkeys_permit_valid(const char *value, int need_host)
{
    char host[256], port[8];
    if (split_host_port(value, need_host, host, sizeof(host), port, sizeof(port)) != 0)
        return 0;
    size_t n = strlen(host);
    return port_valid(port) &&
           strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:*_") == n;
}

static int permit_match(char *const *list, unsigned n, const char *host, unsigned port,
                        int need_host)
{
    if (n == 0)
        return 1;
    for (unsigned i = 0; i < n; i++) {
        char h[256], p[8];
        if (split_host_port(list[i], need_host, h, sizeof(h), p, sizeof(p)) != 0)
            continue;
        int host_ok = (!need_host && !h[0]) || strcmp(h, "*") == 0 || strcasecmp(h, host) == 0;
        int port_ok = strcmp(p, "*") == 0 || (port != 0 && port_number(p) == port);
        if (host_ok && port_ok)
            return 1;
    }
    return 0;
}

int authkeys_permits_open(const struct authkey_opts *o, const char *host, unsigned port)
{
    return permit_match(o->permit_open, o->n_permit_open, host, port, 1);
}

int authkeys_permits_listen(const struct authkey_opts *o, const char *host, unsigned port)
{
    return permit_match(o->permit_listen, o->n_permit_listen, host, port, 0);
}

/* --- from="..." ----------------------------------------------------------- */

/* One from= pattern (without '!'): "addr/bits" or a wildcard of [A-Za-z0-9.:*?_-]. */
static int from_pattern_valid(const char *p)
{
    const char *slash = strchr(p, '/');
    if (slash) {
        char addr[INET6_ADDRSTRLEN];
        unsigned char bin[16];
        size_t n = (size_t)(slash - p);
        if (n == 0 || n >= sizeof(addr))
            return 0;
        memcpy(addr, p, n);
        addr[n] = '\0';
        int v6 = strchr(addr, ':') != NULL;
        if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
            return 0;
        char *end;
        errno = 0;
        long bits = strtol(slash + 1, &end, 10);
        return !errno && end != slash + 1 && *end == '\0' && isdigit((unsigned char)slash[1]) &&
               bits >= 0 && bits <= (v6 ? 128 : 32);
    }
    size_t n = strlen(p);
    return n > 0 && n <= 255 &&
           strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:*?_-") == n;
}

static int from_list_valid(const char *list)
{
    char buf[AUTHKEYS_OPT_MAX + 1];
    if (strlen(list) > AUTHKEYS_OPT_MAX || !*list)
        return 0;
    memcpy(buf, list, strlen(list) + 1);
    unsigned count = 0;
    char *save = NULL;
    /* empty elements ("a,,b") are malformed */
    if (buf[0] == ',' || buf[strlen(buf) - 1] == ',' || strstr(buf, ",,"))
        return 0;
    for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (++count > AUTHKEYS_FROM_MAX)
            return 0;
        if (*p == '!')
            p++;
        if (!from_pattern_valid(p))
            return 0;
    }
    return count > 0;
}

static int cidr_match(const char *pattern, const char *addr)
{
    char net[INET6_ADDRSTRLEN];
    const char *slash = strchr(pattern, '/');
    size_t n = (size_t)(slash - pattern);
    if (n >= sizeof(net))
        return 0;
    memcpy(net, pattern, n);
    net[n] = '\0';
    int bits = atoi(slash + 1);
    int af = strchr(net, ':') ? AF_INET6 : AF_INET;
    unsigned char a[16], b[16];
    if (inet_pton(af, net, a) != 1 || inet_pton(af, addr, b) != 1)
        return 0;
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((a[full] & mask) != (b[full] & mask))
            return 0;
    }
    return 1;
}

int authkeys_from_allows(const char *list, const char *client_addr)
{
    char buf[AUTHKEYS_OPT_MAX + 1];
    if (!client_addr || strlen(list) > AUTHKEYS_OPT_MAX)
        return 0;
    memcpy(buf, list, strlen(list) + 1);
    int allowed = 0;
    char *save = NULL;
    for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        int negate = *p == '!';
        if (negate)
            p++;
        int hit = strchr(p, '/') ? cidr_match(p, client_addr)
                                 : fnmatch(p, client_addr, FNM_CASEFOLD) == 0;
        if (hit && negate)
            return 0; /* a negated match always refuses */
        if (hit)
            allowed = 1;
    }
    return allowed;
}

/* --- options ----------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned set, clear;
} flag_opts[] = {
    {"restrict", AUTHKEY_RESTRICT_ALL, 0},
    {"no-pty", AUTHKEY_NO_PTY, 0},
    {"no-port-forwarding", AUTHKEY_NO_PORT_FWD, 0},
    {"no-agent-forwarding", AUTHKEY_NO_AGENT_FWD, 0},
    {"no-x11-forwarding", AUTHKEY_NO_X11_FWD, 0},
    {"no-user-rc", AUTHKEY_NO_USER_RC, 0},
    {"pty", 0, AUTHKEY_NO_PTY},
    {"port-forwarding", 0, AUTHKEY_NO_PORT_FWD},
    {"agent-forwarding", 0, AUTHKEY_NO_AGENT_FWD},
    {"x11-forwarding", 0, AUTHKEY_NO_X11_FWD},
    {"user-rc", 0, AUTHKEY_NO_USER_RC},
};

static int env_valid(const char *s)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || !(isalpha((unsigned char)*s) || *s == '_'))
        return 0;
    for (const char *p = s; p < eq; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

/* Parse a quoted value at *pp (pointing at '"'); *pp moves past the close quote. */
static int parse_quoted(const char **pp, const char *end, char **out)
{
    const char *p = *pp + 1;
    char *v = malloc(AUTHKEYS_OPT_MAX + 1);
    size_t n = 0;
    if (!v)
        return BURROW_ERR_NOMEM;
    for (; p < end && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < end && p[1] == '"')
            p++;
        if ((unsigned char)*p < 0x20 && *p != '\t') {
            free(v);
            return BURROW_ERR_FORMAT;
        }
        if (n == AUTHKEYS_OPT_MAX) {
            free(v);
            return BURROW_ERR_TOO_LARGE;
        }
        v[n++] = *p;
    }
    if (p == end) {
        free(v);
        return BURROW_ERR_FORMAT;
    }
    v[n] = '\0';
    *pp = p + 1;
    *out = v;
    return 0;
}

static int apply_value_opt(struct authkey_opts *o, const char *name, char *value, char *err,
                           size_t errsz)
{
    if (strcasecmp(name, "command") == 0) {
        if (o->command || !*value)
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "command= given twice or empty");
        o->command = value;
    } else if (strcasecmp(name, "from") == 0) {
        if (o->from || !from_list_valid(value))
            return errmsg(err, errsz, BURROW_ERR_FORMAT,
                          "from= must be one list of addresses, CIDRs or wildcards");
        o->from = value;
    } else if (strcasecmp(name, "environment") == 0) {
        if (!env_valid(value) || o->n_env == AUTHKEYS_ENV_MAX)
            return errmsg(err, errsz, BURROW_ERR_FORMAT,
                          "environment= must be NAME=value (at most %d)", AUTHKEYS_ENV_MAX);
        o->env[o->n_env++] = value;
    } else if (strcasecmp(name, "principals") == 0) {
        size_t n = strlen(value);
        if (o->principals || n == 0 || n > 1024 || value[0] == ',' || value[n - 1] == ',' ||
            strstr(value, ",,") ||
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-,") !=
                n)
            return errmsg(err, errsz, BURROW_ERR_FORMAT,
                          "principals= must be one comma-separated list of names");
        o->principals = value;
    } else if (strcasecmp(name, "permitopen") == 0 || strcasecmp(name, "permitlisten") == 0) {
        int open = strcasecmp(name, "permitopen") == 0;
        char **list = open ? o->permit_open : o->permit_listen;
        unsigned *n = open ? &o->n_permit_open : &o->n_permit_listen;
        if (!authkeys_permit_valid(value, open) || *n == AUTHKEYS_PERMIT_MAX)
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "%s= must be %s, * for any (at most %d)",
                          open ? "permitopen" : "permitlisten", open ? "host:port" : "[host:]port",
                          AUTHKEYS_PERMIT_MAX);
        list[(*n)++] = value;
    } else {
        return errmsg(err, errsz, BURROW_ERR_UNSUPPORTED, "unsupported option '%s'", name);
    }
    return 0;
}

/* Options from *pp up to the first unquoted whitespace. */
static int parse_options(const char **pp, const char *end, struct authkey_opts *o, char *err,
                         size_t errsz)
{
    const char *p = *pp;
    for (;;) {
        char name[32];
        size_t n = 0;
        while (p < end && (isalnum((unsigned char)*p) || *p == '-') && n < sizeof(name) - 1)
            name[n++] = *p++;
        name[n] = '\0';
        if (n == 0)
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "malformed options");
        if (p < end && *p == '=') {
            p++;
            char *value;
            int r = p < end && *p == '"' ? parse_quoted(&p, end, &value) : BURROW_ERR_FORMAT;
            if (r < 0)
                return errmsg(err, errsz, r, "option %s= needs a valid \"quoted value\"", name);
            if ((r = apply_value_opt(o, name, value, err, errsz)) < 0) {
                free(value);
                return r;
            }
        } else {
            size_t i;
            if (strcasecmp(name, "cert-authority") == 0) {
                o->cert_authority = 1;
                goto next;
            }
            for (i = 0; i < sizeof(flag_opts) / sizeof(flag_opts[0]); i++)
                if (strcasecmp(flag_opts[i].name, name) == 0)
                    break;
            if (i == sizeof(flag_opts) / sizeof(flag_opts[0]))
                return errmsg(err, errsz, BURROW_ERR_UNSUPPORTED, "unsupported option '%s'", name);
            o->flags = (o->flags | flag_opts[i].set) & ~flag_opts[i].clear;
        }
    next:
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p == end || *p == ' ' || *p == '\t')
            break;
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "malformed options");
    }
    *pp = p;
    return 0;
}

/* --- one line ---------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static size_t word_len(const char *p, const char *end)
{
    size_t n = 0;
    while (p + n < end && p[n] != ' ' && p[n] != '\t')
        n++;
    return n;
}

int authkeys_fingerprint(const ssh_key key, char *out, size_t outsz)
{
    unsigned char *hash = NULL;
    size_t hlen = 0;
    if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) < 0)
        return BURROW_ERR_INVALID;
    char *fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    ssh_clean_pubkey_hash(&hash);
    if (!fp)
        return BURROW_ERR_NOMEM;
    int r = snprintf(out, outsz, "%s", fp) >= (int)outsz ? BURROW_ERR_TOO_LARGE : 0;
    ssh_string_free_char(fp);
    return r;
}

/* Modulus size of an ssh-rsa blob (string type, mpint e, mpint n); 0 if bad. */
static unsigned rsa_bits(const char *b64, size_t n)
{
    unsigned char blob[B64_MAX];
    size_t bloblen = 0;
    if (sodium_base642bin(blob, sizeof(blob), b64, n, NULL, &bloblen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return 0;
    struct buf b;
    const uint8_t *type, *e, *mod;
    size_t tlen = 0, elen = 0, mlen = 0;
    buf_init_reader(&b, blob, bloblen);
    if (buf_get_ssh_string(&b, &type, &tlen, B64_MAX) < 0 ||
        buf_get_ssh_string(&b, &e, &elen, B64_MAX) < 0 ||
        buf_get_ssh_string(&b, &mod, &mlen, B64_MAX) < 0)
        return 0;
    while (mlen > 0 && mod[0] == 0) { /* mpint sign padding */
        mod++;
        mlen--;
    }
    if (mlen == 0)
        return 0;
    unsigned bits = (unsigned)mlen * 8;
    for (uint8_t top = mod[0]; !(top & 0x80); top = (uint8_t)(top << 1))
        bits--;
    return bits;
}

/* The key blob: base64 charset, libssh's parser, type agreement, RSA size. */
static int import_key(const char *b64, size_t n, enum ssh_keytypes_e type, ssh_key *out, char *err,
                      size_t errsz)
{
    static const char b64chars[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    int ok = n > 0 && n <= B64_MAX;
    /* the text is not NUL-terminated: check exactly n bytes */
    for (size_t i = 0; ok && i < n; i++)
        ok = b64[i] != '\0' && strchr(b64chars, b64[i]) != NULL;
    if (!ok)
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "key data is not base64");
    char *copy = strndup(b64, n);
    if (!copy)
        return BURROW_ERR_NOMEM;
    ssh_key key = NULL;
    int rc = ssh_pki_import_pubkey_base64(copy, type, &key);
    free(copy);
    if (rc != SSH_OK || !key)
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "key data does not parse as %s",
                      ssh_key_type_to_char(type));
    if (ssh_key_type(key) != type) {
        ssh_key_free(key);
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "key data is not of the named type");
    }
    if (type == SSH_KEYTYPE_RSA && rsa_bits(b64, n) < RSA_MIN_BITS) {
        ssh_key_free(key);
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "RSA keys need at least %d bits",
                      RSA_MIN_BITS);
    }
    *out = key;
    return 0;
}

static int parse_line(const char *p, const char *end, struct authkey *k, char *err, size_t errsz)
{
    const char *start = p;
    size_t n = word_len(p, end);
    if (!key_type_of(p, n, &k->type)) {
        int r = parse_options(&p, end, &k->opts, err, errsz);
        if (r < 0)
            return r;
        if (k->opts.principals && !k->opts.cert_authority)
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "principals= needs cert-authority");
        p = skip_ws(p, end);
        n = word_len(p, end);
        if (!key_type_of(p, n, &k->type))
            return errmsg(err, errsz, BURROW_ERR_UNSUPPORTED,
                          "unknown or unsupported key type '%.*s'", (int)(n > 40 ? 40 : n), p);
    }
    p = skip_ws(p + n, end);
    n = word_len(p, end);
    int r = import_key(p, n, k->type, &k->key, err, errsz);
    if (r < 0)
        return r;
    p = skip_ws(p + n, end);
    const char *cend = end;
    while (cend > p && (cend[-1] == ' ' || cend[-1] == '\t'))
        cend--;
    for (const char *c = p; c < cend; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t')
            return errmsg(err, errsz, BURROW_ERR_FORMAT, "control character in comment");
    if (!(k->comment = strndup(p, (size_t)(cend - p))) ||
        !(k->line = strndup(start, (size_t)(cend - start))))
        return BURROW_ERR_NOMEM;
    return authkeys_fingerprint(k->key, k->fingerprint, sizeof(k->fingerprint));
}

static void authkey_clear(struct authkey *k)
{
    if (k->key)
        ssh_key_free(k->key);
    free(k->line);
    free(k->comment);
    authkey_opts_free(&k->opts);
    memset(k, 0, sizeof(*k));
}

void authkeys_free(struct authkeys *ak)
{
    for (size_t i = 0; i < ak->n; i++)
        authkey_clear(&ak->keys[i]);
    free(ak->keys);
    ak->keys = NULL;
    ak->n = 0;
}

int authkeys_parse(const char *text, size_t len, unsigned flags, struct authkeys *out, char *err,
                   size_t errsz)
{
    static struct log_ratelimit rl;
    memset(out, 0, sizeof(*out));
    if (len > AUTHKEYS_FILE_MAX)
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "more than %u bytes", AUTHKEYS_FILE_MAX);
    if (!(out->keys = calloc(AUTHKEYS_KEYS_MAX, sizeof(*out->keys))))
        return BURROW_ERR_NOMEM;
    const char *p = text, *end = text + len;
    unsigned lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *lend = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        lineno++;
        if (lend > p && lend[-1] == '\r')
            lend--;
        char why[AUTHKEYS_ERR_MAX];
        int r = 0;
        const char *s = skip_ws(p, lend);
        if (s == lend || *s == '#') {
            p = next;
            continue;
        }
        if ((size_t)(lend - p) > AUTHKEYS_LINE_MAX)
            r = errmsg(why, sizeof(why), BURROW_ERR_TOO_LARGE, "line longer than %d bytes",
                       AUTHKEYS_LINE_MAX);
        else if (memchr(s, '\0', (size_t)(lend - s)))
            r = errmsg(why, sizeof(why), BURROW_ERR_FORMAT, "NUL byte");
        else if (out->n == AUTHKEYS_KEYS_MAX)
            r = errmsg(why, sizeof(why), BURROW_ERR_TOO_LARGE, "more than %d keys",
                       AUTHKEYS_KEYS_MAX);
        else
            r = parse_line(s, lend, &out->keys[out->n], why, sizeof(why));
        if (r < 0) {
            if (out->n < AUTHKEYS_KEYS_MAX)
                authkey_clear(&out->keys[out->n]);
            if ((flags & AUTHKEYS_STRICT) || r == BURROW_ERR_NOMEM) {
                authkeys_free(out);
                return errmsg(err, errsz, r == BURROW_ERR_NOMEM ? r : BURROW_ERR_FORMAT,
                              "line %u: %s", lineno, why);
            }
            if (log_ratelimit_ok(&rl, 10, 60))
                log_warn("authorized_keys line %u skipped: %s", lineno, why);
        } else {
            out->keys[out->n++].lineno = lineno;
        }
        p = next;
    }
    return 0;
}

int authkeys_load(const char *path, unsigned flags, struct authkeys *out, char *err, size_t errsz)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "%s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > AUTHKEYS_FILE_MAX) {
        close(fd);
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "%s: not a regular file of at most %u bytes",
                      path, AUTHKEYS_FILE_MAX);
    }
    char *text = malloc(AUTHKEYS_FILE_MAX + 1);
    size_t n = 0;
    ssize_t got = 0;
    while (text && n <= AUTHKEYS_FILE_MAX &&
           (got = read(fd, text + n, AUTHKEYS_FILE_MAX + 1 - n)) > 0)
        n += (size_t)got;
    int e = errno;
    close(fd);
    if (!text)
        return BURROW_ERR_NOMEM;
    if (got < 0) {
        free(text);
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "%s: %s", path, strerror(e));
    }
    int r = authkeys_parse(text, n, flags, out, err, errsz);
    free(text);
    return r;
}

long authkeys_find(const struct authkeys *ak, const ssh_key key)
{
    for (size_t i = 0; i < ak->n; i++)
        if (ssh_key_cmp(ak->keys[i].key, key, SSH_KEY_CMP_PUBLIC) == 0)
            return (long)i;
    return -1;
}

/* The first entry for key (a CA entry only if ca) whose from= allows the client. */
static int match_entry(const struct authkeys *ak, const ssh_key key, int ca,
                       const char *client_addr, struct authkey_opts *opts_out)
{
    memset(opts_out, 0, sizeof(*opts_out));
    for (size_t i = 0; i < ak->n; i++) {
        const struct authkey *k = &ak->keys[i];
        if (!k->opts.cert_authority != !ca || ssh_key_cmp(k->key, key, SSH_KEY_CMP_PUBLIC) != 0)
            continue;
        /* like sshd: a from= refusal only rules out this line; keep looking */
        if (k->opts.from && !authkeys_from_allows(k->opts.from, client_addr))
            continue;
        int r = authkey_opts_copy(opts_out, &k->opts);
        return r < 0 ? r : 1;
    }
    return 0;
}

int authkeys_match(const struct authkeys *ak, const ssh_key key, const char *client_addr,
                   struct authkey_opts *opts_out)
{
    return match_entry(ak, key, 0, client_addr, opts_out);
}

int authkeys_match_ca(const struct authkeys *ak, const ssh_key ca, const char *client_addr,
                      struct authkey_opts *opts_out)
{
    return match_entry(ak, ca, 1, client_addr, opts_out);
}

int authkeys_match_file(const char *path, const ssh_key key, const char *client_addr,
                        struct authkey_opts *opts_out)
{
    struct authkeys ak;
    memset(opts_out, 0, sizeof(*opts_out));
    int r = authkeys_load(path, 0, &ak, NULL, 0);
    if (r < 0)
        return r;
    r = authkeys_match(&ak, key, client_addr, opts_out);
    authkeys_free(&ak);
    return r;
}
