/*
 * broker/users/userdb.h - the user database: state_dir/users/NAME/{user.ini,
 * authorized_keys, home.img}.
 *
 * Owns: user name rules, uid allocation, the user.ini record format, password
 * hashing (argon2id via libsodium crypto_pwhash_str), and the multi-file
 * operations (add, delete, key edits, disk resize) that must be atomic and
 * safe against concurrent burrowctl runs.
 *
 * Concurrency: every mutation holds an exclusive flock on users/.lock for its
 * whole duration (userdb_lock). Readers need no lock: every file is replaced
 * atomically (temp, fsync, rename), and a new user directory appears only
 * complete (built as users/.new-NAME-XXXXXX, then renamed).
 *
 * Trust: user.ini and authorized_keys are parsed as hostile input (sizes,
 * names, numbers, paths all re-validated on every read).
 */
#ifndef BURROW_BROKER_USERDB_H
#define BURROW_BROKER_USERDB_H

#include <stddef.h>
#include <stdint.h>

#include "broker/config.h"

#define USERDB_NAME_MAX     32     /* characters of a user name */
#define USERDB_HASH_MAX     128    /* == crypto_pwhash_STRBYTES */
#define USERDB_PASSWORD_MAX 1024   /* bytes of a clear-text password */
#define USERDB_RECORD_MAX   8192   /* bytes of a user.ini */
#define USERDB_USERS_MAX    100000 /* user directories listed at most */
#define USERDB_ERR_MAX      512

#define USERDB_MUST_CHECK __attribute__((warn_unused_result))

/* Production argon2id cost (docs/users.md: ~64 MiB per verification). */
#define USERDB_PWHASH_OPSLIMIT 3ull
#define USERDB_PWHASH_MEMLIMIT (64ull << 20)

struct user_record {
    char name[USERDB_NAME_MAX + 1];
    uint32_t uid;
    uint32_t gid;
    char shell[CONFIG_PATH_MAX];
    char password_hash[USERDB_HASH_MAX]; /* "" = no password login */
    char totp[33];                       /* base32 TOTP secret (broker/users/totp.h); "" = none */
    int locked;                          /* no logins at all while set */
    uint64_t disk_size;                  /* bytes; 0 = no home disk */
    uint64_t created;                    /* unix time */
};

struct userdb {
    char state_dir[CONFIG_PATH_MAX];
    char users_dir[CONFIG_PATH_MAX + 8];
    uint32_t uid_min, uid_max;
    char default_shell[CONFIG_PATH_MAX];
    uint64_t default_disk_size;
    int lock_fd;     /* users/.lock while userdb_lock() holds it, else -1 */
    int seccomp_log; /* [security] seccomp = log: e2fsprogs' filter only logs */
};

#define USERDB_CREATE 0x1u /* create state_dir/users (0700) if missing */

/* Bind db to cfg's state_dir and [users] settings. */
USERDB_MUST_CHECK int userdb_open(struct userdb *db, const struct burrow_config *cfg,
                                  unsigned flags);
/* Releases the lock if held. */
void userdb_close(struct userdb *db);

/* Exclusive database lock (blocks until free). Mutating calls below take it
 * themselves when the caller does not hold it. */
USERDB_MUST_CHECK int userdb_lock(struct userdb *db);
void userdb_unlock(struct userdb *db);

/*
 * 0 if name is a valid new or existing user name: POSIX portable
 * [a-z_][a-z0-9_-]*, 1..32 characters, not reserved. BURROW_ERR_INVALID for
 * bad syntax, BURROW_ERR_PERM for a reserved name. why (optional) gets text.
 */
USERDB_MUST_CHECK int userdb_name_check(const char *name, const char **why);
/* Is this name reserved (root, daemon, bin, sys, nobody, burrow, ...)? */
int userdb_name_reserved(const char *name);
/* Shell must be an absolute path of [A-Za-z0-9/._+-]. */
USERDB_MUST_CHECK int userdb_shell_check(const char *shell);

/* Path of users/NAME/<file> ("" file = the user's directory). */
USERDB_MUST_CHECK int userdb_path(const struct userdb *db, const char *name, const char *file,
                                  char *out, size_t outsz);

/* Read users/NAME/user.ini. BURROW_ERR_NOT_FOUND if no such user. */
USERDB_MUST_CHECK int userdb_get(const struct userdb *db, const char *name, struct user_record *out,
                                 char *err, size_t errsz);
