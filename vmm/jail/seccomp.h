/*
 * vmm/jail/seccomp.h - seccomp allow-lists as data, compiled by one function.
 *
 * Owns: the rule format `{nr, argument checks, errno, why}` every policy table uses
 * (vmm/jail/policy_vmm.c, broker/session/seccomp_policy.c), the compiler onto
 * libseccomp, the enforce/log switch, and the test-only trigger that makes a
 * confined process call a forbidden syscall.
 *
 * Every filter: checks the architecture first (x86-64 only; x32 numbers are
 * refused), kills the whole process on anything not listed
 * (SCMP_ACT_KILL_PROCESS: the parent sees SIGSYS), and answers the listed
 * libc probes with an errno instead. In log mode (`[security] seccomp = log`,
 * the only switch: no environment variable) the default becomes
 * SCMP_ACT_LOG: the call proceeds and the kernel logs it (dmesg / audit:
 * "type=1326 ... syscall=N").
 *
 * Host-only (libseccomp): never built for the guest.
 */
#ifndef BURROW_VMM_JAIL_SECCOMP_H
#define BURROW_VMM_JAIL_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sc_op {
    SC_EQ = 1,    /* (uint32_t)arg == value (ioctl requests, flags, pids, signals) */
    SC_EQ64,      /* arg == value, all 64 bits */
    SC_MASK_NONE, /* (arg & value) == 0: none of these bits may be set */
    SC_MASK_ALL,  /* (arg & value) == value: all of these bits must be set */
    SC_MASKED_EQ  /* (arg & mask) == value: a range of ids (the session uids) */
};

/* One argument check; a rule's checks must all hold (libseccomp ANDs them). */
struct sc_cmp {
    unsigned arg; /* argument index 0..5 */
    enum sc_op op;
    uint64_t value;
    uint64_t mask; /* SC_MASKED_EQ only */
};

#define SC_CMPS_MAX 3

struct sc_rule {
    int nr; /* SCMP_SYS(name) */
    struct sc_cmp cmp[SC_CMPS_MAX];
    unsigned ncmp; /* 0: any arguments */
    int err;       /* 0: allow; else fail the call with this errno */
    const char *why;
};

/* An argument check for SC_ALLOW_IF: argument a compared with op o to v. */
#define SC_ARG(a, o, v)                                                                            \
    {                                                                                              \
        .arg = a, .op = o, .value = (uint64_t)(v)                                                  \
    }
/* Argument a with only the bits in m looked at must equal v. */
#define SC_ARG_MASKED(a, m, v)                                                                     \
    {                                                                                              \
        .arg = a, .op = SC_MASKED_EQ, .mask = (uint64_t)(m), .value = (uint64_t)(v)                \
    }
#define SC_NCMPS(...) (sizeof((struct sc_cmp[]){__VA_ARGS__}) / sizeof(struct sc_cmp))

#define SC_ALLOW(name, why_)                                                                       \
    {                                                                                              \
        .nr = SCMP_SYS(name), .why = why_                                                          \
    }
#define SC_ALLOW_ARG(name, a, o, v, why_)                                                          \
    {                                                                                              \
        .nr = SCMP_SYS(name), .cmp = {SC_ARG(a, o, v)}, .ncmp = 1, .why = why_                     \
    }
/* Allowed only when every check holds, e.g. SC_ALLOW_IF(kill, "why", SC_ARG(1, SC_EQ, SIGKILL)). */
#define SC_ALLOW_IF(name, why_, ...)                                                               \
    {                                                                                              \
        .nr = SCMP_SYS(name), .cmp = {__VA_ARGS__}, .ncmp = SC_NCMPS(__VA_ARGS__), .why = why_     \
    }
#define SC_DENY(name, e, why_)                                                                     \
    {                                                                                              \
        .nr = SCMP_SYS(name), .err = e, .why = why_                                                \
    }

#define SC_DENY_ARG(name, a, o, v, e, why_)                                                        \
    {                                                                                              \
        .nr = SCMP_SYS(name), .cmp = {SC_ARG(a, o, v)}, .ncmp = 1, .err = e, .why = why_           \
    }

/* In a deny-list policy (default_allow): the call kills the process (logged in log mode). */
#define SC_REFUSE(name, why_)                                                                      \
    {                                                                                              \
        .nr = SCMP_SYS(name), .why = why_                                                          \
    }

/* One table; a policy is a NULL-terminated list of tables (shared parts + role parts). */
struct sc_table {
    const struct sc_rule *rules;
    size_t n;
};
#define SC_TABLE(t)                                                                                \
    {                                                                                              \
        t, sizeof(t) / sizeof(t[0])                                                                \
    }

struct sc_policy {
    const char *name; /* "vmm", "vcpu", "session-preauth", ... (logs, test trigger) */
    const struct sc_table *tables;
    size_t nr_tables;
    /*
     * A deny-list (burrowd's master): anything not listed proceeds, and a
     * listed call (err 0) kills the process, or is logged in log mode.
     */
    bool default_allow;
};

enum sc_mode { SC_MODE_ENFORCE = 0, SC_MODE_LOG = 1 };

#define SC_FLAG_TSYNC 1u /* apply to every thread of the process */
#define SC_FLAG_QUIET 2u /* no log line (stderr may be unwritable: RLIMIT_FSIZE 0) */
/*
 * No NO_NEW_PRIVS: for a caller with CAP_SYS_ADMIN (the kernel then loads a
 * filter without it) whose children decide for themselves (burrowd's
 * master: a sandbox with allow_root keeps set-id programs working).
 */
#define SC_FLAG_KEEP_PRIVS 4u

/* Parse "enforce" | "log". */
__attribute__((warn_unused_result)) int sc_mode_parse(const char *s, enum sc_mode *out);

/*
 * Compile and load `p` for the calling thread (all threads with
 * SC_FLAG_TSYNC). Sets NO_NEW_PRIVS first (not with SC_FLAG_KEEP_PRIVS).
 * Filters stack: a thread's role
 * filter added on top of the process filter can only narrow it.
 */
__attribute__((warn_unused_result)) int sc_install(const struct sc_policy *p, enum sc_mode mode,
                                                   unsigned flags);

/* Rules in a policy (tests, logs). */
size_t sc_policy_rules(const struct sc_policy *p);

/*
 * Test builds only (common/testhook.h; a no-op in installed binaries): if
 * env BURROW_TEST_FORBIDDEN_SYSCALL is "1" or equals `role`, call a syscall
 * no policy allows (ptrace); "ROLE:CALL" calls CALL instead, with arguments
 * the role's filter must refuse: socket, connect, kill and tgkill (a
 * stranger's pid), setresuid, setresgid, setuid, setgroups (uid/gid/group
 * 1000), prlimit (a stranger's RLIMIT_NOFILE). Under an enforcing filter the
 * process dies with SIGSYS; otherwise this returns.
 */
void sc_test_trigger(const char *role);

#endif /* BURROW_VMM_JAIL_SECCOMP_H */
