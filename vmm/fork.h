/*
 * vmm/fork.h - a VM forked from a template build (docs/fork.md).
 *
 * Owns: the copy-on-write mapping of the template's `memory`
 * (MAP_PRIVATE | MAP_NORESERVE, MADV_MERGEABLE with [vm] ksm), the restore of `state` into
 * a fresh KVM VM, the home disk attached to the empty blk slot, the fork
 * signal (TRANSPORT_RESET) and the VMM's side of the control port 1025:
 * HELLO + IDENTITY to the agent, then wait for its READY.
 *
 * The same control-port code serves a template build (vmm/template.c),
 * which sends a placeholder identity and waits for READY before the
 * snapshot.
 */
#ifndef BURROW_VMM_FORK_H
#define BURROW_VMM_FORK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/proto.h"
#include "vmm/ctlport.h"
#include "vmm/identity.h"
#include "vmm/machine.h"
#include "vmm/snapshot.h"

struct hib_resume;

#define FORK_CONTROL_PORT 1025u
/* A fork's console log (run_dir/vm/<id>/console.log) keeps the first 4 MiB. */
#define FORK_CONSOLE_MAX (4ull << 20)

/* The VMM end of port 1025 (one agent connection at a time). */
struct control_port {
    struct vm *vm;
    const struct fork_identity *id;
    bool home_disk;
    int fd;
    struct ctlport_rx rx; /* the agent's stream (vmm/ctlport.h) */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned nr_ready;                  /* READY frames received */
    uint64_t ready_ns;                  /* CLOCK_MONOTONIC of the last READY */
    uint8_t entropy[PROTO_ENTROPY_LEN]; /* the last entropy sent (tests) */
    uint8_t net_mac[6];                 /* the fork's MAC, sent with id->net */
    unsigned nr_shutdown;               /* answers to SHUTDOWN or HIBERNATE received */
    int32_t shutdown_code;              /* the last answer's code and text */
    char shutdown_text[128];
    bool asking;                 /* a request waits: an ERROR frame from the agent answers it */
    bool resumed;                /* from a hibernated image: RESUME instead of IDENTITY */
    uint64_t slept_ms;           /* how long it was on disk (told in RESUME) */
    unsigned nr_reclaim;         /* RECLAIM frames sent (idle policy) */
    unsigned nr_reclaim_answers; /* RECLAIM_ANSWER frames received */
    struct proto_reclaim_answer last_reclaim; /* the last answer */
};

void control_port_init(struct control_port *cp, struct vm *vm, const struct fork_identity *id);
void control_port_fini(struct control_port *cp);
/* Register the handler on the vsock device (before the guest runs). */
__attribute__((warn_unused_result)) int control_port_listen(struct control_port *cp,
                                                            struct devices *d);
/* Wait until nr_ready > seen or timeout; BURROW_ERR_TIMEOUT, or the VM stopped: BURROW_ERR_CLOSED.
 */
__attribute__((warn_unused_result)) int control_port_wait_ready(struct control_port *cp,
                                                                unsigned seen, unsigned timeout_ms);

/*
 * Ask the agent to sync and unmount the home disk (SHUTDOWN) and wait for its
 * SHUTDOWN_ANSWER: 0 with *code/text set, BURROW_ERR_CLOSED (no agent
 * connection), BURROW_ERR_TIMEOUT. Called from a thread other than the event
 * thread (the fd is used under cp->lock).
 */
__attribute__((warn_unused_result)) int control_port_shutdown(struct control_port *cp,
                                                              unsigned timeout_ms, int32_t *code,
                                                              char *text, size_t textsz);

/*
 * Ask the agent to sync every filesystem before the VM is hibernated
 * (HIBERNATE) and wait for its HIBERNATE_ANSWER, as control_port_shutdown.
 * An agent that does not know the frame answers with an ERROR: *code is
 * its code then (BURROW_ERR_UNSUPPORTED).
 */
__attribute__((warn_unused_result)) int control_port_hibernate(struct control_port *cp,
                                                               unsigned timeout_ms, int32_t *code,
                                                               char *text, size_t textsz);

/*
 * Ask the agent to give memory back (RECLAIM with `flags`, PROTO_RECLAIM_F_*)
 * without waiting: its RECLAIM_ANSWER is logged and counted when it comes.
 * 0, or BURROW_ERR_CLOSED (no agent connection). Any thread.
 */
__attribute__((warn_unused_result)) int control_port_reclaim(struct control_port *cp,
                                                             uint32_t flags);

