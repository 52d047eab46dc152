/*
 * broker/ctl/hostkeys.c - `burrowctl hostkeys`: the SSH host key fingerprints.
 *
 *   burrowctl [-c FILE] hostkeys
 * One line per key: "<type> SHA256:<fingerprint> <path>", the same lines
 * burrowd prints when it generates the keys at first start. Never generates.
 */
#include <stdio.h>
#include <string.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/users/hostkeys.h"

int ctl_hostkeys_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    struct burrow_config cfg;
    struct hostkeys hk;
    (void)argv;
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            printf("usage: burrowctl [-c FILE] hostkeys\n");
            return EXIT_OK;
        }
        return cli_err(EXIT_USAGE, "hostkeys takes no arguments");
    }
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    if (hostkeys_load(&hk, cfg.ssh.host_key_dir, 0) != 0)
        return cli_err(EXIT_RUNTIME, "cannot read the host keys in %s", cfg.ssh.host_key_dir);
    int any = 0;
    for (int i = 0; i < HOSTKEYS_N; i++)
        any |= hk.k[i].key != NULL;
    if (!any) {
        hostkeys_free(&hk);
        return cli_err(EXIT_RUNTIME, "no host keys in %s (burrowd generates them at first start)",
                       cfg.ssh.host_key_dir);
    }
    hostkeys_print(&hk, cfg.ssh.host_key_dir, stdout);
    hostkeys_free(&hk);
    return EXIT_OK;
}
