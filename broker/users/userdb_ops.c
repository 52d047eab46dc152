/*
 * broker/users/userdb_ops.c - multi-file user operations: add, delete, record
 * edits, authorized_keys edits, disk resize.
 *
 * Each operation validates all input before touching the disk, holds the
 * database lock for its whole duration, and is all-or-nothing:
 *   add  builds users/.new-NAME-XXXXXX completely, then renames it into place;
 *   del  renames users/NAME to users/.del-NAME-XXXXXX, then removes that;
 *   edits replace one file atomically.
 * Leftover .new-/.del- directories (a crash mid-way) are removed by the next
 * add or del under the lock.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "broker/users/authkeys.h"
#include "broker/fsutil.h"
#include "broker/users/homedisk.h"
#include "broker/users/totp.h"
#include "broker/users/userdb.h"
#include "common/atomicfile.h"
#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/hibernate.h"

#define PATHBUF 4096

static int fail_step;

void userdb_test_fail_add_step(int step)
{
    fail_step = step;
}

/* "a/b" into out; BURROW_ERR_TOO_LARGE if it does not fit. */
static int join(char *out, size_t outsz, const char *a, const char *b)
{
    int n = snprintf(out, outsz, "%s/%s", a, b);
    return n < 0 || (size_t)n >= outsz ? BURROW_ERR_TOO_LARGE : 0;
}

static int sys_fail(char *err, size_t errsz, const char *what, const char *path)
{
    return errmsg(err, errsz, BURROW_ERR_SYSTEM, "%s %s: %s", what, path, strerror(errno));
}

/* Take the lock unless the caller holds it; *took says whether to release. */
static int lock_for_op(struct userdb *db, int *took, char *err, size_t errsz)
{
    *took = db->lock_fd < 0;
    if (!*took)
        return 0;
    int r = userdb_lock(db);
    if (r == BURROW_ERR_NOT_FOUND)
        return errmsg(err, errsz, r, "no user database at %s", db->users_dir);
    if (r < 0)
        return sys_fail(err, errsz, "cannot lock", db->users_dir);
    return 0;
}

static void unlock_after_op(struct userdb *db, int took)
{
    if (took)
        userdb_unlock(db);
}

/* Remove .new-* and .del-* directories a crashed run left behind. */
static void remove_leftovers(const struct userdb *db)
{
    DIR *d = opendir(db->users_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, ".new-", 5) != 0 && strncmp(de->d_name, ".del-", 5) != 0)
            continue;
        char p[PATHBUF];
        if (join(p, sizeof(p), db->users_dir, de->d_name) < 0 || fs_remove_tree(p) < 0)
            log_warn("cannot remove leftover %s: %s", p, strerror(errno));
    }
    closedir(d);
}

static int user_exists(const struct userdb *db, const char *name)
{
    char p[PATHBUF];
    struct stat st;
    return userdb_path(db, name, "", p, sizeof(p)) == 0 && lstat(p, &st) == 0;
}

/* Join the validated lines of ak, one per line. */
static int keys_text(const struct authkeys *ak, char **out, size_t *len)
{
    size_t total = 1;
    for (size_t i = 0; i < ak->n; i++)
        total += strlen(ak->keys[i].line) + 1;
    char *t = malloc(total);
    if (!t)
        return BURROW_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < ak->n; i++) {
        size_t l = strlen(ak->keys[i].line);
        memcpy(t + n, ak->keys[i].line, l);
        n += l;
        t[n++] = '\n';
    }
    t[n] = '\0';
    *out = t;
    *len = n;
    return 0;
}

