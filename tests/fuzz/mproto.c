/*
 * tests/fuzz/mproto.c - libFuzzer harness for the master <-> session message
 * decoder (the master parses what a possibly compromised session sends).
 * A message that decodes must re-encode over a socketpair to the same fields.
 */
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/mproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mproto_msg m, m2;
    static int sp[2] = {-1, -1};
    if (mproto_decode(data, size, &m) != 0)
        return 0;
    if (sp[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) != 0)
        return 0;
    const char *f[MPROTO_FIELDS];
    for (unsigned i = 0; i < m.n; i++)
        f[i] = m.f[i];
    if (mproto_send(sp[0], m.type, m.n, f) != 0 || mproto_recv(sp[1], &m2) != 0)
        __builtin_trap();
    if (m2.type != m.type || m2.n != m.n)
        __builtin_trap();
    for (unsigned i = 0; i < m.n; i++)
        if (strcmp(m.f[i], m2.f[i]) != 0)
            __builtin_trap();
    return 0;
}
