/*
 * tests/unit/broker/master/test_metrics.c - the Prometheus exposition: every
 * family has HELP and TYPE and the burrow_ prefix, counters end in _total,
 * labels are escaped, histogram buckets are cumulative with +Inf = count,
 * per-VM network series appear for the VMs given, KSM pages become bytes.
 * (The e2e-ops group runs promtool on a live scrape.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/master/metrics.h"

static char *render(const struct metrics *m, const struct metrics_live *l)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_int_equal(metrics_render(m, l, f), 0);
    fclose(f);
    return text;
}

static void live_defaults(struct metrics_live *l)
{
    memset(l, 0, sizeof(*l));
    l->version = "1.2.3";
    l->backend = "sandbox";
    l->start_time = 1700000000.5;
    l->max_vms = 64;
}

static void test_families_well_formed(void **state)
{
    static struct metrics m;
    struct metrics_live l;
    (void)state;
    live_defaults(&l);
    char *text = render(&m, &l);
    char *save = NULL, *family = NULL, *type = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0) {
            family = line + 7;
            assert_true(strncmp(family, "burrow_", 7) == 0);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            type = strrchr(line, ' ') + 1;
            size_t n = strcspn(line + 7, " ");
            assert_true(strncmp(line + 7, family, n) == 0); /* TYPE follows its HELP */
            int is_total = n > 6 && strncmp(line + 7 + n - 6, "_total", 6) == 0;
            assert_int_equal(is_total, strcmp(type, "counter") == 0);
            continue;
        }
        assert_true(strncmp(line, "burrow_", 7) == 0); /* a sample, of a declared family */
        assert_non_null(family);
    }
    free(text);
}

static void test_values_and_labels(void **state)
{
    static struct metrics m;
    struct metrics_live l;
    struct metrics_vm_net net = {.vm = "0cd674e66a6a", .user = "al\"ice"};
    (void)state;
    live_defaults(&l);
    m.logins[MX_PASSWORD][MX_LOGIN_NO_VM] = 3;
    m.auth_failures[metrics_method("publickey")] = 7;
    m.channels[metrics_chan("direct-tcpip")] = 2;
    l.vms_running = 4;
    l.ksm_ok = 1;
    l.ksm = (struct ksm_state){.run = 1, .pages_sharing = 10, .page_size = 4096};
    net.dev.rx_bytes = 99;
    l.net = &net;
    l.n_net = 1;
    char *t = render(&m, &l);
    assert_non_null(strstr(t, "\nburrow_logins_total{method=\"password\",result=\"no_vm\"} 3\n"));
    assert_non_null(strstr(t, "\nburrow_auth_failures_total{method=\"publickey\"} 7\n"));
    assert_non_null(strstr(t, "\nburrow_channels_total{type=\"direct-tcpip\"} 2\n"));
    assert_non_null(strstr(t, "\nburrow_vms{state=\"running\"} 4\n"));
    assert_non_null(strstr(t, "\nburrow_ksm_sharing_bytes 40960\n"));
    assert_non_null(strstr(t, "burrow_build_info{version=\"1.2.3\",backend=\"sandbox\"} 1\n"));
    assert_non_null(strstr(t,
                           "burrow_vm_network_bytes_total{vm=\"0cd674e66a6a\",user=\"al\\\"ice\","
                           "direction=\"out\"} 99\n"));
    assert_int_equal(metrics_method("keyboard-interactive"), MX_METHOD_OTHER);
    assert_int_equal(metrics_chan("x11"), -1);
    free(t);
}

static void test_histogram(void **state)
{
    static struct metrics m;
    struct metrics_live l;
    (void)state;
    live_defaults(&l);
    metrics_observe(&m.ready, 0.004);
    metrics_observe(&m.ready, 0.3);
    metrics_observe(&m.ready, 500); /* beyond the last bucket: only +Inf */
    char *t = render(&m, &l);
    assert_non_null(strstr(t, "burrow_vm_ready_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(t, "burrow_vm_ready_seconds_bucket{le=\"0.5\"} 2\n"));
    assert_non_null(strstr(t, "burrow_vm_ready_seconds_bucket{le=\"120\"} 2\n"));
    assert_non_null(strstr(t, "burrow_vm_ready_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(t, "burrow_vm_ready_seconds_count 3\n"));
    assert_non_null(strstr(t, "burrow_vm_ready_seconds_sum 500.304000\n"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_families_well_formed),
        cmocka_unit_test(test_values_and_labels),
        cmocka_unit_test(test_histogram),
    };
    return cmocka_run_group_tests_name("broker/master/metrics", tests, NULL, NULL);
}
