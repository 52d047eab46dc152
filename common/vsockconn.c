/* common/vsockconn.c - the CONNECT / OK lines of a vsock socket (see vsockconn.h). */
#include "common/vsockconn.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

static int put_line(char *out, size_t outsz, const char *word, uint32_t port)
{
    int n = snprintf(out, outsz, "%s %u\n", word, port);
    return n < 0 || (size_t)n >= outsz ? BURROW_ERR_TOO_LARGE : n;
}

int vsockconn_put_connect(char *out, size_t outsz, uint32_t port)
{
    return put_line(out, outsz, "CONNECT", port);
}

int vsockconn_put_ok(char *out, size_t outsz, uint32_t port)
{
    return put_line(out, outsz, "OK", port);
}

/* "<word> <decimal u32>" exactly: no sign, no blank, no trailing byte. */
static int parse_line(const char *line, const char *word, uint32_t *port)
{
    size_t wl = strlen(word);
    if (strncmp(line, word, wl) != 0 || line[wl] != ' ')
        return BURROW_ERR_PROTOCOL;
    const char *p = line + wl + 1;
    uint64_t val = 0;
    if (!*p)
        return BURROW_ERR_PROTOCOL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return BURROW_ERR_PROTOCOL;
        val = val * 10 + (uint64_t)(*p - '0');
        if (val > UINT32_MAX)
            return BURROW_ERR_PROTOCOL;
    }
    *port = (uint32_t)val;
    return 0;
}

int vsockconn_parse_connect(const char *line, uint32_t *port)
{
    return parse_line(line, "CONNECT", port);
}

int vsockconn_parse_ok(const char *line, uint32_t *port)
{
    return parse_line(line, "OK", port);
}
