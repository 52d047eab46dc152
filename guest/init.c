/*
 * guest/init.c - burrow-init, PID 1 of the default guest image.
 *
 * Mounts proc, sys, devtmpfs, devpts (ptys need /dev/ptmx), /tmp and /run;
 * brings up lo; loads every module listed in modules.dep (dependencies
 * first, finit_module); starts burrow-agent and restarts it when it dies
 * (with a pause, so a crash loop cannot spin); reaps orphans; powers off
 * cleanly (SIGTERM then SIGKILL to everything, sync, reboot(RB_POWER_OFF))
 * when the agent exits with AGENT_EXIT_POWEROFF or on SIGUSR2/SIGTERM
 * (busybox poweroff / reboot). Static, no libc beyond musl.
 *
 * Root disk (template build --rootfs, docs/guest.md): with burrow.root=DEV
 * on the kernel command line, after the modules are loaded init mounts DEV
 * (ext4) read-only, puts an overlay on it whose upper and work directories
 * live in a tmpfs (per-VM writes stay in guest RAM), moves /dev, /proc,
 * /sys, /run and /tmp into it, frees the initramfs and makes the overlay
 * the root (switch_root semantics: MS_MOVE onto /, chroot). The agent then
 * starts from the new root (the same binary, copied there from this image).
 * Anything missing (no device, no agent in it) leaves the initramfs as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_PATH          "/sbin/burrow-agent"
#define AGENT_EXIT_POWEROFF 100 /* guest/agent.h */
#define MODULES_MAX         128
#define RESTART_PAUSE_S     1

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(msg) - 2)
        n = sizeof(msg) - 2;
    msg[n++] = '\n';
    if (write(2, "burrow-init: ", 13) < 0 || write(2, msg, (size_t)n) < 0)
        return;
}

static void mount_one(const char *src, const char *dst, const char *type, unsigned long flags,
                      const char *data)
{
    mkdir(dst, 0755);
    if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY)
        say("mount %s: %s", dst, strerror(errno));
}

static void mount_all(void)
{
    mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
    mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "gid=5,mode=0620,ptmxmode=0666");
    /* /dev/ptmx must be the devpts instance's, whatever devtmpfs put there. */
    unlink("/dev/ptmx");
    if (symlink("pts/ptmx", "/dev/ptmx") < 0)
        say("/dev/ptmx: %s", strerror(errno));
    mount_one("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_one("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

static void lo_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        say("lo: %s", strerror(errno));
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
            say("lo up: %s", strerror(errno));
    }
    if (fd >= 0)
        close(fd);
}

/* ---- modules: modules.dep lines are "path.ko: dep.ko dep.ko ..." ---- */

struct module {
    char *path;
    char *deps; /* space-separated */
    int state;  /* 0 new, 1 loading, 2 done */
};
static struct module modules[MODULES_MAX];
static int n_modules;
static char moddir[128];

static struct module *find_module(const char *path)
{
    for (int i = 0; i < n_modules; i++)
        if (strcmp(modules[i].path, path) == 0)
            return &modules[i];
    return NULL;
}

