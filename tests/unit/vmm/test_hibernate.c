/*
 * tests/unit/vmm/test_hibernate.c - the hibernated image (vmm/hibernate.h):
 * a round trip through the writer; every single-bit flip and every
 * truncation refused; versions; every header field, the index and the
 * embedded state checked as hostile input (with a valid checksum, so the
 * field's own check is what refuses it); the private pages of a
 * MAP_PRIVATE mapping as /proc/self/pagemap shows them; the user's
 * directory: info, list, count, builds in use, keeping a refused image
 * aside, discard, the lock, last-error; opening an image for a resume.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/err.h"
#include "tests/lib/hibimage.h"
#include "tests/lib/testutil.h"
#include "vmm/hibernate.h"
#include "vmm/vm.h"

#define MEM    TU_HIB_MEM
#define BUILD  TU_HIB_BUILD
#define NPAGES TU_HIB_PAGES

static uint8_t *make_image_for(uint64_t state_mem, size_t *len)
{
    return tu_hib_image(state_mem, "alice", len);
}

static uint8_t *make_image(size_t *len)
{
    return make_image_for(MEM, len);
}

/* Re-seal an edited image so only the edit itself is judged. */
static void reseal(uint8_t *p, size_t len)
{
    crypto_generichash(p + len - HIB_HASH_LEN, HIB_HASH_LEN, p, len - HIB_HASH_LEN, NULL, 0);
}

static void put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int check(uint8_t *p, size_t len)
{
    static struct hib_header h;
    static struct snapshot s;
    return hib_image_check_buf(p, len, &h, &s);
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = make_image(&len);
    struct hib_header h;
    struct snapshot *s = malloc(sizeof(*s));
    assert_int_equal(hib_image_check_buf(p, len, &h, s), 0);
    assert_int_equal(h.major, HIB_MAJOR);
    assert_int_equal(h.nr_pages, NPAGES);
    assert_int_equal(h.mem_size, MEM);
    assert_int_equal(h.disk_bytes, 16ull << 20);
    assert_string_equal(h.vm_id, "0123456789ab");
    assert_string_equal(h.user, "alice");
    assert_string_equal(h.build, BUILD);
    assert_int_equal(h.pages_off % HIB_PAGE, 0);
    const uint8_t *index;
    assert_int_equal(hib_meta_decode(&h, p + HIB_HDR_LEN, h.pages_off - HIB_HDR_LEN, s, &index), 0);
    uint8_t page[HIB_PAGE];
    for (unsigned i = 0; i < NPAGES; i++) {
        assert_int_equal(hib_index_at(index, i), tu_hib_page_nrs[i]);
        tu_hib_page(page, tu_hib_page_nrs[i]);
        assert_memory_equal(p + h.pages_off + i * HIB_PAGE, page, HIB_PAGE);
    }
    struct snap_vm_info info;
    assert_int_equal(snap_vm_info(s, &info), 0);
    assert_int_equal(info.mem_size, MEM);
    free(s);
    free(p);
}

static void test_every_flip_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = make_image(&len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            p[i] ^= (uint8_t)(1u << bit);
            int r = check(p, len);
            assert_true(r == BURROW_ERR_CHECKSUM || r == BURROW_ERR_FORMAT ||
                        r == BURROW_ERR_VERSION || r == BURROW_ERR_RANGE ||
                        r == BURROW_ERR_TRUNCATED || r == BURROW_ERR_TRAILING);
            p[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(check(p, len), 0);
    free(p);
}

static void test_every_truncation_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = make_image(&len);
    for (size_t n = 0; n < len; n += (n < HIB_HDR_LEN + 64 ? 1 : 97))
        assert_int_not_equal(check(p, n), 0);
    assert_int_not_equal(check(p, len - 1), 0);
    /* Bytes after the checksum. */
    uint8_t *q = calloc(1, len + 1);
    memcpy(q, p, len);
    assert_int_equal(check(q, len + 1), BURROW_ERR_TRAILING);
    free(q);
    free(p);
}

static void test_versions(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = make_image(&len);
    p[8] = HIB_MAJOR + 1;
    reseal(p, len);
    assert_int_equal(check(p, len), BURROW_ERR_VERSION);
    p[8] = HIB_MAJOR;
    p[10] = HIB_MINOR + 1;
    /* A newer format is reported as such even when the rest is not ours to judge. */
    assert_int_equal(check(p, len), BURROW_ERR_VERSION);
    p[10] = HIB_MINOR;
    reseal(p, len);
    assert_int_equal(check(p, len), 0);
    memcpy(p, "BRWSNAP\0", 8);
    reseal(p, len);
    assert_int_equal(check(p, len), BURROW_ERR_FORMAT);
    free(p);
}

