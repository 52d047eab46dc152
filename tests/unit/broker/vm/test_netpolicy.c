/*
 * tests/unit/broker/vm/test_netpolicy.c - the [net] keys, the generated
 * nftables ruleset (golden text for the defaults with a /28 subnet, so the
 * port bindings fit on a page: tests/unit/broker/vm/netpolicy_default.nft)
 * and, as root, loading it into a network namespace made by the test (the
 * host's own network is never touched).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <net/if.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/config.h"
#include "broker/vm/netpolicy.h"
#include "common/err.h"
#include "tests/lib/testutil.h"

static char rules[NETPOLICY_RULESET_MAX];

static void policy_from(const char *ini_body, struct netpolicy *np, int want)
{
    char *dir = tu_mkdtemp("netpolicy");
    char path[512], err[CONFIG_ERR_MAX];
    snprintf(path, sizeof(path), "%s/burrow.ini", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(ini_body, f);
    fclose(f);
    struct burrow_config c;
    int r = config_load(&c, path, 0, err, sizeof(err));
    if (r != want)
        fail_msg("config_load: %d, want %d: %s", r, want, err);
    if (r == 0 && np)
        netpolicy_from_config(&c, np);
    tu_rmrf(dir);
    free(dir);
}

static void test_default_ruleset_is_golden(void **state)
{
    (void)state;
    struct burrow_config c;
    config_defaults(&c);
    assert_false(c.net.enabled);
    assert_int_equal(c.net.bandwidth_mbit, 100);
    struct netpolicy np;
    policy_from("[net]\nsubnet = 10.213.0.0/28\n", &np, 0);
    assert_int_equal(netpolicy_ruleset(&np, rules, sizeof(rules)), 0);
    char *golden = tu_read_file("tests/unit/broker/vm/netpolicy_default.nft", NULL);
    assert_non_null(golden);
    assert_string_equal(rules, golden);
    free(golden);
}

/*
 * Every VM port the VM manager can hand out (1024 slots on the default /16)
 * is bound to its plan's MAC and address; the whole set fits the buffer.
 */
static void test_every_port_bound(void **state)
{
    (void)state;
    struct burrow_config c;
    struct netpolicy np;
    config_defaults(&c);
    netpolicy_from_config(&c, &np);
    assert_int_equal(netpolicy_ports(&np), NETPOLICY_PORTS_MAX);
    assert_int_equal(netpolicy_ruleset(&np, rules, sizeof(rules)), 0);
    assert_non_null(strstr(rules, "\"bvm0\" . 02:b0:0a:d5:00:02 . 10.213.0.2,\n"));
    assert_non_null(strstr(rules, "\"bvm1023\" . 02:b0:0a:d5:04:01 . 10.213.4.1 }"));
    assert_null(strstr(rules, "\"bvm1024\""));
    size_t n = 0;
    for (const char *p = rules; (p = strstr(p, " . 02:b0:")); p++)
        n++;
    assert_int_equal(n, NETPOLICY_PORTS_MAX);
    /* A /29 has 5 VM addresses, so 5 ports. */
    policy_from("[net]\nsubnet = 192.0.2.8/29\n", &np, 0);
    assert_int_equal(netpolicy_ports(&np), 5);
}

static void test_custom_policy(void **state)
{
    (void)state;
    struct netpolicy np;
    policy_from("[net]\nbridge = br-vm\nsubnet = 192.0.2.0/24\n"
                "egress_allow = 10.1.2.3/32 10.9.0.0/16\negress_deny = 10.0.0.0/8\n"
                "block_host = no\nisolate = no\n",
                &np, 0);
    assert_int_equal(netpolicy_ruleset(&np, rules, sizeof(rules)), 0);
    assert_non_null(strstr(rules, "elements = { 10.1.2.3/32, 10.9.0.0/16 }"));
    assert_non_null(strstr(rules, "elements = { 10.0.0.0/8 }"));
    assert_non_null(strstr(rules, "iifname \"br-vm\" ip saddr != 192.0.2.0/24 drop"));
    assert_non_null(strstr(rules, "ip saddr 192.0.2.0/24 oifname != \"br-vm\" masquerade"));
    /* allow is checked before deny */
    assert_true(strstr(rules, "@egress_allow accept") < strstr(rules, "@egress_deny reject"));
    assert_null(strstr(rules, "chain input")); /* block_host = no */
    /* isolate = no: the ports stay bound to their addresses, but VM to VM is allowed. */
    assert_non_null(strstr(rules, "table bridge burrow {\n"));
    assert_non_null(strstr(rules, "\"bvm0\" . 02:b0:c0:00:02:02 . 192.0.2.2"));
    assert_null(strstr(rules, "oifname \"bvm*\" drop"));
    assert_non_null(strstr(rules, "delete table bridge burrow")); /* an old one still goes */
    assert_int_equal(netpolicy_ruleset(&np, rules, 100), BURROW_ERR_TOO_LARGE);
}

