/*
 * tests/fuzz/userini.c - libFuzzer harness for a user record
 * (state_dir/users/<name>/user.ini) read through broker/users/userdb.c's
 * userdb_get: iniparser, the record's key table and its cross-checks.
 * The record is hostile input once anything but burrowctl can write it.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/config.h"
#include "broker/users/userdb.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/burrow-fuzz-userini-XXXXXX";

static void remove_dir(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/users/fuzz/user.ini", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/users/fuzz", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/users", dir);
    rmdir(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct burrow_config cfg;
    static struct userdb db;
    static int fd = -1;
    if (fd < 0) {
        log_init("fuzz", LOG_LVL_ERROR);
        char path[256];
        if (!mkdtemp(dir))
            abort();
        atexit(remove_dir);
        config_defaults(&cfg);
        snprintf(cfg.paths.state_dir, sizeof(cfg.paths.state_dir), "%s", dir);
        snprintf(path, sizeof(path), "%s/users", dir);
        mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/users/fuzz", dir);
        mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/users/fuzz/user.ini", dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || userdb_open(&db, &cfg, 0) != 0)
            abort();
    }
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    struct user_record rec;
    char err[USERDB_ERR_MAX];
    if (userdb_get(&db, "fuzz", &rec, err, sizeof(err)) == 0) {
        /* A record that parsed must be one the rest of the broker can use as is. */
        if (strcmp(rec.name, "fuzz") != 0 || rec.uid == 0 || rec.gid == 0 || !rec.shell[0] ||
            memchr(rec.shell, '\0', sizeof(rec.shell)) == NULL)
            abort();
    }
    return 0;
}
