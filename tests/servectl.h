/*
 * A live `assay serve` for a test: a fresh lab in the build directory, the
 * server on a free loopback port (port 0, read back from its first line),
 * killed with the test (PR_SET_PDEATHSIG), driven with curl(1) or raw
 * sockets. Each call fails the running criterion test on trouble.
 */
#ifndef ASSAY_TEST_SERVECTL_H
#define ASSAY_TEST_SERVECTL_H

#include <stddef.h>
#include <sys/types.h>

#define SV_ASSAY ASSAY_BINARY_DIR "/assay"

extern char sv_dir[512];      /* this test's folder */
extern char sv_lab[600];      /* its lab */
extern char sv_url[64];       /* http://HOST:PORT, HOST as the server reports it */
extern pid_t sv_pid;          /* the server, or -1 */
extern char sv_out[1 << 16];  /* the output of the last command */
extern char sv_body[1 << 16]; /* the body of the last sv_http answer (capped) */

/* A fresh folder and lab named after the test. */
void sv_fresh(const char *name);
/* Start the server on `listen` (ADDR:PORT or [ADDR]:PORT) with `env`
 * (VAR=VALUE ..., or "") before it and extra arguments after it; waits for
 * the line that says it listens (progress, not time) and sets sv_url to
 * the address it reports. */
void sv_start_on(const char *listen, const char *env, const char *extra);
/* sv_start_on() on 127.0.0.1, a free port. */
void sv_start(const char *env, const char *extra);
/* SIGTERM; a clean exit, no sanitizer report and no token in its log. */
void sv_stop(void);
/* SIGKILL, and reaped. */
void sv_kill(void);
/* A user with a token; the token into tok (72 bytes). */
void sv_account(char *tok, const char *name, const char *role, const char *org);
/* One curl request to sv_url + path with the curl arguments `fmt`; the
 * body into sv_body, the HTTP status returned (0: no answer at all). */
int sv_http(const char *tok, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A JSON string or number member of sv_body, into v. */
const char *sv_member(char *v, size_t len, const char *name);
/* A socket connected to a server on 127.0.0.1 (sv_start's) from `from` (a
 * loopback address, or NULL for 127.0.0.1), `head` written to it. */
int sv_raw_from(const char *from, const char *head);
/* sv_raw_from(NULL, head). */
int sv_raw(const char *head);
/* Uploads staged (blobs/tmp/upload-*), and everything else in blobs/tmp/. */
int sv_staged(void);
int sv_blob_staged(void);

#endif
