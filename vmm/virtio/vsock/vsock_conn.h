/*
 * vmm/virtio/vsock/vsock_conn.h - internals shared by vsock.c (the guest side:
 * queues, packets, state machine) and vsock_host.c (the host side: unix
 * sockets, the CONNECT handshake, byte movement). Not a public interface.
 */
#ifndef BURROW_VMM_VIRTIO_VSOCK_CONN_H
#define BURROW_VMM_VIRTIO_VSOCK_CONN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/vsockconn.h"
#include "vmm/virtio/queue.h"
#include "vmm/virtio/vsock/vsock.h"

#define VSOCK_RXQ            0
#define VSOCK_TXQ            1
#define VSOCK_EVQ            2
#define VSOCK_MAX_HANDLERS   8
#define VSOCK_RST_QUEUE      64  /* RSTs for packets that match no connection */
#define VSOCK_BUDGET         256 /* packets per pass before yielding to other devices */
#define VSOCK_LINE_MAX       VSOCKCONN_LINE_MAX
#define VSOCK_EPHEMERAL_BASE (1u << 30)

enum vsock_conn_state {
    CONN_FREE = 0,
    CONN_HANDSHAKE,  /* host client: reading "CONNECT <port>\n" */
    CONN_CONNECTING, /* host client: REQUEST to the guest, waiting for RESPONSE */
    CONN_ESTABLISHED,
    CONN_CLOSING, /* flushing what the guest sent, then RST */
};

/* Control packets a connection owes the guest, highest priority first. */
#define PEND_RST           0x01u
#define PEND_REQUEST       0x02u
#define PEND_RESPONSE      0x04u
#define PEND_SHUTDOWN      0x08u
#define PEND_CREDIT_UPDATE 0x10u

struct vsock_conn {
    enum vsock_conn_state state;
    uint32_t gen;            /* bumped when freed: stale epoll events are ignored */
    int fd;                  /* host side, nonblocking; -1 once closed */
    uint32_t local_port;     /* host (CID 2) port */
    uint32_t peer_port;      /* guest port */
    unsigned pending;        /* PEND_* */
    uint32_t shutdown_flags; /* for PEND_SHUTDOWN */

    /* guest -> host: our receive side; the guest's credit is VSOCK_CONN_BUF */
    uint32_t rx_cnt;       /* payload bytes received from the guest */
    uint32_t fwd_cnt;      /* of those, bytes the host socket took */
    uint32_t fwd_reported; /* fwd_cnt last told to the guest */
    uint8_t *buf;          /* ring of bytes the host socket has not taken yet (lazy) */
    uint32_t buf_head, buf_len;

    /* host -> guest */
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t tx_cnt; /* payload bytes sent to the guest */

    bool host_readable, host_writable; /* edge-triggered readiness, cleared on EAGAIN */
    bool host_eof;                     /* host will send no more */
    bool guest_no_send;                /* guest SHUTDOWN SEND seen */
    bool guest_no_recv;                /* guest SHUTDOWN RCV seen */
    bool host_shut_wr;                 /* we did shutdown(SHUT_WR) on the host socket */
    bool internal;                     /* served by a VMM handler (port 1025): not a session */

    char line[VSOCK_LINE_MAX];
    unsigned line_len;
};

struct vsock_handler {
    uint32_t port;
    vsock_accept_fn fn;
    void *ctx;
};

struct virtio_vsock {
    pthread_mutex_t lock; /* guards everything below */
    const struct virtio_transport *t;
    uint64_t guest_cid;
    bool active;
    struct virtio_activation act;

    int epfd;      /* host-side readiness */
    int listen_fd; /* -1 without uds_path */
    int wake_fd;   /* eventfd: "come back later" after a budget ran out */
    char uds_path[108];

