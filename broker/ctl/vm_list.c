/*
 * broker/ctl/vm_list.c - `burrowctl vm list [--json]`: the VMs registered
 * under run_dir/vm (with or without burrowd): running ones and the warm
 * pool's (STATE pool: restored, waiting to be claimed; nobody's yet).
 * Memory is the VMM process's own, from /proc/PID/smaps_rollup: private
 * (its copy-on-write guest pages and its heap) and shared (template pages
 * it maps from the page cache). --json adds how a running VM started:
 * "origin" (pool: claimed from the warm pool; fresh), restore_ms (request
 * to vCPUs running) and ready_ms (to the guest's READY), and "balloon": the
 * VM's memory record (vmm/vmmctl.h; null for a pooled VM or one without
 * a balloon): the balloon's target, what the driver says it holds and what
 * the device counted, the guest's own statistics (free, available, total,
 * page cache; null until the guest sent them) and their age, free page
 * reporting (bytes returned), refused guest values, deflate-on-OOM events
 * and the idle policy's reclaims with the agent's MemFree before and after.
 *
 * Hibernated VMs (vmm/hibernate.h: images under state_dir/users/NAME/
 * hibernate/) follow with STATE hibernated, the id they ran under, no
 * process, and DISK_KIB, their image's size on disk ("unreadable" images
 * too: they still reserve her disk; their id is "-").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/json.h"
#include "vmm/hibernate.h"
#include "vmm/registry.h"
#include "vmm/virtio/balloon.h"
#include "vmm/vmmctl.h"

/* The template a hibernated VM's build belongs to ("" when its header does not read). */
static void template_of(const struct hib_info *h, char tname[TEMPLATE_NAME_MAX + 1])
{
    size_t nl;
    tname[0] = '\0';
    if (!h->err && template_build_id_ok(h->h.build, &nl))
        snprintf(tname, TEMPLATE_NAME_MAX + 1, "%.*s", (int)nl, h->h.build);
}

static void hibernated_json(const struct hib_info *h, uint64_t saved, uint64_t now)
{
    char tname[TEMPLATE_NAME_MAX + 1];
    template_of(h, tname);
    printf("{\"id\":");
    json_fput_str(stdout, h->err ? "-" : h->h.vm_id);
    printf(",\"user\":");
    json_fput_str(stdout, h->h.user);
    printf(",\"template\":");
    json_fput_str(stdout, tname);
    printf(",\"build\":");
    json_fput_str(stdout, h->h.build);
    printf(",\"state\":\"hibernated\",\"image_ok\":%s,\"pages\":%llu,\"disk_kib\":%llu,"
           "\"hibernated_s\":%llu}",
           h->err ? "false" : "true", (unsigned long long)h->h.nr_pages,
           (unsigned long long)h->disk_kib, (unsigned long long)(now > saved ? now - saved : 0));
}

