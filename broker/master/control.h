/*
 * broker/master/control.h - burrowd's control socket (run_dir/control.sock, 0600).
 *
 * Owns: the transport of the tiny line protocol burrowctl uses to reach a
 * running daemon: one request line per connection (at most
 * CONTROL_LINE_MAX bytes, read with a deadline), the peer's credentials
 * (SO_PEERCRED, for the audit log), and the answer - text lines ending
 * with "ok" or "error <text>" - written back with a deadline. What the
 * requests mean is the master's (broker/master/master_ctl.c):
 *   vm list             one line per VM: "<id> <user> <state> <pid> <sessions>"
 *   vm kill <user|id>   stop that VM now; its user's sessions get a clear message
 *   vm hibernate <user|id>   save that VM to disk in the background (kvm; "error
 *                       unknown vm ..." when it is not burrowd's)
 *   session list        one line per SSH connection (see master_ctl.c)
 *   session kill <id>   end that connection; the user is told
 *   status              "key value" lines (see master_ctl.c)
 *   admin <action> <target> <ok|failed>   burrowctl reports a command for the audit log
 * Requests are parsed as hostile input even though only root can connect.
 */
#ifndef BURROW_BROKER_CONTROL_H
#define BURROW_BROKER_CONTROL_H

#include <stdio.h>
#include <sys/socket.h>

#include "broker/config.h"

#define CONTROL_CLIENTS    8
#define CONTROL_LINE_MAX   256
#define CONTROL_ANSWER_MAX (4u << 20) /* the longest answer a client reads */

/* Answer one request line (NUL-terminated, no newline) by writing to out. */
typedef void (*control_handler_fn)(void *ctx, const char *line, const struct ucred *who, FILE *out);

struct control {
    int lfd;
    control_handler_fn handle;
    void *ctx;
    char path[CONFIG_PATH_MAX + 32];
};

__attribute__((warn_unused_result)) int control_open(struct control *c,
                                                     const struct burrow_config *cfg,
                                                     control_handler_fn handle, void *ctx);
void control_close(struct control *c);
unsigned control_pollfds(const struct control *c, int *fds, unsigned max);
void control_event(struct control *c, int fd);

/* Client side (burrowctl): send one request, copy the answer to out (truncated to fit). */
__attribute__((warn_unused_result)) int control_request(const char *run_dir, const char *req,
                                                        char *out, size_t outsz);
/*
 * The same with the whole answer in a malloc'd string (*out, at most
 * CONTROL_ANSWER_MAX bytes). BURROW_ERR_NOT_FOUND: no daemon is listening.
 */
__attribute__((warn_unused_result)) int control_request_alloc(const char *run_dir, const char *req,
                                                              char **out);
/* The answer's last line is "ok". */
int control_answer_ok(const char *ans);

#endif /* BURROW_BROKER_CONTROL_H */
