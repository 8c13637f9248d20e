/* An in-process fake host for the dispatcher; see fakehost.h. */
#include "fakehost.h"
#include "assay/error.h"
#include "assay/evmac.h"
#include "assay/spec.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fconn {
    fake_host *h;
    int ok, dead;
    double last_rx, ready_at;
};

struct fexec {
    struct fconn *c;
    assay_remote_kind kind;
    char *out;
    size_t len, off;
    int status;
    char err[256];
    int infd, infd2;
    int fds[32];
    int nfds;
    char shas[33][65];  /* UPLOAD_RUN of a set: the digest each upload part checks, in order */
    int nshas;
    int set;            /* the command is for an artifact set */
    int lie;            /* an answer of lie_unsent: what came arrives, whatever the status says */
    int again;          /* eagain: the next call answers "again" */
    int stall, drop, close_;
    long drop_at, close_at;
    long quiet_at;      /* silent from this byte on (-1: never) */
    assay_sink sink;
    void *arg;
};

static int wake[2] = {-1, -1};

/* The 64-hex word at p, into out; 1 if there is one. */
static int hex64(const char *p, char out[65])
{
    if (strspn(p, "0123456789abcdef") < 64)
        return 0;
    memcpy(out, p, 64);
    out[64] = '\0';
    return 1;
}

static int cached(const fake_host *h, const char *sha)
{
    for (int i = 0; i < h->ncache; i++)
        if (!strcmp(h->cache[i], sha))
            return 1;
    return 0;
}

/* The files of a set's "for f in 'sha/name' ...;" list for which
 * present(arg, sha) says no, named on stderr as remote.c's RUN names
 * missing ones ("missing artifact files: 1 2"). 0 if the command is not
 * for a set or every file is present. */
static int set_lacks(const char *cmd, char *err, size_t errlen, int (*present)(const void *, const char *),
                     const void *arg)
{
    const char *p = strstr(cmd, "for f in '");
    int miss = 0;
    if (!p)
        return 0;
    p += 9;
    size_t used = (size_t)snprintf(err, errlen, "missing artifact files:");
    char sha[65];
    for (int i = 0; *p == '\'' && hex64(p + 1, sha); i++) {
        if (!present(arg, sha)) {
            miss = 1;
            used += (size_t)snprintf(err + used, errlen - used, " %d", i);
        }
        p = strchr(p + 1, '\'');
        if (!p)
            break;
        p += 1 + (p[1] == ' ');
    }
    if (!miss)
        err[0] = '\0';
    return miss;
}

static int in_cache(const void *h, const char *sha)
{
    return cached(h, sha);
}

/* A RUN of a set: the files the cache lacks. */
static int set_missing(fake_host *h, const char *cmd, char *err, size_t errlen)
{
    int miss = set_lacks(cmd, err, errlen, in_cache, h);
    snprintf(h->last_missing, sizeof h->last_missing, "%s", miss ? err : "");
    return miss;
} /* always readable: the loop never sleeps on a fake host */

static int carried(const void *xv, const char *sha)
{
    const struct fexec *x = xv;
    for (int k = 0; k < x->nshas; k++)
        if (!strcmp(x->shas[k], sha))
            return 1;
    return 0;
}

/* An upload and run of a set: the files the command does not carry (no
 * upload part checks their digest). */
static int set_unsent(const struct fexec *x, const char *cmd, char *err, size_t errlen)
{
    return set_lacks(cmd, err, errlen, carried, x);
}

static const char version_json[] = "{\"name\":\"assay-agent\",\"version\":\"0.0-fake\",\"triple\":\"x86_64-linux-gnu\","
                                   "\"commit\":\"fake\",\"build_id\":\"none\",\"protocol\":1,\"machine\":\"x86_64\"}\n";

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fake_host_init(fake_host *h)
{
    memset(h, 0, sizeof *h);
    h->drop_kind = h->close_kind = h->stall_kind = h->fail_kind = -1;
    h->log_bytes = 100;
}

