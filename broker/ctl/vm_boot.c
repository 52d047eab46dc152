/*
 * broker/ctl/vm_boot.c - `burrowctl vm boot`: run one VM in the foreground.
 *
 * Serial console on stdin/stdout. Exit status: the guest's debug-exit code
 * if it wrote one; 0 for an orderly power-off or reset; 1 for a triple
 * fault, a KVM internal error or a VMM error (one line on stderr); 2 for
 * bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "common/err.h"
#include "common/log.h"
#include "vmm/jail/jail.h"
#include "vmm/machine.h"
#include "vmm/virtio/net/tap.h"

static const char vm_boot_usage[] =
    "usage: burrowctl vm boot --kernel FILE [--initrd FILE] [--cmdline STR] [--mem MiB] "
    "[--vcpus N] [--vsock-uds PATH [--cid N]] [--disk FILE[:ro]] "
    "[--net-tap NAME [--net-mac MAC] [--net-mbit N]] [--jail]";

/* Read a whole file of at most max bytes. */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return cli_err(EXIT_RUNTIME, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        close(fd);
        return cli_err(EXIT_RUNTIME, "%s: not a regular file of at most %zu MiB", path, max >> 20);
    }
    uint8_t *p = malloc(st.st_size ? (size_t)st.st_size : 1);
    size_t got = 0;
    while (p && got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!p || got != (size_t)st.st_size) {
        free(p);
        return cli_err(EXIT_RUNTIME, "cannot read %s", path);
    }
    *out = p;
    *len = got;
    return 0;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || end == s || *end || x < min || x > max || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

/* "FILE" or "FILE:ro" into out (NUL-terminated). */
static int parse_disk(const char *arg, char *out, size_t outsz, bool *ro)
{
    size_t len = strlen(arg);
    *ro = len > 3 && strcmp(arg + len - 3, ":ro") == 0;
    if (*ro)
        len -= 3;
    if (len == 0 || len >= outsz)
        return -1;
    memcpy(out, arg, len);
    out[len] = '\0';
    return 0;
}

static int exit_status(const struct vm_exit_info *e)
{
    switch (e->reason) {
    case VM_STOP_DEBUG_EXIT:
        return e->code;
    case VM_STOP_POWEROFF:
    case VM_STOP_RESET:
        return EXIT_OK;
    case VM_STOP_TRIPLE_FAULT:
        return cli_err(EXIT_RUNTIME, "guest triple fault (%s)", e->detail);
    default:
        return cli_err(EXIT_RUNTIME, "VM stopped: %s", e->detail[0] ? e->detail : "unknown");
    }
}

/*
 * A terminal on stdin goes to raw mode (bytes reach the guest's UART as
 * typed, no local echo) but keeps ISIG, so Ctrl-C still stops the VMM.
 */
static struct termios saved_tty;
static int tty_saved;

static void tty_restore(void)
{
    if (tty_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    tty_saved = 0;
}

static void tty_raw(void)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) < 0)
        return;
    struct termios t = saved_tty;
    t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | IEXTEN);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
        tty_saved = 1;
        atexit(tty_restore);
    }
}

/* With --jail: the VM exists, nothing has run yet; confine before the threads start. */
static int vm_boot_jail(const struct machine_config *mc, const char *root, const char *uds,
                        enum sc_mode mode)
{
    static char name[32], uds_dir[4096];
    struct stat disk;
    snprintf(name, sizeof(name), "boot-%d", (int)jail_host_pid());
    /* --disk is open already; the jailed VMM may not grow it (RLIMIT_FSIZE). */
    if (mc->devices->disk && stat(mc->devices->disk, &disk) != 0)
        return cli_err(EXIT_RUNTIME, "--disk %s: %s", mc->devices->disk, strerror(errno));
    struct jail_config jc = {.name = name,
                             .root = root,
                             .uid = jail_uid_for_pid(jail_host_pid()),
                             .gid = (gid_t)jail_uid_for_pid(jail_host_pid()),
                             .mem_bytes = mc->mem_size,
                             .nr_vcpus = mc->nr_vcpus,
                             .fsize_max = mc->devices->disk && disk.st_size > 0
                                              ? (uint64_t)disk.st_size
                                              : JAIL_FSIZE_NO_DISK,
                             .seccomp = true,
                             .seccomp_mode = mode};
    /* Guest-initiated connections go to <uds>_<port>: keep that directory visible. */
    if (uds && uds[0] == '/' && strlen(uds) < sizeof(uds_dir)) {
        snprintf(uds_dir, sizeof(uds_dir), "%s", uds);
        char *slash = strrchr(uds_dir, '/');
        if (slash && slash != uds_dir) {
            *slash = '\0';
            jc.binds[jc.nr_binds++] = uds_dir;
        }
    }
    char why[300];
    int r = jail_enter(&jc, why, sizeof(why));
    if (r)
        return cli_err(EXIT_RUNTIME, "jail: %s", why);
    return 0;
}

