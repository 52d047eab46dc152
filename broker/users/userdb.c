/*
 * broker/users/userdb.c - user names, the user.ini record, listing, uid allocation,
 * the database lock and passwords. Multi-file operations (add, del, keys,
 * resize) are in userdb_ops.c.
 */
#include "broker/users/userdb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "broker/fsutil.h"
#include "broker/users/totp.h"
#include "common/atomicfile.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"

/* Names a user may not take: system accounts a guest image or the host
 * already has, and Burrow's own. */
static const char *const reserved_names[] = {
    "root",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "gnats",
    "nobody",
    "nogroup",
    "systemd-network",
    "systemd-resolve",
    "systemd-timesync",
    "messagebus",
    "sshd",
    "_apt",
    "burrow",
    "admin",
    "adm",
    "operator",
    "halt",
    "shutdown",
    "ftp",
    "wheel",
    "staff",
    "users",
    "tty",
    "disk",
    "kmem",
    "shadow",
    "utmp",
    "video",
    "audio",
    "input",
    "kvm",
    "render",
    "sudo",
    "polkitd",
    "tss",
    "dnsmasq",
    "uuidd",
    "postfix",
    "ntp",
};

int userdb_name_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved_names) / sizeof(reserved_names[0]); i++)
        if (strcmp(reserved_names[i], name) == 0)
            return 1;
    return 0;
}

int userdb_name_check(const char *name, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    size_t n = strnlen(name, USERDB_NAME_MAX + 1);
    if (n == 0 || n > USERDB_NAME_MAX) {
        *why = "user names are 1-32 characters";
        return BURROW_ERR_INVALID;
    }
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_') ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n) {
        *why = "user names are [a-z_][a-z0-9_-]*";
        return BURROW_ERR_INVALID;
    }
    if (userdb_name_reserved(name)) {
        *why = "this user name is reserved";
        return BURROW_ERR_PERM;
    }
    *why = "";
    return 0;
}

int userdb_shell_check(const char *shell)
{
    size_t n = strnlen(shell, CONFIG_PATH_MAX);
    if (n == 0 || n >= CONFIG_PATH_MAX || shell[0] != '/' ||
        strspn(shell, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-") != n ||
        config_check_abs_path(shell) < 0)
        return BURROW_ERR_INVALID;
    return 0;
}

int userdb_open(struct userdb *db, const struct burrow_config *cfg, unsigned flags)
{
    memset(db, 0, sizeof(*db));
    db->lock_fd = -1;
    snprintf(db->state_dir, sizeof(db->state_dir), "%s", cfg->paths.state_dir);
    snprintf(db->users_dir, sizeof(db->users_dir), "%s/users", cfg->paths.state_dir);
    snprintf(db->default_shell, sizeof(db->default_shell), "%s", cfg->users.default_shell);
    db->uid_min = cfg->users.uid_min;
    db->uid_max = cfg->users.uid_max;
    db->default_disk_size = cfg->users.default_disk_size;
    db->seccomp_log = cfg->security.seccomp;
    if (!(flags & USERDB_CREATE))
        return 0;
    struct stat st;
    if (stat(db->state_dir, &st) < 0) {
        if (errno != ENOENT || mkdir(db->state_dir, 0755) < 0)
            return BURROW_ERR_SYSTEM;
    }
    /* user records, keys and password hashes: root only */
    return fs_ensure_dir(db->users_dir, 0700);
}

void userdb_close(struct userdb *db)
{
    userdb_unlock(db);
}

int userdb_lock(struct userdb *db)
{
    if (db->lock_fd >= 0)
        return 0;
    char path[sizeof(db->users_dir) + 8];
    snprintf(path, sizeof(path), "%s/.lock", db->users_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            errno = e;
            return BURROW_ERR_SYSTEM;
        }
    }
    db->lock_fd = fd;
    return 0;
}

void userdb_unlock(struct userdb *db)
{
    if (db->lock_fd >= 0) {
        close(db->lock_fd); /* releases the flock */
        db->lock_fd = -1;
    }
}

int userdb_path(const struct userdb *db, const char *name, const char *file, char *out,
                size_t outsz)
{
    if (userdb_name_check(name, NULL) < 0)
        return BURROW_ERR_INVALID;
    int n = snprintf(out, outsz, "%s/%s%s%s", db->users_dir, name, file[0] ? "/" : "", file);
    return n < 0 || (size_t)n >= outsz ? BURROW_ERR_TOO_LARGE : 0;
}

/* --- user.ini ---------------------------------------------------------- */

static int parse_rec_name(const char *v, void *field, char *err, size_t errsz)
{
    const char *why;
    if (userdb_name_check(v, &why) < 0)
        return errmsg(err, errsz, BURROW_ERR_INVALID, "%s", why);
    memcpy(field, v, strlen(v) + 1);
    return 0;
}

static int parse_rec_shell(const char *v, void *field, char *err, size_t errsz)
{
    (void)err;
    (void)errsz;
    if (userdb_shell_check(v) < 0)
        return BURROW_ERR_INVALID;
    memcpy(field, v, strlen(v) + 1);
    return 0;
}