/* Fill rec from nu; validates everything `user add` takes. */
static int check_new_user(struct userdb *db, const struct userdb_new_user *nu,
                          struct user_record *rec, struct authkeys *ak, char *err, size_t errsz)
{
    const char *why;
    memset(rec, 0, sizeof(*rec));
    memset(ak, 0, sizeof(*ak));
    int r = userdb_name_check(nu->name, &why);
    if (r < 0)
        return errmsg(err, errsz, r, "invalid user name: %s", why);
    snprintf(rec->name, sizeof(rec->name), "%s", nu->name);
    const char *shell = nu->shell ? nu->shell : db->default_shell;
    if (userdb_shell_check(shell) < 0)
        return errmsg(err, errsz, BURROW_ERR_INVALID, "invalid shell: expected an absolute path");
    snprintf(rec->shell, sizeof(rec->shell), "%s", shell);
    if (!nu->no_disk) {
        uint64_t want = nu->disk_size ? nu->disk_size : db->default_disk_size;
        if (homedisk_check_size(want, &rec->disk_size) < 0)
            return errmsg(err, errsz, BURROW_ERR_RANGE, "disk size must be 16M-16T");
    }
    if (nu->keys_text) {
        char why2[AUTHKEYS_ERR_MAX];
        r = authkeys_parse(nu->keys_text, nu->keys_len, AUTHKEYS_STRICT, ak, why2, sizeof(why2));
        if (r < 0)
            return errmsg(err, errsz, r, "authorized keys: %s", why2);
        for (size_t i = 0; i < ak->n; i++)
            for (size_t j = 0; j < i; j++)
                if (ssh_key_cmp(ak->keys[i].key, ak->keys[j].key, SSH_KEY_CMP_PUBLIC) == 0)
                    return errmsg(err, errsz, BURROW_ERR_EXISTS, "key %s is given twice",
                                  ak->keys[i].fingerprint);
    }
    if (nu->password) {
        r = userdb_password_hash(nu->password, nu->password_len, rec->password_hash);
        if (r == BURROW_ERR_INVALID)
            return errmsg(err, errsz, r, "password must be 1-%d bytes", USERDB_PASSWORD_MAX);
        if (r < 0)
            return errmsg(err, errsz, r, "cannot hash password: %s", burrow_strerror(r));
    }
    rec->created = (uint64_t)time(NULL);
    return 0;
}

/* Under the lock: name and uid free, uid in range. */
static int claim_identity(struct userdb *db, const struct userdb_new_user *nu,
                          struct user_record *rec, char *err, size_t errsz)
{
    if (user_exists(db, nu->name))
        return errmsg(err, errsz, BURROW_ERR_EXISTS, "user '%s' already exists", nu->name);
    if (nu->uid == 0) {
        int r = userdb_alloc_uid(db, &rec->uid);
        if (r < 0)
            return errmsg(err, errsz, r == BURROW_ERR_RANGE ? BURROW_ERR_AGAIN : r,
                          "no free uid in %u-%u", db->uid_min, db->uid_max);
    } else {
        if (nu->uid < db->uid_min || nu->uid > db->uid_max)
            return errmsg(err, errsz, BURROW_ERR_RANGE, "uid %u is outside %u-%u", nu->uid,
                          db->uid_min, db->uid_max);
        struct user_record *recs;
        size_t n;
        int r = userdb_list(db, &recs, &n);
        if (r < 0)
            return errmsg(err, errsz, r, "cannot list users: %s", burrow_strerror(r));
        for (size_t i = 0; i < n && r == 0; i++)
            if (recs[i].uid == nu->uid)
                r = errmsg(err, errsz, BURROW_ERR_EXISTS, "uid %u belongs to '%s'", nu->uid,
                           recs[i].name);
        free(recs);
        if (r < 0)
            return r;
        rec->uid = nu->uid;
    }
    rec->gid = rec->uid; /* one private group per user */
    return 0;
}

static int injected(int step, char *err, size_t errsz)
{
    if (fail_step == step)
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "injected failure at step %d", step);
    return 0;
}

/* Build the user's files inside tmpdir (a fresh .new- directory). */
static int build_user_dir(const char *tmpdir, const struct user_record *rec,
                          const struct authkeys *ak, char *err, size_t errsz)
{
    char p[PATHBUF];
    int r;
    if (join(p, sizeof(p), tmpdir, "user.ini") < 0)
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "path too long");
    if ((r = userdb_record_write(p, rec)) < 0)
        return sys_fail(err, errsz, "cannot write", p);
    if ((r = injected(2, err, errsz)) < 0)
        return r;
    char *text = NULL;
    size_t len = 0;
    if ((r = keys_text(ak, &text, &len)) < 0)
        return errmsg(err, errsz, r, "out of memory");
    if (join(p, sizeof(p), tmpdir, "authorized_keys") < 0)
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "path too long");
    r = fs_write_atomic(p, text, len, 0600);
    free(text);
    if (r < 0)
        return sys_fail(err, errsz, "cannot write", p);
    if ((r = injected(3, err, errsz)) < 0)
        return r;
    if (rec->disk_size) {
        if (join(p, sizeof(p), tmpdir, "home.img") < 0)
            return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "path too long");
        char why[HOMEDISK_ERR_MAX];
        if ((r = homedisk_create(p, rec->disk_size, rec->uid, rec->gid, why, sizeof(why))) < 0)
            return errmsg(err, errsz, r, "cannot create home disk: %s", why);
    }
    return injected(4, err, errsz);
}

