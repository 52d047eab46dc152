/*
 * tests/testguest/cpu.h - CPU helpers every test-guest mode may use at CPL3:
 * port I/O (allowed by the TSS I/O bitmap), the TSC, fences, IDT entries,
 * and the few privileged operations that go through our #UD handler
 * (tg_priv, cpu.c): CPL3 code executes ud2 with a magic in r11.
 */
#ifndef BURROW_TESTS_TESTGUEST_CPU_H
#define BURROW_TESTS_TESTGUEST_CPU_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline void barrier(void)
{
    __asm__ volatile("mfence" ::: "memory");
}

/* An interrupt gate (CPL0, selector 0x08) for vector vec (main.c). */
void tg_idt_set(unsigned vec, void (*fn)(void));

/* Privileged operations (cpu.c); tg_priv_install() puts the handler on #UD. */
enum tg_priv_op {
    TG_PRIV_WRMSR = 1,     /* ecx = MSR, val = value */
    TG_PRIV_CR4_OR = 2,    /* CR4 |= val */
    TG_PRIV_XSETBV = 3,    /* ecx = XCR, val = value */
    TG_PRIV_IDLE = 4,      /* sti; hlt: until any interrupt */
    TG_PRIV_IDLE_IRQS = 5, /* sti; hlt, unless the mailbox's dev_irqs moved past val */
};
void tg_priv_install(void);
void tg_priv(enum tg_priv_op op, uint32_t ecx, uint64_t val);

#endif /* BURROW_TESTS_TESTGUEST_CPU_H */
