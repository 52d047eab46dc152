/*
 * tests/testguest/agent_mode.c - `testguest.mode=agent`: the test guest as
 * a template VM. It behaves like burrow-agent on the control port (connects
 * to host CID 2 port 1025 over a polled virtio-vsock driver, HELLO, prints
 * the IDENTITY it gets, answers READY, reconnects after a TRANSPORT_RESET,
 * answers SHUTDOWN and RECLAIM) and echoes bytes on guest port 1024 — or,
 * when a connection starts with a HELLO frame, runs agent_session.c's
 * built-in commands. With a virtio-balloon it follows the host's target,
 * answers stats requests and reports free memory (balloon.c).
 *
 * Its state while idle is chosen so that a shallow restore fails (docs/fork.md,
 * "The test guest as a template"): a TSC-deadline timer armed, kvmclock enabled (and checked
 * monotonic), known values in XMM/YMM registers, an AP halted waiting for an
 * IPI, an interrupt pending in the LAPIC (held back by the TPR). After a
 * transport reset (the fork signal) it checks each and prints one line:
 *   testguest: restore ok ticks=N kvmclock=monotonic ymm=kept ap=woke pending=delivered
 *
 * Privileged operations (WRMSR, CR4, XSETBV) go through a #UD handler of
 * ours: CPL3 code executes ud2 with a magic in r11 (the IDT is ours to fill).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/proto.h"
#include "tests/testguest/abi.h"
#include "tests/testguest/agent.h"
#include "tests/testguest/console.h"

void tg_agent_main(unsigned cpus, const char *cmdline) __attribute__((noreturn));
extern uint8_t tg_idt[];
extern const uint8_t tg_tramp_start[], tg_tramp_end[];
void tg_agent_isr_deadline(void), tg_agent_isr_pending(void), tg_agent_isr_virtio(void);
volatile uint64_t tg_agent_ticks, tg_agent_pending_hits, tg_agent_virtio_irqs;

#define COM1             TG_COM1
#define DEBUG_EXIT       0xf4
#define LAPIC            0xfee00000ul
#define DEADLINE_VECTOR  0x40
#define PENDING_VECTOR   0x22
#define VIRTIO_VECTOR    0x50
#define TICK_SHORT       2000000ull    /* TSC cycles between ticks while checking */
#define TICK_IDLE        1000000000ull /* ... while idle (virtio interrupts wake us) */
#define VIRTIO_BASE      0xd0000000ul
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_KVM_CLOCK    0x4b564d01

/* ---- the CPL0 stubs ---- */
__asm__(".text\n"
        ".globl tg_agent_isr_deadline\n"
        "tg_agent_isr_deadline:\n"
        "  lock incq tg_agent_ticks(%rip)\n"
        "  push %rax\n"
        "  mov $0xfee000b0, %eax\n"
        "  movl $0, (%rax)\n"
        "  pop %rax\n"
        "  iretq\n"
        ".globl tg_agent_isr_virtio\n"
        "tg_agent_isr_virtio:\n"
        "  lock incq tg_agent_virtio_irqs(%rip)\n"
        "  push %rax\n"
        "  mov $0xfee000b0, %eax\n"
        "  movl $0, (%rax)\n"
        "  pop %rax\n"
        "  iretq\n"
        ".globl tg_agent_isr_pending\n"
        "tg_agent_isr_pending:\n"
        "  lock incq tg_agent_pending_hits(%rip)\n"
        "  push %rax\n"
        "  mov $0xfee000b0, %eax\n"
        "  movl $0, (%rax)\n"
        "  pop %rax\n"
        "  iretq\n");