static void load_module(struct module *m)
{
    if (m->state)
        return; /* done, or a cycle: modules.dep has none, but never loop */
    m->state = 1;
    char deps[1024];
    snprintf(deps, sizeof(deps), "%s", m->deps);
    for (char *save = NULL, *d = strtok_r(deps, " ", &save); d; d = strtok_r(NULL, " ", &save)) {
        struct module *dm = find_module(d);
        if (dm)
            load_module(dm);
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", moddir, m->path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) < 0) {
        if (errno != EEXIST)
            say("module %s: %s", m->path, strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    m->state = 2;
}

static void load_modules(void)
{
    struct utsname u;
    char path[300];
    if (uname(&u) < 0)
        return;
    snprintf(moddir, sizeof(moddir), "/lib/modules/%.64s", u.release);
    snprintf(path, sizeof(path), "%s/modules.dep", moddir);
    FILE *fp = fopen(path, "re");
    if (!fp) {
        say("%s: %s", path, strerror(errno));
        return;
    }
    char line[1024];
    while (n_modules < MODULES_MAX && fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\n")] = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *deps = colon + 1;
        while (*deps == ' ')
            deps++;
        modules[n_modules].path = strdup(line);
        modules[n_modules].deps = strdup(deps);
        if (modules[n_modules].path && modules[n_modules].deps)
            n_modules++;
    }
    fclose(fp);
    for (int i = 0; i < n_modules; i++)
        load_module(&modules[i]);
}

/* ---- the root disk: overlay on a read-only ext4, then switch_root ---- */

#define NEWROOT "/.burrow/root"
#define ROOT_RO "/.burrow/ro"
#define ROOT_RW "/.burrow/rw"

/* Value of KEY=... on the kernel command line (words split on spaces). */
static int cmdline_value(const char *key, char *out, size_t outsz)
{
    char line[4096];
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, line, sizeof(line) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    line[n] = '\0';
    size_t kl = strlen(key);
    for (char *save = NULL, *w = strtok_r(line, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
        if (strncmp(w, key, kl) == 0 && w[kl] == '=') {
            if (strlen(w + kl + 1) >= outsz)
                return -1;
            strcpy(out, w + kl + 1);
            return 0;
        }
    return -1;
}

/* The driver probes synchronously, but give the node a moment (10 s at most). */
static int wait_for_disk(const char *dev)
{
    char size_path[128];
    snprintf(size_path, sizeof(size_path), "/sys/block/%s/size", dev + 5);
    for (int i = 0; i < 500; i++) {
        char buf[32] = "";
        int fd = open(size_path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t n = read(fd, buf, sizeof(buf) - 1);
            close(fd);
            if (n > 0 && strtoull(buf, NULL, 10) > 0 && access(dev, F_OK) == 0)
                return 0;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* Free the initramfs: everything on the root's device, never crossing into a mount. */
static void free_initramfs(int dirfd, dev_t rootdev, int depth)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != rootdev)
            continue;
        if (S_ISDIR(st.st_mode)) {
            int sub = depth < 32 ? openat(dirfd, e->d_name,
                                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                                 : -1;
            if (sub >= 0)
                free_initramfs(sub, rootdev, depth + 1);
            unlinkat(dirfd, e->d_name, AT_REMOVEDIR); /* mount points stay: EBUSY */
        } else {
            unlinkat(dirfd, e->d_name, 0);
        }
    }
    closedir(d);
}

static int move_mount(const char *what)
{
    char dst[64];
    snprintf(dst, sizeof(dst), NEWROOT "%s", what);
    mkdir(dst, 0755);
    if (mount(what, dst, NULL, MS_MOVE, NULL) < 0) {
        say("move %s: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

static int mount_root_overlay(const char *dev)
{
    mkdir("/.burrow", 0700);
    mkdir(ROOT_RO, 0755);
    mkdir(ROOT_RW, 0755);
    mkdir(NEWROOT, 0755);
    if (mount(dev, ROOT_RO, "ext4", MS_RDONLY, "") < 0) {
        say("mount %s on " ROOT_RO ": %s", dev, strerror(errno));
        return -1;
    }
    if (mount("tmpfs", ROOT_RW, "tmpfs", 0, "mode=0755") < 0 || mkdir(ROOT_RW "/upper", 0755) < 0 ||
        mkdir(ROOT_RW "/work", 0755) < 0) {
        say("tmpfs for the overlay: %s", strerror(errno));
        return -1;
    }
    if (mount("overlay", NEWROOT, "overlay", 0,
              "lowerdir=" ROOT_RO ",upperdir=" ROOT_RW "/upper,workdir=" ROOT_RW "/work") < 0) {
        say("overlay on %s: %s", dev, strerror(errno));
        return -1;
    }
    if (access(NEWROOT AGENT_PATH, X_OK) < 0) {
        say("%s has no %s: staying on the initramfs", dev, AGENT_PATH);
        umount2(NEWROOT, MNT_DETACH);
        return -1;
    }
    return 0;
}

static void switch_to_root_disk(void)
{
    char dev[32];
    if (cmdline_value("burrow.root", dev, sizeof(dev)) < 0)
        return;
    if (strncmp(dev, "/dev/", 5) != 0 || !dev[5] || strchr(dev + 5, '/')) {
        say("burrow.root=%s: not /dev/NAME", dev);
        return;
    }
    if (wait_for_disk(dev) < 0) {
        say("root disk %s did not appear: staying on the initramfs", dev);
        return;
    }
    if (mount_root_overlay(dev) < 0)
        return;
    static const char *const moved[] = {"/dev", "/proc", "/sys", "/run", "/tmp"};
    for (size_t i = 0; i < sizeof(moved) / sizeof(moved[0]); i++)
        if (move_mount(moved[i]) < 0)
            return; /* half moved: still bootable from here, but say so */
    struct stat st;
    int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd >= 0 && fstat(rootfd, &st) == 0)
        free_initramfs(rootfd, st.st_dev, 0);
    else if (rootfd >= 0)
        close(rootfd);
    if (chdir(NEWROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
        chdir("/") < 0) {
        say("switch_root to %s: %s", dev, strerror(errno));
        return;
    }
    say("root is %s (read-only) with a tmpfs overlay", dev);
}

/* ---- the agent and the end ---- */

static pid_t start_agent(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *argv[] = {(char *)"burrow-agent", NULL};
        char *envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *)"HOME=/", NULL};
        execve(AGENT_PATH, argv, envp);
        say("exec %s: %s", AGENT_PATH, strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        say("fork: %s", strerror(errno));
    return pid;
}

static void __attribute__((noreturn)) power_off(void)
{
    say("powering off");
    kill(-1, SIGTERM);
    sleep(1);
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    sync();
    reboot(RB_POWER_OFF);
    /* Only reached if the kernel refused: a panic (panic=-1) still ends the VM. */
    for (;;)
        pause();
}

/* The kernel normally hands PID 1 the console as fds 0-2; only fill gaps. */
static void open_console(void)
{
    if (fcntl(0, F_GETFD) >= 0 && fcntl(1, F_GETFD) >= 0 && fcntl(2, F_GETFD) >= 0)
        return;
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd < 0)
        return;
    for (int i = 0; i < 3; i++)
        dup2(fd, i);
    if (fd > 2)
        close(fd);
}

int main(void)
{
    if (getpid() != 1) {
        say("must run as PID 1");
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);

    mount_all();
    open_console();
    lo_up();
    load_modules();
    switch_to_root_disk();
    setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);

    pid_t agent = start_agent();
    time_t agent_started = time(NULL);
    for (;;) {
        siginfo_t si;
        struct timespec ts = {.tv_sec = 1};
        int sig = sigtimedwait(&set, &si, agent > 0 ? NULL : &ts);
        if (sig == SIGTERM || sig == SIGUSR1 || sig == SIGUSR2)
            power_off();
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
            if (p != agent)
                continue; /* an orphan: reaped */
            agent = -1;
            if (WIFEXITED(status) && WEXITSTATUS(status) == AGENT_EXIT_POWEROFF)
                power_off();
            say("agent died (status %d); restarting", status);
        }
        if (agent < 0) {
            if (time(NULL) - agent_started < RESTART_PAUSE_S)
                sleep(RESTART_PAUSE_S);
            agent = start_agent();
            agent_started = time(NULL);
        }
    }
}
