/* broker/master/penalty.c - MaxStartups random early drop and per-source penalties. */
#include "broker/master/penalty.h"

#include <netinet/in.h>
#include <string.h>

int penalty_startups_drop(const struct config_startups *ms, unsigned unauth, unsigned rnd)
{
    if (ms->full == 0 || unauth < ms->start)
        return 0;
    if (unauth >= ms->full)
        return 1;
    /* OpenSSH: rate% at `start`, rising linearly to 100% at `full`. */
    unsigned span = ms->full - ms->start;
    unsigned p = ms->rate + (100 - ms->rate) * (unauth - ms->start) / (span ? span : 1);
    return rnd % 100 < p;
}

static void key_of(const struct sockaddr_storage *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const void *)sa;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &s4->sin_addr, 4);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            memcpy(key, &s6->sin6_addr, 16);
        else
            memcpy(key, &s6->sin6_addr, 8); /* a /64 is one source */
    }
}

static struct penalty_entry *find(struct penalty *p, const uint8_t key[16], long now, int create)
{
    struct penalty_entry *free_e = NULL, *oldest = &p->e[0];
    for (int i = 0; i < PENALTY_TABLE; i++) {
        struct penalty_entry *e = &p->e[i];
        if (e->strikes && now - e->last > PENALTY_FORGET_S)
            e->strikes = 0;
        if (e->strikes && memcmp(e->key, key, 16) == 0)
            return e;
        if (!e->strikes && !free_e)
            free_e = e;
        if (e->last < oldest->last)
            oldest = e;
    }
    if (!create)
        return NULL;
    struct penalty_entry *e = free_e ? free_e : oldest;
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, 16);
    return e;
}

long penalty_refused(struct penalty *p, const struct sockaddr_storage *sa, long now)
{
    uint8_t key[16];
    key_of(sa, key);
    struct penalty_entry *e = find(p, key, now, 0);
    return e && e->until > now ? e->until - now : 0;
}

long penalty_strike(struct penalty *p, const struct sockaddr_storage *sa, long now)
{
    uint8_t key[16];
    key_of(sa, key);
    struct penalty_entry *e = find(p, key, now, 1);
    e->strikes++;
    e->last = now;
    if (e->strikes >= PENALTY_STRIKES) {
        unsigned shift = e->strikes - PENALTY_STRIKES;
        long secs = shift > 5 ? PENALTY_MAX_S : (long)PENALTY_BASE_S << shift;
        e->until = now + (secs > PENALTY_MAX_S ? PENALTY_MAX_S : secs);
        return e->until - now;
    }
    return 0;
}

void penalty_clear(struct penalty *p, const struct sockaddr_storage *sa)
{
    uint8_t key[16];
    key_of(sa, key);
    struct penalty_entry *e = find(p, key, 0, 0);
    if (e)
        memset(e, 0, sizeof(*e));
}
