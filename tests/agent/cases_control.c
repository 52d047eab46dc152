/*
 * tests/agent/cases_control.c - control-channel cases of the agent tier: a
 * second agent with a unix control socket in fresh UTS and mount namespaces
 * (identity steps, readiness, home disk on a loop device, hooks, heartbeat,
 * shutdown, reset; HIBERNATE and RESUME), and the vsock listener.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/agent/agent_test.h"

/*
 * The guest transport: there is no vsock peer on the host, but an agent
 * listening on a vsock port makes a second bind of that port fail, which
 * shows the address layout (musl has no <linux/vm_sockets.h>) is right.
 */
static void t_vsock_listen(void)
{
    struct {
        unsigned short family, reserved;
        unsigned int port, cid;
        unsigned char zero[4];
    } vm = {.family = 40 /* AF_VSOCK */,
            .port = 40000 + (unsigned)(getpid() % 20000),
            .cid = 0xffffffffu};
    int probe = socket(40, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        printf("skip vsock-listen: no AF_VSOCK on this host (%s)\n", strerror(errno));
        return;
    }
    char listen_arg[32];
    snprintf(listen_arg, sizeof(listen_arg), "vsock:%u", vm.port);
    char *args[] = {"--listen", listen_arg, "--control", "none", "--etc", etc_dir, NULL};
    pid_t pid = start_agent(args, 0);
    int in_use = 0;
    for (int i = 0; i < 100 && !in_use; i++) {
        usleep(20000);
        in_use = bind(probe, (struct sockaddr *)&vm, sizeof(vm)) < 0 && errno == EADDRINUSE;
    }
    report(in_use, "vsock-listen", "the agent did not bind vsock port %u", vm.port);
    close(probe);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/* ---- identity over a control socket, in a fresh UTS namespace ---- */

static void t_identity(void)
{
    char ctl_path[320], l2[320], etc2[320], hooks[400], home2[320], marker[400], path[500];
    snprintf(ctl_path, sizeof(ctl_path), "%s/control.sock", tmp);
    snprintf(l2, sizeof(l2), "%s/agent2.sock", tmp);
    snprintf(etc2, sizeof(etc2), "%s/etc2", tmp);
    snprintf(hooks, sizeof(hooks), "%s/hooks", tmp);
    snprintf(home2, sizeof(home2), "%s/home2", tmp);
    snprintf(marker, sizeof(marker), "%s/hook-ran", tmp);
    mkdir(etc2, 0755);
    mkdir(hooks, 0755);
    mkdir(home2, 0755);
    write_file((snprintf(path, sizeof(path), "%s/passwd", etc2), path),
               "root:x:0:0:root:/root:/bin/sh\n", 0644);
    write_file((snprintf(path, sizeof(path), "%s/group", etc2), path), "root:x:0:\n", 0644);
    char hook[600];
    snprintf(hook, sizeof(hook), "#!/bin/sh\necho \"$BURROW_USER $BURROW_HOSTNAME\" > %s\n",
             marker);
    write_file((snprintf(path, sizeof(path), "%s/10-mark", hooks), path), hook, 0755);
    write_file((snprintf(path, sizeof(path), "%s/20-slow", hooks), path),
               "#!/bin/sh\nexec sleep 30\n", 0755);

    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int too_long =
        snprintf(un.sun_path, sizeof(un.sun_path), "%s", ctl_path) >= (int)sizeof(un.sun_path);
    if (l < 0 || too_long || bind(l, (struct sockaddr *)&un, sizeof(un)) || listen(l, 4)) {
        report(0, "identity", "control listener: %s", strerror(errno));
        return;
    }
    /*
     * The home disk: a loop device over an empty file (capacity 0, like the
     * template's empty virtio-blk slot) that gets an ext4 image and a new
     * capacity while the agent polls /sys/block/DEV/size.
     */
    char fs_img[340], hd_img[340], loopdev[64] = "", cmd[2048];
    snprintf(fs_img, sizeof(fs_img), "%s/fs.img", tmp);
    snprintf(hd_img, sizeof(hd_img), "%s/hd.img", tmp);
    snprintf(cmd, sizeof(cmd),
             "truncate -s 16M %s && mkfs.ext4 -q -F %s && : > %s && losetup --find --show %s",
             fs_img, fs_img, hd_img, hd_img);
    FILE *lp = popen(cmd, "r");
    if (lp) {
        if (!fgets(loopdev, sizeof(loopdev), lp))
            loopdev[0] = 0;
        loopdev[strcspn(loopdev, "\n")] = 0;
        pclose(lp);
    }
    const char *loopname = strncmp(loopdev, "/dev/", 5) == 0 ? loopdev + 5 : NULL;
    if (!loopname)
        printf("skip home-disk-mount: no loop device (%s)\n", loopdev);
    char a_listen[340], a_control[340], a_etc[340], a_hooks[420], a_home[340];
    snprintf(a_listen, sizeof(a_listen), "unix:%s", l2);
    snprintf(a_control, sizeof(a_control), "unix:%s", ctl_path);
    snprintf(a_etc, sizeof(a_etc), "%s", etc2);
    snprintf(a_hooks, sizeof(a_hooks), "%s", hooks);
    snprintf(a_home, sizeof(a_home), "%s", home2);
    char *args[] = {"--listen",
                    a_listen,
                    "--control",
                    a_control,
                    "--etc",
                    a_etc,
                    "--hooks",
                    a_hooks,
                    "--home-root",
                    a_home,
                    "--hook-timeout",
                    "1",
                    "--heartbeat",
                    "1",
                    "--home-dev",
                    loopname ? (char *)loopname : "none",
                    "--home-timeout",
                    "5",
                    NULL};
    pid_t pid = start_agent(args, 1);
    struct pollfd p = {.fd = l, .events = POLLIN};
    struct cl c = {.fd = -1};
    struct proto_frame f;
    struct proto_hello h;
    int ok = poll(&p, 1, 5000) == 1;
    if (ok) {
        c.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        buf_init_writer(&c.in, c.in_mem, sizeof(c.in_mem));
    }
    ok = ok && c.fd >= 0 && cl_read_frame(&c, &f, 5000) == 0 && proto_get_hello(&f, &h) == 0 &&
         h.role == PROTO_ROLE_AGENT;
    report(ok, "control-hello", "no hello from the agent");

    /* Sessions wait for READY: the listener is not served yet. */
    struct cl s;
    struct result res = {0};
    struct proto_frame sf;
    int early = cl_connect(&s, l2) == 0 && cl_send_hello(&s) == 0 &&
                cl_read_frame(&s, &sf, 300) == BURROW_ERR_TIMEOUT;
    report(early, "no-session-before-ready", "a session was served before READY");

    uint8_t mem[PROTO_FRAME_MAX];
    struct buf b;
    buf_init_writer(&b, mem, sizeof(mem));
    struct proto_hello vh = {.version = PROTO_VERSION, .role = PROTO_ROLE_VMM};
    struct proto_identity id = {.user = proto_str_c(ID_USER),
                                .uid = ID_UID,
                                .gid = ID_UID,
                                .shell = proto_str_c("/bin/sh"),
                                .home = proto_str_c(NULL),
                                .hostname = proto_str_c("burrow-test-host"),
                                .time_sec = 1,
                                .time_nsec = 0,
                                .flags = loopname ? PROTO_ID_F_HOME_DISK : 0};
    int ufd = open("/dev/urandom", O_RDONLY);
    if (ufd < 0 || read(ufd, id.entropy, sizeof(id.entropy)) != (ssize_t)sizeof(id.entropy))
        ok = 0;
    if (ufd >= 0)
        close(ufd);
    ok = ok && proto_put_hello(&b, &vh) == 0 && proto_put_identity(&b, &id) == 0 &&
         cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0;
    pid_t attach = -1;
    if (ok && loopname) { /* the "VMM" attaches the disk a moment later */
        snprintf(cmd, sizeof(cmd), "sleep 0.3 && cp %s %s && losetup -c %s", fs_img, hd_img,
                 loopdev);
        attach = fork();
        if (attach == 0) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
    }
    struct proto_ready rd;
    int got_ready = 0;
    for (int i = 0; ok && i < 10 && !got_ready; i++) {
        if (cl_read_frame(&c, &f, 10000))
            break;
        if (f.type == PROTO_READY)
            got_ready = proto_get_ready(&f, &rd) == 0;
    }
    ok = ok && got_ready;
    report(ok, "identity-ready", "no READY");
    if (got_ready) {
        char t[6][256];
        for (int i = 0; i < 6; i++)
            if (proto_str_copy(rd.text[i], t[i], sizeof(t[i])))
                t[i][0] = 0;
        report(rd.outcome[PROTO_STEP_ENTROPY] == PROTO_STEP_OK, "identity-rng-ioctls", "%s", t[0]);
        report(rd.outcome[PROTO_STEP_CLOCK] == PROTO_STEP_SKIPPED, "identity-clock-left-alone",
               "outcome %u %s", rd.outcome[1], t[1]);
        report(rd.outcome[PROTO_STEP_HOSTNAME] == PROTO_STEP_OK, "identity-hostname-step", "%s",
               t[2]);
        report(rd.outcome[PROTO_STEP_USERS] == PROTO_STEP_OK, "identity-users-step", "%s", t[3]);
        if (loopname)
            report(rd.outcome[PROTO_STEP_HOME] == PROTO_STEP_OK, "home-disk-mount", "%s", t[4]);
        else
            report(rd.outcome[PROTO_STEP_HOME] == PROTO_STEP_SKIPPED, "identity-home-step", "%s",
                   t[4]);
        report(rd.outcome[PROTO_STEP_HOOKS] == PROTO_STEP_FAILED && strstr(t[5], "20-slow") &&
                   strstr(t[5], "timed out") && !strstr(t[5], "10-mark"),
               "hooks-timeout", "%s", t[5]);
        char *m = NULL;
        FILE *fp = fopen(marker, "r");
        char line[128] = "";
        if (fp) {
            m = fgets(line, sizeof(line), fp);
            fclose(fp);
        }
        report(m && strcmp(line, ID_USER " burrow-test-host\n") == 0, "hooks-run", "marker=%s",
               line);
    }
    /* The early session is served now. */
    res = (struct result){0};
    struct proto_open o;
    open_init(&o, PROTO_OPEN_EXEC, ID_USER,
              "hostname; id -u; echo $HOME; stat -c %u $HOME; "
              "awk -v h=$HOME '$5 == h' /proc/self/mountinfo | wc -l");
    int r = cl_send_open(&s, &o);
    if (r == 0)
        r = cl_read_frame(&s, &sf, 5000) == 0 && sf.type == PROTO_HELLO ? 0 : -1;
    if (r == 0)
        r = cl_read_frame(&s, &sf, 5000) == 0 && sf.type == PROTO_OPENED ? 0 : -1;
    if (r == 0)
        r = cl_run(&s, NULL, 0, 1, &res, 5000, 0);
    char expect[600];
    snprintf(expect, sizeof(expect), "burrow-test-host\n%d\n%s/%s\n%d\n%d\n", ID_UID, home2,
             ID_USER, ID_UID, loopname ? 1 : 0);
    report(r == 0 && res.out && strcmp((char *)res.out, expect) == 0, "identity-session",
           "r=%d out=%s", r, res.out ? (char *)res.out : "");
    cl_close(&s);
    res_free(&res);
    char host[256] = "";
    gethostname(host, sizeof(host));
    report(strcmp(host, "burrow-test-host") != 0, "host-hostname-untouched", "host renamed!");

    /*
     * Hibernation (docs/hibernate.md): HIBERNATE is answered after a sync
     * (the home disk's syncfs), nothing unmounted; after a reset, RESUME
     * instead of IDENTITY runs only the entropy and clock steps: users,
     * hostname, home and hooks are the running system's (SKIPPED, no hook
     * run again), and the home stays mounted.
     */
    buf_reset(&b);
    int got = 0;
    struct proto_hibernate hib = {0};
    struct proto_hibernate_answer hans;
    char htext[256] = "";
    if (proto_put_hibernate(&b, &hib) == 0 && cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0)
        for (int i = 0; i < 10 && !got; i++)
            got = cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_HIBERNATE_ANSWER &&
                  proto_get_hibernate_answer(&f, &hans) == 0 && hans.code == 0;
    if (got && proto_str_copy(hans.text, htext, sizeof(htext)))
        htext[0] = 0;
    report(got && (loopname ? strstr(htext, "synced") && strstr(htext, home2) != NULL
                            : strstr(htext, "no home disk") != NULL),
           "hibernate-answer", "answer: %s", htext);
    unlink(marker);
    cl_close(&c);
    int resumed = poll(&p, 1, 5000) == 1;
    if (resumed) {
        c.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        buf_init_writer(&c.in, c.in_mem, sizeof(c.in_mem));
        resumed = c.fd >= 0 && cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_HELLO;
    }
    struct proto_resume rsm = {.time_sec = 1, .slept_ms = 60000};
    memcpy(rsm.entropy, id.entropy, sizeof(rsm.entropy));
    buf_reset(&b);
    resumed = resumed && proto_put_hello(&b, &vh) == 0 && proto_put_resume(&b, &rsm) == 0 &&
              cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0;
    got_ready = 0;
    for (int i = 0; resumed && i < 10 && !got_ready; i++) {
        if (cl_read_frame(&c, &f, 10000))
            break;
        if (f.type == PROTO_READY)
            got_ready = proto_get_ready(&f, &rd) == 0;
    }
    int kept = got_ready && rd.outcome[PROTO_STEP_ENTROPY] == PROTO_STEP_OK &&
               rd.outcome[PROTO_STEP_CLOCK] == PROTO_STEP_SKIPPED;
    for (int st = PROTO_STEP_HOSTNAME; kept && st < PROTO_STEP_COUNT; st++)
        kept = rd.outcome[st] == PROTO_STEP_SKIPPED;
    report(kept && access(marker, F_OK) != 0, "resume-ready-kept",
           "READY %d, outcomes %u %u %u %u %u %u, hooks %s", got_ready, rd.outcome[0],
           rd.outcome[1], rd.outcome[2], rd.outcome[3], rd.outcome[4], rd.outcome[5],
           access(marker, F_OK) == 0 ? "ran again" : "not run");
    res = (struct result){0};
    open_init(&o, PROTO_OPEN_EXEC, ID_USER,
              "hostname; awk -v h=$HOME '$5 == h' /proc/self/mountinfo | wc -l");
    r = cl_connect(&s, l2) == 0 && cl_send_hello(&s) == 0 && cl_send_open(&s, &o) == 0 ? 0 : -1;
    if (r == 0)
        r = cl_read_frame(&s, &sf, 5000) == 0 && sf.type == PROTO_HELLO ? 0 : -1;
    if (r == 0)
        r = cl_read_frame(&s, &sf, 5000) == 0 && sf.type == PROTO_OPENED ? 0 : -1;
    if (r == 0)
        r = cl_run(&s, NULL, 0, 1, &res, 5000, 0);
    snprintf(expect, sizeof(expect), "burrow-test-host\n%d\n", loopname ? 1 : 0);
    report(r == 0 && res.out && strcmp((char *)res.out, expect) == 0, "resume-session",
           "r=%d out=%s", r, res.out ? (char *)res.out : "");
    cl_close(&s);
    res_free(&res);

    /* Heartbeats arrive; shutdown is answered. */
    int hb = 0;
    for (int i = 0; i < 5 && !hb; i++)
        hb = cl_read_frame(&c, &f, 3000) == 0 && f.type == PROTO_HEARTBEAT;
    report(hb, "heartbeat", "none within 3 s");
    buf_reset(&b);
    struct proto_shutdown sd = {0};
    struct proto_shutdown_answer ans;
    got = 0;
    if (proto_put_shutdown(&b, &sd) == 0 && cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0)
        for (int i = 0; i < 10 && !got; i++)
            got = cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_SHUTDOWN_ANSWER &&
                  proto_get_shutdown_answer(&f, &ans) == 0 && ans.code == 0;
    char ans_text[256] = "";
    if (got && proto_str_copy(ans.text, ans_text, sizeof(ans_text)))
        ans_text[0] = 0;
    report(got && (!loopname || strstr(ans_text, "unmounted")), "shutdown-answer", "answer: %s",
           ans_text);

    /* A reset: the agent reconnects and says hello again. */
    cl_close(&c);
    double reset_at = now_s();
    int again = poll(&p, 1, 5000) == 1;
    if (again) {
        c.fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        buf_init_writer(&c.in, c.in_mem, sizeof(c.in_mem));
        again = c.fd >= 0 && cl_read_frame(&c, &f, 5000) == 0 && f.type == PROTO_HELLO;
    }
    report(again, "control-reconnect", "no reconnect after a reset");
    if (again)
        printf("info: control reset -> new HELLO in %.3f ms\n", (now_s() - reset_at) * 1e3);

    /* A home disk that never gets a capacity is reported, not hidden. */
    if (again && loopname) {
        if (attach > 0)
            waitpid(attach, NULL, 0);
        attach = -1;
        /* Back to capacity 0 while still ours (detaching would let others take it). */
        snprintf(cmd, sizeof(cmd), ": > %s && losetup -c %s", hd_img, loopdev);
        int detached = system(cmd) == 0;
        buf_reset(&b);
        got_ready = 0;
        if (detached && proto_put_hello(&b, &vh) == 0 && proto_put_identity(&b, &id) == 0 &&
            cl_send_raw(&c, buf_data(&b), buf_used(&b)) == 0)
            for (int i = 0; i < 10 && !got_ready; i++) {
                if (cl_read_frame(&c, &f, 10000))
                    break;
                if (f.type == PROTO_READY)
                    got_ready = proto_get_ready(&f, &rd) == 0;
            }
        char t4[256] = "";
        if (got_ready && proto_str_copy(rd.text[PROTO_STEP_HOME], t4, sizeof(t4)))
            t4[0] = 0;
        report(got_ready && rd.outcome[PROTO_STEP_HOME] == PROTO_STEP_FAILED &&
                   strstr(t4, "no capacity"),
               "home-disk-missing-reported", "detached=%d ready=%d home: %s", detached, got_ready,
               t4);
    }
    cl_close(&c);
    close(l);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    if (attach > 0)
        waitpid(attach, NULL, 0);
    if (loopname) {
        snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
        if (system(cmd) != 0)
            fprintf(stderr, "could not detach %s\n", loopdev);
    }
}

void run_control_cases(void)
{
    t_identity();
    t_vsock_listen();
}
