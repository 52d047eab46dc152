/*
 * guest/agent_identity.c - apply the identity the VMM sends after every
 * fork (docs/guest.md), step by step, recording each step's outcome for READY:
 *   entropy   RNDADDENTROPY (64 bytes, credited) + RNDRESEEDCRNG
 *   clock     clock_settime(CLOCK_REALTIME) (never over a unix control
 *             socket: there the "guest" shares the host's clock)
 *   hostname  sethostname (over unix control only inside a UTS namespace
 *             of its own, so a test cannot rename the host)
 *   users     passwd/group entries under --etc, home directory
 *   home      wait for /sys/block/DEV/size > 0, mount /dev/DEV at the home
 *   network   MAC, address, route, resolv.conf (agent_netcfg.c)
 *   hooks     every executable in the post-fork directory, sorted, each with
 *             a timeout (killed with its process group when it expires)
 * A step that fails does not stop the later ones.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "guest/agent.h"

/* From <linux/random.h>, which musl does not ship. */
#define RNDADDENTROPY_ _IOW('R', 0x03, int[2])
#define RNDRESEEDCRNG_ _IO('R', 0x07)

#define TEXT_SZ 256

static void outcome(struct proto_ready *rd, char texts[][TEXT_SZ], int step, uint32_t what,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void outcome(struct proto_ready *rd, char texts[][TEXT_SZ], int step, uint32_t what,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(texts[step], TEXT_SZ, fmt, ap);
    va_end(ap);
    rd->outcome[step] = what;
    rd->text[step] = proto_str_c(texts[step]);
}

static void step_entropy(const struct agent_config *cfg, const struct proto_identity *id,
                         struct proto_ready *rd, char texts[][TEXT_SZ])
{
    struct {
        int entropy_count;
        int buf_size;
        uint8_t buf[PROTO_ENTROPY_LEN];
    } pool = {.entropy_count = PROTO_ENTROPY_LEN * 8, .buf_size = PROTO_ENTROPY_LEN};
    memcpy(pool.buf, id->entropy, PROTO_ENTROPY_LEN);
    int fd = open(cfg->random_dev, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        outcome(rd, texts, PROTO_STEP_ENTROPY, PROTO_STEP_FAILED, "open %s: %s", cfg->random_dev,
                strerror(errno));
        return;
    }
    if (ioctl(fd, RNDADDENTROPY_, &pool) < 0)
        outcome(rd, texts, PROTO_STEP_ENTROPY, PROTO_STEP_FAILED, "RNDADDENTROPY: %s",
                strerror(errno));
    else if (ioctl(fd, RNDRESEEDCRNG_) < 0)
        outcome(rd, texts, PROTO_STEP_ENTROPY, PROTO_STEP_FAILED, "RNDRESEEDCRNG: %s",
                strerror(errno));
    else
        outcome(rd, texts, PROTO_STEP_ENTROPY, PROTO_STEP_OK, "added %u bytes, reseeded",
                PROTO_ENTROPY_LEN);
    close(fd);
    explicit_bzero(&pool, sizeof(pool));
}

static void step_clock(const struct agent_config *cfg, const struct proto_identity *id,
                       struct proto_ready *rd, char texts[][TEXT_SZ])
{
    if (cfg->no_clock || cfg->control.kind == ADDR_UNIX) {
        outcome(rd, texts, PROTO_STEP_CLOCK, PROTO_STEP_SKIPPED, "clock shared with the host");
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)id->time_sec, .tv_nsec = (long)id->time_nsec};
    if (clock_settime(CLOCK_REALTIME, &ts) < 0)
        outcome(rd, texts, PROTO_STEP_CLOCK, PROTO_STEP_FAILED, "clock_settime: %s",
                strerror(errno));
    else
        outcome(rd, texts, PROTO_STEP_CLOCK, PROTO_STEP_OK, "set to %lld", (long long)ts.tv_sec);
}

/*
 * In the kernel's initial UTS namespace (the host's own hostname)? Its inode
 * number is fixed (PROC_UTS_INIT_INO). /proc/1/ns is not always readable, even
 * for root (PID 1 may live in another user namespace), so compare to that.
 */
#define PROC_UTS_INIT_INO_ 0xEFFFFFFEu

static int uts_is_initial(void)
{
    struct stat a;
    if (stat("/proc/self/ns/uts", &a) < 0)
        return 1; /* cannot tell: assume the worst */
    return a.st_ino == PROC_UTS_INIT_INO_;
}

static int hostname_ok(const char *h)
{
    if (!*h || strlen(h) > 64)
        return 0;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.'))
            return 0;
    return 1;
}