/* ---- small helpers ---- */
static void putstr(struct proto_str s)
{
    for (uint32_t i = 0; i < s.len; i++)
        outb(COM1, (uint8_t)s.p[i]);
}
static void lapic_write(uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC + reg) = v;
}
static uint32_t lapic_read(uint32_t reg)
{
    return *(volatile uint32_t *)(LAPIC + reg);
}
static void wrmsr(uint32_t msr, uint64_t v)
{
    tg_priv(TG_PRIV_WRMSR, msr, v);
}
static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}
/* ---- the state a shallow restore would lose ---- */
struct pvclock {
    volatile uint32_t version, pad0;
    volatile uint64_t tsc_timestamp, system_time;
    volatile uint32_t mul;
    volatile int8_t shift;
    volatile uint8_t flags, pad[2];
} __attribute__((aligned(64)));
static struct pvclock pvti;
static uint64_t last_ns;
static int have_avx;
static const uint8_t ymm_pattern[32] = "burrow-ymm5-pattern-0123456789ab";

static uint64_t kvmclock_ns(void)
{
    uint32_t v;
    uint64_t ns;
    do {
        v = pvti.version;
        barrier();
        uint64_t d = rdtsc() - pvti.tsc_timestamp;
        if (pvti.shift < 0)
            d >>= -pvti.shift;
        else
            d <<= pvti.shift;
        ns = pvti.system_time + (uint64_t)(((unsigned __int128)d * pvti.mul) >> 32);
        barrier();
    } while ((v & 1) || v != pvti.version);
    return ns;
}

static void check_clock(void)
{
    uint64_t ns = kvmclock_ns();
    if (ns < last_ns)
        tg_fail("kvmclock went backwards");
    last_ns = ns;
}

static uint64_t tick_period = TICK_SHORT; /* TICK_IDLE once the template is ready */
static void arm_deadline(void)
{
    wrmsr(MSR_TSC_DEADLINE, rdtsc() + tick_period);
}

/* Re-arm once per tick seen: a deadline lost in a restore is never re-armed, so it shows. */
static uint64_t ticks_seen;
static void tick_service(void)
{
    if (tg_agent_ticks != ticks_seen) {
        ticks_seen = tg_agent_ticks;
        arm_deadline();
    }
}

static int ymm_kept(void)
{
    uint8_t out[32];
    if (have_avx)
        __asm__ volatile("vmovdqu %%ymm5, %0" : "=m"(out));
    else
        __asm__ volatile("movdqu %%xmm5, %0" : "=m"(*(uint8_t(*)[16])out));
    return memcmp(out, ymm_pattern, have_avx ? 32 : 16) == 0;
}

static void start_aps(void)
{
    const uint8_t *s = tg_tramp_start;
    uint8_t *d = (uint8_t *)TG_TRAMPOLINE;
    while (s < tg_tramp_end)
        *d++ = *s++;
    lapic_write(0x300, 0x000c4500); /* INIT to all but self */
    for (volatile int i = 0; i < 100000; i++)
        ;
    for (int k = 0; k < 2; k++) {
        lapic_write(0x300, 0x000c4600 | (TG_TRAMPOLINE >> 12)); /* SIPI */
        for (volatile int i = 0; i < 100000; i++)
            ;
    }
}

static void wait_aps(unsigned want)
{
    struct tg_mailbox *mb = (struct tg_mailbox *)TG_MAILBOX;
    uint64_t t0 = rdtsc();
    while (mb->ap_started < want && rdtsc() - t0 < 20000000000ull)
        ;
    if (mb->ap_started < want)
        tg_fail("AP did not start");
}

static unsigned nr_cpus;

/* XSETBV, a CPUID (always a VM exit), then XGETBV: did the value stay? */
static int xsetbv_sticks(uint32_t xcr0)
{
    uint32_t r[4], lo, hi;
    tg_priv(TG_PRIV_XSETBV, 0, xcr0);
    cpuid(0, 0, r);
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return lo == xcr0;
}