/* ---- output ------------------------------------------------------------ */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* One event line, MAC'd, if its seq is >= from. */
static void event(struct buf *b, const fake_host *h, const unsigned char *key, int64_t *seq, int64_t from,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void event(struct buf *b, const fake_host *h, const unsigned char *key, int64_t *seq, int64_t from,
                  const char *fmt, ...)
{
    char body[2048], line[2200], mac[ASSAY_EVMAC_SUFFIX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    int n = snprintf(line, sizeof line, "{\"v\":1,\"seq\":%" PRId64 ",\"ts\":\"2026-11-30T00:00:00Z\",%s}", *seq, body);
    assay_evmac_suffix(mac, key, line, (size_t)n);
    if (h->bad_mac)
        mac[10] = mac[10] == '0' ? '1' : '0';
    if (*seq >= from) {
        put(b, line, (size_t)n - 1);
        put(b, mac, strlen(mac));
        put(b, "\n", 1);
    }
    (*seq)++;
}

static void logs(struct buf *b, const fake_host *h, const assay_spec *sp)
{
    char hdr[200];
    for (size_t i = 0; i < sp->nsteps; i++) {
        size_t n = h->log_bytes;
        snprintf(hdr, sizeof hdr, "%zu logs/%s.1.stdout\n", n + (size_t)h->announce_extra, sp->steps[i].id);
        put(b, hdr, strlen(hdr));
        char *body = malloc(n + (size_t)h->announce_extra + 1);
        for (size_t k = 0; k < n + (size_t)h->announce_extra; k++)
            body[k] = (char)('a' + (k + i) % 26);
        put(b, body, n + (size_t)h->announce_extra);
        free(body);
    }
    for (int i = 0; i < h->extra_logs; i++) {
        snprintf(hdr, sizeof hdr, "0 logs/x%d.1.stdout\n", i);
        put(b, hdr, strlen(hdr));
    }
}

/* What the agent would send for this job from event `from` on. */
static void job_output(struct buf *b, const fake_host *h, const char *spec, int64_t from, int with_events)
{
    assay_spec *sp = NULL;
    if (assay_spec_parse(&sp, spec, strlen(spec)) < 0)
        return;
    int64_t seq = 0;
    if (with_events) {
        const unsigned char *key = sp->event_key;
        event(b, h, key, &seq, from, "\"type\":\"job-start\",\"job\":\"%s\",\"steps\":%zu", sp->id, sp->nsteps);
        int pass = 0, fail = 0;
        for (size_t i = 0; i < sp->nsteps; i++) {
            const assay_step *st = &sp->steps[i];
            int fails = h->fail_step == (int)i + 1;
            const char *kind = assay_step_kind_name(st->kind);
            int runs = st->kind == ASSAY_STEP_BENCH ? st->repeat.max : 1; /* the fake runs no adaptive benchmarks */
            for (int r = 1; r <= runs; r++) {
                event(b, h, key, &seq, from, "\"type\":\"step-start\",\"step\":\"%s\",\"kind\":\"%s\",\"run\":%d",
                      st->id, kind, r);
                event(b, h, key, &seq, from,
                      "\"type\":\"step-end\",\"step\":\"%s\",\"kind\":\"%s\",\"run\":%d,\"verdict\":\"%s\","
                      "\"reason\":%s,\"exit_code\":%d,\"signal\":null,\"timed_out\":false,\"expect_exit\":%d%s",
                      st->id, kind, r, fails ? "fail" : "pass", fails ? "\"exit status 1\"" : "null",
                      fails ? st->expect_exit + 1 : st->expect_exit, st->expect_exit,
                      st->kind == ASSAY_STEP_BENCH ? ",\"value\":1.5" : "");
            }
            pass += !fails;
            fail += fails;
        }
        event(b, h, key, &seq, from,
              "\"type\":\"job-end\",\"job\":\"%s\",\"outcome\":\"%s\",\"reason\":null,"
              "\"counts\":{\"pass\":%d,\"fail\":%d,\"error\":0,\"skipped\":0}",
              sp->id, fail ? "failed" : "passed", pass, fail);
    }
    logs(b, h, sp);
    assay_spec_free(sp);
}

/* ---- the transport -------------------------------------------------------- */

static int conn_new(void **out, const assay_conn_opts *o, void *arg)
{
    fake_host *h = arg;
    struct fconn *c = calloc(1, sizeof *c);
    c->h = h;
    snprintf(h->last_address, sizeof h->last_address, "%s", o->address);
    if (wake[0] < 0 && pipe(wake) == 0)
        (void)!write(wake[1], "x", 1);
    *out = c;
    return 0;
}

static int conn_open(void *cv)
{
    struct fconn *c = cv;
    fake_host *h = c->h;
    if (c->ok)
        return 0;
    if (c->dead)
        return assay_error_set(ASSAY_EIO, "fake: connection is closed");
    h->connects++;
    if (h->auth_fail) {
        c->dead = 1;
        return assay_error_set(ASSAY_EAUTH, "fake: authentication refused");
    }
    if (h->connect_fail > 0) {
        h->connect_fail--;
        c->dead = 1;
        return assay_error_set(ASSAY_EIO, "fake: connect: Connection refused");
    }
    c->ok = 1;
    c->last_rx = c->ready_at = mono();
    return 0;
}

static const char *conn_hostkey(void *c)
{
    (void)c;
    return "SHA256:fakefakefakefakefakefakefakefakefakefakefak";
}

static void conn_pollfd(void *c, struct pollfd *p)
{
    (void)c;
    p->fd = wake[0];
    p->events = POLLIN;
    p->revents = 0;
}

static double conn_silent_s(void *cv)
{
    struct fconn *c = cv;
    return c->ok ? mono() - c->last_rx : 0;
}

static void conn_touch(void *cv)
{
    ((struct fconn *)cv)->last_rx = mono();
}

static double conn_age_s(void *cv)
{
    struct fconn *c = cv;
    return c->ok ? mono() - c->ready_at : 0;
}

static int conn_keepalive(void *c, int *next)
{
    (void)c;
    *next = 15;
    return 0;
}

static void conn_free(void *c)
{
    free(c);
}

/* A fault set for RUN applies to "upload and run" too: both are the job's
 * command, the second with uploads in front. */
static int hits(int fault_kind, assay_remote_kind kind)
{
    return fault_kind == (int)kind || (fault_kind == ASSAY_REMOTE_RUN && kind == ASSAY_REMOTE_UPLOAD_RUN);
}

static int exec_new(void **out, void *cv, assay_remote_kind kind, const assay_exec_opts *o)
{
    struct fconn *c = cv;
    fake_host *h = c->h;
    if (c->dead)
        return assay_error_set(ASSAY_EIO, "fake: open channel: connection is closed");
    struct fexec *x = calloc(1, sizeof *x);
    struct buf b = {0};
    x->c = c;
    x->kind = kind;
    x->sink = o->sink;
    x->arg = o->arg;
    x->infd = o->infd > 0 ? o->infd : -1;
    x->infd2 = o->infd2 > 0 ? o->infd2 : -1;
    for (size_t i = 0; o->infds && i < o->ninfds && i < 32; i++)
        x->fds[x->nfds++] = o->infds[i];
    x->set = strstr(o->command, "for f in '") != NULL;
    /* The digests the upload parts check, in the order they read stdin: a
     * shell part's test, or the agent's receive. */
    for (const char *p = o->command; x->nshas < 33;) {
        const char *a = strstr(p, "\"$h\" != "), *r = strstr(p, "receive --size "), *q;
        if (a && (!r || a < r))
            q = a + 8;
        else if (r && (q = strstr(r, "--sha256 ")) != NULL)
            q += 9;
        else
            break;
        if (hex64(q, x->shas[x->nshas]))
            x->nshas++;
        p = q;
    }
    if (hits(h->stall_kind, kind) && h->stall_times > 0) {
        h->stall_times--;
        x->stall = 1;
    }
    if (hits(h->drop_kind, kind) && h->drop_times > 0) {
        h->drop_times--;
        x->drop = 1;
        x->drop_at = h->drop_at;
    }
    if (hits(h->close_kind, kind) && h->close_times > 0) {
        h->close_times--;
        x->close_ = 1;
        x->close_at = h->close_at;
    }
    switch (kind) {
    case ASSAY_REMOTE_UPLOAD_RUN:
    case ASSAY_REMOTE_RUN: {
        if (kind == ASSAY_REMOTE_RUN)
            h->runs++;
        else
            h->upload_runs++;
        if (h->on_run)
            h->on_run(h);
        const char *f = strstr(o->command, "--from ");
        int64_t from = f ? strtoll(f + 7, NULL, 10) : 0;
        int up = kind == ASSAY_REMOTE_UPLOAD_RUN; /* what is missing comes on stdin */
        int set = strstr(o->command, "for f in '") != NULL;
        int miss = (!h->has_agent && !up ? 1 : 0) | (from == 0 && !set && !h->has_art && !up ? 2 : 0);
        if (up && h->lie_unsent > 0 && from == 0) {
            /* The agent comes on infd, the artifact's files on infds. */
            int no_agent = o->infd < 0, no_art = !set && o->ninfds == 0;
            int no_files = set && set_unsent(x, o->command, x->err, sizeof x->err);
            if (no_agent || no_art || no_files) {
                h->lie_unsent--;
                h->lies++;
                x->lie = 1;
                x->status = ASSAY_REMOTE_MISSING + no_agent + 2 * (no_art || no_files);
                snprintf(h->last_lie, sizeof h->last_lie, "%s%s%s", no_agent ? "agent " : "",
                         no_art ? "artifact " : "", no_files ? x->err : "");
                break;
            }
        }
        /* A set is checked when its RUN runs: after an upload, against
         * what came whole. */
        if (set && from == 0 && !up && set_missing(h, o->command, x->err, sizeof x->err))
            miss |= 2;
        if (miss) {
            x->status = ASSAY_REMOTE_MISSING + miss;
            break;
        }
        char *spec = malloc(o->inlen + 1);
        memcpy(spec, o->in, o->inlen);
        spec[o->inlen] = '\0';
        job_output(&b, h, spec, from, 1);
        free(h->spec);
        h->spec = spec;
        break;
    }
    case ASSAY_REMOTE_LOGS: {
        h->logs_cmds++;
        /* The spec is not sent with LOGS: the host has the job's. */
        if (h->spec)
            job_output(&b, h, h->spec, 0, 0);
        break;
    }
    case ASSAY_REMOTE_UPLOAD_AGENT:
    case ASSAY_REMOTE_UPLOAD_ART:
        break;
    case ASSAY_REMOTE_CANCEL:
        h->cancels++;
        break;
    case ASSAY_REMOTE_STOP:
        h->stops++;
        break;
    case ASSAY_REMOTE_RESET:
        h->resets++;
        break;
    case ASSAY_REMOTE_VERSION:
    case ASSAY_REMOTE_UPLOAD_VERSION: {
        if (kind == ASSAY_REMOTE_VERSION) {
            h->versions++;
            if (h->on_version)
                h->on_version(h);
        } else {
            h->version_pushes++;
        }
        /* The digest check comes first; a pushed agent is ours. */
        if (kind == ASSAY_REMOTE_VERSION && !h->has_agent) {
            x->status = ASSAY_REMOTE_MISSING + 1;
            break;
        }
        const char *a = h->version_answer ? h->version_answer : version_json;
        put(&b, a, strlen(a));
        break;
    }
    case ASSAY_REMOTE_FACTS:
        break;
    case ASSAY_REMOTE_REMOVE:
        h->removes++;
        free(h->last_remove);
        h->last_remove = strdup(o->command);
        break;
    }
    if (hits(h->fail_kind, kind) && h->fail_times > 0) {
        h->fail_times--;
        x->status = h->fail_status;
        snprintf(x->err, sizeof x->err, "fake: %s failed", assay_remote_kind_name(kind));
        free(b.p);
        b = (struct buf){0};
    }
    x->out = b.p;
    x->len = b.len;
    x->quiet_at = -1;
    if ((kind == ASSAY_REMOTE_RUN || kind == ASSAY_REMOTE_UPLOAD_RUN) && h->quiet_times > 0 && b.p) {
        int lines = 0;
        for (size_t i = 0; i < b.len && x->quiet_at < 0; i++)
            if (b.p[i] == '\n' && ++lines == h->quiet_after)
                x->quiet_at = (long)i + 1;
        if (x->quiet_at >= 0)
            h->quiet_times--;
    }
    if (x->drop && x->drop_at < 0) /* from the end */
        x->drop_at = (long)b.len + x->drop_at;
    if (x->close_ && x->close_at < 0)
        x->close_at = (long)b.len + x->close_at;
    *out = x;
    return 0;
}

static int exec_run(void *xv)
{
    struct fexec *x = xv;
    fake_host *h = x->c->h;
    if (x->c->dead)
        return assay_error_set(ASSAY_EIO, "fake: connection is closed");
    if (h->eagain && (x->again = !x->again))
        return ASSAY_SSH_AGAIN;
    if (x->stall)
        return ASSAY_SSH_AGAIN; /* silence: the dispatcher's clock must notice */
    if (x->infd >= 0 || x->infd2 >= 0 || x->nfds) { /* uploads: their stdin, to the end */
        char buf[65536];
        int got_agent = 0, got_art = 0;
        for (int k = 0; k < 2; k++) {
            int fd = k ? x->infd2 : x->infd;
            if (fd < 0)
                continue;
            while (read(fd, buf, sizeof buf) > 0)
                ;
            /* UPLOAD_RUN: the agent first when both come */
            if (x->kind == ASSAY_REMOTE_UPLOAD_AGENT || x->kind == ASSAY_REMOTE_UPLOAD_VERSION ||
                (x->kind == ASSAY_REMOTE_UPLOAD_RUN && !h->has_agent && !got_agent))
                got_agent = 1;
            else
                got_art = 1;
        }
        x->infd = x->infd2 = -1;
        if (x->status == 0 || x->lie) {
            h->uploads_agent += got_agent;
            h->uploads_art += got_art;
            h->has_agent |= got_agent;
            h->has_art |= got_art;
        }
        /* A set's files, each into the cache as it comes whole (the
         * upload parts' digests after the agent's, in order). */
        for (int k = 0; k < x->nfds; k++) {
            int si = k + (x->nshas > x->nfds);
            while (read(x->fds[k], buf, sizeof buf) > 0)
                ;
            if (h->drop_upload_times > 0 && h->drop_upload_file == k + 1) {
                h->drop_upload_times--;
                x->c->dead = 1;
                x->nfds = 0;
                return assay_error_set(ASSAY_EIO, "fake: the connection dropped in the upload of file %d", k + 1);
            }
            int ok = x->status == 0 || x->lie;
            if (ok && !x->set) { /* one file: the artifact */
                h->uploads_art++;
                h->has_art = 1;
            } else if (ok && si < x->nshas) {
                if (!cached(h, x->shas[si]) && h->ncache < 64)
                    memcpy(h->cache[h->ncache++], x->shas[si], 65);
                if (h->nuploaded < 64)
                    memcpy(h->uploaded[h->nuploaded++], x->shas[si], 65);
                h->uploads_art++;
            }
        }
        x->nfds = 0;
    }
    for (;;) {
        if (x->drop && (long)x->off >= x->drop_at) {
            x->c->dead = 1;
            return assay_error_set(ASSAY_EIO, "fake: the connection dropped after %ld bytes of %s", x->drop_at,
                                   assay_remote_kind_name(x->kind));
        }
        if (x->close_ && (long)x->off >= x->close_at) {
            x->status = 255;
            snprintf(x->err, sizeof x->err, "fake: the channel closed after %ld bytes", x->close_at);
            break;
        }
        if (x->off >= x->len)
            break;
        if (x->quiet_at >= 0 && (long)x->off >= x->quiet_at)
            return ASSAY_SSH_AGAIN; /* silent from here on */
        size_t piece = h->split ? h->split : 65536;
        if (piece > x->len - x->off)
            piece = x->len - x->off;
        if (x->quiet_at >= 0 && (long)(x->off + piece) > x->quiet_at)
            piece = (size_t)(x->quiet_at - (long)x->off);
        if (x->drop && (long)(x->off + piece) > x->drop_at)
            piece = (size_t)(x->drop_at - (long)x->off);
        if (x->close_ && (long)(x->off + piece) > x->close_at)
            piece = (size_t)(x->close_at - (long)x->off);
        x->c->last_rx = mono();
        int rc = x->sink ? x->sink(x->arg, x->out + x->off, piece) : 0;
        x->off += piece;
        if (rc < 0)
            return rc;
        if (h->eagain)
            return ASSAY_SSH_AGAIN;
    }
    return 0;
}

static int exec_status(void *xv, const char **sig)
{
    *sig = NULL;
    return ((struct fexec *)xv)->status;
}

static const char *exec_stderr(void *xv)
{
    return ((struct fexec *)xv)->err;
}

static void exec_free(void *xv)
{
    struct fexec *x = xv;
    if (!x)
        return;
    free(x->out);
    free(x);
}

static const assay_transport fake_ops = {
    .name = "fake",
    .conn_new = conn_new,
    .conn_open = conn_open,
    .conn_hostkey = conn_hostkey,
    .conn_pollfd = conn_pollfd,
    .conn_silent_s = conn_silent_s,
    .conn_touch = conn_touch,
    .conn_age_s = conn_age_s,
    .conn_keepalive = conn_keepalive,
    .conn_free = conn_free,
    .exec_new = exec_new,
    .exec_run = exec_run,
    .exec_status = exec_status,
    .exec_stderr = exec_stderr,
    .exec_free = exec_free,
};

assay_transport fake_transport(fake_host *h)
{
    assay_transport t = fake_ops;
    t.arg = h;
    return t;
}

void fake_host_free(fake_host *h)
{
    free(h->spec);
    h->spec = NULL;
    free(h->last_remove);
    h->last_remove = NULL;
}
