/* tests/unit/broker/test_config.c - burrow.ini loading: defaults, valid
 * files, unknown sections/keys, bad values, missing files, value forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/users/hostuid.h"
#include "common/err.h"
#include "tests/lib/testutil.h"

struct fixture {
    char *dir;
    char path[512];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->dir = tu_mkdtemp("config");
    snprintf(f->path, sizeof(f->path), "%s/burrow.ini", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Load `text` as a config file; returns the code, err gets the message. */
static int load_text(struct fixture *f, const char *text, struct burrow_config *cfg, char *err)
{
    tu_write_file(f->path, text);
    return config_load(cfg, f->path, 0, err, CONFIG_ERR_MAX);
}

static void test_defaults(void **state)
{
    (void)state;
    struct burrow_config c;
    config_defaults(&c);
    assert_int_equal(c.ssh.port, 22);
    assert_int_equal(c.ssh.listen.n, 2);
    assert_string_equal(c.ssh.listen.addr[0], "0.0.0.0");
    assert_string_equal(c.ssh.listen.addr[1], "::");
    assert_int_equal(c.ssh.password_auth, 0);
    assert_string_equal(c.ssh.host_key_dir, "/var/lib/burrow/hostkeys");
    assert_int_equal(c.ssh.max_startups.start, 10);
    assert_int_equal(c.ssh.max_startups.rate, 30);
    assert_int_equal(c.ssh.max_startups.full, 100);
    assert_int_equal(c.vm.backend, VM_BACKEND_AUTO);
    assert_int_equal(c.vm.pool_size, 2);
    assert_int_equal(c.vm.idle_timeout, 1800);
    assert_int_equal(c.vm.idle_hibernate, 0); /* off unless asked for */
    assert_string_equal(c.paths.state_dir, "/var/lib/burrow");
    assert_string_equal(c.paths.run_dir, "/run/burrow");
    assert_true(c.users.default_disk_size == (1ull << 30));
    assert_int_equal(c.users.allow_root, 0);
    assert_true(c.users.uid_min <= c.users.uid_max);
}

static void test_valid_file(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c;
    char err[CONFIG_ERR_MAX];
    int r = load_text(f,
                      "; comment\n# another\n[ssh]\nlisten = 127.0.0.1 ::1\nPort = 2222\n"
                      "password_auth = yes\nlogin_grace_time = 2m\nmax_startups = 5:50:20\n"
                      "[vm]\nbackend = sandbox\ntemplate = tiny-1\nidle_timeout = 1h\n"
                      "pool_size = 0\nidle_hibernate = 10m\n"
                      "[paths]\nstate_dir = /srv/burrow\n"
                      "[users]\nuid_min = 20000\nuid_max = 20010\ndefault_disk_size = 64M\n"
                      "allow_root = on\n",
                      &c, err);
    assert_int_equal(r, 0);
    assert_int_equal(c.ssh.port, 2222);
    assert_int_equal(c.ssh.listen.n, 2);
    assert_string_equal(c.ssh.listen.addr[1], "::1");
    assert_int_equal(c.ssh.password_auth, 1);
    assert_int_equal(c.ssh.login_grace_time, 120);
    assert_int_equal(c.ssh.max_startups.full, 20);
    assert_int_equal(c.vm.backend, VM_BACKEND_SANDBOX);
    assert_string_equal(c.vm.template_name, "tiny-1");
    assert_int_equal(c.vm.idle_timeout, 3600);
    assert_int_equal(c.vm.pool_size, 0);
    assert_int_equal(c.vm.idle_hibernate, 600);
    /* derived default follows state_dir */
    assert_string_equal(c.ssh.host_key_dir, "/srv/burrow/hostkeys");
    assert_int_equal(c.users.uid_min, 20000);
    assert_true(c.users.default_disk_size == (64ull << 20));
    assert_int_equal(c.users.allow_root, 1);
    assert_int_equal(c.vm.memory_mb, 256); /* untouched keys keep defaults */
}

/* The widest range the config takes maps every uid onto its own session uid. */
static void test_uid_range_is_injective(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c;
    char err[CONFIG_ERR_MAX];
    assert_int_equal(load_text(f, "[users]\nuid_min = 1000\nuid_max = 268435455\n", &c, err), 0);
    uid_t lo, hi, past;
    assert_int_equal(hostuid_session(c.users.uid_min, &lo), 0);
    assert_int_equal(hostuid_session(c.users.uid_max, &hi), 0);
    assert_int_equal(lo, HOSTUID_SESSION_BASE + 1000);
    assert_int_equal(hi, HOSTUID_SESSION_BASE + 268435455u);
    assert_true(hi - lo == c.users.uid_max - c.users.uid_min); /* one-to-one */
    assert_true(hi < HOSTUID_SESSION_BASE + HOSTUID_SESSION_SPAN);
    /* What used to fold onto 0x50000000 + 1000 (the 0x0fffffff mask): refused now. */
    assert_int_equal(hostuid_session(0x10000000u + 1000, &past), BURROW_ERR_RANGE);
}