static void template_state(void)
{
    uint32_t r[4];
    cpuid(1, 0, r);
    if (!(r[2] & (1u << 24)))
        tg_fail("no TSC-deadline timer");
    have_avx = (r[2] & (1u << 28)) && (r[2] & (1u << 26));
    tg_priv_install();
    tg_idt_set(DEADLINE_VECTOR, tg_agent_isr_deadline);
    tg_idt_set(PENDING_VECTOR, tg_agent_isr_pending);
    tg_idt_set(VIRTIO_VECTOR, tg_agent_isr_virtio);
    /* SSE (and AVX) state with a known value in xmm5/ymm5. */
    tg_priv(TG_PRIV_CR4_OR, 0, (1u << 9) | (1u << 10) | (have_avx ? (1u << 18) : 0));
    if (have_avx && !xsetbv_sticks(7)) {
        /* QEMU's emulated SVM (the nested L1) does not intercept XSETBV: the
         * write never reaches KVM, which reloads XCR0 = x87 at the next
         * entry, and AVX instructions then fault. Check SSE state only. */
        tg_puts("testguest: XCR0 lost across a VM exit (XSETBV not intercepted): no AVX\n");
        have_avx = 0;
    }
    if (have_avx) {
        __asm__ volatile("vmovdqu %0, %%ymm5" : : "m"(ymm_pattern));
    } else {
        __asm__ volatile("movdqu %0, %%xmm5" : : "m"(*(const uint8_t(*)[16])ymm_pattern));
    }
    wrmsr(MSR_KVM_CLOCK, (uint64_t)(uintptr_t)&pvti | 1);
    check_clock();
    lapic_write(0xf0, 0x100 | 0xff);
    lapic_write(0x320, (2u << 17) | DEADLINE_VECTOR); /* TSC-deadline mode */
    arm_deadline();
    uint64_t s0 = rdtsc();
    while (tg_agent_ticks < 3 && rdtsc() - s0 < 20000000000ull)
        tick_service();
    if (tg_agent_ticks < 3)
        tg_fail("TSC-deadline timer does not fire");
    if (nr_cpus > 1) {
        start_aps();
        wait_aps(nr_cpus - 1); /* each ends in cli; hlt: halted until an INIT */
    }
    /* An interrupt left pending: the TPR holds back class 2 until the fork. */
    lapic_write(0x80, 0x20);
    lapic_write(0x300, 0x00040000 | PENDING_VECTOR); /* self IPI */
    if (!(lapic_read(0x210) & (1u << (PENDING_VECTOR - 32))))
        tg_fail("self IPI not pending in IRR");
}

/* ---- connections ---- */
enum { C_FREE, C_CONNECTING, C_OPEN };
struct conn {
    int state;
    int control;
    uint32_t lport, pport;
    uint32_t fwd_cnt;
    uint8_t in[8192];
    size_t in_len;
};
static struct conn conns[TG_CONNS];
static uint32_t next_port = 50000;
static int restored, ready_sent, restore_checked;

static void send_pkt(struct conn *c, uint32_t lport, uint32_t pport, uint16_t op, const void *data,
                     uint32_t len)
{
    struct tgv_hdr h = {tgv_cid, 2, lport, pport, len, 1, op, 0, 65536, c ? c->fwd_cnt : 0};
    tgv_send(&h, data, len);
}

void tg_conn_send(unsigned slot, const void *data, uint32_t len)
{
    const uint8_t *p = data;
    while (slot < TG_CONNS && conns[slot].state == C_OPEN && len) {
        uint32_t k = len < 2048 ? len : 2048;
        send_pkt(&conns[slot], conns[slot].lport, conns[slot].pport, 5, p, k);
        p += k;
        len -= k;
    }
}

void tg_conn_close(unsigned slot)
{
    if (slot >= TG_CONNS || conns[slot].state != C_OPEN)
        return;
    struct conn *c = &conns[slot];
    struct tgv_hdr h = {tgv_cid, 2, c->lport, c->pport, 0, 1, 4, 3, 65536, c->fwd_cnt};
    tgv_send(&h, NULL, 0); /* SHUTDOWN, both directions; the host's RST finds no conn */
    c->state = C_FREE;
}

