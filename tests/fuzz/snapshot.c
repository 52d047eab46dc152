/*
 * tests/fuzz/snapshot.c - libFuzzer harness for the template `state`
 * parser: the container (vmm/snapshot.c) and, for every vCPU section found,
 * the vCPU section decoder (vmm/snapshot_vcpu.c). Nothing may crash, read
 * out of bounds or leak; a parse that succeeds must find each section it
 * listed. Seed: tests/fuzz/corpus/snapshot/ (a real state file).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/err.h"
#include "vmm/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct snapshot s;
    if (snap_parse(data, size, &s) != 0)
        return 0;
    for (unsigned i = 0; i < s.nr; i++) {
        struct buf in;
        if (snap_find(&s, s.sec[i].id, &in) != 0)
            abort();
        if (s.sec[i].id >= SNAP_SEC_VCPU0 && s.sec[i].id < SNAP_SEC_VCPU0 + 64) {
            uint64_t tsc;
            char why[128];
            (void)snap_vcpu_tsc(in, &tsc);
            (void)snap_compare_vcpu(in, in, why, sizeof(why));
        }
    }
    return 0;
}
