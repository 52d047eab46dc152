/*
 * common/exepath.h - files installed beside the running program: the same
 * relative layout in the build tree and under PREFIX (bin or sbin ->
 * ../lib/burrow/...), found from /proc/self/exe.
 */
#ifndef BURROW_COMMON_EXEPATH_H
#define BURROW_COMMON_EXEPATH_H

#include <stddef.h>

/*
 * out = <directory of the running binary>/rel. 0, BURROW_ERR_SYSTEM (no
 * /proc/self/exe), BURROW_ERR_TOO_LARGE. Whether the file exists is the
 * caller's question.
 */
__attribute__((warn_unused_result)) int exepath_beside(const char *rel, char *out, size_t outsz);

#endif /* BURROW_COMMON_EXEPATH_H */