static void test_bad_net_values_refused(void **state)
{
    (void)state;
    policy_from("[net]\nsubnet = 10.213.0.1/16\n", NULL, BURROW_ERR_INVALID); /* host bits */
    policy_from("[net]\nsubnet = 10.0.0.0/30\n", NULL, BURROW_ERR_RANGE);
    policy_from("[net]\nsubnet = 10.0.0.0/16 10.1.0.0/16\n", NULL, BURROW_ERR_RANGE);
    policy_from("[net]\negress_deny = 10.0.0.0/33\n", NULL, BURROW_ERR_FORMAT);
    policy_from("[net]\negress_deny = fe80::/10\n", NULL, BURROW_ERR_FORMAT);
    policy_from("[net]\nbridge = a/b\n", NULL, BURROW_ERR_FORMAT);
    policy_from("[net]\nbridge = sixteen-chars-xx\n", NULL, BURROW_ERR_FORMAT);
    policy_from("[net]\nbandwidth_mbit = 100001\n", NULL, BURROW_ERR_RANGE);
    char many[600] = "[net]\negress_allow =";
    for (int i = 1; i <= CONFIG_CIDR_MAX + 1; i++) /* one network too many, text within bounds */
        snprintf(many + strlen(many), sizeof(many) - strlen(many), " %d.0.0.0/8", i);
    snprintf(many + strlen(many), sizeof(many) - strlen(many), "\n");
    policy_from(many, NULL, BURROW_ERR_TOO_LARGE);
    char longer[600] = "[net]\negress_deny =";
    for (int i = 0; i < 30; i++) /* text over CONFIG_STR_MAX */
        snprintf(longer + strlen(longer), sizeof(longer) - strlen(longer), " 10.0.0.0/8");
    snprintf(longer + strlen(longer), sizeof(longer) - strlen(longer), "\n");
    policy_from(longer, NULL, BURROW_ERR_TOO_LARGE);
    policy_from("[net]\ndns = 1.2.3\n", NULL, BURROW_ERR_FORMAT);
    policy_from("[net]\ndns = 1.1.1.1 2.2.2.2 3.3.3.3 4.4.4.4\n", NULL, BURROW_ERR_TOO_LARGE);
    policy_from("[net]\ndns = 10.213.0.1 9.9.9.9\n", NULL, 0);
    policy_from("[net]\negress_allow =\nenabled = yes\n", NULL, 0);
}

static void test_address_plan(void **state)
{
    (void)state;
    struct netpolicy np;
    policy_from("[net]\nsubnet = 192.0.2.8/29\n", &np, 0);
    assert_int_equal(netpolicy_gateway(&np), 0xc0000209u);
    uint32_t a;
    assert_int_equal(netpolicy_vm_addr(&np, 0, &a), 0);
    assert_int_equal(a, 0xc000020au);
    assert_int_equal(netpolicy_vm_addr(&np, 4, &a), 0);
    assert_int_equal(a, 0xc000020eu); /* .14; .15 is the broadcast */
    assert_int_equal(netpolicy_vm_addr(&np, 5, &a), BURROW_ERR_RANGE);
    assert_int_equal(netpolicy_vm_addr(&np, UINT32_MAX, &a), BURROW_ERR_RANGE);
    /* The MAC is 02:b0 and the address: one pair per port, the same for every VM there. */
    uint8_t mac[6];
    const uint8_t want[6] = {0x02, 0xb0, 192, 0, 2, 14};
    assert_int_equal(netpolicy_vm_mac(&np, 4, mac), 0);
    assert_memory_equal(mac, want, 6);
    assert_int_equal(netpolicy_vm_mac(&np, 5, mac), BURROW_ERR_RANGE);
}

/* In a child in a fresh network namespace: apply twice (the replace), check, remove. */
static int apply_in_netns(void)
{
    if (unshare(CLONE_NEWNET) != 0)
        return 10;
    struct burrow_config c;
    config_defaults(&c);
    struct netpolicy np;
    netpolicy_from_config(&c, &np);
    char err[512];
    if (netpolicy_apply(&np, err, sizeof(err)) || netpolicy_apply(&np, err, sizeof(err))) {
        fprintf(stderr, "apply: %s\n", err);
        return 11;
    }
    if (!if_nametoindex("burrow0"))
        return 12;
    if (system("nft list table inet burrow | grep -q 'egress_deny' && "
               "nft list table bridge burrow >/dev/null && "
               "ip -4 addr show dev burrow0 | grep -q 10.213.0.1/16 && "
               "test \"$(cat /proc/sys/net/ipv4/ip_forward)\" = 1") != 0)
        return 13;
    netpolicy_remove(&np);
    if (if_nametoindex("burrow0") || system("nft list table inet burrow >/dev/null 2>&1") == 0)
        return 14;
    return 0;
}

static void test_apply_in_network_namespace(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skip: loading nftables rules needs root\n");
        skip();
    }
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(apply_in_netns());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_ruleset_is_golden),
        cmocka_unit_test(test_every_port_bound),
        cmocka_unit_test(test_custom_policy),
        cmocka_unit_test(test_bad_net_values_refused),
        cmocka_unit_test(test_address_plan),
        cmocka_unit_test(test_apply_in_network_namespace),
    };
    return cmocka_run_group_tests_name("broker/vm/netpolicy", tests, NULL, NULL);
}
