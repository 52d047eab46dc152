/* tests/fuzz/config.c - burrow.ini / user.ini text through iniparser and the
 * table-driven loader (config_parse_ini), via a memfd. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "broker/config.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        log_init("fuzz", LOG_LVL_ERROR);
        fd = memfd_create("fuzz-ini", MFD_CLOEXEC);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    struct burrow_config cfg;
    char err[CONFIG_ERR_MAX];
    if (config_load(&cfg, path, 0, err, sizeof(err)) == 0) {
        FILE *out = fopen("/dev/null", "w");
        if (out) {
            config_dump(&cfg, out);
            fclose(out);
        }
    }
    return 0;
}
