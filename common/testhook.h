/*
 * common/testhook.h - test hooks, compiled into test builds only.
 *
 * Owns: the one way Burrow code may read a test-only environment variable
 * (BURROW_TEST_*, BURROW_SESSION_BACKTRACE). A test hook makes a process act
 * hostile, call a forbidden syscall or print a backtrace, so it must never
 * be reachable in an installed binary.
 *
 * Every source file that includes this header is compiled twice (the
 * Makefile's TESTHOOK_SRCS): with -DBURROW_TEST_HOOKS into the test flavour
 * (build/test/bin/burrowd and burrowctl, the unit tests), which the tiers
 * that drive hooks run; and without it into build/bin, what `make install`
 * installs. There testhook() is a constant NULL: the hook's branch is dead,
 * the compiler drops it, and the variable's name is not even in the binary
 * (test-security checks both).
 */
#ifndef BURROW_COMMON_TESTHOOK_H
#define BURROW_COMMON_TESTHOOK_H

#ifdef BURROW_TEST_HOOKS
#include <stdlib.h>
/* The hook's value, or NULL when the variable is not set. */
#define testhook(name) ((const char *)getenv(name))
#else
/* sizeof keeps the name checked as a string literal without emitting it. */
#define testhook(name) ((void)sizeof(name), (const char *)0)
#endif

#endif /* BURROW_COMMON_TESTHOOK_H */
