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
