/*
 * broker/session.h - the per-connection session process (design §2).
 *
 * Owns: one SSH connection from key exchange to disconnect: libssh kex,
 * authentication (with login_grace_time and max_auth_tries), the request
 * for a VM to the master, the privilege drop after auth, and the event loop
 * that drives the channels (broker/channel.c).
 *
 * The session process never touches the user database after auth and never
 * talks to the VM manager except through its socketpair to the master
 * (broker/mproto.h).
 */
#ifndef BURROW_BROKER_SESSION_H
#define BURROW_BROKER_SESSION_H

#include <libssh/libssh.h>
#include <libssh/server.h>

#include "broker/auth.h"
#include "broker/config.h"
#include "broker/mproto.h"

#define SESSION_CHANS_MAX 32
#define SESSION_ADDR_MAX  64

struct chan;

struct sess {
    ssh_session ssh;
    ssh_event ev;
    const struct burrow_config *cfg;
    int mfd; /* socketpair to the master */
    char addr[SESSION_ADDR_MAX];
    struct auth_ctx auth;

    /* authentication */
    int authed;
    int banner_sent;
    unsigned failures;
    char user[USERDB_NAME_MAX + 1];
    char method[16];
    struct user_record rec;
    struct authkey_opts opts;

    /* after auth */
    char vm_sock[MPROTO_FIELD_MAX + 1];
    char vm_err[MPROTO_FIELD_MAX + 1]; /* non-empty: every channel shows this and ends */
    struct chan *chans[SESSION_CHANS_MAX];
    int vm_asked;
    int quit;
    /* Set by the master fd's callback, acted on after the poll (see on_master). */
    int vm_gone_pending;
    int master_closed;
};

struct session_args {
    int fd;  /* accepted TCP connection */
    int mfd; /* socketpair to the master */
    const struct burrow_config *cfg;
    ssh_bind bind; /* host keys loaded */
    const char *addr;
};

/* Ask the master for the user's VM (once); fills vm_sock or vm_err. */
void session_request_vm(struct sess *s);

/* Run the whole connection; returns the process exit code. */
int session_main(const struct session_args *args);

#endif /* BURROW_BROKER_SESSION_H */
