/*
 * assay serve: the HTTP API (docs/api.md). See serve.h.
 *
 * libmicrohttpd calls the access handler several times per request: first
 * with the headers only (*upload_data_size == 0, *con_cls NULL): there we
 * open the lab, authenticate, match the route, authorise on the route and
 * refuse a body that is too big from its Content-Length, all before one
 * byte of body is read. Then once per chunk of body: an upload goes to a
 * staging file as it comes, a JSON body into a capped buffer. Then once
 * more to answer, where the object the request names is looked up and
 * authorised (a vendor asking for another organisation's object gets the
 * same 404 as for one that does not exist).
 */
#include "serve.h"

#include "accounts.h"
#include "assay/error.h"
#include "assay/json.h"
#include "blob.h"
#include "client.h"
#include "lab.h"
#include "loginlimit.h"
#include "manifest.h"
#include "package.h"
#include "profile.h"
#include "registry.h"
#include "report.h"
#include "webfiles.h"
#include "webhook.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JSON_BODY_MAX (64u * 1024)        /* run submit, cancel */
#define VERIFY_BODY_MAX (16u * 1024 * 1024) /* a signed report to verify */
#define OLD_STAGING "serve-staging"       /* where uploads were staged before 2026-12 */

#define CONNECTIONS ASSAY_SERVE_CONNECTIONS
#define CONNECTIONS_PER_IP 128  /* connections per client address */
#define SSE_MAX ASSAY_SERVE_STREAMS_MAX
#define SSE_PER_ACCOUNT 8       /* streams of one account at once (--streams-per-account) */
#define SSE_RETRY_S 10          /* Retry-After of a stream refused for a limit */
#define SSE_POLL_MS 100         /* how often the watcher looks for new commits */
#define SSE_KEEPALIVE_S 15      /* a comment on every idle stream this often */
#define SSE_BATCH (256u * 1024) /* bytes of events formatted per wake-up, at most */
#define SSE_PAGE 256             /* events read from the store per wake-up, at most */

typedef struct server {
    char labdir[PATH_MAX];
    char blobs[PATH_MAX]; /* the blob store, where uploads are staged */
    uint64_t max_upload; /* ingest.max_submission_bytes */
    /* Event streams with nothing to send are suspended here; the watcher
     * resumes them all when the store changes (PRAGMA data_version) or a
     * keepalive is due. */
    pthread_mutex_t mu;
    struct req *waiting[SSE_MAX];
    size_t nwaiting;
    /* Open streams per account (docs/api.md#limits): an entry is free
     * when n is 0. At most SSE_MAX accounts can hold a stream. */
    struct {
        char user[64];
        unsigned n;
    } sse_users[SSE_MAX];
    unsigned sse_per_account;
    unsigned keepalive_round; /* bumped by the watcher every SSE_KEEPALIVE_S */
    int stopping;
    /* Graceful shutdown (docs/api.md#stopping): uploads being received,
     * and whether the grace is over and they are refused. */
    unsigned uploads;
    unsigned streams;    /* event streams open */
    int refusing;
    pthread_cond_t idle; /* signalled when an upload or a stream ends */
    /* Connections waiting for a request's line and headers, each with its
     * deadline (see "slow clients" below). */
    struct pending *pending;
    unsigned header_s; /* seconds a request's line and headers may take */
    unsigned ingesting;  /* uploads in package add, each on its own thread */
    unsigned adding, max_adding; /* of those, adds running: at most one per CPU */
    pthread_cond_t ingest_done;
    int bench_sink;    /* --bench-sink: POST /bench/sink reads and drops a body */
    assay_loginlimit *logins; /* failed logins, per account and address (loginlimit.h) */
    int webroot; /* the portal's folder (O_DIRECTORY), or -1: no portal */
} server;

enum route {
    R_NONE,
    R_HEALTH,
    R_WHOAMI,
    R_PKG_LIST,
    R_PKG_ADD,
    R_PKG_SHOW,
    R_RUN_LIST,
    R_RUN_SUBMIT,
    R_RUN_SHOW,
    R_RUN_CANCEL,
    R_RUN_REPORT,
    R_HOSTS,
    R_VERIFY,
    R_JOB_SHOW,
    R_JOB_LOG,
    R_JOB_EVENTS,
    R_LOGIN,
    R_LOGOUT,
    R_WEB, /* the portal's files (webfiles.c) */
    R_PROFILES,
    R_MANIFEST_CHECK,
    R_RUN_EVENTS,
    R_RUN_PUBLISH,
    R_REGISTRY,
    R_REGISTRY_SHOW,
    R_HOOK_LIST,
    R_HOOK_ADD,
    R_HOOK_REMOVE,
    R_HOOK_DELIVERIES,
    R_HOST_SHOW,
    R_REGISTRY_REPORT,
    R_BENCH_SINK, /* last: not an API route (only with --bench-sink; docs/benchmarks.md) */
};

static const char *const ROUTE_NAMES[] = {
    "-", "healthz", "whoami", "package-list", "package-add", "package-show", "run-list", "run-submit",
    "run-show", "run-cancel", "run-report", "hosts", "verify", "job-show", "job-log", "job-events", "login", "logout",
    "web", "profiles", "manifest-check", "run-events", "run-publish", "registry", "registry-show",
    "webhook-list", "webhook-add", "webhook-remove", "webhook-deliveries", "host-show",
    "registry-report", "bench-sink",
};

const char *const *assay_serve_routes(size_t *n)
{
    *n = R_BENCH_SINK - 1; /* not R_NONE's "-", nor the benchmark's sink */
    return ROUTE_NAMES + 1;
}

/* One request, from its headers to its end (con_cls). */
typedef struct req {
    enum route route;
    char arg[80];        /* the id in the path: a package id, run or job number, or organisation */
    int64_t hook;        /* a webhook's id in the path */
    int authed;          /* a valid token or session was presented */
    int by_cookie;       /* by a session cookie: state changes need the CSRF token */
    char csrf[65];
    char webpath[256];   /* R_WEB: the path asked for */
    assay_user_rec user;
    assay_lab lab;
    int lab_open;
    int status;          /* the status answered, for the access log */
    int refused;         /* an answer was queued at the headers: ignore the body */
    int close;           /* answer with Connection: close (a request that may smuggle another) */
    int counted;         /* an upload, counted in srv->uploads */
    int stop_refused;    /* an upload refused when the grace ended: 503 at its end */
    int streaming;       /* an event stream, counted in srv->streams and srv->sse_users[sse_user] */
    int sse_user;
    int sock;            /* an event stream's socket, watched for its client's leaving */
    int gone;            /* its client left while it waited (the watcher saw the socket end) */
    unsigned retry_after; /* a refusal for a limit: Retry-After seconds */
    const char *limit;    /* ... and the limit's name and value, named in the problem */
    unsigned limit_max;
    /* an upload */
    int fd;
    char udir[PATH_MAX]; /* blobs/tmp/upload-XXXXXX: this upload's own staging directory */
    int ulock;           /* ... held while the upload lives (assay_blob_stagedir) */
    char upath[PATH_MAX]; /* the file in it, named as the client named it */
    uint64_t got;
    int too_big;
    /* a JSON body */
    char *body;
    size_t blen, bmax;
    struct timespec t0;
    struct timespec tb; /* when the body was all in (uploads: received and staged) */
    /* an upload's package add, on a thread of its own (see pkg_add) */
    int ingest;           /* 0 not started, 1 running (the connection suspended), 2 done */
    int add_rc, add_existed;
    char add_id[65];
    assay_error add_err;
    /* an event stream (R_JOB_EVENTS) */
    server *srv;
    struct MHD_Connection *conn;
    int64_t job;
    int attempt;          /* the attempt whose events are being sent */
    int64_t next_seq;     /* the next event to send */
    char *sbuf;           /* formatted, not yet sent */
    size_t slen, soff;
    unsigned ka_seen;     /* the keepalive round last answered */
    int sse_end;          /* the job ended and its end was formatted */
    int64_t run;          /* a stream of a whole run (R_RUN_EVENTS): its number */
    int64_t last_event;   /* the id of the last event sent (assay_store_run_events) */
    char *jobs_sent;      /* the jobs' states last sent */
} req;

/* ---- answers ----------------------------------------------------------- */

static enum MHD_Result answer(struct MHD_Connection *c, req *r, int status, const char *type, const void *data,
                              size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (r)
        r->status = status;
    return ok;
}

static enum MHD_Result answer_json(struct MHD_Connection *c, req *r, int status, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return MHD_NO;
    enum MHD_Result ok = answer(c, r, status, "application/json", s, strlen(s));
    cJSON_free(s);
    return ok;
}

static const char *title_of(int status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 422: return "Unprocessable Content";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

/* An RFC 9457 problem: {"type","title","status","detail"}. */
static enum MHD_Result problem(struct MHD_Connection *c, req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result problem(struct MHD_Connection *c, req *r, int status, const char *fmt, ...)
{
    char detail[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "about:blank");
    cJSON_AddStringToObject(o, "title", title_of(status));
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "detail", detail);
    if (r && r->limit) {
        /* RFC 9457 extension members: which limit, and its value. */
        cJSON_AddStringToObject(o, "limit", r->limit);
        cJSON_AddNumberToObject(o, "max", r->limit_max);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s)
        return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_COPY);
    cJSON_free(s);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/problem+json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"assay\"");
    if (r && r->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (r && r->close)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (r)
        r->status = status;
    return ok;
}

/* The status an ASSAY_E* code from a lookup or an action answers with. */
static int status_of(int code)
{
    switch (code) {
    case ASSAY_ENOTFOUND: return 404;
    case ASSAY_EINVAL: return 422;
    case ASSAY_EUNSAFE: return 422;
    case ASSAY_EVERIFY: return 422;
    case ASSAY_ETOOBIG: return 413;
    case ASSAY_ESTATE: return 409;
    case ASSAY_EEXISTS: return 409;
    case ASSAY_ETIMEOUT: return 503;
    default: return 500;
    }
}

static enum MHD_Result failed(struct MHD_Connection *c, req *r)
{
    const assay_error *e = assay_error_last();
    return problem(c, r, status_of(e->code), "%s", e->message);
}

/* ---- routes --------------------------------------------------------------- */

/* A run number: 1 to 2^53, digits only. */
static int parse_run(const char *s, int64_t *out)
{
    if (!*s || strlen(s) > 15)
        return -1;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    long long v = strtoll(s, NULL, 10);
    if (v < 1)
        return -1;
    *out = v;
    return 0;
}

/* A package id or unique prefix: 8 to 64 lowercase hex digits. */
static int pkg_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* A client's name for its file: printable ASCII or UTF-8 bytes, no '/',
 * not "." or "..", at most 200 bytes. */
static int file_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200 || s[0] == '.') /* not ., .., nor the staging's own .live */
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' || s[i] == '\\')
            return 0;
    return 1;
}

/* A path segment that is a run or job number, at the start of `rest`:
 * copied to r->arg, *tail set after it. 0, or -1 if it is not one. */
static int numbered(req *r, const char *rest, const char **tail)
{
    char seg[32];
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    int64_t v;
    if (n == 0 || n >= sizeof seg)
        return -1;
    memcpy(seg, rest, n);
    seg[n] = 0;
    if (parse_run(seg, &v) < 0)
        return -1;
    snprintf(r->arg, sizeof r->arg, "%s", seg);
    *tail = rest + n;
    return 0;
}

/* orgs/ORG/webhooks[/HOOK[/deliveries]] (after "orgs/"): an
 * organisation's webhooks. */
static int match_org(req *r, const char *p, int get, int post, int del)
{
    const char *slash = strchr(p, '/'), *tail;
    size_t n = slash ? (size_t)(slash - p) : 0;
    if (!slash || n == 0 || n >= sizeof r->arg || strncmp(slash, "/webhooks", 9))
        return 404;
    memcpy(r->arg, p, n);
    r->arg[n] = 0;
    if (!assay_account_name_valid(r->arg))
        return 404;
    tail = slash + 9;
    if (!*tail)
        return get ? (r->route = R_HOOK_LIST, 0) : post ? (r->route = R_HOOK_ADD, 0) : 405;
    char org[sizeof r->arg];
    memcpy(org, r->arg, sizeof org);
    if (*tail != '/' || numbered(r, tail + 1, &tail) < 0)
        return 404;
    parse_run(r->arg, &r->hook);
    memcpy(r->arg, org, sizeof org);
    if (!*tail)
        return del ? (r->route = R_HOOK_REMOVE, 0) : 405;
    if (!strcmp(tail, "/deliveries"))
        return get ? (r->route = R_HOOK_DELIVERIES, 0) : 405;
    return 404;
}

