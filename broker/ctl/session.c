/*
 * broker/ctl/session.c - `burrowctl session list [--user U] [--json]` and
 * `burrowctl session kill ID`: the SSH connections burrowd serves (control
 * requests "session list" / "session kill ID", broker/master/master_ctl.c). A
 * killed session's user sees "your session was ended by an administrator"
 * on every channel, then the connection closes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/cli.h"
#include "broker/master/control.h"
#include "broker/ctl/ctl.h"
#include "broker/json.h"
#include "broker/users/userdb.h"

static const char session_usage[] =
    "usage: burrowctl session list [--user USER] [--json] | kill ID";

/* One "session list" answer line, split. */
struct sline {
    char id[16], state[24], user[USERDB_NAME_MAX + 1], from[64], method[16], vm[48];
    int pid;
    unsigned port, channels;
    long long started;
};

static int parse_line(const char *line, struct sline *s)
{
    return sscanf(line, "%15s %d %23s %64s %63s %u %15s %47s %lld %u", s->id, &s->pid, s->state,
                  s->user, s->from, &s->port, s->method, s->vm, &s->started, &s->channels) == 10
               ? 0
               : -1;
}

static void json_opt(struct json *j, const char *k, const char *v)
{
    json_key(j, k);
    if (strcmp(v, "-") == 0)
        json_null(j);
    else
        json_str(j, v);
}

static void print_one(const struct sline *s, int json, int first)
{
    if (json) {
        char buf[1024];
        struct json j;
        json_init(&j, buf, sizeof(buf));
        json_obj_begin(&j);
        json_kv_str(&j, "id", s->id);
        json_kv_i64(&j, "pid", s->pid);
        json_kv_str(&j, "state", s->state);
        json_opt(&j, "user", s->user);
        json_kv_str(&j, "from", s->from);
        json_kv_u64(&j, "port", s->port);
        json_opt(&j, "method", s->method);
        json_opt(&j, "vm", s->vm);
        json_kv_i64(&j, "started", s->started);
        json_kv_u64(&j, "channels", s->channels);
        json_obj_end(&j);
        printf("%s%s", first ? "" : ",", json_text(&j) ? json_text(&j) : "{}");
        return;
    }
    char when[32];
    time_t t = (time_t)s->started;
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
    printf("%-12s %-16s %-14s %-20s %-9s %-12s %-19s %8u\n", s->id, s->user, s->state, s->from,
           s->method, s->vm, when, s->channels);
}

static int cmd_list(const struct burrow_config *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"user", required_argument, NULL, 'u'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    const char *user = NULL;
    int json = 0, opt;
    optind = 0;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'u' && userdb_name_check(optarg, NULL) == 0)
            user = optarg;
        else if (opt == 'j')
            json = 1;
        else
            return cli_err(EXIT_USAGE, "%s", session_usage);
    }
    if (optind != argc)
        return cli_err(EXIT_USAGE, "%s", session_usage);
    char *ans;
    int rc = ctl_daemon_request(cfg, "session list", &ans);
    if (rc != EXIT_OK)
        return rc;
    if (!control_answer_ok(ans)) {
        free(ans);
        return cli_err(EXIT_RUNTIME, "burrowd did not answer the session list request");
    }
    if (json)
        printf("[");
    else
        printf("%-12s %-16s %-14s %-20s %-9s %-12s %-19s %8s\n", "ID", "USER", "STATE", "FROM",
               "METHOD", "VM", "STARTED", "CHANNELS");
    int first = 1;
    for (char *line = strtok(ans, "\n"); line; line = strtok(NULL, "\n")) {
        struct sline s;
        if (parse_line(line, &s) != 0 || (user && strcmp(s.user, user) != 0))
            continue;
        print_one(&s, json, first);
        first = 0;
    }
    if (json)
        printf("]\n");
    free(ans);
    return EXIT_OK;
}

static int cmd_kill(const struct burrow_config *cfg, const char *id)
{
    char req[64], *ans;
    if (strlen(id) != 12 || strspn(id, "0123456789abcdef") != 12)
        return cli_err(EXIT_USAGE,
                       "'%.40s' is not a session id (12 hex digits: burrowctl "
                       "session list)",
                       id);
    snprintf(req, sizeof(req), "session kill %s", id);
    int rc = ctl_daemon_request(cfg, req, &ans);
    if (rc != EXIT_OK)
        return rc;
    rc = control_answer_ok(ans) ? EXIT_OK : cli_err(EXIT_RUNTIME, "no session %s", id);
    free(ans);
    if (rc == EXIT_OK)
        printf("ended session %s\n", id);
    return rc;
}

int ctl_session_main(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const char *const cmds[] = {"list", "kill"};
    struct burrow_config cfg;
    if (argc < 2)
        return cli_err(EXIT_USAGE, "%s", session_usage);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("%s\n", session_usage);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "kill") != 0)
        return cli_unknown("session", argv[1], cmds, 2);
    if (strcmp(argv[1], "kill") == 0 && argc != 3)
        return cli_err(EXIT_USAGE, "%s", session_usage);
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    if (strcmp(argv[1], "list") == 0)
        return cmd_list(&cfg, argc - 1, argv + 1);
    return cmd_kill(&cfg, argv[2]);
}
