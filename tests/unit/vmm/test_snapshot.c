/*
 * tests/unit/vmm/test_snapshot.c - the snapshot container: round trip, and
 * every corrupt, truncated, foreign-version or malformed file refused with
 * the right error (never a crash); the VM section's checks; template and
 * build names; manifest lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/err.h"
#include "vmm/snapshot.h"
#include "vmm/template.h"

/* A valid file with three sections; caller frees *out. */
static size_t make_file(uint8_t **out)
{
    struct snap_writer w;
    assert_int_equal(snap_writer_init(&w), 0);
    assert_int_equal(snap_add(&w, 7, "hello", 5), 0);
    assert_int_equal(snap_section_begin(&w, 9), 0);
    assert_int_equal(buf_put_u32_le(w.out, 0xdeadbeef), 0);
    assert_int_equal(snap_section_end(&w), 0);
    assert_int_equal(snap_add(&w, 11, "", 0), 0);
    assert_int_equal(snap_finish(&w), 0);
    size_t len = buf_used(w.out);
    *out = malloc(len);
    memcpy(*out, buf_data(w.out), len);
    snap_writer_free(&w);
    return len;
}

/* Re-seal a hand-edited file so only the edit itself is judged. */
static void reseal(uint8_t *p, size_t len)
{
    crypto_generichash(p + len - SNAP_HASH_LEN, SNAP_HASH_LEN, p, len - SNAP_HASH_LEN, NULL, 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    uint8_t *f;
    size_t len = make_file(&f);
    struct snapshot *s = malloc(sizeof(*s));
    assert_int_equal(snap_parse(f, len, s), 0);
    assert_int_equal(s->nr, 3);
    assert_int_equal(s->major, SNAP_MAJOR);
    struct buf in;
    assert_int_equal(snap_find(s, 7, &in), 0);
    assert_int_equal(buf_len(&in), 5);
    assert_memory_equal(buf_ptr(&in), "hello", 5);
    uint32_t v;
    assert_int_equal(snap_find(s, 9, &in), 0);
    assert_int_equal(buf_get_u32_le(&in, &v), 0);
    assert_int_equal(v, 0xdeadbeef);
    assert_int_equal(snap_find(s, 11, &in), 0);
    assert_int_equal(buf_len(&in), 0);
    assert_int_equal(snap_find(s, 8, &in), BURROW_ERR_NOT_FOUND);
    free(s);
    free(f);
}

static void test_every_flip_refused(void **state)
{
    (void)state;
    uint8_t *f;
    size_t len = make_file(&f);
    struct snapshot *s = malloc(sizeof(*s));
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            f[i] ^= (uint8_t)(1u << bit);
            int r = snap_parse(f, len, s);
            assert_true(r == BURROW_ERR_CHECKSUM || r == BURROW_ERR_FORMAT ||
                        r == BURROW_ERR_VERSION);
            f[i] ^= (uint8_t)(1u << bit);
        }
    }
    assert_int_equal(snap_parse(f, len, s), 0);
    free(s);
    free(f);
}

static void test_every_truncation_refused(void **state)
{
    (void)state;
    uint8_t *f;
    size_t len = make_file(&f);
    struct snapshot *s = malloc(sizeof(*s));
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(snap_parse(f, n, s), 0);
    free(s);
    free(f);
}

static void test_versions(void **state)
{
    (void)state;
    uint8_t *f;
    size_t len = make_file(&f);
    struct snapshot *s = malloc(sizeof(*s));
    f[8] = SNAP_MAJOR + 1; /* another major */
    reseal(f, len);
    assert_int_equal(snap_parse(f, len, s), BURROW_ERR_VERSION);
    f[8] = SNAP_MAJOR;
    f[10] = SNAP_MINOR + 1; /* a newer minor */
    reseal(f, len);
    assert_int_equal(snap_parse(f, len, s), BURROW_ERR_VERSION);
    f[10] = SNAP_MINOR;
    reseal(f, len);
    assert_int_equal(snap_parse(f, len, s), 0);
    memcpy(f, "ELF\0\0\0\0\0", 8);
    assert_int_equal(snap_parse(f, len, s), BURROW_ERR_FORMAT);
    free(s);
    free(f);
}

static void test_structure_checks(void **state)
{
    (void)state;
    uint8_t *f;
    size_t len = make_file(&f);
    struct snapshot *s = malloc(sizeof(*s));
    /* Second section (id 9 at offset 16 + 8 + 5) renamed to 7: duplicate. */
    size_t sec2 = SNAP_HDR_LEN + 8 + 5;
    f[sec2] = 7;
    reseal(f, len);
    assert_int_equal(snap_parse(f, len, s), BURROW_ERR_FORMAT);
    f[sec2] = 9;
    /* Its length past the end. */
    f[sec2 + 4] = 0xff;
    reseal(f, len);
    assert_int_equal(snap_parse(f, len, s), BURROW_ERR_TRUNCATED);
    f[sec2 + 4] = 4;
    /* Too many sections announced. */
    f[12] = 0xff;
    f[13] = 0xff;
    reseal(f, len);
    assert_int_equal(snap_parse(f, len, s), BURROW_ERR_TOO_LARGE);
    /* Fewer announced than present: trailing bytes. */
    f[12] = 2;
    f[13] = 0;
    reseal(f, len);
    assert_int_equal(snap_parse(f, len, s), BURROW_ERR_TRAILING);
    /* A file over the cap is refused before anything is read. */
    assert_int_equal(snap_parse(f, (size_t)SNAP_FILE_MAX + 1, s), BURROW_ERR_TOO_LARGE);
    free(s);
    free(f);
}