/* Replace users/NAME/user.ini atomically (user must exist). */
USERDB_MUST_CHECK int userdb_put(struct userdb *db, const struct user_record *rec);
/* Write a record to an explicit path (atomically, mode 0600). */
USERDB_MUST_CHECK int userdb_record_write(const char *path, const struct user_record *rec);
/* All valid records, sorted by name (malloc'd array; broken records are
 * skipped with a warning). */
USERDB_MUST_CHECK int userdb_list(const struct userdb *db, struct user_record **out, size_t *n);

/* Lowest uid in [uid_min, uid_max] no user has. BURROW_ERR_RANGE if full. */
USERDB_MUST_CHECK int userdb_alloc_uid(const struct userdb *db, uint32_t *uid_out);

/* What `user add` creates. */
struct userdb_new_user {
    const char *name;
    uint32_t uid;          /* 0 = allocate */
    const char *shell;     /* NULL = [users] default_shell */
    const char *keys_text; /* authorized_keys content (validated), or NULL */
    size_t keys_len;
    const char *password; /* clear text, or NULL (no password login) */
    size_t password_len;
    uint64_t disk_size; /* 0 = [users] default_disk_size */
    int no_disk;        /* create no home.img (tests, sandbox-only) */
};

/*
 * Create a user completely or not at all: validates everything first, then
 * builds users/.new-NAME-XXXXXX/{user.ini,authorized_keys,home.img} and
 * renames it to users/NAME. Errors: INVALID/PERM (name), EXISTS (name or
 * uid taken), RANGE (uid or size), FORMAT (keys), SYSTEM, ... err says which.
 */
USERDB_MUST_CHECK int userdb_add(struct userdb *db, const struct userdb_new_user *nu,
                                 struct user_record *rec_out, char *err, size_t errsz);

/*
 * Delete a user. Refuses (BURROW_ERR_BUSY) while home.img is locked. With
 * keep_home the image moves to state_dir/kept-homes/NAME-<unixtime>.img and
 * that path is written to kept_path (if not NULL).
 */
USERDB_MUST_CHECK int userdb_del(struct userdb *db, const char *name, int keep_home,
                                 char *kept_path, size_t kept_pathsz, char *err, size_t errsz);

/* Set or clear (password NULL) the password hash. */
USERDB_MUST_CHECK int userdb_set_password(struct userdb *db, const char *name, const char *password,
                                          size_t len, char *err, size_t errsz);
USERDB_MUST_CHECK int userdb_set_locked(struct userdb *db, const char *name, int locked, char *err,
                                        size_t errsz);
/* Set (a secret from totp_new_secret) or clear ("") the user's TOTP secret. */
USERDB_MUST_CHECK int userdb_set_totp(struct userdb *db, const char *name, const char *secret,
                                      char *err, size_t errsz);
USERDB_MUST_CHECK int userdb_set_shell(struct userdb *db, const char *name, const char *shell,
                                       char *err, size_t errsz);

/* authorized_keys edits: add validated lines (duplicates refused), remove
 * one key by 1-based index or "SHA256:..." fingerprint. */
USERDB_MUST_CHECK int userdb_keys_add(struct userdb *db, const char *name, const char *text,
                                      size_t len, char *err, size_t errsz);
USERDB_MUST_CHECK int userdb_keys_rm(struct userdb *db, const char *name, const char *which,
                                     char *err, size_t errsz);

/* Grow users/NAME/home.img offline (homedisk_resize) and record the size. */
USERDB_MUST_CHECK int userdb_disk_resize(struct userdb *db, const char *name, uint64_t size,
                                         char *err, size_t errsz);

/* --- Passwords -------------------------------------------------------- */

/* argon2id hash string of password into out (USERDB_HASH_MAX bytes). */
USERDB_MUST_CHECK int userdb_password_hash(const char *password, size_t len,
                                           char out[USERDB_HASH_MAX]);
/* 0 if password matches rec's hash; BURROW_ERR_PERM if not or no password set. */
USERDB_MUST_CHECK int userdb_password_verify(const struct user_record *rec, const char *password,
                                             size_t len);
/* Spend the same work as a real verification (unknown user: equal cost). */
void userdb_password_burn(const char *password, size_t len);

/* Test hook: the argon2id cost of new hashes (0, 0 = production defaults). */
void userdb_test_set_pwhash_cost(unsigned long long opslimit, size_t memlimit);
/* Test hook: make the add step with this number (1..) fail, to check that a
 * failed `user add` leaves nothing behind (0 = off). */
void userdb_test_fail_add_step(int step);

#endif /* BURROW_BROKER_USERDB_H */
