/*
 * broker/cluster/cusers.c - the user database in a cluster (docs/cluster.md).
 *
 * etcd holds it: PREFIX/users/NAME/user.ini and .../authorized_keys (the
 * same text as the files of docs/users.md), PREFIX/users/NAME/claim and
 * PREFIX/uids/UID while and after `user add` claims a name and a uid. Every
 * host mirrors it into state_dir/users/ (cusers_mirror, run by the cluster
 * process once a second), so everything that reads users (the session
 * monitor above all) is unchanged, and keeps working from the mirror while
 * etcd is unreachable.
 *
 * burrowctl's user commands run as on one host, between two steps here:
 * first the mirror is brought up to date (so uids are allocated against the
 * whole cluster), then the command runs on the local files, then what it
 * changed is written to etcd: a new user by a transaction that wins only if
 * neither the name nor the uid exists yet (the loser is rolled back
 * locally), her home image copied onto the NBD export named after her
 * before her record appears, changed files by a put, a deleted user's keys
 * deleted (refused while she owns a VM).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/cli.h"
#include "broker/cluster/clusterd.h"
#include "broker/cluster/cluster.h"
#include "broker/cluster/cnbd.h"
#include "broker/fsutil.h"
#include "broker/users/userdb.h"
#include "common/atomicfile.h"
#include "common/err.h"
#include "common/log.h"

#define KEYS_MAX (256u << 10)

struct uent {
    char name[USERDB_NAME_MAX + 1];
    char *ini, *keys;
    size_t ini_len, keys_len;
};

struct usnap {
    struct uent *v;
    size_t n;
};

static void snap_free(struct usnap *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].ini);
        free(s->v[i].keys);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static struct uent *snap_find(const struct usnap *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i].name, name) == 0)
            return &s->v[i];
    return NULL;
}

static struct uent *snap_add(struct usnap *s, const char *name)
{
    struct uent *e = snap_find(s, name);
    if (e)
        return e;
    if (s->n >= USERDB_USERS_MAX)
        return NULL;
    struct uent *v = realloc(s->v, (s->n + 1) * sizeof(*v));
    if (!v)
        return NULL;
    s->v = v;
    e = &v[s->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    return e;
}

/* Every user directory of state_dir/users with its two files. */
static int snap_local(const struct userdb *db, struct usnap *s)
{
    DIR *d = opendir(db->users_dir);
    struct dirent *de;
    memset(s, 0, sizeof(*s));
    if (!d)
        return errno == ENOENT ? 0 : BURROW_ERR_SYSTEM;
    while ((de = readdir(d))) {
        char p[CONFIG_PATH_MAX * 2];
        struct uent *e;
        if (de->d_name[0] == '.' || userdb_name_check(de->d_name, NULL) != 0 ||
            userdb_path(db, de->d_name, "user.ini", p, sizeof(p)) != 0 ||
            !(e = snap_add(s, de->d_name)))
            continue;
        if (fs_read_file(p, USERDB_RECORD_MAX, &e->ini, &e->ini_len) != 0) {
            e->ini = NULL;
            continue;
        }
        if (userdb_path(db, de->d_name, "authorized_keys", p, sizeof(p)) == 0 &&
            fs_read_file(p, KEYS_MAX, &e->keys, &e->keys_len) != 0)
            e->keys = NULL;
    }
    closedir(d);
    return 0;
}

static int same(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (al == 0 || (a && b && memcmp(a, b, al) == 0));
}

/* --- etcd -> local -------------------------------------------------------- */

static void key_of(const struct burrow_config *cfg, char *out, size_t outsz, const char *name,
                   const char *leaf)
{
    snprintf(out, outsz, "%susers/%s/%s", cfg->cluster.prefix, name, leaf);
}

