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

/*
 * The slot files are opened here, before the session's pre-auth filter,
 * which allows only read-only opens: a slot is then taken with flock alone.
 * A slot that cannot be opened stays -1 (verifications then go unbounded
 * by it rather than fail).
 */
static void open_slots(struct auth_ctx *a)
{
    char dir[CONFIG_PATH_MAX + 32], path[sizeof(dir) + 16];
    snprintf(dir, sizeof(dir), "%s/pwslots", a->cfg->paths.run_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        log_debug("%s: %s", dir, strerror(errno));
    for (int i = 0; i < AUTH_PASSWORD_SLOTS; i++) {
        snprintf(path, sizeof(path), "%s/%d", dir, i);
        a->slot_fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    }
}

int auth_init(struct auth_ctx *a, const struct burrow_config *cfg, const char *client_addr)
{
    memset(a, 0, sizeof(*a));
    a->cfg = cfg;
    a->client_addr = client_addr;
    open_slots(a);
    return userdb_open(&a->db, cfg, 0);
}

void auth_close(struct auth_ctx *a)
{
    for (int i = 0; i < AUTH_PASSWORD_SLOTS; i++)
        if (a->slot_fd[i] >= 0)
            close(a->slot_fd[i]);
    memset(a->slot_fd, 0xff, sizeof(a->slot_fd));
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
 * Returns the slot's fd (unlock it when done) or -1.
 */
static int take_slot(struct auth_ctx *a)
{
    int start = rand() % AUTH_PASSWORD_SLOTS;
    for (int i = 0; i < AUTH_PASSWORD_SLOTS; i++) {
        int fd = a->slot_fd[(start + i) % AUTH_PASSWORD_SLOTS];
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
    }
    int fd = a->slot_fd[start];
    return fd >= 0 && flock(fd, LOCK_EX) == 0 ? fd : -1;
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
        flock(slot, LOCK_UN);
    return ok;
}
