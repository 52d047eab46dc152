/* vmm/registry.c - run_dir/vm/<id>/ records of running VMM processes (see registry.h). */
#include "vmm/registry.h"
#include "vmm/jail/jail.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/atomicfile.h"
#include "common/err.h"
#include "vmm/template.h"

#define META_MAX 4096

uint64_t registry_pid_start(pid_t pid)
{
    char path[64], b[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, b, sizeof(b) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    b[n] = '\0';
    /* After the comm field "(...)", which may hold spaces: field 3 onwards. */
    char *p = strrchr(b, ')');
    if (!p)
        return 0;
    p++;
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
    char tmp[512];
    if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
        return BURROW_ERR_TOO_LARGE;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return BURROW_ERR_SYSTEM;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return BURROW_ERR_SYSTEM;
    return 0;
}

int registry_create(const char *run_dir, struct vm_record *rec)
{
    char base[400];
    if (snprintf(base, sizeof(base), "%s/vm", run_dir) >= (int)sizeof(base))
        return BURROW_ERR_TOO_LARGE;
    int r = mkdir_p(base, 0755);
    if (r)
        return r;
    for (int tries = 0; tries < 16; tries++) {
        uint8_t raw[REGISTRY_ID_LEN / 2];
        randombytes_buf(raw, sizeof(raw));
        sodium_bin2hex(rec->id, sizeof(rec->id), raw, sizeof(raw));
        snprintf(rec->dir, sizeof(rec->dir), "%s/%s", base, rec->id);
        if (mkdir(rec->dir, 0700) == 0)
            return 0;
        if (errno != EEXIST)
            return BURROW_ERR_SYSTEM;
    }
    return BURROW_ERR_EXISTS;
}

int registry_publish(struct vm_record *rec)
{
    rec->pid = jail_host_pid(); /* getpid() is 1 in the VMM's pid namespace */
    rec->pid_start = registry_pid_start(rec->pid);
    return registry_write(rec);
}

int registry_write(const struct vm_record *rec)
{
    char text[META_MAX], path[600];
    int n = snprintf(text, sizeof(text),
                     "id = %s\npid = %d\npid_start = %llu\nuser = %s\ntemplate = %s\nbuild = %s\n"
                     "started = %llu\nstate = %s\norigin = %s\nrestore_ns = %llu\n"
                     "ready_ns = %llu\n",
                     rec->id, (int)rec->pid, (unsigned long long)rec->pid_start, rec->user,
                     rec->template_name, rec->build, (unsigned long long)rec->started,
                     rec->state[0] ? rec->state : "running", rec->origin[0] ? rec->origin : "-",
                     (unsigned long long)rec->restore_ns, (unsigned long long)rec->ready_ns);
    if (n < 0 || n >= (int)sizeof(text))
        return BURROW_ERR_TOO_LARGE;
    snprintf(path, sizeof(path), "%s/meta", rec->dir);
    return fs_write_atomic(path, text, (size_t)n, 0644);
}

void registry_remove(const char *dir)
{
    static const char *const files[] = {"meta",    ".meta.tmp",    "vsock.sock",     "console.log",
                                        "vmm.log", "claim.sock",   "claimed",        "conns",
                                        "burrowd", ".burrowd.tmp", "hibernate.sock", "control.sock",
                                        "balloon"};
    char path[600];
    for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (snprintf(path, sizeof(path), "%s/%s", dir, files[i]) < (int)sizeof(path))
            unlink(path);
    }
    /* Sockets the guest's connections were forwarded to (<vsock>_<port>) are not ours. */
    if (snprintf(path, sizeof(path), "%s/root", dir) < (int)sizeof(path))
        rmdir(path); /* the jail's mount point (vmm/jail/jail.h) */
    rmdir(dir);
}

