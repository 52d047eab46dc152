/* broker/vm/ksm.c - KSM's sysfs knobs, read and switched on (see ksm.h). */
#include "broker/vm/ksm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

/* One decimal counter file of the KSM directory (bounded, untrusted text). */
static int read_counter(const char *dir, const char *name, uint64_t *out)
{
    char path[512], text[32];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
        return BURROW_ERR_TOO_LARGE;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return BURROW_ERR_FORMAT;
    text[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || (*end && *end != '\n') || text[0] == '-')
        return BURROW_ERR_FORMAT;
    *out = v;
    return 0;
}

int ksm_read(const char *dir, struct ksm_state *out)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return BURROW_ERR_NOT_FOUND;
    memset(out, 0, sizeof(*out));
    const struct {
        const char *name;
        uint64_t *v;
    } f[] = {{"run", &out->run},
             {"pages_shared", &out->pages_shared},
             {"pages_sharing", &out->pages_sharing},
             {"pages_unshared", &out->pages_unshared},
             {"pages_volatile", &out->pages_volatile},
             {"full_scans", &out->full_scans}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        int r = read_counter(dir, f[i].name, f[i].v);
        if (r)
            return r;
    }
    long ps = sysconf(_SC_PAGESIZE);
    out->page_size = ps > 0 ? (uint64_t)ps : 4096;
    return 0;
}

static int write_run(const char *dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/run", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    ssize_t n = write(fd, "1\n", 2);
    int e = errno;
    close(fd);
    errno = e;
    return n == 2 ? 0 : BURROW_ERR_SYSTEM;
}

int ksm_switch_on(const char *dir, enum log_level level, enum ksm_outcome *outcome)
{
    uint64_t run;
    int r = read_counter(dir, "run", &run);
    if (r == BURROW_ERR_NOT_FOUND) {
        log_info("ksm: [vm] ksm = yes, but this kernel has no %s: nothing to switch on", dir);
        return r;
    }
    if (r) {
        log_warn("ksm: cannot read %s/run: %s", dir,
                 r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
        return r;
    }
    if (run == 1) {
        *outcome = KSM_WAS_ON;
        return 0;
    }
    if (run != 0) {
        log_warn("ksm: %s/run is %llu (unmerging): left as it is", dir, (unsigned long long)run);
        *outcome = KSM_LEFT_ALONE;
        return 0;
    }
    if ((r = write_run(dir))) {
        log_warn("ksm: cannot switch KSM on (%s/run): %s", dir, strerror(errno));
        return r;
    }
    LOG_AT(level, 0, 0,
           "ksm: switched KSM on (%s/run was 0, now 1) because [vm] ksm = yes; its other "
           "settings are left as found",
           dir);
    *outcome = KSM_SWITCHED_ON;
    return 0;
}
