/*
 * broker/mproto.h - the messages between burrowd's processes: the master
 * and a session's monitor, and the monitor and its net child.
 *
 * Owns: the message types and their encoding. Transport: one SOCK_SEQPACKET
 * socketpair per pair of processes (message boundaries for free). A message
 * is a u8 type and up to MPROTO_FIELDS strings (buf cstrings), each at most
 * MPROTO_FIELD_MAX bytes, and at most one file descriptor (SCM_RIGHTS).
 * The receiver treats every message as hostile: the net child runs libssh,
 * which faces the network, and the monitor speaks for it to the master.
 *
 *   monitor -> master                      master -> monitor
 *   AUTH_OK   user method fingerprint      VM_OK   socket-path vm-id
 *   AUTH_FAIL user method fingerprint      VM_ERR  text (shown to the user)
 *   VM_REQ    user                         VM_GONE text (VM died or was killed)
 *   CHAN_OPEN  (the net child's, passed    END     text (burrowctl session kill:
 *   CHAN_CLOSE  on after auth, see below)           tell the user, disconnect)
 *   VM_CONNECT user                        VM_CONN + fd: a connection to the
 *                                                  user's VM, "CONNECT 1024" sent
 *                                          VM_CONN_ERR text (shown to the user)
 *
 *   net child -> monitor                   monitor -> net child
 *   PUBKEY    user key-type+base64 state   AUTH_ENV  "NAME=value" (0..16)
 *                                          AUTH_PERMIT "open"|"listen" value
 *                                                    (0..16 each, then:)
 *   PASSWORD  user password                AUTH_YES  flags forced-command
 *   KBDINT    user (keyboard-interactive)  AUTH_PARTIAL methods (more must follow)
 *   KBDINT_ANSWER user answer              KBDINT_PROMPT prompt echo (0/1)
 *   CONNECT   (none)                       AUTH_NO   "last" after max_auth_tries
 *   CHAN_OPEN  number type detail          CONN_OK   + fd: a connection to the
 *   CHAN_CLOSE number "in out" exit                  VM's agent port
 *                                          CONN_ERR  text (shown to the user)
 *                                          VM_GONE   text (as from the master)
 *                                          END       text (as from the master)
 *
 * Who may send which message, in which phase (before or after the login),
 * with how many fields and whether a descriptor travels with it is one
 * table, mproto.c's `rules`: every receiver reads through
 * mproto_recv_checked, which refuses what the table does not allow. The
 * receivers' own checks are only of values and state (a KBDINT_ANSWER
 * needs a prompt, an AUTH_OK a valid user name).
 *
 * CHAN_OPEN/CHAN_CLOSE report a channel for the audit log and metrics
 * (type shell, exec, sftp or direct-tcpip; detail the command or the
 * forwarding target; bytes client->VM and VM->client; exit "status N",
 * "signal NAME" or "none"). They are the net child's word: the master
 * checks their form and keeps its own clock for durations.
 */
#ifndef BURROW_BROKER_MPROTO_H
#define BURROW_BROKER_MPROTO_H

#include <stddef.h>

#define MPROTO_FIELDS    3
#define MPROTO_FIELD_MAX 4096 /* an authorized_keys option value, an RSA key */
#define MPROTO_MSG_MAX   (1 + MPROTO_FIELDS * (4 + MPROTO_FIELD_MAX))

enum mproto_type {
    MPROTO_AUTH_OK = 1,
    MPROTO_AUTH_FAIL = 2,
    MPROTO_VM_REQ = 3,
    MPROTO_CHAN_OPEN = 4,
    MPROTO_CHAN_CLOSE = 5,
    MPROTO_VM_CONNECT = 6,
    MPROTO_PUBKEY = 16,
    MPROTO_PASSWORD = 17,
    MPROTO_CONNECT = 18,
    MPROTO_KBDINT = 19,
    MPROTO_KBDINT_ANSWER = 20,
    MPROTO_AUTH_YES = 32,
    MPROTO_AUTH_NO = 33,
    MPROTO_AUTH_ENV = 34,
    MPROTO_CONN_OK = 35,
    MPROTO_CONN_ERR = 36,
    MPROTO_AUTH_PERMIT = 37,
    MPROTO_AUTH_PARTIAL = 38,
    MPROTO_KBDINT_PROMPT = 39,
    MPROTO_VM_OK = 64,
    MPROTO_VM_ERR = 65,
    MPROTO_VM_GONE = 66,
    MPROTO_END = 67,
    MPROTO_VM_CONN = 68,
    MPROTO_VM_CONN_ERR = 69,
};