/*
 * SIGINT/SIGTERM/SIGHUP stop the VM in order (each vCPU logs where it was
 * with -v, the terminal is restored) instead of killing the process: a hung
 * guest stopped by `timeout` or Ctrl-C still says what it was doing. The
 * signals are blocked in every thread and taken here with sigwait.
 */
static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
}

static void *vm_boot_signal_thread(void *arg)
{
    struct vm *vm = arg;
    sigset_t set;
    stop_signals(&set);
    int sig;
    if (sigwait(&set, &sig) == 0) {
        atomic_store(&vm->report_positions, 1);
        vm_request_stop(vm, VM_STOP_HOST, 0, "%s",
                        sig == SIGINT    ? "SIGINT"
                        : sig == SIGTERM ? "SIGTERM"
                                         : "SIGHUP");
    }
    return NULL;
}

/* jail_root NULL: no jail (mode is then unused). */
static int vm_boot_run(struct machine_config *mc, const char *jail_root, const char *uds,
                       enum sc_mode mode)
{
    static struct machine m; /* large: keep it off the stack */
    int r = machine_create(&m, mc);
    if (r) {
        cli_err(EXIT_RUNTIME, "%s", m.why);
        machine_destroy(&m);
        return EXIT_RUNTIME;
    }
    if (jail_root && vm_boot_jail(mc, jail_root, uds, mode) != 0) {
        machine_destroy(&m);
        return EXIT_RUNTIME;
    }
    if (mc->console_in >= 0 && !jail_root)
        tty_raw();
    sigset_t set, old;
    stop_signals(&set);
    pthread_t sigthr;
    int have_sigthr = 0;
    /*
     * A jailed VMM is PID 1 of its namespace and its jail installed handlers
     * that end it on these signals (jail_pid1_signals); its seccomp filter
     * and its root (no libgcc_s for pthread_cancel) are not made for the
     * signal thread.
     */
    if (!jail_root) {
        pthread_sigmask(SIG_BLOCK, &set, &old); /* inherited by every VM thread */
        have_sigthr = pthread_create(&sigthr, NULL, vm_boot_signal_thread, m.vm) == 0;
    }
    if ((r = vm_start(m.vm)))
        vm_request_stop(m.vm, VM_STOP_ERROR, 0, "cannot start the VM");
    struct vm_exit_info info;
    vm_wait(m.vm, &info); /* after a failed start: waits for the threads that did start */
    if (have_sigthr) {
        pthread_cancel(sigthr); /* sigwait is a cancellation point */
        pthread_join(sigthr, NULL);
    }
    if (!jail_root)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    tty_restore();
    if (r) {
        cli_err(EXIT_RUNTIME, "cannot start the VM: %s", burrow_strerror(r));
        machine_destroy(&m);
        return EXIT_RUNTIME;
    }
    log_info("VM stopped: %s", info.detail);
    machine_destroy(&m);
    return exit_status(&info);
}

/*
 * --jail: this process stays outside (terminal mode, exit status); the VMM
 * is its child, PID 1 of a new pid namespace, jailed once its VM exists.
 */
