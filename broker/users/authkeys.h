/*
 * broker/users/authkeys.h - OpenSSH authorized_keys files: parse, validate, match.
 *
 * Owns: the authorized_keys line grammar ([options] keytype base64 [comment]),
 * validation of every key with libssh's parser, the supported options and
 * their effective value, and the matcher the SSH server calls during
 * public-key authentication.
 *
 * Supported options (names case-insensitive, as in sshd(8)):
 *   restrict, no-pty, no-port-forwarding, no-agent-forwarding,
 *   no-X11-forwarding, no-user-rc, and after `restrict` the re-enabling
 *   pty, port-forwarding, agent-forwarding, X11-forwarding, user-rc;
 *   command="...", from="pattern-list", environment="NAME=value",
 *   permitopen="host:port" and permitlisten="[host:]port" (each repeatable,
 *   `*` for any host or port); cert-authority (the key is a CA: certificates
 *   it signed log in, the key itself does not) with principals="a,b" (the
 *   certificate must name one of them; without it, the user's own name).
 * Any other option (tunnel, ...) is refused rather than silently ignored: a
 * restriction Burrow would not enforce must not look accepted. Certificate
 * key types are refused.
 *
 * The file is hostile input: lines, options and counts are bounded.
 */
#ifndef BURROW_BROKER_AUTHKEYS_H
#define BURROW_BROKER_AUTHKEYS_H

#include <stddef.h>

#include <libssh/libssh.h>

#define AUTHKEYS_FILE_MAX   (256u * 1024) /* bytes of a whole file */
#define AUTHKEYS_LINE_MAX   16384         /* bytes of one line */
#define AUTHKEYS_KEYS_MAX   256           /* keys in one file */
#define AUTHKEYS_OPT_MAX    4096          /* bytes of one quoted option value */
#define AUTHKEYS_ENV_MAX    16            /* environment="..." per key */
#define AUTHKEYS_FROM_MAX   64            /* patterns in one from="..." */
#define AUTHKEYS_PERMIT_MAX 16            /* permitopen= / permitlisten= per key */
#define AUTHKEYS_ERR_MAX    256           /* suggested error buffer size */

#define AUTHKEYS_MUST_CHECK __attribute__((warn_unused_result))

/* Restriction flags; set means "forbidden". */
#define AUTHKEY_NO_PTY       0x01u
#define AUTHKEY_NO_PORT_FWD  0x02u
#define AUTHKEY_NO_AGENT_FWD 0x04u
#define AUTHKEY_NO_X11_FWD   0x08u
#define AUTHKEY_NO_USER_RC   0x10u
#define AUTHKEY_RESTRICT_ALL 0x1fu

/* Effective options of one key (heap strings; free with authkey_opts_free). */
struct authkey_opts {
    unsigned flags;              /* AUTHKEY_NO_* */
    char *command;               /* forced command, or NULL */
    char *from;                  /* the from= pattern list as written, or NULL */
    char *env[AUTHKEYS_ENV_MAX]; /* "NAME=value" */
    unsigned n_env;
    char *permit_open[AUTHKEYS_PERMIT_MAX]; /* "host:port" (direct-tcpip) */
    unsigned n_permit_open;
    char *permit_listen[AUTHKEYS_PERMIT_MAX]; /* "[host:]port" (tcpip-forward) */
    unsigned n_permit_listen;
    int cert_authority; /* the key is a CA (never matched as a key itself) */
    char *principals;   /* cert-authority principals="a,b", or NULL */
};

struct authkey {
    ssh_key key;
    enum ssh_keytypes_e type;
    char *line;           /* the validated line, as it will be written back */
    char *comment;        /* may be "" */
    char fingerprint[80]; /* "SHA256:..." */
    struct authkey_opts opts;
    unsigned lineno; /* 1-based line in the parsed text */
};

struct authkeys {
    struct authkey *keys;
    size_t n;
};

#define AUTHKEYS_STRICT 0x1u /* any bad line fails the whole parse */
/* Without AUTHKEYS_STRICT, bad lines are skipped (logged, rate-limited): an
 * SSH login must not fail because of one other broken line. */

/*
 * Parse text (not necessarily NUL-terminated). Blank lines and '#' comments
 * are ignored. Returns 0 or BURROW_ERR_FORMAT/_TOO_LARGE/_NOMEM; err names
 * the line number and the problem. *out is empty on error.
 */
AUTHKEYS_MUST_CHECK int authkeys_parse(const char *text, size_t len, unsigned flags,
                                       struct authkeys *out, char *err, size_t errsz);
/* Read and parse a file (size-bounded; a missing file is an empty list). */
AUTHKEYS_MUST_CHECK int authkeys_load(const char *path, unsigned flags, struct authkeys *out,
                                      char *err, size_t errsz);
void authkeys_free(struct authkeys *ak);

/* Index of the key equal to `key` (public parts), or -1. */
long authkeys_find(const struct authkeys *ak, const ssh_key key);

/*
 * The server's matcher: does `key`, offered from client_addr (numeric IPv4
 * or IPv6 text; NULL if unknown), match an entry of ak whose from= allows
 * that address? Returns 1 and copies the effective options into *opts_out
 * (caller frees with authkey_opts_free), 0 for no match (opts_out zeroed),
 * or a negative code.
 */
AUTHKEYS_MUST_CHECK int authkeys_match(const struct authkeys *ak, const ssh_key key,
                                       const char *client_addr, struct authkey_opts *opts_out);
/*
 * A cert-authority entry for the CA key ca (from= allowing client_addr):
 * 1 and its options, 0 none, or a negative code. Plain entries never match.
 */
AUTHKEYS_MUST_CHECK int authkeys_match_ca(const struct authkeys *ak, const ssh_key ca,
                                          const char *client_addr, struct authkey_opts *opts_out);
/* The same against a file: load (lenient), match, free. */
AUTHKEYS_MUST_CHECK int authkeys_match_file(const char *path, const ssh_key key,
                                            const char *client_addr, struct authkey_opts *opts_out);

/*
 * permitopen= / permitlisten=: 1 if the key lists none, or one entry's host
 * (case-insensitive; `*` any; a missing permitlisten host any) and port
 * (`*` any) match; else 0. A dynamic listen (port 0) needs port `*`.
 */
int authkeys_permits_open(const struct authkey_opts *o, const char *host, unsigned port);
int authkeys_permits_listen(const struct authkey_opts *o, const char *host, unsigned port);
/* A permitopen= ("host:port", need_host) or permitlisten= ("[host:]port") value is valid. */
int authkeys_permit_valid(const char *value, int need_host);

/* from="..." check alone: 1 allowed, 0 refused (a negated match refuses). */
int authkeys_from_allows(const char *pattern_list, const char *client_addr);

AUTHKEYS_MUST_CHECK int authkey_opts_copy(struct authkey_opts *dst, const struct authkey_opts *src);
void authkey_opts_free(struct authkey_opts *o);

/* SHA256 fingerprint "SHA256:base64" of a key into out. */
AUTHKEYS_MUST_CHECK int authkeys_fingerprint(const ssh_key key, char *out, size_t outsz);

#endif /* BURROW_BROKER_AUTHKEYS_H */
