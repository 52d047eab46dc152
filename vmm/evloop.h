/*
 * vmm/evloop.h - the VMM's device/event thread: one epoll loop.
 *
 * Owns: an epoll set of (fd, callback, ctx) entries and the thread running
 * it. Callbacks run on the event thread only, one at a time. evloop_add and
 * evloop_del may be called from any thread; after evloop_del returns from a
 * thread other than the event thread the callback may still be running once
 * (call it from a callback, or after evloop_stop, for a hard guarantee).
 */
#ifndef BURROW_VMM_EVLOOP_H
#define BURROW_VMM_EVLOOP_H

#include <stdint.h>
#include <sys/epoll.h>

/* events: the EPOLL* bits that fired. */
typedef void (*evloop_fn)(void *ctx, int fd, uint32_t events);

struct evloop;

__attribute__((warn_unused_result)) int evloop_new(struct evloop **out);
/* Stops and joins the thread if running, then frees. */
void evloop_free(struct evloop *loop);
/* Watch fd for events (EPOLLIN, EPOLLOUT, ...); one entry per fd. */
__attribute__((warn_unused_result)) int evloop_add(struct evloop *loop, int fd, uint32_t events,
                                                   evloop_fn cb, void *ctx);
/* Change the events of a watched fd. */
__attribute__((warn_unused_result)) int evloop_mod(struct evloop *loop, int fd, uint32_t events);
int evloop_del(struct evloop *loop, int fd);
/* Run the loop on the calling thread until evloop_stop. */
__attribute__((warn_unused_result)) int evloop_run(struct evloop *loop);
/* Run the loop on a new thread (the "device/event thread"). */
__attribute__((warn_unused_result)) int evloop_start(struct evloop *loop);
/* Ask the loop to return; safe from any thread and from callbacks. */
void evloop_stop(struct evloop *loop);
/* Stop and join the thread started by evloop_start (no-op if none). */
void evloop_join(struct evloop *loop);

#endif /* BURROW_VMM_EVLOOP_H */
