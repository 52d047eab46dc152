/*
 * broker/control.h - burrowd's control socket (run_dir/control.sock, 0600).
 *
 * Owns: the tiny line protocol burrowctl uses to reach a running daemon.
 * One request line per connection, answered with text lines and a final
 * "ok" or "error <text>" line:
 *   vm list          one line per VM: "<id> <user> <state> <pid> <sessions>"
 *   vm kill <user|id> stop that VM now; its user's sessions get a clear message
 *   status           "vms <n> backend <name>"
 * Requests are bounded (CONTROL_LINE_MAX) and parsed as hostile input even
 * though only root can connect.
 */
#ifndef BURROW_BROKER_CONTROL_H
#define BURROW_BROKER_CONTROL_H

#include "broker/config.h"
#include "broker/vmmgr.h"

#define CONTROL_CLIENTS  8
#define CONTROL_LINE_MAX 256

struct control {
    int lfd;
    struct vmmgr *vm;
    char path[CONFIG_PATH_MAX + 32];
};

__attribute__((warn_unused_result)) int
control_open(struct control *c, const struct burrow_config *cfg, struct vmmgr *vm);
void control_close(struct control *c);
unsigned control_pollfds(const struct control *c, int *fds, unsigned max);
void control_event(struct control *c, int fd);

/* Client side (burrowctl): send one request, copy the answer to out. */
__attribute__((warn_unused_result)) int control_request(const char *run_dir, const char *req,
                                                        char *out, size_t outsz);

#endif /* BURROW_BROKER_CONTROL_H */
