/* broker/auth.c - public-key and password decisions for a session process. */
#include "broker/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

int auth_init(struct auth_ctx *a, const struct burrow_config *cfg, const char *client_addr)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->client_addr = client_addr;
    snprintf(a->lock_dir, sizeof(a->lock_dir), "%s/pwslots", cfg->paths.run_dir);
    return userdb_open(&a->db, cfg, 0);
}

void auth_close(struct auth_ctx *a)
{
    userdb_close(&a->db);
}

/* A valid, unlocked record for user, or 0. */
static int lookup(struct auth_ctx *a, const char *user, struct user_record *rec)
{
    char err[USERDB_ERR_MAX];
    if (userdb_name_check(user, NULL) != 0)
        return 0;
    if (userdb_get(&a->db, user, rec, err, sizeof(err)) != 0)
        return 0;
    return !rec->locked;
}

int auth_pubkey(struct auth_ctx *a, const char *user, const ssh_key key, struct authkey_opts *opts,
                struct user_record *rec)
{
    char path[CONFIG_PATH_MAX * 2];
    memset(opts, 0, sizeof(*opts));
    if (!lookup(a, user, rec))
        return 0;
    if (userdb_path(&a->db, user, "authorized_keys", path, sizeof(path)) != 0)
        return 0;
    return authkeys_match_file(path, key, a->client_addr, opts) == 1;
}

/*
 * Take one of AUTH_PASSWORD_SLOTS flock slots (blocking on a random one when
 * all are busy): bounds argon2id memory across all session processes.
 */
static int take_slot(struct auth_ctx *a)
{
    char path[sizeof(a->lock_dir) + 16];
    mkdir(a->lock_dir, 0700);
    int start = rand() % AUTH_PASSWORD_SLOTS;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < AUTH_PASSWORD_SLOTS; i++) {
            int slot = (start + i) % AUTH_PASSWORD_SLOTS;
            snprintf(path, sizeof(path), "%s/%d", a->lock_dir, slot);
            int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            if (fd < 0)
                return -1;
            if (flock(fd, pass == 0 ? LOCK_EX | LOCK_NB : LOCK_EX) == 0)
                return fd;
            close(fd);
            if (pass == 1)
                break;
        }
    }
    return -1;
}

int auth_password(struct auth_ctx *a, const char *user, const char *password,
                  struct user_record *rec)
{
    size_t len = strnlen(password, USERDB_PASSWORD_MAX + 1);
    if (len > USERDB_PASSWORD_MAX)
        return 0;
    int slot = take_slot(a);
    int ok = 0;
    if (lookup(a, user, rec) && rec->password_hash[0])
        ok = userdb_password_verify(rec, password, len) == 0;
    else
        userdb_password_burn(password, len);
    if (slot >= 0)
        close(slot);
    return ok;
}
