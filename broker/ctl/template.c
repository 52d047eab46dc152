/* broker/ctl/template.c - `burrowctl template`. Placeholder until its issue lands. */
#include "broker/cli.h"
#include "broker/ctl/ctl.h"

int ctl_template_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    (void)argc;
    (void)argv;
    return cli_err(EXIT_RUNTIME, "'template' is not available in this build yet");
}
