/*
 * tests/unit/broker/master/test_audit.c - the audit log: one JSON object per line
 * with ts/event/writer, appended (O_APPEND) and never broken by an
 * oversized value, reopened after a rotation (and kept on a bad new path),
 * its directory made, the journal copy in the native protocol, admin records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/master/audit.h"
#include "tests/lib/testutil.h"

static void config_with(struct burrow_config *cfg, const char *file, int journald)
{
    config_defaults(cfg);
    assert_true(strlen(file) < sizeof(cfg->audit.file));
    memcpy(cfg->audit.file, file, strlen(file) + 1);
    cfg->audit.journald = journald;
}

static int count_lines(const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void test_lines_rotation(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("audit"), path[200], rotated[256], err[512];
    struct burrow_config cfg;
    struct audit a;
    struct audit_rec r;
    snprintf(path, sizeof(path), "%s/log/audit.log", dir); /* log/ does not exist yet */
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    config_with(&cfg, path, 0);
    assert_int_equal(audit_open(&a, &cfg, "burrowd", NULL, err, sizeof(err)), 0);
    assert_true(audit_enabled(&a));
    audit_begin(&a, &r, "auth_failure");
    json_kv_str(&r.j, "user", "al\nice\xff");
    assert_int_equal(audit_commit(&a, &r), 0);
    /* rotation: the old file moves away, SIGHUP reopens the configured path */
    assert_int_equal(rename(path, rotated), 0);
    assert_int_equal(audit_reopen(&a, &cfg, err, sizeof(err)), 0);
    audit_begin(&a, &r, "session_start");
    static char big[AUDIT_LINE_MAX * 2];
    memset(big, 'x', sizeof(big) - 1);
    json_kv_str(&r.j, "command", big); /* cannot fit: a short, whole record instead */
    assert_int_equal(audit_commit(&a, &r), 0);
    /* a new path that cannot be opened: keep writing to the old one */
    config_with(&cfg, "/proc/no/such/dir/audit.log", 0);
    assert_int_not_equal(audit_reopen(&a, &cfg, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "/proc/no/such/dir/audit.log"));
    assert_int_equal(audit_admin(&a, "user.add", "bob", "ok", "burrowctl", NULL), 0);
    audit_close(&a);

    char *old = tu_read_file(rotated, NULL), *cur = tu_read_file(path, NULL);
    assert_int_equal(count_lines(old), 1);
    assert_non_null(strstr(old, "\"event\":\"auth_failure\",\"writer\":\"burrowd\",\"user\":"
                                "\"al\\u000aice\\ufffd\"}\n"));
    assert_true(strncmp(old, "{\"ts\":\"20", 9) == 0);
    assert_int_equal(count_lines(cur), 2);
    assert_non_null(
        strstr(cur, "\"event\":\"session_start\",\"writer\":\"burrowd\",\"truncated\":true}\n"));
    assert_non_null(strstr(cur,
                           "\"event\":\"admin\",\"writer\":\"burrowd\",\"action\":\"user.add\","
                           "\"target\":\"bob\",\"result\":\"ok\",\"via\":\"burrowctl\"}\n"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    free(old);
    free(cur);
    tu_rmrf(dir);
    free(dir);
}

static void test_journal(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("audit-journal"), sock[256], err[512], msg[AUDIT_LINE_MAX + 512];
    struct burrow_config cfg;
    struct audit a;
    struct audit_rec r;
    snprintf(sock, sizeof(sock), "%s/journal.sock", dir);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    config_with(&cfg, "", 1);
    assert_int_equal(audit_open(&a, &cfg, "burrowd", sock, err, sizeof(err)), 0);
    assert_true(audit_enabled(&a));
    audit_begin(&a, &r, "vm_died");
    assert_int_equal(audit_commit(&a, &r), 0);
    ssize_t n = recv(s, msg, sizeof(msg) - 1, 0);
    assert_true(n > 0);
    msg[n] = 0;
    assert_non_null(strstr(msg, "SYSLOG_IDENTIFIER=burrowd\n"));
    assert_non_null(strstr(msg, "BURROW_AUDIT_EVENT=vm_died\n"));
    assert_non_null(strstr(msg, "\nMESSAGE={\"ts\":"));
    audit_close(&a);
    /* nothing configured: records go nowhere and that is not an error */
    config_with(&cfg, "", 0);
    assert_int_equal(audit_open(&a, &cfg, "burrowctl", NULL, err, sizeof(err)), 0);
    assert_false(audit_enabled(&a));
    audit_close(&a);
    close(s);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_rotation),
        cmocka_unit_test(test_journal),
    };
    return cmocka_run_group_tests_name("broker/master/audit", tests, NULL, NULL);
}