static int vm_boot_jailed(struct machine_config *mc, const char *uds, int tap_fd, enum sc_mode mode)
{
    char root[] = "/tmp/burrow-jail-XXXXXX";
    if (!mkdtemp(root))
        return cli_err(EXIT_RUNTIME, "jail root: %s", strerror(errno));
    if (mc->console_in >= 0)
        tty_raw();
    fflush(NULL);
    pid_t child;
    if (jail_pidns_fork(&child) != 0) {
        tty_restore();
        rmdir(root);
        return cli_err(EXIT_RUNTIME, "new pid namespace: %s", strerror(errno));
    }
    if (child == 0) {
        int keep[1] = {tap_fd}; /* opened here as root; the jailed VMM cannot open it */
        if (jail_close_inherited(keep, tap_fd >= 0 ? 1 : 0) != 0)
            _exit(cli_err(EXIT_RUNTIME, "close inherited fds: %s", strerror(errno)));
        int rc = vm_boot_run(mc, root, uds, mode);
        fflush(NULL);
        _exit(rc);
    }
    int st = 0;
    while (waitpid(child, &st, 0) < 0 && errno == EINTR)
        ;
    tty_restore();
    rmdir(root);
    if (WIFSIGNALED(st)) {
        cli_err(EXIT_RUNTIME, "the jailed VMM was killed by signal %d (%s)", WTERMSIG(st),
                strsignal(WTERMSIG(st)));
        return 128 + WTERMSIG(st);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : EXIT_RUNTIME;
}

int ctl_vm_boot(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kernel", required_argument, NULL, 'k'},  {"initrd", required_argument, NULL, 'i'},
        {"cmdline", required_argument, NULL, 'c'}, {"mem", required_argument, NULL, 'm'},
        {"vcpus", required_argument, NULL, 'n'},   {"vsock-uds", required_argument, NULL, 'u'},
        {"cid", required_argument, NULL, 'C'},     {"disk", required_argument, NULL, 'd'},
        {"jail", no_argument, NULL, 'J'},          {"net-tap", required_argument, NULL, 'T'},
        {"net-mac", required_argument, NULL, 'M'}, {"net-mbit", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
    unsigned long mem_mib = 256, vcpus = 1, cid = 3, mbit = 0;
    struct devices_config dc = {0};
    const char *tap = NULL;
    bool have_mac = false;
    static char disk[4096];
    int opt, jail = 0, rc;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'k':
            kernel = optarg;
            break;
        case 'i':
            initrd = optarg;
            break;
        case 'c':
            cmdline = optarg;
            break;
        case 'm':
            if (parse_uint(optarg, 32, 1024 * 1024, &mem_mib) || mem_mib % 2)
                return cli_err(EXIT_USAGE, "--mem: an even number of MiB, at least 32");
            break;
        case 'n':
            if (parse_uint(optarg, 1, VM_MAX_VCPUS, &vcpus))
                return cli_err(EXIT_USAGE, "--vcpus: 1..%u", VM_MAX_VCPUS);
            break;
        case 'u':
            dc.vsock_uds = optarg;
            break;
        case 'C':
            if (parse_uint(optarg, 3, 0xfffffffeul, &cid))
                return cli_err(EXIT_USAGE, "--cid: 3..4294967294");
            break;
        case 'd':
            if (parse_disk(optarg, disk, sizeof(disk), &dc.disk_ro))
                return cli_err(EXIT_USAGE, "--disk: FILE or FILE:ro");
            dc.disk = disk;
            break;
        case 'J':
            jail = 1;
            break;
        case 'T':
            if (!tap_name_valid(optarg))
                return cli_err(EXIT_USAGE, "--net-tap: 1-15 characters of A-Z a-z 0-9 _ . -");
            tap = optarg;
            break;
        case 'M':
            if (net_mac_parse(optarg, dc.net_mac))
                return cli_err(EXIT_USAGE, "--net-mac: a unicast MAC like 02:00:00:00:00:01");
            have_mac = true;
            break;
        case 'B':
            if (parse_uint(optarg, 1, 100000, &mbit))
                return cli_err(EXIT_USAGE, "--net-mbit: 1..100000");
            break;
        case 'h':
            printf("%s\n", vm_boot_usage);
            return EXIT_OK;
        default:
            return cli_err(EXIT_USAGE, "%s", vm_boot_usage);
        }
    }
    if (!kernel || optind != argc)
        return cli_err(EXIT_USAGE, "%s", vm_boot_usage);
    if (cmdline && strlen(cmdline) >= BOOT_CMDLINE_MAX)
        return cli_err(EXIT_USAGE, "--cmdline: at most %u bytes", BOOT_CMDLINE_MAX - 1);
    if (!tap && (have_mac || mbit))
        return cli_err(EXIT_USAGE, "--net-mac and --net-mbit need --net-tap");
    /* A jail's seccomp mode is [security] seccomp, as for every other filter. */
    struct burrow_config cfg;
    if (jail && (rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit)) != EXIT_OK)
        return rc;
    enum sc_mode mode = jail ? (enum sc_mode)cfg.security.seccomp : SC_MODE_ENFORCE;
    dc.net_tap_fd = -1;
    if (tap) {
        char why[300];
        if (tap_create(tap, NULL, &dc.net_tap_fd, why, sizeof(why)) != 0)
            return cli_err(EXIT_RUNTIME, "--net-tap: %s", why);
        dc.net = true;
        dc.net_rate = (uint64_t)mbit * 1000000 / 8;
    }

    struct machine_config mc = {.cmdline = cmdline,
                                .mem_size = (uint64_t)mem_mib * VM_MIB,
                                .nr_vcpus = (unsigned)vcpus,
                                .console_in = STDIN_FILENO,
                                .console_out = STDOUT_FILENO,
                                .devices = &dc};
    dc.guest_cid = cid;
    uint8_t *kbuf = NULL, *ibuf = NULL;
    if (read_file(kernel, MACHINE_KERNEL_MAX, &kbuf, &mc.kernel_len) ||
        (initrd && read_file(initrd, MACHINE_INITRD_MAX, &ibuf, &mc.initrd_len))) {
        free(kbuf);
        if (dc.net_tap_fd >= 0)
            close(dc.net_tap_fd);
        return EXIT_RUNTIME;
    }
    mc.kernel = kbuf;
    mc.initrd = ibuf;
    /* stdin that cannot be polled (a regular file) gets no console input. */
    struct stat st;
    if (fstat(STDIN_FILENO, &st) < 0 || S_ISREG(st.st_mode))
        mc.console_in = -1;
    rc = jail ? vm_boot_jailed(&mc, dc.vsock_uds, dc.net_tap_fd, mode)
              : vm_boot_run(&mc, NULL, NULL, mode);
    if (jail && dc.net_tap_fd >= 0)
        close(dc.net_tap_fd); /* the jailed child had its own copy */
    free(kbuf);
    free(ibuf);
    return rc;
}
