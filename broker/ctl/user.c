/*
 * broker/ctl/user.c - `burrowctl user ...`: the user database from the
 * command line (docs/users.md).
 *
 * Exit codes: 0 done; 1 runtime failure (no such user, already exists, disk
 * in use, I/O error); 2 usage or validation error (bad name, size, key,
 * option, or config). Errors are one line on stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "broker/users/authkeys.h"
#include "broker/cli.h"
#include "broker/cluster/cluster.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/json.h"
#include "broker/users/homedisk.h"
#include "broker/users/totp.h"
#include "broker/users/userdb.h"
#include "common/err.h"

#define INPUT_MAX AUTHKEYS_FILE_MAX

static const char usage_text[] =
    "usage: burrowctl [-c FILE] user COMMAND ...\n"
    "  add NAME [--uid N] [--shell PATH] [--key-file FILE]... [--password-stdin]\n"
    "           [--disk-size SIZE]\n"
    "  del NAME [--keep-home]\n"
    "  list [--json]\n"
    "  show NAME\n"
    "  key add NAME [FILE]          (keys from FILE, or stdin)\n"
    "  key rm NAME INDEX|SHA256:FINGERPRINT\n"
    "  key list NAME\n"
    "  passwd NAME                  (password on stdin)\n"
    "  disk resize NAME SIZE        (grow only, while no VM uses the disk)\n"
    "  lock NAME | unlock NAME\n"
    "  set NAME --shell PATH\n"
    "  totp NAME [--remove]         (a new TOTP second factor: its otpauth:// URI is\n"
    "                               shown once; --remove turns it off)\n";

/* Validation-class errors exit 2, everything else 1. */
static int exit_for(int r)
{
    switch (r) {
    case BURROW_ERR_INVALID:
    case BURROW_ERR_PERM:
    case BURROW_ERR_FORMAT:
    case BURROW_ERR_RANGE:
    case BURROW_ERR_TOO_LARGE:
    case BURROW_ERR_UNSUPPORTED:
    case BURROW_ERR_TRAILING:
        return EXIT_USAGE;
    default:
        return EXIT_RUNTIME;
    }
}

static int fail_r(int r, const char *err)
{
    return cli_err(exit_for(r), "%s", err[0] ? err : burrow_strerror(r));
}

