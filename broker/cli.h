/*
 * broker/cli.h - conventions shared by burrowd and burrowctl commands.
 *
 * Exit codes for every command: 0 success, 1 runtime failure, 2 usage or
 * validation error. Errors are one clear line on stderr ("burrowctl: ...").
 */
#ifndef BURROW_BROKER_CLI_H
#define BURROW_BROKER_CLI_H

#include <stddef.h>

#define EXIT_OK      0
#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

#define BURROW_DEFAULT_CONFIG "/etc/burrow/burrow.ini"

/* Print "<prog>: <message>\n" to stderr and return code (for `return cli_err(...)`). */
int cli_err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * An unknown (sub)command: "<prog>: unknown <group> command '<got>'; commands:
 * a, b, c" (one line; got is clipped) and EXIT_USAGE. group "" for the top level.
 */
int cli_unknown(const char *group, const char *got, const char *const *names, size_t n);
/* Program name used in messages. */
void cli_set_prog(const char *prog);
const char *cli_prog(void);

#endif /* BURROW_BROKER_CLI_H */
