/* broker/cli.c - one-line errors and exit codes for the command-line tools. */
#include "broker/cli.h"

#include <stdarg.h>
#include <stdio.h>

static const char *prog = "burrow";

void cli_set_prog(const char *p)
{
    prog = p;
}

const char *cli_prog(void)
{
    return prog;
}

int cli_err(int code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

int cli_unknown(const char *group, const char *got, const char *const *names, size_t n)
{
    fprintf(stderr, "%s: unknown %s%scommand '%.40s'; commands:", prog, group, group[0] ? " " : "",
            got);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s %s", i ? "," : "", names[i]);
    fputc('\n', stderr);
    return EXIT_USAGE;
}