struct mproto_msg {
    int type;
    unsigned n;
    char f[MPROTO_FIELDS][MPROTO_FIELD_MAX + 1];
};

/* Send type with n string fields (NULL fields are sent empty). */
__attribute__((warn_unused_result)) int mproto_send(int fd, int type, unsigned n,
                                                    const char *const *fields);
/*
 * Receive one message. 0 with *m filled, BURROW_ERR_CLOSED at EOF,
 * BURROW_ERR_AGAIN if nothing is ready (non-blocking fd), or a parse error.
 */
__attribute__((warn_unused_result)) int mproto_recv(int fd, struct mproto_msg *m);
/* As mproto_send, passing pass_fd along (SCM_RIGHTS) when it is >= 0. */
__attribute__((warn_unused_result)) int mproto_send_fd(int fd, int type, unsigned n,
                                                       const char *const *fields, int pass_fd);
/*
 * As mproto_recv; a descriptor that came with the message lands in *fd_out
 * (close-on-exec), else *fd_out is -1. Descriptors beyond the first, and any
 * that came with a message that failed to decode, are closed.
 */
__attribute__((warn_unused_result)) int mproto_recv_fd(int fd, struct mproto_msg *m, int *fd_out);
/*
 * Wait for and receive one message (mproto_recv_fd on a socket that may be
 * non-blocking), until deadline_ms (clock_now_ms(), common/clock.h; -1: no limit):
 * 0, BURROW_ERR_TIMEOUT, BURROW_ERR_CLOSED or another negative code.
 */
__attribute__((warn_unused_result)) int mproto_recv_wait(int fd, struct mproto_msg *m, int *fd_out,
                                                         long deadline_ms);
/* The link and direction a message travels: who may send it to whom. */
enum mproto_dir {
    MPROTO_NET_TO_MONITOR = 1,
    MPROTO_MONITOR_TO_NET = 2,
    MPROTO_MONITOR_TO_MASTER = 3,
    MPROTO_MASTER_TO_MONITOR = 4,
};
/* The session's phase as the receiver knows it: before or after the login. */
enum mproto_phase { MPROTO_PREAUTH = 1, MPROTO_POSTAUTH = 2 };
/* Wait no time at all (one non-blocking receive), for mproto_recv_checked. */
#define MPROTO_NOWAIT (-2L)

/*
 * Receive one message on dir in phase and check it against the table: 0
 * (a descriptor the rule says comes lands in *fd_out, which may be NULL
 * where none may), BURROW_ERR_PERM (not allowed on dir in this phase),
 * BURROW_ERR_FORMAT (allowed, but with another field count or descriptor;
 * *malformed, unless NULL, says what the receiver calls that), or
 * mproto_recv_wait's codes. A refused message's descriptor is closed.
 * deadline_ms as mproto_recv_wait's, or MPROTO_NOWAIT.
 */
__attribute__((warn_unused_result)) int
mproto_recv_checked(int fd, enum mproto_dir dir, enum mproto_phase phase, struct mproto_msg *m,
                    int *fd_out, long deadline_ms, const char **malformed);
/* The check alone (exposed for tests): 0, BURROW_ERR_PERM or BURROW_ERR_FORMAT. */
__attribute__((warn_unused_result)) int mproto_check(enum mproto_dir dir, enum mproto_phase phase,
                                                     const struct mproto_msg *m, int has_fd,
                                                     const char **malformed);

/* Decode one message from bytes (exposed for tests and fuzzing). */
__attribute__((warn_unused_result)) int mproto_decode(const void *data, size_t len,
                                                      struct mproto_msg *m);

#endif /* BURROW_BROKER_MPROTO_H */
