/*
 * tests/unit/broker/vm/test_vmmgr.c - the VM manager against a fake backend whose
 * "VM" is a child process: one VM per user shared by sessions, waiters
 * answered when ready, max_vms admission, idle reaping (and the backend's own
 * connection count keeping a VM), unexpected death noticed and reported,
 * the registry written and re-adopted by a fresh manager; idle hibernation
 * (vm.idle_hibernate) through a fake hibernate op: saved (the VM's process
 * ends, her image is in place), failed (it runs on, is not tried again, and
 * sessions that arrived meanwhile get it), a backend that cannot hibernate
 * (not tried; an image it cannot resume refuses her login).
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

#include "broker/vm/vmmgr.h"
#include "common/err.h"
#include "tests/lib/hibimage.h"
#include "tests/lib/testutil.h"
#include "vmm/hibernate.h"
#include "vmm/registry.h"

static struct burrow_config cfg;
static struct vmmgr mgr;
static char *dir;
static int ready_calls, failed_calls, gone_calls, fake_active;
static char last_text[256];

static int fake_start(struct vmmgr *m, struct uservm *vm, const struct user_record *rec)
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

static void fake_stop(struct uservm *vm)
{
    kill(vm->pid, SIGTERM);
}

static int fake_active_fn(struct uservm *vm)
{
    (void)vm;
    return fake_active;
}

static const struct vm_backend_ops fake = {
    .name = "sandbox", .start = fake_start, .stop = fake_stop, .active = fake_active_fn};

/*
 * A fake hibernation: fake_hib_ok 1 puts her image in place, ends the VM's
 * process and reports OK; 0 reports ERR and leaves the VM running.
 */
static int fake_hib_ok, fake_hib_calls;
static int fake_hibernate(struct vmmgr *m, struct uservm *vm)
{
    int p[2];
    char udir[600];
    fake_hib_calls++;
    if (pipe(p) != 0 || vmmgr_user_dir(m->cfg, vm->user, udir, sizeof(udir)))
        return -1;
    if (fake_hib_ok) {
        size_t len;
        uint8_t *img = tu_hib_image(TU_HIB_MEM, vm->user, &len);
        tu_hib_put(udir, img, len);
        free(img);
        kill(vm->pid, SIGTERM);
    }
    const char *line = fake_hib_ok ? "OK 1 3 5\n" : "ERR the agent did not answer HIBERNATE\n";
    assert_int_equal(write(p[1], line, strlen(line)), (ssize_t)strlen(line));
    close(p[1]);
    vm->hib_fd = p[0];
    return 0;
}

static const struct vm_backend_ops fake_kvm = {.name = "kvm",
                                               .start = fake_start,
                                               .stop = fake_stop,
                                               .active = fake_active_fn,
                                               .hibernate = fake_hibernate};

static int events[16];
static void hook_event(void *ctx, enum vmmgr_event ev, const struct uservm *vm, const char *user)
{
    (void)ctx;
    (void)vm;
    (void)user;
    if ((unsigned)ev < 16)
        events[ev]++;
}

static void hook_ready(void *ctx, int waiter, struct uservm *vm)
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
    struct vmmgr_hooks h = {hook_ready, hook_failed, hook_gone, NULL, hook_event};
    dir = tu_mkdtemp("vmmgr");
    config_defaults(&cfg);
    cfg.vm.backend = VM_BACKEND_SANDBOX;
    cfg.vm.max_vms = 2;
    cfg.vm.idle_timeout = 5;
    snprintf(cfg.paths.run_dir, sizeof(cfg.paths.run_dir), "%s/run", dir);
    snprintf(cfg.paths.state_dir, sizeof(cfg.paths.state_dir), "%s/state", dir);
    ready_calls = failed_calls = gone_calls = fake_active = fake_hib_calls = 0;
    memset(events, 0, sizeof(events));
    char users[700];
    snprintf(users, sizeof(users), "%s/state", dir);
    mkdir(users, 0700);
    snprintf(users, sizeof(users), "%s/state/users", dir);
    mkdir(users, 0700);
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
    struct uservm *vm = vmmgr_find(&mgr, "alice");
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
    struct uservm *vm = vmmgr_find(&mgr, "alice");
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
    struct uservm *vm = vmmgr_find(&again, "alice");
    assert_non_null(vm);
    assert_int_equal(vm->pid, pid);
    assert_int_equal(vm->state, VM_RUNNING);
    close(vm->pidfd);
}