/* The records in etcd, by name: only complete ones (user.ini present). */
static int snap_etcd(const struct burrow_config *cfg, struct etcd *e, struct usnap *s, int64_t *rev)
{
    char prefix[ETCD_KEY_MAX];
    struct etcd_kvs kvs;
    snprintf(prefix, sizeof(prefix), "%susers/", cfg->cluster.prefix);
    size_t pl = strlen(prefix);
    memset(s, 0, sizeof(*s));
    int r = etcd_get_prefix(e, prefix, &kvs);
    if (r)
        return r;
    *rev = kvs.revision;
    for (size_t i = 0; i < kvs.n; i++) {
        char name[USERDB_NAME_MAX + 1];
        const char *rest = kvs.v[i].key + pl, *slash = strchr(rest, '/');
        size_t nl = slash ? (size_t)(slash - rest) : 0;
        if (!slash || nl == 0 || nl > USERDB_NAME_MAX)
            continue;
        memcpy(name, rest, nl);
        name[nl] = 0;
        int ini = strcmp(slash + 1, "user.ini") == 0,
            keys = strcmp(slash + 1, "authorized_keys") == 0;
        if (userdb_name_check(name, NULL) != 0 || (!ini && !keys) ||
            kvs.v[i].value_len > (ini ? USERDB_RECORD_MAX : KEYS_MAX))
            continue;
        struct uent *u = snap_add(s, name);
        if (!u)
            break;
        char **dst = ini ? &u->ini : &u->keys;
        free(*dst);
        *dst = kvs.v[i].value;
        (ini ? &u->ini_len : &u->keys_len)[0] = kvs.v[i].value_len;
        kvs.v[i].value = NULL;
    }
    etcd_kvs_free(&kvs);
    return 0;
}

static int write_user(const struct userdb *db, const struct uent *u, const struct uent *old)
{
    char dir[CONFIG_PATH_MAX * 2], p[CONFIG_PATH_MAX * 2];
    int r = userdb_path(db, u->name, "", dir, sizeof(dir));
    if (r == 0)
        r = fs_ensure_dir(dir, 0700);
    if (r == 0 && (!old || !same(old->ini, old->ini_len, u->ini, u->ini_len)) &&
        (r = userdb_path(db, u->name, "user.ini", p, sizeof(p))) == 0)
        r = fs_write_atomic(p, u->ini, u->ini_len, 0600);
    if (r == 0 && (!old || !same(old->keys, old->keys_len, u->keys, u->keys_len)) &&
        (r = userdb_path(db, u->name, "authorized_keys", p, sizeof(p))) == 0)
        r = fs_write_atomic(p, u->keys ? u->keys : "", u->keys_len, 0600);
    return r;
}

int cusers_mirror(const struct burrow_config *cfg, struct etcd *e, int64_t *rev)
{
    struct usnap want, have;
    struct userdb db;
    int64_t now_rev = 0;
    int r = snap_etcd(cfg, e, &want, &now_rev);
    if (r)
        return r;
    if (now_rev == *rev) {
        snap_free(&want);
        return 0;
    }
    if ((r = userdb_open(&db, cfg, USERDB_CREATE)) != 0) {
        snap_free(&want);
        return r;
    }
    if ((r = userdb_lock(&db)) == 0 && (r = snap_local(&db, &have)) == 0) {
        for (size_t i = 0; i < want.n; i++) {
            const struct uent *u = &want.v[i], *old = snap_find(&have, u->name);
            if (u->ini && write_user(&db, u, old) != 0)
                log_warn("cluster: cannot mirror user %s", u->name);
        }
        for (size_t i = 0; i < have.n; i++) {
            const struct uent *w = snap_find(&want, have.v[i].name);
            char dir[CONFIG_PATH_MAX * 2];
            if ((!w || !w->ini) && userdb_path(&db, have.v[i].name, "", dir, sizeof(dir)) == 0 &&
                fs_remove_tree(dir) != 0)
                log_warn("cluster: cannot remove user %s, gone from etcd", have.v[i].name);
        }
        snap_free(&have);
        userdb_unlock(&db);
        *rev = now_rev;
    }
    userdb_close(&db);
    snap_free(&want);
    return r;
}

/* --- local -> etcd (burrowctl) ------------------------------------------------ */

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "burrowctl: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return EXIT_FAILURE;
}

