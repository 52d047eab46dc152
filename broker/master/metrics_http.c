/* broker/master/metrics_http.c - GET /metrics over libmicrohttpd in the master's loop (see
 * metrics_http.h). */
#include "broker/master/metrics_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <microhttpd.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"

#define METRICS_CONNECTIONS 8     /* at once: a scraper or two */
#define METRICS_TIMEOUT_S   5     /* an idle or slow connection is closed after this */
#define METRICS_CONN_MEMORY 16384 /* request headers; the response is ours */

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, char *body, size_t len,
                             int must_free)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_ctx)
{
    struct metrics_http *h = cls;
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char bad_method[] = "only GET and HEAD\n";
    (void)version;
    (void)upload;
    (void)req_ctx;
    if (*upload_size)
        return MHD_NO; /* a body: not a scrape */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, bad_method, sizeof(bad_method) - 1, 0);
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1, 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return MHD_NO;
    h->render(h->ctx, f);
    if (fclose(f) != 0) {
        free(text);
        return MHD_NO;
    }
    return reply(c, MHD_HTTP_OK, text, len, 1);
}

/* The listening socket for l (MHD takes it over). */
static int listen_socket(struct metrics_http *h, const struct config_metrics_listen *l)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    if (l->kind == METRICS_UNIX) {
        struct sockaddr_un *su = (void *)&ss;
        su->sun_family = AF_UNIX;
        memcpy(su->sun_path, l->path, strlen(l->path) + 1); /* config bounded it */
        len = sizeof(*su);
        unlink(l->path);
    } else if (strchr(l->addr, ':')) {
        struct sockaddr_in6 *s6 = (void *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(l->port);
        if (inet_pton(AF_INET6, l->addr, &s6->sin6_addr) != 1)
            return -1;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (void *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(l->port);
        if (inet_pton(AF_INET, l->addr, &s4->sin_addr) != 1)
            return -1;
        len = sizeof(*s4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0)
        return -1;
    if (ss.ss_family != AF_UNIX)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    mode_t old = umask(077); /* a unix socket: root only, from the start */
    int r = bind(fd, (struct sockaddr *)&ss, len);
    umask(old);
    if (r == 0 && l->kind == METRICS_UNIX)
        r = chmod(l->path, 0600);
    if (r != 0 || listen(fd, METRICS_CONNECTIONS) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (l->kind == METRICS_UNIX)
        memcpy(h->unix_path, l->path, strlen(l->path) + 1);
    return fd;
}

int metrics_http_start(struct metrics_http *h, const struct config_metrics_listen *l,
                       metrics_http_render_fn render, void *ctx, char *err, size_t errsz)
{
    memset(h, 0, sizeof(*h));
    h->epoll_fd = -1;
    h->render = render;
    h->ctx = ctx;
    if (l->kind == METRICS_OFF)
        return 0;
    int fd = listen_socket(h, l);
    if (fd < 0)
        return errmsg(err, errsz, BURROW_ERR_SYSTEM, "[metrics] listen %s: %s", l->text,
                      strerror(errno));
    h->d = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET,
                            fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)METRICS_CONN_MEMORY,
                            MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        snprintf(err, errsz, "[metrics] listen %s: libmicrohttpd did not start", l->text);
        if (!h->d)
            close(fd); /* a running daemon closes it itself */
        metrics_http_stop(h);
        return BURROW_ERR_SYSTEM;
    }
    h->epoll_fd = info->epoll_fd;
    return 0;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (h->d)
        MHD_stop_daemon(h->d); /* closes the listening socket too */
    h->d = NULL;
    h->epoll_fd = -1;
    if (h->unix_path[0])
        unlink(h->unix_path);
    h->unix_path[0] = 0;
}

int metrics_http_fd(const struct metrics_http *h)
{
    return h->d ? h->epoll_fd : -1;
}

void metrics_http_run(struct metrics_http *h)
{
    if (h->d && MHD_run(h->d) != MHD_YES)
        log_debug("metrics: MHD_run failed");
}
