/*
 * broker/master/penalty.h - admission control for new connections in the master.
 *
 * Owns: MaxStartups-style random early drop (OpenSSH start:rate:full over
 * the number of connections that have not authenticated yet) and
 * per-source penalties: a source (an IPv4 address, or an IPv6 /64) whose
 * connections keep ending without a login after failed attempts is refused
 * for a while, the time doubling with each further offence.
 *
 *   strikes:  each connection that ends unauthenticated after >= 1 failed
 *             attempt adds one; a login from the source clears them.
 *   penalty:  from PENALTY_STRIKES strikes on, the source is refused for
 *             PENALTY_BASE_S << (strikes - PENALTY_STRIKES) seconds, at most
 *             PENALTY_MAX_S. Entries expire PENALTY_FORGET_S after the last.
 */
#ifndef BURROW_BROKER_PENALTY_H
#define BURROW_BROKER_PENALTY_H

#include <stdint.h>
#include <sys/socket.h>

#include "broker/config.h"

#define PENALTY_STRIKES  3
#define PENALTY_BASE_S   30
#define PENALTY_MAX_S    600
#define PENALTY_FORGET_S 3600
#define PENALTY_TABLE    1024

struct penalty_entry {
    uint8_t key[16]; /* v4-mapped address or IPv6 /64 */
    unsigned strikes;
    long last;  /* monotonic seconds of the last strike */
    long until; /* refused before this time */
};

struct penalty {
    struct penalty_entry e[PENALTY_TABLE];
};

/* 1 if a new connection should be dropped given `unauth` pending ones. */
int penalty_startups_drop(const struct config_startups *ms, unsigned unauth, unsigned rnd);
/* Seconds the source is still refused (0 = allowed). */
long penalty_refused(struct penalty *p, const struct sockaddr_storage *sa, long now);
/* A connection from sa ended unauthenticated after failures: the penalty it
 * started, in seconds (0 when the source is not refused yet). */
long penalty_strike(struct penalty *p, const struct sockaddr_storage *sa, long now);
/* A login succeeded from sa. */
void penalty_clear(struct penalty *p, const struct sockaddr_storage *sa);

#endif /* BURROW_BROKER_PENALTY_H */
