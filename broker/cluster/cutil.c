/*
 * broker/cluster/cutil.c - small things every part of broker/cluster/ uses:
 * run_dir/cluster/ paths, the fencing deadline file, the monotonic clock,
 * and opening etcd as [cluster] says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/cluster/clusterd.h"
#include "broker/cluster/cluster.h"
#include "broker/fsutil.h"
#include "common/err.h"

int cluster_path(const struct burrow_config *cfg, const char *leaf, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s/cluster%s%s", cfg->paths.run_dir, leaf[0] ? "/" : "", leaf);
    return n > 0 && (size_t)n < outsz ? 0 : BURROW_ERR_TOO_LARGE;
}

int64_t cluster_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
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
