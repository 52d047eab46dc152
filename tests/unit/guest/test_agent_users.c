/*
 * tests/unit/guest/test_agent_users.c - the agent's passwd/group handling
 * (guest/agent_users.c) against hostile files, and its environment
 * allow-list (guest/agent_spawn.c). The guest sources are compiled into this
 * test directly: they are not part of any host library.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "guest/agent_spawn.c"
#include "guest/agent_users.c"
#include "tests/lib/testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_mkdtemp("agent-users");
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static void put(const char *file, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    tu_write_file(path, content);
}

static void test_lookup(void **state)
{
    (void)state;
    static char long_line[6000];
    memset(long_line, 'a', sizeof(long_line) - 2);
    long_line[sizeof(long_line) - 2] = '\n';
    char content[16384];
    snprintf(content, sizeof(content),
             "root:x:0:0:root:/root:/bin/sh\n"
             "short:x:1\n"
             "%s"
             "alice:x:60001:60001:Alice:/home/alice:/bin/bash\n"
             "%.4095sevil:x:0:0::/:/bin/sh\n" /* an overlong line must not split */
             "nohome:x:60002:60002:::\n"
             "badid:x:12ab:1::/:/bin/sh\n",
             long_line, long_line);
    put("passwd", content);
    struct agent_user u;
    assert_int_equal(users_lookup(dir, "alice", &u), 0);
    assert_int_equal(u.uid, 60001);
    assert_string_equal(u.home, "/home/alice");
    assert_string_equal(u.shell, "/bin/bash");
    assert_int_equal(users_lookup(dir, "nohome", &u), 0);
    assert_string_equal(u.home, "/");
    assert_string_equal(u.shell, "/bin/sh");
    assert_int_equal(users_lookup(dir, "badid", &u), BURROW_ERR_FORMAT);
    assert_int_equal(users_lookup(dir, "short", &u), BURROW_ERR_NOT_FOUND);
    assert_int_equal(users_lookup(dir, "bob", &u), BURROW_ERR_NOT_FOUND);
    assert_int_equal(users_lookup(dir, "evil", &u), BURROW_ERR_NOT_FOUND);
    assert_int_equal(users_lookup("/nonexistent-burrow", "alice", &u), BURROW_ERR_SYSTEM);
}

static void test_groups(void **state)
{
    (void)state;
    put("group", "root:x:0:\nusers:x:100:bob,alice\nwheel:x:10:alice\nother:x:11:alicex\n"
                 "broken:x:zz:alice\nself:x:60001:alice\n");
    gid_t g[AGENT_GROUPS_MAX];
    int n;
    assert_int_equal(users_groups(dir, "alice", 60001, g, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(g[0], 60001);
    assert_int_equal(g[1], 100);
    assert_int_equal(g[2], 10);
}

static void test_install(void **state)
{
    (void)state;
    put("passwd", "root:x:0:0:root:/root:/bin/sh\nold:x:60001:60001::/home/old:/bin/sh\n");
    put("group", "root:x:0:\nusers:x:100:\n");
    struct agent_user u = {.name = "alice", .uid = 60001, .gid = 100};
    strcpy(u.home, "/home/alice");
    strcpy(u.shell, "/bin/sh");
    assert_int_equal(users_install(dir, &u), 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/passwd", dir);
    char *pw = tu_read_file(path, NULL);
    assert_non_null(pw);
    /* The entry with the same uid is replaced; root stays. */
    assert_string_equal(pw,
                        "root:x:0:0:root:/root:/bin/sh\nalice:x:60001:100::/home/alice:/bin/sh\n");
    free(pw);
    snprintf(path, sizeof(path), "%s/group", dir);
    char *gr = tu_read_file(path, NULL);
    /* A shared gid keeps its group; the user's group is added by name. */
    assert_string_equal(gr, "root:x:0:\nusers:x:100:\nalice:x:100:\n");
    free(gr);
    /* Installing again replaces, never duplicates. */
    assert_int_equal(users_install(dir, &u), 0);
    struct agent_user got;
    assert_int_equal(users_lookup(dir, "alice", &got), 0);
    snprintf(path, sizeof(path), "%s/.passwd.burrow-tmp", dir);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);

    /* Refusals. */
    u.uid = 0;
    assert_int_equal(users_install(dir, &u), BURROW_ERR_PERM);
    u.uid = 60001;
    strcpy(u.shell, "/bin/sh:evil");
    assert_int_equal(users_install(dir, &u), BURROW_ERR_INVALID);
    strcpy(u.shell, "/bin/sh");
    strcpy(u.name, "-rf");
    assert_int_equal(users_install(dir, &u), BURROW_ERR_INVALID);
}

static void test_names_and_env(void **state)
{
    (void)state;
    assert_true(users_name_ok("alice"));
    assert_true(users_name_ok("a.b-c_d9"));
    assert_false(users_name_ok(""));
    assert_false(users_name_ok("-x"));
    assert_false(users_name_ok(".x"));
    assert_false(users_name_ok("a/b"));
    assert_false(users_name_ok("a:b"));
    assert_false(users_name_ok("a\nb"));
    assert_true(env_allowed("LANG"));
    assert_true(env_allowed("LC_ALL"));
    assert_true(env_allowed("TERM"));
    assert_true(env_allowed("PATH"));
    assert_true(env_allowed("SSH_AUTH_SOCK"));
    assert_true(env_allowed("_x1"));
    assert_false(env_allowed("HOME"));
    assert_false(env_allowed("USER"));
    assert_false(env_allowed("LOGNAME"));
    assert_false(env_allowed("SHELL"));
    assert_false(env_allowed(""));
    assert_false(env_allowed("1X"));
    assert_false(env_allowed("A-B"));
    assert_false(env_allowed("A B"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_groups),
        cmocka_unit_test(test_install),
        cmocka_unit_test(test_names_and_env),
    };
    return cmocka_run_group_tests_name("guest/agent_users", tests, setup, teardown);
}