static int parse_rec_hash(const char *v, void *field, char *err, size_t errsz)
{
    (void)err;
    (void)errsz;
    size_t n = strlen(v);
    if (n != 0 &&
        (n >= USERDB_HASH_MAX || strncmp(v, "$argon2id$", 10) != 0 ||
         strspn(v, "$=,abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/") != n))
        return BURROW_ERR_FORMAT;
    memcpy(field, v, n + 1);
    return 0;
}

static int parse_rec_totp(const char *v, void *field, char *err, size_t errsz)
{
    (void)err;
    (void)errsz;
    if (!totp_secret_valid(v))
        return BURROW_ERR_FORMAT;
    memcpy(field, v, strlen(v) + 1);
    return 0;
}

#define REC(m) offsetof(struct user_record, m), sizeof(((struct user_record *)0)->m)
static const struct config_key rec_keys[] = {
    {"user", "name", CFG_CUSTOM, REC(name), 0, 0, NULL, parse_rec_name, NULL, "a user name"},
    {"user", "uid", CFG_U32, REC(uid), 1000, CONFIG_UID_MAX, NULL, NULL, NULL,
     "a uid 1000-268435455"},
    {"user", "gid", CFG_U32, REC(gid), 1000, 2147483646, NULL, NULL, NULL, "a gid >= 1000"},
    {"user", "shell", CFG_CUSTOM, REC(shell), 0, 0, NULL, parse_rec_shell, NULL,
     "an absolute path"},
    {"user", "password", CFG_CUSTOM, REC(password_hash), 0, 0, NULL, parse_rec_hash, "",
     "an argon2id hash or empty"},
    {"user", "totp", CFG_CUSTOM, REC(totp), 0, 0, NULL, parse_rec_totp, "",
     "a base32 TOTP secret or empty"},
    {"user", "locked", CFG_BOOL, REC(locked), 0, 1, NULL, NULL, "no", "yes or no"},
    {"user", "disk_size", CFG_U64, REC(disk_size), 0, 16ull << 40, NULL, NULL, "0", "bytes"},
    {"user", "created", CFG_U64, REC(created), 0, UINT64_MAX, NULL, NULL, "0", "unix time"},
};
#define N_REC_KEYS (sizeof(rec_keys) / sizeof(rec_keys[0]))

int userdb_get(const struct userdb *db, const char *name, struct user_record *out, char *err,
               size_t errsz)
{
    char path[CONFIG_PATH_MAX + 64], dummy[USERDB_ERR_MAX];
    if (!err) {
        err = dummy;
        errsz = sizeof(dummy);
    }
    const char *why;
    int r = userdb_name_check(name, &why);
    if (r < 0)
        return errmsg(err, errsz, BURROW_ERR_INVALID, "invalid user name: %s", why);
    if ((r = userdb_path(db, name, "user.ini", path, sizeof(path))) < 0)
        return r;
    struct user_record rec;
    memset(&rec, 0, sizeof(rec));
    if ((r = config_apply_defaults(rec_keys, N_REC_KEYS, &rec, err, errsz)) < 0)
        return r;
    r = config_parse_ini_flags(path, CONFIG_PARSE_NOFOLLOW, rec_keys, N_REC_KEYS, &rec,
                               USERDB_RECORD_MAX, err, errsz);
    if (r == BURROW_ERR_NOT_FOUND)
        return errmsg(err, errsz, r, "no such user '%s'", name);
    if (r < 0)
        return r;
    /* every field is required, and the record must be the one it claims */
    if (strcmp(rec.name, name) != 0 || rec.uid == 0 || rec.gid == 0 || rec.shell[0] == '\0')
        return errmsg(err, errsz, BURROW_ERR_FORMAT, "%s: incomplete record or name mismatch",
                      path);
    *out = rec;
    return 0;
}

int userdb_put(struct userdb *db, const struct user_record *rec)
{
    char path[CONFIG_PATH_MAX + 64];
    int r = userdb_path(db, rec->name, "user.ini", path, sizeof(path));
    if (r < 0)
        return r;
    return userdb_record_write(path, rec);
}

int userdb_record_write(const char *path, const struct user_record *rec)
{
    char text[USERDB_RECORD_MAX], err[USERDB_ERR_MAX];
    /* write only what a reader would accept */
    if (userdb_name_check(rec->name, NULL) < 0 || userdb_shell_check(rec->shell) < 0 ||
        parse_rec_hash(rec->password_hash, (char[USERDB_HASH_MAX]){0}, err, sizeof(err)) < 0 ||
        !totp_secret_valid(rec->totp) || rec->uid < 1000 || rec->gid < 1000)
        return BURROW_ERR_INVALID;
    int n = snprintf(text, sizeof(text),
                     "# Burrow user record; edit with burrowctl user ...\n"
                     "[user]\n"
                     "name = %s\nuid = %" PRIu32 "\ngid = %" PRIu32 "\nshell = \"%s\"\n"
                     "password = \"%s\"\n%s%s%slocked = %s\ndisk_size = %" PRIu64 "\n"
                     "created = %" PRIu64 "\n",
                     rec->name, rec->uid, rec->gid, rec->shell, rec->password_hash,
                     rec->totp[0] ? "totp = " : "", rec->totp, rec->totp[0] ? "\n" : "",
                     rec->locked ? "yes" : "no", rec->disk_size, rec->created);
    if (n < 0 || (size_t)n >= sizeof(text))
        return BURROW_ERR_TOO_LARGE;
    return fs_write_atomic(path, text, (size_t)n, 0600);
}

