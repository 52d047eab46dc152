/*
 * vmm/hibernate.h - hibernated VMs: a running fork written to disk as its
 * state plus only the guest pages that differ from its template, and brought
 * back, processes intact, at the user's next VM (docs/hibernate.md).
 *
 * Owns:
 *   - the image format (hib_image_*, vmm/hibernate_image.c): versioned and
 *     checksummed like a template's `state`, parsed as hostile input (it was
 *     written by a process that ran a hostile guest);
 *   - the VMM's side (hib_vmm_*, vmm/hibernate_save.c): the request socket
 *     run_dir/vm/<id>/hibernate.sock, the agent's sync (HIBERNATE), the
 *     quiescent point, the private pages of the MAP_PRIVATE guest mapping
 *     from /proc/self/pagemap, the image written to the descriptor the
 *     requester passed;
 *   - the requester's side and the user's directory (vmm/hibernate_files.c):
 *     state_dir/users/NAME/hibernate/ with `image` (present = hibernated),
 *     `lock` (flock: one hibernation, resume or discard at a time),
 *     `last-error`, and refused images kept aside (`refused-TS.img` with
 *     `refused-TS.why`);
 *   - resuming (hib_resume_*, vmm/hibernate_resume.c): the build the image
 *     names is mapped copy-on-write as for a fork, the saved pages laid over
 *     it, the saved state restored, the image consumed before any guest code
 *     runs, and the agent told RESUME instead of IDENTITY.
 *
 * Image layout (little endian; every offset fixed by the lengths, so a
 * writer has no freedom a reader must trust):
 *     [0, 256)            header (struct hib_header, HIB_HDR_LEN)
 *     [256, +state_len)   the VM's state: a BRWSNAP container (vmm/snapshot.h)
 *     zero padding to 8
 *     index_off           nr_pages u64 page numbers (RAM offset / 4096),
 *                         strictly increasing, each < mem_size / 4096
 *     zero padding to 4096
 *     pages_off           nr_pages pages of 4096 bytes, in index order
 *     file_len - 32       BLAKE2b-256 of every byte before it
 */
#ifndef BURROW_VMM_HIBERNATE_H
#define BURROW_VMM_HIBERNATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmm/registry.h"
#include "vmm/snapshot.h"
#include "vmm/template.h"

#define HIB_MAGIC    "BRWHIBR"
#define HIB_MAJOR    1u
#define HIB_MINOR    0u
#define HIB_HDR_LEN  256u
#define HIB_PAGE     4096u
#define HIB_HASH_LEN 32u
#define HIB_USER_MAX 64u
#define HIB_DIR      "hibernate" /* under state_dir/users/NAME/ */
#define HIB_IMAGE    "image"
#define HIB_SOCK     "hibernate.sock" /* under run_dir/vm/<id>/ */
/* How an image the VMM cannot use is reported ("ERR " HIB_REFUSED ": why"). */
#define HIB_REFUSED "hibernated image refused"

/* ---- the image format (vmm/hibernate_image.c) ---- */

struct hib_header {
    uint16_t major, minor;
    uint64_t file_len;
    uint64_t mem_size;  /* the template build's RAM size */
    uint64_t nr_pages;  /* saved pages */
    uint64_t state_len; /* the BRWSNAP state at HIB_HDR_LEN */
    uint64_t index_off, pages_off;
    uint64_t created_ns; /* CLOCK_REALTIME when it was written */
    uint64_t disk_bytes; /* the home disk's size then (0: none) */
    char vm_id[REGISTRY_ID_LEN + 1];
    char user[HIB_USER_MAX + 1];
    char build[TEMPLATE_BUILD_MAX + 1];
};

/* Where the state, index and pages go for these sizes (writer and reader alike). */
void hib_layout(struct hib_header *h);
/* Encode h (its layout fields set by hib_layout) into HIB_HDR_LEN bytes. */
__attribute__((warn_unused_result)) int hib_header_encode(const struct hib_header *h,
                                                          uint8_t out[HIB_HDR_LEN]);
