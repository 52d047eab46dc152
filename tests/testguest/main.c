/*
 * tests/testguest/main.c - the test guest's work, all at CPL3 (native speed
 * on KVM-PVM). Modes, from `testguest.mode=` on the command line:
 *   (none)/ok   print "testguest: ok", exit 0
 *   smp         start the APs (INIT/SIPI), print each AP's own APIC ID
 *   timer       take LAPIC timer interrupts, print the count
 *   spin        count forever in the mailbox (host pause/resume tests)
 *   echo        with a virtio-vsock device: echo server on vsock port 1024
 *               (vsock_mode.c); without: read a line from the UART, print it back
 *   blk         write a pattern to virtio-blk sectors, FLUSH, report, idle (dev_modes.c)
 *   rng         read two buffers from virtio-rng, print them in hex, exit 0
 *   highmem     write/read RAM above 4 GiB found in the e820 map
 *   irqfd       MMIO notify -> host ioeventfd -> irqfd -> IOAPIC interrupt, 10 rounds
 *   exit:N      exit with status N
 *   reset       i8042 reset; poweroff: ACPI S5; triple: triple fault
 *   agent       template guest for fork tests (agent_mode.c)
 */
#include <stddef.h>
#include <stdint.h>

#include "tests/testguest/abi.h"
#include "tests/testguest/console.h"
#include "tests/testguest/cpu.h"
#include "tests/testguest/virtio.h"

#define COM1            TG_COM1
#define DEBUG_EXIT      0xf4
#define LAPIC           0xfee00000ul
#define TIMER_VECTOR    0x20
#define SPURIOUS_VECTOR 0xff

void tg_main(const uint8_t *zero_page) __attribute__((noreturn));
extern uint8_t tg_idt[];
extern void tg_isr_timer(void), tg_isr_spurious(void), tg_isr_dev(void);
extern void tg_exc0(void), tg_exc1(void), tg_exc2(void), tg_exc3(void), tg_exc4(void),
    tg_exc5(void), tg_exc6(void), tg_exc7(void), tg_exc8(void), tg_exc9(void), tg_exc10(void),
    tg_exc11(void), tg_exc12(void), tg_exc13(void), tg_exc14(void), tg_exc15(void), tg_exc16(void),
    tg_exc17(void), tg_exc18(void), tg_exc19(void);
extern const uint8_t tg_tramp_start[], tg_tramp_end[];

void tg_agent_main(unsigned cpus, const char *cmdline) __attribute__((noreturn)); /* agent_mode.c */
void tg_vsock_main(const char *cmdline) __attribute__((noreturn));                /* vsock_mode.c */
void tg_blk_main(const char *cmdline) __attribute__((noreturn));                  /* dev_modes.c */
void tg_rng_main(void) __attribute__((noreturn));                                 /* dev_modes.c */

static struct tg_mailbox *const mb = (struct tg_mailbox *)TG_MAILBOX;
/* entry.S addresses these fields by offset (MB_*). */
_Static_assert(offsetof(struct tg_mailbox, ticks) == 8, "MB_TICKS");
_Static_assert(offsetof(struct tg_mailbox, dev_irqs) == 16, "MB_DEV_IRQS");
_Static_assert(offsetof(struct tg_mailbox, ap_started) == 24, "MB_AP_STARTED");
_Static_assert(offsetof(struct tg_mailbox, ap_apic_id) == 28, "MB_AP_IDS");
_Static_assert(offsetof(struct tg_mailbox, ap_cpuid_id) == 28 + 64 * 4, "MB_AP_CPUID_IDS");

static void lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC + reg) = v;
}

static uint32_t lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(LAPIC + reg);
}

void tg_puts(const char *s)
{
    while (*s)
        outb(COM1, (uint8_t)*s++);
}

void tg_putu(uint64_t v)
{
    char b[24];
    int i = 23;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    tg_puts(b + i);
}

void tg_puthex(const void *p, unsigned n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *b = p;
    for (unsigned i = 0; i < n; i++) {
        outb(COM1, (uint8_t)hex[b[i] >> 4]);
        outb(COM1, (uint8_t)hex[b[i] & 15]);
    }
}

static void __attribute__((noreturn)) guest_exit(uint8_t code)
{
    outb(DEBUG_EXIT, code);
    for (;;)
        ;
}

void tg_fail(const char *why)
{
    tg_puts("testguest: FAIL ");
    tg_puts(why);
    tg_puts("\n");
    guest_exit(TG_EXIT_FAIL);
}

