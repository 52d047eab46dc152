/*
 * broker/master/metrics_http.h - the /metrics endpoint ([metrics] listen).
 *
 * Owns: the listening socket (a loopback TCP address, or a unix socket
 * made 0600) and a libmicrohttpd daemon driven by the master's own poll
 * loop (MHD_USE_EPOLL without a thread: one epoll fd to poll, MHD_run when
 * it is readable and once a second for timeouts), so the master stays
 * single-threaded and reads its own state when it renders. GET /metrics
 * only; a few connections at once, a short timeout, small requests.
 */
#ifndef BURROW_BROKER_METRICS_HTTP_H
#define BURROW_BROKER_METRICS_HTTP_H

#include <stdio.h>

#include "broker/config.h"

/* Write the exposition to out (called from metrics_http_run). */
typedef void (*metrics_http_render_fn)(void *ctx, FILE *out);

struct metrics_http {
    struct MHD_Daemon *d;
    int epoll_fd; /* -1 while off */
    char unix_path[CONFIG_UNIX_PATH_MAX];
    metrics_http_render_fn render;
    void *ctx;
};

/* Start serving l (METRICS_OFF: nothing, returns 0). err names the address. */
__attribute__((warn_unused_result)) int metrics_http_start(struct metrics_http *h,
                                                           const struct config_metrics_listen *l,
                                                           metrics_http_render_fn render, void *ctx,
                                                           char *err, size_t errsz);
void metrics_http_stop(struct metrics_http *h);
/* The fd to poll for POLLIN, or -1. */
int metrics_http_fd(const struct metrics_http *h);
/* Serve what is ready (and time out idle connections). */
void metrics_http_run(struct metrics_http *h);

#endif /* BURROW_BROKER_METRICS_HTTP_H */
