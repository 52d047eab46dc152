/*
 * vmm/names.c - the names the VMM's files carry: template names, build ids
 * (vmm/template.h) and VM ids (vmm/registry.h). Pure string checks, apart
 * so parsers of hostile files (the hibernated image) and their fuzzers use
 * them without the rest of the template and registry code.
 */
#include <string.h>

#include "vmm/registry.h"
#include "vmm/template.h"

int registry_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n != REGISTRY_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

int template_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TEMPLATE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!alnum && (i == 0 || (c != '-' && c != '.')))
            return 0;
    }
    return 1;
}

int template_build_id_ok(const char *build, size_t *name_len)
{
    const char *dash = strrchr(build, '-');
    if (!dash || strlen(build) > TEMPLATE_BUILD_MAX)
        return 0;
    size_t nl = (size_t)(dash - build);
    char name[TEMPLATE_NAME_MAX + 1];
    if (nl == 0 || nl > TEMPLATE_NAME_MAX)
        return 0;
    memcpy(name, build, nl);
    name[nl] = '\0';
    const char *ts = dash + 1;
    /* YYYYmmddTHHMMSS, optionally .N */
    if (strlen(ts) < 15 || ts[8] != 'T')
        return 0;
    for (size_t i = 0; ts[i]; i++) {
        if (i == 8)
            continue;
        if (i == 15 && ts[i] == '.' && ts[i + 1])
            continue;
        if (ts[i] < '0' || ts[i] > '9')
            return 0;
    }
    if (name_len)
        *name_len = nl;
    return template_name_ok(name);
}
