/*
 * tests/unit/vmm/test_bzimage.c - the bzImage loader takes a well-formed
 * image and rejects truncated and mutated ones without touching memory.
 * If BURROW_TEST_BZIMAGE names a real kernel (e.g. Debian's cloud vmlinuz),
 * it is loaded too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/x86/bzimage.h"

#define RAM (64u << 20)
static uint8_t *ram;
static struct gmem mem;
static uint8_t img[8192];

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* A minimal valid image: 4 setup sectors + a 3 KiB "kernel". */
static void make_image(void)
{
    memset(img, 0, sizeof(img));
    img[0x1f1] = 4;
    img[0x1fe] = 0x55, img[0x1ff] = 0xaa;
    img[0x201] = 0x66; /* jump length */
    memcpy(img + 0x202, "HdrS", 4);
    img[0x206] = 0x0f, img[0x207] = 0x02; /* 2.15 */
    img[0x211] = 0x01;                    /* LOADED_HIGH */
    put32(img + 0x22c, 0x7fffffff);       /* initrd_addr_max */
    put32(img + 0x230, 0x200000);         /* kernel_alignment */
    img[0x234] = 1;                       /* relocatable */
    img[0x236] = 0x03;                    /* XLF_KERNEL_64 | above 4G */
    put32(img + 0x238, 2047);             /* cmdline_size */
    put32(img + 0x260, 0x100000);         /* init_size */
    memset(img + 5 * 512, 0xcc, sizeof(img) - 5 * 512);
}

static int setup(void **state)
{
    (void)state;
    ram = calloc(1, RAM);
    gmem_init(&mem);
    return gmem_add_region(&mem, 0, ram, RAM) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    free(ram);
    return 0;
}

static void test_valid(void **state)
{
    (void)state;
    struct boot_image bi;
    const char *why = NULL;
    make_image();
    assert_int_equal(bzimage_load(&mem, RAM, img, sizeof(img), &bi, &why), 0);
    assert_int_equal(bi.entry, BZIMAGE_LOAD_ADDR + 0x200);
    assert_int_equal(bi.cmdline_size, 2047);
    assert_int_equal(bi.load_end, BZIMAGE_LOAD_ADDR + 0x100000);
    assert_int_equal(ram[BZIMAGE_LOAD_ADDR], 0xcc);
    assert_int_equal(bi.have_setup_header, 1);
}

static void expect_reject(const uint8_t *p, size_t len, uint64_t ram_end)
{
    struct boot_image bi;
    const char *why = NULL;
    memset(ram + BZIMAGE_LOAD_ADDR, 0, 4096);
    int r = bzimage_load(&mem, ram_end, p, len, &bi, &why);
    assert_true(r < 0);
    assert_non_null(why);
    assert_int_equal(ram[BZIMAGE_LOAD_ADDR], 0); /* nothing written */
}

static void test_truncated(void **state)
{
    (void)state;
    make_image();
    static const size_t lens[] = {0, 1, 0x1f1, 0x202, 0x230, 0x263, 0x264, 5 * 512};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        expect_reject(img, lens[i], RAM);
}

static void mutate_and_reject(size_t off, uint8_t val)
{
    make_image();
    img[off] = val;
    expect_reject(img, sizeof(img), RAM);
}

static void test_mutated(void **state)
{
    (void)state;
    mutate_and_reject(0x1fe, 0);    /* boot flag */
    mutate_and_reject(0x202, 'X');  /* HdrS */
    mutate_and_reject(0x207, 0x01); /* protocol 1.x */
    mutate_and_reject(0x206, 0x09); /* 2.09 */
    mutate_and_reject(0x211, 0);    /* not loaded high */
    mutate_and_reject(0x236, 0);    /* no 64-bit entry */
    mutate_and_reject(0x231, 0x30); /* alignment not a power of two */
    mutate_and_reject(0x1f1, 0x40); /* setup runs past the end of the file */
    make_image();
    put32(img + 0x238, 0); /* cmdline_size 0 */
    expect_reject(img, sizeof(img), RAM);
    make_image();
    put32(img + 0x260, 0xf0000000u); /* init_size larger than RAM */
    expect_reject(img, sizeof(img), RAM);
    make_image();
    expect_reject(img, sizeof(img), BZIMAGE_LOAD_ADDR + 4096); /* RAM too small */
}

static void test_real_kernel(void **state)
{
    (void)state;
    const char *path = getenv("BURROW_TEST_BZIMAGE");
    if (!path || !*path) {
        print_message("BURROW_TEST_BZIMAGE not set: real-kernel case not run\n");
        return;
    }
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t k[64 << 20];
    size_t n = fread(k, 1, sizeof(k), f);
    fclose(f);
    struct boot_image bi;
    const char *why = NULL;
    uint8_t *big = calloc(1, 512u << 20);
    struct gmem m2;
    gmem_init(&m2);
    assert_int_equal(gmem_add_region(&m2, 0, big, 512u << 20), 0);
    int r = bzimage_load(&m2, 512u << 20, k, n, &bi, &why);
    if (r)
        print_message("rejected: %s\n", why);
    assert_int_equal(r, 0);
    assert_true(bi.cmdline_size >= 2047);
    for (size_t cut = 0; cut < n; cut += n / 7 + 1) /* truncations are refused */
        assert_true(cut > (size_t)(k[0x1f1] + 1) * 512 ||
                    bzimage_load(&m2, 512u << 20, k, cut, &bi, &why) < 0);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_mutated),
        cmocka_unit_test(test_real_kernel),
    };
    return cmocka_run_group_tests_name("vmm/bzimage", tests, setup, teardown);
}