int userdb_add(struct userdb *db, const struct userdb_new_user *nu, struct user_record *rec_out,
               char *err, size_t errsz)
{
    struct user_record rec;
    struct authkeys ak;
    int r = check_new_user(db, nu, &rec, &ak, err, errsz);
    int took = 0;
    if (r == 0)
        r = lock_for_op(db, &took, err, errsz);
    if (r < 0) {
        authkeys_free(&ak);
        sodium_memzero(&rec, sizeof(rec));
        return r;
    }
    remove_leftovers(db);
    char tmpdir[PATHBUF], final[PATHBUF];
    int made = 0;
    r = claim_identity(db, nu, &rec, err, errsz);
    if (r == 0) {
        snprintf(tmpdir, sizeof(tmpdir), "%s/.new-%s-XXXXXX", db->users_dir, rec.name);
        if (!mkdtemp(tmpdir))
            r = sys_fail(err, errsz, "cannot create", tmpdir);
        else
            made = 1;
    }
    if (r == 0)
        r = injected(1, err, errsz);
    if (r == 0)
        r = build_user_dir(tmpdir, &rec, &ak, err, errsz);
    if (r == 0 && (r = userdb_path(db, rec.name, "", final, sizeof(final))) == 0 &&
        renameat2(AT_FDCWD, tmpdir, AT_FDCWD, final, RENAME_NOREPLACE) < 0)
        r = sys_fail(err, errsz, "cannot create", final);
    if (r == 0 && fs_fsync_dir(db->users_dir) < 0)
        r = sys_fail(err, errsz, "cannot sync", db->users_dir);
    if (r < 0 && made && fs_remove_tree(tmpdir) < 0)
        log_warn("cannot remove %s: %s", tmpdir, strerror(errno));
    unlock_after_op(db, took);
    authkeys_free(&ak);
    if (r == 0 && rec_out)
        *rec_out = rec;
    sodium_memzero(&rec, sizeof(rec));
    return r;
}

/* Move home.img to state_dir/kept-homes/NAME-<time>.img. */
static int keep_home(struct userdb *db, const char *name, const char *img, char *kept,
                     size_t keptsz, char *err, size_t errsz)
{
    char dir[PATHBUF], dst[PATHBUF];
    snprintf(dir, sizeof(dir), "%s/kept-homes", db->state_dir);
    if (fs_ensure_dir(dir, 0700) < 0)
        return sys_fail(err, errsz, "cannot create", dir);
    int n = snprintf(dst, sizeof(dst), "%s/%s-%lld.img", dir, name, (long long)time(NULL));
    if (n < 0 || (size_t)n >= sizeof(dst))
        return errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "path too long");
    if (renameat2(AT_FDCWD, img, AT_FDCWD, dst, RENAME_NOREPLACE) < 0)
        return sys_fail(err, errsz, "cannot move home disk to", dst);
    if (fs_fsync_dir(dir) < 0)
        return sys_fail(err, errsz, "cannot sync", dir);
    if (kept)
        snprintf(kept, keptsz, "%s", dst);
    return 0;
}

/*
 * A hibernated VM reserves her home disk (vmm/hibernate.h): its running
 * filesystem must find the disk as it left it.
 */
static int hibernated_refusal(const char *name, const char *user_dir, char *err, size_t errsz)
{
    if (!hib_present(user_dir))
        return 0;
    return errmsg(err, errsz, BURROW_ERR_BUSY,
                  "'%s' has a hibernated VM that reserves her home disk; `burrowctl vm discard %s` "
                  "first (its processes are lost) or let her log in to resume it",
                  name, name);
}

