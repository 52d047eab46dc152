/*
 * broker/master/burrowd.c - burrowd entry point: options, logging, then the master.
 *
 *   burrowd [-c FILE] [-f] [-d] [-t] [--version]
 *     -c FILE    configuration (default /etc/burrow/burrow.ini)
 *     -f         foreground (always; kept for the documented command line)
 *     -d         debug logging
 *     -t         test the configuration and the prerequisites, then exit
 *                (0 ready to run, 1 a prerequisite is missing, 2 a bad config)
 *     --version  print the version and exit
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "broker/buildinfo.h"
#include "broker/cli.h"
#include "broker/cluster/cluster.h"
#include "broker/session/confine.h"
#include "broker/session/monitor.h"
#include "vmm/vmmproc.h"
#include "broker/master/master.h"
#include "broker/master/preflight.h"
#include "broker/session/session_exec.h"
#include "common/log.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: burrowd [-c FILE] [-f] [-d] [-t] [--version]\n");
}

static void print_problem(void *ctx, const char *problem)
{
    (void)ctx;
    cli_err(EXIT_RUNTIME, "%s", problem);
}

/* burrowd -t: like sshd -t, nothing is started or written. */
static int config_test(const char *path, int explicit_config)
{
    struct burrow_config cfg;
    struct preflight pf;
    int rc = config_load_cli(&cfg, path, explicit_config);
    if (rc != EXIT_OK)
        return rc;
    if (preflight_check(&cfg, &pf, print_problem, NULL) != 0)
        return EXIT_RUNTIME;
    printf("burrowd: %s: configuration OK; backend %s (%s)%s%s\n", path, pf.be->name,
           pf.backend_why, pf.guest_image[0] ? "; guest image " : "", pf.guest_image);
    return EXIT_OK;
}

/*
 * A cluster peer session (SESSION_PEER_ARG, docs/cluster.md): what it reads
 * as root, then the SSH front's net-child jail and seccomp filter before a
 * byte of SSH is read, then the link connection.
 */
static int peer_session_main(const struct session_args *a)
{
    struct cluster_peer *p;
    if (cluster_peer_prepare(a->cfg, &p) != 0)
        return 1;
    if (confine_peer_session(a->cfg) != 0 || confine_session_filter(a->cfg, CONFINE_NET, 0) != 0) {
        log_error("peer %s: cannot confine the peer session", a->addr);
        return 1;
    }
    return cluster_peer_serve(p, a->fd, a->mfd, a->bind);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"version", no_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *config = BURROW_DEFAULT_CONFIG;
    int explicit_config = 0, debug = 0, test = 0, opt;
    cli_set_prog("burrowd");
    if (argc == 2 && strcmp(argv[1], VMM_EXEC_ARG) == 0) {
        log_init("burrowd-vmm", LOG_LVL_INFO);
        vmm_exec_main(); /* a user VM's VMM process, re-executed (vmm/vmmproc.h) */
    }
    if (argc >= 2 && strcmp(argv[1], SESSION_EXEC_ARG) == 0) {
        log_init("burrowd", LOG_LVL_INFO);
        return session_exec_main(argc, argv, session_monitor_main);
    }
    if (argc >= 2 && strcmp(argv[1], SESSION_PEER_ARG) == 0) {
        log_init("burrowd", LOG_LVL_INFO);
        return session_exec_main(argc, argv, peer_session_main);
    }
    while ((opt = getopt_long(argc, argv, "c:fdth", longopts, NULL)) != -1) {
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
        case 't':
            test = 1;
            break;
        case 'V':
            printf("burrowd %s\n", burrow_version);
            return EXIT_OK;
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
    if (test)
        return config_test(config, explicit_config);
    setvbuf(stdout, NULL, _IOLBF, 0);
    return master_run(config, explicit_config);
}
