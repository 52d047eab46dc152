/*
 * broker/session/forward.h - ssh -R and ssh -A in the net child.
 *
 * Owns: the listeners inside the user's VM (each an agent connection with
 * OPEN(listen), common/proto.h): tcp ports for the tcpip-forward global
 * request (cancel-tcpip-forward ends them) and the one agent socket per
 * connection for auth-agent-req@openssh.com; and, for every connection made
 * to one of them, the claim (OPEN(accept) on an agent connection of its own)
 * and the channel the client gets: forwarded-tcpip or
 * auth-agent@openssh.com, then relayed like a direct-tcpip channel.
 *
 * Policy, decided here from what the monitor sent ([ssh] switches and the
 * key's options): allow_tcp_forwarding (yes|remote), no-port-forwarding,
 * restrict and permitlisten= for ssh -R; allow_agent_forwarding,
 * no-agent-forwarding and restrict for ssh -A. Listeners bind the VM's
 * loopback only (sshd's GatewayPorts=no), as the user (no privileged port
 * for her).
 *
 * libssh 0.10 rule (see netchild.c on_master): fwd_request, fwd_cancel and
 * fwd_agent_socket run inside libssh callbacks and only record listeners;
 * fwd_pump_all, after the poll, watches and unwatches their fds.
 */
#ifndef BURROW_BROKER_FORWARD_H
#define BURROW_BROKER_FORWARD_H

#include <stdint.h>

#include <libssh/libssh.h>

#include "broker/session/netchild.h"

struct chan;

/* tcpip-forward: a listener on the VM's loopback. 0 and the bound port, or a refusal. */
int fwd_request(struct netchild *s, const char *addr, int port, uint16_t *bound);
/* cancel-tcpip-forward: 0 if such a forward existed (it ends), else a negative code. */
int fwd_cancel(struct netchild *s, const char *addr, int port);
/* The message callback's global requests: 0 answered here, 1 for libssh's refusal. */
int fwd_on_global(struct netchild *s, ssh_message msg);

/* May this session forward the agent ([ssh] switch, the key's options)? */
int fwd_agent_allowed(const struct netchild *s);
/* The connection's agent socket in the VM (made at the first use), or NULL. */
const char *fwd_agent_socket(struct netchild *s);

/* After the poll: ACCEPTED connections become channels, ended listeners go. */
void fwd_pump_all(struct netchild *s);
/* A forwarded channel the client has not answered yet: 1 still waiting, 0 open, -1 refused. */
int fwd_open_step(struct chan *c);
/* Session end: close every listener (the agent removes them). */
void fwd_free_all(struct netchild *s);

#endif /* BURROW_BROKER_FORWARD_H */
