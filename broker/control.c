/* broker/control.c - burrowd's control socket (see control.h). */
#include "broker/control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/userdb.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/registry.h"

#define CONTROL_TIMEOUT_MS 300 /* the master waits this long at most */

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return BURROW_ERR_TOO_LARGE;
    strcpy(sa->sun_path, path);
    return 0;
}

int control_open(struct control *c, const struct burrow_config *cfg, struct vmmgr *vm)
{
    struct sockaddr_un sa;
    c->lfd = -1;
    c->vm = vm;
    snprintf(c->path, sizeof(c->path), "%s/control.sock", cfg->paths.run_dir);
    if (fill_addr(&sa, c->path) != 0)
        return BURROW_ERR_TOO_LARGE;
    unlink(c->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    mode_t old = umask(077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r != 0 || listen(fd, CONTROL_CLIENTS) != 0) {
        close(fd);
        return BURROW_ERR_SYSTEM;
    }
    c->lfd = fd;
    return 0;
}

void control_close(struct control *c)
{
    if (c->lfd >= 0) {
        close(c->lfd);
        unlink(c->path);
    }
    c->lfd = -1;
}

unsigned control_pollfds(const struct control *c, int *fds, unsigned max)
{
    if (c->lfd < 0 || max == 0)
        return 0;
    fds[0] = c->lfd;
    return 1;
}

static const char *state_name(enum vm_state s)
{
    switch (s) {
    case VM_STARTING:
        return "starting";
    case VM_RUNNING:
        return "running";
    case VM_STOPPING:
        return "stopping";
    default:
        return "free";
    }
}

static void answer(struct control *c, int fd, char *line)
{
    char out[512];
    FILE *f = fdopen(dup(fd), "w");
    if (!f)
        return;
    if (strcmp(line, "vm list") == 0) {
        for (unsigned i = 0; i < VMMGR_MAX; i++) {
            const struct vm *vm = &c->vm->vms[i];
            if (vm->state != VM_FREE)
                fprintf(f, "%s %s %s %d %u\n", vm->id, vm->user, state_name(vm->state),
                        (int)vm->pid, vm->sessions);
        }
        fprintf(f, "ok\n");
    } else if (strncmp(line, "vm kill ", 8) == 0 &&
               (userdb_name_check(line + 8, NULL) == 0 || registry_id_ok(line + 8))) {
        int r = vmmgr_kill(c->vm, line + 8);
        if (r == 0)
            fprintf(f, "ok\n");
        else
            fprintf(f, "error no running VM for %s\n", line + 8);
    } else if (strcmp(line, "status") == 0) {
        fprintf(f, "vms %u backend %s\nok\n", vmmgr_count(c->vm), c->vm->be->name);
    } else {
        log_escape(out, sizeof(out), line);
        fprintf(f, "error unknown request '%s'\n", out);
    }
    fclose(f);
}

void control_event(struct control *c, int fd)
{
    char line[CONTROL_LINE_MAX + 1];
    size_t n = 0;
    (void)fd;
    int cfd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    /* One short line; a slow client only waits its own timeout. */
    while (n < CONTROL_LINE_MAX) {
        struct pollfd p = {.fd = cfd, .events = POLLIN};
        if (poll(&p, 1, CONTROL_TIMEOUT_MS) <= 0)
            break;
        ssize_t k = read(cfd, line + n, 1);
        if (k <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    answer(c, cfd, line);
    close(cfd);
}

int control_request(const char *run_dir, const char *req, char *out, size_t outsz)
{
    char path[CONFIG_PATH_MAX + 32];
    struct sockaddr_un sa;
    snprintf(path, sizeof(path), "%s/control.sock", run_dir);
    if (fill_addr(&sa, path) != 0)
        return BURROW_ERR_TOO_LARGE;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return BURROW_ERR_NOT_FOUND; /* no daemon running */
    }
    size_t len = strlen(req);
    int r = 0;
    if (write(fd, req, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        r = BURROW_ERR_SYSTEM;
    size_t got = 0;
    while (r == 0 && got + 1 < outsz) {
        ssize_t k = read(fd, out + got, outsz - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    if (outsz)
        out[got] = 0;
    close(fd);
    return r;
}
