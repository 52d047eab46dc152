/*
 * guest/agent_reclaim.c - RECLAIM from the VMM (its idle policy): give
 * memory back. sync, drop the page cache and slab caches
 * (vm/drop_caches = 3) and compact (vm/compact_memory), so what was freed
 * coalesces into the large free blocks the kernel's free page reporting
 * hands to the host through virtio-balloon. MemFree before and after goes
 * back in the answer for the VMM's log.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "guest/agent.h"

/* MemFree from PROC/meminfo in KiB, 0 when unreadable. */
static uint64_t mem_free_kib(const char *proc)
{
    char path[AGENT_PATH_MAX + 16], line[256];
    unsigned long long kib = 0;
    snprintf(path, sizeof(path), "%s/meminfo", proc);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "MemFree: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* One value into a PROC/sys/vm knob; a knob this kernel lacks is not an error. */
static int vm_knob(const char *proc, const char *knob, const char *value)
{
    char path[AGENT_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/sys/vm/%s", proc, knob);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : BURROW_ERR_SYSTEM;
    size_t n = strlen(value);
    int r = write(fd, value, n) == (ssize_t)n ? 0 : BURROW_ERR_SYSTEM;
    close(fd);
    return r;
}

void agent_reclaim(const char *proc, uint32_t flags, struct proto_reclaim_answer *out)
{
    int r = 0;
    out->free_before_kib = mem_free_kib(proc);
    if (flags & PROTO_RECLAIM_F_DROP_CACHES) {
        sync(); /* dirty pages cannot be dropped */
        r = vm_knob(proc, "drop_caches", "3\n");
    }
    if (flags & PROTO_RECLAIM_F_COMPACT) {
        int c = vm_knob(proc, "compact_memory", "1\n");
        if (!r)
            r = c;
    }
    out->code = r;
    out->free_after_kib = mem_free_kib(proc);
}
