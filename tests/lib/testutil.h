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

#endif /* BURROW_TESTS_LIB_TESTUTIL_H */
