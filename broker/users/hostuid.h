/*
 * broker/users/hostuid.h - the host uids a Burrow user's processes run as.
 *
 * Owns: the mapping from a user (or a connection) to a host uid that is
 * never a real user's: a session monitor after auth runs as her session
 * uid, which also owns her VM's vsock socket (the VM backends,
 * broker/vm/) and nothing else; a net child runs as a per-connection uid
 * (broker/session/confine.h says what each gives up).
 */
#ifndef BURROW_BROKER_USERS_HOSTUID_H
#define BURROW_BROKER_USERS_HOSTUID_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Host uids for session monitors after auth, one per Burrow user (never a
 * real user): HOSTUID_SESSION_BASE + her uid, which is below
 * HOSTUID_SESSION_SPAN ([users] uid_max and user.ini's uid are bounded
 * by it), so two users never share one.
 */
#define HOSTUID_SESSION_BASE 0x50000000u
#define HOSTUID_SESSION_SPAN 0x10000000u
/* Host uids for net children, one per connection (never a real user). */
#define HOSTUID_NET_BASE 0x4f000000u

/* Her session uid, or BURROW_ERR_RANGE for a uid that has none (>= the span). */
__attribute__((warn_unused_result)) int hostuid_session(uint32_t user_uid, uid_t *out);
/* The net child's uid for the connection served by pid. */
uid_t hostuid_net(pid_t pid);

#endif /* BURROW_BROKER_USERS_HOSTUID_H */