static void step_hostname(const struct agent_config *cfg, const char *hostname,
                          struct proto_ready *rd, char texts[][TEXT_SZ])
{
    if (!*hostname) {
        outcome(rd, texts, PROTO_STEP_HOSTNAME, PROTO_STEP_SKIPPED, "no hostname given");
    } else if (!hostname_ok(hostname)) {
        outcome(rd, texts, PROTO_STEP_HOSTNAME, PROTO_STEP_FAILED, "invalid hostname");
    } else if (cfg->control.kind == ADDR_UNIX && uts_is_initial()) {
        outcome(rd, texts, PROTO_STEP_HOSTNAME, PROTO_STEP_FAILED,
                "refusing to rename the host: not in a UTS namespace of its own");
    } else if (sethostname(hostname, strlen(hostname)) < 0) {
        outcome(rd, texts, PROTO_STEP_HOSTNAME, PROTO_STEP_FAILED, "sethostname: %s",
                strerror(errno));
    } else {
        outcome(rd, texts, PROTO_STEP_HOSTNAME, PROTO_STEP_OK, "%s", hostname);
    }
}

static void step_users(const struct agent_config *cfg, const struct agent_user *u, int valid,
                       struct proto_ready *rd, char texts[][TEXT_SZ])
{
    if (!valid) {
        outcome(rd, texts, PROTO_STEP_USERS, PROTO_STEP_FAILED, "invalid user fields");
        return;
    }
    int r = users_install(cfg->etc, u);
    if (r) {
        outcome(rd, texts, PROTO_STEP_USERS, PROTO_STEP_FAILED, "%s/passwd: %s", cfg->etc,
                r == BURROW_ERR_SYSTEM ? strerror(errno) : burrow_strerror(r));
        return;
    }
    if (mkdir(u->home, 0755) == 0) {
        if (chown(u->home, u->uid, u->gid) < 0)
            errno = 0;
    }
    outcome(rd, texts, PROTO_STEP_USERS, PROTO_STEP_OK, "%s uid %u gid %u", u->name,
            (unsigned)u->uid, (unsigned)u->gid);
}

/* The 0->N capacity change sends no uevent: poll sysfs until it is non-zero. */
static int wait_capacity(const char *dev, int timeout_s)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/block/%s/size", dev);
    int64_t deadline = clock_now_ms() + (int64_t)timeout_s * 1000;
    do {
        FILE *fp = fopen(path, "re");
        unsigned long long sectors = 0;
        if (fp) {
            if (fscanf(fp, "%llu", &sectors) != 1)
                sectors = 0;
            fclose(fp);
        }
        if (sectors > 0)
            return 0;
        usleep(20000);
    } while (clock_now_ms() < deadline);
    return BURROW_ERR_TIMEOUT;
}

static void step_home(const struct agent_config *cfg, struct agent_state *st,
                      const struct proto_identity *id, const struct agent_user *u,
                      struct proto_ready *rd, char texts[][TEXT_SZ])
{
    if (!(id->flags & PROTO_ID_F_HOME_DISK)) {
        outcome(rd, texts, PROTO_STEP_HOME, PROTO_STEP_SKIPPED, "no home disk");
        return;
    }
    if (!cfg->home_dev[0]) {
        outcome(rd, texts, PROTO_STEP_HOME, PROTO_STEP_SKIPPED, "home disk handled by the host");
        return;
    }
    if (st->home_mounted[0]) {
        outcome(rd, texts, PROTO_STEP_HOME, PROTO_STEP_OK, "already mounted at %s",
                st->home_mounted);
        return;
    }
    if (wait_capacity(cfg->home_dev, cfg->home_timeout_s)) {
        outcome(rd, texts, PROTO_STEP_HOME, PROTO_STEP_FAILED, "%s has no capacity after %d s",
                cfg->home_dev, cfg->home_timeout_s);
        return;
    }
    char dev[96];
    snprintf(dev, sizeof(dev), "/dev/%s", cfg->home_dev);
    mkdir(u->home, 0755);
    if (mount(dev, u->home, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0) {
        outcome(rd, texts, PROTO_STEP_HOME, PROTO_STEP_FAILED, "mount %s: %s", dev,
                strerror(errno));
        return;
    }
    /* A fresh mkfs leaves the root directory to root: hand it to the user. */
    struct stat sb;
    if (stat(u->home, &sb) == 0 && sb.st_uid == 0 && u->uid != 0 &&
        chown(u->home, u->uid, u->gid) < 0)
        errno = 0;
    snprintf(st->home_mounted, sizeof(st->home_mounted), "%s", u->home);
    outcome(rd, texts, PROTO_STEP_HOME, PROTO_STEP_OK, "%s on %s", dev, u->home);
}

static int hook_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Run one hook with a timeout; returns a short description of a failure, or NULL. */
static const char *run_hook(const char *path, const struct agent_user *u, const char *hostname,
                            int timeout_s, char *why, size_t whysz)
{
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whysz, "fork: %s", strerror(errno));
        return why;
    }
    if (pid == 0) {
        char e_user[96], e_home[AGENT_PATH_MAX + 16], e_host[PROTO_HOST_MAX + 20], e_uid[32];
        snprintf(e_user, sizeof(e_user), "BURROW_USER=%s", u->name);
        snprintf(e_home, sizeof(e_home), "BURROW_HOME=%s", u->home);
        snprintf(e_host, sizeof(e_host), "BURROW_HOSTNAME=%s", hostname);
        snprintf(e_uid, sizeof(e_uid), "BURROW_UID=%u", (unsigned)u->uid);
        char *envp[] = {
            (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", e_user, e_home, e_host, e_uid, NULL};
        char *argv[] = {(char *)path, NULL};
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0)
            dup2(devnull, 0);
        execve(path, argv, envp);
        _exit(127);
    }
    setpgid(pid, pid);
    int64_t deadline = clock_now_ms() + (int64_t)timeout_s * 1000;
    int status;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (clock_now_ms() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, whysz, "timed out after %d s", timeout_s);
            return why;
        }
        usleep(10000);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return NULL;
    if (WIFEXITED(status))
        snprintf(why, whysz, "exit %d", WEXITSTATUS(status));
    else
        snprintf(why, whysz, "killed by signal %d", WTERMSIG(status));
    return why;
}