/* Read all of path ("-" = stdin) up to INPUT_MAX bytes into a malloc'd buffer. */
static int read_input(const char *path, char **out, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return cli_err(EXIT_USAGE, "cannot read '%s': %s", path, strerror(errno));
    char *buf = malloc(INPUT_MAX + 1);
    size_t n = 0;
    ssize_t got = 0;
    while (buf && n <= INPUT_MAX && (got = read(fd, buf + n, INPUT_MAX + 1 - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        n += (size_t)got;
    }
    int e = errno;
    if (fd != 0)
        close(fd);
    if (!buf)
        return cli_err(EXIT_RUNTIME, "out of memory");
    if (got < 0 || n > INPUT_MAX) {
        free(buf);
        return cli_err(EXIT_USAGE, "cannot read '%s': %s", path,
                       got < 0 ? strerror(e) : "input too large");
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return EXIT_OK;
}

/* A password on stdin: one line, the newline dropped, 1..USERDB_PASSWORD_MAX bytes. */
static int read_password(char *pw, size_t pwsz, size_t *len)
{
    size_t n = 0;
    ssize_t got;
    while (n < pwsz && (got = read(0, pw + n, pwsz - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return cli_err(EXIT_RUNTIME, "cannot read password: %s", strerror(errno));
        n += (size_t)got;
    }
    char *nl = memchr(pw, '\n', n);
    if (nl)
        n = (size_t)(nl - pw);
    if (n > 0 && pw[n - 1] == '\r')
        n--;
    if (n == 0 || n > USERDB_PASSWORD_MAX || memchr(pw, '\0', n))
        return cli_err(EXIT_USAGE, "password on stdin must be one line of 1-%d bytes",
                       USERDB_PASSWORD_MAX);
    *len = n;
    return EXIT_OK;
}

static int open_db(struct ctl_ctx *ctx, struct userdb *db, unsigned flags)
{
    struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    int r = userdb_open(db, &cfg, flags);
    if (r < 0)
        return cli_err(EXIT_RUNTIME, "cannot open user database in %s: %s", cfg.paths.state_dir,
                       r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
    return EXIT_OK;
}

static int parse_disk_size(const char *s, uint64_t *out)
{
    if (config_parse_size(s, HOMEDISK_SIZE_MIN, HOMEDISK_SIZE_MAX, out) < 0)
        return cli_err(EXIT_USAGE, "bad size '%.40s': expected 16M-16T (bytes, or with K/M/G/T)",
                       s);
    return EXIT_OK;
}

static void human_size(uint64_t b, char *out, size_t outsz)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && b >= 1024 && b % 1024 == 0) {
        b /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(out, outsz, "%" PRIu64, b);
    else
        snprintf(out, outsz, "%" PRIu64 "%c", b, units[u]);
}

/* --- add / del --------------------------------------------------------- */

static int cmd_add(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"uid", required_argument, NULL, 'u'},       {"shell", required_argument, NULL, 's'},
        {"key-file", required_argument, NULL, 'k'},  {"password-stdin", no_argument, NULL, 'p'},
        {"disk-size", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    struct userdb_new_user nu = {0};
    char *keys = NULL;
    size_t keys_len = 0;
    int pw_stdin = 0, keys_from_stdin = 0, c, rc = EXIT_OK;
    uint64_t v;
    while (rc == EXIT_OK && (c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            if (config_parse_u64(optarg, 1, UINT32_MAX, &v) < 0)
                rc = cli_err(EXIT_USAGE, "bad --uid '%.40s': expected a number", optarg);
            nu.uid = (uint32_t)v;
            break;
        case 's':
            nu.shell = optarg;
            break;
        case 'k': {
            keys_from_stdin |= strcmp(optarg, "-") == 0;
            char *text;
            size_t len;
            if ((rc = read_input(optarg, &text, &len)) != EXIT_OK)
                break;
            char *all = realloc(keys, keys_len + len + 2);
            if (!all) {
                free(text);
                rc = cli_err(EXIT_RUNTIME, "out of memory");
                break;
            }
            keys = all;
            memcpy(keys + keys_len, text, len);
            keys_len += len;
            keys[keys_len++] = '\n';
            keys[keys_len] = '\0';
            free(text);
            break;
        }
        case 'p':
            pw_stdin = 1;
            break;
        case 'd':
            rc = parse_disk_size(optarg, &nu.disk_size);
            break;
        default:
            rc = cli_err(EXIT_USAGE, "user add: bad option '%s'", argv[optind - 1]);
        }
    }
    if (rc == EXIT_OK && optind != argc - 1)
        rc = cli_err(EXIT_USAGE, "usage: burrowctl user add NAME [options] (see --help)");
    if (rc == EXIT_OK && pw_stdin && keys_from_stdin)
        rc = cli_err(EXIT_USAGE, "--password-stdin and --key-file - cannot both use stdin");
    char pw[USERDB_PASSWORD_MAX + 2];
    size_t pwlen = 0;
    if (rc == EXIT_OK && pw_stdin && (rc = read_password(pw, sizeof(pw), &pwlen)) == EXIT_OK) {
        nu.password = pw;
        nu.password_len = pwlen;
    }
    struct userdb db;
    if (rc == EXIT_OK)
        rc = open_db(ctx, &db, USERDB_CREATE);
    if (rc == EXIT_OK) {
        nu.name = argv[optind];
        nu.keys_text = keys;
        nu.keys_len = keys_len;
        struct user_record rec;
        char err[USERDB_ERR_MAX] = "";
        int r = userdb_add(&db, &nu, &rec, err, sizeof(err));
        if (r < 0)
            rc = fail_r(r, err);
        else
            printf("added user %s (uid %" PRIu32 ")\n", rec.name, rec.uid);
        userdb_close(&db);
    }
    sodium_memzero(pw, sizeof(pw));
    free(keys);
    return rc;
}

static int cmd_del(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"keep-home", no_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
    int keep = 0, c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c != 'k')
            return cli_err(EXIT_USAGE, "user del: bad option '%s'", argv[optind - 1]);
        keep = 1;
    }
    if (optind != argc - 1)
        return cli_err(EXIT_USAGE, "usage: burrowctl user del NAME [--keep-home]");
    struct userdb db;
    int rc = open_db(ctx, &db, 0);
    if (rc != EXIT_OK)
        return rc;
    char err[USERDB_ERR_MAX] = "", kept[4096];
    int r = userdb_del(&db, argv[optind], keep, kept, sizeof(kept), err, sizeof(err));
    userdb_close(&db);
    if (r < 0)
        return fail_r(r, err);
    if (kept[0])
        printf("deleted user %s; home disk kept at %s\n", argv[optind], kept);
    else
        printf("deleted user %s\n", argv[optind]);
    return EXIT_OK;
}

/* --- list / show ------------------------------------------------------- */

static size_t key_count(const struct userdb *db, const char *name)
{
    char path[4096];
    struct authkeys ak;
    if (userdb_path(db, name, "authorized_keys", path, sizeof(path)) < 0 ||
        authkeys_load(path, 0, &ak, NULL, 0) < 0)
        return 0;
    size_t n = ak.n;
    authkeys_free(&ak);
    return n;
}

/* JSON string: names and shells are validated ASCII, but escape anyway. */
static int cmd_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c != 'j')
            return cli_err(EXIT_USAGE, "user list: bad option '%s'", argv[optind - 1]);
        json = 1;
    }
    if (optind != argc)
        return cli_err(EXIT_USAGE, "usage: burrowctl user list [--json]");
    struct userdb db;
    int rc = open_db(ctx, &db, 0);
    if (rc != EXIT_OK)
        return rc;
    struct user_record *recs;
    size_t n;
    int r = userdb_list(&db, &recs, &n);
    if (r < 0)
        return cli_err(EXIT_RUNTIME, "cannot list users: %s",
                       r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
    if (json)
        printf("[");
    else
        printf("%-32s %10s %-20s %6s %4s %-8s %s\n", "NAME", "UID", "SHELL", "DISK", "KEYS",
               "PASSWORD", "LOCKED");
    for (size_t i = 0; i < n; i++) {
        const struct user_record *u = &recs[i];
        size_t keys = key_count(&db, u->name);
        if (json) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            json_fput_str(stdout, u->name);
            printf(", \"uid\": %" PRIu32 ", \"gid\": %" PRIu32 ", \"shell\": ", u->uid, u->gid);
            json_fput_str(stdout, u->shell);
            printf(", \"disk_size\": %" PRIu64 ", \"keys\": %zu, \"password\": %s, "
                   "\"locked\": %s, \"created\": %" PRIu64 "}",
                   u->disk_size, keys, u->password_hash[0] ? "true" : "false",
                   u->locked ? "true" : "false", u->created);
        } else {
            char size[32];
            human_size(u->disk_size, size, sizeof(size));
            printf("%-32s %10" PRIu32 " %-20s %6s %4zu %-8s %s\n", u->name, u->uid, u->shell,
                   u->disk_size ? size : "-", keys, u->password_hash[0] ? "yes" : "no",
                   u->locked ? "yes" : "no");
        }
    }
    if (json)
        printf("%s]\n", n ? "\n" : "");
    free(recs);
    return EXIT_OK;
}