/*
 * Decode the first HIB_HDR_LEN bytes of an image of file_size bytes:
 * magic, version (before anything else: a newer format is reported as such),
 * every length and offset against the layout and the file size, the names.
 * Errors TRUNCATED, FORMAT, VERSION, RANGE, TOO_LARGE.
 */
__attribute__((warn_unused_result)) int hib_header_decode(const uint8_t *p, size_t len,
                                                          uint64_t file_size, struct hib_header *h);
/*
 * The bytes between the header and the pages ([HIB_HDR_LEN, pages_off)):
 * the state (snap_parse, its VM section agreeing with the header), zero
 * padding, the index (strictly increasing, inside RAM). *snap and *index
 * point into meta.
 */
__attribute__((warn_unused_result)) int hib_meta_decode(const struct hib_header *h,
                                                        const uint8_t *meta, size_t len,
                                                        struct snapshot *snap,
                                                        const uint8_t **index);
/* The i-th page number of a checked index. */
uint64_t hib_index_at(const uint8_t *index, uint64_t i);
/*
 * A whole image in memory (tests, the fuzzer): header, meta and the
 * checksum over everything. The resume path does the same over a file.
 */
__attribute__((warn_unused_result)) int
hib_image_check_buf(const uint8_t *p, size_t len, struct hib_header *h, struct snapshot *snap);
/* One line for a human, for the errors above. */
const char *hib_strerror(int err);

/*
 * Writing: the header, state and index, then each page, then the checksum,
 * in file order, to a descriptor (hashed as it goes).
 */
struct hib_writer {
    int fd;
    uint64_t off;
    void *hash; /* crypto_generichash_state */
};
__attribute__((warn_unused_result)) int hib_writer_begin(struct hib_writer *w, int fd,
                                                         const struct hib_header *h,
                                                         const uint8_t *state,
                                                         const uint64_t *pages);
/* n consecutive pages starting at p, in index order. */
__attribute__((warn_unused_result)) int hib_writer_pages(struct hib_writer *w, const uint8_t *p,
                                                         size_t n);
/* Append the checksum; the file must now be h->file_len long. */
__attribute__((warn_unused_result)) int hib_writer_end(struct hib_writer *w);
void hib_writer_free(struct hib_writer *w);

/* ---- the user's hibernate directory (vmm/hibernate_files.c) ---- */

/* What `vm list`, gc and the broker know of a hibernated VM (its header; not verified). */
struct hib_info {
    struct hib_header h; /* with err set, only h.user (her directory's name) is known */
    uint64_t disk_kib;   /* the image's allocated size */
    int err;             /* hib_list: 0, or why its header does not parse */
};
/* user_dir/hibernate/image exists (a hibernated VM reserves her home disk). */
int hib_present(const char *user_dir);
/* Its header: 0, NOT_FOUND (none), or why it does not parse. */
__attribute__((warn_unused_result)) int hib_info_read(const char *user_dir, struct hib_info *info);
/* Every hibernated VM under state_dir/users (malloc'd, sorted by user). */
__attribute__((warn_unused_result)) int hib_list(const char *state_dir, struct hib_info **out,
                                                 size_t *n);
/* How many (metrics, status: no image is read, only looked for). */
unsigned hib_count(const char *state_dir);
/* Some hibernated image under state_dir/users names build (template rm and gc keep it). */
int hib_build_in_use(const char *state_dir, const char *build);
/*
 * Move a refused image aside for the admin (refused-TS.img, and
 * refused-TS.why with the reason), so her next VM is a fresh fork. The
 * caller holds the directory's lock (hib_fork_report does).
 */
__attribute__((warn_unused_result)) int hib_keep_aside(const char *user_dir, const char *why,
                                                       char *kept, size_t keptsz);
/*
 * Take hibernate/lock (flock, the directory made if missing): its
 * descriptor (close it to release), or -1 with *err BUSY (a hibernation,
 * resume or discard runs) or SYSTEM.
 */
int hib_lock(const char *user_dir, int *err);
/* Remove her image (`burrowctl vm discard`): NOT_FOUND, BUSY (a hibernation or resume runs). */
__attribute__((warn_unused_result)) int hib_discard(const char *user_dir, char *why, size_t whysz);

