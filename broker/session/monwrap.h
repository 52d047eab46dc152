/*
 * broker/session/monwrap.h - the net child's side of the monitor protocol,
 * in one place (OpenSSH's monitor_wrap.c pattern).
 *
 * Owns: every request the net child makes of its monitor and every answer
 * it reads (broker/mproto.h; what may come when is mproto.c's table,
 * enforced on each receive): auth requests and verdicts (the key's options
 * with them), keyboard-interactive prompts, VM connections for channels,
 * channel reports, the master's VM_GONE and END (recorded for proxy_loop),
 * and the hostile modes of test builds. The channel code (channel.c,
 * forward.c, chanreport.c) asks through here, not through netchild.c.
 */
#ifndef BURROW_BROKER_SESSION_MONWRAP_H
#define BURROW_BROKER_SESSION_MONWRAP_H

#include <stddef.h>

#include "broker/mproto.h"
#include "broker/session/netchild.h"

/*
 * The next message from the monitor, waiting at most until deadline_ms (-1:
 * no limit; before auth the monitor's login_grace_time bounds the wait).
 * VM_GONE and END are recorded for proxy_loop and skipped. 0 or a negative
 * code (one the table refuses included).
 */
__attribute__((warn_unused_result)) int monwrap_recv(struct netchild *s, struct mproto_msg *m,
                                                     int *fd, long deadline_ms);
/*
 * Send a PUBKEY, PASSWORD or KBDINT_ANSWER request (fields f, f[0] the
 * user) and take the verdict: SSH_AUTH_SUCCESS (the key's options become
 * the session's), SSH_AUTH_PARTIAL (libssh now offers the methods that may
 * follow) or SSH_AUTH_DENIED. A probe only asks "would this key do". The
 * monitor counts the failures: its AUTH_NO "last" ends the connection.
 */
int monwrap_ask(struct netchild *s, int type, const char *const *f, unsigned n, int probe);
/* A keyboard-interactive start for user: 0 and the monitor's answer, or a negative code. */
__attribute__((warn_unused_result)) int monwrap_kbdint(struct netchild *s, const char *user,
                                                       struct mproto_msg *ans);
/*
 * A connection to the agent of the user's VM, from the monitor: 0 and a
 * blocking fd, or -1 with the text the channel shows in err.
 */
int monwrap_connect_vm(struct netchild *s, int *fd, char *err, size_t errsz);
/* The monitor's fd is readable (after auth): take a VM_GONE or END, or see it closed. */
void monwrap_poll_master(struct netchild *s);
/* A channel report (CHAN_OPEN or CHAN_CLOSE: number and two fields), passed on to the master. */
void monwrap_report(struct netchild *s, int type, const char *no, const char *a, const char *b);
/*
 * Test builds only (BURROW_TEST_HOSTILE_NET): act as a compromised net
 * child ("connect" or "flood") and log what the monitor answered.
 */
int monwrap_hostile(struct netchild *s, const char *how);

#endif /* BURROW_BROKER_SESSION_MONWRAP_H */
