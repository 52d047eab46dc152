/*
 * tests/unit/broker/cluster/test_cluster_parse.c - the cluster's parsers of
 * hostile input: etcd answers (etcd.c), host records (chosts.c) and the
 * [cluster] values (broker/config_cluster.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/config_cluster.h"
#include "broker/cluster/chosts.h"
#include "broker/cluster/etcd.h"
#include "common/err.h"

static void test_kvs_decodes_keys_values_and_numbers(void **state)
{
    (void)state;
    /* "a/b" = "hi", lease 7, revisions as etcd sends them: decimal strings. */
    const char *body =
        "{\"header\":{\"revision\":\"12\"},\"kvs\":[{\"key\":\"YS9i\",\"value\":\"aGk=\","
        "\"lease\":\"7\",\"create_revision\":\"3\",\"mod_revision\":\"11\"}],\"count\":\"1\"}";
    struct etcd_kvs k;
    assert_int_equal(etcd_parse_kvs(body, strlen(body), &k), 0);
    assert_int_equal(k.n, 1);
    assert_int_equal(k.revision, 12);
    assert_string_equal(k.v[0].key, "a/b");
    assert_string_equal(k.v[0].value, "hi");
    assert_int_equal(k.v[0].value_len, 2);
    assert_int_equal(k.v[0].lease, 7);
    assert_int_equal(k.v[0].mod_rev, 11);
    etcd_kvs_free(&k);
}

static void test_kvs_refuses_hostile_answers(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]",                                               /* not an object */
        "{\"kvs\":{}}",                                     /* kvs not an array */
        "{\"kvs\":[{\"value\":\"aGk=\"}]}",                 /* no key */
        "{\"kvs\":[{\"key\":\"!!!\"}]}",                    /* not base64 */
        "{\"kvs\":[{\"key\":\"YQBi\"}]}",                   /* a NUL inside the key */
        "{\"kvs\":[{\"key\":\"YQ==\",\"lease\":\"12x\"}]}", /* not a number */
        "{\"kvs\":[{\"key\":\"YQ==\",\"lease\":\"99999999999999999999999\"}]}", /* overflow */
        "{\"error\":\"etcdserver: no leader\",\"code\":14}", /* an error answer */
        "{\"kvs\":[",                                        /* truncated */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct etcd_kvs k;
        assert_int_not_equal(etcd_parse_kvs(bad[i], strlen(bad[i]), &k), 0);
        assert_null(k.v);
    }
    char nul[] = "{\"kvs\":[]}\0x";
    struct etcd_kvs k;
    assert_int_not_equal(etcd_parse_kvs(nul, sizeof(nul) - 1, &k), 0);
}

static void test_kvs_absent_means_empty(void **state)
{
    (void)state;
    const char *body = "{\"header\":{\"revision\":\"5\"}}";
    struct etcd_kvs k;
    assert_int_equal(etcd_parse_kvs(body, strlen(body), &k), 0);
    assert_int_equal(k.n, 0);
    assert_int_equal(k.revision, 5);
    etcd_kvs_free(&k);
}

static void test_host_record_roundtrip(void **state)
{
    (void)state;
    struct chost h = {.name = "h1",
                      .addr = "10.0.0.1",
                      .port = 2200,
                      .keytype = "ssh-ed25519",
                      .key = "AAAAC3NzaC1lZDI1NTE5AAAAIKey",
                      .lease = 42,
                      .capacity = 64,
                      .load = 3};
    struct chost back;
    char line[CHOST_LINE_MAX];
    assert_int_equal(chost_format(&h, line, sizeof(line)), 0);
    assert_int_equal(chost_parse("h1", line, &back), 0);
    assert_string_equal(back.addr, "10.0.0.1");
    assert_int_equal(back.port, 2200);
    assert_string_equal(back.key, h.key);
    assert_int_equal(back.lease, 42);
    assert_int_equal(back.load, 3);
}

static void test_host_record_refuses_hostile_values(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "example.com 2200 ssh-ed25519 AAAA 1 1 0",  /* not a numeric address */
        "10.0.0.1 0 ssh-ed25519 AAAA 1 1 0",        /* port 0 */
        "10.0.0.1 70000 ssh-ed25519 AAAA 1 1 0",    /* port range */
        "10.0.0.1 22 ssh-ed25519 AA;rm 1 1 0",      /* not base64 */
        "10.0.0.1 22 SSH_ED 1 1 1 0",               /* key type characters */
        "10.0.0.1 22 ssh-ed25519 AAAA 1 1",         /* a field missing */
        "10.0.0.1 22 ssh-ed25519 AAAA 1 1 0 extra", /* one too many */
        "10.0.0.1 22 ssh-ed25519 AAAA -1 1 0",      /* negative lease */
    };
    struct chost h;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_not_equal(chost_parse("h1", bad[i], &h), 0);
    assert_int_not_equal(chost_parse("../x", "10.0.0.1 22 ssh-ed25519 AAAA 1 1 0", &h), 0);
}

