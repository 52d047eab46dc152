/*
 * broker/authflow.h - which authentication methods a login needs, in which
 * order: [auth] methods (OpenSSH's AuthenticationMethods) and the TOTP
 * second factor (broker/users/totp.h).
 *
 * Owns: the [auth] methods syntax, "any" or space-separated chains of
 * comma-separated methods (publickey, password, keyboard-interactive), e.g.
 * "publickey,keyboard-interactive password,keyboard-interactive"; and the
 * decision, after each method that succeeded, whether the login is complete
 * or which methods may come next (partial success). Pure logic: the monitor
 * keeps the state and decides; the net child only reads the first step (the
 * methods it offers before any success).
 *
 * Rules:
 *   - "any": one method completes a login.
 *   - A chain is complete when its methods succeeded in its order.
 *   - A user with a TOTP secret also needs a correct code, asked with
 *     keyboard-interactive, after at least one other method: a complete
 *     chain without it continues with keyboard-interactive (the code).
 *   - keyboard-interactive asks the password when it is the first method,
 *     and when the user has no code left to give; else the code.
 *   - password, and keyboard-interactive asking a password, need
 *     [ssh] password_auth = yes; keyboard-interactive asking the code does
 *     not.
 */
#ifndef BURROW_BROKER_AUTHFLOW_H
#define BURROW_BROKER_AUTHFLOW_H

#include <stddef.h>
#include <stdint.h>

#define AF_CHAINS_MAX    8
#define AF_CHAIN_LEN_MAX 4

enum af_method { AF_PUBLICKEY = 1, AF_PASSWORD = 2, AF_KBDINT = 4 };

struct af_policy {
    unsigned n;
    uint8_t len[AF_CHAINS_MAX];
    uint8_t m[AF_CHAINS_MAX][AF_CHAIN_LEN_MAX]; /* enum af_method */
    int password_auth;                          /* [ssh] password_auth */
};

/* One login attempt's progress (the monitor's). */
struct af_state {
    uint8_t done[AF_CHAIN_LEN_MAX + 1]; /* methods that succeeded, in order */
    unsigned n_done;
    int totp_required; /* the user has a secret */
    int totp_done;
};

/* Parse "any" or chains; 0, or a negative code with why. */
int authflow_parse(const char *text, struct af_policy *p, char *why, size_t whysz);

/* Methods that may succeed next (a mask of enum af_method; 0: none). */
unsigned authflow_next(const struct af_policy *p, const struct af_state *st);
/* 1 if the methods done complete the login. */
int authflow_complete(const struct af_policy *p, const struct af_state *st);
/* Record a method that succeeded (totp: it was the code). 0, or -1 when full. */
int authflow_record(struct af_state *st, enum af_method m, int totp);
/* Does keyboard-interactive ask for the code (1) or the password (0) now? */
int authflow_kbdint_wants_code(const struct af_state *st);

/* "publickey,keyboard-interactive" for a mask (as SSH names them), into out. */
void authflow_names(unsigned mask, char *out, size_t outsz);
/* The mask of a name list as authflow_names writes it; -1 if a name is unknown. */
int authflow_mask(const char *names);

#endif /* BURROW_BROKER_AUTHFLOW_H */
