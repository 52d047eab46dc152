/*
 * broker/cluster/etcd.c - etcd v3 over the gRPC-gateway JSON API (etcd.h).
 */
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/cluster/etcd.h"
#include "common/err.h"

/* --- helpers: base64 and int64 -------------------------------------------- */

int etcd_parse_int64(const char *s, int64_t *out)
{
    char *end;
    if (!s || !*s || strlen(s) > 20 || (*s != '-' && (*s < '0' || *s > '9')))
        return BURROW_ERR_FORMAT;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return BURROW_ERR_FORMAT;
    *out = v;
    return 0;
}

static char *b64(const void *data, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *o = malloc(cap);
    if (o)
        sodium_bin2base64(o, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
    return o;
}

/* Decode a base64 field into a NUL-terminated malloc'd copy of at most max bytes. */
static int unb64(const char *in, size_t max, char **out, size_t *len)
{
    size_t inlen = strlen(in);
    if (inlen > (max / 3 + 1) * 4)
        return BURROW_ERR_TOO_LARGE;
    char *o = malloc(inlen / 4 * 3 + 4);
    size_t n = 0;
    if (!o)
        return BURROW_ERR_NOMEM;
    if (sodium_base642bin((unsigned char *)o, inlen / 4 * 3 + 3, in, inlen, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        n > max) {
        free(o);
        return BURROW_ERR_FORMAT;
    }
    o[n] = 0;
    *out = o;
    *len = n;
    return 0;
}

/* --- answers --------------------------------------------------------------- */

static const char *jstr(struct json_object *o, const char *name)
{
    struct json_object *v;
    if (!o || !json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* An int64 field etcd sends as a string; absent means 0 (proto3 default). */
static int jint(struct json_object *o, const char *name, int64_t *out)
{
    struct json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(o, name, &v))
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return 0;
    }
    return etcd_parse_int64(
        json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL, out);
}

static int parse_kv(struct json_object *o, struct etcd_kv *kv)
{
    const char *k = jstr(o, "key"), *v = jstr(o, "value");
    memset(kv, 0, sizeof(*kv));
    if (!k)
        return BURROW_ERR_FORMAT;
    int r = unb64(k, ETCD_KEY_MAX, &kv->key, &kv->key_len);
    if (r == 0 && strlen(kv->key) != kv->key_len)
        r = BURROW_ERR_FORMAT;
    if (r == 0)
        r = unb64(v ? v : "", ETCD_VALUE_MAX, &kv->value, &kv->value_len);
    if (r == 0 && (jint(o, "lease", &kv->lease) || jint(o, "create_revision", &kv->create_rev) ||
                   jint(o, "mod_revision", &kv->mod_rev)))
        r = BURROW_ERR_FORMAT;
    return r;
}

void etcd_kvs_free(struct etcd_kvs *k)
{
    for (size_t i = 0; k->v && i < k->n; i++) {
        free(k->v[i].key);
        free(k->v[i].value);
    }
    free(k->v);
    memset(k, 0, sizeof(*k));
}

/* The "kvs" array of a range answer (o) into out. */
static int kvs_from(struct json_object *o, struct etcd_kvs *out)
{
    struct json_object *arr, *hdr;
    memset(out, 0, sizeof(*out));
    if (json_object_object_get_ex(o, "header", &hdr) && jint(hdr, "revision", &out->revision))
        return BURROW_ERR_FORMAT;
    if (!json_object_object_get_ex(o, "kvs", &arr))
        return 0;
    if (!json_object_is_type(arr, json_type_array))
        return BURROW_ERR_FORMAT;
    size_t n = json_object_array_length(arr);
    if (n > ETCD_KVS_MAX)
        return BURROW_ERR_TOO_LARGE;
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v)
        return BURROW_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int r = parse_kv(json_object_array_get_idx(arr, i), &out->v[i]);
        out->n = i + 1;
        if (r) {
            etcd_kvs_free(out);
            return r;
        }
    }
    return 0;
}

static struct json_object *parse_body(const char *body, size_t len)
{
    if (len > ETCD_BODY_MAX || memchr(body, 0, len))
        return NULL;
    struct json_tokener *t = json_tokener_new_ex(64);
    if (!t)
        return NULL;
    struct json_object *o = json_tokener_parse_ex(t, body, (int)len);
    if (o && (json_tokener_get_error(t) != json_tokener_success ||
              !json_object_is_type(o, json_type_object))) {
        json_object_put(o);
        o = NULL;
    }
    json_tokener_free(t);
    return o;
}