static void print_keys(const struct authkeys *ak, const char *indent)
{
    for (size_t i = 0; i < ak->n; i++) {
        const struct authkey *k = &ak->keys[i];
        printf("%s%zu %s %s %s%s%s\n", indent, i + 1, ssh_key_type_to_char(k->type), k->fingerprint,
               k->comment[0] ? k->comment : "-",
               (k->opts.flags || k->opts.command || k->opts.from || k->opts.n_env)
                   ? " (with options)"
                   : "",
               "");
    }
}

/* Load NAME's record and keys; prints the error itself. */
static int load_user(struct ctl_ctx *ctx, struct userdb *db, const char *name,
                     struct user_record *rec, struct authkeys *ak)
{
    int rc = open_db(ctx, db, 0);
    if (rc != EXIT_OK)
        return rc;
    char err[USERDB_ERR_MAX] = "", path[4096];
    int r = userdb_get(db, name, rec, err, sizeof(err));
    if (r < 0)
        return fail_r(r, err);
    if ((r = userdb_path(db, name, "authorized_keys", path, sizeof(path))) < 0 ||
        (r = authkeys_load(path, 0, ak, err, sizeof(err))) < 0)
        return fail_r(r, err);
    return EXIT_OK;
}

static int cmd_show(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl user show NAME");
    struct userdb db;
    struct user_record u;
    struct authkeys ak;
    int rc = load_user(ctx, &db, argv[1], &u, &ak);
    if (rc != EXIT_OK)
        return rc;
    char img[4096], size[32], when[64];
    time_t created = (time_t)u.created;
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&created, &tm));
    printf("name:     %s\nuid:      %" PRIu32 "\ngid:      %" PRIu32 "\nshell:    %s\n"
           "password: %s\ntotp:     %s\nlocked:   %s\ncreated:  %s\n",
           u.name, u.uid, u.gid, u.shell, u.password_hash[0] ? "set" : "not set",
           u.totp[0] ? "set" : "not set", u.locked ? "yes" : "no", when);
    if (userdb_path(&db, u.name, "home.img", img, sizeof(img)) == 0 && u.disk_size) {
        human_size(u.disk_size, size, sizeof(size));
        int locked = homedisk_is_locked(img);
        printf("disk:     %s (%s, %s)\n", img, size,
               locked < 0 ? "missing"
               : locked   ? "in use"
                          : "not in use");
    } else {
        printf("disk:     none\n");
    }
    printf("keys:     %zu\n", ak.n);
    print_keys(&ak, "  ");
    authkeys_free(&ak);
    return EXIT_OK;
}

