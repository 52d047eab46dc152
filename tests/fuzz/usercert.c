/* tests/fuzz/usercert.c - OpenSSH certificate blobs (hostile: a client sends them
 * during public-key authentication) through the parser, the CA signature check
 * and the checks of what a certificate allows. */
#include <stddef.h>
#include <stdint.h>

#include "broker/users/usercert.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct usercert c;
    char why[160];
    if (!init) {
        log_init("fuzz", LOG_LVL_ERROR);
        init = 1;
    }
    if (usercert_parse(data, size, &c, why, sizeof(why)) != 0)
        return 0;
    (void)usercert_verify(&c, why, sizeof(why));
    (void)usercert_has_principal(&c, "alice");
    (void)usercert_check(&c, "alice", NULL, "10.1.2.3", 1800000000, why, sizeof(why));
    (void)usercert_check(&c, "alice", "ops,alice", "2001:db8::1", 0, why, sizeof(why));
    return 0;
}
