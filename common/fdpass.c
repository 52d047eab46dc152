/* common/fdpass.c - one descriptor along with a message (see fdpass.h). */
#include "common/fdpass.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FDPASS_RECV_MAX 4 /* room for a few: the extras are received only to be closed */

ssize_t fdpass_send(int sock, const void *data, size_t len, int fd, int flags)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &mh, flags);
}

/* Keep the first descriptor in the message (if wanted), close every other one. */
static void take_fds(struct msghdr *mh, int *fd)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int one;
            memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fd && *fd < 0)
                *fd = one;
            else
                close(one);
        }
    }
}

ssize_t fdpass_recv(int sock, void *data, size_t len, int *fd, int flags, int *msg_flags)
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
        take_fds(&mh, fd);
    if (msg_flags)
        *msg_flags = n >= 0 ? mh.msg_flags : 0;
    return n;
}