static void step_hooks(const struct agent_config *cfg, const struct agent_user *u,
                       const char *hostname, struct proto_ready *rd, char texts[][TEXT_SZ])
{
    struct dirent **list;
    int n = scandir(cfg->hooks, &list, hook_filter, alphasort);
    if (n < 0) {
        outcome(rd, texts, PROTO_STEP_HOOKS,
                errno == ENOENT ? PROTO_STEP_SKIPPED : PROTO_STEP_FAILED, "%s: %s", cfg->hooks,
                strerror(errno));
        return;
    }
    int ran = 0, failed = 0;
    char failures[TEXT_SZ] = "";
    for (int i = 0; i < n; i++) {
        char path[AGENT_PATH_MAX + 300], why[64];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/%s", cfg->hooks, list[i]->d_name);
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && access(path, X_OK) == 0) {
            ran++;
            const char *bad = run_hook(path, u, hostname, cfg->hook_timeout_s, why, sizeof(why));
            if (bad) {
                failed++;
                size_t used = strlen(failures);
                if (snprintf(failures + used, sizeof(failures) - used, "%s%s: %s", used ? "; " : "",
                             list[i]->d_name, bad) < 0)
                    failures[used] = '\0';
            }
        }
        free(list[i]);
    }
    free(list);
    if (failed)
        outcome(rd, texts, PROTO_STEP_HOOKS, PROTO_STEP_FAILED, "%d of %d failed: %s", failed, ran,
                failures);
    else
        outcome(rd, texts, PROTO_STEP_HOOKS, PROTO_STEP_OK, "%d ran", ran);
}

/* Turn the wire identity into a user record; 0 if a field is unusable. */
static int identity_user(const struct agent_config *cfg, const struct proto_identity *id,
                         struct agent_user *u)
{
    memset(u, 0, sizeof(*u));
    if (proto_str_copy(id->user, u->name, sizeof(u->name)) || !users_name_ok(u->name))
        return 0;
    u->uid = id->uid;
    u->gid = id->gid;
    if (id->home.len == 0) {
        if (snprintf(u->home, sizeof(u->home), "%s/%s", cfg->home_root, u->name) >=
            (int)sizeof(u->home))
            return 0;
    } else if (proto_str_copy(id->home, u->home, sizeof(u->home)) || u->home[0] != '/')
        return 0;
    if (id->shell.len == 0)
        strcpy(u->shell, "/bin/sh");
    else if (proto_str_copy(id->shell, u->shell, sizeof(u->shell)) || u->shell[0] != '/')
        return 0;
    if (strcmp(u->shell, "/bin/sh") == 0)
        identity_default_shell(cfg->etc, u->shell, sizeof(u->shell));
    return !strpbrk(u->home, ":\n") && !strpbrk(u->shell, ":\n") && !strstr(u->home, "/../");
}

