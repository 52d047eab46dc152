/*
 * broker/envpolicy.h - which environment variables reach a session:
 * [ssh] accept_env (client "env" requests: SetEnv/SendEnv, OpenSSH's
 * AcceptEnv) and [ssh] permit_user_environment (authorized_keys
 * environment=, OpenSSH's PermitUserEnvironment).
 *
 * A list is space-separated name patterns (`*` any run, `?` one character,
 * as sshd matches them), at most ENVPOLICY_PATTERNS_MAX of them, each of
 * [A-Za-z0-9_*?]. For permit_user_environment a boolean word is accepted
 * too: "no" (the default) passes nothing, "yes" everything. The agent keeps
 * HOME, USER, LOGNAME and SHELL whatever the policy passes.
 */
#ifndef BURROW_BROKER_ENVPOLICY_H
#define BURROW_BROKER_ENVPOLICY_H

#include <stddef.h>

#define ENVPOLICY_PATTERNS_MAX   32
#define ENVPOLICY_DEFAULT_ACCEPT "LANG LC_*" /* sshd's Debian default AcceptEnv */

/* 0 if list is a valid pattern list (booleans too when allow_bool); else why says. */
int envpolicy_check(const char *list, int allow_bool, char *why, size_t whysz);
/* 1 if name matches a pattern of list (or list is a true boolean), else 0. */
int envpolicy_match(const char *list, const char *name);

#endif /* BURROW_BROKER_ENVPOLICY_H */
