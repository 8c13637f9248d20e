/*
 * SSH transport: the controller's one user of libssh2. Everything is
 * non-blocking: each call advances a connection or a command as far as it
 * can without waiting and returns ASSAY_SSH_AGAIN when it must wait for the
 * socket (assay_conn_pollfd says for what). One event loop drives every
 * connection; nothing here ever blocks on one host.
 *
 * Host keys are pinned by their SHA256 fingerprint and checked before
 * authentication; client keys are files that must be private (0600).
 */
#ifndef ASSAY_CTL_SSH_H
#define ASSAY_CTL_SSH_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#define ASSAY_SSH_AGAIN 1 /* in progress: poll, then call again */

/* Once per process, before any other call (and before threads). */
int assay_ssh_init(void);
void assay_ssh_exit(void);

typedef struct assay_conn assay_conn;

typedef struct assay_conn_opts {
    const char *address;   /* IP address or host name */
    int port;
    const char *user;
    const char *identity;  /* private key file (OpenSSH format; ed25519 or ecdsa) */
    const char *hostkey;   /* pinned "SHA256:..."; "" with tofu to accept the first key */
    int tofu;
    int keepalive_s;       /* seconds between keepalives (default 15); each is answered */
} assay_conn_opts;

int assay_conn_new(assay_conn **out, const assay_conn_opts *o);
/*
 * Connect, handshake, check the host key, authenticate. Returns 0 when
 * ready, ASSAY_SSH_AGAIN, or ASSAY_EHOSTKEY (the message has both
 * fingerprints), ASSAY_EAUTH, ASSAY_EIO (refused, reset, unreachable).
 */
int assay_conn_open(assay_conn *c);
/* The fingerprint the host presented ("" before the handshake). */
const char *assay_conn_hostkey(const assay_conn *c);
/* Fill p with the socket and the directions libssh2 waits for. */
void assay_conn_pollfd(assay_conn *c, struct pollfd *p);
/* Seconds since bytes last arrived on the connection (since the connect
 * began, before any); 0 for a connection not started. */
double assay_conn_silent_s(const assay_conn *c);
/* Start the silence clock again (a connection that sat idle gets work). */
void assay_conn_touch(assay_conn *c);
/* Seconds since the connection became ready (0 if it is not). libssh2 1.10
 * queues each keepalive's answer on the session and never frees it until
 * the session ends: a connection kept for days grows, so the dispatcher
 * makes a new one now and then. */
double assay_conn_age_s(const assay_conn *c);
/* Send a keepalive if one is due; *next_s: seconds until the next one. */
int assay_conn_keepalive(assay_conn *c, int *next_s);
void assay_conn_free(assay_conn *c);

/*
 * A command on an exec channel. stdin is the file `infd` to its end, then
 * the file `infd2` to its end, then each of `infds` to its end, then the
 * buffer `in` (each optional), then
 * EOF; stdout goes to `sink` (return < 0 to abort); stderr is kept (first
 * 4 KiB) for error messages.
 */
typedef int (*assay_sink)(void *arg, const char *data, size_t len);

typedef struct assay_exec assay_exec;

#define ASSAY_EXEC_FDS_MAX 32

typedef struct assay_exec_opts {
    const char *command;
    const void *in;        /* stdin bytes, or NULL */
    size_t inlen;
    int infd;              /* a file to stream first (> 0; 0 or -1 for none) */
    int infd2;             /* a second one after it (> 0; 0 or -1 for none) */
    const int *infds;      /* then these, in order (up to ASSAY_EXEC_FDS_MAX; NULL: none) */
    size_t ninfds;
    assay_sink sink;       /* stdout; NULL discards */
    void *arg;
} assay_exec_opts;

int assay_exec_new(assay_exec **out, assay_conn *c, const assay_exec_opts *o);
/* Advance. 0 when the command has ended, ASSAY_SSH_AGAIN, or an error
 * (the connection is then unusable). */
int assay_exec_run(assay_exec *x);
/* After 0: the exit status, or -1 if killed by a signal (then signal name). */
int assay_exec_status(const assay_exec *x, const char **signal);
const char *assay_exec_stderr(const assay_exec *x);
/* Bytes sent from stdin so far. */
uint64_t assay_exec_sent(const assay_exec *x);
void assay_exec_free(assay_exec *x);

/* Quote `s` for a POSIX shell into out (single quotes). */
int assay_shell_quote(char *out, size_t outlen, const char *s);

#endif
