/* common/fdpass.c - descriptors along with a message (see fdpass.h). */
#include "common/fdpass.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FDPASS_RECV_MAX 4 /* room for a few: the extras are received only to be closed */

ssize_t fdpass_sendv(int sock, const void *data, size_t len, const int *fds, unsigned nfds,
                     int flags)
{
    union {
        char buf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > FDPASS_MAX)
        nfds = FDPASS_MAX;
    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    return sendmsg(sock, &mh, flags);
}

ssize_t fdpass_send(int sock, const void *data, size_t len, int fd, int flags)
{
    return fdpass_sendv(sock, data, len, &fd, fd >= 0 ? 1 : 0, flags);
}

/* Keep the first `want` descriptors of the message (in order), close every other one. */
static void take_fds(struct msghdr *mh, int *fds, unsigned want, unsigned *got)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int one;
            memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*got < want)
                fds[(*got)++] = one;
            else
                close(one);
        }
    }
}

ssize_t fdpass_recvv(int sock, void *data, size_t len, int *fds, unsigned want, unsigned *got,
                     int flags, int *msg_flags)
{
    union {
        char buf[CMSG_SPACE(FDPASS_RECV_MAX * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = data, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = ctl.buf,
                        .msg_controllen = sizeof(ctl.buf)};
    ssize_t n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
    if (n >= 0)
        take_fds(&mh, fds, want > FDPASS_MAX ? FDPASS_MAX : want, got);
    if (msg_flags)
        *msg_flags = n >= 0 ? mh.msg_flags : 0;
    return n;
}

ssize_t fdpass_recv(int sock, void *data, size_t len, int *fd, int flags, int *msg_flags)
{
    unsigned got = 0;
    int one = -1;
    int want = fd && *fd < 0;
    ssize_t n = fdpass_recvv(sock, data, len, &one, want ? 1 : 0, &got, flags, msg_flags);
    if (got)
        *fd = one;
    return n;
}
