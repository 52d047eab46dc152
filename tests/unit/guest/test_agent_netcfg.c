/*
 * tests/unit/guest/test_agent_netcfg.c - the agent's network step
 * (guest/agent_netcfg.c): skipped without PROTO_ID_F_NET, refused in the
 * host's own network namespace over unix control, and (root) bad values
 * refused and then good ones applied to a veth eth0 in a
 * network namespace made by the test: MAC, address, default route,
 * resolv.conf. The guest source is compiled into this test directly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sched.h>
#include <sys/wait.h>

#include "guest/agent_netcfg.c"
#include "tests/lib/testutil.h"

static struct proto_identity net_identity(void)
{
    struct proto_identity id;
    memset(&id, 0, sizeof(id));
    id.flags = PROTO_ID_F_NET;
    id.net = (struct proto_net){.mac = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55},
                                .addr = 0x0ad50002,
                                .prefix = 16,
                                .gateway = 0x0ad50001,
                                .nr_dns = 2,
                                .dns = {0x0ad50001, 0x09090909}};
    return id;
}

static void test_skipped_without_network(void **state)
{
    (void)state;
    struct agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct proto_identity id;
    memset(&id, 0, sizeof(id));
    char text[256];
    assert_int_equal(netcfg_apply(&cfg, &id, text, sizeof(text)), PROTO_STEP_SKIPPED);
}

static void test_refused_in_the_hosts_namespace(void **state)
{
    (void)state;
    struct agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.control.kind = ADDR_UNIX;
    struct proto_identity id = net_identity();
    char text[256];
    assert_int_equal(netcfg_apply(&cfg, &id, text, sizeof(text)), PROTO_STEP_FAILED);
    assert_non_null(strstr(text, "refusing"));
}

/* Child: a fresh netns with a veth eth0; apply, then check with ip(8). */
static int apply_in_netns(const char *etc)
{
    if (unshare(CLONE_NEWNET) != 0 || system("ip link add eth0 type veth peer name peer0") != 0)
        return 10;
    struct agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    /* As in a guest (vsock control): the unix-control guard needs /proc/1/ns/net, which a
     * container may hide; this namespace is the test's own either way. */
    cfg.control.kind = ADDR_VSOCK;
    snprintf(cfg.etc, sizeof(cfg.etc), "%s", etc);
    char text[256];
    /* Bad values first: refused before anything is touched. */
    struct proto_identity id = net_identity();
    id.net.mac[0] = 0x03; /* multicast */
    if (netcfg_apply(&cfg, &id, text, sizeof(text)) != PROTO_STEP_FAILED)
        return 20;
    id = net_identity();
    id.net.addr = 0;
    if (netcfg_apply(&cfg, &id, text, sizeof(text)) != PROTO_STEP_FAILED ||
        system("ip -4 addr show dev eth0 | grep -q inet") == 0)
        return 21;
    id = net_identity();
    uint32_t r = netcfg_apply(&cfg, &id, text, sizeof(text));
    fprintf(stderr, "netcfg: %s\n", text);
    if (r != PROTO_STEP_OK)
        return 11;
    if (system("ip link show eth0 | grep -q 'link/ether 02:11:22:33:44:55' && "
               "ip link show eth0 | grep -q ',UP' && "
               "ip -4 addr show dev eth0 | grep -q 'inet 10.213.0.2/16' && "
               "ip route show default | grep -q 'via 10.213.0.1 dev eth0'") != 0)
        return 12;
    /* Applying again (an agent restarted) succeeds and keeps one default route. */
    if (netcfg_apply(&cfg, &id, text, sizeof(text)) != PROTO_STEP_OK ||
        system("test \"$(ip route show default | wc -l)\" = 1") != 0)
        return 13;
    return 0;
}

static void test_applied_in_a_network_namespace(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("skip: configuring interfaces needs root\n");
        skip();
    }
    char *dir = tu_mkdtemp("netcfg");
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(apply_in_netns(dir));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/resolv.conf", dir);
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "nameserver 10.213.0.1\nnameserver 9.9.9.9\n"));
    free(text);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skipped_without_network),
        cmocka_unit_test(test_refused_in_the_hosts_namespace),
        cmocka_unit_test(test_applied_in_a_network_namespace),
    };
    return cmocka_run_group_tests_name("guest/agent_netcfg", tests, NULL, NULL);
}