/* Hibernated VMs after the running ones; `first`: nothing printed yet (for the JSON commas). */
static void list_hibernated(const struct burrow_config *cfg, int json, int first, uint64_t now)
{
    struct hib_info *h;
    size_t n;
    if (hib_list(cfg->paths.state_dir, &h, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        uint64_t saved = h[i].h.created_ns / 1000000000ull;
        if (json) {
            printf("%s", first ? "" : ",");
            first = 0;
            hibernated_json(&h[i], saved, now);
            continue;
        }
        char tname[TEMPLATE_NAME_MAX + 1], since[24] = "-";
        template_of(&h[i], tname);
        if (!h[i].err) /* how long it has been on disk */
            snprintf(since, sizeof(since), "%llus",
                     (unsigned long long)(now > saved ? now - saved : 0));
        printf("%-12s %-16s %-20s %-11s %8s %8s %12s %12s %12llu\n", h[i].err ? "-" : h[i].h.vm_id,
               h[i].h.user, h[i].err ? "(unreadable)" : tname, "hibernated", "-", since, "-", "-",
               (unsigned long long)h[i].disk_kib);
    }
    free(h);
}

/* One of the guest's statistics in KiB, or null when it never sent that tag. */
static void json_stat(const char *key, const struct vmm_mem_record *r, unsigned tag, uint64_t v)
{
    if (r->stats_seen & (1ull << tag))
        printf(",\"%s\":%llu", key, (unsigned long long)(v / 1024));
    else
        printf(",\"%s\":null", key);
}

static void json_balloon(const struct vm_record *v, uint64_t now)
{
    struct vmm_mem_record r;
    if (vmmctl_read_record(v->dir, &r) != 0 || !r.balloon) {
        printf(",\"balloon\":null");
        return;
    }
    const uint64_t kib = BALLOON_PAGE / 1024;
    printf(",\"balloon\":{\"target_kib\":%llu,\"actual_kib\":%llu,\"held_kib\":%llu",
           (unsigned long long)(r.target_pages * kib), (unsigned long long)(r.actual_pages * kib),
           (unsigned long long)(r.held_pages * kib));
    json_stat("guest_free_kib", &r, BALLOON_S_MEMFREE, r.free_bytes);
    json_stat("guest_available_kib", &r, BALLOON_S_AVAIL, r.avail_bytes);
    json_stat("guest_total_kib", &r, BALLOON_S_MEMTOT, r.total_bytes);
    json_stat("guest_caches_kib", &r, BALLOON_S_CACHES, r.caches_bytes);
    if (r.stats_at)
        printf(",\"stats_age_s\":%llu",
               (unsigned long long)(now > r.stats_at ? now - r.stats_at : 0));
    else
        printf(",\"stats_age_s\":null");
    printf(",\"reports\":%llu,\"reported_kib\":%llu,\"refused\":%llu,\"oom_deflates\":%llu,"
           "\"reclaims\":%llu,\"reclaim_free_before_kib\":%llu,\"reclaim_free_after_kib\":%llu}",
           (unsigned long long)r.reports, (unsigned long long)(r.reported_bytes / 1024),
           (unsigned long long)r.refused, (unsigned long long)r.oom_deflates,
           (unsigned long long)r.reclaims, (unsigned long long)r.reclaim_before,
           (unsigned long long)r.reclaim_after);
}

int ctl_vm_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    int json = argc == 2 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !json))
        return cli_err(EXIT_USAGE, "usage: burrowctl vm list [--json]");
    struct burrow_config cfg;
    int rc = config_load_cli(&cfg, ctx->config_path, ctx->config_explicit);
    if (rc != EXIT_OK)
        return rc;
    struct vm_record *v;
    size_t n;
    if (registry_list(cfg.paths.run_dir, &v, &n))
        return cli_err(EXIT_RUNTIME, "cannot read %s/vm", cfg.paths.run_dir);
    uint64_t now = (uint64_t)time(NULL);
    if (json)
        printf("[");
    else
        printf("%-12s %-16s %-20s %-11s %8s %8s %12s %12s %12s\n", "ID", "USER", "TEMPLATE",
               "STATE", "PID", "UPTIME", "PRIVATE_KIB", "SHARED_KIB", "DISK_KIB");
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        struct vm_memory mem;
        if (registry_memory(v[i].pid, &mem))
            memset(&mem, 0, sizeof(mem));
        uint64_t up = now > v[i].started ? now - v[i].started : 0;
        if (json) {
            printf("%s{\"id\":", first ? "" : ",");
            first = 0;
            json_fput_str(stdout, v[i].id);
            printf(",\"user\":");
            json_fput_str(stdout, v[i].user);
            printf(",\"template\":");
            json_fput_str(stdout, v[i].template_name);
            printf(",\"build\":");
            json_fput_str(stdout, v[i].build);
            printf(",\"state\":");
            json_fput_str(stdout, v[i].state);
            printf(",\"origin\":");
            json_fput_str(stdout, v[i].origin[0] ? v[i].origin : "unknown");
            printf(",\"restore_ms\":%.3f,\"ready_ms\":%.3f", v[i].restore_ns / 1e6,
                   v[i].ready_ns / 1e6);
            printf(",\"pid\":%d,\"uptime_s\":%llu,\"private_kib\":%llu,\"shared_kib\":%llu,"
                   "\"anon_kib\":%llu,\"pss_kib\":%llu",
                   (int)v[i].pid, (unsigned long long)up, (unsigned long long)mem.private_kb,
                   (unsigned long long)mem.shared_kb, (unsigned long long)mem.anon_kb,
                   (unsigned long long)mem.pss_kb);
            json_balloon(&v[i], now);
            putchar('}');
        } else {
            printf("%-12s %-16s %-20s %-11s %8d %7llus %12llu %12llu %12s\n", v[i].id, v[i].user,
                   v[i].template_name, v[i].state, (int)v[i].pid, (unsigned long long)up,
                   (unsigned long long)mem.private_kb, (unsigned long long)mem.shared_kb, "-");
        }
    }
    list_hibernated(&cfg, json, first, now);
    if (json)
        printf("]\n");
    free(v);
    return EXIT_OK;
}
