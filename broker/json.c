/* broker/json.c - JSON string escaping and a bounded object writer (see json.h). */
#include "broker/json.h"

#include <inttypes.h>
#include <string.h>

/* Length of a valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Call put(ctx, bytes, n) for the escaped form of s[0..n). */
static void escape(const char *s, size_t n, void (*put)(void *, const char *, size_t), void *ctx)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        char esc[8];
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(ctx, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(ctx, esc, 6);
            i++;
        } else {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                put(ctx, "\\ufffd", 6);
                i++;
            } else {
                put(ctx, s + i, l);
                i += l;
            }
        }
    }
}

static void put_buf(void *ctx, const char *s, size_t n)
{
    struct json *j = ctx;
    if (j->overflow || n >= j->cap - j->len) {
        j->overflow = 1;
        return;
    }
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = 0;
}

static void put_file(void *ctx, const char *s, size_t n)
{
    fwrite(s, 1, n, ctx);
}

void json_init(struct json *j, char *buf, size_t cap)
{
    memset(j, 0, sizeof(*j));
    j->buf = buf;
    j->cap = cap;
    if (cap)
        buf[0] = 0;
    else
        j->overflow = 1;
}

static void puts_raw(struct json *j, const char *s)
{
    put_buf(j, s, strlen(s));
}

/* Before a value or a key: the comma that separates it from the previous one. */
static void separate(struct json *j)
{
    if (j->depth == 0)
        return;
    if (!j->first[j->depth - 1])
        puts_raw(j, ",");
    j->first[j->depth - 1] = 0;
}

static void value_start(struct json *j)
{
    if (j->after_key)
        j->after_key = 0;
    else
        separate(j);
}

static void open_(struct json *j, const char *c)
{
    value_start(j);
    puts_raw(j, c);
    if (j->depth == JSON_DEPTH_MAX) {
        j->overflow = 1;
        return;
    }
    j->first[j->depth++] = 1;
}

static void close_(struct json *j, const char *c)
{
    if (j->depth == 0) {
        j->overflow = 1;
        return;
    }
    j->depth--;
    puts_raw(j, c);
}

void json_obj_begin(struct json *j)
{
    open_(j, "{");
}

void json_obj_end(struct json *j)
{
    close_(j, "}");
}

void json_arr_begin(struct json *j)
{
    open_(j, "[");
}

void json_arr_end(struct json *j)
{
    close_(j, "]");
}

void json_key(struct json *j, const char *name)
{
    separate(j);
    puts_raw(j, "\"");
    escape(name, strlen(name), put_buf, j);
    puts_raw(j, "\":");
    j->after_key = 1;
}

void json_strn(struct json *j, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    value_start(j);
    puts_raw(j, "\"");
    escape(s, len, put_buf, j);
    puts_raw(j, "\"");
}

void json_str(struct json *j, const char *s)
{
    json_strn(j, s, strlen(s));
}

void json_raw(struct json *j, const char *text)
{
    value_start(j);
    puts_raw(j, text);
}

void json_u64(struct json *j, uint64_t v)
{
    char t[24];
    snprintf(t, sizeof(t), "%" PRIu64, v);
    json_raw(j, t);
}

void json_i64(struct json *j, int64_t v)
{
    char t[24];
    snprintf(t, sizeof(t), "%" PRId64, v);
    json_raw(j, t);
}

void json_bool(struct json *j, int v)
{
    json_raw(j, v ? "true" : "false");
}

void json_null(struct json *j)
{
    json_raw(j, "null");
}

void json_kv_str(struct json *j, const char *k, const char *v)
{
    json_key(j, k);
    json_str(j, v);
}

void json_kv_u64(struct json *j, const char *k, uint64_t v)
{
    json_key(j, k);
    json_u64(j, v);
}

void json_kv_i64(struct json *j, const char *k, int64_t v)
{
    json_key(j, k);
    json_i64(j, v);
}

void json_kv_bool(struct json *j, const char *k, int v)
{
    json_key(j, k);
    json_bool(j, v);
}

const char *json_text(const struct json *j)
{
    return j->overflow || j->depth ? NULL : j->buf;
}

void json_fput_str(FILE *f, const char *s)
{
    fputc('"', f);
    escape(s, strlen(s), put_file, f);
    fputc('"', f);
}