void tg_idt_set(unsigned vec, void (*fn)(void))
{
    uint64_t a = (uint64_t)(uintptr_t)fn;
    uint8_t *e = tg_idt + vec * 16;
    /* 64-bit interrupt gate: offset, selector 0x08, type 0xE, present */
    uint64_t lo = (a & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((a >> 16 & 0xffff) << 48);
    uint64_t hi = a >> 32;
    __builtin_memcpy(e, &lo, 8);
    __builtin_memcpy(e + 8, &hi, 8);
}

static void idt_init(void)
{
    static void (*const exc[20])(void) = {tg_exc0,  tg_exc1,  tg_exc2,  tg_exc3,  tg_exc4,
                                          tg_exc5,  tg_exc6,  tg_exc7,  tg_exc8,  tg_exc9,
                                          tg_exc10, tg_exc11, tg_exc12, tg_exc13, tg_exc14,
                                          tg_exc15, tg_exc16, tg_exc17, tg_exc18, tg_exc19};
    for (unsigned i = 0; i < 20; i++)
        tg_idt_set(i, exc[i]);
    tg_idt_set(TIMER_VECTOR, tg_isr_timer);
    tg_idt_set(SPURIOUS_VECTOR, tg_isr_spurious);
    tg_idt_set(TG_DEV_VECTOR, tg_isr_dev);
}

/* ---- command line ---- */

static const char *cmdline_of(const uint8_t *zp)
{
    uint32_t p;
    __builtin_memcpy(&p, zp + 0x228, 4);
    return p ? (const char *)(uintptr_t)p : "";
}

int tg_cmdline_get(const char *cl, const char *key, char *out, size_t outsz)
{
    size_t kl = 0;
    while (key[kl])
        kl++;
    for (const char *p = cl; *p;) {
        while (*p == ' ')
            p++;
        size_t i = 0;
        while (i < kl && p[i] == key[i])
            i++;
        if (i == kl && p[i] == '=') {
            p += kl + 1;
            size_t n = 0;
            while (p[n] && p[n] != ' ' && n + 1 < outsz) {
                out[n] = p[n];
                n++;
            }
            out[n] = 0;
            return 1;
        }
        while (*p && *p != ' ')
            p++;
    }
    return 0;
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* ---- ACPI: count the processors in the MADT the VMM built ---- */

static unsigned madt_cpus(const uint8_t *zp)
{
    uint64_t rsdp;
    __builtin_memcpy(&rsdp, zp + 0x70, 8);
    if (!rsdp)
        tg_fail("no RSDP in the zero page");
    const uint8_t *r = (const uint8_t *)(uintptr_t)rsdp;
    uint64_t xsdt;
    __builtin_memcpy(&xsdt, r + 24, 8);
    const uint8_t *x = (const uint8_t *)(uintptr_t)xsdt;
    uint32_t xlen;
    __builtin_memcpy(&xlen, x + 4, 4);
    for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
        uint64_t t;
        __builtin_memcpy(&t, x + off, 8);
        const uint8_t *m = (const uint8_t *)(uintptr_t)t;
        if (m[0] != 'A' || m[1] != 'P' || m[2] != 'I' || m[3] != 'C')
            continue;
        uint32_t mlen;
        __builtin_memcpy(&mlen, m + 4, 4);
        unsigned n = 0;
        for (uint32_t e = 44; e + 2 <= mlen && m[e + 1] >= 2; e += m[e + 1])
            if (m[e] == 0 && (m[e + 4] & 1))
                n++;
        return n;
    }
    tg_fail("no MADT");
}

/* ---- modes ---- */

static void __attribute__((noreturn)) mode_smp(const uint8_t *zp)
{
    unsigned n = madt_cpus(zp);
    uint32_t a = 1, b, c = 0, dx;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(dx)); /* at CPL3: whose table? */
    tg_puts("testguest: cpus=");
    tg_putu(n);
    tg_puts(" bsp_apic_id=");
    tg_putu(lapic_read(0x20) >> 24);
    tg_puts(" cpl3_cpuid_apic_id=");
    tg_putu(b >> 24);
    tg_puts(" cpl3_cpuid_count=");
    tg_putu((b >> 16) & 0xff);
    tg_puts("\n");
    const uint8_t *s = tg_tramp_start;
    uint8_t *d = (uint8_t *)TG_TRAMPOLINE;
    while (s < tg_tramp_end)
        *d++ = *s++;
    lapic_write(0xf0, 0x100 | SPURIOUS_VECTOR); /* APIC software enable */
    lapic_write(0x300, 0x000c4500);             /* INIT to all but self */
    for (volatile int i = 0; i < 100000; i++)
        ;
    for (int k = 0; k < 2; k++) {
        lapic_write(0x300, 0x000c4600 | (TG_TRAMPOLINE >> 12)); /* SIPI */
        for (volatile int i = 0; i < 100000; i++)
            ;
    }
    uint64_t t0 = rdtsc();
    while (mb->ap_started < n - 1 && rdtsc() - t0 < 20000000000ull)
        ;
    for (volatile int i = 0; i < 1000000; i++) /* let the last AP store its ID */
        ;
    if (mb->ap_started != n - 1)
        tg_fail("not every AP started");
    for (unsigned i = 0; i < n - 1; i++) {
        tg_puts("testguest: ap apic_id=");
        tg_putu(mb->ap_apic_id[i]);
        tg_puts(" cpuid_apic_id=");
        tg_putu(mb->ap_cpuid_id[i]);
        tg_puts("\n");
    }
    tg_puts("testguest: ok\n");
    guest_exit(TG_EXIT_OK);
}

