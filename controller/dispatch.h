/*
 * The dispatcher: serves the queue. One process, one poll loop, every host's
 * SSH connection in it; each job and each host connection is a state
 * machine that changes state only through one function (job_state,
 * host_state), which logs every transition with its reason.
 */
#ifndef ASSAY_CTL_DISPATCH_H
#define ASSAY_CTL_DISPATCH_H

#include "lab.h"

#include <stdint.h>
#include <stdio.h>

struct assay_transport;

typedef struct assay_dispatch_opts {
    int once;              /* return when no queued or running work is left */
    int max_parallel;      /* jobs at once; 0: one per host */
    int max_starting;      /* jobs connecting, uploading or starting at once (default 16): */
                           /* a few hundred SSH handshakes and uploads at the same */
                           /* instant only slow every one of them down */
    double unreachable_s;  /* a host down this long fails its job over (default 120) */
    double silence_s;      /* a connection silent this long is dead (default 60; */
                           /* keepalives, each answered, go every silence_s / 4) */
    int max_attempts;      /* attempts per job before it ends in error (default 3) */
    double reset_timeout_s; /* a host's reset command must end within this (default 1800) */
    double host_cmd_timeout_s; /* a health check or a removal of job directories must end */
                           /* within this (default 600); the tests shorten it */
    int tty;               /* redraw a progress table instead of printing lines */
    int color;             /* tty: colour the table (the caller honours NO_COLOR and TERM=dumb) */
    int cols;              /* tty: the terminal's width (0: 120); no line of the table is wider, */
                           /* or the terminal wraps it and the redraw misses its top */
    int *stopped_by;       /* if not NULL: the signal that stopped the loop (SIGINT, SIGTERM), else 0 */
    FILE *out;
    uint64_t log_cap;      /* a log over this is kept up to it, with a marker (default 64 MiB) */
    int event_batch;       /* events per store transaction at most (0: all those of one read) */
    const struct assay_transport *transport; /* NULL: SSH (libssh2); the tests give a fake host */
    int gc_only;           /* no jobs: remove the job directories due on every host, once, and */
                           /* return (assay gc --hosts) */
    size_t *dirs_removed;  /* if not NULL: job directories removed on hosts by this call */
    size_t *dirs_failed;   /* if not NULL: job directories whose removal failed in this call */
} assay_dispatch_opts;

/* Serve the queue until it is empty (once) or SIGINT/SIGTERM. Jobs found
 * running at start (a restarted controller) are re-attached from the last
 * stored event. Each idle host's ended jobs' directories are removed once
 * older than the lab's hosts.job_retention_days (default 7; only those of
 * attempts whose events and logs are in the store). Returns 0, or a
 * negative code if the store fails. */
int assay_dispatch(assay_lab *lab, const assay_dispatch_opts *o);

#endif
