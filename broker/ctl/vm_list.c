/*
 * broker/ctl/vm_list.c - `burrowctl vm list [--json]`: the VMs registered
 * under run_dir/vm (with or without burrowd): running ones and the warm
 * pool's (STATE pool: restored, waiting to be claimed; nobody's yet).
 * Memory is the VMM process's own, from /proc/PID/smaps_rollup: private
 * (its copy-on-write guest pages and its heap) and shared (template pages
 * it maps from the page cache). --json adds how a running VM started:
 * "origin" (pool: claimed from the warm pool; fresh), restore_ms (request
 * to vCPUs running) and ready_ms (to the guest's READY).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/cli.h"
#include "broker/config.h"
#include "broker/ctl/ctl.h"
#include "broker/json.h"
#include "vmm/registry.h"

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
        printf("%-12s %-16s %-20s %-7s %8s %8s %12s %12s\n", "ID", "USER", "TEMPLATE", "STATE",
               "PID", "UPTIME", "PRIVATE_KIB", "SHARED_KIB");
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
                   "\"anon_kib\":%llu,\"pss_kib\":%llu}",
                   (int)v[i].pid, (unsigned long long)up, (unsigned long long)mem.private_kb,
                   (unsigned long long)mem.shared_kb, (unsigned long long)mem.anon_kb,
                   (unsigned long long)mem.pss_kb);
        } else {
            printf("%-12s %-16s %-20s %-7s %8d %7llus %12llu %12llu\n", v[i].id, v[i].user,
                   v[i].template_name, v[i].state, (int)v[i].pid, (unsigned long long)up,
                   (unsigned long long)mem.private_kb, (unsigned long long)mem.shared_kb);
        }
    }
    if (json)
        printf("]\n");
    free(v);
    return EXIT_OK;
}