/* Match method and url (already percent-decoded by libmicrohttpd: an
 * encoded slash is a slash, so "..%2F" can only fail to match). Fills
 * r->route and r->arg; 404 for an unknown path, 405 for a known path with
 * another method. */
static int match(req *r, const char *method, const char *url)
{
    int get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST"),
        del = !strcmp(method, "DELETE");
    const char *p, *tail;
    r->route = R_NONE;
    if (!strcmp(url, "/healthz"))
        return get ? (r->route = R_HEALTH, 0) : 405;
    if (!strcmp(url, "/bench/sink") && r->srv->bench_sink)
        return post ? (r->route = R_BENCH_SINK, 0) : 405;
    if (strncmp(url, "/api/", 5)) {
        /* Anything else is a file of the portal, or nothing. */
        if (strlen(url) >= sizeof r->webpath)
            return 404;
        snprintf(r->webpath, sizeof r->webpath, "%s", url);
        return get ? (r->route = R_WEB, 0) : 405;
    }
    if (strncmp(url, "/api/v1/", 8))
        return 404;
    p = url + 8;
    if (!strcmp(p, "whoami"))
        return get ? (r->route = R_WHOAMI, 0) : 405;
    if (!strcmp(p, "hosts"))
        return get ? (r->route = R_HOSTS, 0) : 405;
    if (!strncmp(p, "hosts/", 6)) {
        /* Any name that fits: the store answers 404 for one it has not. */
        if (!p[6] || strchr(p + 6, '/') || strlen(p + 6) >= sizeof r->arg)
            return 404;
        snprintf(r->arg, sizeof r->arg, "%s", p + 6);
        return get ? (r->route = R_HOST_SHOW, 0) : 405;
    }
    if (!strcmp(p, "profiles"))
        return get ? (r->route = R_PROFILES, 0) : 405;
    if (!strcmp(p, "manifest/check"))
        return post ? (r->route = R_MANIFEST_CHECK, 0) : 405;
    if (!strcmp(p, "verify"))
        return post ? (r->route = R_VERIFY, 0) : 405;
    if (!strcmp(p, "login"))
        return post ? (r->route = R_LOGIN, 0) : 405;
    if (!strcmp(p, "logout"))
        return post ? (r->route = R_LOGOUT, 0) : 405;
    if (!strcmp(p, "packages"))
        return get ? (r->route = R_PKG_LIST, 0) : post ? (r->route = R_PKG_ADD, 0) : 405;
    if (!strcmp(p, "runs"))
        return get ? (r->route = R_RUN_LIST, 0) : post ? (r->route = R_RUN_SUBMIT, 0) : 405;
    if (!strncmp(p, "packages/", 9)) {
        if (!pkg_id_ok(p + 9))
            return 404;
        snprintf(r->arg, sizeof r->arg, "%s", p + 9);
        return get ? (r->route = R_PKG_SHOW, 0) : 405;
    }
    if (!strncmp(p, "jobs/", 5) && numbered(r, p + 5, &tail) == 0) {
        if (!*tail)
            return get ? (r->route = R_JOB_SHOW, 0) : 405;
        if (!strcmp(tail, "/log"))
            return get ? (r->route = R_JOB_LOG, 0) : 405;
        if (!strcmp(tail, "/events"))
            return get ? (r->route = R_JOB_EVENTS, 0) : 405;
    }
    if (!strcmp(p, "registry"))
        return get ? (r->route = R_REGISTRY, 0) : 405;
    if (!strncmp(p, "registry/", 9) && numbered(r, p + 9, &tail) == 0) {
        if (!*tail)
            return get ? (r->route = R_REGISTRY_SHOW, 0) : 405;
        if (!strcmp(tail, "/report"))
            return get ? (r->route = R_REGISTRY_REPORT, 0) : 405;
    }
    if (!strncmp(p, "orgs/", 5))
        return match_org(r, p + 5, get, post, del);
    if (!strncmp(p, "runs/", 5) && numbered(r, p + 5, &tail) == 0) {
        if (!strcmp(tail, "/events"))
            return get ? (r->route = R_RUN_EVENTS, 0) : 405;
        if (!strcmp(tail, "/publish"))
            return post ? (r->route = R_RUN_PUBLISH, 0) : 405;
        if (!*tail)
            return get ? (r->route = R_RUN_SHOW, 0) : 405;
        if (!strcmp(tail, "/cancel"))
            return post ? (r->route = R_RUN_CANCEL, 0) : 405;
        if (!strcmp(tail, "/report"))
            return get ? (r->route = R_RUN_REPORT, 0) : 405;
    }
    return 404;
}

/* ---- authorisation on objects -------------------------------------------------- */

/* The package `id` (or prefix) if u may see it, into p; else the same
 * ENOTFOUND as for no package at all. */
static int visible_package(req *r, const char *id, assay_package_rec *p)
{
    if (assay_store_package_get(r->lab.store, id, p, NULL) < 0)
        return assay_error_last()->code;
    int may = assay_account_may_see_package(r->lab.store, &r->user, p->id);
    if (may < 0)
        return may;
    if (!may)
        return assay_error_set(ASSAY_ENOTFOUND, "no package %s", id);
    return 0;
}

/* The run (store JSON) if u may see its package; else ENOTFOUND, worded
 * as for a run that does not exist. */
static int visible_run(req *r, int64_t run, cJSON **out)
{
    cJSON *o = NULL;
    int rc = assay_store_run_get(r->lab.store, run, &o);
    if (rc < 0)
        return rc;
    int may = assay_account_may_see_package(r->lab.store, &r->user, assay_json_str(o, "package"));
    if (may <= 0) {
        cJSON_Delete(o);
        return may < 0 ? may : assay_error_set(ASSAY_ENOTFOUND, "no run %" PRId64, run);
    }
    *out = o;
    return 0;
}

/* The job if u may see its package; else ENOTFOUND, worded as for a job
 * that does not exist. */
static int visible_job(req *r, assay_job_rec *j)
{
    int64_t id = 0;
    parse_run(r->arg, &id);
    if (assay_store_job_get(r->lab.store, id, j) < 0)
        return assay_error_set(ASSAY_ENOTFOUND, "no job %" PRId64, id);
    int may = assay_account_may_see_package(r->lab.store, &r->user, j->package_id);
    if (may <= 0)
        return may < 0 ? may : assay_error_set(ASSAY_ENOTFOUND, "no job %" PRId64, id);
    return 0;
}

/* ---- handlers ------------------------------------------------------------- */

static cJSON *user_json(const assay_user_rec *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", u->name);
    cJSON_AddStringToObject(o, "role", u->role);
    if (u->org[0])
        cJSON_AddStringToObject(o, "org", u->org);
    else
        cJSON_AddNullToObject(o, "org");
    return o;
}

/* The elements of list l whose `key` names a package u may see, into
 * *out; l is consumed. */
static int keep_visible(req *r, cJSON *l, const char *key, cJSON **out)
{
    cJSON *x, *keep = cJSON_CreateArray();
    while ((x = cJSON_DetachItemFromArray(l, 0))) {
        int may = assay_account_may_see_package(r->lab.store, &r->user, assay_json_str(x, key));
        if (may > 0)
            cJSON_AddItemToArray(keep, x);
        else
            cJSON_Delete(x);
        if (may < 0) {
            cJSON_Delete(l);
            cJSON_Delete(keep);
            return may;
        }
    }
    cJSON_Delete(l);
    *out = keep;
    return 0;
}

/* A job's state, as the run and job routes show it. */
static cJSON *job_json(const assay_job_rec *j)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)j->id);
    cJSON_AddNumberToObject(o, "run", (double)j->run_id);
    cJSON_AddStringToObject(o, "profile", j->profile);
    cJSON_AddStringToObject(o, "state", j->state);
    cJSON_AddStringToObject(o, "host", j->host);
    cJSON_AddNumberToObject(o, "attempt", j->attempt);
    cJSON_AddStringToObject(o, "outcome", j->outcome);
    cJSON_AddStringToObject(o, "reason", j->reason);
    cJSON_AddStringToObject(o, "started_at", j->started_at);
    cJSON_AddStringToObject(o, "ended_at", j->ended_at);
    return o;
}

static enum MHD_Result pkg_list(struct MHD_Connection *c, req *r)
{
    cJSON *l, *keep;
    if (assay_store_package_list(r->lab.store, &l) < 0 || keep_visible(r, l, "id", &keep) < 0)
        return failed(c, r);
    return answer_json(c, r, 200, keep);
}

static enum MHD_Result pkg_show(struct MHD_Connection *c, req *r)
{
    assay_package_rec p;
    assay_artifact_rec *arts = NULL;
    size_t n = 0;
    if (visible_package(r, r->arg, &p) < 0 || assay_store_artifacts(r->lab.store, p.id, &arts, &n) < 0)
        return failed(c, r);
    cJSON *o = assay_package_json(&p, arts, n);
    free(arts);
    char *pf = assay_store_package_preflight(r->lab.store, p.id);
    cJSON *pj = pf ? cJSON_Parse(pf) : NULL;
    free(pf);
    cJSON_AddItemToObject(o, "preflight", pj ? pj : cJSON_CreateNull());
    return answer_json(c, r, 200, o);
}

/*
 * package add reads the whole submission again and runs preflight: seconds
 * for a large one, minutes on a loaded machine. On a thread of the pool it
 * would stall every other connection that thread serves (a connection
 * stays on the thread that accepted it: 200 readers wait behind 16
 * uploads). So the upload's connection is suspended, a thread of its own
 * runs the add, and the connection is resumed to answer.
 */
static void *ingest_thread(void *arg)
{
    req *r = arg;
    server *s = r->srv;
    /* One add per CPU at a time: the others wait here, before their
     * budgets start, so that an add's wall clock (ingest.wall_seconds) is
     * its own work, not its turn (16 uploads on 2 cores ran out of it). */
    pthread_mutex_lock(&s->mu);
    while (s->adding >= s->max_adding)
        pthread_cond_wait(&s->ingest_done, &s->mu);
    s->adding++;
    pthread_mutex_unlock(&s->mu);
    r->add_rc = assay_package_add(&r->lab, r->upath, ASSAY_ADD_TAKE, r->add_id, &r->add_existed);
    if (r->add_rc < 0)
        r->add_err = *assay_error_last();
    pthread_mutex_lock(&s->mu);
    s->adding--;
    r->ingest = 2;
    /* From here r may be answered and freed: only s is touched. */
    MHD_resume_connection(r->conn);
    s->ingesting--;
    pthread_cond_broadcast(&s->ingest_done);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Suspend the connection, then start the add: suspended first, so that an
 * add that ends at once cannot resume it before it is suspended. */
static enum MHD_Result ingest_start(struct MHD_Connection *c, req *r)
{
    server *s = r->srv;
    pthread_attr_t a;
    pthread_t t;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&s->mu);
    r->ingest = 1;
    s->ingesting++;
    MHD_suspend_connection(c);
    if (pthread_create(&t, &a, ingest_thread, r) != 0) {
        r->add_rc = assay_error_set(ASSAY_EIO, "cannot start the ingest");
        r->add_err = *assay_error_last();
        r->ingest = 2;
        s->ingesting--;
        MHD_resume_connection(c);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_attr_destroy(&a);
    return MHD_YES;
}

/* The end of an upload: the staged file goes through package add (on its
 * own thread), then the answer. */
static enum MHD_Result pkg_add(struct MHD_Connection *c, req *r)
{
    if (r->ingest == 0) {
        if (r->fd < 0)
            return problem(c, r, 500, "the upload was not staged");
        if (close(r->fd) < 0) {
            r->fd = -1;
            return problem(c, r, 500, "staging the upload: %s", strerror(errno));
        }
        r->fd = -1;
        if (r->got == 0)
            return problem(c, r, 422, "the request body is empty: send the submission file as the body");
        return ingest_start(c, r);
    }
    if (r->ingest == 1)
        return MHD_YES; /* not resumed yet (cannot happen: it is suspended) */
    const char *id = r->add_id;
    int existed = r->add_existed;
    if (r->add_rc < 0) {
        /* The refusals of package add, with its messages; a name the
         * manifest gives that the archive lacks is the upload's fault. */
        const assay_error *e = &r->add_err;
        int st = e->code == ASSAY_ENOTFOUND ? 422 : status_of(e->code);
        return problem(c, r, st, "%s", e->message);
    }
    /* Who uploaded it may see it from now on; the same bytes from another
     * organisation give that one sight of it too (it has the file). */
    if (!strcmp(r->user.role, "vendor") && assay_store_package_org_add(r->lab.store, id, r->user.org) < 0)
        return failed(c, r);
    cJSON *o = cJSON_CreateObject(), *x;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddBoolToObject(o, "added", !existed);
    char *text = assay_store_package_preflight(r->lab.store, id);
    cJSON *pf = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (pf) {
        int e = 0, w = 0, np = 0;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(pf, "profiles"))
        {
            e += (int)assay_json_num(x, "errors");
            w += (int)assay_json_num(x, "warnings");
            np++;
        }
        cJSON *ps = cJSON_AddObjectToObject(o, "preflight");
        cJSON_AddNumberToObject(ps, "errors", e);
        cJSON_AddNumberToObject(ps, "warnings", w);
        cJSON_AddNumberToObject(ps, "profiles", np);
        cJSON_Delete(pf);
    }
    return answer_json(c, r, existed ? 200 : 201, o);
}

