/*
 * broker/users/usercert.h - OpenSSH user certificates (PROTOCOL.certkeys).
 *
 * Owns: parsing a certificate blob (hostile input, every length bounded),
 * checking its CA signature, and what it allows: a user certificate, inside
 * its validity window, naming the principal, whose critical options Burrow
 * knows (force-command, source-address; any other refuses it, as sshd
 * does), and whose missing extensions (permit-pty, permit-port-forwarding,
 * permit-agent-forwarding, permit-X11-forwarding, permit-user-rc) restrict
 * the session like the authorized_keys no-* options.
 *
 * libssh 0.10 imports certificates and checks the client's signature with
 * the certificate's key, but reads none of these fields and never checks the
 * CA's signature: that is done here, Ed25519 with libsodium, RSA (rsa-sha2-256/
 * 512; the SHA-1 ssh-rsa signature is refused, as OpenSSH does since 8.2) and
 * ECDSA (P-256/384/521) with libcrypto, which libssh itself uses.
 */
#ifndef BURROW_BROKER_USERCERT_H
#define BURROW_BROKER_USERCERT_H

#include <stddef.h>
#include <stdint.h>

#define USERCERT_MAX            8192 /* bytes of a certificate blob */
#define USERCERT_PRINCIPALS_MAX 256
#define USERCERT_NAME_MAX       255 /* a principal, the key id */
#define USERCERT_TYPE_USER      1

struct usercert {
    char type_name[64]; /* "ssh-ed25519-cert-v01@openssh.com", ... */
    uint64_t serial;
    uint32_t type; /* 1 user, 2 host */
    char key_id[USERCERT_NAME_MAX + 1];
    unsigned n_principals;
    const uint8_t *principals; /* the packed list, inside the blob */
    size_t principals_len;
    uint64_t valid_after, valid_before;
    char force_command[4097];  /* "" = none */
    char source_address[4097]; /* "" = none; comma-separated CIDRs or addresses */
    char unknown_critical[64]; /* the first critical option Burrow does not know, or "" */
    unsigned restrict_flags;   /* AUTHKEY_NO_* for the extensions it lacks */
    const uint8_t *ca_key;     /* the signature key's blob, inside the certificate */
    size_t ca_key_len;
    const uint8_t *signed_data; /* everything the CA signed */
    size_t signed_len;
    const uint8_t *signature; /* string type, string blob */
    size_t signature_len;
};

/*
 * Parse a certificate blob (it must outlive c: c points into it). 0, or a
 * negative code and why. Nothing is trusted yet: see usercert_verify.
 */
int usercert_parse(const uint8_t *blob, size_t len, struct usercert *c, char *why, size_t whysz);
/* Is the CA's signature over the certificate good? 0, or a negative code and why. */
int usercert_verify(const struct usercert *c, char *why, size_t whysz);
/* Does the certificate list this principal? */
int usercert_has_principal(const struct usercert *c, const char *name);
/*
 * The rest, for a login as user from client_addr at now: a user certificate,
 * valid now, no unknown critical option, source-address allows the client.
 * Principals: those of the comma-separated `allowed` list (authorized_keys
 * principals=) if given, else user, must be in the certificate. 0, or a
 * negative code and why.
 */
int usercert_check(const struct usercert *c, const char *user, const char *allowed,
                   const char *client_addr, uint64_t now, char *why, size_t whysz);

#endif /* BURROW_BROKER_USERCERT_H */