/* Set a header u64 at off to v, reseal, and return what the parser says. */
static int with64(uint8_t *p, size_t len, size_t off, uint64_t v)
{
    uint8_t save[8];
    memcpy(save, p + off, 8);
    put64(p + off, v);
    reseal(p, len);
    int r = check(p, len);
    memcpy(p + off, save, 8);
    reseal(p, len);
    return r;
}

static int with_byte(uint8_t *p, size_t len, size_t off, uint8_t v)
{
    uint8_t save = p[off];
    p[off] = v;
    reseal(p, len);
    int r = check(p, len);
    p[off] = save;
    reseal(p, len);
    return r;
}

static void test_header_fields(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = make_image(&len);
    assert_int_equal(with_byte(p, len, 13, 0), BURROW_ERR_FORMAT);              /* header_len */
    assert_int_equal(with64(p, len, 16, len + 4096), BURROW_ERR_FORMAT);        /* file_len */
    assert_int_equal(with64(p, len, 24, MEM + 4096), BURROW_ERR_RANGE);         /* mem unaligned */
    assert_int_equal(with64(p, len, 24, 16ull << 20), BURROW_ERR_RANGE);        /* too small */
    assert_int_equal(with64(p, len, 24, 2048ull << 30), BURROW_ERR_RANGE);      /* too large */
    assert_int_equal(with64(p, len, 32, MEM / HIB_PAGE + 1), BURROW_ERR_RANGE); /* nr_pages */
    assert_int_equal(with64(p, len, 32, UINT64_MAX), BURROW_ERR_RANGE);
    assert_int_equal(with64(p, len, 32, 2), BURROW_ERR_FORMAT);         /* layout */
    assert_int_equal(with64(p, len, 40, 1ull << 40), BURROW_ERR_RANGE); /* state_len */
    assert_int_equal(with64(p, len, 40, 8), BURROW_ERR_RANGE);
    assert_int_equal(with64(p, len, 48, 256), BURROW_ERR_FORMAT);  /* index_off */
    assert_int_equal(with64(p, len, 56, 8192), BURROW_ERR_FORMAT); /* pages_off */
    assert_int_equal(with64(p, len, 72, 513), BURROW_ERR_RANGE);   /* disk_bytes */
    assert_int_equal(with64(p, len, 72, 32ull << 40), BURROW_ERR_RANGE);
    assert_int_equal(with_byte(p, len, 80, 1), BURROW_ERR_FORMAT);    /* flags */
    assert_int_equal(with_byte(p, len, 85, 0x20), BURROW_ERR_FORMAT); /* page size */
    /* Names: vm_id at 88, user at 104, build at 176; reserved at 240. */
    assert_int_equal(with_byte(p, len, 88, 'X'), BURROW_ERR_FORMAT);
    assert_int_equal(with_byte(p, len, 88 + 12, 'a'), BURROW_ERR_FORMAT); /* 13 characters */
    assert_int_equal(with_byte(p, len, 88 + 14, 'a'), BURROW_ERR_FORMAT); /* after the NUL */
    assert_int_equal(with_byte(p, len, 104, '.'), BURROW_ERR_FORMAT);
    assert_int_equal(with_byte(p, len, 104, 0), BURROW_ERR_FORMAT); /* empty */
    assert_int_equal(with_byte(p, len, 106, '/'), BURROW_ERR_FORMAT);
    assert_int_equal(with_byte(p, len, 176, '/'), BURROW_ERR_FORMAT);
    assert_int_equal(with_byte(p, len, 176 + 7, 'x'), BURROW_ERR_FORMAT); /* timestamp */
    uint8_t full[72];
    memset(full, 'a', sizeof(full));
    uint8_t save[72];
    memcpy(save, p + 104, 72);
    memcpy(p + 104, full, 72); /* no terminator inside the field */
    reseal(p, len);
    assert_int_equal(check(p, len), BURROW_ERR_FORMAT);
    memcpy(p + 104, save, 72);
    assert_int_equal(with_byte(p, len, 250, 1), BURROW_ERR_FORMAT); /* reserved */
    reseal(p, len);
    assert_int_equal(check(p, len), 0);
    free(p);
}

