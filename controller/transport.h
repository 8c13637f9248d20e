/*
 * The dispatcher's view of a host connection: connect, run commands on it,
 * poll it. The real one is libssh2's (ssh.h, assay_transport_ssh); the
 * tests put an in-process fake host here (tests/fakehost.c) that can stall,
 * drop, answer EAGAIN on every call, split reads at every byte and close in
 * the middle of a frame, which a real sshd cannot do on demand.
 *
 * The calls mean what ssh.h says of their assay_conn_* / assay_exec_*
 * namesakes; handles are the transport's own.
 */
#ifndef ASSAY_CTL_TRANSPORT_H
#define ASSAY_CTL_TRANSPORT_H

#include "remote.h"
#include "ssh.h"

typedef struct assay_transport {
    const char *name;
    int (*conn_new)(void **out, const assay_conn_opts *o, void *arg);
    int (*conn_open)(void *c);
    const char *(*conn_hostkey)(void *c);
    void (*conn_pollfd)(void *c, struct pollfd *p);
    double (*conn_silent_s)(void *c);
    void (*conn_touch)(void *c);
    double (*conn_age_s)(void *c);
    int (*conn_keepalive)(void *c, int *next_s);
    void (*conn_free)(void *c);
    /* `kind` says what the command is (remote.h). */
    int (*exec_new)(void **out, void *c, assay_remote_kind kind, const assay_exec_opts *o);
    int (*exec_run)(void *x);
    int (*exec_status)(void *x, const char **signal);
    const char *(*exec_stderr)(void *x);
    void (*exec_free)(void *x);
    void *arg; /* passed to conn_new */
} assay_transport;

/* libssh2, non-blocking (ssh.c). */
extern const assay_transport assay_transport_ssh;

#endif
