/*
 * broker/session/netchild.h - a session's net child: the process that speaks SSH.
 *
 * Owns: one SSH connection from key exchange to disconnect, run in a jail
 * (confine_net_child: its own uid, an empty root, no capabilities, the
 * session-net seccomp filter) before libssh reads a byte: kex, the auth
 * callbacks (each decision asked of the monitor, broker/session/monitor.h), and the
 * event loop that drives the channels (broker/session/channel.c) over agent
 * connections the monitor hands it.
 *
 * It never sees the user database, the master, or a VM's socket path; all it
 * holds is the TCP connection, the host keys (libssh signs every key
 * exchange with them, rekeys included) and its socketpair to the monitor.
 */
#ifndef BURROW_BROKER_SESSION_NETCHILD_H
#define BURROW_BROKER_SESSION_NETCHILD_H

#include <libssh/libssh.h>
#include <libssh/server.h>
#include <sys/types.h>

#include "broker/users/authkeys.h"
#include "broker/authflow.h"
#include "broker/config.h"
#include "broker/mproto.h"
#include "broker/users/userdb.h"

#define SESSION_CHANS_MAX  CONFIG_CHANNELS_MAX /* channels of every kind */
#define SESSION_ADDR_MAX   64
#define SESSION_BANNER_MAX 4096
#define SESSION_VM_WAIT_MS 120000 /* a VM start, as the monitor waits for it */
#define SESSION_FWD_MAX    17     /* ssh -R listeners (16) and the agent socket */

struct chan;
struct fwd_listener;

struct netchild {
    ssh_session ssh;
    ssh_event ev;
    const struct burrow_config *cfg;
    int mfd; /* socketpair to the monitor */
    char addr[SESSION_ADDR_MAX];
    const char *banner; /* read by the monitor; "" = none */

    /* authentication */
    int authed;
    int banner_sent;
    unsigned failures;
    char user[USERDB_NAME_MAX + 1];
    char kbd_user[USERDB_NAME_MAX + 2]; /* the user of the keyboard-interactive under way */
    struct authkey_opts opts;           /* the key's options, as the monitor sent them */
    uint64_t authed_ns;                 /* CLOCK_MONOTONIC of the login, for the first-byte time */
    int first_byte_seen;

    /* after auth */
    char vm_err[MPROTO_FIELD_MAX + 1]; /* non-empty: every channel shows this and ends */
    struct chan *chans[SESSION_CHANS_MAX];
    struct fwd_listener *fwd[SESSION_FWD_MAX]; /* broker/session/forward.h */
    int quit;
    /* Set by the master fd's callback, acted on after the poll (see on_master). */
    int vm_gone_pending;
    int master_closed;
    int end_pending;                     /* burrowctl session kill */
    char end_text[MPROTO_FIELD_MAX + 1]; /* what the user is told */
    unsigned chan_seq;                   /* channels reported so far */
};

struct session_args {
    int fd;  /* accepted TCP connection */
    int mfd; /* socketpair to the master (the monitor's) */
    const struct burrow_config *cfg;
    ssh_bind bind; /* host keys loaded */
    const char *addr;
};

/* A keyboard-interactive message before auth: 0 answered, 1 for libssh's refusal. */
int netchild_on_kbdint(struct netchild *s, ssh_message msg);

/* libssh's method bits for a mask of broker/authflow.h methods. */
static inline int netchild_ssh_methods(unsigned af_mask)
{
    return ((af_mask & AF_PUBLICKEY) ? SSH_AUTH_METHOD_PUBLICKEY : 0) |
           ((af_mask & AF_PASSWORD) ? SSH_AUTH_METHOD_PASSWORD : 0) |
           ((af_mask & AF_KBDINT) ? SSH_AUTH_METHOD_INTERACTIVE : 0);
}

/*
 * The net child's whole life (after the monitor forked it): jail, kex, auth,
 * channels. monfd is its socketpair to the monitor, whose pid is monitor.
 * Returns the process exit code.
 */
int netchild_main(const struct session_args *args, int monfd, pid_t monitor, const char *banner);

#endif /* BURROW_BROKER_SESSION_NETCHILD_H */