/* A whole number from a query argument within [lo, hi], or -1. */
static long long query_num(struct MHD_Connection *c, const char *name, long long lo, long long hi)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    char *end;
    if (!v || !*v || *v == '-' || *v == '+')
        return -1;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return errno || *end || x < lo || x > hi ? -1 : x;
}

/* GET /api/v1/runs: every run the account may see, in run order; with
 * ?limit=N (1-1000) the newest N, and ?before=RUN the page before that
 * run, so the first screen of a long history costs N rows. A vendor's
 * runs are chosen by its organisation in the query itself, then each is
 * still authorised on its package as every object is. */
static enum MHD_Result run_list(struct MHD_Connection *c, req *r)
{
    assay_run_filter f = {
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "product"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "vendor"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since"),
        NULL, 0, 0,
    };
    const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit"),
               *bef = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "before");
    if (lim && (f.limit = (int)query_num(c, "limit", 1, 1000)) < 0)
        return problem(c, r, 400, "limit must be a whole number from 1 to 1000");
    if (bef && (f.before = query_num(c, "before", 1, INT64_MAX)) < 0)
        return problem(c, r, 400, "before must be a run number");
    if (bef && !lim)
        f.limit = 100;
    if (!assay_account_is_staff(&r->user))
        f.org = r->user.org[0] ? r->user.org : "\x01"; /* an account of no organisation holds nothing */
    cJSON *l, *keep;
    if (assay_store_run_list(r->lab.store, &f, &l) < 0 || keep_visible(r, l, "package", &keep) < 0)
        return failed(c, r);
    return answer_json(c, r, 200, keep);
}

static enum MHD_Result run_show(struct MHD_Connection *c, req *r)
{
    int64_t run = 0;
    cJSON *o = NULL;
    assay_job_rec *jobs = NULL;
    size_t n = 0;
    parse_run(r->arg, &run);
    if (visible_run(r, run, &o) < 0)
        return failed(c, r);
    if (assay_store_run_jobs(r->lab.store, run, &jobs, &n) < 0) {
        cJSON_Delete(o);
        return failed(c, r);
    }
    /* A run that is done carries its verdict and conclusion as its signed
     * report states them (what `run wait` exits by), and that report's
     * check, made here: the page shows it instead of asking again. */
    char *env = NULL;
    assay_report_check chk = {0};
    cJSON *v = NULL;
    if (!strcmp(assay_json_str(o, "state"), "done") && assay_report_signed(&env, &chk, &r->lab, run, 0) == 0 &&
        assay_report_check_json(&v, &chk) == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(chk.statement, "predicate");
        cJSON_AddStringToObject(o, "verdict", assay_json_str(cJSON_GetObjectItemCaseSensitive(v, "summary"), "verdict"));
        /* The signed conclusion as it stands (what `run wait --json` prints). */
        cJSON_AddItemToObject(o, "conclusion", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p, "conclusion"), 1));
        /* The benchmarks across targets, for the page's charts. */
        cJSON_AddItemToObject(v, "comparison", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p, "comparison"), 1));
        cJSON_AddItemToObject(o, "verification", v);
    } else {
        assay_error_clear();
    }
    cJSON_Delete(chk.statement);
    free(env);
    cJSON *a = cJSON_AddArrayToObject(o, "job_list");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, job_json(&jobs[i]));
    free(jobs);
    return answer_json(c, r, 200, o);
}

/* The JSON body of a request, parsed; NULL with a 400 answered. An empty
 * body is an empty object. */
static cJSON *json_body(struct MHD_Connection *c, req *r, enum MHD_Result *res)
{
    cJSON *o = r->blen ? cJSON_ParseWithLength(r->body, r->blen) : cJSON_CreateObject();
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        *res = problem(c, r, 400, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

/*
 * POST /api/v1/runs {"package","profiles","priority","stop_on_preflight_error",
 * "allow_missing"}: what `run submit` does. A target for which the package
 * has no artifact is refused (422) unless allow_missing records it as not
 * provided.
 */
static enum MHD_Result run_submit(struct MHD_Connection *c, req *r)
{
    enum MHD_Result res = MHD_NO;
    cJSON *b = json_body(c, r, &res), *out = NULL;
    assay_package_targets_t t = {0};
    assay_package_rec p;
    int64_t run = 0;
    if (!b)
        return res;
    const cJSON *pkg = cJSON_GetObjectItemCaseSensitive(b, "package"),
                *profs = cJSON_GetObjectItemCaseSensitive(b, "profiles"),
                *prio = cJSON_GetObjectItemCaseSensitive(b, "priority");
    int allow = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "allow_missing"));
    int stop = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "stop_on_preflight_error"));
    if (!cJSON_IsString(pkg) || !pkg_id_ok(pkg->valuestring) || !cJSON_IsString(profs) || !*profs->valuestring) {
        res = problem(c, r, 422, "give \"package\" (an id or a prefix of 8+ hex digits) and \"profiles\" "
                                 "(ids, families, OS ids, globs or all, comma-separated)");
        goto out;
    }
    if (prio && (!cJSON_IsNumber(prio) || prio->valuedouble != (double)(int)prio->valuedouble ||
                 prio->valuedouble < -1000 || prio->valuedouble > 1000)) {
        res = problem(c, r, 422, "\"priority\" must be a whole number from -1000 to 1000");
        goto out;
    }
    /* The package is authorised like any object (engineers see all, but
     * the check is on the object, not only the route). */
    int done;
    if (visible_package(r, pkg->valuestring, &p) < 0 || assay_package_complete(&r->lab, p.id, &done) < 0 ||
        assay_package_targets(&t, &r->lab, p.id, profs->valuestring) < 0) {
        res = failed(c, r);
        goto out;
    }
    if (t.ngaps && !allow) {
        size_t i = 0;
        while (!t.gaps[i])
            i++;
        res = problem(c, r, 422, "refused: %zu target(s) can never run (%s: %s); \"allow_missing\": true records "
                                 "them as not provided", t.ngaps, t.ids[i], t.gaps[i]);
        goto out;
    }
    if (assay_store_run_submit(r->lab.store, p.id, t.list, t.n, prio ? (int)prio->valuedouble : 0, stop,
                               (const char *const *)t.gaps, &run) < 0) {
        res = failed(c, r);
        goto out;
    }
    out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "run", (double)run);
    cJSON_AddStringToObject(out, "package", p.id);
    res = answer_json(c, r, 201, out);
out:
    assay_package_targets_free(&t);
    cJSON_Delete(b);
    return res;
}

static enum MHD_Result run_cancel(struct MHD_Connection *c, req *r)
{
    enum MHD_Result res = MHD_NO;
    int64_t run = 0;
    cJSON *o, *b;
    parse_run(r->arg, &run);
    if (visible_run(r, run, &o) < 0)
        return failed(c, r);
    cJSON_Delete(o);
    /* Seen, but not theirs to stop: a vendor's runs are the centre's work. */
    if (!assay_account_is_staff(&r->user))
        return problem(c, r, 403, "only engineers and admins cancel runs");
    if (!(b = json_body(c, r, &res)))
        return res;
    int now = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "now"));
    cJSON_Delete(b);
    if (assay_store_run_cancel(r->lab.store, run, now) < 0 || assay_store_run_get(r->lab.store, run, &o) < 0)
        return failed(c, r);
    return answer_json(c, r, 200, o);
}

static enum MHD_Result run_report(struct MHD_Connection *c, req *r)
{
    int64_t run = 0;
    cJSON *o = NULL;
    char *text = NULL;
    const char *type;
    const char *fmt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
    if (!fmt)
        fmt = "json";
    if (strcmp(fmt, "json") && strcmp(fmt, "html") && strcmp(fmt, "junit") && strcmp(fmt, "md") && strcmp(fmt, "pdf"))
        return problem(c, r, 400, "format must be json, html, junit, md or pdf");
    parse_run(r->arg, &run);
    if (visible_run(r, run, &o) < 0)
        return failed(c, r);
    cJSON_Delete(o);
    if (!strcmp(fmt, "pdf")) {
        unsigned char *pdf = NULL;
        size_t n = 0;
        if (assay_report_make_pdf(&pdf, &n, &r->lab, run, 0) < 0)
            return failed(c, r);
        enum MHD_Result res = answer(c, r, 200, "application/pdf", pdf, n);
        free(pdf);
        return res;
    }
    if (assay_report_make(&text, &type, &r->lab, run, 0, fmt) < 0)
        return failed(c, r);
    enum MHD_Result res = answer(c, r, 200, type, text, strlen(text));
    free(text);
    return res;
}

/* A host as clients see it. Not the identity file's path nor the reset
 * command: what a client needs to know is where work can go, and how the
 * host is. */
static cJSON *host_json(const assay_host_rec *h)
{
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "name", h->name);
    cJSON_AddStringToObject(x, "profile", h->profile);
    cJSON_AddStringToObject(x, "hostkey", h->hostkey);
    cJSON_AddBoolToObject(x, "enabled", !h->disabled[0]);
    cJSON_AddStringToObject(x, "disabled", h->disabled);
    /* Its health, as the dispatcher keeps it (the portal's hosts page). */
    cJSON_AddBoolToObject(x, "drained", h->drained);
    cJSON_AddNumberToObject(x, "failures", h->failures);
    cJSON_AddStringToObject(x, "quarantined", h->quarantined);
    cJSON_AddStringToObject(x, "last_error", h->last_error);
    return x;
}

static enum MHD_Result hosts(struct MHD_Connection *c, req *r)
{
    assay_host_rec *h = NULL;
    size_t n = 0;
    if (assay_store_hosts(r->lab.store, &h, &n) < 0)
        return failed(c, r);
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(a, host_json(&h[i]));
    free(h);
    return answer_json(c, r, 200, a);
}

/*
 * One host, its health, and the facts it last measured (the job-start
 * event of the newest attempt there: the server opens no connection to a
 * host) against its profile, compared as `assay host check` compares them
 * (assay_profile_compare_facts). A vendor gets the 404 of a host that is
 * not there: the lab's hosts are the centre's.
 */
