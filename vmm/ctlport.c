/* vmm/ctlport.c - the host's side of the control protocol, transport-free (see ctlport.h). */
#include "vmm/ctlport.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

void ctlport_rx_reset(struct ctlport_rx *rx)
{
    rx->len = 0;
    rx->consumed = 0;
}

/* Drop the frame returned last: what follows it moves to the front. */
static void rx_compact(struct ctlport_rx *rx)
{
    if (!rx->consumed)
        return;
    memmove(rx->buf, rx->buf + rx->consumed, rx->len - rx->consumed);
    rx->len -= rx->consumed;
    rx->consumed = 0;
}

uint8_t *ctlport_rx_space(struct ctlport_rx *rx, size_t *room)
{
    rx_compact(rx);
    *room = sizeof(rx->buf) - rx->len;
    return rx->buf + rx->len;
}

void ctlport_rx_added(struct ctlport_rx *rx, size_t n)
{
    rx->len += n;
}

int ctlport_rx_next(struct ctlport_rx *rx, struct proto_frame *f)
{
    rx_compact(rx);
    int r = proto_frame_parse(rx->buf, rx->len, f);
    if (r == 0)
        rx->consumed = f->size;
    return r;
}

int ctlport_answer_hello(const struct proto_frame *f, struct buf *reply)
{
    struct proto_hello h;
    int r;
    if ((r = proto_get_hello(f, &h)) || (r = proto_hello_check(&h)))
        return r;
    struct proto_hello mine = {.version = PROTO_VERSION, .role = PROTO_ROLE_VMM};
    return proto_put_hello(reply, &mine);
}

int ctlport_put_identity(struct buf *b, const struct fork_identity *who, bool home_disk,
                         const uint8_t *mac, uint8_t *entropy_out)
{
    struct proto_identity pi;
    fork_identity_to_proto(who, &pi);
    randombytes_buf(pi.entropy, sizeof(pi.entropy));
    if (entropy_out)
        memcpy(entropy_out, pi.entropy, sizeof(pi.entropy));
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pi.time_sec = ts.tv_sec;
    pi.time_nsec = (uint32_t)ts.tv_nsec;
    if (home_disk)
        pi.flags |= PROTO_ID_F_HOME_DISK;
    if (mac && (pi.flags & PROTO_ID_F_NET)) /* the MAC the VM's device really got */
        memcpy(pi.net.mac, mac, sizeof(pi.net.mac));
    int r = proto_put_identity(b, &pi);
    sodium_memzero(pi.entropy, sizeof(pi.entropy));
    return r;
}