static void drop_local(const struct userdb *db, const char *name)
{
    char dir[CONFIG_PATH_MAX * 2];
    if (userdb_path(db, name, "", dir, sizeof(dir)) == 0 && fs_remove_tree(dir) != 0)
        fprintf(stderr, "burrowctl: cannot remove %s\n", dir);
}

/* A user this command created: claim name and uid, her disk onto NBD, then her record. */
static int publish_new(const struct burrow_config *cfg, struct etcd *e, const struct userdb *db,
                       const struct uent *u)
{
    char kclaim[ETCD_KEY_MAX], kuid[ETCD_KEY_MAX], kini[ETCD_KEY_MAX], kkeys[ETCD_KEY_MAX];
    char img[CONFIG_PATH_MAX * 2], err[512], uidtxt[16];
    struct user_record rec;
    if (userdb_get(db, u->name, &rec, err, sizeof(err)) != 0)
        return fail("user %s: %s", u->name, err);
    snprintf(uidtxt, sizeof(uidtxt), "%u", rec.uid);
    key_of(cfg, kclaim, sizeof(kclaim), u->name, "claim");
    snprintf(kuid, sizeof(kuid), "%suids/%u", cfg->cluster.prefix, rec.uid);
    key_of(cfg, kini, sizeof(kini), u->name, "user.ini");
    key_of(cfg, kkeys, sizeof(kkeys), u->name, "authorized_keys");
    const char *k1[2] = {kclaim, kuid}, *v1[2] = {u->name, u->name};
    int r = etcd_create(e, 2, k1, v1, 0, NULL);
    if (r) {
        drop_local(db, u->name);
        return r == BURROW_ERR_EXISTS
                   ? fail("user %s or uid %s already exists in the cluster", u->name, uidtxt)
                   : fail("etcd: %s%s", e->err, "");
    }
    if (userdb_path(db, u->name, "home.img", img, sizeof(img)) == 0 && access(img, F_OK) == 0 &&
        cnbd_upload(cfg, u->name, img, err, sizeof(err)) != 0) {
        if (etcd_delete(e, kclaim, 0) || etcd_delete(e, kuid, 0))
            fprintf(stderr, "burrowctl: cannot undo the claim of %s: %s\n", u->name, e->err);
        drop_local(db, u->name);
        return fail("her home disk: %s%s", err, "");
    }
    unlink(img); /* the NBD export is her disk now; the local image was its source */
    const char *k2[2] = {kini, kkeys}, *v2[2] = {u->ini, u->keys ? u->keys : ""};
    if (etcd_create(e, 2, k2, v2, 0, NULL) != 0)
        return fail("etcd: cannot publish user %s: %s", u->name, e->err);
    return EXIT_OK;
}

static int publish_changed(const struct burrow_config *cfg, struct etcd *e, const struct uent *old,
                           const struct uent *u)
{
    char k[ETCD_KEY_MAX];
    int r = 0;
    if (!same(old->ini, old->ini_len, u->ini, u->ini_len)) {
        key_of(cfg, k, sizeof(k), u->name, "user.ini");
        r = etcd_put(e, k, u->ini, u->ini_len, 0);
    }
    if (r == 0 && !same(old->keys, old->keys_len, u->keys, u->keys_len)) {
        key_of(cfg, k, sizeof(k), u->name, "authorized_keys");
        r = etcd_put(e, k, u->keys ? u->keys : "", u->keys_len, 0);
    }
    return r ? fail("etcd: cannot publish user %s: %s", u->name, e->err) : EXIT_OK;
}

static int publish_deleted(const struct burrow_config *cfg, struct etcd *e, const struct uent *old)
{
    char k[ETCD_KEY_MAX];
    const char *uid = old->ini ? strstr(old->ini, "\nuid = ") : NULL;
    unsigned long n = uid ? strtoul(uid + 7, NULL, 10) : 0;
    snprintf(k, sizeof(k), "%susers/%s/", cfg->cluster.prefix, old->name);
    int r = etcd_delete(e, k, 1);
    if (r == 0 && n >= 1000) {
        snprintf(k, sizeof(k), "%suids/%lu", cfg->cluster.prefix, n);
        r = etcd_delete(e, k, 0);
    }
    return r ? fail("etcd: cannot delete user %s: %s", old->name, e->err) : EXIT_OK;
}

