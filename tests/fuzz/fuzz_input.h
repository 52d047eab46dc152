/*
 * tests/fuzz/fuzz_input.h - the fuzzers' input cursor: structured harnesses
 * (fuzz_vsock, fuzz_net, blk) take fixed-size fields off the front of
 * libFuzzer's data until it runs out.
 */
#ifndef BURROW_TESTS_FUZZ_FUZZ_INPUT_H
#define BURROW_TESTS_FUZZ_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct in {
    const uint8_t *p;
    size_t n;
};

/* Copy the next len bytes to out; -1 (nothing taken) when fewer are left. */
static inline int take(struct in *in, void *out, size_t len)
{
    if (in->n < len)
        return -1;
    memcpy(out, in->p, len);
    in->p += len;
    in->n -= len;
    return 0;
}

#endif /* BURROW_TESTS_FUZZ_FUZZ_INPUT_H */