    struct vsock_conn conns[VSOCK_MAX_CONNS];
    unsigned rr; /* round-robin cursor for rx fairness */
    uint32_t next_ephemeral;
    struct vsock_handler handlers[VSOCK_MAX_HANDLERS];
    unsigned nr_handlers;
    struct {
        uint32_t local_port, peer_port;
    } rst_queue[VSOCK_RST_QUEUE];
    unsigned rst_len;
    bool event_pending;     /* TRANSPORT_RESET not yet delivered */
    uint64_t session_bytes; /* atomic: payload both ways on connections that are not internal */

    struct vq_chain chain; /* scratch */
    struct iovec iov[VQ_MAX_IOV];
};

/* ---- vsock_rx.c ---- */
/* Control packets and host data into the guest's rx buffers (budgeted). */
void vsock_rx_pump(struct virtio_vsock *v);
/* Deliver a pending TRANSPORT_RESET if the guest posted an event buffer. */
void vsock_event_pump(struct virtio_vsock *v);
/*
 * Pop a chain into v->chain with at least min_in writable bytes: 1 got one,
 * 0 none (notifications re-enabled), -1 the guest broke the ring (NEEDS_RESET).
 */
int vsock_take_chain(struct virtio_vsock *v, struct vq *q, uint64_t min_in);

/* ---- vsock.c ---- */
/* Both directions are finished (or the guest closed): owe an RST, forget after. */
void vsock_conn_maybe_finish(struct vsock_conn *c);
void vsock_conn_free(struct virtio_vsock *v, struct vsock_conn *c);
/* Host side failed: close the socket now, owe the guest an RST. */
void vsock_conn_abort(struct virtio_vsock *v, struct vsock_conn *c);
struct vsock_conn *vsock_conn_alloc(struct virtio_vsock *v);
uint32_t vsock_credit_to_guest(const struct vsock_conn *c);
/* Buffered guest bytes reached the host: credit, deferred shutdown/close. */
void vsock_conn_flushed(struct virtio_vsock *v, struct vsock_conn *c);
/* Ask the event loop to call back (a budget ran out with work left). */
void vsock_wake(struct virtio_vsock *v);

/* ---- vsock_host.c ---- */
__attribute__((warn_unused_result)) int vsock_host_init(struct virtio_vsock *v,
                                                        const char *uds_path);
void vsock_host_fini(struct virtio_vsock *v);
/* Start watching a connection's socket. */
__attribute__((warn_unused_result)) int vsock_host_watch(struct virtio_vsock *v,
                                                         struct vsock_conn *c);
/*
 * Guest asked for host port `port`: a connected fd, or -1 (then RST).
 * *internal: the VMM's own handler took it (its bytes are no session's).
 */
int vsock_host_connect(struct virtio_vsock *v, uint32_t port, uint32_t guest_port, bool *internal);
/* Payload of a session connection moved (either way): the idle clock restarts. */
void vsock_count_session(struct virtio_vsock *v, const struct vsock_conn *c, uint32_t bytes);
/*
 * Guest payload for c: write what the host socket takes, buffer the rest.
 * Returns 0, or BURROW_ERR_GUEST if the guest exceeded its credit, or
 * BURROW_ERR_CLOSED if the host socket failed.
 */
__attribute__((warn_unused_result)) int vsock_host_send(struct virtio_vsock *v,
                                                        struct vsock_conn *c,
                                                        const struct iovec *iov, unsigned n,
                                                        uint32_t len);
/* Push buffered guest bytes to the host socket; 0 or BURROW_ERR_CLOSED. */
__attribute__((warn_unused_result)) int vsock_host_flush(struct vsock_conn *c);
/* Host -> guest payload: readv into iov. >0 bytes, 0 EOF, BURROW_ERR_AGAIN, other error. */
int vsock_host_recv(struct vsock_conn *c, struct iovec *iov, unsigned n);
/* Tell the host client the guest accepted ("OK <port>\n"). */
__attribute__((warn_unused_result)) int vsock_host_accepted(struct vsock_conn *c);
/* Drain epoll: accept clients, run handshakes, record readiness, flush buffers. */
void vsock_host_events(struct virtio_vsock *v);

#endif /* BURROW_VMM_VIRTIO_VSOCK_CONN_H */
