/* tests/fuzz/authkeys.c - authorized_keys text (hostile: written by users via
 * burrowctl input, read by the SSH server) through the parser and matcher. */
#include <stddef.h>
#include <stdint.h>

#include "broker/users/authkeys.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        log_init("fuzz", LOG_LVL_ERROR);
        init = 1;
    }
    if (size == 0)
        return 0;
    unsigned flags = (data[0] & 1) ? AUTHKEYS_STRICT : 0;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    if (authkeys_parse((const char *)data + 1, size - 1, flags, &ak, err, sizeof(err)) == 0) {
        for (size_t i = 0; i < ak.n; i++) {
            struct authkey_opts o;
            if (ak.keys[i].opts.from) {
                (void)authkeys_from_allows(ak.keys[i].opts.from, "10.1.2.3");
                (void)authkeys_from_allows(ak.keys[i].opts.from, "2001:db8::1");
            }
            if (authkeys_match(&ak, ak.keys[i].key, "192.0.2.7", &o) == 1)
                authkey_opts_free(&o);
        }
        authkeys_free(&ak);
    }
    return 0;
}