static int publish(const struct burrow_config *cfg, struct etcd *e, const struct userdb *db,
                   const struct usnap *before, const struct usnap *after)
{
    int rc = EXIT_OK;
    for (size_t i = 0; i < after->n; i++) {
        const struct uent *u = &after->v[i], *old = snap_find(before, u->name);
        int r = !u->ini             ? EXIT_OK
                : !old || !old->ini ? publish_new(cfg, e, db, u)
                                    : publish_changed(cfg, e, old, u);
        rc = r != EXIT_OK ? r : rc;
    }
    for (size_t i = 0; i < before->n; i++)
        if (before->v[i].ini && !snap_find(after, before->v[i].name)) {
            int r = publish_deleted(cfg, e, &before->v[i]);
            rc = r != EXIT_OK ? r : rc;
        }
    return rc;
}

/* `user del NAME`: refused while she owns a VM anywhere. */
static int check_not_running(const struct burrow_config *cfg, struct etcd *e, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        char k[ETCD_KEY_MAX];
        struct etcd_kvs kvs;
        if (argv[i][0] == '-' || userdb_name_check(argv[i], NULL) != 0)
            continue;
        key_of(cfg, k, sizeof(k), argv[i], "vm");
        if (etcd_get(e, k, &kvs) != 0)
            return fail("etcd: %s%s", e->err, "");
        int busy = kvs.n > 0;
        char host[CONFIG_CLUSTER_NAME_MAX] = "";
        if (busy)
            snprintf(host, sizeof(host), "%s", kvs.v[0].value);
        etcd_kvs_free(&kvs);
        if (busy)
            return fail("user %s: her environment is running on host %s", argv[i], host);
    }
    return EXIT_OK;
}

int cluster_user_command(const char *config_path, int config_explicit, cluster_user_cmd_fn fn,
                         void *ctx, int argc, char **argv)
{
    struct burrow_config cfg;
    struct etcd e;
    struct userdb db;
    struct usnap before, after;
    int64_t rev = -1;
    if (config_load_cli(&cfg, config_path, config_explicit) != EXIT_OK)
        return EXIT_USAGE;
    if (!cluster_enabled(&cfg))
        return fn(ctx, argc, argv);
    const char *sub = argv[1];
    if (strcmp(sub, "disk") == 0)
        return fail("user disk: not available in a cluster yet: her disk is an NBD export "
                    "(resize it on the NBD server; docs/cluster.md)%s%s",
                    "", "");
    if (cluster_etcd_open(&cfg, &e, 5000) != 0)
        return fail("[cluster] etcd: cannot open%s%s", "", "");
    int rc = EXIT_FAILURE;
    if (cusers_mirror(&cfg, &e, &rev) != 0) {
        fail("etcd unreachable: %s%s", e.err, "");
        goto out;
    }
    int readonly = strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0 ||
                   (strcmp(sub, "key") == 0 && argc > 2 && strcmp(argv[2], "list") == 0);
    if (readonly) {
        rc = fn(ctx, argc, argv);
        goto out;
    }
    if (strcmp(sub, "del") == 0 && (rc = check_not_running(&cfg, &e, argc, argv)) != EXIT_OK)
        goto out;
    if (userdb_open(&db, &cfg, USERDB_CREATE) != 0) {
        fail("cannot open the user database%s%s", "", "");
        goto out;
    }
    if (snap_local(&db, &before) == 0) {
        rc = fn(ctx, argc, argv);
        if (rc == EXIT_OK && snap_local(&db, &after) == 0) {
            rc = publish(&cfg, &e, &db, &before, &after);
            snap_free(&after);
        }
        snap_free(&before);
    }
    userdb_close(&db);
out:
    etcd_close(&e);
    return rc;
}
