/*
 * common/proto.h - the agent protocol codec (docs/guest.md), shared by the
 * broker (sessions, port 1024), the VMM (control channel, port 1025), the
 * guest agent and the freestanding test guest.
 *
 * Owns: the frame layout, the frame types, their limits and their encoders
 * and decoders. No allocation and no I/O: decoders read caller memory and
 * encoders append to a caller `struct buf` (common/buf.h).
 *
 * Frame: an 8-byte little-endian header, then `len` body bytes:
 *     u32 len      body length, at most PROTO_BODY_MAX
 *     u16 type     enum proto_type
 *     u16 flags    must be 0 in version 1
 * Strings inside bodies are u32 length + bytes (no NUL on the wire, no
 * embedded NUL accepted). Decoded strings are zero-copy `struct proto_str`
 * views into the frame: valid while the frame's bytes are.
 *
 * Conversation: the connecting side sends HELLO first, the other answers
 * HELLO; a peer whose first frame is not a HELLO with a compatible version
 * gets an ERROR frame and is closed. A frame of a type the receiver does not
 * know is answered with an ERROR frame (proto_put_error_unknown) and skipped.
 *
 *   session (broker -> agent port 1024, one connection per SSH channel):
 *     B: HELLO  A: HELLO  B: OPEN  A: OPENED | ERROR(+close)
 *     B: STDIN, EOF(stdin), WINDOW, SIGNAL
 *     A: STDOUT, STDERR, EOF(stdout), EXIT (last frame, then close)
 *     tcp sessions: STDIN/STDOUT carry the byte stream, EOF each way, no EXIT.
 *   listeners (ssh -R, ssh -A; one connection per listener):
 *     B: HELLO  A: HELLO  B: OPEN(listen)  A: OPENED, LISTENING | ERROR(+close)
 *     A: ACCEPTED (one per connection made to the listener inside the guest)
 *     The broker's close ends the listener. Each ACCEPTED connection is taken
 *     on a connection of its own, OPEN(accept) with the listener's token and
 *     the connection's id, then relayed like a tcp session. Unclaimed ones
 *     are closed after a while.
 *     End of input is the EOF frame, never a socket half-close: the agent
 *     treats a closed connection as a hang-up (SIGHUP to the session).
 *   control (agent -> host CID 2 port 1025, served by the VMM):
 *     A: HELLO  V: HELLO  V: IDENTITY  A: READY  A: HEARTBEAT ...
 *     V: SHUTDOWN  A: SHUTDOWN_ANSWER
 *     V: HIBERNATE A: HIBERNATE_ANSWER   (sync the disks: the VM is about to be saved)
 *   control after a resume from a hibernated image (instead of IDENTITY):
 *     A: HELLO  V: HELLO  V: RESUME  A: READY
 *     V: RECLAIM   A: RECLAIM_ANSWER   (idle policy: drop caches, compact)
 */
#ifndef BURROW_COMMON_PROTO_H
#define BURROW_COMMON_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define PROTO_MAGIC       0x57525242u /* "BRRW" little endian, in HELLO */
#define PROTO_VERSION     1u          /* current version, sent in HELLO */
#define PROTO_VERSION_MIN 1u          /* oldest version this codec speaks */

#define PROTO_HDR_LEN 8u
/* The agent's session port (vsock, on the guest's side). */
#define PROTO_SESSION_PORT 1024u
#define PROTO_FRAME_MAX    (64u * 1024) /* header included */
#define PROTO_BODY_MAX     (PROTO_FRAME_MAX - PROTO_HDR_LEN)
#define PROTO_DATA_MAX     (32u * 1024) /* STDIN/STDOUT/STDERR payload */

/* Field limits (bytes, excluding any terminator). */
#define PROTO_NAME_MAX      64    /* user, group, subsystem, term, env name */
#define PROTO_PATH_MAX      1024  /* shell, home */
#define PROTO_HOST_MAX      255   /* hostname, tcp host */
#define PROTO_COMMAND_MAX   16384 /* exec command */
#define PROTO_ENV_VALUE_MAX 1024
#define PROTO_ENV_MAX       64   /* environment entries in OPEN */
#define PROTO_MODES_MAX     64   /* terminal modes in OPEN */
#define PROTO_TEXT_MAX      1024 /* error text, step text */
#define PROTO_ENTROPY_LEN   64