int etcd_parse_kvs(const char *body, size_t len, struct etcd_kvs *out)
{
    struct json_object *o = parse_body(body, len);
    memset(out, 0, sizeof(*out));
    if (!o)
        return BURROW_ERR_FORMAT;
    int r = jstr(o, "error") ? BURROW_ERR_PROTOCOL : kvs_from(o, out);
    json_object_put(o);
    return r;
}

/* --- transport ------------------------------------------------------------- */

struct body {
    char *p;
    size_t n;
    int over;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct body *b = ud;
    size_t n = size * nmemb;
    if (b->n + n > ETCD_BODY_MAX) {
        b->over = 1;
        return 0; /* aborts the transfer */
    }
    char *q = realloc(b->p, b->n + n + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, ptr, n);
    b->p = q;
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

int etcd_open(struct etcd *e, const char *endpoints, const struct etcd_tls *tls, long timeout_ms)
{
    static int global_done;
    memset(e, 0, sizeof(*e));
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || sodium_init() < 0)
            return BURROW_ERR_SYSTEM;
        global_done = 1;
    }
    const char *p = endpoints;
    while (*p) {
        size_t l = strcspn(p, " \t");
        if (l) {
            if (e->n == ETCD_ENDPOINTS_MAX || l >= ETCD_URL_MAX)
                return BURROW_ERR_TOO_LARGE;
            memcpy(e->url[e->n], p, l);
            e->url[e->n][l] = 0;
            if (strncmp(e->url[e->n], "http://", 7) && strncmp(e->url[e->n], "https://", 8))
                return BURROW_ERR_INVALID;
            e->n++;
        }
        p += l;
        p += strspn(p, " \t");
    }
    if (!e->n)
        return BURROW_ERR_INVALID;
    if (tls) {
        snprintf(e->ca, sizeof(e->ca), "%s", tls->ca ? tls->ca : "");
        snprintf(e->cert, sizeof(e->cert), "%s", tls->cert ? tls->cert : "");
        snprintf(e->key, sizeof(e->key), "%s", tls->key ? tls->key : "");
    }
    e->timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    e->curl = curl_easy_init();
    return e->curl ? 0 : BURROW_ERR_NOMEM;
}

void etcd_close(struct etcd *e)
{
    if (e->curl)
        curl_easy_cleanup(e->curl);
    e->curl = NULL;
}

/* A libcurl code that means the TLS layer failed (handshake, certificates, TLS files). */
static int tls_code(CURLcode cr)
{
    switch (cr) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return 1;
    default:
        return 0;
    }
}

/* The connection ended before an answer came (reset, closed, nothing sent back). */
static int dropped_code(CURLcode cr)
{
    return cr == CURLE_SEND_ERROR || cr == CURLE_RECV_ERROR || cr == CURLE_GOT_NOTHING ||
           cr == CURLE_HTTP2 || cr == CURLE_HTTP2_STREAM;
}

/*
 * Why a call failed in libcurl, for e->err: TLS failures say "TLS" and what
 * to check. etcd with --client-cert-auth refuses a missing or foreign client
 * certificate at the end of a TLS 1.3 handshake that the client already
 * thinks complete: its alert ("bad certificate") may be read, or be lost to
 * the reset of the request in flight. So a new connection that finished its
 * handshake and was dropped before any answer is reported as that refusal.
 */
