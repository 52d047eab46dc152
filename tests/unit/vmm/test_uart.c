/*
 * tests/unit/vmm/test_uart.c - the 16550 UART's output limit
 * (uart_limit_output): a guest writing THR past the limit leaves the host
 * file at the limit plus one notice line, and keeps running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/bus.h"
#include "vmm/hw/uart16550.h"
#include "vmm/vm.h"

#define PORT 0x3f8

static size_t file_size(FILE *f)
{
    fflush(f);
    long n = lseek(fileno(f), 0, SEEK_END);
    return n < 0 ? 0 : (size_t)n;
}

static void guest_puts(struct vm *vm, const char *s, unsigned times)
{
    for (unsigned t = 0; t < times; t++)
        for (const char *p = s; *p; p++) {
            uint8_t c = (uint8_t)*p;
            assert_int_equal(bus_dispatch(&vm->bus, BUS_PIO, PORT, &c, 1, 1), 0);
        }
}

static void test_output_limit(void **state)
{
    (void)state;
    static struct vm vm; /* only its bus: no irq is raised with IER 0 */
    static struct uart16550 u;
    FILE *f = tmpfile();
    assert_non_null(f);
    bus_init(&vm.bus);
    assert_int_equal(uart_init(&u, &vm, PORT, 4, -1, fileno(f)), 0);
    guest_puts(&vm, "0123456789", 3); /* no limit yet */
    assert_int_equal(file_size(f), 30);
    uart_limit_output(&u, 35);
    guest_puts(&vm, "abcdefghij", 100); /* 1000 more bytes from the guest */
    size_t n = file_size(f);
    char buf[256] = "";
    assert_true(n > 35 && n < sizeof(buf));
    assert_int_equal(pread(fileno(f), buf, n, 0), (ssize_t)n);
    assert_memory_equal(buf, "012345678901234567890123456789abcde", 35);
    assert_non_null(strstr(buf + 35, "console output stopped here"));
    /* The guest still sees an empty transmitter: it is not stalled. */
    uint8_t lsr = 0;
    assert_int_equal(bus_dispatch(&vm.bus, BUS_PIO, PORT + 5, &lsr, 1, 0), 0);
    assert_true(lsr & 0x20);
    bus_fini(&vm.bus);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_output_limit),
    };
    return cmocka_run_group_tests_name("vmm/uart", tests, NULL, NULL);
}
