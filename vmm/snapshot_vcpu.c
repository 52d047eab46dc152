/*
 * vmm/snapshot_vcpu.c - one vCPU's state in and out of a snapshot section
 * (see snapshot.h). KVM's own structs (regs, sregs, LAPIC, ...) are stored
 * as length-prefixed blobs of exactly their ABI size; counts are bounded
 * and KVM re-checks the values when they are set.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "common/err.h"
#include "common/errmsg.h"
#include "common/log.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"

#define VS_MAX_CPUID     256u
#define VS_MAX_MSRS      256u
#define VS_XSAVE_MAX     (64u * 1024)
#define VS_MAGIC         0x55504356u /* "VCPU" */
#define MSR_IA32_TSC     0x10u
#define MSR_TSC_DEADLINE 0x6e0u
/* Hyper-V's vCPU run time and reference time counter: KVM lists them
 * (kvm_amd does), they count 100 ns units of time and ignore host writes. */
#define MSR_HV_VP_RUNTIME     0x40000010u
#define MSR_HV_TIME_REF_COUNT 0x40000020u
#define APIC_TMCCT            0x390u /* timer current count: moves with time */

struct vcpu_state {
    uint32_t index, tsc_khz;
    uint32_t nr_cpuid;
    struct kvm_cpuid_entry2 cpuid[VS_MAX_CPUID];
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    uint32_t xsave_len;
    uint8_t xsave[VS_XSAVE_MAX];
    struct kvm_xcrs xcrs;
    struct kvm_debugregs dregs;
    struct kvm_lapic_state lapic;
    uint32_t nr_msrs;
    struct kvm_msr_entry msrs[VS_MAX_MSRS];
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
};

/* ---- reading KVM ---- */

/* KVM's variable-size request structs, zeroed, with room for n entries. */
static struct kvm_msrs *msrs_new(uint32_t n)
{
    struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
    if (m)
        m->nmsrs = n;
    return m;
}

static struct kvm_cpuid2 *cpuid_new(uint32_t n)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
    if (c)
        c->nent = n;
    return c;
}

static int get_msrs(struct vcpu *v, struct vcpu_state *s)
{
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + VS_MAX_MSRS * sizeof(uint32_t));
    struct kvm_msrs *one = msrs_new(1);
    int r = BURROW_ERR_NOMEM;
    if (!list || !one)
        goto out;
    list->nmsrs = VS_MAX_MSRS;
    r = BURROW_ERR_SYSTEM;
    if (ioctl(v->vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0)
        goto out;
    s->nr_msrs = 0;
    /* One at a time: KVM stops a batch at the first MSR this vCPU lacks. */
    for (uint32_t i = 0; i < list->nmsrs && i < VS_MAX_MSRS; i++) {
        one->nmsrs = 1;
        one->entries[0] = (struct kvm_msr_entry){.index = list->indices[i]};
        if (ioctl(v->fd, KVM_GET_MSRS, one) == 1)
            s->msrs[s->nr_msrs++] = one->entries[0];
    }
    r = 0;
out:
    free(list);
    free(one);
    return r;
}