static void curl_failure(struct etcd *e, unsigned ep, CURLcode cr, const char *detail, int over)
{
    const char *url = e->url[ep], *what = detail[0] ? detail : curl_easy_strerror(cr);
    const char *hint = "", *open = "", *close = "";
    int https = strncmp(url, "https://", 8) == 0;
    int cert_alert = strstr(detail, " alert ") &&
                     (strstr(detail, "certificate") || strstr(detail, "unknown ca"));
    curl_off_t handshake_us = 0;
    if (over) {
        snprintf(e->err, sizeof(e->err), "%s: answer too large", url);
        return;
    }
    curl_easy_getinfo(e->curl, CURLINFO_APPCONNECT_TIME_T, &handshake_us);
    if (https && (cert_alert || (handshake_us > 0 && dropped_code(cr)))) {
        if (!cert_alert) {
            open = "closed after the handshake (";
            close = ")";
        }
        hint = e->cert[0] ? " (etcd refuses a client certificate that its --trusted-ca-file "
                            "did not sign: check [cluster] etcd_cert)"
                          : " (etcd --client-cert-auth refuses clients without a certificate: "
                            "set [cluster] etcd_cert and etcd_key)";
    } else if (https && cr == CURLE_PEER_FAILED_VERIFICATION) {
        hint = e->ca[0] ? " (does [cluster] etcd_ca sign the member's certificate, and does that "
                          "name the address in [cluster] etcd?)"
                        : " (set [cluster] etcd_ca to the CA of etcd's certificates)";
    } else if (https && cr == CURLE_SSL_CERTPROBLEM) {
        hint = " (can [cluster] etcd_cert and etcd_key be read, and do they match?)";
    } else if (https && cr == CURLE_SSL_CACERT_BADFILE) {
        hint = " (can [cluster] etcd_ca be read?)";
    } else if (!https && dropped_code(cr)) {
        snprintf(e->err, sizeof(e->err),
                 "%s: %.200s (no answer over plain http: if etcd serves TLS, write https:// in "
                 "[cluster] etcd)",
                 url, what);
        return;
    } else if (!https || !tls_code(cr)) {
        snprintf(e->err, sizeof(e->err), "%s: %.200s", url, what);
        return;
    }
    snprintf(e->err, sizeof(e->err), "%s: TLS: %s%.200s%s%s", url, open, what, close, hint);
}

/* A body that is not JSON (a proxy's error page, not etcd): its first line, printable only. */
static void body_excerpt(const char *p, size_t n, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz && p[i] != '\n'; i++)
        out[o++] = p[i] >= ' ' && p[i] <= '~' ? p[i] : '?';
    out[o] = 0;
}

/* POST a JSON request to one endpoint. 0 with the answer parsed, else an error. */
static int post_one(struct etcd *e, unsigned ep, const char *path, const char *req,
                    struct json_object **ans, int *refused)
{
    CURL *c = e->curl;
    char url[ETCD_URL_MAX + 64];
    struct body b = {0};
    char detail[CURL_ERROR_SIZE] = "";
    long code = 0;
    snprintf(url, sizeof(url), "%s%s", e->url[ep], path);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, e->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->timeout_ms / 2 ? e->timeout_ms / 2 : 1);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    /* HTTP/1.1 over https too (libcurl would offer h2): the same path as http://, and a
     * request that follows a complete handshake, so a refused certificate reads as one. */
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
    /* libcurl's defaults, said here: the member's certificate and its name are always checked. */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (e->ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, e->ca);
    if (e->cert[0]) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, e->key);
    }
    CURLcode cr = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL); /* detail is on this stack */
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    int r = 0;
    if (cr != CURLE_OK) {
        long oserr = 0;
        curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr);
        *refused = cr == CURLE_COULDNT_CONNECT && oserr == ECONNREFUSED;
        curl_failure(e, ep, cr, detail, b.over);
        r = cr == CURLE_OPERATION_TIMEDOUT ? BURROW_ERR_TIMEOUT : BURROW_ERR_CLOSED;
    } else if (!(*ans = parse_body(b.p ? b.p : "", b.n))) {
        char text[100];
        body_excerpt(b.p ? b.p : "", b.n, text, sizeof(text));
        snprintf(e->err, sizeof(e->err), "%s: HTTP %ld, not a JSON object: %s", e->url[ep], code,
                 text);
        r = BURROW_ERR_PROTOCOL;
    } else if (code != 200 || jstr(*ans, "error")) {
        const char *m = jstr(*ans, "message");
        snprintf(e->err, sizeof(e->err), "%s: HTTP %ld: %.160s", e->url[ep], code, m ? m : "error");
        json_object_put(*ans);
        *ans = NULL;
        r = BURROW_ERR_PROTOCOL;
    }
    free(b.p);
    return r;
}

/* POST to the endpoint that answered last, then to the others. */
static int post(struct etcd *e, const char *path, struct json_object *req, struct json_object **ans)
{
    const char *text = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    int r = BURROW_ERR_CLOSED;
    *ans = NULL;
    e->all_refused = text != NULL;
    for (unsigned i = 0; i < e->n && text; i++) {
        unsigned ep = (e->cur + i) % e->n;
        int refused = 0;
        r = post_one(e, ep, path, text, ans, &refused);
        e->all_refused &= refused;
        /* A member's refusal (no leader, bad request) is its answer; try another only
         * when it could not be reached. */
        if (r == 0 || r == BURROW_ERR_PROTOCOL) {
            e->cur = ep;
            break;
        }
    }
    json_object_put(req);
    return r;
}