static void test_index_and_state(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = make_image(&len);
    struct hib_header h;
    assert_int_equal(hib_header_decode(p, len, len, &h), 0);
    size_t idx = h.index_off;
    assert_int_equal(with64(p, len, idx + 8, 1), BURROW_ERR_FORMAT);               /* duplicate */
    assert_int_equal(with64(p, len, idx + 16, 0), BURROW_ERR_FORMAT);              /* decreasing */
    assert_int_equal(with64(p, len, idx + 16, MEM / HIB_PAGE), BURROW_ERR_FORMAT); /* past RAM */
    assert_int_equal(with64(p, len, idx + 16, UINT64_MAX), BURROW_ERR_FORMAT);
    assert_int_equal(with_byte(p, len, idx + 24, 1), BURROW_ERR_FORMAT); /* padding */
    assert_int_equal(with_byte(p, len, HIB_HDR_LEN + h.state_len, 1), BURROW_ERR_FORMAT);
    /* The embedded state is checked by its own checksum, even under a valid outer one. */
    assert_int_equal(with_byte(p, len, HIB_HDR_LEN + 20, 0x55), BURROW_ERR_CHECKSUM);
    free(p);
    /* A state for another memory size than the header says. */
    p = make_image_for(128ull << 20, &len);
    assert_int_equal(check(p, len), BURROW_ERR_FORMAT);
    free(p);
}

