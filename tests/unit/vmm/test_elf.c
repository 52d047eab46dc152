/*
 * tests/unit/vmm/test_elf.c - the ELF loader: a well-formed 64-bit image
 * loads at its physical addresses, a PVH note wins over e_entry, and
 * truncated or mutated images are refused before guest memory is touched.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "vmm/x86/elf.h"

#define RAM (8u << 20)
static uint8_t *ram;
static struct gmem mem;
static uint8_t img[4096];

static void put16(size_t off, uint16_t v)
{
    memcpy(img + off, &v, 2);
}
static void put32(size_t off, uint32_t v)
{
    memcpy(img + off, &v, 4);
}
static void put64(size_t off, uint64_t v)
{
    memcpy(img + off, &v, 8);
}

/* ELF header, PT_LOAD (file 0x200..0x400 -> paddr 0x200000, memsz 0x1000), optional PT_NOTE. */
static size_t make_elf(int with_pvh)
{
    memset(img, 0, sizeof(img));
    memcpy(img, "\177ELF", 4);
    img[4] = 2, img[5] = 1, img[6] = 1;
    put16(16, 2);  /* ET_EXEC */
    put16(18, 62); /* x86-64 */
    put32(20, 1);
    put64(24, 0x200010); /* entry */
    put64(32, 64);       /* phoff */
    put16(52, 64);
    put16(54, 56);
    put16(56, with_pvh ? 2 : 1);
    size_t ph = 64;
    put32(ph, 1); /* PT_LOAD */
    put64(ph + 8, 0x200);
    put64(ph + 16, 0x200000);
    put64(ph + 24, 0x200000);
    put64(ph + 32, 0x200);
    put64(ph + 40, 0x1000);
    memset(img + 0x200, 0xab, 0x200);
    if (with_pvh) {
        ph += 56;
        put32(ph, 4); /* PT_NOTE at 0x400 */
        put64(ph + 8, 0x400);
        put64(ph + 32, 20);
        put32(0x400, 4);  /* namesz */
        put32(0x404, 4);  /* descsz */
        put32(0x408, 18); /* XEN_ELFNOTE_PHYS32_ENTRY */
        memcpy(img + 0x40c, "Xen", 4);
        put32(0x410, 0x200100);
    }
    return 0x414; /* the note ends the file */
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

static void test_load_64(void **state)
{
    (void)state;
    struct boot_image bi;
    const char *why = NULL;
    size_t len = make_elf(0);
    memset(ram + 0x200000, 0x11, 0x1000);
    assert_int_equal(elf_load(&mem, img, len, &bi, &why), 0);
    assert_int_equal(bi.kind, BOOT_ENTRY_64);
    assert_int_equal(bi.entry, 0x200010);
    assert_int_equal(ram[0x200000], 0xab);
    assert_int_equal(ram[0x2001ff], 0xab);
    assert_int_equal(ram[0x200200], 0); /* bss zeroed */
    assert_int_equal(bi.load_end, 0x201000);
}

static void test_load_pvh(void **state)
{
    (void)state;
    struct boot_image bi;
    const char *why = NULL;
    size_t len = make_elf(1);
    assert_int_equal(elf_load(&mem, img, len, &bi, &why), 0);
    assert_int_equal(bi.kind, BOOT_ENTRY_PVH);
    assert_int_equal(bi.entry, 0x200100);
}

static void reject(size_t len)
{
    struct boot_image bi;
    const char *why = NULL;
    memset(ram + 0x200000, 0x11, 16);
    assert_true(elf_load(&mem, img, len, &bi, &why) < 0);
    assert_non_null(why);
    assert_int_equal(ram[0x200000], 0x11); /* untouched */
}

static void test_truncated(void **state)
{
    (void)state;
    size_t len = make_elf(1);
    for (size_t cut = 0; cut < len; cut += 7)
        reject(cut);
}

static void test_mutated(void **state)
{
    (void)state;
    make_elf(0);
    img[4] = 1; /* ELF32 */
    reject(0x420);
    make_elf(0);
    put16(18, 3); /* i386 */
    reject(0x420);
    make_elf(0);
    put16(56, 1000); /* phnum */
    reject(0x420);
    make_elf(0);
    put64(64 + 24, 0x1000); /* below 1 MiB */
    reject(0x420);
    make_elf(0);
    put64(64 + 24, RAM - 0x10); /* past the end of RAM */
    reject(0x420);
    make_elf(0);
    put64(64 + 24, UINT64_MAX - 0x10); /* paddr + memsz wraps */
    reject(0x420);
    make_elf(0);
    put64(64 + 32, 0x2000); /* filesz > memsz */
    reject(0x420);
    make_elf(0);
    put64(24, 0x900000); /* entry outside every segment */
    reject(0x420);
    make_elf(1);
    put32(0x404, 0xfffffff0); /* note descsz past the segment */
    reject(0x420);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_64),
        cmocka_unit_test(test_load_pvh),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_mutated),
    };
    return cmocka_run_group_tests_name("vmm/elf", tests, setup, teardown);
}