/* --- requests -------------------------------------------------------------- */

static int add_b64(struct json_object *o, const char *name, const void *data, size_t len)
{
    char *s = b64(data, len);
    if (!s)
        return BURROW_ERR_NOMEM;
    json_object_object_add(o, name, json_object_new_string(s));
    free(s);
    return 0;
}

static int add_i64(struct json_object *o, const char *name, int64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    json_object_object_add(o, name, json_object_new_string(s));
    return 0;
}

/* The first key after every key starting with prefix (etcd's range_end). */
static int prefix_end(const char *prefix, char *out, size_t outsz)
{
    size_t n = strlen(prefix);
    if (!n || n >= outsz)
        return BURROW_ERR_INVALID;
    memcpy(out, prefix, n + 1);
    while (n > 0 && (unsigned char)out[n - 1] == 0xff)
        out[--n] = 0;
    if (!n)
        return BURROW_ERR_INVALID;
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return 0;
}

static int range(struct etcd *e, const char *key, int prefix, struct etcd_kvs *out)
{
    char end[ETCD_KEY_MAX + 1];
    struct json_object *req = json_object_new_object(), *ans;
    memset(out, 0, sizeof(*out));
    if (strlen(key) > ETCD_KEY_MAX || add_b64(req, "key", key, strlen(key)) ||
        (prefix &&
         (prefix_end(key, end, sizeof(end)) || add_b64(req, "range_end", end, strlen(end))))) {
        json_object_put(req);
        return BURROW_ERR_INVALID;
    }
    int r = post(e, "/v3/kv/range", req, &ans);
    if (r)
        return r;
    r = kvs_from(ans, out);
    json_object_put(ans);
    return r;
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kvs *out)
{
    return range(e, key, 0, out);
}

int etcd_get_prefix(struct etcd *e, const char *prefix, struct etcd_kvs *out)
{
    return range(e, prefix, 1, out);
}

int etcd_put(struct etcd *e, const char *key, const void *val, size_t len, int64_t lease)
{
    struct json_object *req = json_object_new_object(), *ans;
    if (strlen(key) > ETCD_KEY_MAX || len > ETCD_VALUE_MAX ||
        add_b64(req, "key", key, strlen(key)) || add_b64(req, "value", val, len) ||
        (lease && add_i64(req, "lease", lease))) {
        json_object_put(req);
        return BURROW_ERR_INVALID;
    }
    int r = post(e, "/v3/kv/put", req, &ans);
    if (r == 0)
        json_object_put(ans);
    return r;
}

