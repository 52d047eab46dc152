/*
 * broker/master/preflight.h - what burrowd needs before it can serve a login.
 *
 * Owns: the checks `burrowd -t` prints and burrowd runs at start (it
 * refuses to start on any problem): the backend [vm] backend selects and
 * its prerequisites (kvm: a usable /dev/kvm and an active build of
 * [vm] template; sandbox: a guest image), a run_dir whose every directory
 * is searchable by the unprivileged session processes, and the places the
 * audit file and a metrics socket go. Each problem is one line that names
 * the path or key and the command that fixes it. No side effects.
 */
#ifndef BURROW_BROKER_PREFLIGHT_H
#define BURROW_BROKER_PREFLIGHT_H

#include "broker/config.h"
#include "broker/vm/vmmgr.h"

#define PREFLIGHT_TEXT_MAX 768

struct preflight {
    const struct vm_backend_ops *be; /* NULL: none usable */
    char backend_why[192];
    char guest_image[VMMGR_PATH_MAX]; /* sandbox: the image it would use */
};

typedef void (*preflight_report_fn)(void *ctx, const char *problem);

/* Run every check; report each problem; returns how many there were. */
int preflight_check(const struct burrow_config *cfg, struct preflight *out,
                    preflight_report_fn report, void *ctx);

/*
 * The first directory on the way to path (path included, if it exists)
 * that other users cannot search, in bad (with its mode); 0 if none.
 */
int preflight_unsearchable(const char *path, char *bad, size_t badsz, unsigned *mode);

#endif /* BURROW_BROKER_PREFLIGHT_H */
