/*
 * broker/cluster/cnbd.c - NBD through libnbd (cnbd.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/config_cluster.h"
#include "broker/cluster/cluster.h"
#include "broker/cluster/cnbd.h"
#include "common/err.h"
#include "common/errmsg.h"

#define CNBD_CHUNK (1u << 20)

int cnbd_connect(const struct burrow_config *cfg, const char *user, struct nbd_handle **out,
                 uint64_t *size, char *err, size_t errsz)
{
    char host[256], port[16];
    *out = NULL;
    if (ccfg_nbd_server(cfg, host, sizeof(host), port, sizeof(port)) != 0)
        return errmsg(err, errsz, BURROW_ERR_INVALID, "[cluster] home_nbd is not set");
    struct nbd_handle *h = nbd_create();
    if (!h)
        return errmsg(err, errsz, BURROW_ERR_NOMEM, "libnbd: %s", nbd_get_error());
    int fd = nbd_set_export_name(h, user) == 0 ? cluster_tcp_connect(host, port) : -1;
    /* libnbd owns fd from here, also when the handshake fails. */
    if (fd < 0 || nbd_connect_socket(h, fd) != 0) {
        snprintf(err, errsz, "NBD %s:%s export %s: %s", host, port, user,
                 fd < 0 ? strerror(errno) : nbd_get_error());
        nbd_close(h);
        return BURROW_ERR_CLOSED;
    }
    int64_t sz = nbd_get_size(h);
    if (sz < 0 || (uint64_t)sz > CNBD_SIZE_MAX || nbd_is_read_only(h) != 0 ||
        nbd_can_flush(h) != 1) {
        snprintf(err, errsz, "NBD export %s: %s", user,
                 sz < 0                         ? nbd_get_error()
                 : (uint64_t)sz > CNBD_SIZE_MAX ? "larger than 16 TiB"
                 : nbd_is_read_only(h) != 0     ? "read-only"
                                                : "the server cannot flush (data could be lost)");
        nbd_close(h);
        return BURROW_ERR_UNSUPPORTED;
    }
    *out = h;
    *size = (uint64_t)sz;
    return 0;
}

/* An ext4 (or ext2/3) superblock: magic 0xEF53 at byte 1080. */
static int has_filesystem(struct nbd_handle *h, uint64_t size)
{
    unsigned char sb[2048];
    if (size < sizeof(sb) || nbd_pread(h, sb, sizeof(sb), 0, 0) != 0)
        return -1;
    return sb[1080] == 0x53 && sb[1081] == 0xef;
}

static int copy_extents(struct nbd_handle *h, int fd, uint64_t len, char *buf)
{
    off_t pos = 0;
    while ((uint64_t)pos < len) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        if (data < 0 || (uint64_t)data > len)
            data = (off_t)len;
        if (data > pos && nbd_zero(h, (size_t)(data - pos), (uint64_t)pos, 0) != 0)
            return BURROW_ERR_SYSTEM;
        if ((uint64_t)data >= len)
            break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole > len)
            hole = (off_t)len;
        for (off_t o = data; o < hole;) {
            size_t n = (size_t)(hole - o) < CNBD_CHUNK ? (size_t)(hole - o) : CNBD_CHUNK;
            if (pread(fd, buf, n, o) != (ssize_t)n || nbd_pwrite(h, buf, n, (uint64_t)o, 0) != 0)
                return BURROW_ERR_SYSTEM;
            o += (off_t)n;
        }
        pos = hole;
    }
    return 0;
}

int cnbd_upload(const struct burrow_config *cfg, const char *user, const char *path, char *err,
                size_t errsz)
{
    struct nbd_handle *h;
    uint64_t size;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, errsz, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return BURROW_ERR_SYSTEM;
    }
    int r = cnbd_connect(cfg, user, &h, &size, err, errsz);
    if (r) {
        close(fd);
        return r;
    }
    char *buf = malloc(CNBD_CHUNK);
    int fs = has_filesystem(h, size);
    if (!buf)
        r = BURROW_ERR_NOMEM;
    else if ((uint64_t)st.st_size > size) {
        snprintf(err, errsz, "NBD export %s holds %llu bytes, her disk needs %llu", user,
                 (unsigned long long)size, (unsigned long long)st.st_size);
        r = BURROW_ERR_RANGE;
    } else if (fs != 0) {
        snprintf(err, errsz, "NBD export %s %s", user,
                 fs < 0 ? "cannot be read"
                        : "already holds a filesystem: refusing to overwrite it");
        r = BURROW_ERR_EXISTS;
    } else if (copy_extents(h, fd, (uint64_t)st.st_size, buf) != 0 || nbd_flush(h, 0) != 0) {
        snprintf(err, errsz, "NBD export %s: %s", user, nbd_get_error());
        r = BURROW_ERR_SYSTEM;
    }
    free(buf);
    nbd_shutdown(h, 0);
    nbd_close(h);
    close(fd);
    return r;
}
