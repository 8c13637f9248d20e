/*
 * `assay serve`: the centre's HTTP API (docs/api.md), on GNU
 * libmicrohttpd. A separate process from `assay dispatch`, sharing the
 * lab's store (SQLite, WAL): each request opens its own connection.
 * Uploads stream to a staging file and go through the same ingest as
 * `package add` (assay_package_add: hostile-archive checks under budgets
 * in a child); the server itself never parses a submission.
 */
#ifndef ASSAY_CTL_SERVE_H
#define ASSAY_CTL_SERVE_H

#include <stddef.h>
#include <stdint.h>

#define ASSAY_SERVE_CONNECTIONS 256 /* connections at once (libmicrohttpd's limit) */
/* Event streams open at once, of every account together: below the
 * connection limit, so that plain requests always find a connection (a
 * stream holds its own for as long as its client likes). */
#define ASSAY_SERVE_STREAMS_MAX (ASSAY_SERVE_CONNECTIONS - 32)

typedef struct assay_serve_opts {
    const char *labdir;
    const char *listen;   /* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6); port 0 picks a free one */
    const char *tls_cert; /* PEM files: HTTPS when both are given, else NULL */
    const char *tls_key;
    unsigned threads;     /* size of the request thread pool (8) */
    unsigned timeout;     /* seconds a connection may stay idle, and a request's
                             line and headers may take (30) */
    const char *public_url;   /* the server's address as clients reach it (webhooks' report_url); NULL: its own */
    unsigned webhook_backoff; /* seconds before a failed delivery's first retry (0: ASSAY_WEBHOOK_BACKOFF) */
    unsigned grace;           /* seconds uploads in flight get to finish when stopping (30) */
    const char *web;      /* the portal's folder, or NULL: the shipped one (assay_lab_shipped_web) */
    int bench_sink;           /* serve POST /bench/sink, which reads a body and drops it (?to=file:
                                 stages it, then removes it): for bench/serve.sh only */
    unsigned streams_per_account; /* event streams one account may hold open at once, 1 to
                                     ASSAY_SERVE_STREAMS_MAX (0: 8) */
} assay_serve_opts;

/*
 * Serve until SIGTERM or SIGINT, then stop gracefully: no new
 * connection, uploads in flight get o->grace seconds to finish, then are
 * refused with 503 and their staged parts removed. Prints "assay serve: listening on
 * http[s]://ADDR:PORT" on stdout (flushed) once the socket is bound, and
 * one access-log line per request on stderr (never a token). Staged
 * uploads a killed server left behind are removed at start. Returns 0
 * after a clean shutdown, or a negative code.
 */
int assay_serve(const assay_serve_opts *o);

/* The names of the server's routes (its operation ids in docs/api.yaml
 * and the "route" of its access log), *n of them. */
const char *const *assay_serve_routes(size_t *n);

#endif
