/*
 * tests/fork/cold_boot.c - the baseline for bench-fork: a cold boot of the
 * same test guest (testguest.mode=agent, same memory and vCPUs) in this
 * process, timed like a fork: request -> vCPUs started, and -> READY on the
 * control port 1025.
 *
 * usage: cold_boot TESTGUEST MEM_MIB VCPUS RUNS
 * Prints one line per run: "cold <start_ns> <ready_ns>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "vmm/fork.h"
#include "vmm/machine.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: cold_boot TESTGUEST MEM_MIB VCPUS RUNS\n");
        return 2;
    }
    uint8_t *kernel;
    size_t klen;
    if (fork_read_file(argv[1], MACHINE_KERNEL_MAX, &kernel, &klen)) {
        fprintf(stderr, "cold_boot: cannot read %s\n", argv[1]);
        return 1;
    }
    int runs = atoi(argv[4]);
    char sock[64];
    snprintf(sock, sizeof(sock), "/tmp/burrow-cold-%d.sock", (int)getpid());
    static struct fork_identity id = {
        .user = "guest", .shell = "/bin/sh", .home = "/home/guest", .hostname = "cold"};
    for (int i = 0; i < runs; i++) {
        static struct machine m;
        static struct control_port cp;
        struct devices_config dc = {.vsock_uds = sock, .disk_empty_slot = true};
        struct machine_config mc = {.kernel = kernel,
                                    .kernel_len = klen,
                                    .cmdline = "testguest.mode=agent",
                                    .mem_size = (uint64_t)atoi(argv[2]) << 20,
                                    .nr_vcpus = (unsigned)atoi(argv[3]),
                                    .console_in = -1,
                                    .console_out = -1,
                                    .devices = &dc};
        uint64_t t0 = clock_now_ns();
        if (machine_create(&m, &mc)) {
            fprintf(stderr, "cold_boot: %s\n", m.why);
            return 1;
        }
        control_port_init(&cp, m.vm, &id);
        if (control_port_listen(&cp, &m.devices)) {
            fprintf(stderr, "cold_boot: control port\n");
            return 1;
        }
        uint64_t t1 = clock_now_ns();
        if (vm_start(m.vm) || control_port_wait_ready(&cp, 0, 30000)) {
            fprintf(stderr, "cold_boot: no READY: %s\n", m.vm->exit.detail);
            return 1;
        }
        printf("cold %llu %llu\n", (unsigned long long)(t1 - t0),
               (unsigned long long)(cp.ready_ns - t0));
        fflush(stdout);
        machine_destroy(&m);
        control_port_fini(&cp);
        unlink(sock);
    }
    free(kernel);
    return 0;
}
