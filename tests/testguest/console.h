/*
 * tests/testguest/console.h - the test guest's COM1 output, shared by every
 * mode (defined in main.c). Polled writes to the UART's data port; also
 * the command-line lookup and the failure exit every mode uses.
 */
#ifndef BURROW_TESTS_TESTGUEST_CONSOLE_H
#define BURROW_TESTS_TESTGUEST_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#define TG_COM1 0x3f8

void tg_puts(const char *s);
void tg_putu(uint64_t v); /* decimal */
void tg_puthex(const void *p, unsigned n);
/* The value of key=... on the kernel command line, copied to out; 0 if absent (main.c). */
int tg_cmdline_get(const char *cl, const char *key, char *out, size_t outsz);
/* Print "testguest: FAIL why" and leave through the debug exit port (status 3). */
void tg_fail(const char *why) __attribute__((noreturn));

#endif /* BURROW_TESTS_TESTGUEST_CONSOLE_H */
