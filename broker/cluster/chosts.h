/*
 * broker/cluster/chosts.h - host records (docs/cluster.md, "Keys").
 *
 * Owns: the one format of a host record, the value of PREFIX/hosts/NAME
 * (held under the host's lease) and a line of run_dir/cluster/hosts:
 *     addr port keytype key lease capacity load
 * (the file's lines start with the name). Records come from other hosts:
 * every field is bounded and checked (numeric address, port, an SSH key
 * type and base64 blob, decimal numbers).
 */
#ifndef BURROW_BROKER_CLUSTER_CHOSTS_H
#define BURROW_BROKER_CLUSTER_CHOSTS_H

#include <stddef.h>
#include <stdint.h>

#include "broker/config.h"

#define CHOST_KEY_MAX  1024 /* base64 of an ed25519/ecdsa public key fits easily */
#define CHOST_LINE_MAX 1400
#define CHOSTS_MAX     256

struct chost {
    char name[CONFIG_CLUSTER_NAME_MAX];
    char addr[CONFIG_ADDR_MAX];
    uint16_t port;
    char keytype[32];
    char key[CHOST_KEY_MAX];
    int64_t lease;
    uint32_t capacity, load;
};

int chost_format(const struct chost *h, char *out, size_t outsz);
/* A record's value (without the name) for host `name`. */
int chost_parse(const char *name, const char *value, struct chost *h);
/* Replace run_dir/cluster/hosts atomically. */
int chosts_write(const struct burrow_config *cfg, const struct chost *hs, size_t n);
/* Look a host up in run_dir/cluster/hosts. BURROW_ERR_NOT_FOUND if it is not live. */
int chosts_find(const struct burrow_config *cfg, const char *name, struct chost *out);
/* The mirror file's text as it is now (malloc'd), for a process that must read it before it
 * gives up the filesystem (the peer session, peer.c). */
int chosts_read(const struct burrow_config *cfg, char **text);
/* Is "keytype key" the key of a live host in such a text (peer authentication)? Fills *out
 * when it is; BURROW_ERR_NOT_FOUND if not. */
int chosts_find_key_in(const char *text, const char *keytype, const char *key, struct chost *out);

#endif /* BURROW_BROKER_CLUSTER_CHOSTS_H */
