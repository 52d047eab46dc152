/*
 * broker/mproto.h - the messages between the master and a session process.
 *
 * Owns: the message types and their encoding. Transport: one SOCK_SEQPACKET
 * socketpair per session (message boundaries for free). A message is a u8
 * type and up to MPROTO_FIELDS strings (buf cstrings), each at most
 * MPROTO_FIELD_MAX bytes; the master treats every message as hostile
 * (a session process runs libssh, which faces the network).
 *
 *   session -> master                      master -> session
 *   AUTH_OK   user method                  VM_OK   socket-path vm-id
 *   AUTH_FAIL user method                  VM_ERR  text (shown to the user)
 *   VM_REQ    user                         VM_GONE text (VM died or was killed)
 */
#ifndef BURROW_BROKER_MPROTO_H
#define BURROW_BROKER_MPROTO_H

#include <stddef.h>

#define MPROTO_FIELDS    3
#define MPROTO_FIELD_MAX 512
#define MPROTO_MSG_MAX   (1 + MPROTO_FIELDS * (4 + MPROTO_FIELD_MAX))

enum mproto_type {
    MPROTO_AUTH_OK = 1,
    MPROTO_AUTH_FAIL = 2,
    MPROTO_VM_REQ = 3,
    MPROTO_VM_OK = 64,
    MPROTO_VM_ERR = 65,
    MPROTO_VM_GONE = 66,
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
/* Decode one message from bytes (exposed for tests and fuzzing). */
__attribute__((warn_unused_result)) int mproto_decode(const void *data, size_t len,
                                                      struct mproto_msg *m);

#endif /* BURROW_BROKER_MPROTO_H */
