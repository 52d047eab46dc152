/*
 * broker/vm/backend_sandbox.c - the sandbox backend: burrow-agent in fresh
 * namespaces on the host kernel, for hosts without hardware virtualization
 * and for tests. Weaker isolation than a VM (docs/security.md).
 *
 * Per VM, a supervisor process (forked from the master, then independent of
 * it: a restarted master re-adopts it from run_dir/vm/<id>/) builds:
 *   - a child in new user, mount, pid, uts, ipc and net namespaces, its uids
 *     mapped from a reserved host range (SBX_UID_BASE + slot * 65536), its
 *     own `lo`, PID 1 of its pid namespace;
 *   - a root filesystem that is the guest image (the initramfs, extracted
 *     into a tmpfs, never the host's `/`), id-mapped into the namespace;
 *   - her home image loop-mounted at /home/<user> (id-mapped; the host
 *     kernel parses her ext4: documented as weaker isolation);
 *   - /run/burrow bound from run_dir/vm/<id>/agent, where the agent listens
 *     (agent.sock) and connects to the supervisor's control.sock;
 * and serves run_dir/vm/<id>/vsock.sock with the same protocol as a VMM's
 * vsock socket ("CONNECT 1024\n" -> "OK 1024\n", then the byte stream), so
 * the session process has one client path for both backends.
 *
 * Supervisor <-> agent control connection: HELLO, IDENTITY, READY; on stop
 * SHUTDOWN (the agent syncs), then the namespace's PID 1 is killed, which
 * unmounts everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/loop.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/vm/backend_sandbox.h"
#include "broker/fsutil.h"
#include "broker/users/homedisk.h"
#include "broker/vm/vmmgr.h"
#include "common/err.h"
#include "common/log.h"
#include "common/testhook.h"
#include "vmm/jail/cgroup.h"
#include "vmm/jail/jail.h"

static int sbx_path(char *out, size_t sz, const char *a, const char *b)
{
    return (size_t)snprintf(out, sz, "%s%s", a, b) < sz ? 0 : BURROW_ERR_TOO_LARGE;
}

/* --- inside the sandbox: PID 1 ------------------------------------------- */

static void lo_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
            log_warn("sandbox: cannot bring lo up: %s", strerror(errno));
    }
    close(s);
}

static const char *find_agent(void)
{
    static const char *const cands[] = {"/sbin/burrow-agent", "/usr/sbin/burrow-agent",
                                        "/bin/burrow-agent", "/usr/bin/burrow-agent",
                                        "/usr/lib/burrow/burrow-agent"};
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return NULL;
}

static const char *find_sftp(void)
{
    static const char *const cands[] = {"/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server",
                                        "/usr/lib/sftp-server", "/bin/sftp-server",
                                        "/usr/bin/sftp-server"};
    for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return cands[0];
}

/*
 * In PID 1 before the agent starts, inherited by everything in the sandbox:
 * at most SBX_PIDS_MAX processes per uid (the limit holds where no cgroup
 * does; root in the namespace cannot raise it: that takes CAP_SYS_RESOURCE
 * in the host's), and without allow_root no set-id program or file
 * capability ever raises a user's privileges (NO_NEW_PRIVS).
 */
static int limit_processes(const struct sbx *x)
{
    struct rlimit procs = {SBX_PIDS_MAX, SBX_PIDS_MAX};
    if (setrlimit(RLIMIT_NPROC, &procs) != 0) {
        log_error("sandbox: RLIMIT_NPROC: %s", strerror(errno));
        return BURROW_ERR_SYSTEM;
    }
    if (!x->cfg->users.allow_root && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        log_error("sandbox: NO_NEW_PRIVS: %s", strerror(errno));
        return BURROW_ERR_SYSTEM;
    }
    return 0;
}