/*
 * Hibernate the running VM `id` into user_dir/hibernate/image (blocking:
 * the agent syncs, the VMM writes, the image is committed, the VMM exits).
 * 0 with res filled; otherwise the VM keeps running and why (also written
 * to hibernate/last-error) says why.
 */
struct hib_result {
    uint64_t bytes, pages;
    uint64_t save_ms; /* the VMM's part: the agent's sync, the pause, the write */
    uint64_t ms;      /* request to committed image and the VMM gone */
};
__attribute__((warn_unused_result)) int hib_request(const char *run_dir, const char *id,
                                                    const char *user_dir, struct hib_result *res,
                                                    char *why, size_t whysz);
/* The reason of the last failed hibernation, if it is newer than since (unix seconds). */
int hib_last_error(const char *user_dir, uint64_t since, char *why, size_t whysz);

/* ---- the VMM's side (vmm/hibernate_save.c) ---- */

struct fork_vm;
struct hib_vmm {
    int listen_fd;  /* dir/hibernate.sock, -1: none */
    int pagemap_fd; /* /proc/self/pagemap, opened before the jail */
};
/* Before the jail: the socket and the pagemap descriptor. */
__attribute__((warn_unused_result)) int hib_vmm_init(struct hib_vmm *h, const char *dir);
void hib_vmm_fini(struct hib_vmm *h);
/* Who the VM is, for the header. */
struct hib_vmm_meta {
    const char *vm_id, *user, *build;
};
/*
 * A request may be waiting on listen_fd: serve it. 1 when the VM was saved
 * and stopped for good (the process should clean up and exit 0), 0 when it
 * keeps running (nothing asked, or the hibernation failed and said why).
 */
int hib_vmm_serve(struct hib_vmm *h, struct fork_vm *f, const struct hib_vmm_meta *meta);
/* The private pages of [ram, ram + size): page numbers into out (size / 4096 entries). */
__attribute__((warn_unused_result)) int
hib_private_pages(int pagemap_fd, const uint8_t *ram, uint64_t size, uint64_t *out, uint64_t *n);

/* ---- resuming (vmm/hibernate_resume.c) ---- */

struct fork_vm;
struct hib_resume {
    int fd;
    char path[1024];
    uint8_t hdr[HIB_HDR_LEN];
    struct hib_header h;
    uint8_t *meta; /* [HIB_HDR_LEN, pages_off): the state, then the index */
    struct snapshot snap;
    const uint8_t *index;
    int refused; /* the image is at fault (not the host): keep it aside, fork fresh */
};
/*
 * Open and check the header and meta of path for a resume of build; on
 * failure rs->refused says whether the image is at fault, why says why.
 */
__attribute__((warn_unused_result)) int hib_resume_open(struct hib_resume *rs, const char *path,
                                                        const char *build, char *why, size_t whysz);
/*
 * In fork_vm_create, in place of the template's state: the saved pages
 * over the fresh mapping (checksum verified), then the saved state.
 */
__attribute__((warn_unused_result)) int hib_resume_apply(struct hib_resume *rs, struct fork_vm *f,
                                                         char *why, size_t whysz);
/*
 * After fork_vm_create, before any guest code runs: the home disk is the
 * one it was saved with, then the image is consumed (unlinked, directory
 * synced): a running VM must never be resumed twice.
 */
__attribute__((warn_unused_result)) int hib_resume_finish(struct hib_resume *rs, struct fork_vm *f,
                                                          char *why, size_t whysz);
void hib_resume_close(struct hib_resume *rs);

struct vmm_request;
/*
 * The starter's side (vmm_fork_report calls it for a request with a
 * user_dir): with a hibernated image there, resume it in a fresh VMM
 * process; an image that is refused is kept aside, "REFUSED <why>" is
 * reported, and a fresh fork follows. Without one, a plain fork.
 */
__attribute__((warn_unused_result)) int hib_fork_report(struct vmm_request *req, int out_fd);

#endif /* BURROW_VMM_HIBERNATE_H */
