/* vmm/evloop.c - epoll loop for the device/event thread (see evloop.h). */
#include "vmm/evloop.h"
#include "vmm/jail/policy_vmm.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#define EVLOOP_MAX_FDS 256

struct evloop_entry {
    int fd; /* -1: free */
    evloop_fn cb;
    void *ctx;
};

struct evloop {
    int epfd;
    int stopfd; /* eventfd: wakes epoll_wait for evloop_stop */
    _Atomic int stop;
    pthread_mutex_t lock; /* guards entries[] against add/del from other threads */
    struct evloop_entry entries[EVLOOP_MAX_FDS];
    pthread_t thread;
    int thread_started;
};

int evloop_new(struct evloop **out)
{
    struct evloop *l = calloc(1, sizeof(*l));
    if (!l)
        return BURROW_ERR_NOMEM;
    for (unsigned i = 0; i < EVLOOP_MAX_FDS; i++)
        l->entries[i].fd = -1;
    pthread_mutex_init(&l->lock, NULL);
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->epfd < 0 || l->stopfd < 0)
        goto fail;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stopfd, &ev) < 0)
        goto fail;
    *out = l;
    return 0;
fail:
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->stopfd >= 0)
        close(l->stopfd);
    free(l);
    return BURROW_ERR_SYSTEM;
}

void evloop_free(struct evloop *l)
{
    if (!l)
        return;
    evloop_join(l);
    close(l->epfd);
    close(l->stopfd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_fn cb, void *ctx)
{
    if (fd < 0 || !cb)
        return BURROW_ERR_INVALID;
    pthread_mutex_lock(&l->lock);
    int slot = -1;
    for (unsigned i = 0; i < EVLOOP_MAX_FDS; i++) {
        if (l->entries[i].fd == fd) {
            pthread_mutex_unlock(&l->lock);
            return BURROW_ERR_EXISTS;
        }
        if (slot < 0 && l->entries[i].fd < 0)
            slot = (int)i;
    }
    int r = 0;
    if (slot < 0) {
        r = BURROW_ERR_TOO_LARGE;
    } else {
        l->entries[slot] = (struct evloop_entry){.fd = fd, .cb = cb, .ctx = ctx};
        struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)slot};
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            l->entries[slot].fd = -1;
            r = BURROW_ERR_SYSTEM;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

static int evloop_slot(struct evloop *l, int fd)
{
    for (unsigned i = 0; i < EVLOOP_MAX_FDS; i++)
        if (l->entries[i].fd == fd)
            return (int)i;
    return -1;
}

int evloop_mod(struct evloop *l, int fd, uint32_t events)
{
    pthread_mutex_lock(&l->lock);
    int slot = evloop_slot(l, fd), r = 0;
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)slot};
    if (slot < 0)
        r = BURROW_ERR_NOT_FOUND;
    else if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        r = BURROW_ERR_SYSTEM;
    pthread_mutex_unlock(&l->lock);
    return r;
}

int evloop_del(struct evloop *l, int fd)
{
    pthread_mutex_lock(&l->lock);
    int slot = evloop_slot(l, fd), r = 0;
    if (slot < 0) {
        r = BURROW_ERR_NOT_FOUND;
    } else {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        l->entries[slot].fd = -1;
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

int evloop_run(struct evloop *l)
{
    struct epoll_event evs[32];
    while (!l->stop) {
        int n = epoll_wait(l->epfd, evs, 32, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return BURROW_ERR_SYSTEM;
        }
        for (int i = 0; i < n && !l->stop; i++) {
            if (evs[i].data.u64 == UINT64_MAX)
                continue;
            unsigned slot = (unsigned)evs[i].data.u64;
            /* Re-read the entry under the lock: it may have been deleted
             * by an earlier callback of this same batch. */
            pthread_mutex_lock(&l->lock);
            struct evloop_entry e =
                slot < EVLOOP_MAX_FDS ? l->entries[slot] : (struct evloop_entry){.fd = -1};
            pthread_mutex_unlock(&l->lock);
            if (e.fd >= 0)
                e.cb(e.ctx, e.fd, evs[i].events);
        }
    }
    return 0;
}

static void *evloop_thread(void *arg)
{
    struct evloop *l = arg;
    vmm_policy_thread_enter(VMM_ROLE_EVENT);
    int r = evloop_run(l);
    if (r)
        log_error_r(r, "event loop failed");
    return NULL;
}

int evloop_start(struct evloop *l)
{
    if (l->thread_started)
        return BURROW_ERR_EXISTS;
    /* A restart (after a failed hibernation): the last stop's wake-up must not linger. */
    uint64_t pending;
    if (read(l->stopfd, &pending, sizeof(pending)) < 0 && errno != EAGAIN)
        log_warn_f("cannot drain the event loop's stop signal");
    l->stop = 0;
    if (pthread_create(&l->thread, NULL, evloop_thread, l) != 0)
        return BURROW_ERR_SYSTEM;
    l->thread_started = 1;
    return 0;
}

void evloop_stop(struct evloop *l)
{
    uint64_t one = 1;
    l->stop = 1;
    if (write(l->stopfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn_f("cannot wake the event loop");
}

void evloop_join(struct evloop *l)
{
    if (!l->thread_started)
        return;
    evloop_stop(l);
    pthread_join(l->thread, NULL);
    l->thread_started = 0;
}
