/*
 * tests/unit/broker/master/test_hoststats.c - host readers on a fake sysfs/procfs
 * (KSM counters, a TAP's counters, meminfo; malformed files refused) and the
 * process-tree memory on the real /proc (a child's pages count toward its parent's tree).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/master/hoststats.h"
#include "broker/vm/ksm.h"
#include "common/err.h"
#include "tests/lib/testutil.h"

static void put(const char *root, const char *rel, const char *text)
{
    char path[512], dir[600];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    snprintf(dir, sizeof(dir), "mkdir -p \"$(dirname '%s')\"", path);
    assert_int_equal(system(dir), 0);
    tu_write_file(path, text);
}

static void test_ksm_netdev_meminfo(void **state)
{
    (void)state;
    char *root = tu_mkdtemp("hoststats");
    struct ksm_state k;
    char ksmdir[512];
    snprintf(ksmdir, sizeof(ksmdir), "%s/kernel/mm/ksm", root);
    struct hoststats_netdev nd;
    uint64_t total = 0, avail = 0;
    assert_int_equal(ksm_read(ksmdir, &k), BURROW_ERR_NOT_FOUND);
    put(root, "kernel/mm/ksm/run", "1\n");
    put(root, "kernel/mm/ksm/pages_shared", "12\n");
    put(root, "kernel/mm/ksm/pages_sharing", "340\n");
    put(root, "kernel/mm/ksm/pages_unshared", "5\n");
    put(root, "kernel/mm/ksm/pages_volatile", "0\n");
    put(root, "kernel/mm/ksm/full_scans", "7\n");
    assert_int_equal(ksm_read(ksmdir, &k), 0);
    assert_int_equal(k.run, 1);
    assert_int_equal(k.pages_sharing, 340);
    assert_int_equal(k.full_scans, 7);
    assert_true(k.page_size >= 4096);
    put(root, "kernel/mm/ksm/full_scans", "-7\n");
    assert_int_equal(ksm_read(ksmdir, &k), BURROW_ERR_FORMAT);

    put(root, "class/net/bvm3/statistics/rx_bytes", "1000\n");
    put(root, "class/net/bvm3/statistics/tx_bytes", "2000\n");
    put(root, "class/net/bvm3/statistics/rx_dropped", "3\n");
    put(root, "class/net/bvm3/statistics/tx_dropped", "4\n");
    assert_int_equal(hoststats_netdev(root, "bvm3", &nd), 0);
    assert_int_equal(nd.tx_bytes, 2000);
    assert_int_equal(nd.tx_dropped, 4);
    assert_int_equal(hoststats_netdev(root, "../bvm3", &nd), BURROW_ERR_INVALID);
    assert_int_equal(hoststats_netdev(root, "bvm4", &nd), BURROW_ERR_NOT_FOUND);

    put(root, "meminfo", "MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:    9000 kB\n");
    assert_int_equal(hoststats_meminfo(root, &total, &avail), 0);
    assert_int_equal(total, 16000);
    assert_int_equal(avail, 9000);
    put(root, "meminfo", "MemTotal: 16000 kB\n");
    assert_int_equal(hoststats_meminfo(root, &total, &avail), BURROW_ERR_FORMAT);
    tu_rmrf(root);
    free(root);
}

static void test_tree_memory(void **state)
{
    (void)state;
    pid_t roots[2] = {getpid(), 999999999};
    struct vm_memory mem[2], alone;
    assert_int_equal(hoststats_tree_memory("/proc", roots, 2, mem), 0);
    assert_true(mem[0].private_kb > 0);
    assert_int_equal(mem[1].private_kb, 0); /* no such process */
    alone = mem[0];
    pid_t child = fork();
    if (child == 0) {
        static char touched[8 << 20];
        prctl(PR_SET_PDEATHSIG, SIGKILL);    /* never outlive a failed test */
        memset(touched, 1, sizeof(touched)); /* 8 MiB of its own */
        pause();
        _exit(0);
    }
    usleep(300000);
    int r = hoststats_tree_memory("/proc", roots, 1, mem);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(r, 0);
    /* After the fork the parent's pages are shared with the child (private
     * moves to shared); the proportional share adds up, plus the child's 8 MiB. */
    assert_true(mem[0].pss_kb >= alone.pss_kb + 7 * 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ksm_netdev_meminfo),
        cmocka_unit_test(test_tree_memory),
    };
    return cmocka_run_group_tests_name("broker/master/hoststats", tests, NULL, NULL);
}
