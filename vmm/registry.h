/*
 * vmm/registry.h - running VMM processes, as seen by everyone
 * (`burrowctl vm list|kill`, burrowd, `template rm`).
 *
 * Owns: run_dir/vm/<id>/ with `meta` (key = value: id, pid, pid start
 * time, user, template, build, started, state, origin, restore_ns,
 * ready_ns) written atomically, plus the VM's sockets (vsock.sock,
 * claim.sock for a pooled VM, control.sock: vmm/vmmctl.h), its session
 * count (conns), its memory record (balloon: vmm/vmmctl.h), logs
 * (console.log, vmm.log) and, for a running VM, hibernate.sock
 * (vmm/hibernate.h). A record whose
 * process is gone (or whose pid was reused: the start time differs) is
 * stale and removed by registry_list.
 */
#ifndef BURROW_VMM_REGISTRY_H
#define BURROW_VMM_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define REGISTRY_ID_LEN 12 /* hex characters */

struct vm_record {
    char id[REGISTRY_ID_LEN + 1];
    pid_t pid;
    uint64_t pid_start; /* /proc/PID/stat field 22 */
    char user[65];
    char template_name[64];
    char build[80];
    uint64_t started; /* unix time */
    char state[16];   /* "running", or "pool": restored, paused, waiting to be claimed */
    char dir[512];
    /* How a running VM came to be, noted by whoever read its report (vmm/vmmproc.h). */
    char origin[8];      /* "pool" (claimed), "fresh", or "" (not noted yet) */
    uint64_t restore_ns; /* request -> vCPUs running */
    uint64_t ready_ns;   /* request -> the guest's READY */
};

/* Make run_dir/vm/<new id>/ (0700) and fill rec->id and rec->dir. */
__attribute__((warn_unused_result)) int registry_create(const char *run_dir, struct vm_record *rec);
/* Write rec's meta for the calling process (pid and start time filled in). */
__attribute__((warn_unused_result)) int registry_publish(struct vm_record *rec);
/* Write rec's meta as it is (atomically): for a claimer updating a jailed VMM's record. */
__attribute__((warn_unused_result)) int registry_write(const struct vm_record *rec);
void registry_remove(const char *dir);
/* Live VMs (stale records removed), sorted by start time. malloc'd. */
__attribute__((warn_unused_result)) int registry_list(const char *run_dir, struct vm_record **out,
                                                      size_t *n);
/* One VM by id; BURROW_ERR_NOT_FOUND if absent or stale. */
__attribute__((warn_unused_result)) int registry_get(const char *run_dir, const char *id,
                                                     struct vm_record *rec);
int registry_id_ok(const char *id);
/* Wait up to ms for rec's process to end (or its pid to be reused): 1 once gone. */
int registry_wait_gone(const struct vm_record *rec, unsigned ms);
/* Running (not pooled) VMs on a build. */
unsigned registry_build_vms(const char *run_dir, const char *build);
int registry_build_in_use(const char *run_dir, const char *build);
/*
 * A process's memory in kB (/proc/PID/smaps_rollup). private counts pages
 * only it maps: a lone fork's template pages in the page cache count as
 * private until a second fork maps them (and as dirty when the template is
 * on tmpfs: shmem pages are always dirty). anon (Anonymous: the
 * copy-on-write copies of template pages and the VMM's own heap) is what a
 * fork really costs; pss shares every page among its mappers.
 */
struct vm_memory {
    uint64_t private_kb, shared_kb, anon_kb, pss_kb;
};
__attribute__((warn_unused_result)) int registry_memory(pid_t pid, struct vm_memory *m);
uint64_t registry_pid_start(pid_t pid);

#endif /* BURROW_VMM_REGISTRY_H */
