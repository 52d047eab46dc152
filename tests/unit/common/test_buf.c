/* tests/unit/common/test_buf.c - bounds checks of the buffer accessors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"

static void test_roundtrip_integers(void **state)
{
    (void)state;
    uint8_t mem[64];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(buf_put_u8(&b, 0xab), 0);
    assert_int_equal(buf_put_u16_le(&b, 0x1234), 0);
    assert_int_equal(buf_put_u32_be(&b, 0xdeadbeef), 0);
    assert_int_equal(buf_put_u64_le(&b, 0x0102030405060708ull), 0);
    assert_int_equal(buf_used(&b), 15);
    assert_int_equal(mem[1], 0x34);
    assert_int_equal(mem[3], 0xde);

    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    assert_int_equal(buf_get_u8(&b, &u8), 0);
    assert_int_equal(buf_get_u16_le(&b, &u16), 0);
    assert_int_equal(buf_get_u32_be(&b, &u32), 0);
    assert_int_equal(buf_get_u64_le(&b, &u64), 0);
    assert_int_equal(u8, 0xab);
    assert_int_equal(u16, 0x1234);
    assert_int_equal(u32, 0xdeadbeef);
    assert_true(u64 == 0x0102030405060708ull);
    assert_int_equal(buf_get_end(&b), 0);
    assert_int_equal(buf_get_u8(&b, &u8), BURROW_ERR_TRUNCATED);
}

static void test_fixed_writer_refuses_overflow(void **state)
{
    (void)state;
    uint8_t mem[4];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(buf_put_u32_le(&b, 1), 0);
    assert_int_equal(buf_put_u8(&b, 1), BURROW_ERR_TOO_LARGE);
    assert_int_equal(buf_used(&b), 4);
}

static void test_reader_is_readonly(void **state)
{
    (void)state;
    const uint8_t data[2] = {1, 2};
    struct buf b;
    buf_init_reader(&b, data, sizeof(data));
    assert_int_equal(buf_put_u8(&b, 3), BURROW_ERR_INVALID);
    assert_int_equal(buf_get_end(&b), BURROW_ERR_TRAILING);
}

static void test_cstring_rules(void **state)
{
    (void)state;
    uint8_t mem[64];
    char out[8];
    size_t n;
    struct buf b;

    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(buf_put_cstring(&b, "hello"), 0);
    assert_int_equal(buf_get_cstring(&b, out, sizeof(out), &n), 0);
    assert_string_equal(out, "hello");
    assert_int_equal(n, 5);

    /* embedded NUL refused, offset unchanged */
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(buf_put_string(&b, "a\0b", 3), 0);
    assert_int_equal(buf_get_cstring(&b, out, sizeof(out), NULL), BURROW_ERR_FORMAT);
    assert_int_equal(buf_len(&b), 7);

    /* longer than the output allows */
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(buf_put_cstring(&b, "abcdefgh"), 0);
    assert_int_equal(buf_get_cstring(&b, out, sizeof(out), NULL), BURROW_ERR_TOO_LARGE);

    /* length prefix larger than the data */
    const uint8_t lie[] = {0xff, 0xff, 0xff, 0x7f, 'x'};
    struct buf r;
    buf_init_reader(&r, lie, sizeof(lie));
    const uint8_t *p;
    assert_int_equal(buf_get_string_ptr(&r, &p, &n, SIZE_MAX), BURROW_ERR_TRUNCATED);
    assert_int_equal(buf_len(&r), sizeof(lie));
}

static void test_heap_buffer_grows_to_max(void **state)
{
    (void)state;
    struct buf *b = buf_new(1000);
    assert_non_null(b);
    uint8_t chunk[100] = {0};
    for (int i = 0; i < 10; i++)
        assert_int_equal(buf_put_bytes(b, chunk, sizeof(chunk)), 0);
    assert_int_equal(buf_put_u8(b, 1), BURROW_ERR_TOO_LARGE);
    assert_int_equal(buf_used(b), 1000);
    buf_free(b);
}

static void test_poke_and_compact(void **state)
{
    (void)state;
    uint8_t mem[16];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    assert_int_equal(buf_put_u32_le(&b, 0), 0);
    assert_int_equal(buf_put_u32_le(&b, 7), 0);
    assert_int_equal(buf_poke_u32_le(&b, 0, 99), 0);
    assert_int_equal(buf_poke_u32_le(&b, 5, 1), BURROW_ERR_RANGE);
    uint32_t v;
    assert_int_equal(buf_get_u32_le(&b, &v), 0);
    assert_int_equal(v, 99);
    buf_compact(&b);
    assert_int_equal(buf_used(&b), 4);
    assert_int_equal(buf_peek_u32_le(&b, &v), 0);
    assert_int_equal(v, 7);
}

static void test_strerror_total(void **state)
{
    (void)state;
    for (int e = 0; e > BURROW_ERR_MAX_; e--)
        assert_non_null(burrow_strerror(e));
    assert_string_equal(burrow_strerror(-1000), "unknown error");
    assert_string_equal(burrow_strerror(BURROW_ERR_TRUNCATED), "input truncated");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_integers),
        cmocka_unit_test(test_fixed_writer_refuses_overflow),
        cmocka_unit_test(test_reader_is_readonly),
        cmocka_unit_test(test_cstring_rules),
        cmocka_unit_test(test_heap_buffer_grows_to_max),
        cmocka_unit_test(test_poke_and_compact),
        cmocka_unit_test(test_strerror_total),
    };
    return cmocka_run_group_tests_name("common/buf", tests, NULL, NULL);
}