/*
 * Test builds only (common/testhook.h): BURROW_TEST_AGENT_HEARTBEAT_MS makes
 * the agent send its heartbeats that often (e2e: hundreds of them within
 * seconds), appended to argv[n] as --heartbeat-ms; returns the new n.
 */
static int test_heartbeat_args(char **argv, int n)
{
    static char ms[8];
    const char *v = testhook("BURROW_TEST_AGENT_HEARTBEAT_MS");
    if (!v || !v[0] || strlen(v) >= sizeof(ms) || strspn(v, "0123456789") != strlen(v))
        return n;
    snprintf(ms, sizeof(ms), "%s", v);
    argv[n++] = (char *)"--heartbeat-ms";
    argv[n++] = ms;
    return n;
}

/* PID 1: finish the namespace (proc, devpts, lo, hostname, pivot_root), run the agent, reap. */
static int sandbox_init(void *arg)
{
    struct sbx *x = arg;
    char host[64];
    char go = 0;
    close(x->go[1]);
    if (read(x->go[0], &go, 1) != 1 || go != 'G')
        _exit(120);
    /* Nothing of the supervisor's (its home image fd above all) reaches the guest. */
    close_range(3, ~0u, 0);
    /* Enter the new root while still the host's root: the path to it may not
     * be searchable by the namespace's root. Everything below is relative. */
    if (chdir(x->root) != 0) {
        log_error("sandbox: chdir %s: %s", x->root, strerror(errno));
        _exit(118);
    }
    /* Become the namespace's root (host uid x->base): until now we were the
     * host's root, which this namespace does not map. */
    if (setgroups(0, NULL) != 0 || setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
        log_error("sandbox: cannot become the namespace's root: %s", strerror(errno));
        _exit(119);
    }
    /* The sandbox lives exactly as long as its supervisor (set after the uid
     * change, which clears it). Our parent is outside the pid namespace. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        _exit(117);
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        log_error("sandbox: mount proc: %s", strerror(errno));
        _exit(121);
    }
    if (mount("devpts", "dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") != 0) {
        log_error("sandbox: mount devpts: %s", strerror(errno));
        _exit(122);
    }
    lo_up();
    snprintf(host, sizeof(host), "burrow-%s", x->rec->name);
    if (sethostname(host, strlen(host)) != 0)
        log_warn("sandbox: sethostname: %s", strerror(errno));
    if (syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0 ||
        chdir("/") != 0) {
        log_error("sandbox: pivot_root: %s", strerror(errno));
        _exit(123);
    }
    const char *agent = find_agent();
    if (!agent) {
        log_error("sandbox: no burrow-agent in the guest image");
        _exit(124);
    }
    char sftp[128];
    snprintf(sftp, sizeof(sftp), "%s", find_sftp());
    if (limit_processes(x) != 0)
        _exit(116);
    signal(SIGTERM, SIG_DFL);
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[14] = {(char *)agent,
                          (char *)"--listen",
                          (char *)"unix:/run/burrow/agent.sock",
                          (char *)"--control",
                          (char *)"unix:/run/burrow/control.sock",
                          (char *)"--no-clock",
                          (char *)"--home-dev",
                          (char *)"none",
                          (char *)"--sftp-server",
                          sftp,
                          NULL};
        argv[test_heartbeat_args(argv, 10)] = NULL;
        char *const envp[] = {(char *)"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                              (char *)"HOME=/root", NULL};
        execve(agent, argv, envp);
        _exit(127);
    }
    for (;;) {
        int st;
        pid_t w = wait(&st);
        if (w == pid)
            _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        if (w < 0 && errno == ECHILD)
            _exit(125);
    }
}

/* --- mounts, done by a root helper inside the sandbox's mount namespace --- */

/*
 * Move the mount at `from` to `to`, id-mapped through userns_fd (-1: as it
 * is). BURROW_ERR_UNSUPPORTED when the filesystem takes no id-mapped mount;
 * `from` stays mounted on any failure.
 */
static int move_tree(const char *from, const char *to, int userns_fd)
{
    int fd = open_tree(AT_FDCWD, from, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0)
        return BURROW_ERR_SYSTEM;
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns_fd};
    int r = 0;
    if (userns_fd >= 0 && mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) != 0)
        r = errno == EINVAL ? BURROW_ERR_UNSUPPORTED : BURROW_ERR_SYSTEM;
    else if (move_mount(fd, "", AT_FDCWD, to, MOVE_MOUNT_F_EMPTY_PATH) != 0)
        r = BURROW_ERR_SYSTEM;
    close(fd);
    if (r == 0)
        umount2(from, MNT_DETACH);
    return r;
}

