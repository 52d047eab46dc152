/*
 * broker/users/totp.h - time-based one-time passwords (RFC 6238), the optional
 * second factor asked with keyboard-interactive.
 *
 * Owns: the secret's format in user.ini (`totp = BASE32`, 20 random bytes,
 * RFC 4648 base32 without padding), the otpauth:// URI `burrowctl user totp`
 * shows once, the check of a code (HMAC-SHA1, 30 s steps, 6 digits, what
 * authenticator apps use; the step before and after the current one are
 * accepted for clock drift), and the replay table: a code's step is recorded
 * per uid and no code of that step or an earlier one is accepted again.
 *
 * The replay table is run_dir/totp-steps, a fixed array of slots (uid, step)
 * the session's monitor opens before its pre-auth filter (which allows only
 * read-only opens) and updates under flock.
 */
#ifndef BURROW_BROKER_TOTP_H
#define BURROW_BROKER_TOTP_H

#include <stddef.h>
#include <stdint.h>

#define TOTP_SECRET_BYTES 20
#define TOTP_B32_MAX      33 /* 32 base32 characters of 20 bytes, NUL */
#define TOTP_STEP_S       30
#define TOTP_DIGITS       6
#define TOTP_URI_MAX      256

/* 20 random bytes, base32 (RFC 4648, no padding), into out. */
int totp_new_secret(char out[TOTP_B32_MAX]);
/* 1 if s is "" (no second factor) or a secret as totp_new_secret writes it. */
int totp_secret_valid(const char *s);
/* The code of a secret for a step (0..999999). */
uint32_t totp_code(const uint8_t *key, size_t keylen, uint64_t step);
/*
 * Does code (exactly TOTP_DIGITS digits) match secret b32 at now_s, in the
 * step before, the current one or the one after? 0 and the step in
 * *matched, or BURROW_ERR_PERM (wrong, malformed) / _INVALID (bad secret).
 */
int totp_check(const char *b32, const char *code, uint64_t now_s, uint64_t *matched);
/* otpauth://totp/Burrow:USER?secret=...&issuer=Burrow&... into out. */
int totp_uri(const char *user, const char *b32, char *out, size_t outsz);

/* The replay table (see above): the fd for totp_replay_claim, or -1 (logged). */
int totp_replay_open(const char *run_dir);
/*
 * Record step for uid unless a step at least as late is recorded: 0, or
 * BURROW_ERR_PERM for a replayed code, or another code (I/O: refused too).
 */
int totp_replay_claim(int fd, uint32_t uid, uint64_t step);

#endif /* BURROW_BROKER_TOTP_H */
