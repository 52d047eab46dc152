/* broker/users/hostuid.c - the host uids of a user's processes (see hostuid.h). */
#include "broker/users/hostuid.h"

#include "common/err.h"

int hostuid_session(uint32_t user_uid, uid_t *out)
{
    /* Never folded: a uid past the span would land on another user's session uid. */
    if (user_uid >= HOSTUID_SESSION_SPAN)
        return BURROW_ERR_RANGE;
    *out = (uid_t)(HOSTUID_SESSION_BASE + user_uid);
    return 0;
}

uid_t hostuid_net(pid_t pid)
{
    return (uid_t)(HOSTUID_NET_BASE + ((uint32_t)pid & 0x00ffffffu));
}
