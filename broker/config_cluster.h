/*
 * broker/config_cluster.h - the [cluster] section of burrow.ini (docs/cluster.md).
 *
 * Owns: the parsers of the [cluster] values that are not a generic form
 * (etcd endpoints, host name, peer listener, NBD server, key prefix), the
 * checks across keys ([cluster] etcd set needs peer_listen and home_nbd),
 * and cluster_enabled(), the one test single-host code asks.
 */
#ifndef BURROW_BROKER_CONFIG_CLUSTER_H
#define BURROW_BROKER_CONFIG_CLUSTER_H

#include <stddef.h>

#include "broker/config.h"

int ccfg_parse_etcd(const char *value, void *field, char *err, size_t errsz);
int ccfg_parse_name(const char *value, void *field, char *err, size_t errsz);
int ccfg_parse_peer_listen(const char *value, void *field, char *err, size_t errsz);
int ccfg_parse_nbd(const char *value, void *field, char *err, size_t errsz);
int ccfg_parse_prefix(const char *value, void *field, char *err, size_t errsz);
/* Cross-key checks, from config_finish(). */
int ccfg_finish(struct burrow_config *cfg, char *err, size_t errsz);

/* Burrow runs as a cluster member: [cluster] etcd is set. */
static inline int cluster_enabled(const struct burrow_config *cfg)
{
    return cfg->cluster.etcd[0] != '\0';
}

/* This host's name in the cluster ([cluster] name, else its hostname). */
int ccfg_host_name(const struct burrow_config *cfg, char *out, size_t outsz);
/* A host name as the cluster accepts it (also for names read back from etcd). */
int ccfg_name_ok(const char *s);
/* Split home_nbd into host and port ("10809" when absent). */
int ccfg_nbd_server(const struct burrow_config *cfg, char *host, size_t hostsz, char *port,
                    size_t portsz);

#endif /* BURROW_BROKER_CONFIG_CLUSTER_H */
