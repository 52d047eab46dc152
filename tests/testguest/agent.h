/*
 * tests/testguest/agent.h - what agent_mode.c (the agent behaviour and the
 * state a restore must keep) and agent_vq.c (its virtio-vsock driver) share.
 */
#ifndef BURROW_TESTS_TESTGUEST_AGENT_H
#define BURROW_TESTS_TESTGUEST_AGENT_H

#include <stdint.h>

#include "tests/testguest/console.h"
#include "tests/testguest/cpu.h"

/* A virtio_vsock_hdr as it sits in guest memory. */
struct tgv_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

extern uint64_t tgv_cid; /* our CID, re-read after every transport reset */

/* Find and start the device; its interrupts go to `vector` on APIC 0. */
void tgv_init(unsigned vector);
/* Send one packet (header + data) and wait until the device took it. */
void tgv_send(const struct tgv_hdr *h, const void *data, uint32_t len);
/* The next received packet (header first), or 0; hand it back with tgv_rx_done. */
int tgv_rx_next(uint16_t *id, const uint8_t **pkt, uint32_t *len);
void tgv_rx_done(uint16_t id);
/* 1 if an event (TRANSPORT_RESET) arrived; the event buffer is re-armed. */
int tgv_event_next(void);
/* For idling: a mark of the used indices, and whether nothing arrived since. */
uint32_t tgv_mark(void);
int tgv_quiet_since(uint32_t mark);

/* Connections (agent_mode.c): slot 0 is the control connection to port 1025. */
#define TG_CONNS 4
/* Send bytes on a connection (split into packets); close it (vsock SHUTDOWN). */
void tg_conn_send(unsigned slot, const void *data, uint32_t len);
void tg_conn_close(unsigned slot);

/* agent_session.c: the agent protocol on port 1024 (built-in commands). */
struct buf;
struct proto_str;
void tgs_open(unsigned slot);
/* 1 if the bytes were session frames and handled, 0 for a plain echo connection. */
int tgs_data(unsigned slot, const uint8_t *p, uint32_t len);
void tgs_identity(struct proto_str user, struct proto_str hostname);
/* Append the SHUTDOWN_ANSWER to the control port's SHUTDOWN, HIBERNATE_ANSWER to HIBERNATE. */
int tgs_shutdown_answer(struct buf *b);
int tgs_hibernate_answer(struct buf *b);

/* dev_modes.c: a mark (TG_SYNC_MARK, TG_HIB_MARK) into a sector of the home disk, FLUSHed. */
void tg_blk_mark_synced(unsigned sector, const char *mark, unsigned len);
/* agent_session.c: fill the TG_MEM_BASE pages with the template's pattern (abi.h). */
void tgs_mem_template(void);
/* balloon.c: the virtio-balloon driver and the density tests' memory (abi.h). */
void tgb_init(unsigned vector); /* nothing without a balloon device */
int tgb_present(void);
uint32_t tgb_held(void);
/* Stats and the host's target, when `irqs` (the virtio interrupt count) moved. */
void tgb_poll(uint64_t irqs);
void tgb_template_image(void);              /* the template's bytes of the fill range */
void tgb_fill(uint64_t seed, unsigned mib); /* the fill range, as "cache" */
int tgb_check(uint64_t seed, unsigned mib, uint64_t *bad); /* seed 0: the template's image */
uint64_t tgb_report_fill(unsigned mib);                    /* free page reporting; bytes reported */
/* RECLAIM: the "cache" goes back to the host; free KiB before and after. */
void tgb_reclaim(uint64_t *free_before, uint64_t *free_after);

#endif /* BURROW_TESTS_TESTGUEST_AGENT_H */