static void test_unknown_section_and_key(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c;
    char err[CONFIG_ERR_MAX];
    assert_int_equal(load_text(f, "[ssh]\nport = 22\n[sshd]\nport = 22\n", &c, err),
                     BURROW_ERR_INVALID);
    assert_non_null(strstr(err, "unknown section [sshd]"));
    assert_non_null(strstr(err, f->path));
    assert_int_equal(load_text(f, "[ssh]\nprot = 22\n", &c, err), BURROW_ERR_INVALID);
    assert_non_null(strstr(err, "unknown key 'prot' in section [ssh]"));
    assert_int_equal(load_text(f, "port = 22\n", &c, err), BURROW_ERR_INVALID);
    assert_non_null(strstr(err, "outside any section"));
    /* a failed load leaves the defaults, not half a file */
    assert_int_equal(load_text(f, "[ssh]\nport = 99\nbogus = 1\n", &c, err), BURROW_ERR_INVALID);
    assert_int_equal(c.ssh.port, 22);
}

static void test_bad_values(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c;
    char err[CONFIG_ERR_MAX];
    static const struct {
        const char *text, *expect;
    } cases[] = {
        {"[ssh]\nport = 0\n", "[ssh] port: expected a port 1-65535, got '0'"},
        {"[ssh]\nport = 65536\n", "[ssh] port"},
        {"[ssh]\nport = 22x\n", "got '22x'"},
        {"[ssh]\nport = -1\n", "[ssh] port"},
        {"[ssh]\npassword_auth = maybe\n", "[ssh] password_auth: expected yes or no"},
        {"[ssh]\nlisten = 1.2.3.4 example.com\n", "not a numeric IPv4 or IPv6"},
        {"[ssh]\nlisten =\n", "[ssh] listen"},
        {"[ssh]\nmax_startups = 10:30\n", "start:rate:full"},
        {"[ssh]\nmax_startups = 50:30:10\n", "start:rate:full"},
        {"[ssh]\nlogin_grace_time = 2d\n", "[ssh] login_grace_time"},
        {"[ssh]\nlogin_grace_time = 2h\n", "[ssh] login_grace_time"},
        {"[vm]\nbackend = xen\n", "[vm] backend: expected auto, kvm or sandbox"},
        {"[vm]\ntemplate = ../etc\n", "[vm] template"},
        {"[vm]\nidle_hibernate = 169h\n", "[vm] idle_hibernate: expected a duration up to 168h"},
        {"[vm]\nidle_hibernate = soon\n", "[vm] idle_hibernate"},
        {"[vm]\nvcpus = 99999999999999999999999\n", "[vm] vcpus"},
        {"[paths]\nstate_dir = relative/dir\n", "[paths] state_dir: expected an absolute path"},
        {"[paths]\nstate_dir = /var/../etc\n", "[paths] state_dir"},
        {"[users]\ndefault_disk_size = 1Q\n", "[users] default_disk_size"},
        {"[users]\ndefault_disk_size = 1K\n", "[users] default_disk_size"},
        {"[users]\nuid_min = 30000\nuid_max = 20000\n", "uid_max (20000) is below uid_min"},
        /* Session uids are 0x50000000 + uid: beyond 2^28 two users would share one. */
        {"[users]\nuid_max = 268435456\n", "[users] uid_max: expected an integer 1000-268435455"},
        {"[users]\nuid_min = 1879048192\nuid_max = 2000000000\n", "[users] uid_min"},
        {"[ssh]\nport 22\n", "syntax error at line 2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int r = load_text(f, cases[i].text, &c, err);
        if (r == 0 || !strstr(err, cases[i].expect))
            fail_msg("case %zu: r=%d err='%s', want '%s'", i, r, err, cases[i].expect);
        assert_int_equal(c.ssh.port, 22);
    }
}

/* iniparser's own refusals come back as one line with the line number. */
static void test_syntax_errors(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c;
    char err[CONFIG_ERR_MAX], text[2048];
    assert_int_equal(load_text(f, "[ssh\nport = 1\n", &c, err), BURROW_ERR_FORMAT);
    assert_non_null(strstr(err, "syntax error at line 1"));
    assert_int_equal(load_text(f, "[ssh]\nport = 1\n(x) y (z\n", &c, err), BURROW_ERR_FORMAT);
    assert_non_null(strstr(err, "syntax error at line 3"));
    int n = snprintf(text, sizeof(text), "[ssh]\nbanner = /");
    memset(text + n, 'a', 1100);
    snprintf(text + n + 1100, sizeof(text) - (size_t)n - 1100, "\n");
    assert_int_equal(load_text(f, text, &c, err), BURROW_ERR_FORMAT);
    assert_non_null(strstr(err, "line too long at line 2"));
    /* quotes, inline comments, case and spacing are iniparser's usual forms */
    assert_int_equal(
        load_text(f, "[SSH]\n  PORT=\"2200\"  \nbanner = /etc/issue ; shown first\n", &c, err), 0);
    assert_int_equal(c.ssh.port, 2200);
    assert_string_equal(c.ssh.banner, "/etc/issue");
}

static void test_missing_and_unreadable(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c;
    char err[CONFIG_ERR_MAX], path[600];
    snprintf(path, sizeof(path), "%s/absent.ini", f->dir);
    assert_int_equal(config_load(&c, path, 0, err, sizeof(err)), BURROW_ERR_NOT_FOUND);
    assert_non_null(strstr(err, path));
    /* the default path is optional: defaults */
    assert_int_equal(config_load(&c, path, CONFIG_LOAD_OPTIONAL, err, sizeof(err)), 0);
    assert_int_equal(c.ssh.port, 22);
    /* explicit -c: exit 2 */
    assert_int_equal(config_load_cli(&c, path, 1), EXIT_USAGE);
    assert_int_equal(config_load_cli(&c, path, 0), EXIT_OK);
    /* a directory is not a config file */
    assert_int_equal(config_load(&c, f->dir, 0, err, sizeof(err)), BURROW_ERR_FORMAT);
    assert_non_null(strstr(err, "not a regular file"));
    /* NUL bytes are refused (fgets would silently cut the line) */
    FILE *fp = fopen(f->path, "wb");
    fwrite("[ssh]\nport = 2\0\n", 1, 16, fp);
    fclose(fp);
    assert_int_equal(config_load(&c, f->path, 0, err, sizeof(err)), BURROW_ERR_FORMAT);
    /* too large */
    char *big = malloc(CONFIG_FILE_MAX + 10);
    memset(big, ';', CONFIG_FILE_MAX + 9);
    big[CONFIG_FILE_MAX + 9] = '\0';
    tu_write_file(f->path, big);
    free(big);
    assert_int_equal(config_load(&c, f->path, 0, err, sizeof(err)), BURROW_ERR_TOO_LARGE);
}

static void test_value_forms(void **state)
{
    (void)state;
    uint32_t d;
    uint64_t s;
    int b;
    assert_int_equal(config_parse_duration("90", 0, 100000, &d), 0);
    assert_int_equal(d, 90);
    assert_int_equal(config_parse_duration("15m", 0, 100000, &d), 0);
    assert_int_equal(d, 900);
    assert_int_equal(config_parse_duration("2H", 0, 100000, &d), 0);
    assert_int_equal(d, 7200);
    assert_int_equal(config_parse_duration("5ms", 0, 100000, &d), BURROW_ERR_FORMAT);
    assert_int_equal(config_parse_duration("", 0, 100000, &d), BURROW_ERR_FORMAT);
    assert_int_equal(config_parse_duration(" 5", 0, 100000, &d), BURROW_ERR_FORMAT);
    assert_int_equal(config_parse_size("64M", 0, UINT64_MAX, &s), 0);
    assert_true(s == 64ull << 20);
    assert_int_equal(config_parse_size("2g", 0, UINT64_MAX, &s), 0);
    assert_true(s == 2ull << 30);
    assert_int_equal(config_parse_size("99999999999T", 0, UINT64_MAX, &s), BURROW_ERR_RANGE);
    assert_int_equal(config_parse_size("18446744073709551616", 0, UINT64_MAX, &s),
                     BURROW_ERR_RANGE);
    assert_int_equal(config_parse_bool("Yes", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(config_parse_bool("off", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(config_parse_bool("y", &b), BURROW_ERR_FORMAT);
    struct config_startups st;
    assert_int_equal(config_parse_startups("7", &st), 0);
    assert_int_equal(st.full, 7);
    assert_int_equal(config_parse_startups("1:2:3:4", &st), BURROW_ERR_FORMAT);
    assert_int_equal(config_parse_startups("0:30:10", &st), BURROW_ERR_RANGE);
    assert_int_equal(config_check_abs_path("/a/b..c"), 0);
    assert_int_equal(config_check_abs_path("/a/../c"), BURROW_ERR_FORMAT);
    assert_int_equal(config_check_abs_path("/a/.."), BURROW_ERR_FORMAT);
    assert_int_equal(config_check_abs_path("/a\tb"), BURROW_ERR_FORMAT);
}

/* The sample names every key, loads cleanly and equals the defaults. */
static void test_sample_file_documents_every_key(void **state)
{
    (void)state;
    struct burrow_config c, d;
    char err[CONFIG_ERR_MAX];
    int r = config_load(&c, "etc/burrow.ini", 0, err, sizeof(err));
    if (r < 0)
        fail_msg("etc/burrow.ini: %s", err);
    config_defaults(&d);
    assert_memory_equal(&c, &d, sizeof(c));
    char *text = tu_read_file("etc/burrow.ini", NULL);
    assert_non_null(text);
    size_t n;
    const struct config_key *keys = config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        char want[128];
        snprintf(want, sizeof(want), "\n%s =", keys[i].name);
        if (!strstr(text, want))
            fail_msg("etc/burrow.ini does not set [%s] %s", keys[i].section, keys[i].name);
    }
    free(text);
}

/* [metrics] listen: off, loopback TCP, a unix socket; anything else names the key. */
static void test_metrics_and_audit_keys(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c;
    char err[CONFIG_ERR_MAX];
    config_defaults(&c);
    assert_int_equal(c.metrics.listen.kind, METRICS_OFF);
    assert_string_equal(c.audit.file, "");
    assert_int_equal(c.audit.journald, 0);
    assert_int_equal(
        load_text(f,
                  "[metrics]\nlisten = 127.0.0.1:9478\n[audit]\nfile = /var/log/b/a.log\n"
                  "journald = yes\n",
                  &c, err),
        0);
    assert_int_equal(c.metrics.listen.kind, METRICS_TCP);
    assert_string_equal(c.metrics.listen.addr, "127.0.0.1");
    assert_int_equal(c.metrics.listen.port, 9478);
    assert_string_equal(c.audit.file, "/var/log/b/a.log");
    assert_int_equal(c.audit.journald, 1);
    assert_int_equal(load_text(f, "[metrics]\nlisten = [::1]:80\n", &c, err), 0);
    assert_string_equal(c.metrics.listen.addr, "::1");
    assert_int_equal(load_text(f, "[metrics]\nlisten = /run/burrow/metrics.sock\n", &c, err), 0);
    assert_int_equal(c.metrics.listen.kind, METRICS_UNIX);
    assert_string_equal(c.metrics.listen.path, "/run/burrow/metrics.sock");
    static const char *const bad[] = {"0.0.0.0:9478", "192.168.1.1:80", "127.0.0.1",
                                      "127.0.0.1:0",  "::1:80",         "[::1]",
                                      "localhost:80", "run/m.sock",     "/a/../b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "[metrics]\nlisten = %s\n", bad[i]);
        assert_int_not_equal(load_text(f, text, &c, err), 0);
        assert_non_null(strstr(err, "[metrics] listen"));
    }
    assert_non_null(strstr(err, "'/a/../b'"));
    assert_int_not_equal(load_text(f, "[audit]\nfile = audit.log\n", &c, err), 0);
    assert_non_null(strstr(err, "[audit] file"));
}

static void test_dump_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct burrow_config c, back;
    char err[CONFIG_ERR_MAX];
    /* Every kind of value, the list-valued and cross-checked keys set away from their default. */
    assert_int_equal(load_text(f,
                               "[ssh]\nport = 2022\nbanner = \"/etc/issue;net#1\"\n"
                               "listen = 127.0.0.1 ::1\nmax_startups = 5:40:50\n"
                               "max_sessions = 3\naccept_env = LANG TERM_*\n"
                               "permit_user_environment = LANG\nkex = curve25519-sha256\n"
                               "ciphers = aes256-gcm@openssh.com\nmacs = hmac-sha2-512\n"
                               "[auth]\nmethods = publickey,password\n"
                               "[vm]\nbackend = kvm\n"
                               "[net]\nenabled = yes\nsubnet = 10.9.0.0/24\n"
                               "egress_deny = 10.0.0.0/8 192.168.0.0/16\ndns = 10.9.0.1\n"
                               "[metrics]\nlisten = 127.0.0.1:9101\n"
                               "[cluster]\netcd = http://127.0.0.1:2379\nname = h1\n"
                               "peer_listen = 127.0.0.1:2223\nhome_nbd = nbd://127.0.0.1:10809\n",
                               &c, err),
                     0);
    assert_string_equal(c.ssh.kex, "curve25519-sha256");
    assert_string_equal(c.ssh.banner, "/etc/issue;net#1");
    FILE *out = fopen(f->path, "w");
    config_dump(&c, out);
    fclose(out);
    /* The session process gets the master's configuration this way (broker/session/session_exec.h).
     */
    assert_int_equal(config_load(&back, f->path, 0, err, sizeof(err)), 0);
    assert_memory_equal(&c, &back, sizeof(c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test_setup_teardown(test_valid_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uid_range_is_injective, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_section_and_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_unreadable, setup, teardown),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_sample_file_documents_every_key),
        cmocka_unit_test_setup_teardown(test_metrics_and_audit_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/config", tests, NULL, NULL);
}
