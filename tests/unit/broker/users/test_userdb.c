/* tests/unit/broker/users/test_userdb.c - the user database: names, uid
 * allocation, passwords, add/del round trip with a real ext4 home image,
 * failures injected mid-way, bad input changing nothing, hostile records,
 * and concurrent writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/users/authkeys.h"
#include "broker/users/homedisk.h"
#include "broker/users/userdb.h"
#include "common/err.h"
#include "tests/lib/testutil.h"
#include "tests/unit/broker/users/e2fs_check.h"
#include "tests/unit/broker/users/testkeys.h"

struct fixture {
    char *dir;
    struct burrow_config cfg;
    struct userdb db;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("userdb");
    config_defaults(&f->cfg);
    snprintf(f->cfg.paths.state_dir, sizeof(f->cfg.paths.state_dir), "%s/state", f->dir);
    f->cfg.users.uid_min = 20000;
    f->cfg.users.uid_max = 20009;
    f->cfg.users.default_disk_size = 32ull << 20;
    /* cheap argon2id for tests; one test checks the production cost */
    userdb_test_set_pwhash_cost(1, 8192);
    userdb_test_fail_add_step(0);
    assert_int_equal(userdb_open(&f->db, &f->cfg, USERDB_CREATE), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    userdb_close(&f->db);
    userdb_test_fail_add_step(0);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int add_simple(struct fixture *f, const char *name, uint32_t uid)
{
    struct userdb_new_user nu = {.name = name, .uid = uid, .no_disk = 1};
    char err[USERDB_ERR_MAX];
    return userdb_add(&f->db, &nu, NULL, err, sizeof(err));
}

/* Everything under dir as "path size mode mtime content-of-small-files" lines. */
static void snapshot_rec(const char *dir, const char *rel, FILE *out)
{
    char path[2048];
    snprintf(path, sizeof(path), "%s%s", dir, rel);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    char *names[256];
    int n = 0;
    while ((de = readdir(d)) != NULL && n < 256)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            names[n++] = strdup(de->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
    for (int i = 0; i < n; i++) {
        char sub[1024], full[3072];
        struct stat st;
        snprintf(sub, sizeof(sub), "%s/%s", rel, names[i]);
        snprintf(full, sizeof(full), "%s%s", dir, sub);
        lstat(full, &st);
        fprintf(out, "%s %lld %o %lld.%09ld\n", sub, (long long)st.st_size, st.st_mode,
                (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        if (S_ISDIR(st.st_mode)) {
            snapshot_rec(dir, sub, out);
        } else if (st.st_size < 65536) {
            char *text = tu_read_file(full, NULL);
            fprintf(out, "%s\n", text ? text : "");
            free(text);
        }
        free(names[i]);
    }
}

static char *snapshot(const char *dir)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    snapshot_rec(dir, "", out);
    fclose(out);
    return buf;
}

static void test_names(void **state)
{
    (void)state;
    static const char *const good[] = {"alice", "_svc",   "a",
                                       "bob-2", "x_y-z9", "abcdefghijklmnopqrstuvwxyz012345"};
    static const char *const bad[] = {
        "",    "Alice", "9lives", "-dash", ".hidden", "a/b",
        "a b", "é",     "a.b",    "a$",    "../x",    "abcdefghijklmnopqrstuvwxyz0123456"};
    static const char *const reserved[] = {"root", "daemon", "bin", "sys", "nobody", "burrow"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (userdb_name_check(good[i], NULL) != 0)
            fail_msg("'%s' refused", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (userdb_name_check(bad[i], NULL) != BURROW_ERR_INVALID)
            fail_msg("'%s' accepted", bad[i]);
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        assert_int_equal(userdb_name_check(reserved[i], NULL), BURROW_ERR_PERM);
    assert_int_equal(userdb_shell_check("/bin/bash"), 0);
    assert_int_equal(userdb_shell_check("bin/bash"), BURROW_ERR_INVALID);
    assert_int_equal(userdb_shell_check("/bin/sh -c x"), BURROW_ERR_INVALID);
    assert_int_equal(userdb_shell_check("/bin/../sh"), BURROW_ERR_INVALID);
    assert_int_equal(userdb_shell_check("/bin/\"sh"), BURROW_ERR_INVALID);
}

static void test_uid_allocation(void **state)
{
    struct fixture *f = *state;
    uint32_t uid;
    assert_int_equal(userdb_alloc_uid(&f->db, &uid), 0);
    assert_int_equal(uid, 20000);
    assert_int_equal(add_simple(f, "a", 0), 0);
    assert_int_equal(add_simple(f, "c", 20002), 0);
    assert_int_equal(userdb_alloc_uid(&f->db, &uid), 0);
    assert_int_equal(uid, 20001); /* the lowest gap */
    assert_int_equal(add_simple(f, "b", 0), 0);
    assert_int_equal(userdb_alloc_uid(&f->db, &uid), 0);
    assert_int_equal(uid, 20003);
    struct user_record rec;
    assert_int_equal(userdb_get(&f->db, "b", &rec, NULL, 0), 0);
    assert_int_equal(rec.uid, 20001);
    assert_int_equal(rec.gid, 20001);
    /* explicit uids: in range and unique */
    assert_int_equal(add_simple(f, "d", 20002), BURROW_ERR_EXISTS);
    assert_int_equal(add_simple(f, "d", 19999), BURROW_ERR_RANGE);
    assert_int_equal(add_simple(f, "d", 20010), BURROW_ERR_RANGE);
    /* fill the range */
    const char *more[] = {"e", "f", "g", "h", "i", "j", "k"};
    for (size_t i = 0; i < 7; i++)
        assert_int_equal(add_simple(f, more[i], 0), 0);
    assert_int_equal(userdb_alloc_uid(&f->db, &uid), BURROW_ERR_RANGE);
    assert_int_equal(add_simple(f, "l", 0), BURROW_ERR_AGAIN);
}

static void test_passwords(void **state)
{
    (void)state;
    struct user_record rec = {0};
    assert_int_equal(userdb_password_hash("hunter2", 7, rec.password_hash), 0);
    assert_true(strncmp(rec.password_hash, "$argon2id$", 10) == 0);
    assert_null(strstr(rec.password_hash, "hunter2"));
    assert_int_equal(userdb_password_verify(&rec, "hunter2", 7), 0);
    assert_int_equal(userdb_password_verify(&rec, "hunter3", 7), BURROW_ERR_PERM);
    assert_int_equal(userdb_password_verify(&rec, "hunter2x", 8), BURROW_ERR_PERM);
    assert_int_equal(userdb_password_verify(&rec, "", 0), BURROW_ERR_PERM);
    /* binary-safe: the length counts, not a NUL */
    assert_int_equal(userdb_password_verify(&rec, "hunter2\0junk", 12), BURROW_ERR_PERM);
    char other[USERDB_HASH_MAX];
    assert_int_equal(userdb_password_hash("hunter2", 7, other), 0);
    assert_string_not_equal(other, rec.password_hash); /* salted */
    struct user_record none = {0};
    assert_int_equal(userdb_password_verify(&none, "x", 1), BURROW_ERR_PERM);
    assert_int_equal(userdb_password_hash("", 0, other), BURROW_ERR_INVALID);
    /* production cost: argon2id, 64 MiB, 3 passes (docs/users.md) */
    userdb_test_set_pwhash_cost(0, 0);
    assert_int_equal(userdb_password_hash("pw", 2, other), 0);
    assert_non_null(strstr(other, "$m=65536,t=3,"));
    snprintf(rec.password_hash, sizeof(rec.password_hash), "%s", other);
    assert_int_equal(userdb_password_verify(&rec, "pw", 2), 0);
}

static void test_add_del_roundtrip(void **state)
{
    struct fixture *f = *state;
    const char *keys = TK_ED1 " alice@laptop\n";
    struct userdb_new_user nu = {.name = "alice",
                                 .shell = "/bin/bash",
                                 .keys_text = keys,
                                 .keys_len = strlen(keys),
                                 .password = "s3cret",
                                 .password_len = 6,
                                 .disk_size = 48ull << 20};
    struct user_record rec;
    char err[USERDB_ERR_MAX] = "";
    if (userdb_add(&f->db, &nu, &rec, err, sizeof(err)) < 0)
        fail_msg("add: %s", err);
    assert_int_equal(rec.uid, 20000);

    char users[600], path[700];
    snprintf(users, sizeof(users), "%s/state/users", f->dir);
    struct stat st;
    assert_int_equal(stat(users, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/alice/user.ini", users);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char *ini = tu_read_file(path, NULL);
    assert_null(strstr(ini, "s3cret")); /* never in clear */
    free(ini);

    /* the record reads back */
    struct user_record got;
    assert_int_equal(userdb_get(&f->db, "alice", &got, err, sizeof(err)), 0);
    assert_string_equal(got.name, "alice");
    assert_string_equal(got.shell, "/bin/bash");
    assert_int_equal(got.uid, 20000);
    assert_true(got.disk_size == 48ull << 20);
    assert_int_equal(userdb_password_verify(&got, "s3cret", 6), 0);

    /* authorized_keys holds the validated key */
    snprintf(path, sizeof(path), "%s/alice/authorized_keys", users);
    struct authkeys ak;
    assert_int_equal(authkeys_load(path, AUTHKEYS_STRICT, &ak, err, sizeof(err)), 0);
    assert_int_equal(ak.n, 1);
    assert_string_equal(ak.keys[0].comment, "alice@laptop");
    authkeys_free(&ak);

    /* a real ext4 image of the right size owned by the user (e2fsprogs say so) */
    snprintf(path, sizeof(path), "%s/alice/home.img", users);
    unsigned uid, gid;
    assert_int_equal(e2_owner(path, "/", &uid, &gid), 0);
    assert_int_equal(uid, 20000);
    assert_int_equal(gid, 20000);
    assert_true(e2_fs_bytes(path) == 48ull << 20);
    assert_true(e2_clean(path));

    struct user_record *list;
    size_t n;
    assert_int_equal(userdb_list(&f->db, &list, &n), 0);
    assert_int_equal(n, 1);
    free(list);

    /* delete refuses while a VM holds the image */
    int fd;
    assert_int_equal(homedisk_open_locked(path, &fd), 0);
    assert_int_equal(userdb_del(&f->db, "alice", 0, NULL, 0, err, sizeof(err)), BURROW_ERR_BUSY);
    assert_int_equal(userdb_get(&f->db, "alice", &got, NULL, 0), 0);
    homedisk_unlock(fd);

    /* resize through the database updates the record */
    if (userdb_disk_resize(&f->db, "alice", 64ull << 20, err, sizeof(err)) < 0)
        fail_msg("resize: %s", err);
    assert_int_equal(userdb_get(&f->db, "alice", &got, NULL, 0), 0);
    assert_true(got.disk_size == 64ull << 20);
    assert_true(e2_fs_bytes(path) == 64ull << 20);

    assert_int_equal(userdb_del(&f->db, "alice", 0, NULL, 0, err, sizeof(err)), 0);
    assert_int_equal(userdb_get(&f->db, "alice", &got, NULL, 0), BURROW_ERR_NOT_FOUND);
    snprintf(path, sizeof(path), "%s/alice", users);
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(userdb_del(&f->db, "alice", 0, NULL, 0, err, sizeof(err)),
                     BURROW_ERR_NOT_FOUND);

    /* --keep-home moves the image aside; the uid is free again */
    assert_int_equal(userdb_add(&f->db, &nu, &rec, err, sizeof(err)), 0);
    assert_int_equal(rec.uid, 20000);
    char kept[1024];
    assert_int_equal(userdb_del(&f->db, "alice", 1, kept, sizeof(kept), err, sizeof(err)), 0);
    assert_non_null(strstr(kept, "/state/kept-homes/alice-"));
    assert_int_equal(e2_owner(kept, "/", &uid, &gid), 0);
    assert_int_equal(uid, 20000);
    /* nothing but the lock file remains in users/ */
    char *snap = snapshot(users);
    assert_non_null(strstr(snap, "/.lock "));
    assert_null(strstr(snap, "alice"));
    free(snap);
}

/* Each add step fails in turn: nothing is left behind, no uid is used. */
static void test_add_failure_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    char users[600], err[USERDB_ERR_MAX];
    snprintf(users, sizeof(users), "%s/state/users", f->dir);
    assert_int_equal(add_simple(f, "keep", 0), 0);
    char *before = snapshot(users);
    const char *keys = TK_ED1 "\n";
    for (int step = 1; step <= 4; step++) {
        userdb_test_fail_add_step(step);
        struct userdb_new_user nu = {.name = "bob",
                                     .keys_text = keys,
                                     .keys_len = strlen(keys),
                                     .password = "pw",
                                     .password_len = 2};
        int r = userdb_add(&f->db, &nu, NULL, err, sizeof(err));
        assert_int_equal(r, BURROW_ERR_SYSTEM);
        assert_non_null(strstr(err, "injected failure"));
        char *after = snapshot(users);
        if (strcmp(before, after) != 0)
            fail_msg("step %d left:\n%s\nwas:\n%s", step, after, before);
        free(after);
    }
    free(before);
    userdb_test_fail_add_step(0);
    uint32_t uid;
    assert_int_equal(userdb_alloc_uid(&f->db, &uid), 0);
    assert_int_equal(uid, 20001);
    /* a failing mke2fs inside add: also nothing left */
    char tools[600];
    snprintf(tools, sizeof(tools), "%s/no-tools", f->dir);
    assert_int_equal(mkdir(tools, 0755), 0);
    before = snapshot(users);
    homedisk_test_set_tool_dir(tools);
    struct userdb_new_user nu = {.name = "carol"};
    assert_int_equal(userdb_add(&f->db, &nu, NULL, err, sizeof(err)), BURROW_ERR_NOT_FOUND);
    homedisk_test_set_tool_dir(NULL);
    assert_non_null(strstr(err, "home disk"));
    char *after = snapshot(users);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* a crashed run's leftovers are cleaned by the next add */
    char stale[700];
    snprintf(stale, sizeof(stale), "%s/.new-zed-abcdef", users);
    assert_int_equal(mkdir(stale, 0700), 0);
    assert_int_equal(add_simple(f, "dave", 0), 0);
    struct stat st;
    assert_int_equal(lstat(stale, &st), -1);
}

/* Bad input of every kind: a clear error and not one byte changed. */
static void test_bad_input_changes_nothing(void **state)
{
    struct fixture *f = *state;
    char users[600], err[USERDB_ERR_MAX];
    snprintf(users, sizeof(users), "%s/state/users", f->dir);
    const char *k = TK_ED1 " one\n";
    struct userdb_new_user ok = {.name = "alice", .keys_text = k, .keys_len = strlen(k)};
    assert_int_equal(userdb_add(&f->db, &ok, NULL, err, sizeof(err)), 0);
    char *before = snapshot(users);

    struct userdb_new_user bad[] = {
        {.name = "Bad", .no_disk = 1},
        {.name = "root", .no_disk = 1},
        {.name = "alice", .no_disk = 1},
        {.name = "bob", .shell = "sh", .no_disk = 1},
        {.name = "bob", .keys_text = "ssh-ed25519 AAAA\n", .keys_len = 17, .no_disk = 1},
        {.name = "bob", .disk_size = 1024},
        {.name = "bob", .disk_size = 1ull << 50},
        {.name = "bob", .uid = 5, .no_disk = 1},
        {.name = "bob", .password = "", .password_len = 0, .no_disk = 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (userdb_add(&f->db, &bad[i], NULL, err, sizeof(err)) == 0)
            fail_msg("bad add %zu accepted", i);
        assert_true(err[0] != '\0' && !strchr(err, '\n'));
    }
    const char *dup = TK_ED1 " again\n";
    assert_int_equal(userdb_keys_add(&f->db, "alice", dup, strlen(dup), err, sizeof(err)),
                     BURROW_ERR_EXISTS);
    assert_int_equal(userdb_keys_add(&f->db, "alice", "junk", 4, err, sizeof(err)),
                     BURROW_ERR_FORMAT);
    assert_int_equal(userdb_keys_add(&f->db, "alice", "", 0, err, sizeof(err)), BURROW_ERR_INVALID);
    assert_int_equal(userdb_keys_add(&f->db, "nobody2", TK_ED2, strlen(TK_ED2), err, sizeof(err)),
                     BURROW_ERR_NOT_FOUND);
    assert_int_equal(userdb_keys_rm(&f->db, "alice", "2", err, sizeof(err)), BURROW_ERR_NOT_FOUND);
    assert_int_equal(userdb_keys_rm(&f->db, "alice", "SHA256:nope", err, sizeof(err)),
                     BURROW_ERR_NOT_FOUND);
    assert_int_equal(userdb_keys_rm(&f->db, "alice", "0", err, sizeof(err)), BURROW_ERR_NOT_FOUND);
    assert_int_equal(userdb_set_shell(&f->db, "alice", "relative", err, sizeof(err)),
                     BURROW_ERR_INVALID);
    assert_int_equal(userdb_set_password(&f->db, "alice", "", 0, err, sizeof(err)),
                     BURROW_ERR_INVALID);
    assert_int_equal(userdb_set_locked(&f->db, "ghost", 1, err, sizeof(err)), BURROW_ERR_NOT_FOUND);
    assert_int_equal(userdb_disk_resize(&f->db, "alice", 16ull << 20, err, sizeof(err)),
                     BURROW_ERR_RANGE);
    assert_int_equal(userdb_disk_resize(&f->db, "alice", 1, err, sizeof(err)), BURROW_ERR_RANGE);
    assert_int_equal(userdb_del(&f->db, "../alice", 0, NULL, 0, err, sizeof(err)),
                     BURROW_ERR_INVALID);
    assert_int_equal(userdb_del(&f->db, "ghost", 0, NULL, 0, err, sizeof(err)),
                     BURROW_ERR_NOT_FOUND);
    char *after = snapshot(users);
    assert_string_equal(before, after);
    free(before);
    free(after);

    /* and the good edits do change things */
    assert_int_equal(userdb_keys_add(&f->db, "alice", TK_ED2, strlen(TK_ED2), err, sizeof(err)), 0);
    assert_int_equal(userdb_keys_rm(&f->db, "alice", "1", err, sizeof(err)), 0);
    assert_int_equal(userdb_set_locked(&f->db, "alice", 1, err, sizeof(err)), 0);
    assert_int_equal(userdb_set_shell(&f->db, "alice", "/bin/zsh", err, sizeof(err)), 0);
    struct user_record rec;
    assert_int_equal(userdb_get(&f->db, "alice", &rec, NULL, 0), 0);
    assert_int_equal(rec.locked, 1);
    assert_string_equal(rec.shell, "/bin/zsh");
    char path[700];
    snprintf(path, sizeof(path), "%s/alice/authorized_keys", users);
    char *text = tu_read_file(path, NULL);
    assert_string_equal(text, TK_ED2 "\n");
    free(text);
}

/* user.ini is hostile input: bad records are refused, not half-trusted. */
static void test_hostile_records(void **state)
{
    struct fixture *f = *state;
    char dir[600], path[700], err[USERDB_ERR_MAX];
    assert_int_equal(add_simple(f, "eve", 0), 0);
    snprintf(dir, sizeof(dir), "%s/state/users/eve", f->dir);
    snprintf(path, sizeof(path), "%s/user.ini", dir);
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"[user]\nname = eve\nuid = 0\ngid = 0\nshell = /bin/sh\n", "[user] uid"},
        /* Past 2^28 a uid would share a session uid with another (0x50000000 + uid). */
        {"[user]\nname = eve\nuid = 268436456\ngid = 20000\nshell = /bin/sh\n", "[user] uid"},
        {"[user]\nname = mallory\nuid = 20000\ngid = 20000\nshell = /bin/sh\n", "mismatch"},
        {"[user]\nname = eve\nuid = 20000\ngid = 20000\nshell = /bin/sh\nadmin = yes\n",
         "unknown key 'admin'"},
        {"[user]\nname = eve\nuid = 20000\ngid = 20000\nshell = sh\n", "[user] shell"},
        {"[user]\nname = eve\nuid = 20000\ngid = 20000\n", "incomplete"},
        {"[user]\nname = eve\nuid = 20000\ngid = 20000\nshell = /bin/sh\npassword = plain\n",
         "[user] password"},
        {"[root]\nname = eve\n", "unknown section"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tu_write_file(path, cases[i].text);
        struct user_record rec;
        int r = userdb_get(&f->db, "eve", &rec, err, sizeof(err));
        if (r == 0 || !strstr(err, cases[i].expect))
            fail_msg("case %zu: r=%d err='%s' want '%s'", i, r, err, cases[i].expect);
        struct user_record *list;
        size_t n;
        assert_int_equal(userdb_list(&f->db, &list, &n), 0);
        assert_int_equal(n, 0); /* skipped, with a warning */
        free(list);
    }
    /* a symlinked record is not followed, even to a valid record */
    char elsewhere[700];
    snprintf(elsewhere, sizeof(elsewhere), "%s/valid.ini", f->dir);
    tu_write_file(elsewhere, "[user]\nname = eve\nuid = 20000\ngid = 20000\nshell = /bin/sh\n");
    tu_write_file(path, "[user]\nname = eve\nuid = 20000\ngid = 20000\nshell = /bin/sh\n");
    struct user_record rec;
    assert_int_equal(userdb_get(&f->db, "eve", &rec, err, sizeof(err)), 0);
    unlink(path);
    assert_int_equal(symlink(elsewhere, path), 0);
    assert_int_equal(userdb_get(&f->db, "eve", &rec, err, sizeof(err)), BURROW_ERR_SYSTEM);
    assert_non_null(strstr(err, "cannot read"));
}

/* Concurrent writers (separate processes) serialize on the lock: every
 * add succeeds with a distinct uid. */
static void test_concurrent_adds(void **state)
{
    struct fixture *f = *state;
    enum { N = 6 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            struct userdb db;
            char name[16];
            snprintf(name, sizeof(name), "user%d", i);
            if (userdb_open(&db, &f->cfg, USERDB_CREATE) < 0)
                _exit(2);
            _exit(add_simple(&(struct fixture){.db = db}, name, 0) == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    struct user_record *list;
    size_t n;
    assert_int_equal(userdb_list(&f->db, &list, &n), 0);
    assert_int_equal(n, N);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_int_not_equal(list[i].uid, list[j].uid);
    free(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_uid_allocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passwords, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_del_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_failure_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_adds, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/users/userdb", tests, NULL, NULL);
}
