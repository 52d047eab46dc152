/*
 * broker/session/channel.h - SSH channels proxied to agent connections.
 *
 * Owns: one struct chan per SSH channel (session or direct-tcpip), the
 * channel requests (pty-req, env, shell, exec, subsystem, window-change,
 * signal), the agent connection each channel gets (broker/session/agentconn.h), and
 * (in broker/session/proxy.c, sharing broker/session/channel_priv.h) flow control both ways:
 *   SSH -> agent: data stays in libssh's channel buffer (whose window then
 *     stops growing) until the agent connection has room;
 *   agent -> SSH: frames stay in our buffer (and we stop reading the agent)
 *     until the client's window has room.
 */
#ifndef BURROW_BROKER_CHANNEL_H
#define BURROW_BROKER_CHANNEL_H

#include "broker/session/netchild.h"

/* Install the message callback that opens direct-tcpip channels. */
void channel_setup(struct netchild *s);
/* The server callback for "session" channel opens (userdata: struct netchild). */
ssh_channel channel_on_open_session(ssh_session ssh, void *userdata);
/* Move bytes both ways for every channel; free finished ones. */
void channel_pump_all(struct netchild *s);
/* Tell every open channel the VM is gone (text on stderr) and end it. */
void channel_fail_all(struct netchild *s, const char *text);
/* Number of live channels. */
int channel_count(const struct netchild *s);
/* Close everything (session end). */
void channel_free_all(struct netchild *s);

#endif /* BURROW_BROKER_CHANNEL_H */