/* A VM section by hand: magic, mem, vcpus, regions, slots. */
static size_t vm_file(uint8_t **out, uint64_t mem, uint32_t vcpus, uint32_t nreg,
                      const uint64_t *reg, int with_vcpus)
{
    struct snap_writer w;
    assert_int_equal(snap_writer_init(&w), 0);
    assert_int_equal(snap_section_begin(&w, SNAP_SEC_VM), 0);
    assert_int_equal(buf_put_u32_le(w.out, 0x4d564e53u), 0);
    assert_int_equal(buf_put_u64_le(w.out, mem), 0);
    assert_int_equal(buf_put_u32_le(w.out, vcpus), 0);
    assert_int_equal(buf_put_u32_le(w.out, nreg), 0);
    for (uint32_t i = 0; i < 2 * nreg; i++)
        assert_int_equal(buf_put_u64_le(w.out, reg[i]), 0);
    assert_int_equal(buf_put_u32_le(w.out, 0), 0); /* no virtio slots */
    assert_int_equal(snap_section_end(&w), 0);
    for (uint32_t i = 0; with_vcpus && i < vcpus; i++)
        assert_int_equal(snap_add(&w, SNAP_SEC_VCPU0 + i, "x", 1), 0);
    assert_int_equal(snap_finish(&w), 0);
    size_t len = buf_used(w.out);
    *out = malloc(len);
    memcpy(*out, buf_data(w.out), len);
    snap_writer_free(&w);
    return len;
}

static void test_vm_section(void **state)
{
    (void)state;
    struct snapshot *s = malloc(sizeof(*s));
    struct snap_vm_info info;
    uint8_t *f;
    const uint64_t ok[] = {0, 64ull << 20};
    size_t len = vm_file(&f, 64ull << 20, 2, 1, ok, 1);
    assert_int_equal(snap_parse(f, len, s), 0);
    assert_int_equal(snap_vm_info(s, &info), 0);
    assert_int_equal(info.mem_size, 64ull << 20);
    assert_int_equal(info.nr_vcpus, 2);
    free(f);
    /* A layout vm_create would not make. */
    const uint64_t moved[] = {0x1000, 64ull << 20};
    len = vm_file(&f, 64ull << 20, 2, 1, moved, 1);
    assert_int_equal(snap_parse(f, len, s), 0);
    assert_int_equal(snap_vm_info(s, &info), BURROW_ERR_FORMAT);
    free(f);
    /* Bad sizes and counts. */
    len = vm_file(&f, (64ull << 20) + 4096, 2, 1, ok, 1);
    assert_int_equal(snap_parse(f, len, s), 0);
    assert_int_equal(snap_vm_info(s, &info), BURROW_ERR_RANGE);
    free(f);
    len = vm_file(&f, 64ull << 20, 0, 1, ok, 1);
    assert_int_equal(snap_parse(f, len, s), 0);
    assert_int_equal(snap_vm_info(s, &info), BURROW_ERR_RANGE);
    free(f);
    /* A vCPU without its section. */
    len = vm_file(&f, 64ull << 20, 2, 1, ok, 0);
    assert_int_equal(snap_parse(f, len, s), 0);
    assert_int_equal(snap_vm_info(s, &info), BURROW_ERR_NOT_FOUND);
    free(f);
    free(s);
}

static void test_vcpu_section_garbage(void **state)
{
    (void)state;
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37);
    struct buf in;
    uint64_t tsc;
    for (size_t n = 0; n <= sizeof(junk); n += 13) {
        buf_init_reader(&in, junk, n);
        assert_int_not_equal(snap_vcpu_tsc(in, &tsc), 0);
    }
    char why[128];
    buf_init_reader(&in, junk, sizeof(junk));
    assert_int_not_equal(snap_compare_vcpu(in, in, why, sizeof(why)), 0);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(template_name_ok("default"));
    assert_true(template_name_ok("tg-2.x"));
    assert_false(template_name_ok(""));
    assert_false(template_name_ok("-x"));
    assert_false(template_name_ok(".x"));
    assert_false(template_name_ok("a/b"));
    assert_false(template_name_ok("Upper"));
    assert_false(template_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 33 */
    size_t nl;
    assert_true(template_build_id_ok("tg-20261126T193510", &nl));
    assert_int_equal(nl, 2);
    assert_true(template_build_id_ok("my-tpl-20261126T193510.3", &nl));
    assert_int_equal(nl, 6);
    assert_false(template_build_id_ok("tg", NULL));
    assert_false(template_build_id_ok("tg-2026", NULL));
    assert_false(template_build_id_ok("../x-20261126T193510", NULL));
    assert_false(template_build_id_ok("tg-20261126X193510", NULL));
}

static void test_manifest_get(void **state)
{
    (void)state;
    const char *m = "# c\nname = tg\nvcpus = 2\nmemory_mib = 64\n";
    char v[8];
    assert_int_equal(template_manifest_get(m, "vcpus", v, sizeof(v)), 0);
    assert_string_equal(v, "2");
    assert_int_equal(template_manifest_get(m, "memory_mib", v, sizeof(v)), 0);
    assert_string_equal(v, "64");
    assert_int_equal(template_manifest_get(m, "mem", v, sizeof(v)), BURROW_ERR_NOT_FOUND);
    assert_int_equal(template_manifest_get(m, "name", v, 2), BURROW_ERR_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_flip_refused),
        cmocka_unit_test(test_every_truncation_refused),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_structure_checks),
        cmocka_unit_test(test_vm_section),
        cmocka_unit_test(test_vcpu_section_garbage),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_manifest_get),
    };
    return cmocka_run_group_tests_name("vmm/snapshot", tests, NULL, NULL);
}