/* --- keys, password, disk, lock, set ----------------------------------- */

static int cmd_key(struct ctl_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    struct userdb db;
    char err[USERDB_ERR_MAX] = "";
    int r, rc;
    if (strcmp(sub, "list") == 0 && argc == 3) {
        struct user_record u;
        struct authkeys ak;
        if ((rc = load_user(ctx, &db, argv[2], &u, &ak)) != EXIT_OK)
            return rc;
        print_keys(&ak, "");
        authkeys_free(&ak);
        return EXIT_OK;
    }
    if (strcmp(sub, "add") == 0 && (argc == 3 || argc == 4)) {
        char *text;
        size_t len;
        if ((rc = read_input(argc == 4 ? argv[3] : "-", &text, &len)) != EXIT_OK)
            return rc;
        if ((rc = open_db(ctx, &db, 0)) == EXIT_OK) {
            r = userdb_keys_add(&db, argv[2], text, len, err, sizeof(err));
            rc = r < 0 ? fail_r(r, err) : EXIT_OK;
            userdb_close(&db);
        }
        free(text);
        return rc;
    }
    if (strcmp(sub, "rm") == 0 && argc == 4) {
        if ((rc = open_db(ctx, &db, 0)) != EXIT_OK)
            return rc;
        r = userdb_keys_rm(&db, argv[2], argv[3], err, sizeof(err));
        userdb_close(&db);
        return r < 0 ? fail_r(r, err) : EXIT_OK;
    }
    return cli_err(EXIT_USAGE, "usage: burrowctl user key add NAME [FILE] | rm NAME "
                               "INDEX|FINGERPRINT | list NAME");
}

static int cmd_passwd(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl user passwd NAME (password on stdin)");
    char pw[USERDB_PASSWORD_MAX + 2], err[USERDB_ERR_MAX] = "";
    size_t len;
    struct userdb db;
    int rc = userdb_name_check(argv[1], NULL) < 0
                 ? cli_err(EXIT_USAGE, "invalid user name '%.40s'", argv[1])
                 : read_password(pw, sizeof(pw), &len);
    if (rc == EXIT_OK && (rc = open_db(ctx, &db, 0)) == EXIT_OK) {
        int r = userdb_set_password(&db, argv[1], pw, len, err, sizeof(err));
        rc = r < 0 ? fail_r(r, err) : EXIT_OK;
        userdb_close(&db);
    }
    sodium_memzero(pw, sizeof(pw));
    return rc;
}

static int cmd_disk(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "resize") != 0)
        return cli_err(EXIT_USAGE, "usage: burrowctl user disk resize NAME SIZE");
    uint64_t size;
    int rc = parse_disk_size(argv[3], &size);
    struct userdb db;
    if (rc != EXIT_OK || (rc = open_db(ctx, &db, 0)) != EXIT_OK)
        return rc;
    char err[USERDB_ERR_MAX] = "";
    int r = userdb_disk_resize(&db, argv[2], size, err, sizeof(err));
    userdb_close(&db);
    return r < 0 ? fail_r(r, err) : EXIT_OK;
}

