/* vmm/jail/seccomp.c - compile policy tables onto libseccomp (see seccomp.h). */
#include "vmm/jail/seccomp.h"

#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/testhook.h"

int sc_mode_parse(const char *s, enum sc_mode *out)
{
    if (strcmp(s, "enforce") == 0)
        *out = SC_MODE_ENFORCE;
    else if (strcmp(s, "log") == 0)
        *out = SC_MODE_LOG;
    else
        return BURROW_ERR_INVALID;
    return 0;
}

size_t sc_policy_rules(const struct sc_policy *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nr_tables; i++)
        n += p->tables[i].n;
    return n;
}

/* One argument check in libseccomp's terms; -EINVAL for a bad table entry. */
static int to_scmp(const struct sc_cmp *c, struct scmp_arg_cmp *out)
{
    if (c->arg > 5)
        return -EINVAL;
    switch (c->op) {
    case SC_EQ:
        /* The kernel passes 64-bit registers; callers may sign-extend an int request. */
        *out =
            SCMP_CMP((unsigned)c->arg, SCMP_CMP_MASKED_EQ, 0xffffffffull, c->value & 0xffffffffull);
        return 0;
    case SC_EQ64:
        *out = SCMP_CMP((unsigned)c->arg, SCMP_CMP_EQ, c->value);
        return 0;
    case SC_MASK_NONE:
        *out = SCMP_CMP((unsigned)c->arg, SCMP_CMP_MASKED_EQ, c->value, 0);
        return 0;
    case SC_MASK_ALL:
        *out = SCMP_CMP((unsigned)c->arg, SCMP_CMP_MASKED_EQ, c->value, c->value);
        return 0;
    case SC_MASKED_EQ:
        if (c->value & ~c->mask)
            return -EINVAL; /* could never match */
        *out = SCMP_CMP((unsigned)c->arg, SCMP_CMP_MASKED_EQ, c->mask, c->value);
        return 0;
    }
    return -EINVAL;
}

/* hit: what a listed call without an errno does (allow, or kill/log in a deny-list). */
static int add_rule(scmp_filter_ctx ctx, const struct sc_rule *r, uint32_t hit)
{
    uint32_t action = r->err ? SCMP_ACT_ERRNO((uint32_t)r->err) : hit;
    struct scmp_arg_cmp cmps[SC_CMPS_MAX];
    if (r->ncmp > SC_CMPS_MAX)
        return -EINVAL;
    for (unsigned i = 0; i < r->ncmp; i++) {
        int e = to_scmp(&r->cmp[i], &cmps[i]);
        if (e != 0)
            return e;
    }
    return seccomp_rule_add_array(ctx, action, r->nr, r->ncmp, r->ncmp ? cmps : NULL);
}

int sc_install(const struct sc_policy *p, enum sc_mode mode, unsigned flags)
{
    uint32_t refuse = mode == SC_MODE_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS;
    uint32_t def = p->default_allow ? SCMP_ACT_ALLOW : refuse;
    uint32_t hit = p->default_allow ? refuse : SCMP_ACT_ALLOW;
    if (seccomp_api_get() < 3) {
        log_error("seccomp: libseccomp/kernel API level %u lacks KILL_PROCESS and LOG",
                  seccomp_api_get());
        return BURROW_ERR_UNSUPPORTED;
    }
    /* NO_NEW_PRIVS is what lets an unprivileged process load a filter at all. */
    if (!(flags & SC_FLAG_KEEP_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return BURROW_ERR_SYSTEM;
    scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        return BURROW_ERR_NOMEM;
    int rc = 0;
    /* The native arch only: any other audit arch (i386 int 0x80) is killed first. */
    if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0 ||
        ((flags & SC_FLAG_KEEP_PRIVS) && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) != 0) ||
        ((flags & SC_FLAG_TSYNC) && seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)) {
        rc = BURROW_ERR_UNSUPPORTED;
        goto out;
    }
    for (size_t t = 0; t < p->nr_tables; t++) {
        for (size_t i = 0; i < p->tables[t].n; i++) {
            const struct sc_rule *r = &p->tables[t].rules[i];
            int e = add_rule(ctx, r, hit);
            if (e != 0) {
                log_error("seccomp %s: rule for syscall %d (%s) rejected: %s", p->name, r->nr,
                          r->why, strerror(-e));
                rc = BURROW_ERR_INVALID;
                goto out;
            }
        }
    }
    int e = seccomp_load(ctx);
    if (e != 0) {
        errno = -e;
        rc = BURROW_ERR_SYSTEM;
        goto out;
    }
    if (flags & SC_FLAG_QUIET)
        ;
    else if (mode == SC_MODE_LOG)
        log_warn("seccomp %s: LOG mode, forbidden calls are logged by the kernel, not killed",
                 p->name);
    else
        log_debug("seccomp %s: %zu rules enforced", p->name, sc_policy_rules(p));
out:
    seccomp_release(ctx);
    return rc;
}

/*
 * The calls a test can ask for, each with arguments no filter of the role
 * allows (a pid that is neither the caller nor a child, a uid outside every
 * reserved range). Only compiled into test builds (the caller's branch is
 * dead otherwise).
 */
static long forbidden_call(const char *call)
{
    static const int far_pid = 0x3ffffe; /* below PID_MAX_LIMIT, nobody's in a test */
    static const gid_t groups[1] = {0};
    struct rlimit lim = {0, 0};
    if (!strcmp(call, "socket"))
        return syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    if (!strcmp(call, "connect"))
        return syscall(SYS_connect, -1, NULL, 0);
    if (!strcmp(call, "kill"))
        return syscall(SYS_kill, far_pid, 0);
    if (!strcmp(call, "tgkill"))
        return syscall(SYS_tgkill, far_pid, far_pid, 0);
    if (!strcmp(call, "setresuid"))
        return syscall(SYS_setresuid, 1000, 1000, 1000);
    if (!strcmp(call, "setresgid"))
        return syscall(SYS_setresgid, 1000, 1000, 1000);
    if (!strcmp(call, "setuid"))
        return syscall(SYS_setuid, 1000);
    if (!strcmp(call, "setgroups"))
        return syscall(SYS_setgroups, 1, groups);
    if (!strcmp(call, "prlimit"))
        return syscall(SYS_prlimit64, far_pid, RLIMIT_NOFILE, &lim, NULL);
    return syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

void sc_test_trigger(const char *role)
{
    const char *e = testhook("BURROW_TEST_FORBIDDEN_SYSCALL");
    size_t n = role ? strlen(role) : 0;
    if (!e || (strcmp(e, "1") != 0 && (strncmp(e, role, n) != 0 || (e[n] && e[n] != ':'))))
        return;
    /* No log line: after the session drop, stderr on a file would mean SIGXFSZ. */
    long r = forbidden_call(e[0] != '1' && e[n] == ':' ? e + n + 1 : "ptrace");
    (void)r;
}