/* The peer session's snapshot of run_dir/cluster/hosts: a key is a live host's only as pinned. */
static void test_host_key_in_snapshot(void **state)
{
    (void)state;
    static const char text[] = "h1 10.0.0.1 2200 ssh-ed25519 AAAAone 1 8 0\n"
                               "garbage line\n"
                               "h2 10.0.0.2 2200 ssh-ed25519 AA;rm 1 8 0\n" /* refused record */
                               "h3 10.0.0.3 2200 ecdsa-sha2-nistp256 AAAAthree 1 8 0\n";
    struct chost h;
    assert_int_equal(chosts_find_key_in(text, "ssh-ed25519", "AAAAone", &h), 0);
    assert_string_equal(h.name, "h1");
    assert_int_equal(chosts_find_key_in(text, "ssh-ed25519", "AAAAone", &h), 0); /* text intact */
    assert_int_equal(chosts_find_key_in(text, "ssh-ed25519", "AA;rm", &h), BURROW_ERR_NOT_FOUND);
    assert_int_equal(chosts_find_key_in(text, "ssh-ed25519", "AAAAthree", &h),
                     BURROW_ERR_NOT_FOUND); /* another key type */
    assert_int_equal(chosts_find_key_in(text, "ssh-ed25519", "AAAAtwo", &h), BURROW_ERR_NOT_FOUND);
    assert_int_equal(chosts_find_key_in("", "ssh-ed25519", "AAAAone", &h), BURROW_ERR_NOT_FOUND);
}

static void test_cluster_values(void **state)
{
    (void)state;
    char err[256], s[CONFIG_STR_MAX];
    struct config_peer_listen pl;
    assert_int_equal(ccfg_parse_etcd("http://10.0.0.1:2379 https://e2:2379", s, err, sizeof(err)),
                     0);
    assert_int_not_equal(ccfg_parse_etcd("ftp://x", s, err, sizeof(err)), 0);
    assert_int_not_equal(ccfg_parse_etcd("http://a\"b", s, err, sizeof(err)), 0);
    assert_int_equal(ccfg_parse_peer_listen("10.0.0.1:2200", &pl, err, sizeof(err)), 0);
    assert_int_equal(pl.port, 2200);
    assert_int_equal(ccfg_parse_peer_listen("[fd00::1]:2200", &pl, err, sizeof(err)), 0);
    assert_string_equal(pl.addr, "fd00::1");
    assert_int_not_equal(ccfg_parse_peer_listen("0.0.0.0:2200", &pl, err, sizeof(err)), 0);
    assert_int_not_equal(ccfg_parse_peer_listen("10.0.0.1", &pl, err, sizeof(err)), 0);
    assert_int_equal(ccfg_parse_nbd("nbd://storage.example:10809", s, err, sizeof(err)), 0);
    assert_int_not_equal(ccfg_parse_nbd("nbd://a b", s, err, sizeof(err)), 0);
    assert_int_not_equal(ccfg_parse_nbd("http://x", s, err, sizeof(err)), 0);
    assert_int_equal(ccfg_parse_prefix("/burrow/", s, err, sizeof(err)), 0);
    assert_int_not_equal(ccfg_parse_prefix("/a/../b/", s, err, sizeof(err)), 0);
    assert_int_not_equal(ccfg_parse_name("-h", s, err, sizeof(err)), 0);
}

static void test_cluster_needs_peer_listen_and_nbd(void **state)
{
    (void)state;
    struct burrow_config cfg;
    char err[256];
    config_defaults(&cfg);
    assert_false(cluster_enabled(&cfg));
    assert_int_equal(ccfg_finish(&cfg, err, sizeof(err)), 0);
    strcpy(cfg.cluster.etcd, "http://10.0.0.1:2379");
    assert_int_not_equal(ccfg_finish(&cfg, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "peer_listen"));
    strcpy(cfg.cluster.peer_listen.text, "10.0.0.1:2200");
    assert_int_not_equal(ccfg_finish(&cfg, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "home_nbd"));
    strcpy(cfg.cluster.home_nbd, "nbd://10.0.0.9");
    assert_int_equal(ccfg_finish(&cfg, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kvs_decodes_keys_values_and_numbers),
        cmocka_unit_test(test_kvs_refuses_hostile_answers),
        cmocka_unit_test(test_kvs_absent_means_empty),
        cmocka_unit_test(test_host_record_roundtrip),
        cmocka_unit_test(test_host_record_refuses_hostile_values),
        cmocka_unit_test(test_host_key_in_snapshot),
        cmocka_unit_test(test_cluster_values),
        cmocka_unit_test(test_cluster_needs_peer_listen_and_nbd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
