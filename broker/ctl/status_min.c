/*
 * broker/ctl/status_min.c - `burrowctl status [--json]` until the
 * operations work's daemon-backed status (burrowd's own state, listeners,
 * sessions) is in this tree: the memory and KSM section only
 * (status_mem.c), computed here with or without burrowd. Text is
 * "key: value" per line; --json one object, numbers as numbers. When the
 * full `status` lands, its output takes this section and this file goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"

static int is_number(const char *s)
{
    return s[0] && strspn(s, "0123456789") == strlen(s) && strlen(s) < 20;
}

static void print(char *text, int json)
{
    int first = 1;
    if (json)
        putchar('{');
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *val = strchr(line, ' ');
        if (!val)
            continue;
        *val++ = '\0';
        if (!json)
            printf("%s: %s\n", line, val);
        else if (is_number(val))
            printf("%s\"%s\":%s", first ? "" : ",", line, val);
        else
            printf("%s\"%s\":\"%s\"", first ? "" : ",", line, val); /* our own words: no escaping */
        first = 0;
    }
    if (json)
        printf("}\n");
}

int ctl_status_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    int json = argc == 2 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !json))
        return cli_err(EXIT_USAGE, "usage: burrowctl status [--json]");
    struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return cli_err(EXIT_RUNTIME, "out of memory");
    int r = ctl_status_memory(&cfg, mem);
    fclose(mem);
    if (r) {
        free(text);
        return cli_err(EXIT_RUNTIME, "cannot read %s/vm", cfg.paths.run_dir);
    }
    print(text, json);
    free(text);
    return EXIT_OK;
}
