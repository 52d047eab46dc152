/*
 * tests/fork/restore_check.c - a template of the test guest (mode=agent)
 * built and forked in this process, to look at what a fork's KVM state is
 * before its vCPUs run: every vCPU's KVM_GET_* answers must equal the saved
 * sections (TSC and the LAPIC's current count excepted, they move with
 * time). Then the fork runs, attaches a disk and reaches READY.
 *
 * Then the shallow restores: forks whose restored state is damaged on
 * purpose in one way each (TSC_DEADLINE and the pending timer interrupt,
 * XMM/YMM, the pending IPI, kvmclock) must each make the test guest fail its
 * own checks ("testguest: FAIL ..."), which shows the guest notices what a
 * shallow restore would lose.
 *
 * usage: restore_check TESTGUEST TMPDIR
 * Prints "restore_check: ok ..." and exits 0, or one reason and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "vmm/fork.h"
#include "vmm/snapshot.h"
#include "vmm/template.h"

static int die(const char *what, const char *why)
{
    fprintf(stderr, "restore_check: %s: %s\n", what, why);
    return 1;
}

static int compare_vcpus(struct fork_vm *f)
{
    char why[256];
    for (unsigned i = 0; i < f->m.vm->nr_vcpus; i++) {
        struct buf saved;
        if (snap_find(&f->snap, SNAP_SEC_VCPU0 + i, &saved))
            return die("saved state", "no vCPU section");
        struct buf *now = buf_new(1 << 20);
        if (!now || snap_save_vcpu(&f->m.vm->vcpus[i], now))
            return die("KVM_GET_*", "cannot read the restored vCPU");
        struct buf nowr;
        buf_init_reader(&nowr, buf_data(now), buf_used(now));
        int r = snap_compare_vcpu(saved, nowr, why, sizeof(why));
        buf_free(now);
        if (r)
            return die("restored state", why);
    }
    return 0;
}

/* ---- shallow restores ---- */

static void lapic_clear_vector(struct vcpu *v, unsigned vec)
{
    struct kvm_lapic_state l;
    if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0) {
        perror("restore_check: KVM_GET_LAPIC");
        return;
    }
    for (unsigned base = 0x100; base <= 0x200; base += 0x100) { /* ISR, IRR */
        uint32_t *w = (uint32_t *)(void *)&l.regs[base + 0x10 * (vec / 32)];
        *w &= ~(1u << (vec % 32));
    }
    if (ioctl(v->fd, KVM_SET_LAPIC, &l) < 0)
        perror("KVM_SET_LAPIC");
}

static uint64_t get_msr(struct vcpu *v, uint32_t index)
{
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e;
    } __attribute__((packed)) m;
    memset(&m, 0, sizeof(m));
    m.h.nmsrs = 1;
    m.e.index = index;
    return ioctl(v->fd, KVM_GET_MSRS, &m) == 1 ? m.e.data : ~0ull;
}

/* A restore that never wrote TSC_DEADLINE (or wrote it before the LAPIC, and KVM dropped it). */
static void damage_deadline(struct fork_vm *f)
{
    struct vcpu *v = &f->m.vm->vcpus[0];
    struct {
        struct kvm_msrs h;
        struct kvm_msr_entry e;
    } __attribute__((packed)) m;
    memset(&m, 0, sizeof(m));
    m.h.nmsrs = 1;
    m.e.index = 0x6e0;
    if (get_msr(v, 0x6e0) == 0)
        fprintf(stderr, "restore_check: TSC_DEADLINE not armed in the restored state\n");
    if (ioctl(v->fd, KVM_SET_MSRS, &m) != 1)
        perror("KVM_SET_MSRS");
    lapic_clear_vector(v, 0x40); /* and no tick already pending */
}

