/*
 * tests/unit/vmm/jail/test_tool.c - confined e2fsprogs runs (vmm/jail/tool.h),
 * as root. The "tool" is this binary again (argv[1] = --probe MODE), so
 * it can report what it sees from inside a run: its uid, its pid, its
 * /proc, the image, a host secret, the network; or act as a hijacked
 * e2fsck that stays alive and goes after other runs' images.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "tests/lib/testutil.h"
#include "vmm/jail/jail.h"
#include "vmm/jail/tool.h"

/* ---- the probe: runs inside a confined run ------------------------------- */

static void say(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0 && write(1, line, (size_t)n) < 0)
        _exit(3);
}

static int count_procs(void)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
    if (d)
        closedir(d);
    return n;
}

/* What a run looks like from inside; argv: SECRET-PATH. */
static int probe_confined(const char *secret)
{
    int img = open(JAIL_TOOL_PATH, O_RDWR);
    int wrote = img >= 0 && write(img, "X", 1) == 1;
    int sec = open(secret, O_RDONLY) < 0 ? errno : 0;
    int sock = socket(AF_INET, SOCK_STREAM, 0) < 0 ? errno : 0;
    say("uid=%u pid=%d procs=%d image=%s secret=%s socket=%s\n", (unsigned)getuid(), (int)getpid(),
        count_procs(), wrote ? "ok" : "no", sec == EACCES ? "EACCES" : "open",
        sock == EACCES ? "EACCES" : "made");
    return 0;
}

/* A hijacked e2fsck that stays alive: every fd 3 of another process it can open, it overwrites. */
static int probe_linger(void)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    for (int round = 0; round < 500; round++) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char p[300];
            if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
                continue;
            snprintf(p, sizeof(p), "/proc/%s/fd/3", e->d_name);
            int fd = open(p, O_WRONLY);
            if (fd >= 0 && write(fd, "PWNED", 5) == 5)
                say("reached %s\n", p);
            if (fd >= 0)
                close(fd);
        }
        if (d)
            closedir(d);
        nanosleep(&pause, NULL);
    }
    return 0;
}

/* An ordinary run that takes a moment. */
static int probe_victim(void)
{
    struct timespec t = {1, 500 * 1000 * 1000};
    nanosleep(&t, NULL);
    return 0;
}

static int probe_main(int argc, char **argv)
{
    if (argc >= 4 && !strcmp(argv[2], "confined"))
        return probe_confined(argv[3]);
    if (!strcmp(argv[2], "linger"))
        return probe_linger();
    if (!strcmp(argv[2], "victim"))
        return probe_victim();
    return 2;
}

/* ---- the tests ------------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNLESS_PLAIN_ROOT()                                                                   \
    TU_SKIP("the tool filter is not made for the ASan runtime; the plain build runs this")
#else
#define SKIP_UNLESS_PLAIN_ROOT()                                                                   \
    do {                                                                                           \
        if (geteuid() != 0)                                                                        \
            TU_SKIP("needs root (namespaces, a uid of its own)");                                  \
    } while (0)
#endif

static char self_exe[512];

struct probe_run {
    struct jail_tool_run run;
    int out; /* read end of its stdout */
    int image;
};

/* Start this binary as a confined tool on image (created with content). */
static void start_probe(struct probe_run *p, const char *image, const char *content,
                        char *const argv[])
{
    static char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    int pipefd[2];
    tu_write_file(image, content);
    p->image = open(image, O_RDWR | O_CLOEXEC);
    assert_true(p->image >= 0);
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    struct jail_tool_spec s = {.exe = self_exe,
                               .argv = argv,
                               .envp = envp,
                               .image_fd = p->image,
                               .out_fd = pipefd[1],
                               .mode = SC_MODE_ENFORCE};
    assert_int_equal(jail_tool_start(&s, &p->run), 0);
    close(pipefd[1]);
    p->out = pipefd[0];
}