static void control_connect(void)
{
    struct conn *c = &conns[0];
    memset(c, 0, sizeof(*c));
    c->state = C_CONNECTING;
    c->control = 1;
    c->lport = next_port++;
    c->pport = 1025;
    send_pkt(c, c->lport, 1025, 1, NULL, 0); /* REQUEST */
}

static void send_frame(struct conn *c, struct buf *b)
{
    send_pkt(c, c->lport, c->pport, 5, buf_data(b), (uint32_t)buf_used(b));
}

static void restore_checks(void)
{
    struct tg_mailbox *mb = (struct tg_mailbox *)TG_MAILBOX;
    if (!ymm_kept())
        tg_fail("XMM/YMM register lost in restore");
    uint64_t t0 = tg_agent_ticks, s = rdtsc();
    while (tg_agent_ticks < t0 + 10 && rdtsc() - s < 3 * TICK_IDLE) {
        tick_service();
        check_clock();
    }
    if (tg_agent_ticks < t0 + 10)
        tg_fail("no TSC-deadline timer interrupts after restore");
    tg_puts("testguest: 10 ticks by ");
    tg_putu(kvmclock_ns() / 1000);
    tg_puts(" us\n");
    lapic_write(0x80, 0); /* let the pending interrupt in */
    for (volatile int i = 0; i < 100000 && !tg_agent_pending_hits; i++)
        ;
    if (tg_agent_pending_hits != 1)
        tg_fail("pending interrupt lost in restore");
    const char *ap = "none";
    if (nr_cpus > 1) {
        unsigned before = mb->ap_started;
        start_aps();
        wait_aps(before + nr_cpus - 1);
        ap = "woke";
    }
    tg_puts("testguest: restore ok ticks=");
    tg_putu(tg_agent_ticks);
    tg_puts(" kvmclock=monotonic ymm=kept ap=");
    tg_puts(ap);
    tg_puts(" pending=delivered virtio_irqs=");
    tg_putu(tg_agent_virtio_irqs);
    tg_puts("\n");
    restore_checked = 1;
    tick_period = TICK_IDLE;
}

/* The home disk attached at fork: its capacity as the blk device's config shows it. */
static void report_disk(void)
{
    for (unsigned i = 0; i < 8; i++) {
        volatile uint32_t *p = (volatile uint32_t *)(VIRTIO_BASE + i * 0x1000ul);
        if (p[0] != 0x74726976u || p[2] != 2)
            continue;
        uint64_t sectors = p[0x100 / 4] | (uint64_t)p[0x104 / 4] << 32;
        tg_puts("testguest: disk capacity=");
        tg_putu(sectors);
        tg_puts(" sectors\n");
        return;
    }
    tg_puts("testguest: no blk device\n");
}

static uint8_t last_entropy[16];
static int home_disk; /* this fork got one: SHUTDOWN syncs it */

