/*
 * tests/testguest/console.h - the test guest's COM1 output, shared by every
 * mode (defined in main.c). Polled writes to the UART's data port.
 */
#ifndef BURROW_TESTS_TESTGUEST_CONSOLE_H
#define BURROW_TESTS_TESTGUEST_CONSOLE_H

#include <stdint.h>

#define TG_COM1 0x3f8

void tg_puts(const char *s);
void tg_putu(uint64_t v); /* decimal */

#endif /* BURROW_TESTS_TESTGUEST_CONSOLE_H */
