/* broker/users/totp.c - RFC 6238 codes, secrets and the replay table (see totp.h). */
#include "broker/users/totp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "common/err.h"
#include "common/log.h"

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* RFC 4648 base32 without padding; outsz must hold ceil(n*8/5) + 1. */
static int b32_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
    size_t bits = 0, o = 0;
    uint32_t acc = 0;
    if ((n * 8 + 4) / 5 + 1 > outsz)
        return BURROW_ERR_TOO_LARGE;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32_alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits)
        out[o++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return 0;
}

/* Decode exactly TOTP_SECRET_BYTES from 32 base32 characters (upper case). */
static int b32_decode_secret(const char *in, uint8_t out[TOTP_SECRET_BYTES])
{
    size_t bits = 0, o = 0;
    uint32_t acc = 0;
    if (strlen(in) != (TOTP_SECRET_BYTES * 8 + 4) / 5)
        return BURROW_ERR_FORMAT;
    for (const char *p = in; *p; p++) {
        const char *hit = strchr(b32_alphabet, *p);
        if (!hit || !*p)
            return BURROW_ERR_FORMAT;
        acc = (acc << 5) | (uint32_t)(hit - b32_alphabet);
        bits += 5;
        if (bits >= 8) {
            out[o++] = (uint8_t)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    return o == TOTP_SECRET_BYTES ? 0 : BURROW_ERR_FORMAT;
}

int totp_new_secret(char out[TOTP_B32_MAX])
{
    uint8_t key[TOTP_SECRET_BYTES];
    randombytes_buf(key, sizeof(key));
    int r = b32_encode(key, sizeof(key), out, TOTP_B32_MAX);
    sodium_memzero(key, sizeof(key));
    return r;
}

int totp_secret_valid(const char *s)
{
    uint8_t key[TOTP_SECRET_BYTES];
    int ok = !*s || b32_decode_secret(s, key) == 0;
    sodium_memzero(key, sizeof(key));
    return ok;
}

uint32_t totp_code(const uint8_t *key, size_t keylen, uint64_t step)
{
    uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    for (int i = 7; i >= 0; i--) {
        msg[i] = (uint8_t)step;
        step >>= 8;
    }
    if (!HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), mac, &maclen) || maclen < 20)
        return UINT32_MAX;                 /* matches no 6-digit code */
    unsigned off = mac[maclen - 1] & 0x0f; /* RFC 4226 dynamic truncation */
    uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
                   ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
    return bin % 1000000u;
}

int totp_check(const char *b32, const char *code, uint64_t now_s, uint64_t *matched)
{
    uint8_t key[TOTP_SECRET_BYTES];
    if (!*b32 || b32_decode_secret(b32, key) != 0)
        return BURROW_ERR_INVALID;
    int r = BURROW_ERR_PERM;
    if (strlen(code) == TOTP_DIGITS && strspn(code, "0123456789") == TOTP_DIGITS) {
        uint32_t want = 0;
        for (const char *p = code; *p; p++)
            want = want * 10 + (uint32_t)(*p - '0');
        uint64_t now = now_s / TOTP_STEP_S;
        /* Every candidate is computed: the time taken does not say which one matched. */
        for (uint64_t step = now - 1; step <= now + 1; step++) {
            if (totp_code(key, sizeof(key), step) == want && r != 0) {
                *matched = step;
                r = 0;
            }
        }
    }
    sodium_memzero(key, sizeof(key));
    return r;
}

int totp_uri(const char *user, const char *b32, char *out, size_t outsz)
{
    int n = snprintf(out, outsz,
                     "otpauth://totp/Burrow:%s?secret=%s&issuer=Burrow&algorithm=SHA1&digits=%d"
                     "&period=%d",
                     user, b32, TOTP_DIGITS, TOTP_STEP_S);
    return n < 0 || (size_t)n >= outsz ? BURROW_ERR_TOO_LARGE : 0;
}

/* --- the replay table ------------------------------------------------------- */

#define REPLAY_SLOTS 4096
#define REPLAY_PROBE 16

struct replay_slot {
    uint32_t uid;
    uint32_t used;
    uint64_t step;
};

int totp_replay_open(const char *run_dir)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/totp-steps", run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        log_warn("%s: %s (one-time codes will be refused)", path, strerror(errno));
    return fd;
}

static int slot_io(int fd, unsigned i, struct replay_slot *s, int write_it)
{
    if (lseek(fd, (off_t)i * (off_t)sizeof(*s), SEEK_SET) < 0)
        return BURROW_ERR_SYSTEM;
    ssize_t n = write_it ? write(fd, s, sizeof(*s)) : read(fd, s, sizeof(*s));
    if (n == 0 && !write_it) {
        memset(s, 0, sizeof(*s)); /* past the end of a sparse table: an empty slot */
        return 0;
    }
    return n == (ssize_t)sizeof(*s) ? 0 : BURROW_ERR_SYSTEM;
}

/* The slot for uid: its own, a free one, or (all taken) the one with the oldest step. */
static int find_slot(int fd, uint32_t uid, unsigned *at, struct replay_slot *s)
{
    unsigned oldest = 0;
    uint64_t oldest_step = UINT64_MAX;
    for (unsigned k = 0; k < REPLAY_PROBE; k++) {
        unsigned i = (uid + k) % REPLAY_SLOTS;
        int r = slot_io(fd, i, s, 0);
        if (r != 0)
            return r;
        if (!s->used || s->uid == uid) {
            *at = i;
            if (!s->used)
                memset(s, 0, sizeof(*s));
            return 0;
        }
        if (s->step < oldest_step) {
            oldest_step = s->step;
            oldest = i;
        }
    }
    *at = oldest;
    memset(s, 0, sizeof(*s));
    return 0;
}

int totp_replay_claim(int fd, uint32_t uid, uint64_t step)
{
    struct replay_slot s;
    unsigned at;
    if (fd < 0 || flock(fd, LOCK_EX) != 0)
        return BURROW_ERR_SYSTEM;
    int r = find_slot(fd, uid, &at, &s);
    if (r == 0 && s.used && s.step >= step)
        r = BURROW_ERR_PERM;
    if (r == 0) {
        s = (struct replay_slot){.uid = uid, .used = 1, .step = step};
        r = slot_io(fd, at, &s, 1);
    }
    flock(fd, LOCK_UN);
    return r;
}