static void damage_xsave(struct fork_vm *f)
{
    static struct kvm_xsave x;
    int fd = f->m.vm->vcpus[0].fd;
    if (ioctl(fd, KVM_GET_XSAVE, &x) < 0) {
        perror("restore_check: KVM_GET_XSAVE");
        return;
    }
    memset((uint8_t *)x.region + 160, 0, 256); /* XMM0-15 */
    memset((uint8_t *)x.region + 576, 0, 256); /* upper halves of YMM0-15 */
    if (ioctl(fd, KVM_SET_XSAVE, &x) < 0)
        perror("KVM_SET_XSAVE");
}

static void damage_pending(struct fork_vm *f)
{
    lapic_clear_vector(&f->m.vm->vcpus[0], 0x22);
}

static void damage_clock(struct fork_vm *f)
{
    struct buf in;
    uint64_t saved;
    if (!snap_find(&f->snap, SNAP_SEC_CLOCK, &in) && !buf_get_u64_le(&in, &saved))
        printf("restore_check: kvmclock: template clock %llu us at the snapshot, fork set to 0\n",
               (unsigned long long)(saved / 1000));
    if (snap_set_clock(&f->m, 0))
        perror("KVM_SET_CLOCK");
}

/* Fork, damage, run: the guest must fail its checks (debug exit 3, a FAIL line). */
static int shallow(const char *name, void (*damage)(struct fork_vm *), const char *bdir,
                   const char *tmp)
{
    static struct fork_vm f;
    char why[512], sock[600], log[600];
    snprintf(sock, sizeof(sock), "%s/%s.sock", tmp, name);
    snprintf(log, sizeof(log), "%s/%s.console", tmp, name);
    int con = open(log, O_RDWR | O_CREAT | O_TRUNC, 0600);
    struct fork_config fc = {.build_dir = bdir, .vsock_uds = sock, .console_fd = con};
    snprintf(fc.id.user, sizeof(fc.id.user), "shallow");
    snprintf(fc.id.hostname, sizeof(fc.id.hostname), "%s", name);
    snprintf(fc.id.shell, sizeof(fc.id.shell), "/bin/sh");
    snprintf(fc.id.home, sizeof(fc.id.home), "/");
    if (fork_vm_create(&f, &fc, why, sizeof(why)))
        return die(name, why);
    damage(&f);
    if (fork_vm_start(&f))
        return die(name, "vm_start failed");
    for (int i = 0; i < 150 && !f.m.vm->stopping; i++) {
        struct timespec t = {0, 100000000L};
        nanosleep(&t, NULL);
    }
    struct vm_exit_info info;
    vm_request_stop(f.m.vm, VM_STOP_HOST, 0, "time is up");
    vm_wait(f.m.vm, &info);
    fork_vm_destroy(&f);
    char out[8192] = "";
    ssize_t n = pread(con, out, sizeof(out) - 1, 0);
    close(con);
    out[n > 0 ? n : 0] = '\0';
    char *failline = strstr(out, "testguest: FAIL ");
    if (info.reason != VM_STOP_DEBUG_EXIT || info.code != 3 || !failline) {
        /* Say how the guest ended and what it printed last: the tier shows only our tail. */
        char *last = out + strlen(out);
        for (int k = 0; k < 3 && last > out; k++)
            for (last--; last > out && last[-1] != '\n';)
                last--;
        for (char *c = last; *c; c++)
            if (*c == '\n')
                *c = '|';
        snprintf(why, sizeof(why),
                 "the guest did not notice the damaged restore: stop reason %d code %d (%s), "
                 "console: %s",
                 (int)info.reason, info.code, info.detail, *last ? last : "(empty)");
        return die(name, why);
    }
    char *nl = strchr(failline, '\n');
    if (nl)
        *nl = '\0';
    printf("restore_check: shallow restore (%s) noticed: %s\n", name, failline + 11);
    return 0;
}

/*
 * A shallow restore that forgets kvmclock leaves the fork with a fresh VM's
 * clock, which starts near 0: the guest sees it step back by the template's
 * age at the snapshot, less the time between the restore and the guest's
 * first look. A template snapshotted ~40 ms after boot made that a race a
 * loaded host loses (the fork's vCPUs started >40 ms after KVM_SET_CLOCK, so
 * the damaged clock was already ahead of the guest's last reading). So the
 * template is snapshotted no earlier than this after it starts booting; the
 * guest reads its clock every ~1 ms while waiting, so its last reading is as
 * old, and the damage stays a step back for any start delay below it.
 */
