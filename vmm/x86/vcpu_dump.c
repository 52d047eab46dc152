/* vmm/x86/vcpu_dump.c - a vCPU's state for the log when the guest dies (see vcpu_dump.h). */
#include "vmm/x86/vcpu_dump.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

/* Code bytes at RIP: only from one page, through the guest's own page tables. */
static void capture_code(int fd, const struct gmem *mem, struct vcpu_dump *d)
{
    uint64_t rip = d->regs.rip;
    if ((d->have & VCPU_DUMP_HAVE_SREGS) && !(d->sregs.efer & (1u << 10))) /* not long mode */
        rip = (d->sregs.cs.base + d->regs.rip) & 0xffffffffull;
    struct kvm_translation t = {.linear_address = rip};
    if (ioctl(fd, KVM_TRANSLATE, &t) < 0 || !t.valid)
        return;
    unsigned len = VCPU_DUMP_CODE_LEN;
    unsigned left_in_page = 4096u - (unsigned)(t.physical_address & 4095u);
    if (len > left_in_page)
        len = left_in_page;
    const uint8_t *p = gmem_ptr(mem, t.physical_address, len);
    if (!p)
        return;
    memcpy(d->code, p, len);
    d->code_len = len;
}

void vcpu_dump_capture(int fd, unsigned index, const struct gmem *mem, struct vcpu_dump *d)
{
    memset(d, 0, sizeof(*d));
    d->index = index;
    if (ioctl(fd, KVM_GET_REGS, &d->regs) == 0)
        d->have |= VCPU_DUMP_HAVE_REGS;
    if (ioctl(fd, KVM_GET_SREGS, &d->sregs) == 0)
        d->have |= VCPU_DUMP_HAVE_SREGS;
    if (ioctl(fd, KVM_GET_VCPU_EVENTS, &d->events) == 0)
        d->have |= VCPU_DUMP_HAVE_EVENTS;
    if (ioctl(fd, KVM_GET_MP_STATE, &d->mp) == 0)
        d->have |= VCPU_DUMP_HAVE_MP;
    struct kvm_xcrs x;
    memset(&x, 0, sizeof(x));
    if (ioctl(fd, KVM_GET_XCRS, &x) == 0)
        for (uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; i++)
            if (x.xcrs[i].xcr == 0) {
                d->xcr0 = x.xcrs[i].value;
                d->have |= VCPU_DUMP_HAVE_XCR0;
            }
    if ((d->have & VCPU_DUMP_HAVE_REGS) && mem)
        capture_code(fd, mem, d);
}

int vcpu_dump_is_reset_state(const struct vcpu_dump *d)
{
    if ((d->have & (VCPU_DUMP_HAVE_REGS | VCPU_DUMP_HAVE_SREGS)) !=
        (VCPU_DUMP_HAVE_REGS | VCPU_DUMP_HAVE_SREGS))
        return 0;
    return d->regs.rip == 0xfff0 && d->sregs.cs.selector == 0xf000 &&
           d->sregs.cs.base == 0xffff0000ull && !(d->sregs.cr0 & 1u);
}

/* A bounded appender: keeps the output NUL-terminated and counts what fits. */
struct out {
    char *p;
    size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->size == 0 || o->len >= o->size - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    o->len += (size_t)n < o->size - o->len ? (size_t)n : o->size - o->len - 1;
}

