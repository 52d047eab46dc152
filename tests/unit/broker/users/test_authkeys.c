/* tests/unit/broker/users/test_authkeys.c - authorized_keys parsing (keys,
 * options, malformed lines) and the server-side matcher. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/users/authkeys.h"
#include "common/err.h"
#include "tests/lib/testutil.h"
#include "tests/unit/broker/users/testkeys.h"

static int parse_strict(const char *text, struct authkeys *ak, char *err)
{
    return authkeys_parse(text, strlen(text), AUTHKEYS_STRICT, ak, err, AUTHKEYS_ERR_MAX);
}

/* An ssh_key from "type base64". */
static ssh_key key_of(const char *line)
{
    const char *sp = strchr(line, ' ');
    char type[64];
    snprintf(type, sizeof(type), "%.*s", (int)(sp - line), line);
    ssh_key k = NULL;
    assert_int_equal(ssh_pki_import_pubkey_base64(sp + 1, ssh_key_type_from_name(type), &k),
                     SSH_OK);
    return k;
}

static void test_plain_keys(void **state)
{
    (void)state;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    const char *text = "# my keys\n\n" TK_ED1 " alice@laptop\r\n"
                       "   " TK_RSA3072 "\n" TK_ECDSA256 " ec key with spaces  \n" TK_ED2;
    assert_int_equal(parse_strict(text, &ak, err), 0);
    assert_int_equal(ak.n, 4);
    assert_int_equal(ak.keys[0].type, SSH_KEYTYPE_ED25519);
    assert_string_equal(ak.keys[0].comment, "alice@laptop");
    assert_int_equal(ak.keys[0].lineno, 3);
    assert_int_equal(ak.keys[1].type, SSH_KEYTYPE_RSA);
    assert_string_equal(ak.keys[1].comment, "");
    assert_int_equal(ak.keys[2].type, SSH_KEYTYPE_ECDSA_P256);
    assert_string_equal(ak.keys[2].comment, "ec key with spaces");
    assert_int_equal(ak.keys[3].opts.flags, 0);
    assert_true(strncmp(ak.keys[0].fingerprint, "SHA256:", 7) == 0);
    assert_string_equal(ak.keys[0].line, TK_ED1 " alice@laptop");
    authkeys_free(&ak);
}

static void test_options(void **state)
{
    (void)state;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    const char *text =
        "restrict,pty,command=\"echo \\\"hi\\\", there\",from=\"10.0.0.0/8,!10.1.2.3,::1\","
        "environment=\"LANG=C.UTF-8\",environment=\"A_B=x y\" " TK_ED1 " c1\n"
        "no-pty,No-Port-Forwarding,no-agent-forwarding " TK_ED2 "\n";
    if (parse_strict(text, &ak, err) < 0)
        fail_msg("%s", err);
    assert_int_equal(ak.n, 2);
    const struct authkey_opts *o = &ak.keys[0].opts;
    assert_int_equal(o->flags, AUTHKEY_RESTRICT_ALL & ~AUTHKEY_NO_PTY);
    assert_string_equal(o->command, "echo \"hi\", there");
    assert_string_equal(o->from, "10.0.0.0/8,!10.1.2.3,::1");
    assert_int_equal(o->n_env, 2);
    assert_string_equal(o->env[0], "LANG=C.UTF-8");
    assert_string_equal(o->env[1], "A_B=x y");
    assert_string_equal(ak.keys[0].comment, "c1");
    assert_int_equal(ak.keys[1].opts.flags,
                     AUTHKEY_NO_PTY | AUTHKEY_NO_PORT_FWD | AUTHKEY_NO_AGENT_FWD);
    authkeys_free(&ak);
}

