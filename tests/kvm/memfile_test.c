/*
 * tests/kvm/memfile_test.c - guest RAM backed by a file: MAP_SHARED writes
 * land in the file (a template's memory), MAP_PRIVATE writes do not (a
 * fork). Boots the test guest once each way over a 64 MiB memfd.
 * usage: memfile_test TESTGUEST
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/kvm/kvmtest.h"
#include "vmm/machine.h"

static struct machine m;

static int boot(struct machine_config *mc)
{
    if (machine_create(&m, mc) || vm_start(m.vm)) {
        fprintf(stderr, "memfile_test: %s\n", m.why);
        return -1;
    }
    struct vm_exit_info info;
    vm_wait(m.vm, &info);
    machine_destroy(&m);
    if (info.reason != VM_STOP_DEBUG_EXIT || info.code != 0) {
        fprintf(stderr, "memfile_test: guest failed: %s\n", info.detail);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    const uint64_t size = 64 * VM_MIB;
    int fd = memfd_create("burrow-guest-ram", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        perror("memfd");
        return 1;
    }
    struct machine_config mc = {.mem_size = size,
                                .nr_vcpus = 1,
                                .console_in = -1,
                                .console_out = -1,
                                .mem_file = true,
                                .mem_fd = fd,
                                .mem_private = true};
    mc.kernel = kt_read_file(argv[1], &mc.kernel_len);
    uint8_t probe[16], zero[16] = {0};
    if (boot(&mc) || pread(fd, probe, sizeof(probe), 0x100000) != sizeof(probe))
        return 1;
    if (memcmp(probe, zero, sizeof(probe)) != 0) {
        fprintf(stderr, "memfile_test: a MAP_PRIVATE guest wrote through to the file\n");
        return 1;
    }
    mc.mem_private = false;
    if (boot(&mc) || pread(fd, probe, sizeof(probe), 0x100000) != sizeof(probe))
        return 1;
    if (memcmp(probe, zero, sizeof(probe)) == 0) {
        fprintf(stderr, "memfile_test: a MAP_SHARED guest's memory did not reach the file\n");
        return 1;
    }
    free((void *)mc.kernel);
    printf("memfile_test: private mapping left the file alone; shared mapping wrote it\n");
    return 0;
}
