/*
 * broker/cluster/clusterd.h - private to broker/cluster/: the cluster
 * process's entry and the user-database mirror it runs.
 */
#ifndef BURROW_BROKER_CLUSTER_CLUSTERD_H
#define BURROW_BROKER_CLUSTER_CLUSTERD_H

#include <stdint.h>

#include "broker/cluster/etcd.h"
#include "broker/config.h"
#include "broker/users/hostkeys.h"

/* The cluster process (forked by cmaster.c); mfd is its end of the socketpair. */
int clusterd_main(const struct burrow_config *cfg, int mfd);

/*
 * Make state_dir/users/ what PREFIX/users/ says (user.ini, authorized_keys
 * of every user whose record is complete); users that are not in etcd are
 * removed. *rev: the store revision last mirrored (skips unchanged rounds).
 */
int cusers_mirror(const struct burrow_config *cfg, struct etcd *e, int64_t *rev);

/* Open etcd as [cluster] says (endpoints, TLS), with a per-call timeout. */
int cluster_etcd_open(const struct burrow_config *cfg, struct etcd *e, long timeout_ms);

#endif /* BURROW_BROKER_CLUSTER_CLUSTERD_H */
