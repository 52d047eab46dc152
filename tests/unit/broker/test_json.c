/*
 * tests/unit/broker/test_json.c - the JSON writer: commas and nesting,
 * escapes, UTF-8 passed through and invalid bytes replaced (any input gives
 * valid JSON), clipping, overflow never yields a truncated text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/json.h"

static void test_object_and_array(void **state)
{
    char buf[256];
    struct json j;
    (void)state;
    json_init(&j, buf, sizeof(buf));
    json_obj_begin(&j);
    json_kv_str(&j, "a", "x");
    json_kv_u64(&j, "n", 18446744073709551615ull);
    json_kv_i64(&j, "neg", -5);
    json_kv_bool(&j, "t", 1);
    json_key(&j, "list");
    json_arr_begin(&j);
    json_u64(&j, 1);
    json_null(&j);
    json_obj_begin(&j);
    json_obj_end(&j);
    json_arr_end(&j);
    json_obj_end(&j);
    assert_string_equal(json_text(&j),
                        "{\"a\":\"x\",\"n\":18446744073709551615,\"neg\":-5,\"t\":true,"
                        "\"list\":[1,null,{}]}");
}

static void test_escapes_and_utf8(void **state)
{
    char buf[256];
    struct json j;
    (void)state;
    json_init(&j, buf, sizeof(buf));
    json_obj_begin(&j);
    /* quote, backslash, newline, tab, DEL; é (valid UTF-8) kept; 0xff, a lone
     * continuation byte, an overlong '/' and a surrogate are replaced */
    json_kv_str(&j, "s", "q\"b\\n\nt\t\x7f h\xc3\xa9 \xff \x80 \xc0\xaf \xed\xa0\x80");
    json_obj_end(&j);
    assert_string_equal(json_text(&j), "{\"s\":\"q\\\"b\\\\n\\u000at\\u0009\\u007f h\xc3\xa9 "
                                       "\\ufffd \\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd\"}");
}

static void test_clip_and_overflow(void **state)
{
    char buf[32], small[8];
    struct json j;
    (void)state;
    json_init(&j, buf, sizeof(buf));
    json_strn(&j, "abcdef", 3);
    assert_string_equal(json_text(&j), "\"abc\"");
    json_init(&j, small, sizeof(small));
    json_obj_begin(&j);
    json_kv_str(&j, "long", "value that does not fit");
    json_obj_end(&j);
    assert_null(json_text(&j)); /* never half a document */
    json_init(&j, buf, sizeof(buf));
    json_obj_begin(&j);
    assert_null(json_text(&j)); /* unclosed */
}

static void test_fput(void **state)
{
    char *text = NULL;
    size_t len = 0;
    (void)state;
    FILE *f = open_memstream(&text, &len);
    json_fput_str(f, "a\"b\x01");
    fclose(f);
    assert_string_equal(text, "\"a\\\"b\\u0001\"");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_and_array),
        cmocka_unit_test(test_escapes_and_utf8),
        cmocka_unit_test(test_clip_and_overflow),
        cmocka_unit_test(test_fput),
    };
    return cmocka_run_group_tests_name("broker/json", tests, NULL, NULL);
}
