/* broker/ctl/user.c - `burrowctl user`. Placeholder until its issue lands. */
#include "broker/cli.h"
#include "broker/ctl/ctl.h"

int ctl_user_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    return cli_err(EXIT_RUNTIME, "'user' is not available in this build yet");
}