int userdb_del(struct userdb *db, const char *name, int keep, char *kept_path, size_t keptsz,
               char *err, size_t errsz)
{
    const char *why;
    int r = userdb_name_check(name, &why);
    if (r < 0)
        return errmsg(err, errsz, r, "invalid user name: %s", why);
    if (kept_path && keptsz)
        kept_path[0] = '\0';
    int took;
    if ((r = lock_for_op(db, &took, err, errsz)) < 0)
        return r;
    remove_leftovers(db);
    char dir[PATHBUF], img[PATHBUF], gone[PATHBUF], kept[PATHBUF] = "";
    int img_fd = -1;
    if (!user_exists(db, name)) {
        r = errmsg(err, errsz, BURROW_ERR_NOT_FOUND, "no such user '%s'", name);
        goto out;
    }
    if ((r = userdb_path(db, name, "", dir, sizeof(dir))) < 0 ||
        (r = userdb_path(db, name, "home.img", img, sizeof(img))) < 0)
        goto out;
    if ((r = hibernated_refusal(name, dir, err, errsz)))
        goto out;
    /* hold the image lock across the rename so no VM can start using it */
    r = homedisk_open_locked(img, &img_fd);
    if (r == BURROW_ERR_BUSY) {
        r = errmsg(err, errsz, r, "home disk of '%s' is in use by a VM", name);
        goto out;
    }
    if (r < 0 && r != BURROW_ERR_NOT_FOUND) {
        r = sys_fail(err, errsz, "cannot open", img);
        goto out;
    }
    r = 0;
    if (keep && img_fd >= 0 && (r = keep_home(db, name, img, kept, sizeof(kept), err, errsz)) < 0)
        goto out;
    snprintf(gone, sizeof(gone), "%s/.del-%s-XXXXXX", db->users_dir, name);
    /* a directory may be renamed over an empty one: atomic removal from view */
    if (!mkdtemp(gone) || rename(dir, gone) < 0) {
        r = sys_fail(err, errsz, "cannot remove", dir);
        rmdir(gone);
        /* the user stays: put a kept image back where it was */
        if (kept[0] && rename(kept, img) < 0)
            log_warn("cannot move %s back to %s: %s", kept, img, strerror(errno));
        goto out;
    }
    if (kept_path && keptsz)
        snprintf(kept_path, keptsz, "%s", kept);
    if (fs_fsync_dir(db->users_dir) < 0)
        log_warn("cannot sync %s: %s", db->users_dir, strerror(errno));
    homedisk_unlock(img_fd);
    img_fd = -1;
    if (fs_remove_tree(gone) < 0)
        log_warn("cannot remove %s (removed at the next add/del): %s", gone, strerror(errno));
out:
    homedisk_unlock(img_fd);
    unlock_after_op(db, took);
    return r;
}

/* Read-modify-write of one record under the lock. */
typedef int (*rec_edit_fn)(struct user_record *rec, const void *arg, char *err, size_t errsz);

