/*
 * broker/master/audit.h - the audit log: one JSON object per line (docs/audit.md).
 *
 * Owns: the audit file ([audit] file, opened O_APPEND so each line is one
 * write and lines from burrowd and burrowctl never interleave; reopened
 * on SIGHUP for log rotation), the optional copy of each line to the
 * systemd journal ([audit] journald, the native protocol, no libsystemd),
 * and the frame every record has: "ts" (UTC, milliseconds), "event",
 * "writer". What each event carries is the caller's (master_events.c).
 */
#ifndef BURROW_BROKER_AUDIT_H
#define BURROW_BROKER_AUDIT_H

#include <sys/socket.h>

#include "broker/config.h"
#include "broker/json.h"

#define AUDIT_LINE_MAX       8192
#define AUDIT_TEXT_MAX       1024 /* longest free-text value (a command) kept */
#define AUDIT_JOURNAL_SOCKET "/run/systemd/journal/socket"

struct audit {
    int fd; /* -1: no file */
    char path[CONFIG_PATH_MAX];
    int jfd; /* -1: no journal */
    char journal_socket[CONFIG_UNIX_PATH_MAX];
    const char *writer; /* "burrowd" or "burrowctl" */
    unsigned long errors;
};

/* One record being built: add members with the json_kv_* calls on r->j. */
struct audit_rec {
    struct json j;
    char event[32];
    char buf[AUDIT_LINE_MAX];
};

/*
 * Open what cfg asks for ([audit] file: created 0640, its directory 0750 if
 * missing). journal_socket NULL = the systemd default. 0, or a negative
 * code with the reason in err (the file's path named).
 */
__attribute__((warn_unused_result)) int audit_open(struct audit *a, const struct burrow_config *cfg,
                                                   const char *writer, const char *journal_socket,
                                                   char *err, size_t errsz);
/* SIGHUP: close and open again (the file may have been rotated, cfg may name another). */
__attribute__((warn_unused_result)) int
audit_reopen(struct audit *a, const struct burrow_config *cfg, char *err, size_t errsz);
void audit_close(struct audit *a);
/* 1 if records go anywhere. */
int audit_enabled(const struct audit *a);

/* Start a record: {"ts":"...","event":"<event>","writer":"..." */
void audit_begin(const struct audit *a, struct audit_rec *r, const char *event);
/* Close it and write it (file and journal). 0, or BURROW_ERR_SYSTEM (a->errors counted). */
int audit_commit(struct audit *a, struct audit_rec *r);

/*
 * An "admin" record: an administrator's command (action like "user.add",
 * its target, "ok" or "failed"), how it came (via "control" or
 * "burrowctl") and who ran it (uid, pid; who NULL = unknown).
 */
int audit_admin(struct audit *a, const char *action, const char *target, const char *result,
                const char *via, const struct ucred *who);

#endif /* BURROW_BROKER_AUDIT_H */