static enum MHD_Result host_show(struct MHD_Connection *c, req *r)
{
    assay_host_rec h;
    assay_profile *prof = NULL;
    cJSON *rows = NULL, *ev = NULL, *cmp = NULL;
    if (!assay_account_is_staff(&r->user))
        return problem(c, r, 404, "no host %s", r->arg);
    if (assay_store_host_get(r->lab.store, r->arg, &h) < 0 || assay_store_host_facts(r->lab.store, h.name, &rows) < 0)
        return failed(c, r);
    cJSON *o = host_json(&h);
    const cJSON *row = cJSON_GetArrayItem(rows, 0);
    const cJSON *facts = NULL;
    if (row) {
        ev = cJSON_Parse(assay_json_str(row, "body"));
        facts = cJSON_GetObjectItemCaseSensitive(ev, "facts");
    }
    if (cJSON_IsObject(facts)) {
        cJSON *from = cJSON_AddObjectToObject(o, "facts_from");
        cJSON_AddNumberToObject(from, "job", cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "job")));
        cJSON_AddNumberToObject(from, "attempt",
                                cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(row, "attempt")));
        const char *ts = assay_json_str(ev, "ts");
        cJSON_AddStringToObject(from, "ts", ts);
        cJSON_AddItemToObject(o, "facts", cJSON_Duplicate(facts, 1));
        if (assay_profile_load(&prof, r->lab.profiles, h.profile) < 0 ||
            assay_profile_compare_facts(&cmp, prof, facts) < 0) {
            /* A profile gone from the lab: the facts still show. */
            cJSON_AddStringToObject(o, "comparison_error", assay_error_last()->message);
            assay_error_clear();
        }
    } else {
        cJSON_AddNullToObject(o, "facts_from");
        cJSON_AddNullToObject(o, "facts");
    }
    if (cmp)
        cJSON_AddItemToObject(o, "comparison", cmp);
    else
        cJSON_AddNullToObject(o, "comparison");
    assay_profile_free(prof);
    cJSON_Delete(ev);
    cJSON_Delete(rows);
    return answer_json(c, r, 200, o);
}

/* The names people know CPU families and OSes by, for the profile picker. */
static const struct {
    const char *id, *zh, *en;
} KNOWN_NAMES[] = {
    {"kunpeng", "鲲鹏", "Kunpeng"}, {"phytium", "飞腾", "Phytium"},   {"loongson", "龙芯", "Loongson"},
    {"zhaoxin", "兆芯", "Zhaoxin"}, {"kylin", "麒麟", "Kylin"},       {"uos", "统信", "UOS"},
    {"openeuler", "欧拉", "openEuler"}, {"debian", "Debian", "Debian"}, {"any", "任意 CPU", "any CPU"},
};

/* {"id","name_zh","name"} for a family or OS id. */
static cJSON *named(const char *id)
{
    cJSON *o = cJSON_CreateObject();
    const char *zh = id, *en = id;
    for (size_t i = 0; i < sizeof KNOWN_NAMES / sizeof KNOWN_NAMES[0]; i++)
        if (!strcmp(KNOWN_NAMES[i].id, id))
            zh = KNOWN_NAMES[i].zh, en = KNOWN_NAMES[i].en;
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "name_zh", zh);
    cJSON_AddStringToObject(o, "name", en);
    return o;
}

/* The member of array a whose "id" is id, made (from named()) if missing. */
static cJSON *group_of(cJSON *a, const char *id, const char *child)
{
    cJSON *x;
    cJSON_ArrayForEach(x, a)
        if (!strcmp(assay_json_str(x, "id"), id))
            return x;
    x = named(id);
    cJSON_AddArrayToObject(x, child);
    cJSON_AddItemToArray(a, x);
    return x;
}

/* GET /api/v1/profiles: the lab's profiles grouped by CPU family, then OS:
 * {"families":[{"id","name_zh","name","oses":[{"id","name_zh","name",
 * "profiles":[{"id","name","name_zh","model","os_version","arch",
 * "package_format","page_size","glibc"}]}]}]}. */
static enum MHD_Result profiles(struct MHD_Connection *c, req *r)
{
    assay_profile **v = NULL;
    size_t n = 0;
    if (assay_profile_list(&v, &n, r->lab.profiles) < 0)
        return failed(c, r);
    cJSON *o = cJSON_CreateObject(), *fams = cJSON_AddArrayToObject(o, "families");
    for (size_t i = 0; i < n; i++) {
        const assay_profile *p = v[i];
        cJSON *fam = group_of(fams, p->family, "oses");
        cJSON *os = group_of(cJSON_GetObjectItemCaseSensitive(fam, "oses"), p->os_id, "profiles");
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", p->id);
        cJSON_AddStringToObject(x, "name", p->name);
        cJSON_AddStringToObject(x, "name_zh", p->name_zh);
        cJSON_AddStringToObject(x, "model", p->model);
        cJSON_AddStringToObject(x, "os_version", p->os_version);
        cJSON_AddStringToObject(x, "arch", p->arch);
        cJSON_AddStringToObject(x, "package_format", p->package_format);
        cJSON_AddNumberToObject(x, "page_size", p->page_size);
        cJSON_AddStringToObject(x, "glibc", p->glibc);
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(os, "profiles"), x);
    }
    assay_profile_list_free(v, n);
    return answer_json(c, r, 200, o);
}

/* POST /api/v1/manifest/check: a manifest.json checked by the same code
 * and with the same messages as package add's ingest, so that the
 * portal's checker is not a second copy of the rules. 200 {"valid":true,
 * "product","version","vendor","artifacts":[{"file","arch","abi"}]}, or
 * 422 with package add's message. Nothing is stored. */
static enum MHD_Result manifest_check(struct MHD_Connection *c, req *r)
{
    assay_manifest *m = NULL;
    if (assay_manifest_parse(&m, r->body ? r->body : "", r->blen) < 0) {
        assay_error_wrap("%s", ASSAY_MANIFEST_NAME);
        return problem(c, r, 422, "%s", assay_error_last()->message);
    }
    cJSON *o = cJSON_CreateObject(), *a;
    cJSON_AddBoolToObject(o, "valid", 1);
    cJSON_AddStringToObject(o, "product", m->product);
    cJSON_AddStringToObject(o, "version", m->version);
    cJSON_AddStringToObject(o, "vendor", m->vendor);
    a = cJSON_AddArrayToObject(o, "artifacts");
    for (size_t i = 0; i < m->nartifacts; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "file", m->artifacts[i].file);
        cJSON_AddStringToObject(x, "arch", m->artifacts[i].arch);
        cJSON_AddStringToObject(x, "abi", m->artifacts[i].abi);
        cJSON_AddItemToArray(a, x);
    }
    assay_manifest_free(m);
    return answer_json(c, r, 200, o);
}

/* GET /api/v1/jobs/J: the job, the events of its current attempt (from
 * ?from=SEQ on; not the steps' live output, which is the job's stream's)
 * and its logs. */
static enum MHD_Result job_show(struct MHD_Connection *c, req *r)
{
    assay_job_rec j;
    cJSON *ev = NULL, *logs = NULL;
    const char *from = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from");
    int64_t f = 0;
    if (from && (parse_run(from, &f) < 0 && strcmp(from, "0")))
        return problem(c, r, 400, "from must be an event number");
    if (visible_job(r, &j) < 0 || assay_store_job_events_page(r->lab.store, j.id, j.attempt, f, -1, 0, &ev) < 0)
        return failed(c, r);
    if (assay_store_job_logs(r->lab.store, j.id, j.attempt, &logs) < 0) {
        cJSON_Delete(ev);
        return failed(c, r);
    }
    cJSON *o = job_json(&j);
    cJSON_AddItemToObject(o, "events", ev);
    cJSON_AddItemToObject(o, "logs", logs);
    return answer_json(c, r, 200, o);
}

/* The byte range of a "Range: bytes=A-B" / "bytes=A-" / "bytes=-N" header
 * over a file of `size` bytes: 0 and [*off, *off + *len), or -1 if it
 * cannot be satisfied or is not one such range. */
static int byte_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    unsigned long long a = 0, b = 0;
    int n = 0;
    if (strncmp(h, "bytes=", 6))
        return -1;
    h += 6;
    if (*h == '-') {
        if (sscanf(h + 1, "%llu%n", &b, &n) != 1 || h[1 + n] || b == 0 || size == 0)
            return -1;
        *off = b >= size ? 0 : size - b;
        *len = size - *off;
        return 0;
    }
    if (sscanf(h, "%llu-%n", &a, &n) != 1 || a >= size)
        return -1;
    h += n;
    if (!*h)
        b = size - 1;
    else if (sscanf(h, "%llu%n", &b, &n) != 1 || h[n] || b < a)
        return -1;
    if (b >= size)
        b = size - 1;
    *off = a;
    *len = b - a + 1;
    return 0;
}

/* GET /api/v1/jobs/J/log?path=logs/STEP.RUN.STREAM: one stored log of the
 * job's current attempt, by the path its record names (never a file name
 * from the request), whole or one byte range. */
static enum MHD_Result job_log(struct MHD_Connection *c, req *r)
{
    assay_job_rec j;
    cJSON *logs = NULL, *l, *hit = NULL;
    char blob[PATH_MAX];
    const char *path = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "path");
    if (!path)
        return problem(c, r, 400, "give path: one of the job's logs (GET /api/v1/jobs/J lists them)");
    if (visible_job(r, &j) < 0 || assay_store_job_logs(r->lab.store, j.id, j.attempt, &logs) < 0)
        return failed(c, r);
    cJSON_ArrayForEach(l, logs)
        if (!strcmp(assay_json_str(l, "path"), path))
            hit = l;
    if (!hit) {
        cJSON_Delete(logs);
        return problem(c, r, 404, "job %" PRId64 " has no log %s", j.id, path);
    }
    int rc = assay_blob_path(blob, sizeof blob, r->lab.blobs, assay_json_str(hit, "sha256"));
    cJSON_Delete(logs);
    int fd = rc < 0 ? -1 : open(blob, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        if (fd >= 0)
            close(fd);
        return problem(c, r, 500, "the log's blob cannot be read");
    }
    uint64_t off = 0, len = (uint64_t)sb.st_size;
    int partial = 0;
    const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
    if (range) {
        if (byte_range(range, (uint64_t)sb.st_size, &off, &len) < 0) {
            close(fd);
            return problem(c, r, 416, "Range must be one range of bytes=A-B within the log's %llu bytes",
                           (unsigned long long)sb.st_size);
        }
        partial = 1;
    }
    /* The response owns fd and closes it. */
    struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (partial) {
        char cr[96];
        snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)off, (unsigned long long)(off + len - 1),
                 (unsigned long long)sb.st_size);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
    }
    enum MHD_Result ok = MHD_queue_response(c, partial ? 206 : 200, resp);
    MHD_destroy_response(resp);
    r->status = partial ? 206 : 200;
    return ok;
}

/* ---- Server-Sent Events ---------------------------------------------------- */

/* Append to the stream's buffer (capped by SSE_BATCH plus one event). */
static int sse_put(req *r, const char *s, size_t n)
{
    char *nb = realloc(r->sbuf, r->slen + n + 1);
    if (!nb)
        return -1;
    r->sbuf = nb;
    memcpy(r->sbuf + r->slen, s, n);
    r->slen += n;
    return 0;
}

/* One event: its head ("id: ...", "event: ...", "data: ..."), the stored
 * body, the tail (its end and the blank line). The body is one line of
 * JSON as stored; a newline in it would end the event early, so it
 * becomes a space. */
static int sse_event(req *r, const char *head, int hn, const char *body, const char *tail)
{
    if (hn < 0 || sse_put(r, head, (size_t)hn) < 0)
        return -1;
    size_t start = r->slen;
    if (sse_put(r, body, strlen(body)) < 0)
        return -1;
    for (size_t k = start; k < r->slen; k++)
        if (r->sbuf[k] == '\n' || r->sbuf[k] == '\r')
            r->sbuf[k] = ' ';
    return sse_put(r, tail, strlen(tail));
}

/* Format what the store holds past the stream's position: each event as
 * "id: ATTEMPT.SEQ", "event: TYPE", "data: BODY" (the stored line, one
 * line of JSON); a new attempt starts again at its event 0; when the job
 * has ended and every event is out, "event: end" with its outcome. */