/*
 * The fork's network (the template has a virtio-net slot with no backend):
 * a TAP fd the fork owns from fork_vm_create on (closed on failure too), -1
 * for none (link stays down); the MAC, all zero: derived from the identity
 * (virtio_net_mac_from_seed over user and hostname); bytes/s per direction.
 */
struct fork_net {
    int tap_fd;
    uint8_t mac[6];
    uint64_t rate;
};

struct fork_config {
    const char *build_dir; /* templates/NAME-TS */
    const char *vsock_uds; /* the VM's host-side vsock socket (must not exist) */
    const char *home_disk; /* NULL: leave the blk slot empty */
    struct fork_identity id;
    int console_fd; /* -1: the guest's serial output is dropped */
    /*
     * NULL: no backend. With a template that has a net slot, every fork gets
     * a fresh MAC and the guest is told (VIRTIO_NET_S_ANNOUNCE + config
     * interrupt) either way.
     */
    const struct fork_net *net;
    /* A hibernated image to resume (vmm/hibernate.h), NULL: a fresh fork. */
    struct hib_resume *resume;
    /* [vm] ksm: guest RAM is madvise(MADV_MERGEABLE), so KSM may merge its pages. */
    bool ksm;
};

struct fork_timings {
    uint64_t start_ns;    /* fork_vm_create entered */
    uint64_t files_ns;    /* state read and checked, memory opened */
    uint64_t machine_ns;  /* VM (memslots, irqchip, vCPUs) and devices created */
    uint64_t state_ns;    /* KVM and device state restored */
    uint64_t restored_ns; /* home disk attached: about to start the vCPUs */
};

struct fork_vm {
    struct machine m;
    struct snapshot snap;
    uint8_t *state;
    size_t state_len;
    int mem_fd;
    uint64_t home_bytes; /* the attached home disk's size (0: none) */
    struct control_port cp;
    struct fork_timings t;
};

/*
 * Map, create and restore (nothing runs yet). On failure `why` says why and
 * fork_vm_destroy is still safe. Errors BUSY (home disk in use), FORMAT /
 * CHECKSUM / VERSION / TRUNCATED (template files), SYSTEM, KVM.
 */
__attribute__((warn_unused_result)) int
fork_vm_create(struct fork_vm *f, const struct fork_config *cfg, char *why, size_t whysz);
/* Attach a home disk to the empty blk slot (locked; BURROW_ERR_BUSY if in use). */
__attribute__((warn_unused_result)) int fork_vm_attach_home(struct fork_vm *f, const char *path,
                                                            char *why, size_t whysz);
/* The same for a disk fd the caller opened and locked (takes it); name is for messages. */
__attribute__((warn_unused_result)) int
fork_vm_attach_home_fd(struct fork_vm *f, int fd, const char *name, char *why, size_t whysz);
/*
 * The fork's MAC and network backend (net->tap_fd, taken, closed on failure
 * too; net NULL or tap_fd -1: none, the link stays down) and the announce:
 * at create time, and again when a pooled VM is claimed with a network.
 */
__attribute__((warn_unused_result)) int fork_vm_attach_net(struct fork_vm *f,
                                                           const struct fork_net *net,
                                                           const struct fork_identity *id,
                                                           char *why, size_t whysz);

/*
 * What the jailed VMM's RLIMIT_FSIZE must be (vmm/jail/jail.h): its home
 * disk's size, or JAIL_FSIZE_NO_DISK without one.
 */
uint64_t fork_vm_file_size_limit(const struct fork_vm *f);
/*
 * A pooled VM being claimed: kvmclock back to its saved value and the TSC
 * to its saved value on every vCPU, so the guest sees no jump for the time
 * it sat in the pool.
 */
__attribute__((warn_unused_result)) int fork_vm_reset_time(struct fork_vm *f);
/* Queue the fork signal and start the vCPUs and the event thread. */
__attribute__((warn_unused_result)) int fork_vm_start(struct fork_vm *f);
void fork_vm_destroy(struct fork_vm *f);

/* Read a whole regular file of at most max bytes (malloc'd). */
__attribute__((warn_unused_result)) int fork_read_file(const char *path, size_t max, uint8_t **out,
                                                       size_t *len);
/* Open `memory` + parse `state` of a build; checks they belong together. */
__attribute__((warn_unused_result)) int
fork_open_build(const char *build_dir, int *mem_fd, uint8_t **state, size_t *state_len,
                struct snapshot *snap, struct snap_vm_info *info, char *why, size_t whysz);

#endif /* BURROW_VMM_FORK_H */
