/*
 * vmm/vmmctl.h - what a running VMM process does for density besides running
 * its VM, and how the host talks to it about memory.
 *
 * Owns:
 *   - dir/control.sock (a unix socket, root's, 0600, made before the jail;
 *     served by the VMM's main thread between its signal checks): one
 *     request line, one answer line, then the connection closes.
 *         BALLOON <MiB>   set the balloon's target -> "OK <MiB>" | "ERR <why>"
 *   - dir/balloon: the VM's memory record, one fixed-width line of
 *     key=value pairs (struct vmm_mem_record) rewritten in place with one
 *     pwrite whenever it changes (opened before the jail, like dir/conns);
 *     `burrowctl vm list --json` and `burrowctl status` read it.
 *   - the guest's statistics, asked for at the start, every
 *     VMMCTL_STATS_PERIOD_S, and when its memory just moved (an answered
 *     RECLAIM, the balloon at a new size) (the balloon's stats queue);
 *   - the idle policy: after [vm] idle_reclaim seconds without a session
 *     byte (virtio_vsock_session_bytes), one RECLAIM to the agent (drop
 *     caches, compact), then nothing until a session byte moves again.
 *     Free page reporting hands the pages the guest frees to the host.
 */
#ifndef BURROW_VMM_VMMCTL_H
#define BURROW_VMM_VMMCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMMCTL_SOCK           "control.sock"
#define VMMCTL_RECORD         "balloon"
#define VMMCTL_RECORD_LEN     512 /* bytes of dir/balloon, newline included */
#define VMMCTL_STATS_PERIOD_S 30
#define VMMCTL_TIMEOUT_MS     5000 /* a client's wait for the answer */

/* dir/balloon. Sizes in pages are 4 KiB pages; the guest's statistics in bytes. */
struct vmm_mem_record {
    uint64_t balloon; /* 0: the VM has no balloon (a template older than it) */
    uint64_t ram_pages, target_pages, actual_pages, held_pages;
    uint64_t stats_seen; /* bit per stats tag the guest sent (enum balloon_stat) */
    uint64_t free_bytes, avail_bytes, total_bytes, caches_bytes;
    uint64_t stats_at; /* unix time of the last statistics, 0: none yet */
    uint64_t reports, reported_bytes, refused, oom_deflates;
    uint64_t reclaims;       /* RECLAIMs sent to the agent */
    uint64_t reclaim_at;     /* unix time of the last one, 0: none */
    uint64_t reclaim_before; /* the agent's answer: MemFree before and after, KiB */
    uint64_t reclaim_after;
};

/* The record as its fixed-width line (VMMCTL_RECORD_LEN bytes, newline last). */
void vmmctl_format_record(const struct vmm_mem_record *r, char line[VMMCTL_RECORD_LEN]);
/* Parse a record line (untrusted text); unknown keys are skipped. 0 or BURROW_ERR_FORMAT. */
__attribute__((warn_unused_result)) int vmmctl_parse_record(const char *line,
                                                            struct vmm_mem_record *out);
/* dir/balloon of a VM: 0, BURROW_ERR_NOT_FOUND (none yet, or a pooled VM), FORMAT. */
__attribute__((warn_unused_result)) int vmmctl_read_record(const char *dir,
                                                           struct vmm_mem_record *out);

/*
 * One request to a running VM's control socket and its answer line:
 * 0 with the answer, BURROW_ERR_NOT_FOUND (no socket), CLOSED, TIMEOUT.
 */
__attribute__((warn_unused_result)) int vmmctl_call(const char *dir, const char *request,
                                                    char *answer, size_t sz);

/* The VMM process's side. */
struct fork_vm;
struct vmmctl {
    int listen_fd; /* dir/control.sock */
    int record_fd; /* dir/balloon */
    struct fork_vm *f;
    unsigned idle_reclaim_s; /* 0: never */
    uint64_t session_bytes;  /* virtio_vsock_session_bytes at the last change */
    uint64_t idle_since_ns;  /* CLOCK_MONOTONIC of that change (or of the start) */
    bool reclaimed;          /* this idle period's RECLAIM is sent */
    uint64_t next_stats_ns;
    uint64_t stats_updates; /* the balloon's count when the record was last stamped */
    struct vmm_mem_record rec;
    bool rec_written;
};

/* Before the jail (root): the socket and the record file in dir. fds -1 on failure. */
__attribute__((warn_unused_result)) int vmmctl_open(struct vmmctl *c, const char *dir);
/* The VM runs: start the clocks (now_ns: CLOCK_MONOTONIC). */
void vmmctl_start(struct vmmctl *c, struct fork_vm *f, unsigned idle_reclaim_s, uint64_t now_ns);
/* Statistics due, the record if it changed, the idle policy. */
void vmmctl_tick(struct vmmctl *c, uint64_t now_ns);
/* Wait up to timeout_ms for a client and answer it. */
void vmmctl_serve(struct vmmctl *c, unsigned timeout_ms);
void vmmctl_close(struct vmmctl *c);

#endif /* BURROW_VMM_VMMCTL_H */