static int edit_record(struct userdb *db, const char *name, rec_edit_fn edit, const void *arg,
                       char *err, size_t errsz)
{
    int took, r;
    if ((r = lock_for_op(db, &took, err, errsz)) < 0)
        return r;
    struct user_record rec;
    r = userdb_get(db, name, &rec, err, errsz);
    if (r == 0)
        r = edit(&rec, arg, err, errsz);
    if (r == 0 && (r = userdb_put(db, &rec)) < 0)
        errmsg(err, errsz, r, "cannot write record of '%s': %s", name,
               r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
    sodium_memzero(&rec, sizeof(rec));
    unlock_after_op(db, took);
    return r;
}

struct pw_arg {
    const char *password;
    size_t len;
};

static int edit_password(struct user_record *rec, const void *arg, char *err, size_t errsz)
{
    const struct pw_arg *pw = arg;
    if (!pw->password) {
        rec->password_hash[0] = '\0';
        return 0;
    }
    int r = userdb_password_hash(pw->password, pw->len, rec->password_hash);
    if (r == BURROW_ERR_INVALID)
        return errmsg(err, errsz, r, "password must be 1-%d bytes", USERDB_PASSWORD_MAX);
    if (r < 0)
        return errmsg(err, errsz, r, "cannot hash password: %s", burrow_strerror(r));
    return 0;
}

int userdb_set_password(struct userdb *db, const char *name, const char *password, size_t len,
                        char *err, size_t errsz)
{
    struct pw_arg a = {password, len};
    if (password && (len == 0 || len > USERDB_PASSWORD_MAX)) /* before taking the lock */
        return errmsg(err, errsz, BURROW_ERR_INVALID, "password must be 1-%d bytes",
                      USERDB_PASSWORD_MAX);
    return edit_record(db, name, edit_password, &a, err, errsz);
}

static int edit_locked(struct user_record *rec, const void *arg, char *err, size_t errsz)
{
    (void)err;
    (void)errsz;
    rec->locked = *(const int *)arg;
    return 0;
}

int userdb_set_locked(struct userdb *db, const char *name, int locked, char *err, size_t errsz)
{
    locked = !!locked;
    return edit_record(db, name, edit_locked, &locked, err, errsz);
}

static int edit_totp(struct user_record *rec, const void *arg, char *err, size_t errsz)
{
    (void)err;
    (void)errsz;
    snprintf(rec->totp, sizeof(rec->totp), "%s", (const char *)arg);
    return 0;
}

int userdb_set_totp(struct userdb *db, const char *name, const char *secret, char *err,
                    size_t errsz)
{
    if (!totp_secret_valid(secret))
        return errmsg(err, errsz, BURROW_ERR_INVALID, "invalid TOTP secret");
    return edit_record(db, name, edit_totp, secret, err, errsz);
}

static int edit_shell(struct user_record *rec, const void *arg, char *err, size_t errsz)
{
    (void)err;
    (void)errsz;
    snprintf(rec->shell, sizeof(rec->shell), "%s", (const char *)arg);
    return 0;
}

int userdb_set_shell(struct userdb *db, const char *name, const char *shell, char *err,
                     size_t errsz)
{
    if (userdb_shell_check(shell) < 0)
        return errmsg(err, errsz, BURROW_ERR_INVALID, "invalid shell: expected an absolute path");
    return edit_record(db, name, edit_shell, shell, err, errsz);
}

/* --- authorized_keys --------------------------------------------------- */

static int load_user_keys(struct userdb *db, const char *name, struct authkeys *ak, char *path,
                          size_t pathsz, char *err, size_t errsz)
{
    struct user_record rec;
    int r = userdb_get(db, name, &rec, err, errsz);
    if (r < 0)
        return r;
    if ((r = userdb_path(db, name, "authorized_keys", path, pathsz)) < 0)
        return r;
    char why[AUTHKEYS_ERR_MAX];
    r = authkeys_load(path, 0, ak, why, sizeof(why));
    if (r < 0)
        return errmsg(err, errsz, r, "%s", why);
    return 0;
}

static int save_user_keys(const char *path, const struct authkeys *ak, char *err, size_t errsz)
{
    char *text;
    size_t len;
    int r = keys_text(ak, &text, &len);
    if (r < 0)
        return errmsg(err, errsz, r, "out of memory");
    r = fs_write_atomic(path, text, len, 0600);
    free(text);
    if (r < 0)
        return sys_fail(err, errsz, "cannot write", path);
    return 0;
}

int userdb_keys_add(struct userdb *db, const char *name, const char *text, size_t len, char *err,
                    size_t errsz)
{
    struct authkeys add, cur = {0};
    char why[AUTHKEYS_ERR_MAX], path[PATHBUF];
    int r = authkeys_parse(text, len, AUTHKEYS_STRICT, &add, why, sizeof(why));
    if (r < 0)
        return errmsg(err, errsz, r, "authorized keys: %s", why);
    if (add.n == 0) {
        authkeys_free(&add);
        return errmsg(err, errsz, BURROW_ERR_INVALID, "no key given");
    }
    int took;
    if ((r = lock_for_op(db, &took, err, errsz)) < 0) {
        authkeys_free(&add);
        return r;
    }
    r = load_user_keys(db, name, &cur, path, sizeof(path), err, errsz);
    if (r == 0 && cur.n + add.n > AUTHKEYS_KEYS_MAX)
        r = errmsg(err, errsz, BURROW_ERR_TOO_LARGE, "at most %d keys per user", AUTHKEYS_KEYS_MAX);
    for (size_t i = 0; r == 0 && i < add.n; i++) {
        if (authkeys_find(&cur, add.keys[i].key) >= 0)
            r = errmsg(err, errsz, BURROW_ERR_EXISTS, "key %s is already authorized",
                       add.keys[i].fingerprint);
        for (size_t j = 0; r == 0 && j < i; j++)
            if (ssh_key_cmp(add.keys[i].key, add.keys[j].key, SSH_KEY_CMP_PUBLIC) == 0)
                r = errmsg(err, errsz, BURROW_ERR_EXISTS, "key %s is given twice",
                           add.keys[i].fingerprint);
    }
    if (r == 0) {
        /* the merged list: move add's entries after cur's */
        struct authkey *all = realloc(cur.keys, (cur.n + add.n) * sizeof(*all));
        if (!all) {
            r = errmsg(err, errsz, BURROW_ERR_NOMEM, "out of memory");
        } else {
            cur.keys = all;
            memcpy(all + cur.n, add.keys, add.n * sizeof(*all));
            cur.n += add.n;
            free(add.keys);
            add.keys = NULL;
            add.n = 0;
            r = save_user_keys(path, &cur, err, errsz);
        }
    }
    authkeys_free(&cur);
    authkeys_free(&add);
    unlock_after_op(db, took);
    return r;
}

/* which: a 1-based index as `key list` shows it, or a "SHA256:" fingerprint. */
static long find_which(const struct authkeys *ak, const char *which)
{
    if (strncmp(which, "SHA256:", 7) == 0) {
        for (size_t i = 0; i < ak->n; i++)
            if (strcmp(ak->keys[i].fingerprint, which) == 0)
                return (long)i;
        return -1;
    }
    uint64_t idx;
    if (config_parse_u64(which, 1, ak->n ? ak->n : 1, &idx) < 0 || idx > ak->n)
        return -1;
    return (long)idx - 1;
}

int userdb_keys_rm(struct userdb *db, const char *name, const char *which, char *err, size_t errsz)
{
    struct authkeys cur = {0};
    char path[PATHBUF];
    int took, r;
    if ((r = lock_for_op(db, &took, err, errsz)) < 0)
        return r;
    r = load_user_keys(db, name, &cur, path, sizeof(path), err, errsz);
    long i = r == 0 ? find_which(&cur, which) : -1;
    if (r == 0 && i < 0) {
        char shown[80];
        log_escape(shown, sizeof(shown), which);
        r = errmsg(err, errsz, BURROW_ERR_NOT_FOUND,
                   "user '%s' has no key '%s' (give an index or SHA256: fingerprint)", name, shown);
    }
    if (r == 0) {
        struct authkey gone = cur.keys[i];
        memmove(&cur.keys[i], &cur.keys[i + 1], (cur.n - (size_t)i - 1) * sizeof(gone));
        cur.keys[cur.n - 1] = gone; /* freed with the rest */
        cur.n--;
        r = save_user_keys(path, &cur, err, errsz);
        cur.n++;
    }
    authkeys_free(&cur);
    unlock_after_op(db, took);
    return r;
}

int userdb_disk_resize(struct userdb *db, const char *name, uint64_t size, char *err, size_t errsz)
{
    int took, r;
    uint64_t rounded;
    if (homedisk_check_size(size, &rounded) < 0)
        return errmsg(err, errsz, BURROW_ERR_RANGE, "disk size must be 16M-16T");
    if ((r = lock_for_op(db, &took, err, errsz)) < 0)
        return r;
    struct user_record rec;
    char img[PATHBUF], dir[PATHBUF], why[HOMEDISK_ERR_MAX];
    r = userdb_get(db, name, &rec, err, errsz);
    if (r == 0)
        r = userdb_path(db, name, "home.img", img, sizeof(img));
    if (r == 0 && (r = userdb_path(db, name, "", dir, sizeof(dir))) == 0)
        r = hibernated_refusal(name, dir, err, errsz);
    if (r == 0 &&
        (r = homedisk_resize(img, rounded, db->seccomp_log ? SC_MODE_LOG : SC_MODE_ENFORCE, why,
                             sizeof(why))) < 0)
        errmsg(err, errsz, r, "%s", why);
    if (r == 0) {
        rec.disk_size = rounded;
        if ((r = userdb_put(db, &rec)) < 0)
            sys_fail(err, errsz, "disk resized, but cannot update record", name);
    }
    unlock_after_op(db, took);
    return r;
}