static void test_malformed_lines(void **state)
{
    (void)state;
    static const struct {
        const char *line, *expect;
    } cases[] = {
        {"ssh-ed25519", "not base64"},
        {"ssh-ed25519 AAAA!!!!", "not base64"},
        {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOSHq6qSafyMn4", "does not parse"},
        {"ssh-foo AAAAC3NzaC1lZDI1NTE5", "unsupported option 'ssh-foo'"},
        {"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOSHq6qSafyMn4+1cZox2oTfpdDbTRyCPJjoDE/MZM7V",
         "key data"}, /* libssh or our type check refuses it */
        {TK_RSA1024, "at least 2048 bits"},
        {"tunnel=\"1\" " TK_ED1, "unsupported option 'tunnel'"},
        {"permitopen=\"host\" " TK_ED1, "permitopen="},
        {"permitopen=\"host:0\" " TK_ED1, "permitopen="},
        {"permitopen=\"host:65536\" " TK_ED1, "permitopen="},
        {"permitopen=\"::1:22\" " TK_ED1, "permitopen="},
        {"permitopen=\":22\" " TK_ED1, "permitopen="},
        {"permitopen=\"a b:22\" " TK_ED1, "permitopen="},
        {"permitlisten=\"x\" " TK_ED1, "permitlisten="},
        {"principals=\"alice\" " TK_ED1, "needs cert-authority"},
        {"cert-authority,principals=\"a,,b\" " TK_ED1, "principals="},
        {"cert-authority,principals=\"a b\" " TK_ED1, "principals="},
        {"command=\"unterminated " TK_ED1, "needs a valid"},
        {"command=noquotes " TK_ED1, "needs a valid"},
        {"command=\"a\",command=\"b\" " TK_ED1, "twice"},
        {"command=\"\" " TK_ED1, "empty"},
        {"from=\"host name\" " TK_ED1, "from="},
        {"from=\"10.0.0.0/33\" " TK_ED1, "from="},
        {"from=\"a,,b\" " TK_ED1, "from="},
        {"environment=\"1BAD=x\" " TK_ED1, "environment="},
        {"environment=\"NOEQUALS\" " TK_ED1, "environment="},
        {"no-pty,,restrict " TK_ED1, "malformed options"},
        {"no-pty" TK_ED1, "unsupported option"},
        {"no-pty\"x\" " TK_ED1, "malformed options"},
        {"ssh-ed25519-cert-v01@openssh.com AAAA", "unsupported"},
        {TK_ED1 " comment with \x01 control", "control character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct authkeys ak;
        char err[AUTHKEYS_ERR_MAX] = "";
        char text[4096];
        snprintf(text, sizeof(text), "%s\n%s\n", TK_ED2, cases[i].line);
        int r = parse_strict(text, &ak, err);
        if (r == 0 || !strstr(err, cases[i].expect) || !strstr(err, "line 2:"))
            fail_msg("case %zu: r=%d err='%s' want '%s'", i, r, err, cases[i].expect);
        assert_int_equal(ak.n, 0);
        assert_null(ak.keys);
        /* lenient mode keeps the good line and skips the bad one */
        assert_int_equal(authkeys_parse(text, strlen(text), 0, &ak, err, sizeof(err)), 0);
        assert_int_equal(ak.n, 1);
        authkeys_free(&ak);
    }
}

static void test_limits(void **state)
{
    (void)state;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    /* an over-long line */
    size_t n = AUTHKEYS_LINE_MAX + 100;
    char *big = malloc(n + 1);
    memset(big, 'A', n);
    memcpy(big, "ssh-ed25519 ", 12);
    big[n] = '\0';
    assert_int_equal(parse_strict(big, &ak, err), BURROW_ERR_FORMAT);
    assert_non_null(strstr(err, "longer than"));
    free(big);
    /* too many keys */
    size_t cap = (AUTHKEYS_KEYS_MAX + 1) * (sizeof(TK_ED1) + 1) + 1;
    char *many = malloc(cap), *p = many;
    for (int i = 0; i <= AUTHKEYS_KEYS_MAX; i++)
        p += sprintf(p, "%s\n", TK_ED1);
    assert_int_equal(parse_strict(many, &ak, err), BURROW_ERR_FORMAT);
    assert_non_null(strstr(err, "more than"));
    free(many);
    /* whole-text bound */
    assert_int_equal(authkeys_parse("", AUTHKEYS_FILE_MAX + 1, 0, &ak, err, sizeof(err)),
                     BURROW_ERR_TOO_LARGE);
    /* the text need not be NUL-terminated (found by the fuzzer): an exact-size
     * heap copy lets ASan catch any read past its end */
    static const char *const ends[] = {"ssh-rsa R0", TK_ED1, TK_ED1 " comment", "no-pty"};
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        size_t len = strlen(ends[i]);
        char *exact = malloc(len);
        memcpy(exact, ends[i], len);
        if (authkeys_parse(exact, len, 0, &ak, err, sizeof(err)) == 0)
            authkeys_free(&ak);
        free(exact);
    }
    /* embedded NUL in a line */
    char nul[] = TK_ED1 " a\0b\n";
    assert_int_equal(authkeys_parse(nul, sizeof(nul) - 1, AUTHKEYS_STRICT, &ak, err, sizeof(err)),
                     BURROW_ERR_FORMAT);
}

static void test_from_patterns(void **state)
{
    (void)state;
    assert_int_equal(authkeys_from_allows("10.0.0.0/8", "10.9.8.7"), 1);
    assert_int_equal(authkeys_from_allows("10.0.0.0/8", "11.0.0.1"), 0);
    assert_int_equal(authkeys_from_allows("10.0.0.0/8,!10.1.2.3", "10.1.2.3"), 0);
    assert_int_equal(authkeys_from_allows("!10.1.2.3,10.0.0.0/8", "10.1.2.4"), 1);
    assert_int_equal(authkeys_from_allows("192.168.1.*", "192.168.1.77"), 1);
    assert_int_equal(authkeys_from_allows("192.168.1.?", "192.168.1.77"), 0);
    assert_int_equal(authkeys_from_allows("2001:db8::/32", "2001:db8:1::5"), 1);
    assert_int_equal(authkeys_from_allows("2001:db8::/32", "2001:db9::5"), 0);
    assert_int_equal(authkeys_from_allows("10.0.0.0/12", "10.15.255.255"), 1);
    assert_int_equal(authkeys_from_allows("10.0.0.0/12", "10.16.0.0"), 0);
    assert_int_equal(authkeys_from_allows("*", "203.0.113.9"), 1);
    assert_int_equal(authkeys_from_allows("example.com", "203.0.113.9"), 0);
    assert_int_equal(authkeys_from_allows("*", NULL), 0);
}

static void test_match(void **state)
{
    (void)state;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    /* ED1 allowed only from 10/8 with a forced command; ED2 from anywhere */
    const char *text = "from=\"10.0.0.0/8\",command=\"/bin/true\",no-pty " TK_ED1 "\n" TK_ED2 "\n";
    assert_int_equal(parse_strict(text, &ak, err), 0);
    ssh_key k1 = key_of(TK_ED1), k2 = key_of(TK_ED2), k3 = key_of(TK_ECDSA256);
    struct authkey_opts o;
    assert_int_equal(authkeys_match(&ak, k1, "10.2.3.4", &o), 1);
    assert_string_equal(o.command, "/bin/true");
    assert_int_equal(o.flags, AUTHKEY_NO_PTY);
    authkey_opts_free(&o);
    assert_int_equal(authkeys_match(&ak, k1, "192.0.2.1", &o), 0);
    assert_null(o.command);
    assert_int_equal(authkeys_match(&ak, k1, NULL, &o), 0);
    assert_int_equal(authkeys_match(&ak, k2, "192.0.2.1", &o), 1);
    assert_null(o.command);
    assert_int_equal(o.flags, 0);
    authkey_opts_free(&o);
    assert_int_equal(authkeys_match(&ak, k3, "10.2.3.4", &o), 0);
    assert_int_equal(authkeys_find(&ak, k2), 1);
    assert_int_equal(authkeys_find(&ak, k3), -1);
    authkeys_free(&ak);

    /* the file form; a missing file matches nothing */
    char *dir = tu_mkdtemp("authkeys");
    char path[512];
    snprintf(path, sizeof(path), "%s/authorized_keys", dir);
    assert_int_equal(authkeys_match_file(path, k2, "10.0.0.1", &o), 0);
    tu_write_file(path, "garbage line\n" TK_ED2 " bob\n");
    assert_int_equal(authkeys_match_file(path, k2, "10.0.0.1", &o), 1);
    authkey_opts_free(&o);
    assert_int_equal(authkeys_match_file(path, k1, "10.0.0.1", &o), 0);
    tu_rmrf(dir);
    free(dir);
    ssh_key_free(k1);
    ssh_key_free(k2);
    ssh_key_free(k3);
}

static void test_permits(void **state)
{
    (void)state;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    const char *text = "permitopen=\"db.local:5432\",permitopen=\"[::1]:*\","
                       "permitopen=\"*:8080\",permitlisten=\"8000\","
                       "permitlisten=\"localhost:*\" " TK_ED1 "\n" TK_ED2 "\n";
    assert_int_equal(parse_strict(text, &ak, err), 0);
    const struct authkey_opts *o = &ak.keys[0].opts;
    assert_int_equal(o->n_permit_open, 3);
    assert_int_equal(o->n_permit_listen, 2);
    assert_true(authkeys_permits_open(o, "db.local", 5432));
    assert_true(authkeys_permits_open(o, "DB.LOCAL", 5432));
    assert_false(authkeys_permits_open(o, "db.local", 5433));
    assert_true(authkeys_permits_open(o, "::1", 22));
    assert_true(authkeys_permits_open(o, "anything", 8080));
    assert_false(authkeys_permits_open(o, "127.0.0.1", 22));
    assert_true(authkeys_permits_listen(o, "127.0.0.1", 8000));
    assert_true(authkeys_permits_listen(o, "localhost", 9999));
    assert_true(authkeys_permits_listen(o, "localhost", 0)); /* port * allows a dynamic one */
    assert_false(authkeys_permits_listen(o, "127.0.0.1", 0));
    assert_false(authkeys_permits_listen(o, "127.0.0.1", 9000));
    /* A key without the options: no restriction from them. */
    assert_true(authkeys_permits_open(&ak.keys[1].opts, "x", 1));
    assert_true(authkeys_permits_listen(&ak.keys[1].opts, "", 0));
    struct authkey_opts c;
    assert_int_equal(authkey_opts_copy(&c, o), 0);
    assert_string_equal(c.permit_listen[1], "localhost:*");
    assert_string_equal(c.permit_open[1], "[::1]:*");
    authkey_opts_free(&c);
    authkeys_free(&ak);
    /* At most AUTHKEYS_PERMIT_MAX of each. */
    char many[4096] = "";
    for (int i = 0; i <= AUTHKEYS_PERMIT_MAX; i++)
        strcat(many, "permitopen=\"h:1\",");
    strcat(many, "no-pty " TK_ED1);
    assert_int_not_equal(parse_strict(many, &ak, err), 0);
    assert_non_null(strstr(err, "at most"));
}

static void test_cert_authority(void **state)
{
    (void)state;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    const char *text =
        "cert-authority,principals=\"ops,alice\",from=\"10.0.0.0/8\" " TK_ED1 "\n" TK_ED2 "\n";
    assert_int_equal(parse_strict(text, &ak, err), 0);
    ssh_key k1 = key_of(TK_ED1), k2 = key_of(TK_ED2);
    struct authkey_opts o;
    /* A CA key never logs in as a key. */
    assert_int_equal(authkeys_match(&ak, k1, "10.1.1.1", &o), 0);
    assert_int_equal(authkeys_match_ca(&ak, k1, "10.1.1.1", &o), 1);
    assert_true(o.cert_authority);
    assert_string_equal(o.principals, "ops,alice");
    authkey_opts_free(&o);
    assert_int_equal(authkeys_match_ca(&ak, k1, "192.0.2.1", &o), 0); /* from= */
    /* A plain key is no CA. */
    assert_int_equal(authkeys_match_ca(&ak, k2, "10.1.1.1", &o), 0);
    assert_int_equal(authkeys_match(&ak, k2, "10.1.1.1", &o), 1);
    authkey_opts_free(&o);
    authkeys_free(&ak);
    ssh_key_free(k1);
    ssh_key_free(k2);
}

static void test_opts_copy(void **state)
{
    (void)state;
    struct authkeys ak;
    char err[AUTHKEYS_ERR_MAX];
    assert_int_equal(
        parse_strict("command=\"x\",environment=\"A=1\",from=\"*\" " TK_ED1 "\n", &ak, err), 0);
    struct authkey_opts c;
    assert_int_equal(authkey_opts_copy(&c, &ak.keys[0].opts), 0);
    authkeys_free(&ak);
    assert_string_equal(c.command, "x");
    assert_string_equal(c.env[0], "A=1");
    assert_string_equal(c.from, "*");
    authkey_opts_free(&c);
    assert_null(c.command);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_keys),      cmocka_unit_test(test_options),
        cmocka_unit_test(test_malformed_lines), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_from_patterns),   cmocka_unit_test(test_match),
        cmocka_unit_test(test_opts_copy),       cmocka_unit_test(test_permits),
        cmocka_unit_test(test_cert_authority),
    };
    return cmocka_run_group_tests_name("broker/users/authkeys", tests, NULL, NULL);
}
