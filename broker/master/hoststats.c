/* broker/master/hoststats.c - KSM, process-tree memory, netdev counters, meminfo (see hoststats.h).
 */
#include "broker/master/hoststats.h"

#include <ctype.h>
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"

#define HOSTSTATS_PIDS_MAX 65536 /* processes looked at per scan */

/* One decimal number from a one-line file (sysfs style). */
static int read_u64(const char *path, uint64_t *v)
{
    char line[64];
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? BURROW_ERR_NOT_FOUND : BURROW_ERR_SYSTEM;
    int ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    char *end;
    if (!ok || !isdigit((unsigned char)line[0]))
        return BURROW_ERR_FORMAT;
    errno = 0;
    unsigned long long x = strtoull(line, &end, 10);
    if (errno || (*end && *end != '\n'))
        return BURROW_ERR_FORMAT;
    *v = x;
    return 0;
}

/* The parent pid from proc/PID/stat ("pid (comm) state ppid ..."; comm may hold anything). */
static pid_t parent_of(const char *proc, pid_t pid)
{
    char path[512], buf[512];
    snprintf(path, sizeof(path), "%s/%d/stat", proc, (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    int ppid;
    char state;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

struct proc_entry {
    pid_t pid, ppid;
};

static int by_pid(const void *a, const void *b)
{
    pid_t x = ((const struct proc_entry *)a)->pid, y = ((const struct proc_entry *)b)->pid;
    return (x > y) - (x < y);
}

static pid_t lookup_parent(const struct proc_entry *t, size_t n, pid_t pid)
{
    struct proc_entry key = {pid, 0};
    const struct proc_entry *e = bsearch(&key, t, n, sizeof(*t), by_pid);
    return e ? e->ppid : -1;
}

/* Index of the root that pid descends from (or is), or -1. */
static long root_of(const struct proc_entry *t, size_t n, pid_t pid, const pid_t *roots, size_t nr)
{
    for (unsigned depth = 0; pid > 1 && depth < 64; depth++) {
        for (size_t i = 0; i < nr; i++)
            if (roots[i] == pid)
                return (long)i;
        pid = lookup_parent(t, n, pid);
    }
    return -1;
}

static void add_memory(struct vm_memory *sum, const struct vm_memory *m)
{
    sum->private_kb += m->private_kb;
    sum->shared_kb += m->shared_kb;
    sum->anon_kb += m->anon_kb;
    sum->pss_kb += m->pss_kb;
}

int hoststats_tree_memory(const char *proc, const pid_t *roots, size_t n,
                          struct vm_memory *per_root)
{
    memset(per_root, 0, n * sizeof(*per_root));
    if (n == 0)
        return 0;
    DIR *d = opendir(proc);
    if (!d)
        return BURROW_ERR_SYSTEM;
    struct proc_entry *t = malloc(HOSTSTATS_PIDS_MAX * sizeof(*t));
    size_t nt = 0;
    struct dirent *de;
    while (t && nt < HOSTSTATS_PIDS_MAX && (de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        pid_t pp = parent_of(proc, (pid_t)pid);
        if (pp >= 0)
            t[nt++] = (struct proc_entry){(pid_t)pid, pp};
    }
    closedir(d);
    if (!t)
        return BURROW_ERR_NOMEM;
    qsort(t, nt, sizeof(*t), by_pid);
    for (size_t i = 0; i < nt; i++) {
        long r = root_of(t, nt, t[i].pid, roots, n);
        struct vm_memory m;
        if (r >= 0 && registry_memory(t[i].pid, &m) == 0)
            add_memory(&per_root[r], &m);
    }
    free(t);
    return 0;
}

int hoststats_netdev(const char *sysfs, const char *ifname, struct hoststats_netdev *out)
{
    static const char *const names[4] = {"rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped"};
    uint64_t *v[4] = {&out->rx_bytes, &out->tx_bytes, &out->rx_dropped, &out->tx_dropped};
    if (!ifname[0] || strchr(ifname, '/') || strlen(ifname) >= 16)
        return BURROW_ERR_INVALID;
    for (int i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/class/net/%s/statistics/%s", sysfs, ifname, names[i]);
        int r = read_u64(path, v[i]);
        if (r != 0)
            return r;
    }
    return 0;
}

int hoststats_meminfo(const char *proc, uint64_t *total_kb, uint64_t *avail_kb)
{
    char path[512], line[256];
    int found = 0;
    snprintf(path, sizeof(path), "%s/meminfo", proc);
    FILE *f = fopen(path, "re");
    if (!f)
        return BURROW_ERR_SYSTEM;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
            *total_kb = kb;
            found |= 1;
        } else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            *avail_kb = kb;
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? 0 : BURROW_ERR_FORMAT;
}