enum proto_type {
    PROTO_HELLO = 1,
    PROTO_ERROR = 2,
    /* session (port 1024) */
    PROTO_OPEN = 16,
    PROTO_OPENED = 17,
    PROTO_STDIN = 18,
    PROTO_STDOUT = 19,
    PROTO_STDERR = 20,
    PROTO_EOF = 21,
    PROTO_WINDOW = 22,
    PROTO_SIGNAL = 23,
    PROTO_EXIT = 24,
    PROTO_LISTENING = 25,
    PROTO_ACCEPTED = 26,
    /* control (port 1025) */
    PROTO_IDENTITY = 32,
    PROTO_READY = 33,
    PROTO_HEARTBEAT = 34,
    PROTO_SHUTDOWN = 35,
    PROTO_SHUTDOWN_ANSWER = 36,
    PROTO_RECLAIM = 37,
    PROTO_RECLAIM_ANSWER = 38,
    /* hibernation (port 1025; vmm/hibernate.h) */
    PROTO_HIBERNATE = 40,
    PROTO_HIBERNATE_ANSWER = 41,
    PROTO_RESUME = 42,
};

/* A zero-copy string: points into the frame, NOT NUL-terminated. */
struct proto_str {
    const char *p;
    uint32_t len;
};

/* One framed message as found in a byte stream. */
struct proto_frame {
    uint16_t type;
    uint16_t flags;
    uint32_t len;        /* body length */
    const uint8_t *body; /* points into the caller's bytes */
    size_t size;         /* PROTO_HDR_LEN + len: bytes this frame occupies */
};

enum proto_role { PROTO_ROLE_BROKER = 1, PROTO_ROLE_AGENT = 2, PROTO_ROLE_VMM = 3 };

struct proto_hello {
    uint32_t version;  /* sender's highest version */
    uint32_t role;     /* enum proto_role */
    uint64_t features; /* reserved: 0 */
};

struct proto_error {
    int32_t code; /* enum burrow_err (negative) */
    struct proto_str text;
};

enum proto_open_kind {
    PROTO_OPEN_SHELL = 1,
    PROTO_OPEN_EXEC = 2,
    PROTO_OPEN_SUBSYSTEM = 3,
    PROTO_OPEN_TCP = 4,
    PROTO_OPEN_LISTEN = 5, /* a listener inside the guest, created as `user` */
    PROTO_OPEN_ACCEPT = 6, /* take a connection a listener accepted (claim) */
};
#define PROTO_OPEN_F_PTY  0x1u /* allocate a pty (shell/exec/subsystem) */
#define PROTO_OPEN_F_UNIX 0x2u /* LISTEN: a unix socket (the agent socket), not tcp */
#define PROTO_TOKEN_LEN   16   /* a listener's claim token */

struct proto_window {
    uint32_t cols, rows, xpixel, ypixel;
};

/* RFC 4254 §8 opcodes (VINTR=1 ... TTY_OP_OSPEED=129); opcode 0 is invalid. */
struct proto_tty_mode {
    uint8_t op;
    uint32_t value;
};

struct proto_env {
    struct proto_str name, value;
};

struct proto_open {
    uint32_t kind;  /* enum proto_open_kind */
    uint32_t flags; /* PROTO_OPEN_F_* */
    struct proto_str user;
    struct proto_str term; /* "" = none */
    struct proto_window window;
    uint32_t n_modes;
    struct proto_tty_mode modes[PROTO_MODES_MAX];
    uint32_t n_env;
    struct proto_env env[PROTO_ENV_MAX];
    struct proto_str command; /* EXEC: command line; SUBSYSTEM: name ("sftp") */
    struct proto_str host;    /* TCP: destination inside the guest; LISTEN: "" */
    uint32_t port;            /* TCP: 1..65535; LISTEN (tcp): 0 (any free port)..65535 */
    /* ACCEPT only (appended on the wire after `port` for that kind alone, so
     * every other OPEN is byte for byte what agents before it expect): */
    uint8_t token[PROTO_TOKEN_LEN]; /* the listener's, from LISTENING */
    uint32_t conn_id;               /* from ACCEPTED */
};

struct proto_opened {
    uint32_t pid; /* session leader's pid in the guest, 0 for tcp */
};

/* LISTEN answered: what the broker needs to use the listener. */
struct proto_listening {
    uint32_t port;                  /* tcp: the bound port (the free one for port 0) */
    struct proto_str path;          /* unix: the socket's path (for SSH_AUTH_SOCK) */
    uint8_t token[PROTO_TOKEN_LEN]; /* random: names the listener in OPEN(accept) */
};

