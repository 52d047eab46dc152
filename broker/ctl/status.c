/*
 * broker/ctl/status.c - `burrowctl status [--json]`: what the running
 * burrowd says of itself (control request "status": "key value" lines, see
 * broker/master/master_ctl.c): backend, uptime, listeners, VMs by state,
 * sessions, memory, KSM, template builds in use, followed by the memory
 * section burrowctl reads itself (status_mem.c: balloons, KSM's page
 * counters, [vm] ksm). Without burrowd that section still prints (after
 * "burrowd: not-running"; exit 1). Text is "key: value" per
 * line; --json one object: numbers as numbers, "listeners" and
 * "templates" as arrays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cli.h"
#include "broker/master/control.h"
#include "broker/ctl/ctl.h"
#include "broker/json.h"

#define STATUS_JSON_MAX (64u * 1024)

static int all_digits(const char *s)
{
    return s[0] && strspn(s, "0123456789") == strlen(s) && strlen(s) < 20;
}

/* "template BUILD N" lines become {"build":..,"vms":N}; "listener X" lines strings. */
static void json_array_of(struct json *j, char *text, const char *key, const char *name)
{
    size_t klen = strlen(key);
    json_key(j, name);
    json_arr_begin(j);
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ') {
            char *v = line + klen + 1, *sp = strrchr(v, ' ');
            if (strcmp(key, "template") == 0 && sp && all_digits(sp + 1)) {
                *sp = 0;
                json_obj_begin(j);
                json_kv_str(j, "build", v);
                json_kv_u64(j, "vms", strtoull(sp + 1, NULL, 10));
                json_obj_end(j);
                *sp = ' ';
            } else {
                json_str(j, v);
            }
        }
        if (nl)
            *nl = '\n';
        line = nl ? nl + 1 : NULL;
    }
    json_arr_end(j);
}

static int print_json(char *ans)
{
    static char out[STATUS_JSON_MAX];
    struct json j;
    json_init(&j, out, sizeof(out));
    json_obj_begin(&j);
    for (char *line = ans; line && *line;) {
        char *nl = strchr(line, '\n'), *sp;
        if (nl)
            *nl = 0;
        sp = strchr(line, ' ');
        if (sp && strncmp(line, "listener ", 9) != 0 && strncmp(line, "template ", 9) != 0) {
            *sp = 0;
            json_key(&j, line);
            if (all_digits(sp + 1))
                json_u64(&j, strtoull(sp + 1, NULL, 10));
            else
                json_str(&j, sp + 1);
            *sp = ' ';
        }
        if (nl)
            *nl = '\n';
        line = nl ? nl + 1 : NULL;
    }
    json_array_of(&j, ans, "listener", "listeners");
    json_array_of(&j, ans, "template", "templates");
    json_obj_end(&j);
    if (!json_text(&j))
        return cli_err(EXIT_RUNTIME, "burrowd's status does not fit in %u bytes", STATUS_JSON_MAX);
    puts(out);
    return EXIT_OK;
}

static int print_text(char *ans)
{
    for (char *line = ans; line && *line;) {
        char *nl = strchr(line, '\n'), *sp;
        if (nl)
            *nl = 0;
        if ((sp = strchr(line, ' ')))
            printf("%.*s: %s\n", (int)(sp - line), line, sp + 1);
        line = nl ? nl + 1 : NULL;
    }
    return EXIT_OK;
}

/* Does the "key value" text hold a line for key (the first word of line)? */
static int has_key(const char *text, const char *line)
{
    size_t k = strcspn(line, " \n");
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, k) == 0 && p[k] == ' ')
            return 1;
    return 0;
}

/*
 * burrowd's answer (NULL: none) followed by the lines of the memory section
 * (status_mem.c: balloons, KSM's page counters, [vm] ksm) that it lacks.
 */
static char *with_memory_section(const struct burrow_config *cfg, const char *daemon)
{
    char *local = NULL, *out = NULL;
    size_t llen = 0, olen = 0;
    FILE *m = open_memstream(&local, &llen);
    if (!m)
        return NULL;
    int r = ctl_status_memory(cfg, m);
    fclose(m);
    FILE *o = open_memstream(&out, &olen);
    if (!o) {
        free(local);
        return NULL;
    }
    fputs(daemon ? daemon : "burrowd not-running\n", o);
    for (char *line = r ? NULL : strtok(local, "\n"); line; line = strtok(NULL, "\n"))
        if (!daemon || !has_key(daemon, line))
            fprintf(o, "%s\n", line);
    fclose(o);
    free(local);
    return out;
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
    /* Without burrowd (said on stderr, exit 1) the host's own figures still print. */
    char *ans = NULL;
    if ((rc = ctl_daemon_request(&cfg, "status", &ans)) == EXIT_OK && !control_answer_ok(ans)) {
        free(ans);
        return cli_err(EXIT_RUNTIME, "burrowd did not answer the status request");
    }
    if (ans)
        ans[strlen(ans) - 3] = 0; /* the closing "ok" */
    char *text = with_memory_section(&cfg, rc == EXIT_OK ? ans : NULL);
    free(ans);
    if (!text)
        return cli_err(EXIT_RUNTIME, "out of memory");
    int prc = json ? print_json(text) : print_text(text);
    free(text);
    return rc != EXIT_OK ? rc : prc;
}