static uid_t shift_base; /* for shift_one: nftw passes no context */

static int shift_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (st->st_uid >= SBX_UID_COUNT || st->st_gid >= SBX_UID_COUNT)
        return -1; /* not an owner the namespace can map */
    if (lchown(path, shift_base + st->st_uid, shift_base + st->st_gid) != 0)
        return -1;
    if (type != FTW_SL && (st->st_mode & (S_ISUID | S_ISGID)) && chmod(path, st->st_mode & 07777))
        return -1;
    return 0;
}

/*
 * The root tree's owners moved to the host ids the namespace maps them
 * from (0 -> base), for kernels whose tmpfs takes no id-mapped mount
 * (before Linux 6.3: Debian 12's 6.1). chown clears set-id bits: put them
 * back where the image had them.
 */
static int shift_owners(const char *root, uid_t base)
{
    shift_base = base;
    return nftw(root, shift_one, 32, FTW_PHYS | FTW_MOUNT) == 0 ? 0 : BURROW_ERR_SYSTEM;
}

static int idmap_move(const char *from, const char *to, int userns_fd)
{
    int r = move_tree(from, to, userns_fd);
    if (r != 0)
        umount2(from, MNT_DETACH);
    return r;
}

static int extract_image(const struct sbx *x)
{
    pid_t pid = fork();
    if (pid < 0)
        return BURROW_ERR_SYSTEM;
    if (pid == 0) {
        char *const argv[] = {
            (char *)"sh", (char *)"-c",
            (char *)"gzip -dc \"$0\" | cpio -idmu --quiet --no-absolute-filenames",
            (char *)x->image, NULL};
        char *const envp[] = {(char *)"PATH=/usr/bin:/bin:/usr/sbin:/sbin", NULL};
        if (chdir(x->stage) != 0)
            _exit(126);
        execve("/bin/sh", argv, envp);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return BURROW_ERR_FORMAT;
    return 0;
}

static void mkdirs(const char *root, const char *user)
{
    static const char *const dirs[] = {"/proc", "/dev", "/dev/pts", "/run", "/run/burrow",
                                       "/tmp",  "/etc", "/home",    "/root"};
    char p[VMMGR_PATH_MAX + 64];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", root, dirs[i]);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof(p), "%s/tmp", root);
    chmod(p, 01777);
    snprintf(p, sizeof(p), "%s/home/%s", root, user);
    mkdir(p, 0755);
}

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int attach_home(const struct sbx *x, int userns_fd)
{
    char dev[32], to[VMMGR_PATH_MAX + 64];
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return BURROW_ERR_SYSTEM;
    int n = ioctl(ctl, LOOP_CTL_GET_FREE);
    close(ctl);
    if (n < 0)
        return BURROW_ERR_SYSTEM;
    snprintf(dev, sizeof(dev), "/dev/loop%d", n);
    int lfd = open(dev, O_RDWR | O_CLOEXEC);
    if (lfd < 0)
        return BURROW_ERR_SYSTEM;
    struct loop_config lc;
    memset(&lc, 0, sizeof(lc));
    lc.fd = (uint32_t)x->home_fd;
    lc.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    int r = 0;
    if (ioctl(lfd, LOOP_CONFIGURE, &lc) != 0 ||
        mount(dev, x->homestage, "ext4", MS_NOSUID | MS_NODEV, NULL) != 0)
        r = BURROW_ERR_SYSTEM;
    close(lfd); /* AUTOCLEAR: the device goes away with the last mount */
    if (r != 0)
        return r;
    snprintf(to, sizeof(to), "%s/home/%s", x->root, x->rec->name);
    return idmap_move(x->homestage, to, userns_fd);
}

static int build_root(const struct sbx *x, int userns_fd)
{
    char opts[64], p[VMMGR_PATH_MAX + 64], from[64];
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return BURROW_ERR_SYSTEM;
    snprintf(opts, sizeof(opts), "mode=0755,size=%um",
             x->cfg->vm.memory_mb ? x->cfg->vm.memory_mb : 512);
    if (mount("tmpfs", x->stage, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0)
        return BURROW_ERR_SYSTEM;
    int r = extract_image(x);
    if (r != 0) {
        log_error("sandbox: cannot extract %s", x->image);
        return r;
    }
    mkdirs(x->stage, x->rec->name);
    for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
        snprintf(p, sizeof(p), "%s/dev/%s", x->stage, dev_nodes[i]);
        close(open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0666));
    }
    snprintf(p, sizeof(p), "%s/dev/ptmx", x->stage);
    unlink(p);
    if (symlink("pts/ptmx", p) != 0)
        return BURROW_ERR_SYSTEM;
    r = move_tree(x->stage, x->root, userns_fd);
    if (r == BURROW_ERR_UNSUPPORTED) {
        log_info("sandbox: tmpfs takes no id-mapped mount here (Linux < 6.3): "
                 "the root's owners are shifted to the namespace's host ids instead");
        if ((r = shift_owners(x->stage, x->base)) == 0)
            r = move_tree(x->stage, x->root, -1);
    }
    if (r != 0) {
        log_error("sandbox: root mount: %s",
                  r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
        return r;
    }
    for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
        snprintf(from, sizeof(from), "/dev/%s", dev_nodes[i]);
        snprintf(p, sizeof(p), "%s/dev/%s", x->root, dev_nodes[i]);
        if (mount(from, p, NULL, MS_BIND, NULL) != 0)
            return BURROW_ERR_SYSTEM;
    }
    snprintf(p, sizeof(p), "%s/run/burrow", x->root);
    if (mount(x->agentdir, p, NULL, MS_BIND, NULL) != 0)
        return BURROW_ERR_SYSTEM;
    if (x->home_fd >= 0 && (r = attach_home(x, userns_fd)) != 0) {
        log_error("sandbox: cannot mount the home disk of %s: %s", x->rec->name, strerror(errno));
        return r;
    }
    return 0;
}