/* Finish it (deadline in ms from now); its output in out; the finish result. */
static int finish_probe(struct probe_run *p, long within_ms, int *status, char *out, size_t outsz)
{
    int r = jail_tool_finish(&p->run, clock_now_ms() + within_ms, status);
    ssize_t n = read(p->out, out, outsz - 1);
    out[n > 0 ? n : 0] = '\0';
    close(p->out);
    return r;
}

/* Processes of the host running as uid (a run's leftovers). */
static int uid_processes(uid_t uid)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct stat st;
        char p[300];
        snprintf(p, sizeof(p), "/proc/%s", e->d_name);
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && stat(p, &st) == 0 && st.st_uid == uid)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* A run sees its image, nothing else: its own uid and pid namespace, a /proc of one. */
static void test_run_confined(void **state)
{
    (void)state;
    SKIP_UNLESS_PLAIN_ROOT();
    char *dir = tu_mkdtemp("tool");
    char img[512], secret[512], out[512], want[256];
    snprintf(img, sizeof(img), "%s/home.img", dir);
    snprintf(secret, sizeof(secret), "%s/secret", dir);
    tu_write_file(secret, "host secret");
    assert_int_equal(chmod(secret, 0600), 0);
    char *argv[] = {"probe", "--probe", "confined", secret, NULL};
    struct probe_run p;
    start_probe(&p, img, "image", argv);
    assert_int_equal(p.run.uid, JAIL_TOOL_UID_BASE + (uid_t)p.run.pid);
    int status;
    assert_int_equal(finish_probe(&p, 10000, &status, out, sizeof(out)), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    snprintf(want, sizeof(want), "uid=%u pid=1 procs=1 image=ok secret=EACCES socket=EACCES\n",
             (unsigned)p.run.uid);
    assert_string_equal(out, want);
    struct stat st;
    assert_int_equal(fstat(p.image, &st), 0);
    assert_int_equal(st.st_uid, 0); /* ownership restored */
    close(p.image);
    char *back = tu_read_file(img, NULL);
    assert_string_equal(back, "Xmage");
    free(back);
    tu_rmrf(dir);
    free(dir);
}

/*
 * A run that stays alive (a hijacked e2fsck on one user's image) cannot
 * reach a later run's image on another user's: it sees no other process,
 * has another uid, and the wall-clock deadline kills it with all it has.
 */
static void test_runs_cannot_reach_each_other(void **state)
{
    (void)state;
    SKIP_UNLESS_PLAIN_ROOT();
    char *dir = tu_mkdtemp("tools");
    char a_img[512], b_img[512], out[4096];
    snprintf(a_img, sizeof(a_img), "%s/a.img", dir);
    snprintf(b_img, sizeof(b_img), "%s/b.img", dir);
    char *linger[] = {"probe", "--probe", "linger", NULL};
    char *victim[] = {"probe", "--probe", "victim", NULL};
    struct probe_run a, b;
    long t0 = clock_now_ms();
    start_probe(&a, a_img, "attacker's image", linger);
    struct timespec t = {0, 200 * 1000 * 1000};
    nanosleep(&t, NULL);
    start_probe(&b, b_img, "victim's image", victim);
    int status;
    assert_int_equal(finish_probe(&b, 10000, &status, out, sizeof(out)), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The lingering run hits its deadline: killed, nothing of it left. */
    assert_int_equal(finish_probe(&a, 3000 - (clock_now_ms() - t0), &status, out, sizeof(out)),
                     BURROW_ERR_TIMEOUT);
    assert_true(WIFSIGNALED(status));
    char *back = tu_read_file(b_img, NULL);
    assert_string_equal(back, "victim's image");
    free(back);
    assert_null(strstr(out, "reached"));
    assert_true(a.run.uid != b.run.uid);
    assert_true(clock_now_ms() - t0 < 6000);
    assert_int_equal(uid_processes(a.run.uid), 0);
    close(a.image);
    close(b.image);
    tu_rmrf(dir);
    free(dir);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--probe"))
        return probe_main(argc, argv);
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = '\0';
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_confined),
        cmocka_unit_test(test_runs_cannot_reach_each_other),
    };
    return cmocka_run_group_tests_name("vmm/jail/tool", tests, NULL, NULL);
}
