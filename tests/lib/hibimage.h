/* tests/lib/hibimage.h - hibernated images for unit tests (vmm/hibernate.h). */
#ifndef BURROW_TESTS_LIB_HIBIMAGE_H
#define BURROW_TESTS_LIB_HIBIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define TU_HIB_MEM   (64ull << 20)
#define TU_HIB_BUILD "tg-20261201T120000"
#define TU_HIB_PAGES 3
/* The page numbers every test image holds, and the bytes of each page. */
extern const uint64_t tu_hib_page_nrs[TU_HIB_PAGES];
void tu_hib_page(uint8_t *p, uint64_t nr);

/*
 * A whole image of user (vm 0123456789ab, build TU_HIB_BUILD, TU_HIB_MEM of
 * RAM) written by the real writer; its embedded state says state_mem. Its
 * bytes (malloc'd) and size.
 */
uint8_t *tu_hib_image(uint64_t state_mem, const char *user, size_t *len);
/* user_dir/hibernate/image with those bytes (directories made). */
void tu_hib_put(const char *user_dir, const uint8_t *img, size_t len);

#endif /* BURROW_TESTS_LIB_HIBIMAGE_H */