static void timer_start(void)
{
    lapic_write(0xf0, 0x100 | SPURIOUS_VECTOR);
    lapic_write(0x3e0, 0xb);                       /* divide by 1 */
    lapic_write(0x320, (1u << 17) | TIMER_VECTOR); /* periodic */
    lapic_write(0x380, 1000000);
}

static void __attribute__((noreturn)) mode_timer(void)
{
    timer_start();
    uint64_t t0 = rdtsc();
    while (mb->ticks < 10 && rdtsc() - t0 < 30000000000ull)
        ;
    lapic_write(0x320, 1u << 16); /* mask the timer */
    if (mb->ticks < 10)
        tg_fail("timer interrupts did not arrive");
    tg_puts("testguest: timer ticks=");
    tg_putu(mb->ticks);
    tg_puts("\ntestguest: ok\n");
    guest_exit(TG_EXIT_OK);
}

static void __attribute__((noreturn)) mode_spin(void)
{
    timer_start();
    tg_puts("testguest: spinning\n");
    for (;;) {
        mb->spin_count++;
        if ((mb->spin_count & 0xfff) == 0)
            outb(0x511, 0); /* an I/O exit now and then: pause must complete it */
    }
}

/* Read one line from the UART (polling LSR.DR) and print it back. */
static void __attribute__((noreturn)) mode_echo(void)
{
    char line[64];
    unsigned n = 0;
    uint64_t t0 = rdtsc();
    while (n + 1 < sizeof(line)) {
        if (!(inb(COM1 + 5) & 1)) {
            if (rdtsc() - t0 > 30000000000ull)
                tg_fail("no serial input");
            continue;
        }
        char c = (char)inb(COM1);
        if (c == '\n')
            break;
        line[n++] = c;
    }
    line[n] = 0;
    tg_puts("testguest: echo ");
    tg_puts(line);
    tg_puts("\n");
    guest_exit(TG_EXIT_OK);
}

/*
 * Device path of the virtio transport without a device: each round writes
 * slot 0's QueueNotify (the host's ioeventfd), and waits for the interrupt
 * the host sends back through an irqfd on GSI 16 (IOAPIC, edge).
 */
static void __attribute__((noreturn)) mode_irqfd(void)
{
    volatile uint32_t *ioregsel = (volatile uint32_t *)0xfec00000ul;
    volatile uint32_t *iowin = (volatile uint32_t *)0xfec00010ul;
    lapic_write(0xf0, 0x100 | SPURIOUS_VECTOR);
    *ioregsel = 0x10 + 2 * TG_DEV_GSI + 1;
    *iowin = 0; /* destination: APIC 0 */
    *ioregsel = 0x10 + 2 * TG_DEV_GSI;
    *iowin = TG_DEV_VECTOR; /* fixed, physical, active high, edge, unmasked */
    for (unsigned i = 1; i <= TG_DEV_ROUNDS; i++) {
        *(volatile uint32_t *)(uintptr_t)TG_DEV_NOTIFY = i;
        uint64_t t0 = rdtsc();
        while (mb->dev_irqs < i)
            if (rdtsc() - t0 > 30000000000ull)
                tg_fail("no interrupt back from the host");
    }
    tg_puts("testguest: irqfd rounds=");
    tg_putu(mb->dev_irqs);
    tg_puts("\ntestguest: ok\n");
    guest_exit(TG_EXIT_OK);
}

