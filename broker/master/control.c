/* broker/master/control.c - burrowd's control socket: transport and client (see control.h). */
#include "broker/master/control.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#define CONTROL_TIMEOUT_MS 300  /* the master waits this long for a request line */
#define CONTROL_SEND_MS    2000 /* and this long for a client to take its answer */

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return BURROW_ERR_TOO_LARGE;
    strcpy(sa->sun_path, path);
    return 0;
}

int control_open(struct control *c, const struct burrow_config *cfg, control_handler_fn handle,
                 void *ctx)
{
    struct sockaddr_un sa;
    c->lfd = -1;
    c->handle = handle;
    c->ctx = ctx;
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

/* One short line; a slow client only waits its own timeout. */
static size_t read_line(int cfd, char *line, size_t max)
{
    size_t n = 0;
    while (n < max) {
        struct pollfd p = {.fd = cfd, .events = POLLIN};
        if (poll(&p, 1, CONTROL_TIMEOUT_MS) <= 0)
            break;
        ssize_t k = read(cfd, line + n, 1);
        if (k <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = 0;
    return n;
}

/* The whole answer, within CONTROL_SEND_MS: a client that stops reading loses the rest. */
static void send_all(int cfd, const char *p, size_t len)
{
    long waited = 0;
    while (len > 0 && waited < CONTROL_SEND_MS) {
        ssize_t w = send(cfd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return;
        struct pollfd pf = {.fd = cfd, .events = POLLOUT};
        poll(&pf, 1, 100);
        waited += 100;
    }
}

void control_event(struct control *c, int fd)
{
    char line[CONTROL_LINE_MAX + 1];
    struct ucred who = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
    socklen_t wl = sizeof(who);
    (void)fd;
    int cfd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &who, &wl) != 0)
        who.uid = (uid_t)-1;
    read_line(cfd, line, CONTROL_LINE_MAX);
    char *ans = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&ans, &len);
    if (out) {
        c->handle(c->ctx, line, &who, out);
        if (fclose(out) == 0)
            send_all(cfd, ans, len);
        free(ans);
    }
    close(cfd);
}

int control_request_alloc(const char *run_dir, const char *req, char **out)
{
    char path[CONFIG_PATH_MAX + 32];
    struct sockaddr_un sa;
    *out = NULL;
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
    size_t len = strlen(req), cap = 4096, got = 0;
    char *buf = malloc(cap);
    int r = buf ? 0 : BURROW_ERR_NOMEM;
    if (r == 0 && (write(fd, req, len) != (ssize_t)len || write(fd, "\n", 1) != 1))
        r = BURROW_ERR_SYSTEM;
    while (r == 0) {
        if (got + 1 == cap) {
            char *more = cap >= CONTROL_ANSWER_MAX ? NULL : realloc(buf, cap * 2);
            if (!more) {
                r = BURROW_ERR_TOO_LARGE;
                break;
            }
            buf = more;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + got, cap - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (r != 0) {
        free(buf);
        return r;
    }
    buf[got] = 0;
    *out = buf;
    return 0;
}

int control_request(const char *run_dir, const char *req, char *out, size_t outsz)
{
    char *ans;
    int r = control_request_alloc(run_dir, req, &ans);
    if (r != 0)
        return r;
    if (outsz)
        snprintf(out, outsz, "%s", ans);
    free(ans);
    return 0;
}

int control_answer_ok(const char *ans)
{
    size_t n = strlen(ans);
    return n >= 3 && strcmp(ans + n - 3, "ok\n") == 0 && (n == 3 || ans[n - 4] == '\n');
}