static void on_identity(struct conn *c, const struct proto_frame *f)
{
    struct proto_identity id;
    if (proto_get_identity(f, &id))
        tg_fail("bad IDENTITY frame");
    tg_puts("testguest: identity user=");
    putstr(id.user);
    tg_puts(" uid=");
    tg_putu(id.uid);
    tg_puts(" hostname=");
    putstr(id.hostname);
    tg_puts(" disk=");
    tg_putu(id.flags & PROTO_ID_F_HOME_DISK ? 1 : 0);
    tg_puts(" root=");
    tg_putu(id.flags & PROTO_ID_F_ALLOW_ROOT ? 1 : 0);
    tg_puts(" entropy=");
    tg_puthex(id.entropy, 16);
    /* What this VM's memory held before: the template's, never another fork's. */
    tg_puts(" previous=");
    tg_puthex(last_entropy, 16);
    tg_puts("\n");
    memcpy(last_entropy, id.entropy, 16);
    home_disk = (id.flags & PROTO_ID_F_HOME_DISK) != 0;
    tgs_identity(id.user, id.hostname);
    if (id.flags & PROTO_ID_F_HOME_DISK)
        report_disk();
    struct proto_ready r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < PROTO_STEP_COUNT; i++)
        r.outcome[i] = PROTO_STEP_OK;
    uint8_t mem[256];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    if (proto_put_ready(&b, &r))
        tg_fail("cannot encode READY");
    if (!restored) {
        /*
         * The template is snapshotted right after READY: arm the (long) idle
         * deadline first, so the snapshot holds an armed TSC-deadline timer
         * and not one that just fired.
         */
        tick_period = TICK_IDLE;
        arm_deadline();
        /*
         * A short tick that fired just before is delivered by now (IF=1 at
         * CPL3): count it as serviced, so only the armed deadline can bring
         * the next tick after a restore.
         */
        for (volatile int i = 0; i < 10000; i++)
            ;
        ticks_seen = tg_agent_ticks;
    }
    send_frame(c, &b);
    ready_sent++;
    tg_puts("testguest: ready at ");
    tg_putu(kvmclock_ns() / 1000);
    tg_puts(" us\n");
    /* After READY, so fork latency measures the fork signal path, not these checks. */
    if (restored && !restore_checked)
        restore_checks();
}

/*
 * Resumed from a hibernated image: nothing of the running system changes; the
 * clock continued from the moment it was saved (kvmclock), the wall clock
 * comes with RESUME. READY, then the timer, kvmclock and YMM are checked.
 */
static uint64_t hibernated_ns; /* kvmclock when HIBERNATE was answered: part of the image */

static void on_resume(struct conn *c, const struct proto_frame *f)
{
    struct proto_resume rs;
    if (proto_get_resume(f, &rs))
        tg_fail("bad RESUME frame");
    struct proto_ready r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < PROTO_STEP_COUNT; i++)
        r.outcome[i] = i == PROTO_STEP_CLOCK ? PROTO_STEP_OK : PROTO_STEP_SKIPPED;
    uint8_t mem[256];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    if (proto_put_ready(&b, &r))
        tg_fail("cannot encode READY");
    send_frame(c, &b);
    ready_sent++;
    tg_puts("testguest: resume time=");
    tg_putu((uint64_t)rs.time_sec);
    tg_puts(" slept_ms=");
    tg_putu(rs.slept_ms);
    tg_puts(" entropy=");
    tg_puthex(rs.entropy, 16);
    uint64_t now = kvmclock_ns();
    tg_puts(" ready at ");
    tg_putu(now / 1000);
    tg_puts(" us since_hibernate=");
    tg_putu((now - hibernated_ns) / 1000);
    tg_puts(" us\n");
    uint64_t t0 = tg_agent_ticks, s0 = rdtsc();
    while (tg_agent_ticks < t0 + 3 && rdtsc() - s0 < 3 * TICK_IDLE) {
        tick_service();
        check_clock();
    }
    if (tg_agent_ticks < t0 + 3)
        tg_fail("no TSC-deadline timer interrupts after the resume");
    if (!ymm_kept())
        tg_fail("XMM/YMM register lost in the resume");
    tg_puts("testguest: resume ok ticks=");
    tg_putu(tg_agent_ticks);
    tg_puts(" kvmclock=monotonic ymm=kept\n");
    tick_period = TICK_IDLE;
}

/* The VMM's idle policy: the "cache" (the fill range) is reported free, then the answer. */
static void on_reclaim(struct conn *c, const struct proto_frame *f)
{
    struct proto_reclaim rq;
    struct proto_reclaim_answer a = {0, 0, 0};
    if (proto_get_reclaim(f, &rq))
        tg_fail("bad RECLAIM frame");
    tgb_reclaim(&a.free_before_kib, &a.free_after_kib);
    uint8_t mem[64];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    if (proto_put_reclaim_answer(&b, &a))
        tg_fail("cannot encode RECLAIM_ANSWER");
    send_frame(c, &b);
    tg_puts("testguest: reclaim flags=");
    tg_putu(rq.flags);
    tg_puts(" free ");
    tg_putu(a.free_before_kib);
    tg_puts(" -> ");
    tg_putu(a.free_after_kib);
    tg_puts(" KiB\n");
}

