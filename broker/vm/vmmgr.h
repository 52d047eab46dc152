/*
 * broker/vm/vmmgr.h - the VM manager, in the master (docs/architecture.md).
 *
 * Owns: the user -> VM table (one VM per user, shared by all her sessions),
 * session counting, admission (vm.max_vms), idle reaping (vm.idle_timeout
 * without sessions; the backend asks the agent to sync and unmount first),
 * idle hibernation (vm.idle_hibernate, kvm only: the VM is saved to disk and
 * her next login resumes it),
 * noticing dead VMs (pidfd), re-adopting running VMs from run_dir/vm/<id>/
 * after a restart, and the choice of backend (`auto`: kvm only where
 * hardware virtualization is real, else sandbox; `kvm` explicitly also
 * where KVM is emulated).
 *
 * Everything here is non-blocking: starting a VM forks its supervisor, and
 * the answer to the waiting sessions comes when its ready pipe speaks.
 */
#ifndef BURROW_BROKER_VMMGR_H
#define BURROW_BROKER_VMMGR_H

#include <stdint.h>
#include <sys/types.h>

#include "broker/config.h"
#include "broker/users/userdb.h"

#define VMMGR_MAX      1024
#define VMMGR_WAITERS  64
#define VMMGR_ID_MAX   48
#define VMMGR_PATH_MAX 512

enum vm_state { VM_FREE = 0, VM_STARTING, VM_RUNNING, VM_STOPPING };
/*
 * VM_STOP_FAILED_START: its start failed; the process it left is being stopped.
 * VM_STOP_HIBERNATE: it is being saved to disk (vm.idle_hibernate, or an admin).
 */
enum vm_stop_reason {
    VM_STOP_NONE = 0,
    VM_STOP_IDLE,
    VM_STOP_ADMIN,
    VM_STOP_FAILED_START,
    VM_STOP_HIBERNATE
};

/* What happened to a VM, for the audit log and metrics (hook vm_event). */
enum vmmgr_event {
    VMEV_STARTING,     /* a VM is being created for vm->user */
    VMEV_READY,        /* its agent said READY (vm->ready_ms, vm->fork_us) */
    VMEV_START_FAILED, /* it ended or failed before READY */
    VMEV_REFUSED,      /* no VM: max_vms reached (vm is NULL) */
    VMEV_STOPPING,     /* a planned stop began (vm->stop_reason) */
    VMEV_STOPPED,      /* a planned stop ended */
    VMEV_DIED,         /* it ended unexpectedly (vm->exit_status, a waitpid status) */
    VMEV_ADOPTED,      /* a restarted burrowd took it over */
    /* Hibernation (kvm; vmm/hibernate.h): a planned stop (VMEV_STOPPING) that saves it. */
    VMEV_HIBERNATED,       /* its VMM ended with the image in place (vm->hib_bytes, hib_pages) */
    VMEV_HIBERNATE_FAILED, /* not saved (vm->hib_why); it runs on */
    VMEV_RESUME_REFUSED, /* her hibernated image was refused (vm->hib_why); a fresh fork follows */
};

struct uservm;
struct vmmgr;

/*
 * What a backend provides. All calls run in the master and must not block.
 *
 * start forks what starts the VM and sets vm->ready_fd, on which lines come:
 *     PID <pid>     the VM's process (watched through a pidfd from then on)
 *     OK ...        ready (the rest is the backend's, see `started`)
 *     ERR <reason>  (or the end of the pipe) it did not start
 * and vm->pid when it knows the process already, vm->helper for a child of
 * the master that ends on its own (reaped here).
 */