void identity_apply(const struct agent_config *cfg, struct agent_state *st,
                    const struct proto_identity *id, struct proto_ready *rd,
                    char texts[PROTO_STEP_COUNT][256])
{
    struct agent_user u;
    char hostname[PROTO_HOST_MAX + 1] = "";
    memset(rd, 0, sizeof(*rd));
    int valid = identity_user(cfg, id, &u);
    if (proto_str_copy(id->hostname, hostname, sizeof(hostname)))
        hostname[0] = '\0';
    st->allow_root = (id->flags & PROTO_ID_F_ALLOW_ROOT) != 0;

    step_entropy(cfg, id, rd, texts);
    step_clock(cfg, id, rd, texts);
    step_hostname(cfg, hostname, rd, texts);
    step_users(cfg, &u, valid, rd, texts);
    if (valid) {
        step_home(cfg, st, id, &u, rd, texts);
        char note[AGENT_PATH_MAX + 64];
        if (skel_apply(cfg, &u, note, sizeof(note)) < 0 || note[0])
            snprintf(texts[PROTO_STEP_HOME] + strlen(texts[PROTO_STEP_HOME]),
                     TEXT_SZ - strlen(texts[PROTO_STEP_HOME]), "%s", note);
    } else
        outcome(rd, texts, PROTO_STEP_HOME, PROTO_STEP_FAILED, "no valid user");
    /* Before the hooks: they may want the network. */
    rd->outcome[PROTO_STEP_NETWORK] = netcfg_apply(cfg, id, texts[PROTO_STEP_NETWORK], TEXT_SZ);
    rd->text[PROTO_STEP_NETWORK] = proto_str_c(texts[PROTO_STEP_NETWORK]);
    step_hooks(cfg, &u, hostname, rd, texts);
}

void identity_resume(const struct agent_config *cfg, const struct proto_resume *rs,
                     struct proto_ready *rd, char texts[PROTO_STEP_COUNT][256])
{
    /* The steps that fit a running system take their inputs from an identity. */
    static struct proto_identity id;
    memset(&id, 0, sizeof(id));
    memcpy(id.entropy, rs->entropy, sizeof(id.entropy));
    id.time_sec = rs->time_sec;
    id.time_nsec = rs->time_nsec;
    id.flags = rs->flags & PROTO_ID_F_NET;
    id.net = rs->net;
    memset(rd, 0, sizeof(*rd));
    for (int i = 0; i < PROTO_STEP_COUNT; i++)
        outcome(rd, texts, i, PROTO_STEP_SKIPPED, "resumed: kept as it was");
    step_entropy(cfg, &id, rd, texts);
    step_clock(cfg, &id, rd, texts);
    if (id.flags & PROTO_ID_F_NET) {
        rd->outcome[PROTO_STEP_NETWORK] =
            netcfg_apply(cfg, &id, texts[PROTO_STEP_NETWORK], TEXT_SZ);
        rd->text[PROTO_STEP_NETWORK] = proto_str_c(texts[PROTO_STEP_NETWORK]);
    }
    explicit_bzero(id.entropy, sizeof(id.entropy));
}

int identity_hibernate(const struct agent_state *st, char *text, size_t textsz)
{
    sync();
    if (!st->home_mounted[0]) {
        snprintf(text, textsz, "synced; no home disk mounted");
        return 0;
    }
    /* syncfs reports the home disk's write errors, which sync() would not. */
    int fd = open(st->home_mounted, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) < 0) {
        snprintf(text, textsz, "syncfs %s: %s", st->home_mounted, strerror(errno));
        if (fd >= 0)
            close(fd);
        return BURROW_ERR_SYSTEM;
    }
    close(fd);
    snprintf(text, textsz, "synced %s", st->home_mounted);
    return 0;
}

int identity_shutdown(struct agent_state *st, char *text, size_t textsz)
{
    sync();
    if (!st->home_mounted[0]) {
        snprintf(text, textsz, "synced; no home disk mounted");
        return 0;
    }
    if (umount2(st->home_mounted, 0) == 0) {
        snprintf(text, textsz, "synced; unmounted %s", st->home_mounted);
        st->home_mounted[0] = '\0';
        return 0;
    }
    /* Busy: detach so the filesystem is flushed and released when the last user goes. */
    int e = errno;
    sync();
    if (umount2(st->home_mounted, MNT_DETACH) == 0) {
        snprintf(text, textsz, "synced; %s busy (%s), detached", st->home_mounted, strerror(e));
        st->home_mounted[0] = '\0';
        return BURROW_ERR_BUSY;
    }
    snprintf(text, textsz, "synced; umount %s: %s", st->home_mounted, strerror(errno));
    return BURROW_ERR_SYSTEM;
}
