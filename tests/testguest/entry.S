/*
 * tests/testguest/entry.S - the test guest's CPL0 part, kept tiny because
 * CPL0 code is emulated (~1 us/instruction) on KVM-PVM hosts: load our GDT,
 * TSS (whose I/O bitmap lets CPL3 use ports 0-0x7ff: KVM-PVM ignores IOPL,
 * which is 3 for the others)
 * and IDT, then iretq to tg_main at CPL3 with IF=1. Interrupt stubs, the AP trampoline and the AP's
 * 64-bit entry live here too.
 */
#define KCODE 0x08
#define KDATA 0x10
#define UDATA 0x1b /* 0x18 | RPL3 */
#define UCODE 0x23 /* 0x20 | RPL3 */
#define TSSSEL 0x28
#define MAILBOX 0x5000
#define MB_TICKS 8
#define MB_DEV_IRQS 16
#define MB_AP_STARTED 24
#define MB_AP_IDS 28
#define MB_AP_CPUID_IDS (28 + 64 * 4)
#define LAPIC 0xfee00000
#define DEBUG_EXIT 0xf4
#define TSS 0x6000 /* fixed, so its GDT descriptor is a constant */

    .section .text.entry, "ax"
    .code64
    .globl tg_entry
tg_entry:
    /* RSI = zero page from the VMM; keep it for tg_main. */
    mov %rsi, %r12
    lea kstack_top(%rip), %rsp
    lgdt gdtr(%rip)
    mov $KDATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    lea kstack_top(%rip), %rax
    mov %rax, TSS + 4          /* RSP0: stack for interrupts taken at CPL3 */
    movw $104, TSS + 0x66      /* I/O bitmap right after the TSS: ports 0-0x7ff allowed */
    movb $0xff, TSS + 104 + 256
    mov $TSSSEL, %ax
    ltr %ax
    lidt idtr(%rip)            /* entries are filled by tg_main at CPL3 */
    pushq $UDATA
    lea ustack_top(%rip), %rax
    push %rax
    /*
     * IF=1 from the start: KVM-PVM raises #GP for sti/cli at CPL3 whatever
     * IOPL says, and #UD for int n, so CPL3 cannot change IF later. No
     * interrupt source is programmed until a mode asks for one.
     * IOPL=3 as well as the I/O bitmap: KVM on AMD reports the TSS as busy
     * (type 11), and a forked vCPU restored with that TR fails QEMU TCG's
     * I/O bitmap check (it wants type 9), so in the nested L1 CPL3 port I/O
     * after a fork would #GP; with IOPL=3 no bitmap is consulted (KVM-PVM
     * ignores IOPL and still uses the bitmap). The guest never uses cli/sti
     * at CPL3, so IOPL grants nothing else it relies on.
     */
    pushq $0x3202
    pushq $UCODE
    lea tg_user_start(%rip), %rax
    push %rax
    iretq

tg_user_start:
    mov %r12, %rdi
    call tg_main
    /* tg_main never returns; if it does, fail loudly. */
    mov $3, %al
    out %al, $DEBUG_EXIT
1:  jmp 1b

/* ---- interrupt stubs (CPL0) ---- */
    .globl tg_isr_timer
tg_isr_timer:
    lock incq MAILBOX + MB_TICKS
    push %rax
    mov $(LAPIC + 0xb0), %eax /* zero-extended: the LAPIC is above 2 GiB */
    movl $0, (%rax) /* EOI */
    pop %rax
    iretq

    .globl tg_isr_dev
tg_isr_dev:
    lock incq MAILBOX + MB_DEV_IRQS
    push %rax
    mov $(LAPIC + 0xb0), %eax
    movl $0, (%rax) /* EOI */
    pop %rax
    iretq

    .globl tg_isr_spurious
tg_isr_spurious:
    iretq


/* Exceptions: report the vector through the debug exit port. */
.macro EXC n
    .globl tg_exc\n
tg_exc\n:
    /* For diagnosis: the two top stack words (error code / RIP) to port 0xf5. */
    mov (%rsp), %rax
    out %eax, $0xf5
    mov 8(%rsp), %rax
    out %eax, $0xf5
    mov $(0x40 + \n), %al
    out %al, $DEBUG_EXIT
    jmp .
.endm
    EXC 0
    EXC 1
    EXC 2
    EXC 3
    EXC 4
    EXC 5
    EXC 6
    EXC 7
    EXC 8
    EXC 9
    EXC 10
    EXC 11
    EXC 12
    EXC 13
    EXC 14
    EXC 15
    EXC 16
    EXC 17
    EXC 18
    EXC 19

/* ---- AP entry in 64-bit mode (from the trampoline) ---- */
    .globl tg_ap_entry64
tg_ap_entry64:
    mov $KDATA, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $1, %eax
    lock xadd %eax, MAILBOX + MB_AP_STARTED
    /* own stack: ap_stacks + (idx + 1) * 1024 */
    mov %eax, %ebx
    lea 1(%rbx), %rcx
    shl $10, %rcx
    lea ap_stacks(%rip), %rsp
    add %rcx, %rsp
    mov $(LAPIC + 0x20), %edx
    mov (%rdx), %edx
    shr $24, %edx
    mov %edx, MAILBOX + MB_AP_IDS(,%rbx,4)
    mov %rbx, %r8 /* cpuid clobbers rbx */
    mov $1, %eax
    cpuid
    shr $24, %ebx
    mov %ebx, MAILBOX + MB_AP_CPUID_IDS(,%r8,4)
1:  cli
    hlt
    jmp 1b

/* ---- AP trampoline: copied to 0x1000, entered in real mode by SIPI ---- */
    .globl tg_tramp_start, tg_tramp_end
    .code16
tg_tramp_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    lgdtl tramp_gdtr - tg_tramp_start
    mov %cr4, %eax
    or $0x20, %eax          /* PAE */
    mov %eax, %cr4
    mov $0x9000, %eax       /* the VMM's identity-mapped PML4 */
    mov %eax, %cr3
    mov $0xc0000080, %ecx   /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax    /* PG | PE */
    mov %eax, %cr0
    ljmpl $0x08, $tg_ap_entry64
    .p2align 3
tramp_gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff /* 0x10: data */
tramp_gdtr:
    .word 23
    .long 0x1000 + (tramp_gdt - tg_tramp_start)
tg_tramp_end:
    .code64

    .data
    .p2align 4
gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08 kernel code64 */
    .quad 0x00cf92000000ffff /* 0x10 kernel data */
    .quad 0x00cff2000000ffff /* 0x18 user data */
    .quad 0x00affa000000ffff /* 0x20 user code64 */
    .quad 0x0000890060000168 /* 0x28 TSS at 0x6000, limit 104 + 256 (I/O bitmap) */
    .quad 0
gdt_end:
gdtr:
    .word gdt_end - gdt - 1
    .quad gdt
idtr:
    .word 256 * 16 - 1
    .quad tg_idt

    .bss
    .p2align 12
    .globl tg_idt
tg_idt:
    .skip 256 * 16
    .skip 8192
kstack_top:
    .skip 16384
ustack_top:
ap_stacks:
    .skip 64 * 1024