static int cmd_lock(struct ctl_ctx *ctx, int argc, char **argv)
{
    int lock = strcmp(argv[0], "lock") == 0;
    if (argc != 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl user %s NAME", argv[0]);
    struct userdb db;
    int rc = open_db(ctx, &db, 0);
    if (rc != EXIT_OK)
        return rc;
    char err[USERDB_ERR_MAX] = "";
    int r = userdb_set_locked(&db, argv[1], lock, err, sizeof(err));
    userdb_close(&db);
    return r < 0 ? fail_r(r, err) : EXIT_OK;
}

static int cmd_set(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"shell", required_argument, NULL, 's'},
                                         {NULL, 0, NULL, 0}};
    const char *shell = NULL;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c != 's')
            return cli_err(EXIT_USAGE, "user set: bad option '%s'", argv[optind - 1]);
        shell = optarg;
    }
    if (optind != argc - 1 || !shell)
        return cli_err(EXIT_USAGE, "usage: burrowctl user set NAME --shell PATH");
    struct userdb db;
    int rc = open_db(ctx, &db, 0);
    if (rc != EXIT_OK)
        return rc;
    char err[USERDB_ERR_MAX] = "";
    int r = userdb_set_shell(&db, argv[optind], shell, err, sizeof(err));
    userdb_close(&db);
    return r < 0 ? fail_r(r, err) : EXIT_OK;
}

/* A fresh TOTP secret (replacing any), shown once as an otpauth:// URI; or --remove. */
static int cmd_totp(struct ctl_ctx *ctx, int argc, char **argv)
{
    int remove = argc == 3 && strcmp(argv[2], "--remove") == 0;
    if (argc != 2 && !remove)
        return cli_err(EXIT_USAGE, "usage: burrowctl user totp NAME [--remove]");
    char secret[TOTP_B32_MAX] = "", uri[TOTP_URI_MAX], err[USERDB_ERR_MAX] = "";
    struct userdb db;
    if (userdb_name_check(argv[1], NULL) < 0)
        return cli_err(EXIT_USAGE, "invalid user name '%.40s'", argv[1]);
    if (!remove && (totp_new_secret(secret) != 0 || totp_uri(argv[1], secret, uri, sizeof(uri))))
        return cli_err(EXIT_RUNTIME, "cannot make a TOTP secret");
    int rc = open_db(ctx, &db, 0);
    if (rc == EXIT_OK) {
        int r = userdb_set_totp(&db, argv[1], secret, err, sizeof(err));
        rc = r < 0 ? fail_r(r, err) : EXIT_OK;
        userdb_close(&db);
    }
    if (rc == EXIT_OK && !remove)
        printf("%s\n", uri);
    sodium_memzero(secret, sizeof(secret));
    return rc;
}

static const struct {
    const char *name;
    int (*fn)(struct ctl_ctx *ctx, int argc, char **argv);
} user_cmds[] = {
    {"add", cmd_add},     {"del", cmd_del},       {"list", cmd_list}, {"show", cmd_show},
    {"key", cmd_key},     {"passwd", cmd_passwd}, {"disk", cmd_disk}, {"lock", cmd_lock},
    {"unlock", cmd_lock}, {"set", cmd_set},       {"totp", cmd_totp},
};

/* The chosen subcommand, run by cluster_user_command (directly without [cluster]). */
struct user_run {
    struct ctl_ctx *ctx;
    int (*fn)(struct ctl_ctx *ctx, int argc, char **argv);
};

static int run_user_cmd(void *arg, int argc, char **argv)
{
    const struct user_run *u = arg;
    optind = 0; /* full getopt reset (glibc) */
    opterr = 0; /* one-line errors are ours */
    return u->fn(u->ctx, argc - 1, argv + 1);
}

int ctl_user_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc < 2)
        return cli_err(EXIT_USAGE, "usage: burrowctl user add|del|list|show|key|passwd|disk|"
                                   "lock|unlock|set|totp ... (try 'burrowctl user --help')");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(user_cmds) / sizeof(user_cmds[0]); i++) {
        if (strcmp(argv[1], user_cmds[i].name) == 0) {
            struct user_run u = {ctx, user_cmds[i].fn};
            return cluster_user_command(ctx->config_path, ctx->config_explicit, run_user_cmd, &u,
                                        argc, argv);
        }
    }
    const char *names[sizeof(user_cmds) / sizeof(user_cmds[0])];
    for (size_t i = 0; i < sizeof(user_cmds) / sizeof(user_cmds[0]); i++)
        names[i] = user_cmds[i].name;
    return cli_unknown("user", argv[1], names, sizeof(names) / sizeof(names[0]));
}