struct vm_backend_ops {
    const char *name;
    /* The backend's process registers run_dir/vm/<id>/ itself (told in `started`). */
    int own_registry;
    int (*start)(struct vmmgr *m, struct uservm *vm, const struct user_record *rec);
    /* Optional: the OK line; may set vm->id, dir, sock. Non-zero: the start failed. */
    int (*started)(struct vmmgr *m, struct uservm *vm, const char *line);
    /* Ask for a graceful stop (sync + unmount home, then exit). */
    void (*stop)(struct uservm *vm);
    /* Number of live agent connections (for idle decisions), or -1 if unknown. */
    int (*active)(struct uservm *vm);
    /* Optional background work: once a second, and descriptors of its own to poll. */
    void (*tick)(struct vmmgr *m, long now);
    unsigned (*pollfds)(struct vmmgr *m, int *fds, unsigned max);
    int (*event)(struct vmmgr *m, int fd); /* 1: fd was the backend's */
    /*
     * Optional (kvm only): save the running VM to its user's hibernate
     * directory in the background; vm->hib_fd gets one line, "OK <bytes>
     * <pages> <ms>" or "ERR <reason>" (then the VM runs on). NULL: this
     * backend cannot hibernate.
     */
    int (*hibernate)(struct vmmgr *m, struct uservm *vm);
};

struct uservm {
    enum vm_state state;
    char id[VMMGR_ID_MAX]; /* directory name under run_dir/vm/ */
    char user[USERDB_NAME_MAX + 1];
    uint32_t uid;
    unsigned slot;   /* index: selects the sandbox's host uid range */
    pid_t pid;       /* supervisor (sandbox) or VMM process; 0 until known */
    pid_t helper;    /* a starter child of the master, reaped here; 0: none */
    int pidfd;       /* readable when the process ends */
    int ready_fd;    /* while STARTING: the report lines */
    char rline[640]; /* a report line being read */
    size_t rlen;
    uint64_t request_ns; /* CLOCK_MONOTONIC of the request that started it */
    unsigned sessions;
    long idle_since; /* monotonic seconds; valid when sessions == 0 */
    long started;
    long start_ms;  /* monotonic milliseconds of the start (READY latency) */
    long ready_ms;  /* start to READY; valid from VMEV_READY */
    long fork_us;   /* kvm: request -> vCPUs running (a restore, or a pool claim); -1 = none */
    int from_pool;  /* kvm: claimed from the warm pool (fork_us is the claim's time) */
    int resumed;    /* kvm: resumed from a hibernated image (fork_us is the resume's time) */
    int hib_fd;     /* while hibernating: the helper's report, -1 otherwise */
    int hib_admin;  /* the hibernation was asked for by an administrator */
    int hib_failed; /* a hibernation failed: idle ones are not tried again for this VM */
    uint64_t hib_bytes, hib_pages; /* the image, at VMEV_HIBERNATED */
    char hib_why[256];             /* VMEV_HIBERNATE_FAILED, VMEV_RESUME_REFUSED */
    enum vm_stop_reason stop_reason;
    int exit_status;           /* waitpid status at VMEV_DIED (0 for an adopted VM) */
    char dir[VMMGR_PATH_MAX];  /* run_dir/vm/<id> */
    char sock[VMMGR_PATH_MAX]; /* dir/vsock.sock */
    const struct vm_backend_ops *be;
    int waiters[VMMGR_WAITERS]; /* session handles waiting for this VM */
    unsigned n_waiters;
    int restart_after_stop; /* someone asked while it was stopping */
    struct user_record rec; /* to start a fresh one for those */
    char reg_template[64];  /* for the registry's meta */
};

/* Callbacks into the master: answer a waiting session, tell a user's sessions. */
struct vmmgr_hooks {
    void (*vm_ready)(void *ctx, int waiter, struct uservm *vm);
    void (*vm_failed)(void *ctx, int waiter, const char *text);
    void (*vm_gone)(void *ctx, const char *user, const char *text);
    void *ctx;
    /* Optional: every VM event (vm NULL for VMEV_REFUSED, where user is the one refused). */
    void (*vm_event)(void *ctx, enum vmmgr_event ev, const struct uservm *vm, const char *user);
};

struct vmmgr {
    const struct burrow_config *cfg;
    const struct vm_backend_ops *be;
    struct vmmgr_hooks hooks;
    struct uservm vms[VMMGR_MAX];
    char guest_image[VMMGR_PATH_MAX]; /* sandbox root filesystem (cpio.gz) */
    char agent_path[VMMGR_PATH_MAX];  /* static burrow-agent for the sandbox */
};