/* A connection to a listener, waiting to be claimed. */
struct proto_accepted {
    uint32_t id;             /* per listener, never 0 */
    struct proto_str origin; /* the peer's address ("" for unix sockets) */
    uint32_t origin_port;    /* 0..65535 */
};

enum proto_stream { PROTO_STREAM_STDIN = 0, PROTO_STREAM_STDOUT = 1, PROTO_STREAM_STDERR = 2 };

enum proto_exit_kind { PROTO_EXIT_STATUS = 1, PROTO_EXIT_SIGNAL = 2 };
struct proto_exit {
    uint32_t kind;  /* enum proto_exit_kind */
    uint32_t value; /* exit status 0..255, or Linux signal number */
    uint32_t core_dumped;
};

/*
 * The VM's IPv4 network (PROTO_ID_F_NET): what the agent puts on eth0 before
 * READY. Addresses in host byte order. Appended after `flags` on the wire, so
 * older agents (which ignore trailing bytes and unknown flags) still work.
 */
#define PROTO_DNS_MAX 3
struct proto_net {
    uint8_t mac[6];
    uint32_t addr;
    uint32_t prefix; /* 1-32 */
    uint32_t gateway;
    uint32_t nr_dns; /* 0: resolv.conf is left alone */
    uint32_t dns[PROTO_DNS_MAX];
};

struct proto_identity {
    struct proto_str user;
    uint32_t uid, gid;
    struct proto_str shell;
    struct proto_str home;
    struct proto_str hostname;
    uint8_t entropy[PROTO_ENTROPY_LEN];
    int64_t time_sec;
    uint32_t time_nsec;
    uint32_t flags;       /* PROTO_ID_F_* */
    struct proto_net net; /* with PROTO_ID_F_NET only */
    /* Later versions append fields; decoders ignore bytes after these. */
};
#define PROTO_ID_F_HOME_DISK  0x1u /* a home disk is attached (virtio-blk slot) */
#define PROTO_ID_F_ALLOW_ROOT 0x2u /* [users] allow_root */
#define PROTO_ID_F_NET        0x4u /* `net` follows: configure eth0 */

enum proto_step {
    PROTO_STEP_ENTROPY = 0,
    PROTO_STEP_CLOCK = 1,
    PROTO_STEP_HOSTNAME = 2,
    PROTO_STEP_USERS = 3,
    PROTO_STEP_HOME = 4,
    PROTO_STEP_HOOKS = 5,
    PROTO_STEP_NETWORK = 6,
    PROTO_STEP_COUNT = 7
};
enum proto_outcome {
    PROTO_STEP_NONE = 0,
    PROTO_STEP_OK = 1,
    PROTO_STEP_FAILED = 2,
    PROTO_STEP_SKIPPED = 3
};

struct proto_ready {
    /* Indexed by enum proto_step; unknown steps from newer peers are skipped. */
    uint32_t outcome[PROTO_STEP_COUNT]; /* enum proto_outcome */
    struct proto_str text[PROTO_STEP_COUNT];
};

struct proto_heartbeat {
    uint64_t seq;
};

#define PROTO_SHUTDOWN_F_POWEROFF 0x1u /* the agent asks init to power off after answering */
struct proto_shutdown {
    uint32_t flags;
};

struct proto_shutdown_answer {
    int32_t code; /* 0 or enum burrow_err: sync/unmount outcome */
    struct proto_str text;
};

/*
 * HIBERNATE: the VMM is about to pause the VM and write it to disk. The agent
 * syncs every filesystem (the home disk's FLUSH reaches the image as
 * fdatasync) and answers; the VMM saves the VM only after a 0 answer. No
 * flags are defined yet.
 */
struct proto_hibernate {
    uint32_t flags;
};

struct proto_hibernate_answer {
    int32_t code; /* 0 or enum burrow_err: the sync's outcome */
    struct proto_str text;
};

/*
 * RESUME: sent instead of IDENTITY when the VM was resumed from a hibernated
 * image. Its processes, users, hostname and mounts are the running system's
 * and stay; the agent only sets the wall clock (kvmclock continued from the
 * moment of hibernation), mixes in fresh entropy and, with PROTO_ID_F_NET,
 * applies the network (the TAP and address may differ from before), then
 * answers READY. Like IDENTITY, later fields may follow.
 */
struct proto_resume {
    uint8_t entropy[PROTO_ENTROPY_LEN];
    int64_t time_sec;
    uint32_t time_nsec;
    uint32_t flags;    /* PROTO_ID_F_NET only; other bits are ignored */
    uint64_t slept_ms; /* how long the VM was on disk (for the agent's log) */
    struct proto_net net;
};