static int sse_fill(req *r)
{
    assay_job_rec j;
    cJSON *ev = NULL, *x;
    if (assay_store_job_get(r->lab.store, r->job, &j) < 0)
        return -1;
    if (j.attempt != r->attempt) {
        r->attempt = j.attempt;
        r->next_seq = 0;
    }
    /* A page at a time: a job's stored output may be megabytes. */
    if (assay_store_job_events_page(r->lab.store, j.id, j.attempt, r->next_seq, SSE_PAGE, 1, &ev) < 0)
        return -1;
    int more = cJSON_GetArraySize(ev) == SSE_PAGE;
    cJSON_ArrayForEach(x, ev)
    {
        if (r->slen >= SSE_BATCH) {
            more = 1;
            break;
        }
        const char *type = assay_json_str(x, "type"), *body = assay_json_str(x, "body");
        int64_t seq = (int64_t)assay_json_num(x, "seq");
        char head[200];
        int n = snprintf(head, sizeof head, "id: %d.%" PRId64 "\nevent: %.64s\ndata: ", r->attempt, seq, type);
        if (sse_event(r, head, n, body, "\n\n") < 0)
            goto fail;
        r->next_seq = seq + 1;
    }
    cJSON_Delete(ev);
    if (!more && (!strcmp(j.state, "ended") || !strcmp(j.state, "canceled"))) {
        char end[400];
        int n = snprintf(end, sizeof end, "event: end\ndata: {\"state\":\"%s\",\"outcome\":\"%s\"}\n\n", j.state,
                         j.outcome);
        if (n < 0 || sse_put(r, end, (size_t)n) < 0)
            return -1;
        r->sse_end = 1;
    }
    return 0;
fail:
    cJSON_Delete(ev);
    return -1;
}

/* A whole run's stream: every event of its jobs as stored ("id: N",
 * "event: TYPE", "data: {"job","attempt","event":BODY}"), then the jobs'
 * states as "event: jobs" whenever they changed, and "event: end" once
 * the run is done or canceled and everything is out. */
static int run_fill(req *r)
{
    cJSON *ev = NULL, *x, *run = NULL;
    assay_job_rec *jobs = NULL;
    size_t n = 0;
    int rc = -1, more = 0;
    if (assay_store_run_events(r->lab.store, r->run, r->last_event, 256, &ev) < 0)
        return -1;
    cJSON_ArrayForEach(x, ev)
    {
        char head[300];
        int k = snprintf(head, sizeof head, "id: %.0f\nevent: %.64s\ndata: {\"job\":%.0f,\"attempt\":%.0f,\"event\":",
                         assay_json_num(x, "id"), assay_json_str(x, "type"), assay_json_num(x, "job"),
                         assay_json_num(x, "attempt"));
        if (sse_event(r, head, k, assay_json_str(x, "body"), "}\n\n") < 0)
            goto out;
        r->last_event = (int64_t)assay_json_num(x, "id");
    }
    more = cJSON_GetArraySize(ev) == 256;
    if (!more) {
        if (assay_store_run_jobs(r->lab.store, r->run, &jobs, &n) < 0 || assay_store_run_get(r->lab.store, r->run, &run) < 0)
            goto out;
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(a, job_json(&jobs[i]));
        char *text = cJSON_PrintUnformatted(a);
        cJSON_Delete(a);
        if (!text)
            goto out;
        if (!r->jobs_sent || strcmp(text, r->jobs_sent)) {
            char head[64];
            int k = snprintf(head, sizeof head, "id: %" PRId64 "\nevent: jobs\ndata: ", r->last_event);
            if (sse_put(r, head, (size_t)k) < 0 || sse_put(r, text, strlen(text)) < 0 || sse_put(r, "\n\n", 2) < 0) {
                free(text);
                goto out;
            }
            free(r->jobs_sent);
            r->jobs_sent = text;
        } else {
            free(text);
        }
        const char *st = assay_json_str(run, "state");
        if (!strcmp(st, "done") || !strcmp(st, "canceled")) {
            char end[120];
            int k = snprintf(end, sizeof end, "event: end\ndata: {\"state\":\"%.16s\"}\n\n", st);
            if (sse_put(r, end, (size_t)k) < 0)
                goto out;
            r->sse_end = 1;
        }
    }
    rc = 0;
out:
    cJSON_Delete(ev);
    cJSON_Delete(run);
    free(jobs);
    return rc;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    req *r = cls;
    server *s = r->srv;
    (void)pos;
    if (r->soff == r->slen) {
        r->soff = r->slen = 0;
        if (r->sse_end)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if ((r->run ? run_fill(r) : sse_fill(r)) < 0)
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (r->soff == r->slen) {
        pthread_mutex_lock(&s->mu);
        unsigned round = s->keepalive_round;
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (round != r->ka_seen) {
            /* A comment now and then: a client gone away is noticed. */
            pthread_mutex_unlock(&s->mu);
            r->ka_seen = round;
            static const char ka[] = ": keepalive\n\n";
            if (max < sizeof ka - 1)
                return 0;
            memcpy(buf, ka, sizeof ka - 1);
            return (ssize_t)(sizeof ka - 1);
        }
        if (r->gone || s->nwaiting == SSE_MAX) {
            /* Its client left (the watcher saw it): the stream ends and
             * frees its slot now, not at the next keepalive. */
            pthread_mutex_unlock(&s->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        s->waiting[s->nwaiting++] = r;
        MHD_suspend_connection(r->conn);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    size_t n = r->slen - r->soff < max ? r->slen - r->soff : max;
    memcpy(buf, r->sbuf + r->soff, n);
    r->soff += n;
    return (ssize_t)n;
}

/* Take a stream's slot for r's account: 0, or the status it is refused
 * with: 503 when the server's SSE_MAX streams are open, 429 when the
 * account's are. A slot taken is given back by completed(). */
static int stream_take(server *s, req *r)
{
    int st = 0;
    size_t i, free_i = SSE_MAX;
    pthread_mutex_lock(&s->mu);
    for (i = 0; i < SSE_MAX; i++) {
        if (s->sse_users[i].n && !strcmp(s->sse_users[i].user, r->user.name))
            break;
        if (!s->sse_users[i].n && free_i == SSE_MAX)
            free_i = i;
    }
    if (s->streams >= SSE_MAX) {
        st = 503;
    } else if (i < SSE_MAX && s->sse_users[i].n >= s->sse_per_account) {
        st = 429;
    } else {
        /* Fewer than SSE_MAX streams: fewer accounts hold one, so a free
         * entry exists when the account has none. */
        if (i == SSE_MAX) {
            i = free_i;
            snprintf(s->sse_users[i].user, sizeof s->sse_users[i].user, "%s", r->user.name);
        }
        s->sse_users[i].n++;
        s->streams++;
        r->streaming = 1;
        r->sse_user = (int)i;
        r->ka_seen = s->keepalive_round;
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* Open a stream (job_events, run_events) with a first comment, so that a
 * client knows it is open; sse_read does the rest. Refused with 429 past
 * the account's streams, 503 past the server's (docs/api.md#limits). */
static enum MHD_Result sse_start(struct MHD_Connection *c, req *r, const char *what, int64_t id)
{
    char hello[64];
    int st = stream_take(r->srv, r);
    if (st) {
        r->retry_after = SSE_RETRY_S;
        r->limit = st == 429 ? "streams-per-account" : "streams";
        r->limit_max = st == 429 ? r->srv->sse_per_account : SSE_MAX;
        return st == 429 ? problem(c, r, 429, "this account has %u event streams open, as many as it may: "
                                              "close one, or try again later", r->limit_max)
                         : problem(c, r, 503, "the server has %u event streams open, as many as it serves: "
                                              "try again later", r->limit_max);
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    r->sock = ci ? ci->connect_fd : -1;
    int n = snprintf(hello, sizeof hello, ": %s %" PRId64 "\n\n", what, id);
    if (sse_put(r, hello, (size_t)n) < 0)
        return problem(c, r, 500, "out of memory");
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, r, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ok = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    r->status = 200;
    return ok;
}

/* GET /api/v1/runs/N/events: the whole run as Server-Sent Events (run_fill),
 * from its first event or after Last-Event-ID, live until the run ends. */
static enum MHD_Result run_events(struct MHD_Connection *c, req *r)
{
    cJSON *o = NULL;
    int64_t run = 0;
    parse_run(r->arg, &run);
    if (visible_run(r, run, &o) < 0)
        return failed(c, r);
    cJSON_Delete(o);
    r->run = run;
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (last && parse_run(last, &r->last_event) < 0 && strcmp(last, "0"))
        return problem(c, r, 400, "Last-Event-ID must be an id this stream sent (a number)");
    return sse_start(c, r, "run", run);
}

/* GET /api/v1/jobs/J/events: the job's events as Server-Sent Events, from
 * the start of its current attempt or after Last-Event-ID, live until the
 * job ends. */
static enum MHD_Result job_events(struct MHD_Connection *c, req *r)
{
    assay_job_rec j;
    if (visible_job(r, &j) < 0)
        return failed(c, r);
    r->job = j.id;
    r->attempt = j.attempt;
    r->next_seq = 0;
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    if (last) {
        int a;
        long long q;
        char tail;
        if (sscanf(last, "%d.%lld%c", &a, &q, &tail) != 2 || a < 1 || q < 0)
            return problem(c, r, 400, "Last-Event-ID must be an id this stream sent (ATTEMPT.SEQ)");
        if (a == j.attempt)
            r->next_seq = q + 1;
    }
    return sse_start(c, r, "job", j.id);
}

/* ---- slow clients ------------------------------------------------------------
 *
 * libmicrohttpd's connection timeout (--timeout) counts idle time: a client
 * that sends its headers a byte a second is never idle and holds its slot
 * for ever (slowloris), 128 of them from one address. So each request's
 * line and headers must arrive within --timeout seconds, counted from the
 * accept, and again from the end of each request on a connection kept
 * alive. The watcher shuts down the socket of a connection past that;
 * libmicrohttpd sees the connection end and closes it as any other. A
 * request being served (an upload, an event stream) has no such deadline.
 */
struct pending {
    struct pending *next, **prevp;
    int fd;
    int waiting; /* for a request's line and headers */
    int shut;    /* shut down by the watcher */
    struct timespec since;
};

/* libmicrohttpd's connection start and end (MHD_OPTION_NOTIFY_CONNECTION).
 * The socket is closed only after CLOSED returns: under s->mu the watcher
 * never touches a descriptor that is not this connection's. */
static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    server *s = cls;
    struct pending *p = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(p = calloc(1, sizeof *p)))
            return; /* no deadline for it: the idle timeout still holds */
        p->fd = ci->connect_fd;
        p->waiting = 1;
        clock_gettime(CLOCK_MONOTONIC, &p->since);
        pthread_mutex_lock(&s->mu);
        if ((p->next = s->pending))
            s->pending->prevp = &p->next;
        p->prevp = &s->pending;
        s->pending = p;
        pthread_mutex_unlock(&s->mu);
        *socket_context = p;
    } else if (p) {
        pthread_mutex_lock(&s->mu);
        if ((*p->prevp = p->next))
            p->next->prevp = p->prevp;
        pthread_mutex_unlock(&s->mu);
        free(p);
        *socket_context = NULL;
    }
}

/* The connection's headers came (waiting 0), or its request ended and the
 * next one's deadline starts (waiting 1). */
static void headers_wait(server *s, struct MHD_Connection *c, int waiting)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct pending *p = ci ? ci->socket_context : NULL;
    if (!p)
        return;
    pthread_mutex_lock(&s->mu);
    p->waiting = waiting;
    clock_gettime(CLOCK_MONOTONIC, &p->since);
    pthread_mutex_unlock(&s->mu);
}

/* Shut down every connection past its headers' deadline. Called with
 * s->mu held. */
static void shut_slow(server *s)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    for (struct pending *p = s->pending; p; p = p->next)
        if (p->waiting && !p->shut && now.tv_sec - p->since.tv_sec >= (time_t)s->header_s) {
            shutdown(p->fd, SHUT_RDWR);
            p->shut = 1;
        }
}

/* Wake every waiting stream. Called with s->mu held. */
static void resume_all(server *s)
{
    for (size_t i = 0; i < s->nwaiting; i++)
        MHD_resume_connection(s->waiting[i]->conn);
    s->nwaiting = 0;
}

/* Wake the waiting streams whose clients left, to end them. A suspended
 * connection is not watched by libmicrohttpd: without this, a stream
 * closed by its client would keep its slot (and its account's) until the
 * next keepalive finds the socket dead, and an account that reconnects
 * would be refused meanwhile. Called with s->mu held. */
static void resume_gone(server *s)
{
    struct pollfd p[SSE_MAX];
    size_t n = s->nwaiting;
    for (size_t i = 0; i < n; i++) {
        p[i].fd = s->waiting[i]->sock;
        p[i].events = POLLRDHUP;
        p[i].revents = 0;
    }
    if (n == 0 || poll(p, n, 0) <= 0)
        return;
    for (size_t i = n; i-- > 0;)
        if (p[i].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) {
            req *r = s->waiting[i];
            r->gone = 1;
            s->waiting[i] = s->waiting[--s->nwaiting];
            MHD_resume_connection(r->conn);
        }
}

/* The watcher: resumes the waiting streams when another connection
 * (the dispatcher, an API request) committed, or a keepalive is due. Its
 * own store connection; it only reads PRAGMA data_version. */
static void *watcher(void *arg)
{
    server *s = arg;
    assay_store *st = NULL;
    int64_t v0 = -1, v;
    unsigned ticks = 0;
    if (assay_store_open(&st, s->labdir, 0) < 0)
        return NULL;
    for (;;) {
        struct timespec ts = {0, SSE_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
        int changed = assay_store_data_version(st, &v) == 0 && v != v0;
        v0 = changed ? v : v0;
        int ka = ++ticks % (SSE_KEEPALIVE_S * 1000 / SSE_POLL_MS) == 0;
        pthread_mutex_lock(&s->mu);
        if (s->stopping) {
            resume_all(s);
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if (ka)
            s->keepalive_round++;
        shut_slow(s);
        /* Every tick, whatever else happens: the streams of clients that
         * left end now (woken by a change, a stream with nothing new
         * writes nothing, and its dead socket would go unseen until a
         * keepalive). */
        resume_gone(s);
        if ((changed || ka) && s->nwaiting)
            resume_all(s);
        pthread_mutex_unlock(&s->mu);
    }
    assay_store_close(st);
    return NULL;
}

/* ---- webhooks (docs/api.md#webhooks; the senders are webhook.c) ---- */

/* The organisation in the path if u may see its hooks: staff any, a
 * vendor its own; another's is the same 404 as one without hooks. */
static int visible_org(req *r)
{
    if (assay_account_is_staff(&r->user) || !strcmp(r->user.org, r->arg))
        return 0;
    return assay_error_set(ASSAY_ENOTFOUND, "no organisation %s", r->arg);
}

static int is_admin(const req *r)
{
    return !strcmp(r->user.role, "admin");
}

/* GET /api/v1/orgs/ORG/webhooks: its hooks, never their secrets. */
static enum MHD_Result hook_list(struct MHD_Connection *c, req *r)
{
    cJSON *l;
    if (visible_org(r) < 0 || assay_store_webhook_list(r->lab.store, r->arg, &l) < 0)
        return failed(c, r);
    return answer_json(c, r, 200, l);
}

/* POST /api/v1/orgs/ORG/webhooks {"url"} (admin): a new hook and its
 * secret, shown this once. */
static enum MHD_Result hook_add(struct MHD_Connection *c, req *r)
{
    enum MHD_Result res = MHD_NO;
    char secret[ASSAY_WEBHOOK_SECRET_LEN];
    int64_t id;
    if (visible_org(r) < 0)
        return failed(c, r);
    if (!is_admin(r))
        return problem(c, r, 403, "only admins add and remove webhooks");
    cJSON *b = json_body(c, r, &res);
    if (!b)
        return res;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(b, "url");
    if (!cJSON_IsString(u)) {
        cJSON_Delete(b);
        return problem(c, r, 422, "give \"url\": where the run's end is posted (http:// or https://)");
    }
    if (assay_webhook_add(&id, secret, r->lab.store, r->arg, u->valuestring) < 0) {
        cJSON_Delete(b);
        return failed(c, r);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "org", r->arg);
    cJSON_AddStringToObject(o, "url", u->valuestring);
    cJSON_AddStringToObject(o, "secret", secret);
    explicit_bzero(secret, sizeof secret);
    cJSON_Delete(b);
    enum MHD_Result ok = answer_json(c, r, 201, o);
    return ok;
}

/* DELETE /api/v1/orgs/ORG/webhooks/H (admin). */
static enum MHD_Result hook_remove(struct MHD_Connection *c, req *r)
{
    if (visible_org(r) < 0)
        return failed(c, r);
    if (!is_admin(r))
        return problem(c, r, 403, "only admins add and remove webhooks");
    if (assay_store_webhook_remove(r->lab.store, r->hook, r->arg) < 0)
        return failed(c, r);
    return answer(c, r, 204, "text/plain", "", 0);
}

/* GET /api/v1/orgs/ORG/webhooks/H/deliveries: what was sent, and how. */
static enum MHD_Result hook_deliveries(struct MHD_Connection *c, req *r)
{
    cJSON *l;
    if (visible_org(r) < 0 || assay_store_webhook_deliveries(r->lab.store, r->hook, r->arg, &l) < 0)
        return failed(c, r);
    return answer_json(c, r, 200, l);
}

/* ---- web logins ------------------------------------------------------------ */

static void client_addr(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, len, "-");
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out, (socklen_t)len);
    else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out, (socklen_t)len);
}

/* POST /api/v1/login {"name","password"}: a session cookie (HttpOnly,
 * Secure, SameSite=Strict) and, in the body, the CSRF token the page
 * sends back with every state change. */
static enum MHD_Result login(struct MHD_Connection *c, req *r)
{
    enum MHD_Result res = MHD_NO;
    cJSON *b = json_body(c, r, &res);
    char addr[INET6_ADDRSTRLEN], session[ASSAY_TOKEN_LEN], csrf[65], cookie[200];
    if (!b)
        return res;
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(b, "name"), *p = cJSON_GetObjectItemCaseSensitive(b, "password");
    if (!cJSON_IsString(n) || !cJSON_IsString(p)) {
        cJSON_Delete(b);
        return problem(c, r, 400, "give \"name\" and \"password\"");
    }
    client_addr(c, addr, sizeof addr);
    if (assay_loginlimit_check(r->srv->logins, n->valuestring, addr, 0, time(NULL))) {
        cJSON_Delete(b);
        return problem(c, r, 429, "too many failed logins for this account or from this address: try again later");
    }
    int rc = assay_account_login(r->lab.store, n->valuestring, p->valuestring, session, csrf, &r->user);
    explicit_bzero(p->valuestring, strlen(p->valuestring));
    if (rc < 0) {
        if (rc == ASSAY_EAUTH)
            assay_loginlimit_check(r->srv->logins, n->valuestring, addr, 1, time(NULL));
        cJSON_Delete(b);
        return rc == ASSAY_EAUTH ? problem(c, r, 401, "wrong name or password") : failed(c, r);
    }
    cJSON_Delete(b);
    r->authed = 1;
    cJSON *o = user_json(&r->user);
    cJSON_AddStringToObject(o, "csrf", csrf);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct MHD_Response *resp = text ? MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY) : NULL;
    cJSON_free(text);
    if (!resp)
        return MHD_NO;
    snprintf(cookie, sizeof cookie, "assay_session=%s; Path=/; Max-Age=%d; HttpOnly; Secure; SameSite=Strict", session,
             ASSAY_SESSION_SECONDS);
    explicit_bzero(session, sizeof session);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    explicit_bzero(cookie, sizeof cookie);
    enum MHD_Result ok = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    r->status = 200;
    return ok;
}

/* POST /api/v1/logout: the session ends (with a session cookie). */
static enum MHD_Result logout(struct MHD_Connection *c, req *r)
{
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "assay_session");
    if (!r->by_cookie || !cookie)
        return problem(c, r, 400, "no session to end (API tokens are revoked with assay token revoke)");
    if (assay_account_logout(r->lab.store, cookie) < 0)
        return failed(c, r);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE,
                            "assay_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict");
    enum MHD_Result ok = MHD_queue_response(c, 204, resp);
    MHD_destroy_response(resp);
    r->status = 204;
    return ok;
}

