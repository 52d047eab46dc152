/*
 * tests/unit/broker/test_vmmgr.c - the VM manager against a fake backend whose
 * "VM" is a child process: one VM per user shared by sessions, waiters
 * answered when ready, max_vms admission, idle reaping (and the backend's own
 * connection count keeping a VM), unexpected death noticed and reported,
 * the registry written and re-adopted by a fresh manager.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/vmmgr.h"
#include "vmm/registry.h"
#include "tests/lib/testutil.h"

static struct burrow_config cfg;
static struct vmmgr mgr;
static char *dir;
static int ready_calls, failed_calls, gone_calls, fake_active;
static char last_text[256];

static int fake_start(struct vmmgr *m, struct vm *vm, const struct user_record *rec)
{
    int p[2];
    (void)m;
    (void)rec;
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        struct vm_record reg;
        memset(&reg, 0, sizeof(reg));
        memcpy(reg.id, vm->id, sizeof(reg.id));
        snprintf(reg.dir, sizeof(reg.dir), "%s", vm->dir);
        snprintf(reg.user, sizeof(reg.user), "%s", vm->user);
        close(p[0]);
        if (registry_publish(&reg) != 0 || write(p[1], "OK\n", 3) != 3)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    vm->pid = pid;
    vm->ready_fd = p[0];
    return 0;
}

static void fake_stop(struct vm *vm)
{
    kill(vm->pid, SIGTERM);
}

static int fake_active_fn(struct vm *vm)
{
    (void)vm;
    return fake_active;
}

static const struct vm_backend_ops fake = {
    .name = "sandbox", .start = fake_start, .stop = fake_stop, .active = fake_active_fn};

static void hook_ready(void *ctx, int waiter, struct vm *vm)
{
    (void)ctx;
    (void)waiter;
    (void)vm;
    ready_calls++;
}

static void hook_failed(void *ctx, int waiter, const char *text)
{
    (void)ctx;
    (void)waiter;
    failed_calls++;
    snprintf(last_text, sizeof(last_text), "%s", text);
}

static void hook_gone(void *ctx, const char *user, const char *text)
{
    (void)ctx;
    (void)user;
    gone_calls++;
    snprintf(last_text, sizeof(last_text), "%s", text);
}

/* Run the manager's event handling until cond or 5 s. */
#define PUMP_UNTIL(cond)                                                                           \
    do {                                                                                           \
        for (int it_ = 0; it_ < 500 && !(cond); it_++) {                                           \
            int fds[16];                                                                           \
            struct pollfd pf[16];                                                                  \
            unsigned n = vmmgr_pollfds(&mgr, fds, 16);                                             \
            for (unsigned i = 0; i < n; i++)                                                       \
                pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};                           \
            poll(pf, n, 10);                                                                       \
            for (unsigned i = 0; i < n; i++)                                                       \
                if (pf[i].revents)                                                                 \
                    vmmgr_event(&mgr, pf[i].fd);                                                   \
        }                                                                                          \
        assert_true(cond);                                                                         \
    } while (0)

static struct user_record user(const char *name, uint32_t uid)
{
    struct user_record r;
    memset(&r, 0, sizeof(r));
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.uid = r.gid = uid;
    return r;
}

