/*
 * broker/burrowd.c - burrowd entry point: options, logging, then the master.
 *
 *   burrowd [-c FILE] [-f] [-d]
 *     -c FILE  configuration (default /etc/burrow/burrow.ini)
 *     -f       foreground (always; kept for the documented command line)
 *     -d       debug logging
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "broker/cli.h"
#include "broker/kvm_vmm.h"
#include "broker/master.h"
#include "broker/session_exec.h"
#include "common/log.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: burrowd [-c FILE] [-f] [-d]\n");
}

int main(int argc, char **argv)
{
    const char *config = BURROW_DEFAULT_CONFIG;
    int explicit_config = 0, debug = 0, opt;
    cli_set_prog("burrowd");
    if (argc == 2 && strcmp(argv[1], KVM_VMM_EXEC_ARG) == 0) {
        log_init("burrowd-vmm", LOG_LVL_INFO);
        return kvm_vmm_exec_main();
    }
    if (argc >= 2 && strcmp(argv[1], SESSION_EXEC_ARG) == 0) {
        log_init("burrowd", LOG_LVL_INFO);
        return session_exec_main(argc, argv);
    }
    while ((opt = getopt(argc, argv, "c:fdh")) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            explicit_config = 1;
            break;
        case 'f':
            break; /* burrowd never daemonizes itself: systemd (Type=notify) or a shell runs it */
        case 'd':
            debug = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    log_init("burrowd", debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
    setvbuf(stdout, NULL, _IOLBF, 0);
    return master_run(config, explicit_config);
}
