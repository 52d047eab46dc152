/*
 * vmm/template_files.h - helpers internal to vmm/template*.c: paths, atomic
 * and read-only files, BLAKE2b of files, the sparse memory writer, the
 * manifest reader. Not an API for anything else.
 */
#ifndef BURROW_VMM_TEMPLATE_FILES_H
#define BURROW_VMM_TEMPLATE_FILES_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define TPL_HASH_HEX (2 * crypto_generichash_BYTES + 1)

/* dir + "/" + file into out; BURROW_ERR_TOO_LARGE if it does not fit. */
__attribute__((warn_unused_result)) int tpl_pjoin(char *out, size_t sz, const char *dir,
                                                  const char *file);
/* A new read-only (0444) file that must not exist, fsynced. */
__attribute__((warn_unused_result)) int tpl_write_new_file(const char *path, const void *data,
                                                           size_t len);
void tpl_hex(const uint8_t *h, size_t n, char *out);
__attribute__((warn_unused_result)) int tpl_hash_file(const char *path, char out[TPL_HASH_HEX]);
/* RAM to a new sparse file (zero pages stay holes), fsynced, 0444; out = its BLAKE2b. */
__attribute__((warn_unused_result)) int tpl_write_memory(const char *path, const uint8_t *ram,
                                                         uint64_t size, char out[TPL_HASH_HEX]);
/* dir/manifest as a NUL-terminated string (malloc'd, at most TEMPLATE_MANIFEST_MAX). */
__attribute__((warn_unused_result)) int tpl_read_manifest(const char *dir, char **text);
/* Remove a build directory's files and the directory. */
void tpl_rm_build_dir(const char *dir);

#endif /* BURROW_VMM_TEMPLATE_FILES_H */