/* Fork a root helper that joins the child's mount namespace and builds its root. */
static int prepare_mounts(struct sbx *x)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/ns/user", (int)x->child);
    int userns_fd = open(p, O_RDONLY | O_CLOEXEC);
    snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)x->child);
    int mnt_fd = open(p, O_RDONLY | O_CLOEXEC);
    if (userns_fd < 0 || mnt_fd < 0)
        return BURROW_ERR_SYSTEM;
    pid_t pid = fork();
    if (pid == 0) {
        if (setns(mnt_fd, CLONE_NEWNS) != 0) {
            log_error("sandbox: setns: %s", strerror(errno));
            _exit(1);
        }
        _exit(build_root(x, userns_fd) == 0 ? 0 : 1);
    }
    close(userns_fd);
    close(mnt_fd);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}

static int map_ids(const struct sbx *x)
{
    char p[64], text[64];
    snprintf(text, sizeof(text), "0 %u %u\n", (unsigned)x->base, SBX_UID_COUNT);
    snprintf(p, sizeof(p), "/proc/%d/uid_map", (int)x->child);
    if (fs_write_existing(p, text) != 0)
        return BURROW_ERR_SYSTEM;
    snprintf(p, sizeof(p), "/proc/%d/gid_map", (int)x->child);
    return fs_write_existing(p, text);
}