/* POST /api/v1/verify: a signed report (the body) checked against this
 * lab's key; public. */
static enum MHD_Result verify(struct MHD_Connection *c, req *r)
{
    char *pem = NULL, keyid[65], alg[16];
    assay_report_check chk = {0};
    if (assay_key_public(r->lab.key, &pem, keyid, alg) < 0)
        return failed(c, r);
    int rc = assay_report_verify(&chk, r->body ? r->body : "", r->blen, pem, strlen(pem));
    free(pem);
    if (rc < 0) {
        const assay_error *e = assay_error_last();
        return problem(c, r, e->code == ASSAY_ETOOBIG ? 413 : 422, "not valid: %s", e->message);
    }
    /* Only what verified is answered: the page draws this summary, never
     * the file it was given. */
    cJSON *o = NULL;
    rc = assay_report_check_json(&o, &chk);
    cJSON_Delete(chk.statement);
    if (rc < 0)
        return failed(c, r);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(o, "summary");
    static const char *const top[] = {"report_number", "product", "verdict", "certified"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        cJSON_AddItemToObject(o, top[i], cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(sum, top[i]), 1));
    return answer_json(c, r, 200, o);
}

/* POST /api/v1/runs/N/publish (engineers and admins): the run's signed
 * report goes into the public registry. */
static enum MHD_Result run_publish(struct MHD_Connection *c, req *r)
{
    int64_t run = 0;
    cJSON *o = NULL;
    parse_run(r->arg, &run);
    if (visible_run(r, run, &o) < 0)
        return failed(c, r);
    cJSON_Delete(o);
    if (!assay_account_is_staff(&r->user))
        return problem(c, r, 403, "only engineers and admins publish reports");
    if (assay_registry_publish(&o, &r->lab, run, r->user.name) < 0)
        return failed(c, r);
    return answer_json(c, r, 200, o);
}

/* GET /api/v1/registry?q=&cpu=&os=&verdict= (public): published reports. */
static enum MHD_Result registry(struct MHD_Connection *c, req *r)
{
    cJSON *l;
    if (assay_store_registry(r->lab.store, 0, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "q"),
                             MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cpu"),
                             MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "os"),
                             MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "verdict"), &l) < 0)
        return failed(c, r);
    return answer_json(c, r, 200, l);
}

/* GET /api/v1/registry/N (public): a published run's signed report as
 * it was published, verified now; the same 404 for a run that is not
 * published as for none. */
static enum MHD_Result registry_show(struct MHD_Connection *c, req *r)
{
    int64_t run = 0;
    cJSON *o = NULL;
    parse_run(r->arg, &run);
    if (assay_registry_get(&o, &r->lab, run) < 0) {
        const assay_error *e = assay_error_last();
        if (e->code == ASSAY_ENOTFOUND)
            return problem(c, r, 404, "no published report of run %" PRId64, run);
        return problem(c, r, status_of(e->code), "%s", e->message);
    }
    return answer_json(c, r, 200, o);
}

/* GET /api/v1/registry/N/report (public): the signed report kept when
 * run N was published, byte for byte (what `assay verify` and openssl
 * check). */
static enum MHD_Result registry_report(struct MHD_Connection *c, req *r)
{
    int64_t run = 0;
    char *env = NULL;
    parse_run(r->arg, &run);
    if (assay_store_published_envelope(r->lab.store, run, &env) < 0) {
        const assay_error *e = assay_error_last();
        if (e->code == ASSAY_ENOTFOUND)
            return problem(c, r, 404, "no published report of run %" PRId64, run);
        return failed(c, r);
    }
    if (!*env) {
        free(env);
        return problem(c, r, 404, "run %" PRId64 " was published before the registry kept signed reports", run);
    }
    enum MHD_Result res = answer(c, r, 200, "application/json", env, strlen(env));
    free(env);
    return res;
}

/* ---- the portal's files ------------------------------------------------------- */

/* GET /, /app.js ...: a file of the portal (webfiles.c decides which may
 * be served), with the headers that keep a page to this server's own
 * scripts and out of other sites' frames, revalidated by its ETag. */