static int xsave_size(struct vcpu *v)
{
    int n = ioctl(v->vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    if (n < (int)sizeof(struct kvm_xsave))
        n = (int)sizeof(struct kvm_xsave);
    return n > (int)VS_XSAVE_MAX ? (int)VS_XSAVE_MAX : n;
}

static int vcpu_read(struct vcpu *v, struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    s->index = v->index;
    int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
    if (khz <= 0)
        return BURROW_ERR_SYSTEM;
    s->tsc_khz = (uint32_t)khz;
    struct kvm_cpuid2 *c = cpuid_new(VS_MAX_CPUID);
    if (!c)
        return BURROW_ERR_NOMEM;
    int got = ioctl(v->fd, KVM_GET_CPUID2, c);
    s->nr_cpuid = c->nent <= VS_MAX_CPUID ? c->nent : 0;
    memcpy(s->cpuid, c->entries, sizeof(c->entries[0]) * s->nr_cpuid);
    free(c);
    if (got < 0)
        return BURROW_ERR_SYSTEM;
    s->xsave_len = (uint32_t)xsave_size(v);
    unsigned long xs_ioctl =
        s->xsave_len > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE;
    if (ioctl(v->fd, KVM_GET_REGS, &s->regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s->sregs) < 0 ||
        ioctl(v->fd, xs_ioctl, s->xsave) < 0 || ioctl(v->fd, KVM_GET_XCRS, &s->xcrs) < 0 ||
        ioctl(v->fd, KVM_GET_DEBUGREGS, &s->dregs) < 0 ||
        ioctl(v->fd, KVM_GET_LAPIC, &s->lapic) < 0 ||
        ioctl(v->fd, KVM_GET_VCPU_EVENTS, &s->events) < 0 ||
        ioctl(v->fd, KVM_GET_MP_STATE, &s->mp) < 0)
        return BURROW_ERR_SYSTEM;
    return get_msrs(v, s);
}

/* ---- encoding ---- */

static int put_blob(struct buf *b, const void *p, size_t n)
{
    int r = buf_put_u32_le(b, (uint32_t)n);
    return r ? r : buf_put_bytes(b, p, n);
}

/* A blob of exactly n bytes. */
static int get_blob(struct buf *b, void *p, size_t n)
{
    uint32_t len;
    int r = buf_get_u32_le(b, &len);
    if (r)
        return r;
    if (len != n)
        return BURROW_ERR_FORMAT;
    return buf_get_bytes(b, p, n);
}

static int encode(const struct vcpu_state *s, struct buf *b)
{
    int r;
    if ((r = buf_put_u32_le(b, VS_MAGIC)) || (r = buf_put_u32_le(b, s->index)) ||
        (r = buf_put_u32_le(b, s->tsc_khz)) || (r = buf_put_u32_le(b, s->nr_cpuid)))
        return r;
    for (uint32_t i = 0; i < s->nr_cpuid; i++) {
        const struct kvm_cpuid_entry2 *e = &s->cpuid[i];
        uint32_t f[7] = {e->function, e->index, e->flags, e->eax, e->ebx, e->ecx, e->edx};
        for (int k = 0; k < 7; k++)
            if ((r = buf_put_u32_le(b, f[k])))
                return r;
    }
    if ((r = put_blob(b, &s->regs, sizeof(s->regs))) ||
        (r = put_blob(b, &s->sregs, sizeof(s->sregs))) ||
        (r = put_blob(b, s->xsave, s->xsave_len)) || (r = put_blob(b, &s->xcrs, sizeof(s->xcrs))) ||
        (r = put_blob(b, &s->dregs, sizeof(s->dregs))) ||
        (r = put_blob(b, &s->lapic, sizeof(s->lapic))) || (r = buf_put_u32_le(b, s->nr_msrs)))
        return r;
    for (uint32_t i = 0; i < s->nr_msrs; i++)
        if ((r = buf_put_u32_le(b, s->msrs[i].index)) || (r = buf_put_u64_le(b, s->msrs[i].data)))
            return r;
    if ((r = put_blob(b, &s->events, sizeof(s->events))))
        return r;
    return buf_put_u32_le(b, s->mp.mp_state);
}

/* Every count bounded, every blob its exact size, nothing left over. */
static int decode(struct buf *b, struct vcpu_state *s)
{
    memset(s, 0, sizeof(*s));
    uint32_t magic;
    int r;
    if ((r = buf_get_u32_le(b, &magic)))
        return r;
    if (magic != VS_MAGIC)
        return BURROW_ERR_FORMAT;
    if ((r = buf_get_u32_le(b, &s->index)) || (r = buf_get_u32_le(b, &s->tsc_khz)) ||
        (r = buf_get_u32_le(b, &s->nr_cpuid)))
        return r;
    if (s->index >= VM_MAX_VCPUS || s->nr_cpuid > VS_MAX_CPUID || s->tsc_khz == 0)
        return BURROW_ERR_RANGE;
    for (uint32_t i = 0; i < s->nr_cpuid; i++) {
        struct kvm_cpuid_entry2 *e = &s->cpuid[i];
        uint32_t *f[7] = {&e->function, &e->index, &e->flags, &e->eax, &e->ebx, &e->ecx, &e->edx};
        for (int k = 0; k < 7; k++)
            if ((r = buf_get_u32_le(b, f[k])))
                return r;
    }
    if ((r = get_blob(b, &s->regs, sizeof(s->regs))) ||
        (r = get_blob(b, &s->sregs, sizeof(s->sregs))) || (r = buf_get_u32_le(b, &s->xsave_len)))
        return r;
    if (s->xsave_len < sizeof(struct kvm_xsave) || s->xsave_len > VS_XSAVE_MAX)
        return BURROW_ERR_RANGE;
    if ((r = buf_get_bytes(b, s->xsave, s->xsave_len)) ||
        (r = get_blob(b, &s->xcrs, sizeof(s->xcrs))) ||
        (r = get_blob(b, &s->dregs, sizeof(s->dregs))) ||
        (r = get_blob(b, &s->lapic, sizeof(s->lapic))) || (r = buf_get_u32_le(b, &s->nr_msrs)))
        return r;
    if (s->nr_msrs > VS_MAX_MSRS || s->xcrs.nr_xcrs > KVM_MAX_XCRS)
        return BURROW_ERR_RANGE;
    for (uint32_t i = 0; i < s->nr_msrs; i++) {
        uint64_t d;
        if ((r = buf_get_u32_le(b, &s->msrs[i].index)) || (r = buf_get_u64_le(b, &d)))
            return r;
        s->msrs[i].data = d;
    }
    if ((r = get_blob(b, &s->events, sizeof(s->events))) ||
        (r = buf_get_u32_le(b, &s->mp.mp_state)))
        return r;
    if (s->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
        return BURROW_ERR_RANGE;
    return buf_get_end(b) ? BURROW_ERR_TRAILING : 0;
}

int snap_save_vcpu(struct vcpu *v, struct buf *out)
{
    struct vcpu_state *s = malloc(sizeof(*s));
    if (!s)
        return BURROW_ERR_NOMEM;
    int r = vcpu_read(v, s);
    if (!r)
        r = encode(s, out);
    free(s);
    return r;
}

int snap_set_tsc(struct vcpu *v, uint64_t tsc)
{
    struct kvm_msrs *m = msrs_new(1);
    if (!m)
        return BURROW_ERR_NOMEM;
    m->entries[0] = (struct kvm_msr_entry){.index = MSR_IA32_TSC, .data = tsc};
    int n = ioctl(v->fd, KVM_SET_MSRS, m);
    free(m);
    return n == 1 ? 0 : BURROW_ERR_SYSTEM;
}

int snap_vcpu_tsc(struct buf in, uint64_t *tsc)
{
    struct vcpu_state *s = malloc(sizeof(*s));
    if (!s)
        return BURROW_ERR_NOMEM;
    int r = decode(&in, s);
    if (!r) {
        r = BURROW_ERR_NOT_FOUND;
        for (uint32_t i = 0; i < s->nr_msrs; i++)
            if (s->msrs[i].index == MSR_IA32_TSC) {
                *tsc = s->msrs[i].data;
                r = 0;
            }
    }
    free(s);
    return r;
}

/* Set the MSRs for which keep(index) holds; every one must be taken. */
static int set_msrs(struct vcpu *v, const struct vcpu_state *s, int deadline_only, uint64_t tsc,
                    char *why, size_t whysz)
{
    struct kvm_msrs *m = msrs_new(VS_MAX_MSRS);
    if (!m)
        return BURROW_ERR_NOMEM;
    m->nmsrs = 0;
    for (uint32_t i = 0; i < s->nr_msrs; i++) {
        int is_deadline = s->msrs[i].index == MSR_TSC_DEADLINE;
        if (is_deadline != deadline_only)
            continue;
        m->entries[m->nmsrs] = s->msrs[i];
        if (s->msrs[i].index == MSR_IA32_TSC)
            m->entries[m->nmsrs].data = tsc; /* one value on every vCPU: KVM keeps them in sync */
        m->nmsrs++;
    }
    int n = m->nmsrs ? ioctl(v->fd, KVM_SET_MSRS, m) : 0;
    int r = 0;
    if (n < 0)
        r = errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_MSRS", v->index);
    else if ((uint32_t)n != m->nmsrs)
        r = errmsg_sys(why, whysz, BURROW_ERR_KVM, "vCPU %u: KVM refused MSR 0x%x", v->index,
                       m->entries[n].index);
    free(m);
    return r;
}

static int restore_state(struct vcpu *v, struct vcpu_state *s, uint64_t tsc, char *why,
                         size_t whysz)
{
    if (s->index != v->index)
        return errmsg_sys(why, whysz, BURROW_ERR_FORMAT, "vCPU section %u restored into vCPU %u",
                          s->index, v->index);
    struct kvm_cpuid2 *c = cpuid_new(s->nr_cpuid);
    if (!c)
        return BURROW_ERR_NOMEM;
    memcpy(c->entries, s->cpuid, sizeof(c->entries[0]) * s->nr_cpuid);
    unsigned idx = v->index;
    int set = ioctl(v->fd, KVM_SET_CPUID2, c);
    free(c);
    if (set < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_CPUID2", idx);
    int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
    if (khz > 0 && (uint32_t)khz != s->tsc_khz &&
        ioctl(v->fd, KVM_SET_TSC_KHZ, (unsigned long)s->tsc_khz) < 0)
        return errmsg_sys(
            why, whysz, BURROW_ERR_KVM,
            "vCPU %u: template TSC runs at %u kHz, this host at %d kHz and KVM cannot "
            "scale it",
            idx, s->tsc_khz, khz);
    unsigned long xs = KVM_SET_XSAVE;
    if (ioctl(v->fd, KVM_SET_SREGS, &s->sregs) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_SREGS", idx);
    if (ioctl(v->fd, KVM_SET_REGS, &s->regs) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_REGS", idx);
    if ((int)s->xsave_len > xsave_size(v))
        return errmsg_sys(why, whysz, BURROW_ERR_KVM,
                          "vCPU %u: XSAVE area of %u bytes, KVM takes %d", idx, s->xsave_len,
                          xsave_size(v));
    if (ioctl(v->fd, xs, s->xsave) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_XSAVE", idx);
    if (ioctl(v->fd, KVM_SET_XCRS, &s->xcrs) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_XCRS", idx);
    if (ioctl(v->fd, KVM_SET_DEBUGREGS, &s->dregs) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_DEBUGREGS", idx);
    if (ioctl(v->fd, KVM_SET_LAPIC, &s->lapic) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_LAPIC", idx);
    int r;
    /* TSC_DEADLINE last: KVM drops it unless the LAPIC is in TSC-deadline mode already. */
    if ((r = set_msrs(v, s, 0, tsc, why, whysz)) || (r = set_msrs(v, s, 1, tsc, why, whysz)))
        return r;
    s->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &s->events) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_VCPU_EVENTS", idx);
    if (ioctl(v->fd, KVM_SET_MP_STATE, &s->mp) < 0)
        return errmsg_sys(why, whysz, BURROW_ERR_SYSTEM, "vCPU %u: KVM_SET_MP_STATE", idx);
    return 0;
}

int snap_restore_vcpu(struct vcpu *v, struct buf *in, uint64_t tsc, char *why, size_t whysz)
{
    struct vcpu_state *s = malloc(sizeof(*s));
    if (!s)
        return BURROW_ERR_NOMEM;
    int r = decode(in, s);
    if (r)
        errmsg_sys(why, whysz, r, "vCPU %u section: %s", v->index, burrow_strerror(r));
    else
        r = restore_state(v, s, tsc, why, whysz);
    free(s);
    return r;
}

static int differ(char *why, size_t whysz, unsigned idx, const char *what)
{
    return errmsg_sys(why, whysz, BURROW_ERR_FORMAT, "vCPU %u: %s differs after restore", idx,
                      what);
}

/* MSRs that are clocks: they have moved on by the time a restore is read back. */
static bool msr_runs_with_time(uint32_t index)
{
    return index == MSR_IA32_TSC || index == MSR_HV_VP_RUNTIME || index == MSR_HV_TIME_REF_COUNT;
}

static int compare(struct vcpu_state *a, struct vcpu_state *b, char *why, size_t whysz)
{
    unsigned i = a->index;
    if (a->index != b->index || a->nr_cpuid != b->nr_cpuid ||
        memcmp(a->cpuid, b->cpuid, sizeof(a->cpuid[0]) * a->nr_cpuid))
        return differ(why, whysz, i, "CPUID");
    if (memcmp(&a->regs, &b->regs, sizeof(a->regs)))
        return differ(why, whysz, i, "REGS");
    if (memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)))
        return differ(why, whysz, i, "SREGS");
    if (a->xsave_len != b->xsave_len || memcmp(a->xsave, b->xsave, a->xsave_len))
        return differ(why, whysz, i, "XSAVE");
    if (memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs)))
        return differ(why, whysz, i, "XCRs");
    if (memcmp(&a->dregs, &b->dregs, sizeof(a->dregs)))
        return differ(why, whysz, i, "debug registers");
    memset(&a->lapic.regs[APIC_TMCCT], 0, 4);
    memset(&b->lapic.regs[APIC_TMCCT], 0, 4);
    if (memcmp(&a->lapic, &b->lapic, sizeof(a->lapic)))
        return differ(why, whysz, i, "LAPIC");
    if (a->nr_msrs != b->nr_msrs)
        return differ(why, whysz, i, "MSR list");
    for (uint32_t k = 0; k < a->nr_msrs; k++) {
        if (a->msrs[k].index != b->msrs[k].index)
            return differ(why, whysz, i, "MSR list");
        if (!msr_runs_with_time(a->msrs[k].index) && a->msrs[k].data != b->msrs[k].data)
            return errmsg_sys(why, whysz, BURROW_ERR_FORMAT,
                              "vCPU %u: MSR 0x%x differs after restore (0x%llx, saved 0x%llx)", i,
                              a->msrs[k].index, (unsigned long long)b->msrs[k].data,
                              (unsigned long long)a->msrs[k].data);
    }
    a->events.flags = b->events.flags = 0;
    if (memcmp(&a->events, &b->events, sizeof(a->events)))
        return differ(why, whysz, i, "vcpu events");
    if (a->mp.mp_state != b->mp.mp_state)
        return differ(why, whysz, i, "MP state");
    return 0;
}

int snap_compare_vcpu(struct buf saved, struct buf now, char *why, size_t whysz)
{
    struct vcpu_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    int r = BURROW_ERR_NOMEM;
    if (a && b) {
        r = decode(&saved, a);
        if (!r)
            r = decode(&now, b);
        if (r)
            errmsg_sys(why, whysz, r, "vCPU section: %s", burrow_strerror(r));
        else
            r = compare(a, b, why, whysz);
    }
    free(a);
    free(b);
    return r;
}
