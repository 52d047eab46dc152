/* broker/burrowd.c - burrowd entry point. Placeholder until the broker issue lands. */
#include "broker/cli.h"

int main(void)
{
    cli_set_prog("burrowd");
    return cli_err(EXIT_RUNTIME, "the SSH front end is not available in this build yet");
}