static enum MHD_Result web_file(struct MHD_Connection *c, req *r)
{
    assay_webfile f;
    struct MHD_Response *resp;
    if (r->srv->webroot < 0)
        return problem(c, r, 404, "this server has no portal files (assay serve --web DIR)");
    if (assay_webfile_open(&f, r->srv->webroot, r->webpath) < 0)
        return problem(c, r, 404, "no such file");
    int unchanged =
        assay_webfile_etag_matches(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match"), f.etag);
    if (unchanged) {
        close(f.fd);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else if (!(resp = MHD_create_response_from_fd64(f.size, f.fd))) { /* owns fd from here */
        close(f.fd);
    }
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", f.type);
    MHD_add_response_header(resp, "ETag", f.etag);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "Content-Security-Policy", ASSAY_WEB_CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    int st = unchanged ? 304 : 200;
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)st, resp);
    MHD_destroy_response(resp);
    r->status = st;
    return ok;
}

/* ---- the access handler ------------------------------------------------------ */

/* At the headers: authenticate, authorise the route, prepare for the
 * body. Returns 0 to go on, or 1 when an answer was queued. */
static int at_headers(struct MHD_Connection *c, server *s, req *r, const char *method, const char *url,
                      enum MHD_Result *res)
{
    /* Both a length and a transfer coding: a proxy in front may have read
     * the body by the other one, and the rest as a second request (request
     * smuggling). Refused, and the connection closed (RFC 9112, 6.3). */
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        r->close = 1;
        *res = problem(c, r, 400, "both Content-Length and Transfer-Encoding: give one");
        return 1;
    }
    /* libmicrohttpd decodes chunked alone; any other coding would be read
     * as the body's bytes (RFC 9112, 6.1: 501). */
    const char *te =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te && strcasecmp(te, "chunked")) {
        r->close = 1;
        *res = problem(c, r, 501, "Transfer-Encoding: only chunked is understood");
        return 1;
    }
    int st = match(r, method, url);
    if (st) {
        *res = st == 404 ? problem(c, r, 404, "no such resource") : problem(c, r, 405, "method not allowed here");
        return 1;
    }
    pthread_mutex_lock(&s->mu);
    int stopping = s->stopping;
    pthread_mutex_unlock(&s->mu);
    if (stopping) {
        /* A request on a connection still open while the server stops
         * (new connections are no longer accepted). */
        *res = problem(c, r, 503, "the server is stopping: try again shortly");
        return 1;
    }
    if (r->route == R_HEALTH || r->route == R_WEB)
        return 0;
    if (assay_lab_open(&r->lab, s->labdir) < 0) {
        *res = problem(c, r, 503, "the lab cannot be opened");
        return 1;
    }
    r->lab_open = 1;
    assay_store_set_busy_ms(r->lab.store, 5000);
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "assay_session");
    if (auth && !strncmp(auth, "Bearer ", 7)) {
        if (assay_account_authenticate(r->lab.store, auth + 7, &r->user) < 0) {
            *res = problem(c, r, 401, "unknown or revoked token");
            return 1;
        }
        r->authed = 1;
    } else if (cookie && r->route != R_LOGIN) {
        if (assay_account_session(r->lab.store, cookie, &r->user, r->csrf) < 0) {
            *res = problem(c, r, 401, "the session expired or was ended: log in again");
            return 1;
        }
        r->authed = r->by_cookie = 1;
        /* A browser sends the cookie with any request a page makes it
         * send: a state change must also carry the token only our own
         * page could read (SameSite=Strict is the second wall). */
        const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-CSRF-Token");
        if (strcmp(method, "GET") && strcmp(method, "HEAD") && !(t && assay_account_secret_eq(t, r->csrf))) {
            *res = problem(c, r, 403, "a state-changing request with a session needs its X-CSRF-Token header");
            return 1;
        }
    }
    int public = r->route == R_VERIFY || r->route == R_LOGIN || r->route == R_REGISTRY || r->route == R_REGISTRY_SHOW ||
                 r->route == R_REGISTRY_REPORT;
    if (!public && !r->authed) {
        *res = problem(c, r, 401, "give a token: Authorization: Bearer <token> (assay token create)");
        return 1;
    }
    int staff = r->authed && assay_account_is_staff(&r->user);
    if ((r->route == R_RUN_SUBMIT || r->route == R_HOSTS) && !staff) {
        *res = problem(c, r, 403, "only engineers and admins may do this");
        return 1;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t len = 0;
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || *end || end == cl || cl[0] == '-') {
            *res = problem(c, r, 400, "bad Content-Length");
            return 1;
        }
        len = v;
    }
    /* The benchmark's sink drops what it reads, or with ?to=file stages it
     * as an upload is staged (then removes it): the raw cost of the
     * connection, and of the connection and the disk. */
    const char *to = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to");
    if (r->route == R_BENCH_SINK && !(to && !strcmp(to, "file")))
        return 0;
    if (r->route == R_PKG_ADD || r->route == R_BENCH_SINK) {
        r->bmax = s->max_upload;
        if (r->route == R_PKG_ADD && cl && len > s->max_upload) {
            *res = problem(c, r, 413, "the submission is larger than this lab accepts "
                                      "(ingest.max_submission_bytes %" PRIu64 " bytes)", s->max_upload);
            return 1;
        }
        /* The file keeps the name the client gives (?name=), which the
         * package records; only a plain file name is taken. */
        const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
        if (!name || r->route == R_BENCH_SINK)
            name = "submission";
        if (!file_name_ok(name)) {
            *res = problem(c, r, 400, "name must be a plain file name: 1-200 printable characters, no '/', "
                                      "not starting with '.'");
            return 1;
        }
        /* Staged in the blob store's own staging, on its file system: the
         * add then moves the file into the store instead of copying it
         * (its bytes go to disk once), and a killed server's partial
         * upload is swept as any dead add's staging is. */
        if (assay_blob_stagedir(r->udir, sizeof r->udir, &r->ulock, s->blobs, "upload") < 0) {
            r->udir[0] = 0;
            *res = problem(c, r, 503, "cannot stage the upload: %s", assay_error_last()->message);
            return 1;
        }
        snprintf(r->upath, sizeof r->upath, "%s/%s", r->udir, name);
        if ((r->fd = open(r->upath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
            r->upath[0] = 0;
            *res = problem(c, r, 503, "cannot stage the upload: %s", strerror(errno));
            return 1;
        }
        pthread_mutex_lock(&s->mu);
        s->uploads++;
        r->counted = 1;
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    if (!strcmp(method, "POST")) {
        r->bmax = r->route == R_VERIFY ? VERIFY_BODY_MAX : r->route == R_MANIFEST_CHECK ? ASSAY_MANIFEST_MAX : JSON_BODY_MAX;
        if (cl && len > r->bmax) {
            *res = problem(c, r, 413, "the body is larger than %zu bytes", r->bmax);
            return 1;
        }
    }
    return 0;
}

/* A chunk of body: to the staging file, or the capped buffer. Past the cap,
 * the rest is read and dropped, and the answer is 413. */
static int take_body(req *r, const char *data, size_t n)
{
    if (r->too_big)
        return 0;
    if (r->route == R_BENCH_SINK && r->fd < 0) {
        r->got += n; /* read and dropped: what the connection alone costs */
        return 0;
    }
    if (r->route == R_PKG_ADD || r->route == R_BENCH_SINK) {
        if (r->got + n > r->bmax) {
            r->too_big = 1;
            return 0;
        }
        for (size_t off = 0; off < n;) {
            ssize_t w = write(r->fd, data + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -1;
            off += (size_t)w;
        }
        r->got += n;
        return 0;
    }
    if (r->bmax == 0 || r->blen + n > r->bmax) {
        r->too_big = 1;
        return 0;
    }
    if (!r->body && !(r->body = malloc(r->bmax + 1)))
        return -1;
    memcpy(r->body + r->blen, data, n);
    r->blen += n;
    r->body[r->blen] = 0;
    return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
    server *s = cls;
    req *r = *con_cls;
    enum MHD_Result res = MHD_YES;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->fd = -1;
        r->ulock = -1;
        r->sock = -1;
        r->srv = s;
        r->conn = c;
        clock_gettime(CLOCK_MONOTONIC, &r->t0);
        *con_cls = r;
        headers_wait(s, c, 0);
        if (at_headers(c, s, r, method, url, &res))
            r->refused = 1;
        return res;
    }
    if (*size) {
        if (r->counted && !r->refused) {
            pthread_mutex_lock(&s->mu);
            int refusing = s->refusing;
            pthread_mutex_unlock(&s->mu);
            if (refusing) {
                /* The grace is over: the staged part goes now, the rest
                 * of the body is read and dropped, and the answer is 503
                 * (libmicrohttpd answers only once a body is whole; a
                 * client that does not send it within REFUSE_WAIT_S is
                 * cut). */
                r->refused = r->stop_refused = 1;
                close(r->fd);
                r->fd = -1;
                assay_blob_unstage(r->udir, r->ulock);
                r->ulock = -1;
                r->upath[0] = r->udir[0] = 0;
                *size = 0;
                return MHD_YES;
            }
        }
        if (!r->refused && take_body(r, data, *size) < 0) {
            r->refused = 1;
            res = problem(c, r, 500, "cannot stage the body: %s", strerror(errno));
        }
        *size = 0;
        return res;
    }
    if (r->stop_refused)
        return problem(c, r, 503, "the server is stopping: this upload was not finished within the grace; "
                                  "nothing of it was kept: send it again");
    if (r->refused)
        return MHD_YES;
    if (!r->tb.tv_sec)
        clock_gettime(CLOCK_MONOTONIC, &r->tb);
    if (r->too_big && r->route != R_PKG_ADD)
        return problem(c, r, 413, "the body is larger than %zu bytes", r->bmax);
    switch (r->route) {
    case R_HEALTH: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        return answer_json(c, r, 200, o);
    }
    case R_WHOAMI: return answer_json(c, r, 200, user_json(&r->user));
    case R_PKG_LIST: return pkg_list(c, r);
    case R_PKG_ADD:
        if (r->too_big)
            return problem(c, r, 413, "the submission is larger than this lab accepts "
                                      "(ingest.max_submission_bytes %zu bytes)", r->bmax);
        return pkg_add(c, r);
    case R_PKG_SHOW: return pkg_show(c, r);
    case R_RUN_LIST: return run_list(c, r);
    case R_RUN_SUBMIT: return run_submit(c, r);
    case R_RUN_SHOW: return run_show(c, r);
    case R_RUN_CANCEL: return run_cancel(c, r);
    case R_RUN_REPORT: return run_report(c, r);
    case R_HOSTS: return hosts(c, r);
    case R_HOST_SHOW: return host_show(c, r);
    case R_VERIFY: return verify(c, r);
    case R_JOB_SHOW: return job_show(c, r);
    case R_JOB_LOG: return job_log(c, r);
    case R_JOB_EVENTS: return job_events(c, r);
    case R_LOGIN: return login(c, r);
    case R_LOGOUT: return logout(c, r);
    case R_WEB: return web_file(c, r);
    case R_PROFILES: return profiles(c, r);
    case R_MANIFEST_CHECK: return manifest_check(c, r);
    case R_RUN_EVENTS: return run_events(c, r);
    case R_RUN_PUBLISH: return run_publish(c, r);
    case R_REGISTRY: return registry(c, r);
    case R_REGISTRY_SHOW: return registry_show(c, r);
    case R_REGISTRY_REPORT: return registry_report(c, r);
    case R_HOOK_LIST: return hook_list(c, r);
    case R_HOOK_ADD: return hook_add(c, r);
    case R_HOOK_REMOVE: return hook_remove(c, r);
    case R_HOOK_DELIVERIES: return hook_deliveries(c, r);
    case R_BENCH_SINK: {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "bytes", (double)r->got);
        return answer_json(c, r, 200, o);
    }
    case R_NONE: break;
    }
    return problem(c, r, 404, "no such resource");
}

/* A path made printable for the log: at most 200 bytes, anything outside
 * printable ASCII as '?'. */
static void log_safe(char *out, size_t outlen, const char *s)
{
    size_t i = 0;
    for (; s && *s && i + 1 < outlen && i < 200; s++)
        out[i++] = (*s >= 0x21 && *s < 0x7f) ? *s : '?';
    out[i] = 0;
}

/* The end of a request: the access log line (method, path, status, user,
 * bytes of body, milliseconds; never a header), and the clean-up. */