#define TEMPLATE_MIN_AGE_MS 2000

static struct timespec boot_started;

static void template_progress(void *ctx, const char *step)
{
    (void)ctx;
    if (strstr(step, "booting"))
        clock_gettime(CLOCK_MONOTONIC, &boot_started);
    if (!strstr(step, "snapshotting"))
        return;
    struct timespec until = boot_started;
    until.tv_sec += TEMPLATE_MIN_AGE_MS / 1000;
    until.tv_nsec += (TEMPLATE_MIN_AGE_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
        ;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* our lines and die()'s stay in order in a pipe */
    if (argc != 3)
        return die("usage", "restore_check TESTGUEST TMPDIR");
    char tdir[512], build[TEMPLATE_BUILD_MAX + 1], bdir[600], why[512], disk[600], sock[600];
    snprintf(tdir, sizeof(tdir), "%s/templates", argv[2]);
    struct template_build_config bc = {.templates_dir = tdir,
                                       .name = "rc",
                                       .kernel = argv[1],
                                       .cmdline = "testguest.mode=agent",
                                       .mem_mib = 64,
                                       .vcpus = 2,
                                       .ready_timeout_ms = 30000,
                                       .console_fd = -1,
                                       .progress = template_progress};
    if (template_build(&bc, build, why, sizeof(why)))
        return die("template build", why);
    snprintf(bdir, sizeof(bdir), "%s/%s", tdir, build);
    snprintf(disk, sizeof(disk), "%s/disk.img", argv[2]);
    snprintf(sock, sizeof(sock), "%s/rc.sock", argv[2]);
    int fd = open(disk, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 16 << 20) < 0)
        return die("disk", "cannot create");
    close(fd);
    static struct fork_vm f;
    struct fork_config fc = {
        .build_dir = bdir, .vsock_uds = sock, .home_disk = disk, .console_fd = STDOUT_FILENO};
    snprintf(fc.id.user, sizeof(fc.id.user), "alice");
    snprintf(fc.id.hostname, sizeof(fc.id.hostname), "alice-vm");
    snprintf(fc.id.shell, sizeof(fc.id.shell), "/bin/sh");
    snprintf(fc.id.home, sizeof(fc.id.home), "/home/alice");
    fc.id.uid = fc.id.gid = 2000;
    if (fork_vm_create(&f, &fc, why, sizeof(why)))
        return die("fork", why);
    if (compare_vcpus(&f))
        return 1;
    /* A second VM cannot take the same disk while this one holds it. */
    static struct fork_vm g;
    struct fork_config gc = fc;
    char sock2[620];
    snprintf(sock2, sizeof(sock2), "%s2", sock);
    gc.vsock_uds = sock2;
    int r = fork_vm_create(&g, &gc, why, sizeof(why));
    fork_vm_destroy(&g);
    if (r != BURROW_ERR_BUSY)
        return die("second fork on the same disk", r ? why : "was not refused");
    if (fork_vm_start(&f))
        return die("start", "vm_start failed");
    if ((r = control_port_wait_ready(&f.cp, 0, 30000)))
        return die("READY", r == BURROW_ERR_CLOSED ? f.m.vm->exit.detail : burrow_strerror(r));
    printf("restore_check: full restore ok, vcpus=%u state=%zu bytes; second fork refused: %s\n",
           f.m.vm->nr_vcpus, f.state_len, why);
    fflush(stdout);
    fork_vm_destroy(&f);
    if (shallow("deadline", damage_deadline, bdir, argv[2]) ||
        shallow("xsave", damage_xsave, bdir, argv[2]) ||
        shallow("pending", damage_pending, bdir, argv[2]) ||
        shallow("kvmclock", damage_clock, bdir, argv[2]))
        return 1;
    printf("restore_check: ok\n");
    return 0;
}
