/*
 * broker/cluster/etcd.h - a small etcd v3 client over the gRPC-gateway's
 * JSON API (POST /v3/kv/range, /v3/kv/txn, /v3/kv/deleterange,
 * /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke) with libcurl.
 *
 * Owns: talking to etcd (endpoint fail-over, TLS with a CA and a client
 * certificate, a timeout on every call) and parsing its answers. Answers
 * are hostile input (another host may have written any value, a member may
 * be buggy): bodies are capped at ETCD_BODY_MAX, parsed with json-c, keys
 * and values base64-decoded with their lengths bounded, int64 fields
 * (etcd sends them as decimal strings) parsed strictly.
 *
 * Why JSON over HTTP and not gRPC: Debian 12 packages no maintained C gRPC
 * client for etcd, and the gateway is part of every etcd 3.4 server; one
 * request per call is enough at Burrow's rates (a few per second per host).
 *
 * Blocking: every call waits up to the handle's timeout. Only processes
 * that may block call this (the cluster process, burrowctl, starters),
 * never burrowd's master loop.
 */
#ifndef BURROW_BROKER_CLUSTER_ETCD_H
#define BURROW_BROKER_CLUSTER_ETCD_H

#include <stddef.h>
#include <stdint.h>

#define ETCD_ENDPOINTS_MAX 8
#define ETCD_URL_MAX       256
#define ETCD_KEY_MAX       512        /* bytes of a key */
#define ETCD_VALUE_MAX     (1u << 20) /* bytes of a value we accept */
#define ETCD_BODY_MAX      (16u << 20)
#define ETCD_KVS_MAX       200000 /* key-values in one range answer */
#define ETCD_TXN_MAX       8      /* keys in one create transaction */

struct etcd_tls {
    const char *ca;   /* CA file that signed the members' certificates; NULL: system */
    const char *cert; /* client certificate and key (client-cert-auth); NULL: none */
    const char *key;
};

struct etcd {
    char url[ETCD_ENDPOINTS_MAX][ETCD_URL_MAX];
    unsigned n, cur; /* endpoints; the one that answered last */
    long timeout_ms; /* per call, connection included */
    char ca[ETCD_URL_MAX], cert[ETCD_URL_MAX], key[ETCD_URL_MAX];
    void *curl;      /* CURL *, reused: keeps connections */
    char err[512];   /* the last failure, for messages */
    int all_refused; /* the last call: every endpoint refused the connection */
};

struct etcd_kv {
    char *key; /* NUL-terminated (keys with a NUL are refused) */
    size_t key_len;
    char *value; /* NUL-terminated copy; value_len excludes the NUL */
    size_t value_len;
    int64_t lease;
    int64_t create_rev, mod_rev;
};

struct etcd_kvs {
    struct etcd_kv *v;
    size_t n;
    int64_t revision; /* the store's revision when it answered */
};

/* endpoints: space-separated http:// or https:// URLs (at most 8). */
__attribute__((warn_unused_result)) int etcd_open(struct etcd *e, const char *endpoints,
                                                  const struct etcd_tls *tls, long timeout_ms);
void etcd_close(struct etcd *e);

/* One key (out->n is 0 or 1), or every key starting with prefix. */
__attribute__((warn_unused_result)) int etcd_get(struct etcd *e, const char *key,
                                                 struct etcd_kvs *out);
__attribute__((warn_unused_result)) int etcd_get_prefix(struct etcd *e, const char *prefix,
                                                        struct etcd_kvs *out);
void etcd_kvs_free(struct etcd_kvs *k);

/* Put (lease 0: none). */
__attribute__((warn_unused_result)) int etcd_put(struct etcd *e, const char *key, const void *val,
                                                 size_t len, int64_t lease);
/*
 * A transaction that wins only if none of keys[0..n) exists: then it puts
 * them all (under lease, 0: none) and returns 0. If any exists it changes
 * nothing and returns BURROW_ERR_EXISTS; *existing (if not NULL) then holds
 * keys[0]'s current key-value (n may be 0 if only another key existed).
 */
__attribute__((warn_unused_result)) int etcd_create(struct etcd *e, unsigned n,
                                                    const char *const *keys,
                                                    const char *const *vals, int64_t lease,
                                                    struct etcd_kvs *existing);
/* Delete key if its value is exactly val (compare-and-delete): 0, or
 * BURROW_ERR_NOT_FOUND when it is absent or holds something else. */
__attribute__((warn_unused_result)) int etcd_delete_if(struct etcd *e, const char *key,
                                                       const char *val);
/* Delete key (prefix = 1: every key starting with it). */
__attribute__((warn_unused_result)) int etcd_delete(struct etcd *e, const char *key, int prefix);

/* Leases. keepalive: *ttl is the remaining TTL, 0 when the lease is gone. */
__attribute__((warn_unused_result)) int etcd_lease_grant(struct etcd *e, int ttl, int64_t *id);
__attribute__((warn_unused_result)) int etcd_lease_keepalive(struct etcd *e, int64_t id, int *ttl);
__attribute__((warn_unused_result)) int etcd_lease_revoke(struct etcd *e, int64_t id);

/* The last call failed because every member refused the connection (no etcd runs). */
static inline int etcd_all_refused(const struct etcd *e)
{
    return e->all_refused;
}

/* Parsers, exported for the unit tests (and the fuzzer): body is an answer. */
__attribute__((warn_unused_result)) int etcd_parse_kvs(const char *body, size_t len,
                                                       struct etcd_kvs *out);
__attribute__((warn_unused_result)) int etcd_parse_int64(const char *s, int64_t *out);

#endif /* BURROW_BROKER_CLUSTER_ETCD_H */