static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    headers_wait(cls, c, 1);
    if (!r)
        return;
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - r->t0.tv_sec) * 1000 + (t1.tv_nsec - r->t0.tv_nsec) / 1000000;
    long body_ms = r->tb.tv_sec ? (r->tb.tv_sec - r->t0.tv_sec) * 1000 +
                                      (r->tb.tv_nsec - r->t0.tv_nsec) / 1000000
                                : ms;
    time_t now = time(NULL);
    struct tm tm;
    char when[32], path[256] = "";
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char addr[INET6_ADDRSTRLEN];
    client_addr(c, addr, sizeof addr);
    log_safe(path, sizeof path, r->route == R_NONE ? "-" : r->arg[0] ? r->arg : "");
    fprintf(stderr, "{\"time\":\"%s\",\"client\":\"%s\",\"route\":\"%s\",\"arg\":\"%s\",\"status\":%d,\"user\":\"%s\","
                    "\"body_bytes\":%" PRIu64 ",\"body_ms\":%ld,\"ms\":%ld,\"completed\":%s}\n",
            when, addr, ROUTE_NAMES[r->route], path, r->status, r->authed ? r->user.name : "",
            r->route == R_PKG_ADD || r->route == R_BENCH_SINK ? r->got : (uint64_t)r->blen, body_ms, ms,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "true" : "false");
    if (r->fd >= 0)
        close(r->fd);
    assay_blob_unstage(r->udir, r->ulock);
    if (r->lab_open)
        assay_lab_close(&r->lab);
    if (r->counted || r->streaming) {
        pthread_mutex_lock(&r->srv->mu);
        r->srv->uploads -= r->counted ? 1 : 0;
        if (r->streaming) {
            r->srv->streams--;
            r->srv->sse_users[r->sse_user].n--;
        }
        pthread_cond_broadcast(&r->srv->idle);
        pthread_mutex_unlock(&r->srv->mu);
    }
    free(r->body);
    free(r->sbuf);
    free(r->jobs_sent);
    free(r);
    *con_cls = NULL;
}

/* libmicrohttpd's own messages (bad requests it refuses itself). */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("assay serve: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/*
 * The first part of stopping: no new connection is accepted, requests on
 * connections still open are answered 503, event streams end; uploads
 * being received get `grace` seconds to finish (and go through ingest as
 * any other). Then those still unfinished are refused: at its next chunk
 * each loses its staged part, and is answered 503 when its body ends; a
 * client that does not get there within REFUSE_WAIT_S is cut by
 * MHD_stop_daemon. Waits on the uploads' ends, not on the clock, except
 * for those two bounds.
 */
#define REFUSE_WAIT_S 5
#define STREAM_END_WAIT_S 5
/* Wait (s->mu held) until *count is 0, at most `seconds`. */
static void wait_zero(server *s, const unsigned *count, unsigned seconds)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += seconds;
    while (*count && pthread_cond_timedwait(&s->idle, &s->mu, &until) == 0)
        ;
}

static void graceful_stop(server *s, struct MHD_Daemon *d, unsigned grace)
{
    MHD_socket lsock = MHD_quiesce_daemon(d);
    if (lsock != MHD_INVALID_SOCKET)
        close(lsock);
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    unsigned n = s->uploads;
    if (n)
        fprintf(stderr, "assay serve: %u upload(s) in flight: waiting up to %us for them\n", n, grace);
    wait_zero(s, &s->uploads, grace);
    if (s->uploads) {
        fprintf(stderr, "assay serve: grace over: refusing %u upload(s) still in flight\n", s->uploads);
        s->refusing = 1;
        wait_zero(s, &s->uploads, REFUSE_WAIT_S);
    }
    /* The watcher resumed the streams when stopping was set: each sends
     * its end; stopping the daemon before that would cut them. */
    wait_zero(s, &s->streams, STREAM_END_WAIT_S);
    pthread_mutex_unlock(&s->mu);
}

/* Remove what a killed server of an older assay left in the staging it
 * had of its own (serve-staging/), then that: a partial upload never
 * became a package, so nothing of it is visible. Uploads are now staged
 * in the blob store's staging, swept by gc. */
static void clean_staging(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "upload-", 7))
            continue;
        int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *sd = sub >= 0 ? fdopendir(sub) : NULL;
        struct dirent *f;
        while (sd && (f = readdir(sd)))
            if (strcmp(f->d_name, ".") && strcmp(f->d_name, ".."))
                unlinkat(sub, f->d_name, 0);
        if (sd)
            closedir(sd);
        else if (sub >= 0)
            close(sub);
        unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

static char *read_pem(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    if (!f) {
        assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
        return NULL;
    }
    if ((buf = calloc(1, 64 * 1024 + 1))) {
        size_t n = fread(buf, 1, 64 * 1024, f);
        if (n == 0 || n == 64 * 1024) {
            assay_error_set(ASSAY_EINVAL, "%s: empty, or larger than 64 KiB", path);
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* The portal's folder: --web DIR must be one; without it, the shipped
 * files if they can be found, else the API alone (said on stderr). */
static int open_web(server *s, const char *given)
{
    char dir[PATH_MAX];
    if (given)
        snprintf(dir, sizeof dir, "%s", given);
    else if (assay_lab_shipped_web(dir, sizeof dir) < 0) {
        fprintf(stderr, "assay serve: no portal files found (--web DIR): serving the API only\n");
        return 0;
    }
    if ((s->webroot = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return assay_error_set_errno(ASSAY_ENOTFOUND, errno, "--web %s", dir);
    return 0;
}

/* "ADDR:PORT" (IPv4) or "[ADDR]:PORT" (IPv6) into ss; host gets ADDR as
 * it is printed back ("[ADDR]" for IPv6). */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, char *host, size_t hostlen)
{
    char addr[INET6_ADDRSTRLEN];
    const char *a = listen, *colon;
    size_t alen;
    int v6 = listen[0] == '[';
    if (v6) {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            goto bad;
        a = listen + 1;
        alen = (size_t)(close - a);
        colon = close + 1;
    } else {
        if (!(colon = strrchr(listen, ':')))
            goto bad;
        alen = (size_t)(colon - listen);
    }
    if (alen == 0 || alen >= sizeof addr)
        goto bad;
    memcpy(addr, a, alen);
    addr[alen] = 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
        goto bad;
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
            goto bad;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
            goto bad;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    }
    snprintf(host, hostlen, v6 ? "[%s]" : "%s", addr);
    return 0;
bad:
    return assay_error_set(ASSAY_EINVAL, "--listen takes ADDR:PORT (IPv4) or [ADDR]:PORT (IPv6), not %s", listen);
}

int assay_serve(const assay_serve_opts *o)
{
    server s;
    assay_lab lab;
    struct sockaddr_storage sa;
    char host[INET6_ADDRSTRLEN + 2];
    char *cert = NULL, *key = NULL;
    int rc = -1, curl_up = 0;
    memset(&s, 0, sizeof s);
    s.webroot = -1;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.ingest_done, NULL);
    pthread_cond_init(&s.idle, NULL);
    if (parse_listen(o->listen, &sa, host, sizeof host) < 0)
        return assay_error_last()->code;
    s.sse_per_account = o->streams_per_account ? o->streams_per_account : SSE_PER_ACCOUNT;
    if (s.sse_per_account > SSE_MAX)
        return assay_error_set(ASSAY_EINVAL, "--streams-per-account takes 1 to %d", SSE_MAX);
    if (assay_loginlimit_new(&s.logins, ASSAY_LOGIN_SLOTS) < 0)
        return assay_error_last()->code;
    if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
        assay_error_set(ASSAY_EINVAL, "give both --tls-cert and --tls-key, or neither");
        goto out;
    }
    if (o->tls_cert && (!(cert = read_pem(o->tls_cert)) || !(key = read_pem(o->tls_key))))
        goto out;

    /* The lab must open here, once, so that a wrong --lab fails at start. */
    if (assay_lab_open(&lab, o->labdir) < 0)
        goto out;
    assay_package_budget_t b;
    assay_package_budget(&lab, &b);
    s.max_upload = b.max_submission;
    s.header_s = o->timeout ? o->timeout : 30;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s.max_adding = ncpu > 1 ? (unsigned)ncpu : 1;
    s.bench_sink = o->bench_sink;
    /* What adds of a killed server (or a killed package add) left in the
     * blob store's staging goes now, not after the grace period: their
     * staging directories' locks died with them. */
    size_t gone_staged, gone_orphans;
    if (assay_package_gc(&lab, (int64_t)b.grace_seconds, &gone_staged, &gone_orphans) < 0)
        fprintf(stderr, "assay serve: cleaning the blob store's staging: %s\n",
                assay_error_last()->message);
    snprintf(s.labdir, sizeof s.labdir, "%s", lab.dir);
    snprintf(s.blobs, sizeof s.blobs, "%s", lab.blobs);
    assay_lab_close(&lab);
    char old[PATH_MAX + 32];
    snprintf(old, sizeof old, "%s/" OLD_STAGING, s.labdir);
    clean_staging(old);
    rmdir(old);
    if (open_web(&s, o->web) < 0)
        goto out;

    /* SIGTERM and SIGINT are waited for by this thread only: block them
     * before the pool's threads start, so they inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A submission is read by a child: exec'd, never a fork of this
     * process of many threads (package.h). */
    if (assay_package_spawn_children() < 0)
        goto out;
    /* libcurl (the webhooks) sets itself up once, before any thread. */
    if (assay_client_global_init() < 0)
        goto out;
    curl_up = 1;

    /* MHD_USE_ITC: MHD_quiesce_daemon (stop accepting) needs it. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ITC;
    if (cert)
        flags |= MHD_USE_TLS;
    /* [::]:PORT takes IPv4 clients too (as ::ffff:a.b.c.d); [::1] only
     * IPv6 ones, as an IPv6 address can only be reached that way. */
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_DUAL_STACK;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, key},
        {MHD_OPTION_END, 0, NULL},
    };
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, &s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(o->threads ? o->threads : 8),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)CONNECTIONS_PER_IP,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(o->timeout ? o->timeout : 30),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED, completed, &s,
        MHD_OPTION_NOTIFY_CONNECTION, notify_conn, &s, /* slow clients */
        MHD_OPTION_ARRAY, cert ? tls : tls + 2, MHD_OPTION_END);
    if (!d) {
        assay_error_set(ASSAY_EIO, "cannot listen on %s (in use, or not an address of this machine)", o->listen);
        goto out;
    }
    pthread_t wt;
    if (pthread_create(&wt, NULL, watcher, &s) != 0) {
        MHD_stop_daemon(d);
        assay_error_set(ASSAY_EIO, "cannot start the event watcher");
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char base[600];
    snprintf(base, sizeof base, "%s://%s:%u", cert ? "https" : "http", host, di ? di->port : 0u);
    assay_webhook_worker *hooks = NULL;
    if (assay_webhook_start(&hooks, s.labdir, o->public_url ? o->public_url : base, o->webhook_backoff) < 0) {
        pthread_mutex_lock(&s.mu);
        s.stopping = 1;
        pthread_mutex_unlock(&s.mu);
        pthread_join(wt, NULL);
        MHD_stop_daemon(d);
        goto out;
    }
    printf("assay serve: listening on %s\n", base);
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "assay serve: signal %d: stopping\n", sig);
    /* Uploads first: a webhook delivery in flight (up to its timeout) must
     * not eat into their grace. */
    graceful_stop(&s, d, o->grace ? o->grace : 30);
    assay_webhook_stop(hooks);
    /* libmicrohttpd must not be stopped with a connection suspended: the
     * watcher resumed them all, once, when stopping was set. */
    pthread_join(wt, NULL);
    /* Adds still in progress end (bounded by the ingest budgets) and
     * answer: their connections are suspended meanwhile. */
    pthread_mutex_lock(&s.mu);
    while (s.ingesting)
        pthread_cond_wait(&s.ingest_done, &s.mu);
    pthread_mutex_unlock(&s.mu);
    /* Ends every connection left; an upload cut here is removed by its
     * completion (its staging directory), never half-stored. */
    MHD_stop_daemon(d);
    rc = 0;
out:
    assay_loginlimit_free(s.logins);
    if (s.webroot >= 0)
        close(s.webroot);
    if (curl_up)
        assay_client_global_done();
    free(cert);
    if (key)
        explicit_bzero(key, strlen(key));
    free(key);
    return rc < 0 ? assay_error_last()->code : 0;
}
