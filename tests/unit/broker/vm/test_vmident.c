/*
 * tests/unit/broker/vm/test_vmident.c - the one identity a user's VM gets, for
 * every backend and `burrowctl vm fork`: the hostname rule (burrow-NAME),
 * the home directory, [users] allow_root, and what IDENTITY carries of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "broker/config.h"
#include "broker/vm/vmident.h"
#include "common/proto.h"

static struct user_record alice(void)
{
    struct user_record r;
    memset(&r, 0, sizeof(r));
    snprintf(r.name, sizeof(r.name), "alice");
    r.uid = 10001;
    r.gid = 10002;
    snprintf(r.shell, sizeof(r.shell), "/bin/bash");
    snprintf(r.password_hash, sizeof(r.password_hash), "$argon2id$secret");
    return r;
}

static void test_identity_of_a_user(void **state)
{
    (void)state;
    struct burrow_config cfg;
    config_defaults(&cfg);
    struct user_record rec = alice();
    struct fork_identity id;
    vm_identity(&cfg, &rec, &id);
    assert_string_equal(id.user, "alice");
    assert_int_equal(id.uid, 10001);
    assert_int_equal(id.gid, 10002);
    assert_string_equal(id.shell, "/bin/bash");
    assert_string_equal(id.home, "/home/alice");
    assert_string_equal(id.hostname, "burrow-alice");
    assert_int_equal(id.allow_root, 0);
    assert_int_equal(id.net_enabled, 0);
}

static void test_allow_root_reaches_identity(void **state)
{
    (void)state;
    struct burrow_config cfg;
    config_defaults(&cfg);
    cfg.users.allow_root = 1;
    struct user_record rec = alice();
    struct fork_identity id;
    struct proto_identity pi;
    vm_identity(&cfg, &rec, &id);
    assert_int_equal(id.allow_root, 1);
    fork_identity_to_proto(&id, &pi);
    assert_int_equal(pi.flags, PROTO_ID_F_ALLOW_ROOT);
    cfg.users.allow_root = 0;
    vm_identity(&cfg, &rec, &id);
    fork_identity_to_proto(&id, &pi);
    assert_int_equal(pi.flags & PROTO_ID_F_ALLOW_ROOT, 0);
}

static void test_proto_carries_the_identity(void **state)
{
    (void)state;
    struct burrow_config cfg;
    config_defaults(&cfg);
    struct user_record rec = alice();
    struct fork_identity id;
    struct proto_identity pi;
    vm_identity(&cfg, &rec, &id);
    id.net_enabled = 1;
    id.net.addr = 0x0ad50005;
    id.net.prefix = 16;
    fork_identity_to_proto(&id, &pi);
    assert_int_equal(pi.user.len, 5);
    assert_memory_equal(pi.user.p, "alice", 5);
    assert_int_equal(pi.hostname.len, strlen("burrow-alice"));
    assert_memory_equal(pi.hostname.p, "burrow-alice", pi.hostname.len);
    assert_int_equal(pi.uid, 10001);
    assert_int_equal(pi.flags, PROTO_ID_F_NET);
    assert_int_equal(pi.net.addr, 0x0ad50005);
}

static void test_guest_identity(void **state)
{
    (void)state;
    struct burrow_config cfg;
    config_defaults(&cfg);
    struct fork_identity id;
    vm_identity_guest(&cfg, &id);
    assert_string_equal(id.user, VMIDENT_GUEST_USER);
    assert_string_equal(id.hostname, "burrow-" VMIDENT_GUEST_USER);
    assert_string_equal(id.home, "/home/" VMIDENT_GUEST_USER);
    assert_int_equal(id.uid, VMIDENT_GUEST_UID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_of_a_user),
        cmocka_unit_test(test_allow_root_reaches_identity),
        cmocka_unit_test(test_proto_carries_the_identity),
        cmocka_unit_test(test_guest_identity),
    };
    return cmocka_run_group_tests_name("broker/vm/vmident", tests, NULL, NULL);
}
