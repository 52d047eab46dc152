/*
 * broker/master/master.h - the burrowd master process (docs/architecture.md).
 *
 * Owns: the listening sockets (IPv4 and IPv6), accepting connections and
 * forking one session process per connection, admission (max_startups,
 * per-source penalties), the table of live sessions and their socketpairs,
 * signals (SIGHUP reload, SIGTERM/SIGINT stop accepting and exit without
 * touching sessions or VMs, SIGCHLD), the control socket, readiness
 * notification, and one log line per login, logout and failure.
 *
 * The master is single-threaded and event driven (poll) and never parses
 * SSH traffic: libssh runs only in session processes.
 */
#ifndef BURROW_BROKER_MASTER_H
#define BURROW_BROKER_MASTER_H

#include "broker/config.h"

/* Run the daemon until SIGTERM/SIGINT; returns an exit code. */
int master_run(const char *config_path, int config_explicit);

#endif /* BURROW_BROKER_MASTER_H */
