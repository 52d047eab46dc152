/* tests/kvm/kvmtest.h - helpers shared by the KVM tier's C drivers. */
#ifndef BURROW_TESTS_KVM_KVMTEST_H
#define BURROW_TESTS_KVM_KVMTEST_H

#include <stddef.h>
#include <stdint.h>

/* Read a whole file (exits on failure). */
uint8_t *kt_read_file(const char *path, size_t *len);
uint64_t kt_now_ns(void);

#endif /* BURROW_TESTS_KVM_KVMTEST_H */
