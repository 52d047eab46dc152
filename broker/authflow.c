/* broker/authflow.c - [auth] methods and the TOTP step (see authflow.h). */
#include "broker/authflow.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/errmsg.h"

static const struct {
    const char *name;
    enum af_method m;
} names[] = {
    {"publickey", AF_PUBLICKEY},
    {"password", AF_PASSWORD},
    {"keyboard-interactive", AF_KBDINT},
};

static int method_of(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].name) == n && memcmp(names[i].name, s, n) == 0)
            return (int)names[i].m;
    return 0;
}

/* One chain "a,b,c" of n bytes into p's next slot. */
static int parse_chain(const char *s, size_t n, struct af_policy *p, char *why, size_t whysz)
{
    unsigned k = p->n, len = 0;
    for (const char *e = s + n; s < e;) {
        size_t m = strcspn(s, ",");
        if (m > (size_t)(e - s))
            m = (size_t)(e - s);
        int meth = method_of(s, m);
        if (!meth)
            return errmsg(why, whysz, BURROW_ERR_FORMAT,
                          "'%.*s' is not publickey, password or keyboard-interactive",
                          (int)(m > 40 ? 40 : m), s);
        if (len == AF_CHAIN_LEN_MAX)
            return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "more than %d methods in a chain",
                          AF_CHAIN_LEN_MAX);
        p->m[k][len++] = (uint8_t)meth;
        s += m;
        if (s < e && *s == ',' && ++s == e)
            return errmsg(why, whysz, BURROW_ERR_FORMAT, "a chain ends with ','");
    }
    if (len == 0)
        return errmsg(why, whysz, BURROW_ERR_FORMAT, "an empty chain");
    p->len[k] = (uint8_t)len;
    p->n++;
    return 0;
}

int authflow_parse(const char *text, struct af_policy *p, char *why, size_t whysz)
{
    int pw = p->password_auth;
    memset(p, 0, sizeof(*p));
    p->password_auth = pw;
    if (strcmp(text, "any") == 0) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            p->m[i][0] = (uint8_t)names[i].m;
            p->len[i] = 1;
        }
        p->n = sizeof(names) / sizeof(names[0]);
        return 0;
    }
    for (const char *s = text + strspn(text, " \t"); *s; s += strspn(s, " \t")) {
        size_t n = strcspn(s, " \t");
        if (p->n == AF_CHAINS_MAX)
            return errmsg(why, whysz, BURROW_ERR_TOO_LARGE, "more than %d chains", AF_CHAINS_MAX);
        int r = parse_chain(s, n, p, why, whysz);
        if (r)
            return r;
        s += n;
    }
    if (p->n == 0)
        return errmsg(why, whysz, BURROW_ERR_FORMAT, "no method");
    return 0;
}

/* Does chain k start with the methods done (its first `upto` of them)? */
static int chain_starts_with(const struct af_policy *p, unsigned k, const struct af_state *st,
                             unsigned upto)
{
    if (p->len[k] < upto)
        return 0;
    return memcmp(p->m[k], st->done, upto) == 0;
}

/* A chain the methods done begin with (the TOTP step may follow it). */
static int chain_done(const struct af_policy *p, const struct af_state *st)
{
    for (unsigned k = 0; k < p->n; k++)
        if (p->len[k] <= st->n_done && chain_starts_with(p, k, st, p->len[k]))
            return 1;
    return 0;
}

int authflow_kbdint_wants_code(const struct af_state *st)
{
    return st->n_done > 0 && st->totp_required && !st->totp_done;
}

int authflow_complete(const struct af_policy *p, const struct af_state *st)
{
    return chain_done(p, st) && (!st->totp_required || st->totp_done);
}

unsigned authflow_next(const struct af_policy *p, const struct af_state *st)
{
    unsigned next = 0;
    if (authflow_complete(p, st))
        return 0;
    if (chain_done(p, st)) {
        next = AF_KBDINT; /* only the code is missing */
    } else {
        for (unsigned k = 0; k < p->n; k++)
            if (p->len[k] > st->n_done && chain_starts_with(p, k, st, st->n_done))
                next |= p->m[k][st->n_done];
    }
    if (!p->password_auth)
        next &= ~(unsigned)AF_PASSWORD;
    if (!p->password_auth && !authflow_kbdint_wants_code(st))
        next &= ~(unsigned)AF_KBDINT;
    return next;
}

int authflow_record(struct af_state *st, enum af_method m, int totp)
{
    if (st->n_done >= sizeof(st->done))
        return -1;
    st->done[st->n_done++] = (uint8_t)m;
    if (totp)
        st->totp_done = 1;
    return 0;
}

void authflow_names(unsigned mask, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(mask & names[i].m))
            continue;
        int n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "", names[i].name);
        if (n < 0 || (size_t)n >= outsz - used)
            return;
        used += (size_t)n;
    }
}

int authflow_mask(const char *list)
{
    int mask = 0;
    for (const char *s = list; *s;) {
        size_t n = strcspn(s, ",");
        int m = method_of(s, n);
        if (!m)
            return -1;
        mask |= m;
        s += n;
        if (*s == ',')
            s++;
    }
    return mask;
}