static int cmp_rec(const void *a, const void *b)
{
    return strcmp(((const struct user_record *)a)->name, ((const struct user_record *)b)->name);
}

int userdb_list(const struct userdb *db, struct user_record **out, size_t *n_out)
{
    static struct log_ratelimit rl;
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(db->users_dir);
    if (!d)
        return errno == ENOENT ? 0 : BURROW_ERR_SYSTEM;
    struct user_record *recs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int r = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') /* .lock, .new-*, .del-* */
            continue;
        if (n == USERDB_USERS_MAX) {
            r = BURROW_ERR_TOO_LARGE;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct user_record *bigger = realloc(recs, cap * sizeof(*recs));
            if (!bigger) {
                r = BURROW_ERR_NOMEM;
                break;
            }
            recs = bigger;
        }
        char err[USERDB_ERR_MAX];
        if (userdb_get(db, de->d_name, &recs[n], err, sizeof(err)) < 0) {
            if (log_ratelimit_ok(&rl, 10, 60))
                log_warn("skipping user directory: %s", err);
            continue;
        }
        n++;
    }
    closedir(d);
    if (r < 0) {
        free(recs);
        return r;
    }
    if (n)
        qsort(recs, n, sizeof(*recs), cmp_rec);
    *out = recs;
    *n_out = n;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int userdb_alloc_uid(const struct userdb *db, uint32_t *uid_out)
{
    struct user_record *recs;
    size_t n;
    int r = userdb_list(db, &recs, &n);
    if (r < 0)
        return r;
    uint32_t *uids = malloc((n ? n : 1) * sizeof(*uids));
    if (!uids) {
        free(recs);
        return BURROW_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        uids[i] = recs[i].uid;
    free(recs);
    qsort(uids, n, sizeof(*uids), cmp_u32);
    /* lowest free uid: walk the sorted uids that fall inside the range */
    uint64_t want = db->uid_min;
    for (size_t i = 0; i < n && want <= db->uid_max; i++) {
        if (uids[i] == want)
            want++;
        else if (uids[i] > want)
            break;
    }
    free(uids);
    if (want > db->uid_max)
        return BURROW_ERR_RANGE;
    *uid_out = (uint32_t)want;
    return 0;
}

/* --- passwords --------------------------------------------------------- */

static unsigned long long pw_ops = USERDB_PWHASH_OPSLIMIT;
static size_t pw_mem = USERDB_PWHASH_MEMLIMIT;

void userdb_test_set_pwhash_cost(unsigned long long opslimit, size_t memlimit)
{
    pw_ops = opslimit ? opslimit : USERDB_PWHASH_OPSLIMIT;
    pw_mem = memlimit ? memlimit : USERDB_PWHASH_MEMLIMIT;
}

int userdb_password_hash(const char *password, size_t len, char out[USERDB_HASH_MAX])
{
    if (sodium_init() < 0)
        return BURROW_ERR_SYSTEM;
    if (len == 0 || len > USERDB_PASSWORD_MAX)
        return BURROW_ERR_INVALID;
    if (crypto_pwhash_str_alg(out, password, len, pw_ops, pw_mem, crypto_pwhash_ALG_ARGON2ID13) !=
        0)
        return BURROW_ERR_NOMEM; /* libsodium fails only when it cannot get the memory */
    return 0;
}

int userdb_password_verify(const struct user_record *rec, const char *password, size_t len)
{
    if (sodium_init() < 0)
        return BURROW_ERR_SYSTEM;
    if (rec->password_hash[0] == '\0' || len == 0 || len > USERDB_PASSWORD_MAX ||
        memchr(rec->password_hash, '\0', USERDB_HASH_MAX) == NULL) {
        userdb_password_burn(password, len);
        return BURROW_ERR_PERM;
    }
    return crypto_pwhash_str_verify(rec->password_hash, password, len) == 0 ? 0 : BURROW_ERR_PERM;
}

void userdb_password_burn(const char *password, size_t len)
{
    static char dummy[USERDB_HASH_MAX];
    if (sodium_init() < 0)
        return;
    if (!dummy[0]) {
        unsigned char rnd[32];
        randombytes_buf(rnd, sizeof(rnd));
        if (crypto_pwhash_str_alg(dummy, (const char *)rnd, sizeof(rnd), pw_ops, pw_mem,
                                  crypto_pwhash_ALG_ARGON2ID13) != 0)
            return;
    }
    if (len > USERDB_PASSWORD_MAX)
        len = USERDB_PASSWORD_MAX;
    int same = crypto_pwhash_str_verify(dummy, password ? password : "", password ? len : 0);
    (void)same; /* only the cost matters */
}
