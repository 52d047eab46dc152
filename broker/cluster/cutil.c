/*
 * broker/cluster/cutil.c - small things every part of broker/cluster/ uses:
 * run_dir/cluster/ paths, the fencing deadline file, the monotonic clock,
 * and opening etcd as [cluster] says.
 */
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/cluster/clusterd.h"
#include "broker/cluster/cluster.h"
#include "broker/fsutil.h"
#include "common/clock.h"
#include "common/err.h"

int cluster_path(const struct burrow_config *cfg, const char *leaf, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s/cluster%s%s", cfg->paths.run_dir, leaf[0] ? "/" : "", leaf);
    return n > 0 && (size_t)n < outsz ? 0 : BURROW_ERR_TOO_LARGE;
}

int64_t cluster_now_ns(void)
{
    return (int64_t)clock_now_ns(); /* signed: deadlines are compared and subtracted */
}

int64_t cluster_deadline(const struct burrow_config *cfg)
{
    char path[CONFIG_PATH_MAX + 32], *text = NULL;
    size_t len;
    long long lease = 0, deadline = 0;
    if (cluster_path(cfg, "lease", path, sizeof(path)) || fs_read_file(path, 256, &text, &len))
        return 0;
    if (sscanf(text, "lease %lld\ndeadline %lld", &lease, &deadline) != 2 || deadline < 0)
        deadline = 0;
    free(text);
    return deadline;
}

int cluster_etcd_open(const struct burrow_config *cfg, struct etcd *e, long timeout_ms)
{
    struct etcd_tls tls = {cfg->cluster.etcd_ca[0] ? cfg->cluster.etcd_ca : NULL,
                           cfg->cluster.etcd_cert[0] ? cfg->cluster.etcd_cert : NULL,
                           cfg->cluster.etcd_key[0] ? cfg->cluster.etcd_key : NULL};
    return etcd_open(e, cfg->cluster.etcd, &tls, timeout_ms);
}

/* A TCP connection that notices a dead peer within seconds (unacked data, idle). */
int cluster_tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res, *a;
    int fd = -1;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1, idle = 2, intvl = 1, cnt = 3;
        unsigned utimeout = 5000;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &utimeout, sizeof(utimeout));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}
