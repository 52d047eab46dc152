/*
 * broker/json.h - JSON output for the audit log and burrowctl's --json.
 *
 * Owns: the one JSON string escaper (valid UTF-8 passes through; control
 * characters, quotes and backslashes are escaped; a byte that is not part
 * of valid UTF-8 becomes U+FFFD, so any input gives valid JSON) and a
 * writer that builds one object into a caller's bounded buffer, tracking
 * commas and nesting. Outside input (user names from clients, commands)
 * goes through it unchanged in meaning.
 */
#ifndef BURROW_BROKER_JSON_H
#define BURROW_BROKER_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 8

struct json {
    char *buf;
    size_t cap, len;
    int overflow; /* something did not fit: the text is not to be used */
    unsigned depth;
    int after_key;             /* the value that follows a key needs no comma */
    int first[JSON_DEPTH_MAX]; /* no member yet at this depth */
};

void json_init(struct json *j, char *buf, size_t cap);
void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);
/* A member name inside an object; the next value call gives its value. */
void json_key(struct json *j, const char *name);
void json_str(struct json *j, const char *s);
/* At most n bytes of s (a clipped command). */
void json_strn(struct json *j, const char *s, size_t n);
void json_u64(struct json *j, uint64_t v);
void json_i64(struct json *j, int64_t v);
void json_bool(struct json *j, int v);
void json_null(struct json *j);
/* A number given as its JSON text (e.g. "0.25"); the caller made it. */
void json_raw(struct json *j, const char *text);
/* Key and value in one call. */
void json_kv_str(struct json *j, const char *k, const char *v);
void json_kv_u64(struct json *j, const char *k, uint64_t v);
void json_kv_i64(struct json *j, const char *k, int64_t v);
void json_kv_bool(struct json *j, const char *k, int v);
/* The NUL-terminated text, or NULL if anything overflowed or is unclosed. */
const char *json_text(const struct json *j);

/* A quoted, escaped string straight to a stream (burrowctl's list output). */
void json_fput_str(FILE *f, const char *s);

#endif /* BURROW_BROKER_JSON_H */
