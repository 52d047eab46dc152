/*
 * tests/agent/agent_test.h - shared parts of the agent tier's test program
 * (agent_test.c: setup, helpers, main; cases_session.c; cases_control.c;
 * bench.c).
 */
#ifndef BURROW_TESTS_AGENT_AGENT_TEST_H
#define BURROW_TESTS_AGENT_AGENT_TEST_H

#include <stddef.h>
#include <sys/types.h>

#include "tests/agent/client.h"

#define TEST_USER "burrowtest"
#define TEST_UID  61234
#define ID_USER   "idtest"
#define ID_UID    61235

/* The temporary tree and the agent under test (agent_test.c). */
extern char tmp[256], sock_path[300], etc_dir[300], home_dir[300];
extern const char *agent_bin;
extern pid_t agent_pid;

/* One result line: "ok NAME" or "fail NAME: why". */
void report(int ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void write_file(const char *path, const char *content, mode_t mode);
int wait_socket(const char *path);
/* Start the agent with extra arguments; new_ns: fresh UTS + private mount namespace. */
pid_t start_agent(char *const extra[], int new_ns);
/* One exec session as TEST_USER on the main agent, pumping `in` then EOF. */
int run_exec(const char *cmd, const void *in, size_t len, int eof, struct result *res, int pty);
double now_s(void);

void run_session_cases(void);
void run_fwd_cases(void);
void run_control_cases(void);
int bench_mode(void);

#endif /* BURROW_TESTS_AGENT_AGENT_TEST_H */
