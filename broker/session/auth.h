/*
 * broker/session/auth.h - the session process's authentication decisions.
 *
 * Owns: public-key and password checks against the user database, the
 * per-key authorized_keys options that then apply to the session, and the
 * cross-process cap on concurrent argon2id verifications (~64 MiB each).
 *
 * An unknown user, a locked user and a wrong key all give the same answer
 * through the same path; a password attempt for an unknown user spends the
 * same argon2id work as a real verification (userdb_password_burn).
 */
#ifndef BURROW_BROKER_AUTH_H
#define BURROW_BROKER_AUTH_H

#include <libssh/libssh.h>

#include "broker/users/authkeys.h"
#include "broker/users/userdb.h"

#define AUTH_PASSWORD_SLOTS 4 /* concurrent argon2id verifications, host-wide */

struct auth_ctx {
    const struct burrow_config *cfg;
    struct userdb db;
    const char *client_addr;          /* numeric */
    int slot_fd[AUTH_PASSWORD_SLOTS]; /* run_dir/pwslots/N, opened by auth_init */
};

/* Opens what auth needs to write (the slot files) now: call it before the pre-auth filter. */
__attribute__((warn_unused_result)) int
auth_init(struct auth_ctx *a, const struct burrow_config *cfg, const char *client_addr);
void auth_close(struct auth_ctx *a);

/*
 * 1 if `user` may log in with `key` (its record exists, is not locked, and
 * an authorized_keys entry matches with a from= allowing the client), with
 * the key's options in *opts and the record in *rec; 0 otherwise.
 */
int auth_pubkey(struct auth_ctx *a, const char *user, const ssh_key key, struct authkey_opts *opts,
                struct user_record *rec);
/*
 * The same for an OpenSSH user certificate ("TYPE BASE64" as the client sent
 * it; broker/users/usercert.h): signed by a CA of [auth] trusted_user_ca_keys or of
 * a cert-authority line of her authorized_keys, valid now, naming her (or a
 * principals= name), its critical options and extensions folded into *opts.
 * A refusal is logged with its reason; the client sees the same answer.
 */
int auth_cert(struct auth_ctx *a, const char *user, const char *cert_text,
              struct authkey_opts *opts, struct user_record *rec);
/* 1 if the password is right for an unlocked user, 0 otherwise. */
int auth_password(struct auth_ctx *a, const char *user, const char *password,
                  struct user_record *rec);

#endif /* BURROW_BROKER_AUTH_H */