static int setup(void **state)
{
    (void)state;
    struct vmmgr_hooks h = {hook_ready, hook_failed, hook_gone, NULL, NULL};
    dir = tu_mkdtemp("vmmgr");
    config_defaults(&cfg);
    cfg.vm.backend = VM_BACKEND_SANDBOX;
    cfg.vm.max_vms = 2;
    cfg.vm.idle_timeout = 5;
    snprintf(cfg.paths.run_dir, sizeof(cfg.paths.run_dir), "%s/run", dir);
    snprintf(cfg.paths.state_dir, sizeof(cfg.paths.state_dir), "%s/state", dir);
    ready_calls = failed_calls = gone_calls = fake_active = 0;
    if (vmmgr_init(&mgr, &cfg, &h) != 0)
        return -1;
    mgr.be = &fake;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (unsigned i = 0; i < VMMGR_MAX; i++)
        if (mgr.vms[i].state != VM_FREE && mgr.vms[i].pid > 0) {
            kill(mgr.vms[i].pid, SIGKILL);
            waitpid(mgr.vms[i].pid, NULL, 0);
        }
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static void test_one_vm_per_user(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000);
    vmmgr_request(&mgr, &a, 1);
    vmmgr_request(&mgr, &a, 2); /* waits on the same starting VM */
    assert_int_equal(vmmgr_count(&mgr), 1);
    PUMP_UNTIL(ready_calls == 2);
    struct vm *vm = vmmgr_find(&mgr, "alice");
    assert_non_null(vm);
    assert_int_equal(vm->state, VM_RUNNING);
    assert_int_equal(vm->sessions, 2);
    vmmgr_request(&mgr, &a, 3); /* running: answered at once */
    assert_int_equal(ready_calls, 3);
    assert_int_equal(vm->sessions, 3);
    char meta[700];
    snprintf(meta, sizeof(meta), "%s/meta", vm->dir);
    assert_int_equal(access(meta, R_OK), 0); /* the registry entry */
    snprintf(meta, sizeof(meta), "%s/burrowd", vm->dir);
    assert_int_equal(access(meta, R_OK), 0); /* what re-adoption needs */
}

static void test_max_vms(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000), b = user("bob", 10001), c = user("carol", 10002);
    vmmgr_request(&mgr, &a, 1);
    vmmgr_request(&mgr, &b, 2);
    vmmgr_request(&mgr, &c, 3);
    assert_int_equal(failed_calls, 1);
    assert_non_null(strstr(last_text, "max_vms"));
    assert_null(vmmgr_find(&mgr, "carol"));
}

static void test_idle_reap(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000);
    vmmgr_request(&mgr, &a, 1);
    PUMP_UNTIL(ready_calls == 1);
    struct vm *vm = vmmgr_find(&mgr, "alice");
    long t = vm->idle_since;
    vmmgr_tick(&mgr, t + 100);
    assert_int_equal(vm->state, VM_RUNNING); /* a session holds it */
    vmmgr_session_end(&mgr, "alice");
    t = vm->idle_since;
    vmmgr_tick(&mgr, t + 4);
    assert_int_equal(vm->state, VM_RUNNING); /* not idle long enough */
    fake_active = 1;
    vmmgr_tick(&mgr, t + 6);
    assert_int_equal(vm->state, VM_RUNNING); /* the backend still sees a connection */
    fake_active = 0;
    vmmgr_tick(&mgr, vm->idle_since + 6);
    assert_int_equal(vm->state, VM_STOPPING);
    PUMP_UNTIL(vmmgr_find(&mgr, "alice") == NULL);
    assert_int_equal(gone_calls, 0); /* a planned stop is not reported as a death */
}

static void test_death_noticed(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000);
    vmmgr_request(&mgr, &a, 1);
    PUMP_UNTIL(ready_calls == 1);
    kill(vmmgr_find(&mgr, "alice")->pid, SIGKILL);
    PUMP_UNTIL(gone_calls == 1);
    assert_non_null(strstr(last_text, "unexpectedly"));
    assert_null(vmmgr_find(&mgr, "alice"));
    vmmgr_request(&mgr, &a, 2); /* the next login gets a fresh one */
    PUMP_UNTIL(ready_calls == 2);
}

static void test_readopt(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000);
    vmmgr_request(&mgr, &a, 1);
    PUMP_UNTIL(ready_calls == 1);
    pid_t pid = vmmgr_find(&mgr, "alice")->pid;
    static struct vmmgr again;
    struct vmmgr_hooks h = {hook_ready, hook_failed, hook_gone, NULL, NULL};
    assert_int_equal(vmmgr_init(&again, &cfg, &h), 0);
    struct vm *vm = vmmgr_find(&again, "alice");
    assert_non_null(vm);
    assert_int_equal(vm->pid, pid);
    assert_int_equal(vm->state, VM_RUNNING);
    close(vm->pidfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_vm_per_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_vms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_reap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_death_noticed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readopt, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/vmmgr", tests, NULL, NULL);
}