/* A transaction's answer: 1 if it succeeded, 0 if not (a missing "succeeded" is false). */
static int txn_succeeded(struct json_object *ans)
{
    struct json_object *v;
    return json_object_object_get_ex(ans, "succeeded", &v) &&
           json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

/* Send a transaction (fail may be NULL); a request built with bad set is not sent. */
static int txn_post(struct etcd *e, struct json_object *req, struct json_object *cmp,
                    struct json_object *ok, struct json_object *fail, int bad,
                    struct json_object **ans)
{
    json_object_object_add(req, "compare", cmp);
    json_object_object_add(req, "success", ok);
    if (fail)
        json_object_object_add(req, "failure", fail);
    if (bad) {
        json_object_put(req);
        return BURROW_ERR_INVALID;
    }
    return post(e, "/v3/kv/txn", req, ans);
}

int etcd_create(struct etcd *e, unsigned n, const char *const *keys, const char *const *vals,
                int64_t lease, struct etcd_kvs *existing)
{
    struct json_object *req = json_object_new_object(), *ans;
    struct json_object *cmp = json_object_new_array(), *ok = json_object_new_array(),
                       *fail = json_object_new_array();
    int bad = n == 0 || n > ETCD_TXN_MAX;
    if (existing)
        memset(existing, 0, sizeof(*existing));
    for (unsigned i = 0; i < n && !bad; i++) {
        struct json_object *c = json_object_new_object(), *put = json_object_new_object(),
                           *op = json_object_new_object();
        bad |= strlen(keys[i]) > ETCD_KEY_MAX || strlen(vals[i]) > ETCD_VALUE_MAX;
        bad |= add_b64(c, "key", keys[i], strlen(keys[i]));
        json_object_object_add(c, "target", json_object_new_string("CREATE"));
        json_object_object_add(c, "result", json_object_new_string("EQUAL"));
        add_i64(c, "create_revision", 0);
        json_object_array_add(cmp, c);
        bad |= add_b64(put, "key", keys[i], strlen(keys[i]));
        bad |= add_b64(put, "value", vals[i], strlen(vals[i]));
        if (lease)
            add_i64(put, "lease", lease);
        json_object_object_add(op, "request_put", put);
        json_object_array_add(ok, op);
    }
    if (!bad) {
        struct json_object *get = json_object_new_object(), *op = json_object_new_object();
        bad |= add_b64(get, "key", keys[0], strlen(keys[0]));
        json_object_object_add(op, "request_range", get);
        json_object_array_add(fail, op);
    }
    int r = txn_post(e, req, cmp, ok, fail, bad, &ans);
    if (r)
        return r;
    if (!txn_succeeded(ans)) {
        r = BURROW_ERR_EXISTS;
        struct json_object *resps, *first, *rr;
        if (existing && json_object_object_get_ex(ans, "responses", &resps) &&
            json_object_is_type(resps, json_type_array) && json_object_array_length(resps) == 1 &&
            (first = json_object_array_get_idx(resps, 0)) &&
            json_object_object_get_ex(first, "response_range", &rr) && kvs_from(rr, existing))
            r = BURROW_ERR_PROTOCOL;
    }
    json_object_put(ans);
    return r;
}

int etcd_delete_if(struct etcd *e, const char *key, const char *val)
{
    struct json_object *req = json_object_new_object(), *ans;
    struct json_object *cmp = json_object_new_array(), *ok = json_object_new_array();
    struct json_object *c = json_object_new_object(), *del = json_object_new_object(),
                       *op = json_object_new_object();
    int bad = strlen(key) > ETCD_KEY_MAX || strlen(val) > ETCD_VALUE_MAX;
    bad |= add_b64(c, "key", key, strlen(key)) || add_b64(c, "value", val, strlen(val));
    json_object_object_add(c, "target", json_object_new_string("VALUE"));
    json_object_object_add(c, "result", json_object_new_string("EQUAL"));
    json_object_array_add(cmp, c);
    bad |= add_b64(del, "key", key, strlen(key));
    json_object_object_add(op, "request_delete_range", del);
    json_object_array_add(ok, op);
    int r = txn_post(e, req, cmp, ok, NULL, bad, &ans);
    if (r)
        return r;
    r = txn_succeeded(ans) ? 0 : BURROW_ERR_NOT_FOUND;
    json_object_put(ans);
    return r;
}

int etcd_delete(struct etcd *e, const char *key, int prefix)
{
    char end[ETCD_KEY_MAX + 1];
    struct json_object *req = json_object_new_object(), *ans;
    if (strlen(key) > ETCD_KEY_MAX || add_b64(req, "key", key, strlen(key)) ||
        (prefix &&
         (prefix_end(key, end, sizeof(end)) || add_b64(req, "range_end", end, strlen(end))))) {
        json_object_put(req);
        return BURROW_ERR_INVALID;
    }
    int r = post(e, "/v3/kv/deleterange", req, &ans);
    if (r == 0)
        json_object_put(ans);
    return r;
}

int etcd_lease_grant(struct etcd *e, int ttl, int64_t *id)
{
    struct json_object *req = json_object_new_object(), *ans;
    add_i64(req, "TTL", ttl);
    int r = post(e, "/v3/lease/grant", req, &ans);
    if (r)
        return r;
    if (jint(ans, "ID", id) || *id == 0)
        r = BURROW_ERR_PROTOCOL;
    json_object_put(ans);
    return r;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int *ttl)
{
    struct json_object *req = json_object_new_object(), *ans, *res;
    int64_t t = 0;
    add_i64(req, "ID", id);
    int r = post(e, "/v3/lease/keepalive", req, &ans);
    if (r)
        return r;
    /* A streaming call through the gateway: {"result": {...}}; no TTL = the lease is gone. */
    if (!json_object_object_get_ex(ans, "result", &res) || jint(res, "TTL", &t) || t < 0 ||
        t > INT_MAX)
        r = BURROW_ERR_PROTOCOL;
    *ttl = (int)t;
    json_object_put(ans);
    return r;
}

int etcd_lease_revoke(struct etcd *e, int64_t id)
{
    struct json_object *req = json_object_new_object(), *ans;
    add_i64(req, "ID", id);
    int r = post(e, "/v3/lease/revoke", req, &ans);
    if (r == 0)
        json_object_put(ans);
    return r;
}