static int read_record(const char *dir, const char *id, struct vm_record *rec)
{
    char path[600], text[META_MAX], v[128];
    snprintf(path, sizeof(path), "%s/meta", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return BURROW_ERR_NOT_FOUND;
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return BURROW_ERR_FORMAT;
    text[n] = '\0';
    memset(rec, 0, sizeof(*rec));
    snprintf(rec->id, sizeof(rec->id), "%s", id);
    snprintf(rec->dir, sizeof(rec->dir), "%s", dir);
    if (template_manifest_get(text, "pid", v, sizeof(v)))
        return BURROW_ERR_FORMAT;
    rec->pid = (pid_t)strtol(v, NULL, 10);
    if (template_manifest_get(text, "pid_start", v, sizeof(v)) == 0)
        rec->pid_start = strtoull(v, NULL, 10);
    if (template_manifest_get(text, "started", v, sizeof(v)) == 0)
        rec->started = strtoull(v, NULL, 10);
    if (template_manifest_get(text, "user", rec->user, sizeof(rec->user)) ||
        template_manifest_get(text, "template", rec->template_name, sizeof(rec->template_name)) ||
        template_manifest_get(text, "build", rec->build, sizeof(rec->build)) ||
        template_manifest_get(text, "state", rec->state, sizeof(rec->state)))
        return BURROW_ERR_FORMAT;
    /* Noted after the start (absent in records of older VMMs). */
    if (template_manifest_get(text, "origin", rec->origin, sizeof(rec->origin)) ||
        strcmp(rec->origin, "-") == 0)
        rec->origin[0] = '\0';
    if (template_manifest_get(text, "restore_ns", v, sizeof(v)) == 0)
        rec->restore_ns = strtoull(v, NULL, 10);
    if (template_manifest_get(text, "ready_ns", v, sizeof(v)) == 0)
        rec->ready_ns = strtoull(v, NULL, 10);
    return rec->pid > 1 ? 0 : BURROW_ERR_FORMAT;
}

static int alive(const struct vm_record *rec)
{
    if (kill(rec->pid, 0) < 0 && errno == ESRCH)
        return 0;
    return registry_pid_start(rec->pid) == rec->pid_start;
}

int registry_wait_gone(const struct vm_record *rec, unsigned ms)
{
    struct timespec step = {0, 20000000L};
    for (unsigned t = 0; t < ms && alive(rec); t += 20)
        nanosleep(&step, NULL);
    return !alive(rec);
}

static int cmp_rec(const void *a, const void *b)
{
    const struct vm_record *x = a, *y = b;
    return x->started < y->started ? -1 : x->started > y->started;
}

int registry_list(const char *run_dir, struct vm_record **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    char base[400];
    snprintf(base, sizeof(base), "%s/vm", run_dir);
    DIR *d = opendir(base);
    if (!d)
        return errno == ENOENT ? 0 : BURROW_ERR_SYSTEM;
    struct vm_record *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d))) {
        if (!registry_id_ok(e->d_name))
            continue;
        char dir[700];
        if (snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name) >= (int)sizeof(dir))
            continue;
        struct vm_record rec;
        int r = read_record(dir, e->d_name, &rec);
        if (r || !alive(&rec)) {
            struct stat st;
            /* No meta yet: a VMM still starting; only old ones are stale. */
            if (r == 0 || (lstat(dir, &st) == 0 && now - st.st_mtime > 120))
                registry_remove(dir);
            continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            struct vm_record *nv = realloc(v, cap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return BURROW_ERR_NOMEM;
            }
            v = nv;
        }
        v[cnt++] = rec;
    }
    closedir(d);
    qsort(v, cnt, sizeof(*v), cmp_rec);
    *out = v;
    *n = cnt;
    return 0;
}

int registry_get(const char *run_dir, const char *id, struct vm_record *rec)
{
    if (!registry_id_ok(id))
        return BURROW_ERR_INVALID;
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/vm/%s", run_dir, id);
    int r = read_record(dir, id, rec);
    if (r)
        return r == BURROW_ERR_FORMAT ? r : BURROW_ERR_NOT_FOUND;
    return alive(rec) ? 0 : BURROW_ERR_NOT_FOUND;
}

unsigned registry_build_vms(const char *run_dir, const char *build)
{
    struct vm_record *v;
    size_t n;
    unsigned c = 0;
    if (registry_list(run_dir, &v, &n))
        return 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(v[i].build, build) == 0 && strcmp(v[i].state, "running") == 0;
    free(v);
    return c;
}

int registry_build_in_use(const char *run_dir, const char *build)
{
    return registry_build_vms(run_dir, build) > 0;
}

int registry_memory(pid_t pid, struct vm_memory *m)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return BURROW_ERR_SYSTEM;
    memset(m, 0, sizeof(*m));
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kb;
        char key[64];
        if (sscanf(line, "%63[^:]: %llu kB", key, &kb) != 2)
            continue;
        if (!strcmp(key, "Private_Clean") || !strcmp(key, "Private_Dirty"))
            m->private_kb += kb;
        else if (!strcmp(key, "Shared_Clean") || !strcmp(key, "Shared_Dirty"))
            m->shared_kb += kb;
        if (!strcmp(key, "Anonymous"))
            m->anon_kb = kb;
        else if (!strcmp(key, "Pss"))
            m->pss_kb = kb;
    }
    fclose(f);
    return 0;
}
