/*
 * tests/testguest/cpu.c - the test guest's privileged operations from CPL3
 * (see cpu.h). The #UD handler is CPL0 code, which KVM-PVM emulates at
 * ~1 us an instruction, so it stays a handful of instructions.
 */
#include <stdint.h>

#include "tests/testguest/abi.h"
#include "tests/testguest/cpu.h"

#define PRIV_MAGIC 0x57525542u

void tg_priv_ud(void);
extern void tg_exc6(void);

/*
 * r10 = op, r11 = magic, eax/edx = value, ecx = MSR/XCR. Op 5 sleeps only
 * while the device-interrupt count in the mailbox still equals eax: the
 * check runs with IF=0 and the sti shadow covers hlt, so an interrupt that
 * arrived after the caller's last look is never slept through.
 */
__asm__(".text\n"
        ".globl tg_priv_ud\n"
        "tg_priv_ud:\n"
        "  cmp $0x57525542, %r11d\n"
        "  jne tg_exc6\n"
        "  cmp $1, %r10\n"
        "  jne 1f\n"
        "  wrmsr\n"
        "  jmp 9f\n"
        "1: cmp $2, %r10\n"
        "  jne 2f\n"
        "  mov %cr4, %r9\n"
        "  or %rax, %r9\n"
        "  mov %r9, %cr4\n"
        "  jmp 9f\n"
        "2: cmp $3, %r10\n"
        "  jne 3f\n"
        "  xsetbv\n"
        "  jmp 9f\n"
        "3: cmp $5, %r10\n"
        "  jne 4f\n"
        "  cmpl 0x5010, %eax\n" /* TG_MAILBOX + offsetof(dev_irqs) */
        "  jne 9f\n"
        "4: sti\n"
        "  hlt\n"
        "  cli\n"
        "9: addq $2, (%rsp)\n"
        "  iretq\n");

_Static_assert(TG_MAILBOX + 16 == 0x5010, "dev_irqs address in tg_priv_ud");

void tg_priv_install(void)
{
    tg_idt_set(6, tg_priv_ud);
}

void tg_priv(enum tg_priv_op op, uint32_t ecx, uint64_t val)
{
    register uint64_t r10 __asm__("r10") = op;
    register uint64_t r11 __asm__("r11") = PRIV_MAGIC;
    /* r11 is cleared after the call, so that a genuine #UD later (an
     * instruction the vCPU lacks) never finds the magic left over and is
     * reported as exception 6 instead of running a stale operation. */
    __asm__ volatile("ud2\n\txor %%r11d, %%r11d"
                     : "+r"(r11)
                     : "a"((uint32_t)val), "d"((uint32_t)(val >> 32)), "c"(ecx), "r"(r10)
                     : "r9", "memory");
}
