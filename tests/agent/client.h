/*
 * tests/agent/client.h - a small blocking client for the agent protocol,
 * built on common/proto.h, used by the agent tier's test program.
 */
#ifndef BURROW_TESTS_AGENT_CLIENT_H
#define BURROW_TESTS_AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/proto.h"

struct cl {
    int fd;
    uint32_t pid; /* from OPENED */
    struct buf in;
    uint8_t in_mem[2 * PROTO_FRAME_MAX];
};

/* What a session produced. */
struct result {
    uint8_t *out, *err;
    size_t out_len, err_len, out_cap, err_cap;
    int got_exit, got_eof, got_error, closed;
    struct proto_exit exit;
    int32_t error_code;
    char error_text[256];
};

int cl_connect(struct cl *c, const char *path);
void cl_close(struct cl *c);
/* Send raw bytes. */
int cl_send_raw(struct cl *c, const void *p, size_t n);
/* Send one frame built by an encoder into a scratch buffer. */
int cl_send_hello(struct cl *c);
int cl_send_open(struct cl *c, const struct proto_open *o);
int cl_send_data(struct cl *c, const void *p, size_t n);
int cl_send_eof(struct cl *c);
int cl_send_window(struct cl *c, uint32_t cols, uint32_t rows);
int cl_send_signal(struct cl *c, uint32_t signo);
/* Read one frame (timeout in ms); 0, or negative (closed/timeout/error). */
int cl_read_frame(struct cl *c, struct proto_frame *f, int timeout_ms);
/* hello + open; waits for OPENED (0) or ERROR (BURROW_ERR_* from the frame, text in res). */
int cl_start(struct cl *c, const struct proto_open *o, struct result *res);
/* Feed a frame into res (stdout/stderr/exit/error/eof). */
void res_take(struct result *res, const struct proto_frame *f);
/* Read frames until `needle` shows in stdout, or EXIT/close/timeout. 0 if found. */
int cl_wait_output(struct cl *c, struct result *res, const char *needle, int timeout_ms);
/*
 * Pump: send `in` (len bytes) as STDIN frames (then EOF if send_eof) while
 * collecting output, until EXIT (or EOF for tcp) or close. 0 on a clean end.
 */
int cl_run(struct cl *c, const void *in, size_t len, int send_eof, struct result *res,
           int timeout_ms, int tcp);
void res_free(struct result *res);
/* A proto_open for user/kind with sane defaults. */
void open_init(struct proto_open *o, uint32_t kind, const char *user, const char *command);

#endif /* BURROW_TESTS_AGENT_CLIENT_H */
