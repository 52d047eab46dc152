/*
 * tests/nested/vm_exec.c - run one exec session in a VM through its vsock
 * unix socket, the way burrowd's kvm backend reaches the agent:
 *
 *   vm-exec [-t] SOCKET USER COMMAND
 *
 * Connects to SOCKET (run_dir/vm/<id>/vsock.sock), sends "CONNECT 1024\n",
 * expects "OK <port>\n", then speaks the agent protocol (tests/agent/client.c
 * on common/proto): HELLO, OPEN exec COMMAND as USER, EOF on stdin, and
 * copies the session's stdout and stderr to ours; -t asks for a pty (TERM
 * xterm, 80x24: what `tmux attach` needs). Exits with the command's
 * status (128 + N if killed by signal N), or 125 with one line on stderr if
 * the session could not run (refused, closed, timed out).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/agent/client.h"

#define SESSION_TIMEOUT_MS 60000

static int connect_port(struct cl *c, const char *sock)
{
    if (cl_connect(c, sock))
        return -1;
    if (cl_send_raw(c, "CONNECT 1024\n", 13))
        return -1;
    /* Read the answer byte by byte: the agent's HELLO may follow it at once. */
    char line[64];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(c->fd, line + n, 1);
        if (r <= 0)
            return -1;
        if (line[n++] == '\n')
            break;
    }
    line[n] = '\0';
    return strncmp(line, "OK ", 3) == 0 ? 0 : -1;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    int pty = argc == 5 && strcmp(argv[1], "-t") == 0;
    argv += pty;
    argc -= pty;
    if (argc != 4) {
        fprintf(stderr, "usage: vm-exec [-t] SOCKET USER COMMAND\n");
        return 2;
    }
    static struct cl c;
    struct result res = {0};
    if (connect_port(&c, argv[1])) {
        fprintf(stderr, "vm-exec: %s: CONNECT 1024 was not answered with OK\n", argv[1]);
        return 125;
    }
    struct proto_open o;
    open_init(&o, PROTO_OPEN_EXEC, argv[2], argv[3]);
    if (pty) {
        o.flags |= PROTO_OPEN_F_PTY;
        o.term = proto_str_c("xterm");
        o.window = (struct proto_window){80, 24, 0, 0};
    }
    int r = cl_start(&c, &o, &res);
    if (r) {
        fprintf(stderr, "vm-exec: session refused: %s%s%s\n", burrow_strerror(r),
                res.error_text[0] ? ": " : "", res.error_text);
        return 125;
    }
    r = cl_run(&c, NULL, 0, 1, &res, SESSION_TIMEOUT_MS, 0);
    write_all(STDOUT_FILENO, res.out, res.out_len);
    write_all(STDERR_FILENO, res.err, res.err_len);
    cl_close(&c);
    if (r || !res.got_exit) {
        fprintf(stderr, "vm-exec: session ended without EXIT: %s\n", burrow_strerror(r));
        return 125;
    }
    int status =
        res.exit.kind == PROTO_EXIT_SIGNAL ? 128 + (int)res.exit.value : (int)res.exit.value;
    res_free(&res);
    return status;
}