/*
 * RAM above 4 GiB (VMs larger than 3 GiB: the second memslot). The VMM's
 * identity map ends at 4 GiB, so map the e820 range's first GiB with a page
 * directory of our own (page tables are user-writable here; a new
 * translation needs no TLB flush), then write and read back both ends.
 */
static void __attribute__((noreturn)) mode_highmem(const uint8_t *zp)
{
    uint8_t n = zp[0x1e8];
    uint64_t base = 0, size = 0;
    for (unsigned i = 0; i < n && i < 128; i++) {
        uint64_t a, l;
        uint32_t t;
        __builtin_memcpy(&a, zp + 0x2d0 + 20 * i, 8);
        __builtin_memcpy(&l, zp + 0x2d0 + 20 * i + 8, 8);
        __builtin_memcpy(&t, zp + 0x2d0 + 20 * i + 16, 4);
        if (t == 1 && a >= (4ull << 30))
            base = a, size = l;
    }
    if (!base)
        tg_fail("no RAM above 4 GiB in the e820 map");
    if (base != (4ull << 30))
        tg_fail("RAM above 4 GiB does not start at 4 GiB");
    uint64_t *pd = (uint64_t *)0x3000ul, *pdpt = (uint64_t *)0xa000ul;
    for (uint64_t i = 0; i < 512; i++)
        pd[i] = (base + (i << 21)) | 0x87; /* P, W, U, 2 MiB */
    pdpt[4] = 0x3000 | 0x7;
    uint64_t span = size < (1ull << 30) ? size : (1ull << 30);
    volatile uint64_t *lo = (volatile uint64_t *)(uintptr_t)base;
    volatile uint64_t *hi = (volatile uint64_t *)(uintptr_t)(base + span - 8);
    *lo = 0x4249474d454d4c4full;
    *hi = ~0x4249474d454d4c4full;
    if (*lo != 0x4249474d454d4c4full || *hi != ~0x4249474d454d4c4full)
        tg_fail("RAM above 4 GiB does not hold data");
    tg_puts("testguest: highmem base=");
    tg_putu(base >> 20);
    tg_puts("MiB size=");
    tg_putu(size >> 20);
    tg_puts("MiB\ntestguest: ok\n");
    guest_exit(TG_EXIT_OK);
}

static unsigned parse_u8(const char *s)
{
    unsigned v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (unsigned)(*s++ - '0');
    return v & 0xff;
}

void tg_main(const uint8_t *zp)
{
    idt_init();
    const char *cl = cmdline_of(zp);
    char mode[32] = "ok";
    tg_cmdline_get(cl, "testguest.mode", mode, sizeof(mode));
    if (streq(mode, "ok")) {
        tg_puts("testguest: ok\n");
        guest_exit(TG_EXIT_OK);
    }
    if (streq(mode, "smp"))
        mode_smp(zp);
    if (streq(mode, "timer"))
        mode_timer();
    if (streq(mode, "spin"))
        mode_spin();
    struct tg_vdev vsock;
    if (streq(mode, "echo") && tg_vdev_find(TG_VIRTIO_ID_VSOCK, &vsock))
        tg_vsock_main(cl);
    if (streq(mode, "echo"))
        mode_echo();
    if (streq(mode, "blk"))
        tg_blk_main(cl);
    if (streq(mode, "rng"))
        tg_rng_main();
    if (streq(mode, "irqfd"))
        mode_irqfd();
    if (streq(mode, "highmem"))
        mode_highmem(zp);
    if (streq(mode, "agent"))
        tg_agent_main(madt_cpus(zp), cl);
    if (mode[0] == 'e' && mode[1] == 'x' && mode[2] == 'i' && mode[3] == 't' && mode[4] == ':')
        guest_exit((uint8_t)parse_u8(mode + 5));
    if (streq(mode, "reset"))
        outb(0x64, 0xfe);
    if (streq(mode, "poweroff"))
        outb(0x600, (5 << 2) | 0x20); /* SLP_TYP=5 (\_S5), SLP_EN */
    if (streq(mode, "triple")) {
        /* No exception can be delivered without IDT entries: #UD -> #DF -> shutdown. */
        for (unsigned i = 0; i < 32 * 16; i++)
            tg_idt[i] = 0;
        __asm__ volatile("ud2");
    }
    tg_fail("unknown testguest.mode");
}