/* An idle VM is saved (kvm): its process ends, her image is there, no death reported. */
static void test_idle_hibernate(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000);
    mgr.be = &fake_kvm;
    cfg.vm.idle_hibernate = 3;
    fake_hib_ok = 1;
    vmmgr_request(&mgr, &a, 1);
    PUMP_UNTIL(ready_calls == 1);
    struct uservm *vm = vmmgr_find(&mgr, "alice");
    vmmgr_session_end(&mgr, "alice");
    vmmgr_tick(&mgr, vm->idle_since + 2);
    assert_int_equal(fake_hib_calls, 0);  /* not idle long enough */
    vmmgr_tick(&mgr, vm->idle_since + 3); /* before idle_timeout (5): hibernated, not reaped */
    assert_int_equal(fake_hib_calls, 1);
    assert_int_equal(vm->state, VM_STOPPING);
    assert_int_equal(vm->stop_reason, VM_STOP_HIBERNATE);
    assert_int_equal(events[VMEV_STOPPING], 1);
    PUMP_UNTIL(vmmgr_find(&mgr, "alice") == NULL);
    assert_int_equal(events[VMEV_HIBERNATED], 1);
    assert_int_equal(events[VMEV_DIED] + events[VMEV_STOPPED], 0);
    assert_int_equal(gone_calls, 0);
}

/* A failed hibernation: the VM runs on, is not tried again, and is reaped at idle_timeout. */
static void test_hibernate_failed(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000);
    mgr.be = &fake_kvm;
    cfg.vm.idle_hibernate = 1;
    fake_hib_ok = 0;
    vmmgr_request(&mgr, &a, 1);
    PUMP_UNTIL(ready_calls == 1);
    struct uservm *vm = vmmgr_find(&mgr, "alice");
    vmmgr_session_end(&mgr, "alice");
    long t = vm->idle_since;
    vmmgr_tick(&mgr, t + 1);
    assert_int_equal(vm->state, VM_STOPPING);
    vmmgr_request(&mgr, &a, 2); /* a login while it is being saved waits */
    PUMP_UNTIL(events[VMEV_HIBERNATE_FAILED] == 1);
    assert_int_equal(vm->state, VM_RUNNING);
    assert_non_null(strstr(vm->hib_why, "did not answer HIBERNATE"));
    assert_int_equal(ready_calls, 2); /* the waiting login got the running VM */
    vmmgr_session_end(&mgr, "alice");
    vmmgr_tick(&mgr, vm->idle_since + 2);
    assert_int_equal(fake_hib_calls, 1); /* not tried again for this VM */
    assert_int_equal(vm->state, VM_RUNNING);
    vmmgr_tick(&mgr, vm->idle_since + 5);
    assert_int_equal(vm->state, VM_STOPPING); /* idle_timeout still applies */
    assert_int_equal(vm->stop_reason, VM_STOP_IDLE);
}

/* A backend without hibernation: never tried; an admin request is refused; her image blocks it. */
static void test_hibernate_unsupported(void **state)
{
    (void)state;
    struct user_record a = user("alice", 10000), b = user("bob", 10001);
    cfg.vm.idle_hibernate = 1;
    cfg.vm.idle_timeout = 0;
    vmmgr_request(&mgr, &a, 1);
    PUMP_UNTIL(ready_calls == 1);
    struct uservm *vm = vmmgr_find(&mgr, "alice");
    vmmgr_session_end(&mgr, "alice");
    vmmgr_tick(&mgr, vm->idle_since + 100);
    assert_int_equal(vm->state, VM_RUNNING);
    assert_int_equal(vmmgr_hibernate(&mgr, "alice"), BURROW_ERR_UNSUPPORTED);
    assert_int_equal(vmmgr_hibernate(&mgr, "nobody"), BURROW_ERR_NOT_FOUND);
    /* bob was hibernated under kvm: this backend must not take his disk. */
    char bdir[700];
    size_t len;
    assert_int_equal(vmmgr_user_dir(&cfg, "bob", bdir, sizeof(bdir)), 0);
    uint8_t *img = tu_hib_image(TU_HIB_MEM, "bob", &len);
    tu_hib_put(bdir, img, len);
    free(img);
    vmmgr_request(&mgr, &b, 2);
    assert_int_equal(failed_calls, 1);
    assert_non_null(strstr(last_text, "hibernated"));
    assert_null(vmmgr_find(&mgr, "bob"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_vm_per_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_vms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_reap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_death_noticed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readopt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_hibernate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hibernate_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hibernate_unsupported, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker/vm/vmmgr", tests, NULL, NULL);
}
