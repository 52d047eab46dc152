/* tests/lib/testutil.h - small helpers shared by the cmocka unit tests. */
#ifndef BURROW_TESTS_LIB_TESTUTIL_H
#define BURROW_TESTS_LIB_TESTUTIL_H

#include <stddef.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller owns it. */
char *tu_mkdtemp(const char *tag);
/* rm -rf; ignores errors. */
void tu_rmrf(const char *path);
/* Write a whole file; aborts the test process on failure. */
void tu_write_file(const char *path, const char *content);
/* Read a whole file (NUL-terminated, malloc'd) or NULL. */
char *tu_read_file(const char *path, size_t *len);
/* The same for dir/rel (fake /proc and /sys trees). */
void tu_write_in(const char *dir, const char *rel, const char *content);
char *tu_read_in(const char *dir, const char *rel);

/* Skip the running cmocka test and say why (skip() alone prints nothing). */
#define TU_SKIP(why)                                                                               \
    do {                                                                                           \
        print_message("skipped: %s\n", (why));                                                     \
        skip();                                                                                    \
    } while (0)

#endif /* BURROW_TESTS_LIB_TESTUTIL_H */