static const char *mp_state_name(uint32_t s)
{
    static const char *const names[] = {"runnable",   "uninitialized", "init-received",
                                        "halted",     "sipi-received", "stopped",
                                        "check-stop", "operating",     "load"};
    return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

/* Segment as selector:base/limit/attributes in the VMCB layout (type|S|DPL|P, AVL|L|DB|G). */
static void put_seg(struct out *o, const char *name, const struct kvm_segment *s)
{
    unsigned attr = (s->type & 15u) | (s->s & 1u) << 4 | (s->dpl & 3u) << 5 |
                    (s->present & 1u) << 7 | (s->avl & 1u) << 8 | (s->l & 1u) << 9 |
                    (s->db & 1u) << 10 | (s->g & 1u) << 11;
    put(o, " %s=%04x:%llx/%x/%03x%s", name, s->selector, (unsigned long long)s->base, s->limit,
        attr, s->unusable ? "(unusable)" : "");
}

static int first_pending_irq(const struct kvm_sregs *s)
{
    for (unsigned w = 0; w < sizeof(s->interrupt_bitmap) / sizeof(s->interrupt_bitmap[0]); w++)
        if (s->interrupt_bitmap[w])
            return (int)(w * 64 + (unsigned)__builtin_ctzll(s->interrupt_bitmap[w]));
    return -1;
}

static void put_regs(struct out *o, const struct vcpu_dump *d)
{
    const struct kvm_regs *r = &d->regs;
    const char *pfx = "vCPU";
    put(o, "%s %u: rip=%llx rsp=%llx rflags=%llx", pfx, d->index, (unsigned long long)r->rip,
        (unsigned long long)r->rsp, (unsigned long long)r->rflags);
    if (d->have & VCPU_DUMP_HAVE_MP)
        put(o, " mp_state=%s", mp_state_name(d->mp.mp_state));
    put(o, "\n%s %u: rax=%llx rbx=%llx rcx=%llx rdx=%llx rsi=%llx rdi=%llx rbp=%llx\n", pfx,
        d->index, (unsigned long long)r->rax, (unsigned long long)r->rbx,
        (unsigned long long)r->rcx, (unsigned long long)r->rdx, (unsigned long long)r->rsi,
        (unsigned long long)r->rdi, (unsigned long long)r->rbp);
    put(o, "%s %u: r8=%llx r9=%llx r10=%llx r11=%llx r12=%llx r13=%llx r14=%llx r15=%llx\n", pfx,
        d->index, (unsigned long long)r->r8, (unsigned long long)r->r9, (unsigned long long)r->r10,
        (unsigned long long)r->r11, (unsigned long long)r->r12, (unsigned long long)r->r13,
        (unsigned long long)r->r14, (unsigned long long)r->r15);
}

static void put_sregs(struct out *o, const struct vcpu_dump *d)
{
    const struct kvm_sregs *s = &d->sregs;
    put(o, "vCPU %u: cr0=%llx cr2=%llx cr3=%llx cr4=%llx cr8=%llx efer=%llx apic_base=%llx",
        d->index, (unsigned long long)s->cr0, (unsigned long long)s->cr2,
        (unsigned long long)s->cr3, (unsigned long long)s->cr4, (unsigned long long)s->cr8,
        (unsigned long long)s->efer, (unsigned long long)s->apic_base);
    if (d->have & VCPU_DUMP_HAVE_XCR0)
        put(o, " xcr0=%llx", (unsigned long long)d->xcr0);
    put(o, "\n");
    put(o, "vCPU %u:", d->index);
    put_seg(o, "cs", &s->cs);
    put_seg(o, "ss", &s->ss);
    put_seg(o, "ds", &s->ds);
    put_seg(o, "es", &s->es);
    put(o, "\nvCPU %u:", d->index);
    put_seg(o, "fs", &s->fs);
    put_seg(o, "gs", &s->gs);
    put_seg(o, "tr", &s->tr);
    put_seg(o, "ldt", &s->ldt);
    put(o, "\nvCPU %u: gdt=%llx/%x idt=%llx/%x", d->index, (unsigned long long)s->gdt.base,
        s->gdt.limit, (unsigned long long)s->idt.base, s->idt.limit);
    int irq = first_pending_irq(s);
    if (irq >= 0)
        put(o, " pending_irq=%d", irq);
    put(o, "\n");
}

static void put_events(struct out *o, const struct vcpu_dump *d)
{
    const struct kvm_vcpu_events *e = &d->events;
    put(o, "vCPU %u: events: exception injected=%u pending=%u nr=%u", d->index,
        e->exception.injected, e->exception.pending, e->exception.nr);
    if (e->exception.has_error_code)
        put(o, " error_code=%x", e->exception.error_code);
    put(o, "; irq injected=%u nr=%u soft=%u shadow=%u; nmi injected=%u pending=%u masked=%u",
        e->interrupt.injected, e->interrupt.nr, e->interrupt.soft, e->interrupt.shadow,
        e->nmi.injected, e->nmi.pending, e->nmi.masked);
    if (e->flags & KVM_VCPUEVENT_VALID_SIPI_VECTOR)
        put(o, "; sipi_vector=%x", e->sipi_vector);
    put(o, "\n");
}

size_t vcpu_dump_format(const struct vcpu_dump *d, char *out, size_t outsz)
{
    struct out o = {.p = out, .size = outsz, .len = 0};
    if (outsz)
        out[0] = '\0';
    if (d->have & VCPU_DUMP_HAVE_REGS)
        put_regs(&o, d);
    if (d->have & VCPU_DUMP_HAVE_SREGS)
        put_sregs(&o, d);
    if (d->have & VCPU_DUMP_HAVE_EVENTS)
        put_events(&o, d);
    if (d->code_len) {
        put(&o, "vCPU %u: code at rip:", d->index);
        for (unsigned i = 0; i < d->code_len; i++)
            put(&o, " %02x", d->code[i]);
        put(&o, "\n");
    } else if (d->have & VCPU_DUMP_HAVE_REGS) {
        put(&o, "vCPU %u: code at rip: not mapped\n", d->index);
    }
    if (vcpu_dump_is_reset_state(d))
        put(&o,
            "vCPU %u: this is the INIT state: KVM on AMD re-initialises a vCPU after a "
            "shutdown, so the faulting state is lost\n",
            d->index);
    if (!d->have)
        put(&o, "vCPU %u: no state (KVM refused every read)\n", d->index);
    /* No trailing newline: the caller logs line by line. */
    if (o.len && out[o.len - 1] == '\n')
        out[--o.len] = '\0';
    return o.len;
}

size_t vcpu_dump_format_short(const struct vcpu_dump *d, char *out, size_t outsz)
{
    struct out o = {.p = out, .size = outsz, .len = 0};
    if (outsz)
        out[0] = '\0';
    put(&o, "vCPU %u at stop:", d->index);
    if (d->have & VCPU_DUMP_HAVE_REGS)
        put(&o, " rip=%llx rsp=%llx rflags=%llx", (unsigned long long)d->regs.rip,
            (unsigned long long)d->regs.rsp, (unsigned long long)d->regs.rflags);
    if (d->have & VCPU_DUMP_HAVE_SREGS)
        put(&o, " cs=%04x cr3=%llx cr4=%llx", d->sregs.cs.selector,
            (unsigned long long)d->sregs.cr3, (unsigned long long)d->sregs.cr4);
    if (d->have & VCPU_DUMP_HAVE_XCR0)
        put(&o, " xcr0=%llx", (unsigned long long)d->xcr0);
    if (d->have & VCPU_DUMP_HAVE_MP)
        put(&o, " mp_state=%s", mp_state_name(d->mp.mp_state));
    if (d->have & VCPU_DUMP_HAVE_EVENTS && d->events.exception.injected)
        put(&o, " exception=%u", d->events.exception.nr);
    return o.len;
}
