/* broker/ctl/hostkeys.c - `burrowctl hostkeys`. Placeholder until its issue lands. */
#include "broker/cli.h"
#include "broker/ctl/ctl.h"

int ctl_hostkeys_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    return cli_err(EXIT_RUNTIME, "'hostkeys' is not available in this build yet");
}
