/*
 * broker/master/notify.h - systemd readiness notification, written by hand.
 *
 * Owns: sending "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..." to the
 * datagram socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract
 * namespace), as sd_notify(3) does, without linking libsystemd. Nothing
 * happens when the variable is unset.
 */
#ifndef BURROW_BROKER_NOTIFY_H
#define BURROW_BROKER_NOTIFY_H

/* 0 sent (or nothing to do), negative on failure (callers log and go on). */
int notify_send(const char *state);

#endif /* BURROW_BROKER_NOTIFY_H */