/*
 * RECLAIM: the VMM saw no session byte for [vm] idle_reclaim seconds and asks
 * the agent to give memory back: drop the page cache (sync first) and compact,
 * so the freed pages coalesce into blocks the guest's free page reporting
 * (virtio-balloon) hands to the host. The answer carries MemFree before and
 * after, for the VMM's log. An agent that does not know RECLAIM answers with
 * an ERROR frame (unknown type), which the VMM takes as "not supported".
 */
#define PROTO_RECLAIM_F_DROP_CACHES 0x1u
#define PROTO_RECLAIM_F_COMPACT     0x2u
#define PROTO_RECLAIM_F_KNOWN       (PROTO_RECLAIM_F_DROP_CACHES | PROTO_RECLAIM_F_COMPACT)
struct proto_reclaim {
    uint32_t flags; /* PROTO_RECLAIM_F_* */
};

struct proto_reclaim_answer {
    int32_t code;             /* 0, or enum burrow_err: the first step that failed */
    uint64_t free_before_kib; /* MemFree before and after (0: unknown) */
    uint64_t free_after_kib;
};

#define PROTO_MUST_CHECK __attribute__((warn_unused_result))

/*
 * Find the next frame in [data, data+avail). Returns 0 with *f filled (the
 * frame occupies f->size bytes), BURROW_ERR_AGAIN if more bytes are needed,
 * BURROW_ERR_TOO_LARGE if the header announces more than PROTO_BODY_MAX,
 * BURROW_ERR_FORMAT if reserved flags are set. Any type is accepted here;
 * the typed decoders reject what they do not know.
 */
PROTO_MUST_CHECK int proto_frame_parse(const void *data, size_t avail, struct proto_frame *f);
/* The same over a buf: on success the frame's bytes are consumed from `in`. */
PROTO_MUST_CHECK int proto_frame_next(struct buf *in, struct proto_frame *f);

/* Nonzero if this codec knows `type`. */
int proto_type_known(uint32_t type);
/* A short name for a type ("open", "stdout", ...) or "unknown". */
const char *proto_type_name(uint32_t type);

/* HELLO check: BURROW_ERR_VERSION unless magic/version are compatible. */
PROTO_MUST_CHECK int proto_hello_check(const struct proto_hello *h);

/*
 * Decoders: 0, or BURROW_ERR_PROTOCOL if the frame has another type,
 * BURROW_ERR_TRUNCATED/FORMAT/TOO_LARGE/RANGE/TRAILING for a malformed body.
 * On error the output struct is unspecified.
 */
PROTO_MUST_CHECK int proto_get_hello(const struct proto_frame *f, struct proto_hello *out);
PROTO_MUST_CHECK int proto_get_error(const struct proto_frame *f, struct proto_error *out);
PROTO_MUST_CHECK int proto_get_open(const struct proto_frame *f, struct proto_open *out);
PROTO_MUST_CHECK int proto_get_opened(const struct proto_frame *f, struct proto_opened *out);
/* STDIN/STDOUT/STDERR: the body is the data (at most PROTO_DATA_MAX). */
PROTO_MUST_CHECK int proto_get_data(const struct proto_frame *f, const uint8_t **data, size_t *len);
PROTO_MUST_CHECK int proto_get_eof(const struct proto_frame *f, uint32_t *stream);
PROTO_MUST_CHECK int proto_get_window(const struct proto_frame *f, struct proto_window *out);
PROTO_MUST_CHECK int proto_get_signal(const struct proto_frame *f, uint32_t *signo);
PROTO_MUST_CHECK int proto_get_exit(const struct proto_frame *f, struct proto_exit *out);
PROTO_MUST_CHECK int proto_get_listening(const struct proto_frame *f, struct proto_listening *out);
PROTO_MUST_CHECK int proto_get_accepted(const struct proto_frame *f, struct proto_accepted *out);
PROTO_MUST_CHECK int proto_get_identity(const struct proto_frame *f, struct proto_identity *out);
PROTO_MUST_CHECK int proto_get_ready(const struct proto_frame *f, struct proto_ready *out);
PROTO_MUST_CHECK int proto_get_heartbeat(const struct proto_frame *f, struct proto_heartbeat *out);
PROTO_MUST_CHECK int proto_get_shutdown(const struct proto_frame *f, struct proto_shutdown *out);
PROTO_MUST_CHECK int proto_get_shutdown_answer(const struct proto_frame *f,
                                               struct proto_shutdown_answer *out);