/* Only pages written since the mapping (copies of the file's) are private. */
static void test_private_pages(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("hibpm");
    char path[512];
    snprintf(path, sizeof(path), "%s/mem", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 64 * 4096), 0);
    assert_int_equal(pwrite(fd, "template", 8, 7 * 4096), 8);
    uint8_t *m = mmap(NULL, 64 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    assert_true(m != MAP_FAILED);
    volatile uint8_t sink = m[3 * 4096] + m[7 * 4096]; /* read: page-cache pages */
    (void)sink;
    m[5 * 4096] = 1;
    m[6 * 4096] = 1;
    m[63 * 4096 + 4095] = 1;
    assert_int_equal(madvise(m + 6 * 4096, 4096, MADV_DONTNEED), 0); /* back to the file's */
    int pm = open("/proc/self/pagemap", O_RDONLY);
    assert_true(pm >= 0);
    uint64_t out[64], n = 99;
    assert_int_equal(hib_private_pages(pm, m, 64 * 4096, out, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 5);
    assert_int_equal(out[1], 63);
    assert_int_equal(m[6 * 4096], 0);
    close(pm);
    munmap(m, 64 * 4096);
    close(fd);
    tu_rmrf(dir);
    free(dir);
}

/* ---- the user's directory ---- */

static char *user_with_image(const char *root, const char *name, uint8_t *img, size_t len)
{
    char *d = malloc(512), path[600];
    snprintf(d, 512, "%s/users/%s", root, name);
    snprintf(path, sizeof(path), "%s/users", root);
    mkdir(path, 0700);
    mkdir(d, 0700);
    snprintf(path, sizeof(path), "%s/%s", d, HIB_DIR);
    mkdir(path, 0700);
    if (img)
        tu_hib_put(d, img, len);
    return d;
}

static void test_user_dir(void **state)
{
    (void)state;
    char *root = tu_mkdtemp("hibdir"), path[700], why[300];
    size_t len;
    uint8_t *img = make_image(&len);
    char *alice = user_with_image(root, "alice", img, len);
    char *bob = user_with_image(root, "bob", (uint8_t *)"junk", 4);
    char *carol = user_with_image(root, "carol", NULL, 0);
    assert_true(hib_present(alice));
    assert_true(hib_present(bob));
    assert_false(hib_present(carol));
    struct hib_info info;
    assert_int_equal(hib_info_read(alice, &info), 0);
    assert_string_equal(info.h.build, BUILD);
    assert_true(info.disk_kib > 0);
    assert_int_not_equal(hib_info_read(bob, &info), 0);
    assert_int_equal(hib_info_read(carol, &info), BURROW_ERR_NOT_FOUND);
    /* Both listed (bob's unreadable one under his name), sorted; counted. */
    struct hib_info *v;
    size_t n;
    assert_int_equal(hib_list(root, &v, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].h.user, "alice");
    assert_int_equal(v[0].err, 0);
    assert_string_equal(v[1].h.user, "bob");
    assert_int_not_equal(v[1].err, 0);
    free(v);
    assert_int_equal(hib_count(root), 2);
    assert_true(hib_build_in_use(root, BUILD));
    assert_false(hib_build_in_use(root, "tg-20261201T120001"));
    /* The lock: a second holder is refused; discard needs it too. */
    int err, lock = hib_lock(alice, &err);
    assert_true(lock >= 0);
    assert_int_equal(hib_lock(alice, &err), -1);
    assert_int_equal(err, BURROW_ERR_BUSY);
    assert_int_equal(hib_discard(alice, why, sizeof(why)), BURROW_ERR_BUSY);
    close(lock);
    /* Kept aside: the image leaves its place, its reason stays beside it. */
    char kept[700];
    assert_int_equal(hib_keep_aside(bob, "checksum mismatch (corrupt)", kept, sizeof(kept)), 0);
    assert_false(hib_present(bob));
    assert_non_null(strstr(kept, "/hibernate/refused-"));
    snprintf(path, sizeof(path), "%.*s.why", (int)(strlen(kept) - 4), kept);
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    assert_string_equal(text, "checksum mismatch (corrupt)\n");
    free(text);
    assert_int_equal(access(kept, F_OK), 0);
    assert_int_equal(hib_keep_aside(bob, "x", NULL, 0), BURROW_ERR_NOT_FOUND);
    /* Discard. */
    assert_int_equal(hib_discard(alice, why, sizeof(why)), 0);
    assert_false(hib_present(alice));
    assert_int_equal(hib_discard(alice, why, sizeof(why)), BURROW_ERR_NOT_FOUND);
    assert_int_equal(hib_count(root), 0);
    /* last-error: only a reason newer than asked for. */
    snprintf(path, sizeof(path), "%s/%s/last-error", carol, HIB_DIR);
    tu_write_file(path, "2000000000 the agent did not answer HIBERNATE\n");
    assert_true(hib_last_error(carol, 1999999999, why, sizeof(why)));
    assert_string_equal(why, "the agent did not answer HIBERNATE");
    assert_false(hib_last_error(carol, 2000000001, why, sizeof(why)));
    tu_write_file(path, "garbage");
    assert_false(hib_last_error(carol, 0, why, sizeof(why)));
    free(img);
    free(alice);
    free(bob);
    free(carol);
    tu_rmrf(root);
    free(root);
}

/* A request for a VM that is not there fails before anything is written. */
static void test_request_refusals(void **state)
{
    (void)state;
    char *root = tu_mkdtemp("hibreq"), why[300];
    char *dave = user_with_image(root, "dave", NULL, 0);
    struct hib_result res;
    assert_int_equal(hib_request(root, "0123456789ab", dave, &res, why, sizeof(why)),
                     BURROW_ERR_NOT_FOUND);
    assert_non_null(strstr(why, "no running VM"));
    assert_int_equal(hib_request(root, "../etc", dave, &res, why, sizeof(why)), BURROW_ERR_INVALID);
    assert_false(hib_present(dave));
    free(dave);
    tu_rmrf(root);
    free(root);
}

static void test_resume_open(void **state)
{
    (void)state;
    char *root = tu_mkdtemp("hibres"), path[700], why[400];
    size_t len;
    uint8_t *img = make_image(&len);
    char *erin = user_with_image(root, "erin", img, len);
    snprintf(path, sizeof(path), "%s/%s/%s", erin, HIB_DIR, HIB_IMAGE);
    struct hib_resume *rs = malloc(sizeof(*rs));
    assert_int_equal(hib_resume_open(rs, path, BUILD, why, sizeof(why)), 0);
    assert_int_equal(rs->h.nr_pages, NPAGES);
    assert_int_equal(hib_index_at(rs->index, 2), 100);
    hib_resume_close(rs);
    /* Another build named: refused, the image at fault. */
    assert_int_not_equal(hib_resume_open(rs, path, "tg-20261201T120001", why, sizeof(why)), 0);
    assert_true(rs->refused);
    assert_non_null(strstr(why, HIB_REFUSED));
    hib_resume_close(rs);
    /* A flipped page byte is found only by the checksum over the pages, at apply time; a
     * flipped index byte is reported as corruption, not as a malformed index. */
    struct hib_header h;
    assert_int_equal(hib_header_decode(img, len, len, &h), 0);
    img[h.index_off + 9] ^= 1;
    FILE *f = fopen(path, "w");
    assert_int_equal(fwrite(img, 1, len, f), len);
    fclose(f);
    assert_int_not_equal(hib_resume_open(rs, path, BUILD, why, sizeof(why)), 0);
    assert_true(rs->refused);
    assert_non_null(strstr(why, "checksum mismatch"));
    hib_resume_close(rs);
    /* Truncated. */
    assert_int_equal(truncate(path, (off_t)len / 2), 0);
    assert_int_not_equal(hib_resume_open(rs, path, BUILD, why, sizeof(why)), 0);
    assert_true(rs->refused);
    hib_resume_close(rs);
    /* Missing: not the image's fault (nothing to keep aside). */
    unlink(path);
    assert_int_equal(hib_resume_open(rs, path, BUILD, why, sizeof(why)), BURROW_ERR_NOT_FOUND);
    assert_false(rs->refused);
    hib_resume_close(rs);
    free(rs);
    free(img);
    free(erin);
    tu_rmrf(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_flip_refused),
        cmocka_unit_test(test_every_truncation_refused),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_index_and_state),
        cmocka_unit_test(test_private_pages),
        cmocka_unit_test(test_user_dir),
        cmocka_unit_test(test_request_refusals),
        cmocka_unit_test(test_resume_open),
    };
    return cmocka_run_group_tests_name("vmm/hibernate", tests, NULL, NULL);
}
