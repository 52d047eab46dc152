/*
 * tests/fork/restore_check.c - a template of the test guest (mode=agent)
 * built and forked in this process, to look at what a fork's KVM state is
 * before its vCPUs run: every vCPU's KVM_GET_* answers must equal the saved
 * sections (TSC and the LAPIC's current count excepted, they move with
 * time). Then the fork runs, attaches a disk and reaches READY.
 *
 * usage: restore_check TESTGUEST TMPDIR
 * Prints "restore_check: ok ..." and exits 0, or one reason and exits 1.
 */
#include <fcntl.h>
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

int main(int argc, char **argv)
{
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
                                       .console_fd = -1};
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
    printf("restore_check: ok vcpus=%u state=%zu bytes; second fork refused: %s\n",
           f.m.vm->nr_vcpus, f.state_len, why);
    fflush(stdout);
    fork_vm_destroy(&f);
    return 0;
}