static void control_data(struct conn *c, const uint8_t *p, uint32_t len)
{
    if (len > sizeof(c->in) - c->in_len)
        tg_fail("control frame too large");
    memcpy(c->in + c->in_len, p, len);
    c->in_len += len;
    struct proto_frame f;
    while (c->in_len && proto_frame_parse(c->in, c->in_len, &f) == 0) {
        if (f.type == PROTO_IDENTITY)
            on_identity(c, &f);
        if (f.type == PROTO_RESUME)
            on_resume(c, &f);
        if (f.type == PROTO_HIBERNATE) {
            if (home_disk) /* what the real agent's sync stands for */
                tg_blk_mark_synced(TG_HIB_SECTOR, TG_HIB_MARK, sizeof(TG_HIB_MARK) - 1);
            uint8_t mem[128];
            struct buf b;
            buf_init_writer(&b, mem, sizeof(mem));
            if (tgs_hibernate_answer(&b) == 0)
                send_frame(c, &b);
            hibernated_ns = kvmclock_ns();
            tg_puts("testguest: hibernate answered at ");
            tg_putu(hibernated_ns / 1000);
            tg_puts(" us\n");
        }
        if (f.type == PROTO_RECLAIM)
            on_reclaim(c, &f);
        if (f.type == PROTO_SHUTDOWN) {
            if (home_disk) /* what the real agent's sync + unmount stands for */
                tg_blk_mark_synced(TG_SYNC_SECTOR, TG_SYNC_MARK, sizeof(TG_SYNC_MARK) - 1);
            uint8_t mem[128];
            struct buf b;
            buf_init_writer(&b, mem, sizeof(mem));
            if (tgs_shutdown_answer(&b) == 0)
                send_frame(c, &b);
            tg_puts("testguest: shutdown answered\n");
        }
        memmove(c->in, c->in + f.size, c->in_len - f.size);
        c->in_len -= f.size;
    }
}

static struct conn *find_conn(uint32_t lport, uint32_t pport)
{
    for (int i = 0; i < TG_CONNS; i++)
        if (conns[i].state != C_FREE && conns[i].lport == lport && conns[i].pport == pport)
            return &conns[i];
    return NULL;
}

/* RST a host REQUEST, saying why on the console (tests read it when a login fails). */
static void refuse(const struct tgv_hdr *h, const char *why)
{
    tg_puts("testguest: refused a connection to port ");
    tg_putu(h->dst_port);
    tg_puts(" from host port ");
    tg_putu(h->src_port);
    tg_puts(": ");
    tg_puts(why);
    tg_puts("\n");
    send_pkt(NULL, h->dst_port, h->src_port, 3, NULL, 0);
}