/*
 * The sandbox's own cgroup v2 (run_dir's VM id as its name) with the limits
 * a VM of the same size gets: memory.max = memory_mb + JAIL_MEM_MARGIN,
 * pids.max = SBX_PIDS_MAX. PID 1 joins it before it runs anything, so
 * every process of the sandbox is in it. Where cgroup v2 is not usable the
 * sandbox runs on its rlimits (limit_processes) and the reason is logged.
 */
static int sbx_cgroup(const struct sbx *x)
{
    char name[VMMGR_ID_MAX + 8], why[300];
    struct jail_cgroup_limits lim = {.memory_max =
                                         ((uint64_t)x->cfg->vm.memory_mb << 20) + JAIL_MEM_MARGIN,
                                     .pids_max = SBX_PIDS_MAX,
                                     .cpu_weight = 100};
    snprintf(name, sizeof(name), "sbx-%s", x->vm->id);
    int r = jail_cgroup_join(JAIL_CGROUP_ROOT, name, &lim, x->child, why, sizeof(why));
    if (r == BURROW_ERR_UNSUPPORTED) {
        log_info("sandbox %s: no cgroup (%s): limited by RLIMIT_NPROC only", x->vm->id, why);
        return 0;
    }
    if (r)
        log_error("sandbox %s: cgroup: %s", x->vm->id, why);
    return r;
}

/* Create the namespaces and PID 1; returns once its root is ready and it runs. */
int sbx_spawn(struct sbx *x)
{
    static char stack[256 * 1024] __attribute__((aligned(16)));
    if (pipe2(x->go, O_CLOEXEC) != 0)
        return BURROW_ERR_SYSTEM;
    x->child = clone(sandbox_init, stack + sizeof(stack),
                     CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC |
                         CLONE_NEWNET | SIGCHLD,
                     x);
    if (x->child < 0)
        return BURROW_ERR_SYSTEM;
    close(x->go[0]);
    int r = map_ids(x);
    if (r == 0)
        r = sbx_cgroup(x);
    if (r == 0)
        r = prepare_mounts(x);
    if (x->home_fd >= 0) {
        close(x->home_fd); /* the loop device holds its own reference */
        x->home_fd = -1;
    }
    if (r != 0) {
        kill(x->child, SIGKILL);
        waitpid(x->child, NULL, 0);
        return r;
    }
    if (write(x->go[1], "G", 1) != 1)
        return BURROW_ERR_SYSTEM;
    close(x->go[1]);
    return 0;
}

int sbx_setup_dirs(struct sbx *x, const struct burrow_config *cfg, const struct uservm *vm,
                   const struct user_record *rec, const char *image)
{
    x->cfg = cfg;
    x->vm = vm;
    x->rec = rec;
    x->image = image;
    x->base = SBX_UID_BASE + vm->slot * SBX_UID_COUNT;
    snprintf(x->dir, sizeof(x->dir), "%s", vm->dir);
    if (sbx_path(x->root, sizeof(x->root), x->dir, "/root") ||
        sbx_path(x->stage, sizeof(x->stage), x->dir, "/stage") ||
        sbx_path(x->homestage, sizeof(x->homestage), x->dir, "/homestage") ||
        sbx_path(x->agentdir, sizeof(x->agentdir), x->dir, "/agent"))
        return BURROW_ERR_TOO_LARGE;
    mkdir(x->dir, 0711);
    chmod(x->dir, 0711);
    if (mkdir(x->root, 0700) || mkdir(x->stage, 0700) || mkdir(x->homestage, 0700) ||
        mkdir(x->agentdir, 0700))
        return BURROW_ERR_SYSTEM;
    if (chown(x->agentdir, x->base, x->base) != 0)
        return BURROW_ERR_SYSTEM;
    return 0;
}
