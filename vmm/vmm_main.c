/*
 * vmm/vmm_main.c - burrow-vmm, the program of a VM's VMM process
 * (vmm/vmmproc.h): burrowd and `burrowctl vm fork` start it in a new pid
 * namespace with VMM_EXEC_ARG and the request on a descriptor. It links the
 * VMM alone, so each of a host's many VMM processes carries no private copy
 * of the broker's libraries' data (libssh, OpenSSL, Kerberos).
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "vmm/vmmproc.h"

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], VMM_EXEC_ARG) != 0) {
        fprintf(stderr,
                "burrow-vmm: a VM's VMM process; burrowd and `burrowctl vm fork` start it\n");
        return 2;
    }
    log_init("burrow-vmm", LOG_LVL_INFO);
    vmm_exec_main();
}