/* Pick the backend (logs which and why) and re-adopt running VMs. */
__attribute__((warn_unused_result)) int vmmgr_init(struct vmmgr *m, const struct burrow_config *cfg,
                                                   const struct vmmgr_hooks *hooks);
/* A session of `user` (handle `waiter`) needs her VM; the answer comes via hooks. */
void vmmgr_request(struct vmmgr *m, const struct user_record *rec, int waiter);
/* The same on a given backend for a VM it has to start (NULL: the configured one):
 * the cluster's forwarder to another host (broker/cluster/). */
void vmmgr_request_on(struct vmmgr *m, const struct user_record *rec, int waiter,
                      const struct vm_backend_ops *be);
/* A session that got a VM ended. */
void vmmgr_session_end(struct vmmgr *m, const char *user);
/* A session that was waiting went away. */
void vmmgr_forget_waiter(struct vmmgr *m, int waiter);
/* Stop a VM now, by user name or registry id (burrowctl vm kill): her sessions are told. */
__attribute__((warn_unused_result)) int vmmgr_kill(struct vmmgr *m, const char *user_or_id);
/*
 * Hibernate a running VM (burrowctl vm hibernate), by user name or id: her
 * sessions are told. NOT_FOUND (no such VM here), UNSUPPORTED (the backend
 * cannot), BUSY (starting or stopping), or what the backend said.
 */
__attribute__((warn_unused_result)) int vmmgr_hibernate(struct vmmgr *m, const char *user_or_id);
/* state_dir/users/NAME: where her home disk and hibernated image live. */
int vmmgr_user_dir(const struct burrow_config *cfg, const char *user, char *out, size_t sz);
/* Fill fds to poll (ready pipes, pidfds); returns how many. */
unsigned vmmgr_pollfds(struct vmmgr *m, int *fds, unsigned max);
/* One of those fds is readable. */
void vmmgr_event(struct vmmgr *m, int fd);
/* Once a second: idle reaping. */
void vmmgr_tick(struct vmmgr *m, long now);
/* The VM serving user, or NULL. */
struct uservm *vmmgr_find(struct vmmgr *m, const char *user);
/* Count of VMs not free. */
unsigned vmmgr_count(const struct vmmgr *m);
/* Monotonic seconds. */
long vmmgr_now(void);

/* Backend helpers: the session-connection count a backend's process keeps in
 * dir/conns (-1 if unknown), and SIGTERM to its process (a graceful stop). */
int vmmgr_read_conns(struct uservm *vm);
void vmmgr_signal_stop(struct uservm *vm);

/* Backend probes and implementations. */
int vmmgr_hw_virt_available(char *why, size_t whysz);
/*
 * The backend [vm] backend selects on this host, without side effects;
 * why says why (logged at start, shown by burrowd -t). NULL when kvm is
 * configured and /dev/kvm is not usable (why says so).
 */
const struct vm_backend_ops *vmmgr_pick_backend(const struct burrow_config *cfg, char *why,
                                                size_t whysz);
/*
 * The sandbox's root filesystem image: state_dir/sandbox/initramfs.cpio.gz,
 * else the one `make install` put in the guest directory (buildinfo.h).
 * 0 with its path in out; BURROW_ERR_NOT_FOUND with the state_dir path.
 */
int vmmgr_guest_image(const struct burrow_config *cfg, char *out, size_t outsz);
extern const struct vm_backend_ops backend_sandbox;
extern const struct vm_backend_ops backend_kvm; /* broker/vm/backend_kvm.c */
/* The kvm backend's hibernate op (broker/vm/kvm_hibernate.c). */
int kvm_hibernate(struct vmmgr *m, struct uservm *vm);
/* At start with the kvm backend: warn if the template has no active build. */
void kvm_backend_check(const struct burrow_config *cfg);

/*
 * Registry (vmm/registry.h): run_dir/vm/<id>/ with `meta`, written by the
 * backend's process (registry_publish), plus `burrowd` (backend, user, uid,
 * slot, socket), written here once the VM is ready: what re-adoption needs.
 */
__attribute__((warn_unused_result)) int vmmgr_write_meta(const struct uservm *vm);

#endif /* BURROW_BROKER_VMMGR_H */
