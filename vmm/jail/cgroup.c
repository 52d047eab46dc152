/* vmm/jail/cgroup.c - one cgroup v2 per jailed VM (see cgroup.h). */
#include "vmm/jail/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/err.h"
#include "common/errmsg.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int write_file(const char *dir, const char *file, const char *text, char *why, size_t whysz)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errmsg(why, whysz, BURROW_ERR_SYSTEM, "open %s: %s", path, strerror(errno));
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    if (n != (ssize_t)strlen(text))
        return errmsg(why, whysz, BURROW_ERR_SYSTEM, "write '%s' to %s: %s", text, path,
                      strerror(saved));
    return 0;
}

static int has_controllers(const char *dir, const char *file)
{
    char path[512], text[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    return strstr(text, "memory") && strstr(text, "pids");
}

/* Remove groups of VMs that ended (rmdir fails harmlessly on populated ones). */
static void sweep_empty(const char *parent, const char *keep)
{
    DIR *d = opendir(parent);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.' || strcmp(e->d_name, keep) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
        rmdir(path);
    }
    closedir(d);
}

/* How often a group swept away under us is made again before giving up. */
#define JOIN_ATTEMPTS 5

/* mkdir GROUP, set its limits and move PID (0: ourselves) into it. */
static int make_and_join(const char *group, const struct jail_cgroup_limits *lim, int have_cpu,
                         pid_t pid, char *why, size_t whysz)
{
    char text[64];
    if (mkdir(group, 0755) != 0 && errno != EEXIST)
        return errmsg(why, whysz, BURROW_ERR_SYSTEM, "mkdir %s: %s", group, strerror(errno));
    snprintf(text, sizeof(text), "%llu", (unsigned long long)lim->memory_max);
    int r = write_file(group, "memory.max", text, why, whysz);
    snprintf(text, sizeof(text), "%u", lim->pids_max);
    if (!r)
        r = write_file(group, "pids.max", text, why, whysz);
    snprintf(text, sizeof(text), "%u", lim->cpu_weight);
    if (!r && have_cpu)
        r = write_file(group, "cpu.weight", text, why, whysz);
    snprintf(text, sizeof(text), "%d", (int)pid);
    if (!r)
        r = write_file(group, "cgroup.procs", text, why, whysz);
    return r;
}

int jail_cgroup_enter(const char *root, const char *name, const struct jail_cgroup_limits *lim,
                      char *why, size_t whysz)
{
    return jail_cgroup_join(root, name, lim, 0, why, whysz);
}

int jail_cgroup_join(const char *root, const char *name, const struct jail_cgroup_limits *lim,
                     pid_t pid, char *why, size_t whysz)
{
    struct statfs sf;
    if (statfs(root, &sf) != 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
        return errmsg(why, whysz, BURROW_ERR_UNSUPPORTED,
                      "%s is not a cgroup2 mount (legacy or hybrid hierarchy)", root);
    if (access(root, W_OK) != 0)
        return errmsg(why, whysz, BURROW_ERR_UNSUPPORTED, "%s is not writable", root);
    if (!has_controllers(root, "cgroup.controllers"))
        return errmsg(why, whysz, BURROW_ERR_UNSUPPORTED,
                      "%s lacks the memory and pids controllers", root);
    char parent[256], group[512];
    snprintf(parent, sizeof(parent), "%s/burrow", root);
    if (mkdir(parent, 0755) != 0 && errno != EEXIST)
        return errmsg(why, whysz, BURROW_ERR_SYSTEM, "mkdir %s: %s", parent, strerror(errno));
    /* Controllers must be enabled in every ancestor's subtree_control. */
    if (!has_controllers(root, "cgroup.subtree_control") &&
        write_file(root, "cgroup.subtree_control", "+memory +pids", why, whysz) != 0)
        return BURROW_ERR_UNSUPPORTED;
    if (write_file(parent, "cgroup.subtree_control", "+memory +pids", why, whysz) != 0)
        return BURROW_ERR_UNSUPPORTED;
    char cpu_why[200];
    int have_cpu =
        write_file(root, "cgroup.subtree_control", "+cpu", cpu_why, sizeof(cpu_why)) == 0 &&
        write_file(parent, "cgroup.subtree_control", "+cpu", cpu_why, sizeof(cpu_why)) == 0;
    sweep_empty(parent, name);
    snprintf(group, sizeof(group), "%s/%s", parent, name);
    /*
     * Another VMM's sweep_empty may remove our group between its mkdir and
     * our joining it (it is empty until then): make it again. Once we are
     * in it, rmdir fails with EBUSY.
     */
    int r = BURROW_ERR_SYSTEM;
    for (int attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
        r = make_and_join(group, lim, have_cpu, pid, why, whysz);
        if (r == 0 || access(group, F_OK) == 0)
            break;
    }
    return r;
}