PROTO_MUST_CHECK int proto_get_hibernate(const struct proto_frame *f, struct proto_hibernate *out);
PROTO_MUST_CHECK int proto_get_hibernate_answer(const struct proto_frame *f,
                                                struct proto_hibernate_answer *out);
PROTO_MUST_CHECK int proto_get_resume(const struct proto_frame *f, struct proto_resume *out);
PROTO_MUST_CHECK int proto_get_reclaim(const struct proto_frame *f, struct proto_reclaim *out);
PROTO_MUST_CHECK int proto_get_reclaim_answer(const struct proto_frame *f,
                                              struct proto_reclaim_answer *out);

/*
 * Encoders append one whole frame to `b`, or nothing: on error (BURROW_ERR_AGAIN
 * for no room in a fixed buffer, TOO_LARGE/RANGE/INVALID for bad fields) the
 * buffer is left as it was.
 */
PROTO_MUST_CHECK int proto_put_hello(struct buf *b, const struct proto_hello *h);
/* text may be NULL; it is truncated to PROTO_TEXT_MAX. */
PROTO_MUST_CHECK int proto_put_error(struct buf *b, int32_t code, const char *text);
/* The answer to a frame of unknown type: ERROR(UNSUPPORTED, "unknown frame type N"). */
PROTO_MUST_CHECK int proto_put_error_unknown(struct buf *b, uint32_t type);
PROTO_MUST_CHECK int proto_put_open(struct buf *b, const struct proto_open *o);
PROTO_MUST_CHECK int proto_put_opened(struct buf *b, const struct proto_opened *o);
/* type is PROTO_STDIN, PROTO_STDOUT or PROTO_STDERR; len <= PROTO_DATA_MAX. */
PROTO_MUST_CHECK int proto_put_data(struct buf *b, uint32_t type, const void *data, size_t len);
PROTO_MUST_CHECK int proto_put_eof(struct buf *b, uint32_t stream);
PROTO_MUST_CHECK int proto_put_window(struct buf *b, const struct proto_window *w);
PROTO_MUST_CHECK int proto_put_signal(struct buf *b, uint32_t signo);
PROTO_MUST_CHECK int proto_put_exit(struct buf *b, const struct proto_exit *e);
PROTO_MUST_CHECK int proto_put_listening(struct buf *b, const struct proto_listening *l);
PROTO_MUST_CHECK int proto_put_accepted(struct buf *b, const struct proto_accepted *a);
PROTO_MUST_CHECK int proto_put_identity(struct buf *b, const struct proto_identity *id);
PROTO_MUST_CHECK int proto_put_ready(struct buf *b, const struct proto_ready *r);
PROTO_MUST_CHECK int proto_put_heartbeat(struct buf *b, const struct proto_heartbeat *h);
PROTO_MUST_CHECK int proto_put_shutdown(struct buf *b, const struct proto_shutdown *s);
PROTO_MUST_CHECK int proto_put_shutdown_answer(struct buf *b,
                                               const struct proto_shutdown_answer *a);
PROTO_MUST_CHECK int proto_put_hibernate(struct buf *b, const struct proto_hibernate *h);
PROTO_MUST_CHECK int proto_put_hibernate_answer(struct buf *b,
                                                const struct proto_hibernate_answer *a);
PROTO_MUST_CHECK int proto_put_resume(struct buf *b, const struct proto_resume *r);
PROTO_MUST_CHECK int proto_put_reclaim(struct buf *b, const struct proto_reclaim *r);
PROTO_MUST_CHECK int proto_put_reclaim_answer(struct buf *b, const struct proto_reclaim_answer *a);

/* Helpers for encoders: a proto_str over a C string (NULL -> empty). */
struct proto_str proto_str_c(const char *s);
/* Nonzero if s equals the C string c. */
int proto_str_eq(struct proto_str s, const char *c);
/* Copy s into out (NUL-terminated); BURROW_ERR_TOO_LARGE if it does not fit. */
PROTO_MUST_CHECK int proto_str_copy(struct proto_str s, char *out, size_t outsz);

/*
 * Signals cross the wire as Linux x86-64 numbers; SSH names them without the
 * "SIG" prefix (RFC 4254 §6.10). 0 / NULL for names and numbers not listed.
 */
uint32_t proto_signal_from_name(const char *name);
const char *proto_signal_name(uint32_t signo);

#endif /* BURROW_COMMON_PROTO_H */
