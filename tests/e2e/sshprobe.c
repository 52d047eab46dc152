/*
 * tests/e2e/sshprobe.c - a libssh client that only asks "would this key
 * do?" (a public-key query without a signature, RFC 4252 7), again and
 * again, as a client holding a user's public key but not its private key
 * can. Prints how many queries the server answered "yes" (PK_OK) before it
 * ended the connection or the count ran out.
 *
 *   sshprobe PORT USER PUBKEY-FILE COUNT
 *
 * Exit 0 when it ran; 1 when it could not connect at all.
 */
#include <stdio.h>
#include <stdlib.h>

#include <libssh/libssh.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: sshprobe PORT USER PUBKEY-FILE COUNT\n");
        return 2;
    }
    int port = atoi(argv[1]), count = atoi(argv[4]), yes = 0, verbosity = 0;
    ssh_key key = NULL;
    ssh_session s = ssh_new();
    if (!s || ssh_pki_import_pubkey_file(argv[3], &key) != SSH_OK)
        return 1;
    ssh_options_set(s, SSH_OPTIONS_HOST, "127.0.0.1");
    ssh_options_set(s, SSH_OPTIONS_PORT, &port);
    ssh_options_set(s, SSH_OPTIONS_USER, argv[2]);
    ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
    ssh_options_set(s, SSH_OPTIONS_STRICTHOSTKEYCHECK, &verbosity);
    if (ssh_connect(s) != SSH_OK) {
        fprintf(stderr, "sshprobe: %s\n", ssh_get_error(s));
        return 1;
    }
    ssh_userauth_none(s, NULL);
    for (int i = 0; i < count; i++) {
        if (ssh_userauth_try_publickey(s, NULL, key) != SSH_AUTH_SUCCESS)
            break;
        yes++;
    }
    printf("%d\n", yes);
    ssh_key_free(key);
    ssh_disconnect(s);
    ssh_free(s);
    return 0;
}