static void on_packet(const struct tgv_hdr *h, const uint8_t *data)
{
    struct conn *c = find_conn(h->dst_port, h->src_port);
    if (h->op == 1) { /* REQUEST from the host */
        if (h->dst_port != 1024 || c) {
            refuse(h, c ? "a connection with these ports is open" : "no listener on that port");
            return;
        }
        for (int i = 1; i < TG_CONNS && !c; i++)
            if (conns[i].state == C_FREE)
                c = &conns[i];
        if (!c) {
            refuse(h, "every connection slot is taken");
            return;
        }
        memset(c, 0, sizeof(*c));
        c->state = C_OPEN;
        c->lport = 1024;
        c->pport = h->src_port;
        tgs_open((unsigned)(c - conns));
        send_pkt(c, 1024, c->pport, 2, NULL, 0); /* RESPONSE */
        return;
    }
    if (!c) {
        if (h->op != 3)
            send_pkt(NULL, h->dst_port, h->src_port, 3, NULL, 0);
        return;
    }
    switch (h->op) {
    case 2: /* RESPONSE */
        c->state = C_OPEN;
        if (c->control) {
            struct proto_hello hello = {PROTO_VERSION, PROTO_ROLE_AGENT, 0};
            uint8_t mem[64];
            struct buf b;
            buf_init_writer(&b, mem, sizeof(mem));
            if (proto_put_hello(&b, &hello))
                tg_fail("cannot encode HELLO");
            send_frame(c, &b);
        }
        break;
    case 3: /* RST */
        if (c->control && c->state == C_CONNECTING) {
            c->state = C_FREE;
            for (volatile int i = 0; i < 1000000; i++)
                ;
            control_connect(); /* the VMM may not listen yet: retry */
            return;
        }
        c->state = C_FREE;
        break;
    case 4: /* SHUTDOWN */
        send_pkt(c, c->lport, c->pport, 3, NULL, 0);
        c->state = C_FREE;
        break;
    case 5: /* RW */
        c->fwd_cnt += h->len;
        if (c->control)
            control_data(c, data, h->len);
        else if (!tgs_data((unsigned)(c - conns), data, h->len))
            send_pkt(c, c->lport, c->pport, 5, data, h->len); /* echo */
        break;
    case 7: /* CREDIT_REQUEST */
        send_pkt(c, c->lport, c->pport, 6, NULL, 0);
        break;
    default:
        break;
    }
}

static void poll_rx(void)
{
    uint16_t id;
    const uint8_t *pkt;
    uint32_t len;
    while (tgv_rx_next(&id, &pkt, &len)) {
        struct tgv_hdr h;
        memcpy(&h, pkt, sizeof(h));
        if (len >= sizeof(h) && h.len <= len - sizeof(h))
            on_packet(&h, pkt + sizeof(h));
        tgv_rx_done(id);
    }
}

static void poll_events(void)
{
    if (!tgv_event_next())
        return;
    /* TRANSPORT_RESET: every socket is gone; the CID may have changed. */
    restored = 1;
    tick_period = TICK_SHORT; /* until the restore (or resume) checks are done */
    memset(conns, 0, sizeof(conns));
    tg_puts("testguest: transport reset at ");
    tg_putu(kvmclock_ns() / 1000);
    tg_puts(" us\n");
    control_connect();
}

void tg_agent_main(unsigned cpus, const char *cmdline)
{
    char balloon[8] = "on";
    nr_cpus = cpus >= 1 && cpus <= 64 ? cpus : 1; /* from the MADT */
    template_state();
    tgs_mem_template(); /* pages forks never write must read these after a resume */
    tgv_init(VIRTIO_VECTOR);
    /* testguest.balloon=off: a guest that never binds the balloon, as one older than it */
    tg_cmdline_get(cmdline, "testguest.balloon", balloon, sizeof(balloon));
    if (strcmp(balloon, "off") != 0)
        tgb_init(VIRTIO_VECTOR);
    tgb_template_image(); /* only the template runs this: forks resume in the loop */
    tg_puts("testguest: agent cid=");
    tg_putu(tgv_cid);
    tg_puts(tgb_present() ? " balloon=yes\n" : " balloon=no\n");
    control_connect();
    for (;;) {
        uint32_t mark = tgv_mark();
        poll_events();
        poll_rx();
        tgb_poll(tg_agent_virtio_irqs);
        tick_service();
        check_clock();
        if (!ymm_kept())
            tg_fail("XMM/YMM register changed");
        /* Nothing new: sleep until a virtio or timer interrupt (no busy host CPU when idle). */
        if (tgv_quiet_since(mark) && ready_sent)
            tg_priv(TG_PRIV_IDLE, 0, 0);
    }
}
