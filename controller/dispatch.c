/*
 * The dispatcher; see dispatch.h.
 *
 * Per host: at most one SSH connection and one job at a time. A job first
 * tries the warm path, one command that starts the job, streams its events
 * and then its logs:
 *
 *   RUN -> (ended in the store)
 *
 * When the host lacks our agent or the artifact, RUN says which and exits
 * before anything runs; they are uploaded and RUN goes again:
 *
 *   RUN -> AGENT_UPLOAD? -> ART_UPLOAD? -> RUN -> (ended in the store)
 *
 * A job whose job-end is stored but whose logs are not (a reconnect, a
 * restart) fetches them with LOGS.
 *
 * Before a job goes to a host whose last job was of another package, or
 * did not leave it clean (canceled, an error, an uninstall that did not
 * pass), the host's reset command runs first:
 *
 *   RESET -> RUN ...
 *
 * A reset that fails is the host's failure: the job fails over as from a
 * dead host. A host with no reset command runs the job anyway, and the
 * attempt records that it was not reset (the report says so).
 *
 * Every command costs the host an sshd session and a shell (and under
 * emulation every agent run a qemu start): on a lab that certifies all
 * day, agents and artifacts are already there, and one command is what a
 * job should cost.
 *
 * Every step is a command on an exec channel of the host's connection. The
 * agent and the artifacts are content-addressed on the host
 * (<root>/agents/<sha256>/assay-agent, <root>/cache/<sha256>), so they are
 * sent only when missing and verified by digest on arrival. START is
 * idempotent on the agent's side, and ATTACH resumes from the last event the
 * store holds, so after a dropped connection or a controller restart the
 * same sequence simply runs again.
 */
#include "dispatch.h"
#include "blob.h"
#include "crypto.h"
#include "event.h"
#include "jobcheck.h"
#include "manifest.h"
#include "profile.h"
#include "ssh.h"
#include "assay/error.h"
#include "assay/evmac.h"
#include "assay/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum hstate { H_IDLE, H_CONNECTING, H_READY, H_DOWN, H_DISABLED };
enum jstep { J_RUN, J_AGENT_UPLOAD, J_ART_UPLOAD, J_LOGS, J_END, J_CANCEL, J_RESET };

static const char *const step_names[] = {"run", "agent-upload", "artifact-upload", "logs", "end", "cancel", "reset"};

/* Exit statuses of the RUN command (run_cmd): RUN_MISSING plus 1 for no
 * agent and 2 for no artifact; the start or the attach failed. */
enum { RUN_MISSING = 110, RUN_NO_START = 99, RUN_NO_ATTACH = 98, RUN_NO_LINK = 97, RUN_NO_LOGS = 96 };

/* A job whose RUN or LOGS ends wrong this many times in a row, with no
 * event stored in between, is failed over: a reconnect that works is no
 * proof the host can run it. */
#define MAX_TRIES 5

struct job;

struct host {
    assay_host_rec rec;
    char arch[32];
    char agent[4096], agent_sha[ASSAY_SHA256_HEX];
    char agent_err[256];
    assay_conn *conn;
    enum hstate state;
    double down_since, retry_at;
    double idle_since;       /* connected with no job since then */
    double failed_at;        /* the last connection failure */
    int backoff;
    char last_error[512];
    struct job *job;
};

struct job {
    assay_job_rec rec;
    struct host *host;
    enum jstep step;
    assay_exec *x;       /* the step's command */
    assay_exec *xc;      /* a cancel, beside ATTACH */
    int upfd;            /* the file an upload reads, or -1 */
    int cancel_sent;     /* the cancel level (assay_job_rec.cancel) the agent was sent */
    int claimed;         /* the store has the host as holding this job's package */
    double reset_deadline; /* RESET: the reset command must have ended by then */
    int need_agent, need_art; /* RUN found them missing on the host */
    char *line;          /* ATTACH: partial event line */
    size_t linelen, linecap;
    int ended;           /* job-end event stored */
    char outcome[16], reason[256];
    char agent_job[96], jobdir[4096];
    assay_artifact_rec art;
    int have_art;
    char art_name[256];
    char *spec;
    assay_jobcheck *check; /* its events against the spec (jobcheck.h) */
    long long log_left;  /* LOGS: bytes of the current log still to come, -1 in a header */
    char logpath[200];
    int nlogs;
    assay_blob_writer *bw;
    char cur[128];       /* what the host is doing, for progress */
    double started;
    int preflight_stop;  /* the run asked to stop on preflight errors, and there are some */
    int run_sent;        /* a RUN command went to the host (the job may exist there) */
    int tries;           /* RUN or LOGS ended wrong this many times in a row */
    int marked_running;  /* the store has the job running */
    int proto_failed;    /* the agent broke the protocol: the job ends in error */
    int local_failed;    /* the controller could not store (disk full): pause, keep the job */
    int gone;            /* the store no longer has the job as running here */
    char fail_why[512];  /* the message of any of these */
};

struct ctx {
    assay_lab *lab;
    const assay_dispatch_opts *o;
    struct host *hosts;
    size_t nhosts;
    double next_poll, next_draw;
    int drawn_lines;
    size_t done, total;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void say(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Plain, timestamped lines when output is not a terminal. */
static void say(struct ctx *x, const char *fmt, ...)
{
    if (x->o->tty)
        return;
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03dZ", (int)(now.tv_nsec / 1000000));
    va_list ap;
    va_start(ap, fmt);
    fprintf(x->o->out, "%s ", ts);
    vfprintf(x->o->out, fmt, ap);
    fputc('\n', x->o->out);
    va_end(ap);
    fflush(x->o->out);
}

/* The one place a job changes step. */
static void set_step(struct ctx *x, struct job *j, enum jstep s)
{
    if (j->step != s)
        say(x, "job %" PRId64 " on %s: %s -> %s", j->rec.id, j->host->rec.name, step_names[j->step], step_names[s]);
    j->step = s;
    snprintf(j->cur, sizeof j->cur, "%s", step_names[s]);
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    assay_exec_free(j->x);
    assay_exec_free(j->xc);
    if (j->upfd >= 0)
        close(j->upfd);
    assay_blob_writer_abort(j->bw);
    free(j->line);
    free(j->spec);
    assay_jobcheck_free(j->check);
    free(j);
}

/* ---- building commands --------------------------------------------------- */

static int q(char *out, size_t len, const char *s)
{
    return assay_shell_quote(out, len, s);
}

/* "<launcher> '<root>/agents/<sha>/assay-agent'" */
static void agent_cmd(char *out, size_t len, const struct host *h)
{
    char path[4200], quoted[8600];
    snprintf(path, sizeof path, "%s/agents/%s/assay-agent", h->rec.agent_root, h->agent_sha);
    q(quoted, sizeof quoted, path);
    snprintf(out, len, "%s%s%s", h->rec.launcher, h->rec.launcher[0] ? " " : "", quoted);
}

/* Upload to a content-addressed path: the bytes go to a temporary file and
 * through a SHA-256 at the same time (tee), and only a file whose digest
 * matches is renamed into place. openssl's digest uses the CPU's SHA
 * instructions (x86 SHA-NI, ARMv8 crypto) where coreutils' sha256sum does
 * not: on a 256 MiB upload that is the difference that matters. */
static void upload_cmd(char *out, size_t len, const char *final, const char *sha, int exec)
{
    char qf[8600], dir[4200], qd[8600];
    snprintf(dir, sizeof dir, "%s", final);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    q(qf, sizeof qf, final);
    q(qd, sizeof qd, dir);
    snprintf(out, len,
             "set -e; mkdir -p %s; t=%s.part.$$; trap 'rm -f \"$t\"' EXIT; "
             "if command -v openssl >/dev/null 2>&1; then h=$(tee \"$t\" | openssl dgst -sha256 -r); "
             "else h=$(tee \"$t\" | sha256sum); fi; h=${h%%%% *}; "
             "if [ \"$h\" != %s ]; then echo \"digest mismatch: got $h\" >&2; exit 3; fi; "
             "chmod %s \"$t\"; mv -f \"$t\" %s; trap - EXIT",
             qd, qf, sha, exec ? "755" : "644", qf);
}

/* Every log under logs/ of the current directory, each framed by a line
 * "<size> <path>"; a write that fails (the channel closed) ends the shell
 * with the status given as its one %d. */
#define LOGS_LOOP                                                                                    \
    "for f in logs/*; do [ -f \"$f\" ] || continue; "                                                \
    "printf '%%s %%s\\n' $(($(wc -c < \"$f\"))) \"$f\" && cat \"$f\" || exit %d; done"

/* A job in one command: link the cached artifact into the job directory,
 * start the job (the spec on stdin; idempotent), stream its events from
 * the first one the store lacks, then every log framed as in LOGS. Exits
 * RUN_MISSING + 1 (no agent), + 2 (no artifact) or + 3 before anything
 * runs when the host lacks them.
 *
 * Nothing of it may outlive the channel (docs/protocol.md, "One reader"):
 * when the controller dies or the connection drops, sshd closes the
 * channel and the shell must end with it, or shells and attaches pile up
 * on the host, one more per reconnect. attach is the only part that waits:
 * it exits as soon as its stdout's reader is gone (or a newer attach of the
 * job replaces it), and anything but "job-end written" makes the shell
 * exit at once (|| exit). The logs are sent only after a complete event
 * stream; a write that fails there (the channel closed meanwhile) ends the
 * shell too, rather than cat-ing the other logs into nothing. The start
 * phase is short and ends by itself. */
static int run_cmd(char *out, size_t len, const struct job *j)
{
    const struct host *h = j->host;
    char a[9000], path[4200], qa[8600], cache[4200], qc[8600], dst[4500], qdst[9000], qd[8600];
    agent_cmd(a, sizeof a, h);
    snprintf(path, sizeof path, "%s/agents/%s/assay-agent", h->rec.agent_root, h->agent_sha);
    snprintf(cache, sizeof cache, "%s/cache/%s", h->rec.agent_root, j->art.sha256);
    snprintf(dst, sizeof dst, "%s/%s", j->jobdir, j->art_name);
    q(qa, sizeof qa, path);
    q(qc, sizeof qc, cache);
    q(qdst, sizeof qdst, dst);
    q(qd, sizeof qd, j->jobdir);
    char start[40000] = "";
    /* The agent is run only if it is the one pushed: its digest, not its
     * presence (a vendor's root install step could have replaced it, and a
     * replaced agent could speak for the job on the next attach). A
     * mismatch is "no agent": the controller uploads it again. */
    char agent_ok[9200];
    snprintf(agent_ok, sizeof agent_ok, "h=$(sha256sum < %s 2>/dev/null) || h=; [ \"${h%%%% *}\" = %s ]", qa,
             h->agent_sha);
    /* Once an event is stored the job exists: never start it again (a job
     * directory gone by then is the host's failure, which attach reports,
     * not a job to run twice into one record). */
    if (j->rec.last_seq < 0)
        snprintf(start, sizeof start,
                 "m=0; %s || m=1; [ -e %s ] || [ -f %s ] || m=$((m + 2)); [ $m = 0 ] || exit $((%d + m)); "
                 "mkdir -p %s && { [ -e %s ] || ln %s %s 2>/dev/null || cp %s %s; } || exit %d; "
                 "%s start --job-dir %s >/dev/null || exit %d; ",
                 agent_ok, qdst, qc, RUN_MISSING, qd, qdst, qc, qdst, qc, qdst, RUN_NO_LINK, a, qd, RUN_NO_START);
    else
        snprintf(start, sizeof start, "%s || exit %d; ", agent_ok, RUN_MISSING + 1);
    int n = snprintf(out, len,
                     "%s%s attach --job-dir %s --from %" PRId64 " || exit %d; cd %s && " LOGS_LOOP,
                     start, a, qd, j->rec.last_seq + 1, RUN_NO_ATTACH, qd, RUN_NO_LOGS);
    if (n < 0 || (size_t)n >= len)
        return assay_error_set(ASSAY_EINVAL, "the command for %s is too long (agent root %zu bytes)", h->rec.name,
                               strlen(h->rec.agent_root));
    return 0;
}

/* Connecting, uploading or starting: what --max-starting limits. */
static int is_starting(const struct job *j)
{
    return j->step == J_RUN ? j->rec.last_seq < 0 : j->step != J_LOGS && j->step != J_END;
}

static int start_exec(struct ctx *x, struct job *j, const char *cmd, const void *in, size_t inlen, int infd,
                      assay_sink sink)
{
    assay_exec_opts eo = {.command = cmd, .in = in, .inlen = inlen, .infd = infd, .sink = sink, .arg = j};
    (void)x;
    return assay_exec_new(&j->x, j->host->conn, &eo);
}

static struct ctx *sink_ctx; /* the loop's context, for sinks (one loop per process) */

/* A failure of the controller's own store (a full disk, say): the job is
 * not at fault, nor is the host. */
static int local(struct job *j, int rc)
{
    if (rc == ASSAY_ESTATE) {
        j->gone = 1; /* the store no longer has the job as ours (ended, taken) */
        snprintf(j->fail_why, sizeof j->fail_why, "%s", assay_error_last()->message);
    } else if (rc < 0 && rc != ASSAY_EPROTO) {
        j->local_failed = 1;
        snprintf(j->fail_why, sizeof j->fail_why, "%s", assay_error_last()->message);
    }
    return rc;
}

/* The agent broke the protocol. */
static int proto(struct job *j, int rc)
{
    if (rc == ASSAY_EPROTO) {
        j->proto_failed = 1;
        snprintf(j->fail_why, sizeof j->fail_why, "protocol error from the agent on %s: %s", j->host->rec.name,
                 assay_error_last()->message);
    }
    return rc;
}

/* ATTACH: one event per line, checked (event.h); each is stored (one
 * transaction) before the next is read, so the store's last_seq is always
 * where to resume. */
static int event_line(struct job *j, const char *line, size_t len)
{
    struct ctx *x = sink_ctx;
    assay_event ev;
    int rc = assay_event_parse(&ev, line, len, j->agent_job, j->rec.last_seq);
    if (rc < 0)
        return proto(j, rc);
    if (!ev.json)
        return 0; /* already stored (a resumed attach) */
    cJSON *e = ev.json;
    /* The job that was sent, not just well-formed lines: checked before
     * anything is stored. */
    if ((rc = assay_jobcheck_event(j->check, line, len, e)) < 0) {
        cJSON_Delete(e);
        return proto(j, rc);
    }
    if (!j->marked_running) {
        /* The first event says the agent started the job; recorded first,
         * so a failure here stores nothing and the event comes again. */
        rc = assay_store_job_set_running(x->lab->store, j->rec.id, j->host->agent_sha);
        j->marked_running = rc == 0;
    }
    char *body = rc == 0 ? strndup(line, len) : NULL;
    if (rc == 0)
        rc = body ? assay_store_job_event(x->lab->store, j->rec.id, j->rec.attempt, ev.seq, ev.type, body)
                  : assay_error_set(ASSAY_ENOMEM, "out of memory");
    free(body);
    if (rc == ASSAY_EPROTO) /* the store has other events: the job is no longer ours alone */
        rc = assay_error_set(ASSAY_ESTATE, "job %" PRId64 ": %s", j->rec.id, assay_error_last()->message);
    if (rc == 0) {
        j->tries = 0; /* progress */
        j->rec.last_seq = ev.seq;
        const char *type = ev.type;
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(e, "step");
        if (strcmp(type, "step-start") == 0 && cJSON_IsString(step)) {
            const cJSON *run = cJSON_GetObjectItemCaseSensitive(e, "run");
            snprintf(j->cur, sizeof j->cur, "%s%s%d", step->valuestring, cJSON_IsNumber(run) ? " #" : "",
                     cJSON_IsNumber(run) ? run->valueint : 0);
        } else if (strcmp(type, "step-end") == 0 && cJSON_IsString(step)) {
            const cJSON *verdict = cJSON_GetObjectItemCaseSensitive(e, "verdict");
            say(x, "job %" PRId64 " on %s: %s %s", j->rec.id, j->host->rec.name, step->valuestring,
                cJSON_IsString(verdict) ? verdict->valuestring : "?");
        } else if (strcmp(type, "job-end") == 0) {
            const cJSON *oc = cJSON_GetObjectItemCaseSensitive(e, "outcome");
            const cJSON *rs = cJSON_GetObjectItemCaseSensitive(e, "reason");
            j->ended = 1;
            snprintf(j->outcome, sizeof j->outcome, "%s", cJSON_IsString(oc) ? oc->valuestring : "error");
            snprintf(j->reason, sizeof j->reason, "%s", cJSON_IsString(rs) ? rs->valuestring : "");
        }
    }
    cJSON_Delete(e);
    return local(j, rc);
}

/* LOGS: "<size> <path>\n" then <size> bytes, repeated. Paths from the
 * host are checked like any other untrusted input. */
static int logs_sink(void *arg, const char *d, size_t n)
{
    struct job *j = arg;
    struct ctx *x = sink_ctx;
    int rc;
    while (n) {
        if (j->log_left < 0) { /* reading a header line */
            const char *nl = memchr(d, '\n', n);
            size_t take = nl ? (size_t)(nl - d) : n;
            if (j->linelen + take > 512)
                return proto(j, assay_error_set(ASSAY_EPROTO, "log stream: header too long"));
            if (j->linelen + take + 1 > j->linecap) {
                char *nb = realloc(j->line, 1024);
                if (!nb)
                    return assay_error_set(ASSAY_ENOMEM, "out of memory");
                j->line = nb;
                j->linecap = 1024;
            }
            memcpy(j->line + j->linelen, d, take);
            j->linelen += take;
            d += take;
            n -= take;
            if (!nl)
                return 0;
            d++;
            n--;
            j->line[j->linelen] = '\0';
            j->linelen = 0;
            char *sp = strchr(j->line, ' '), *end;
            long long size = sp ? strtoll(j->line, &end, 10) : -1;
            const char *path = sp ? sp + 1 : "";
            if (!sp || end != sp || size < 0 || strncmp(path, "logs/", 5) != 0 || strlen(path) >= sizeof j->logpath ||
                strspn(path + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(path + 5))
                return proto(j, assay_error_set(ASSAY_EPROTO, "log stream: bad header '%.80s'", j->line));
            snprintf(j->logpath, sizeof j->logpath, "%s", path);
            j->log_left = size;
            if ((rc = assay_blob_writer_open(&j->bw, x->lab->blobs)) < 0)
                return local(j, rc);
        }
        size_t take = (uint64_t)j->log_left < n ? (size_t)j->log_left : n;
        if (take && (rc = assay_blob_writer_write(j->bw, d, take)) < 0)
            return local(j, rc);
        d += take;
        n -= take;
        j->log_left -= (long long)take;
        if (j->log_left == 0) {
            char hex[ASSAY_SHA256_HEX];
            uint64_t size;
            rc = assay_blob_writer_commit(j->bw, hex, &size);
            j->bw = NULL;
            if (rc < 0 || (rc = assay_store_job_log(x->lab->store, j->rec.id, j->rec.attempt, j->logpath, hex, size)) < 0)
                return local(j, rc);
            j->nlogs++;
            j->log_left = -1;
        }
    }
    return 0;
}

/* RUN: events up to job-end, then the logs, on one stream (so whatever
 * follows a job-end must be log frames). */
static int run_sink(void *arg, const char *d, size_t n)
{
    struct job *j = arg;
    size_t i = 0;
    while (i < n && !j->ended) {
        const char *nl = memchr(d + i, '\n', n - i);
        size_t take = nl ? (size_t)(nl - (d + i)) : n - i;
        if (j->linelen + take > ASSAY_EVENT_MAX)
            return proto(j, assay_error_set(ASSAY_EPROTO, "an event line over %d bytes", ASSAY_EVENT_MAX));
        if (j->linelen + take + 1 > j->linecap) {
            size_t nc = (j->linelen + take + 1) * 2;
            char *nb = realloc(j->line, nc);
            if (!nb)
                return assay_error_set(ASSAY_ENOMEM, "out of memory");
            j->line = nb;
            j->linecap = nc;
        }
        memcpy(j->line + j->linelen, d + i, take);
        j->linelen += take;
        i += take;
        if (nl) {
            int rc = event_line(j, j->line, j->linelen);
            j->linelen = 0;
            i++;
            if (rc < 0)
                return rc;
        }
    }
    return i < n ? logs_sink(j, d + i, n - i) : 0;
}

/* ---- failures ------------------------------------------------------------ */

/* Drop the connection (with it, whatever the host is still sending) and
 * the job's channels (first: they belong to the session). */
static void drop_conn(struct host *h)
{
    if (h->job) {
        struct job *j = h->job;
        assay_exec_free(j->x);
        assay_exec_free(j->xc);
        j->x = j->xc = NULL;
        if (j->upfd >= 0)
            close(j->upfd);
        j->upfd = -1;
        j->cancel_sent = 0;
        j->linelen = 0;
        assay_blob_writer_abort(j->bw);
        j->bw = NULL;
    }
    assay_conn_free(h->conn);
    h->conn = NULL;
}

/* The connection failed: drop it. The job stays with the host and starts
 * over with RUN when the host is back; past unreachable_s it is
 * failed over. */
static void host_down(struct ctx *x, struct host *h, const char *why)
{
    drop_conn(h);
    h->failed_at = now_s();
    /* Down since the first failure, until a connection succeeds: retries in
     * between do not restart the clock. */
    if (!h->down_since) {
        h->down_since = now_s();
        h->backoff = 1;
    } else if (h->backoff < 30) {
        h->backoff *= 2;
    }
    h->state = H_DOWN;
    h->retry_at = now_s() + h->backoff;
    snprintf(h->last_error, sizeof h->last_error, "%s", why);
    say(x, "host %s: down: %s (retry in %ds)", h->rec.name, why, h->backoff);
    if (h->job && h->job->step != J_CANCEL && h->job->step != J_RESET)
        set_step(x, h->job, h->job->ended ? J_LOGS : J_RUN);
}

/* The job's attempt is an infrastructure error: queue it again elsewhere (or
 * end it after max_attempts). Never a vendor's failure. */
static void job_failover(struct ctx *x, struct host *h, const char *why)
{
    struct job *j = h->job;
    if (!j)
        return;
    say(x, "job %" PRId64 " on %s: infrastructure error: %s", j->rec.id, h->rec.name, why);
    if (assay_store_job_retry(x->lab->store, j->rec.id, why, x->o->max_attempts) < 0)
        say(x, "job %" PRId64 ": store: %s", j->rec.id, assay_error_last()->message);
    job_free(j);
    h->job = NULL;
}

/* The agent broke the protocol: what it sends cannot be trusted, so the
 * job ends in error with what was wrong. The events stored so far stay
 * (each was checked). The job may still run on the host: it is canceled
 * there (CANCEL, on a new connection: the old one still carries the bad
 * stream) before the host takes another job. */
static void job_protocol_error(struct ctx *x, struct host *h)
{
    struct job *j = h->job;
    say(x, "job %" PRId64 " on %s: %s", j->rec.id, h->rec.name, j->fail_why);
    drop_conn(h);
    if (assay_store_job_end(x->lab->store, j->rec.id, "error", j->fail_why) < 0)
        say(x, "job %" PRId64 ": store: %s", j->rec.id, assay_error_last()->message);
    x->done++;
    j->proto_failed = 0;
    set_step(x, j, J_CANCEL);
    h->state = H_DOWN;
    h->retry_at = 0;
}

/* The controller could not store what arrived (its disk is full, say):
 * neither the job's nor the host's fault. Nothing is lost: the agent keeps
 * every event and log, so the job goes back to attaching from the last
 * stored event in a few seconds, until there is space again. */
static void job_pause(struct ctx *x, struct host *h)
{
    struct job *j = h->job;
    say(x, "job %" PRId64 " on %s: cannot store: %s; trying again in 5s", j->rec.id, h->rec.name, j->fail_why);
    drop_conn(h);
    j->local_failed = 0;
    set_step(x, j, j->ended ? J_LOGS : J_RUN);
    h->state = H_DOWN;
    h->retry_at = now_s() + 5;
}

/* The store no longer has the job running here (it ended or was taken
 * meanwhile, by a cancel or another dispatcher): forget it. */
static void job_drop(struct ctx *x, struct host *h)
{
    say(x, "job %" PRId64 " on %s: dropped: %s", h->job->rec.id, h->rec.name, h->job->fail_why);
    drop_conn(h);
    h->state = H_IDLE;
    job_free(h->job);
    h->job = NULL;
}

static void host_disable(struct ctx *x, struct host *h, const char *why)
{
    say(x, "host %s: disabled: %s", h->rec.name, why);
    assay_store_host_disable(x->lab->store, h->rec.name, why);
    snprintf(h->rec.disabled, sizeof h->rec.disabled, "%s", why);
    h->state = H_DISABLED;
    job_failover(x, h, why); /* frees the job's channels before the session */
    assay_conn_free(h->conn);
    h->conn = NULL;
}

/* The host's reset failed: it cannot be trusted to be clean. As with a
 * dead host, the job fails over and the host rests (it stays not clean, so
 * the next job there tries the reset again). */
static void reset_failed(struct ctx *x, struct host *h, const char *why)
{
    say(x, "host %s: reset failed: %s", h->rec.name, why);
    job_failover(x, h, why);
    host_down(x, h, why);
}

/* ---- one job's steps ----------------------------------------------------- */

/* The logs command (or RUN's logs part) ended: all of every log came (0),
 * or not (< 0: reconnect and fetch again; 1: failed over, the job is
 * gone). */
static int logs_done(struct ctx *x, struct job *j, int status, const char *err)
{
    if (status != 0 || j->log_left > 0 || j->bw) {
        char why[700];
        snprintf(why, sizeof why, "fetching logs from %s failed (%d): %s", j->host->rec.name, status, err);
        if (++j->tries >= MAX_TRIES) {
            job_failover(x, j->host, why);
            return 1; /* the job is gone */
        }
        return assay_error_set(ASSAY_EPROTO, "%s", why);
    }
    say(x, "job %" PRId64 " on %s: %d logs stored", j->rec.id, j->host->rec.name, j->nlogs);
    set_step(x, j, J_END);
    return 0;
}

/* The agent refused the job: retrying elsewhere would not help. */
static int job_not_started(struct ctx *x, struct host *h, int status, const char *err)
{
    char why[700];
    snprintf(why, sizeof why, "agent on %s did not start the job (%d): %s", h->rec.name, status, err);
    say(x, "job %" PRId64 ": %s", h->job->rec.id, why);
    assay_store_job_end(x->lab->store, h->job->rec.id, "error", why);
    job_free(h->job);
    h->job = NULL;
    return 0;
}

/* attach ended before job-end: the job directory is gone (the host was
 * reinstalled: fail over), or the stream broke (reconnect and resume). */
static int attach_ended_early(struct ctx *x, struct host *h, int status, const char *err)
{
    char why[700];
    snprintf(why, sizeof why, "attach on %s ended without job-end (%d): %s", h->rec.name, status, err);
    if (strstr(err, "no job in") || ++h->job->tries >= MAX_TRIES) {
        job_failover(x, h, why);
        return 0;
    }
    return assay_error_set(ASSAY_EPROTO, "%s", why);
}

static int prepare_job(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    assay_artifact_rec *arts = NULL;
    size_t n = 0;
    assay_package_rec p;
    char *mtext = NULL;
    assay_manifest *m = NULL;
    assay_profile *prof = NULL;
    int rc;

    snprintf(j->agent_job, sizeof j->agent_job, "%s-r%" PRId64 "-j%" PRId64 "-a%d", x->lab->id, j->rec.run_id,
             j->rec.id, j->rec.attempt);
    snprintf(j->jobdir, sizeof j->jobdir, "%s/jobs/%s", h->rec.agent_root, j->agent_job);
    if ((rc = assay_store_package_get(x->lab->store, j->rec.package_id, &p, &mtext)) < 0 ||
        (rc = assay_manifest_parse(&m, mtext, strlen(mtext))) < 0 ||
        (rc = assay_store_artifacts(x->lab->store, j->rec.package_id, &arts, &n)) < 0 ||
        (rc = assay_profile_load(&prof, x->lab->profiles, j->rec.profile)) < 0)
        goto out;
    const assay_manifest_artifact *ma =
        assay_manifest_pick(m, prof->arch, prof->loongarch_world[0] ? prof->loongarch_world : NULL);
    j->have_art = 0;
    if (ma) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(arts[i].name, ma->file) == 0) {
                j->art = arts[i];
                j->have_art = 1;
            }
        const char *base = strrchr(ma->file, '/');
        base = base ? base + 1 : ma->file;
        snprintf(j->art_name, sizeof j->art_name, "%s", base);
        if (base[0] == '.' || base[0] == '-' ||
            strspn(base, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-~") != strlen(base))
            snprintf(j->art_name, sizeof j->art_name, "artifact-%.12s", j->art.sha256);
    }
    if (!j->have_art) {
        rc = assay_error_set(ASSAY_EINVAL, "package has no artifact for %s (%s)", prof->arch, prof->id);
        goto out;
    }
    if (j->rec.stop_on_preflight) {
        /* Preflight errors against this profile: the target stops here, a
         * failure of the package, named. */
        char *pf = assay_store_package_preflight(x->lab->store, j->rec.package_id);
        cJSON *doc = pf ? cJSON_Parse(pf) : NULL, *e;
        free(pf);
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "profiles"))
        {
            const cJSON *ne = cJSON_GetObjectItem(e, "errors"), *pid = cJSON_GetObjectItem(e, "profile");
            if (cJSON_IsString(pid) && !strcmp(pid->valuestring, prof->id) && cJSON_IsNumber(ne) && ne->valueint > 0) {
                snprintf(j->reason, sizeof j->reason, "stopped before install: preflight found %d errors against %s "
                                                      "(assay package inspect %.12s --profile %s)",
                         ne->valueint, prof->id, j->rec.package_id, prof->id);
                j->preflight_stop = 1;
            }
        }
        cJSON_Delete(doc);
    }
    unsigned char key[ASSAY_EVMAC_KEY];
    char hex[2 * ASSAY_EVMAC_KEY + 1];
    if ((rc = assay_manifest_job_spec(&j->spec, m, j->agent_job, j->art_name)) < 0 ||
        (rc = assay_event_key(key, x->lab->key, j->agent_job)) < 0)
        goto out;
    for (int i = 0; i < ASSAY_EVMAC_KEY; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    {
        cJSON *spec = cJSON_Parse(j->spec);
        /* The agent stops too if its own inspection on the host finds errors. */
        if (j->rec.stop_on_preflight)
            cJSON_AddTrueToObject(spec, "stop_on_inspect_error");
        /* The job's event key: the supervisor signs every event with it
         * (docs/security.md). */
        cJSON_AddStringToObject(spec, "event_key", hex);
        /* Tests and benchmarks run as an unprivileged account. */
        cJSON_AddStringToObject(spec, "run_user", h->rec.run_user[0] ? h->rec.run_user : ASSAY_RUN_USER_DEFAULT);
        free(j->spec);
        j->spec = cJSON_PrintUnformatted(spec);
        cJSON_Delete(spec);
    }
    explicit_bzero(hex, sizeof hex);
    if (!j->spec)
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
    else
        rc = assay_jobcheck_new(&j->check, j->spec, key);
    explicit_bzero(key, sizeof key);
out:
    assay_profile_free(prof);
    assay_manifest_free(m);
    free(mtext);
    free(arts);
    return rc;
}

/* Advance a host's job as far as it goes without waiting. */
static int run_job(struct ctx *x, struct host *h)
{
    struct job *j = h->job;
    char cmd[20000], a[9000], qd[8600];
    int rc;

    for (;;) {
        /* Cancel: before any RUN nothing runs on the host; once the RUN
         * stream has the job-start, the agent is asked on a channel of its
         * own, beside the stream, which then carries the job's end. */
        if (j->rec.cancel > j->cancel_sent && j->step != J_CANCEL) {
            if (!j->run_sent && j->rec.last_seq < 0) {
                assay_store_job_end(x->lab->store, j->rec.id, "canceled", "canceled before it started");
                say(x, "job %" PRId64 ": canceled", j->rec.id);
                x->done++;
                job_free(j);
                h->job = NULL;
                return 0;
            }
            /* RUN: once the job-start is in, the job exists on the host. */
            if (j->step == J_RUN && j->x && !j->xc && j->rec.last_seq >= 0) {
                char cf[4200], qcf[8600];
                agent_cmd(a, sizeof a, h);
                q(qd, sizeof qd, j->jobdir);
                snprintf(cf, sizeof cf, "%s/%s", j->jobdir, ASSAY_JOB_CANCEL);
                q(qcf, sizeof qcf, cf);
                /* A plain cancel goes once: the agent takes a second one as
                 * "now", and this one may be a resend after a reconnect. */
                if (j->rec.cancel >= 2)
                    snprintf(cmd, sizeof cmd, "%s cancel --now --job-dir %s || true", a, qd);
                else
                    snprintf(cmd, sizeof cmd, "[ -e %s ] || %s cancel --job-dir %s || true", qcf, a, qd);
                assay_exec_opts eo = {.command = cmd, .infd = -1};
                if ((rc = assay_exec_new(&j->xc, h->conn, &eo)) < 0)
                    return rc;
                j->cancel_sent = j->rec.cancel;
                say(x, "job %" PRId64 " on %s: cancel%s sent", j->rec.id, h->rec.name,
                    j->rec.cancel >= 2 ? " --now" : " (uninstall still runs)");
            }
        }
        if (j->xc) {
            rc = assay_exec_run(j->xc);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                assay_exec_free(j->xc);
                j->xc = NULL;
            }
        }
        if (j->step == J_RESET && j->x && now_s() > j->reset_deadline) {
            char why[160];
            snprintf(why, sizeof why, "the reset of %s did not end within %.0fs", h->rec.name,
                     x->o->reset_timeout_s);
            reset_failed(x, h, why);
            return 0;
        }
        if (j->x) {
            rc = assay_exec_run(j->x);
            if (rc == ASSAY_SSH_AGAIN)
                return rc;
            if (rc < 0)
                return rc; /* connection failed */
        }
        const char *sig = NULL;
        int status = j->x ? assay_exec_status(j->x, &sig) : 0;
        int had = j->x != NULL;
        const char *err = j->x ? assay_exec_stderr(j->x) : "";
        char errbuf[512];
        snprintf(errbuf, sizeof errbuf, "%s", err);
        for (char *p = errbuf; *p; p++)
            if (*p == '\n')
                *p = ' ';
        assay_exec_free(j->x);
        j->x = NULL;

        switch (j->step) {
        case J_RUN:
            if (!had) {
                if ((rc = run_cmd(cmd, sizeof cmd, j)) < 0) {
                    char why[600];
                    snprintf(why, sizeof why, "%s", assay_error_last()->message);
                    job_failover(x, h, why);
                    return 0;
                }
                /* From the first RUN on, the host may hold the package,
                 * whatever happens to the job: recorded before it is sent. */
                if (!j->claimed && j->rec.last_seq < 0) {
                    if ((rc = assay_store_host_claim(x->lab->store, h->rec.name, j->rec.id)) < 0)
                        return local(j, rc);
                    j->claimed = 1;
                    h->rec.last_job = j->rec.id;
                    h->rec.clean = 0;
                    snprintf(h->rec.last_package, sizeof h->rec.last_package, "%s", j->rec.package_id);
                }
                j->linelen = 0;
                j->log_left = -1;
                j->nlogs = 0;
                if ((rc = start_exec(x, j, cmd, j->spec, strlen(j->spec), -1, run_sink)) < 0)
                    return rc;
                j->run_sent = 1;
                break;
            }
            if (status > RUN_MISSING && status <= RUN_MISSING + 3 && !j->ended &&
                (j->rec.last_seq < 0 || status == RUN_MISSING + 1)) {
                /* Nothing ran: upload what is missing, then RUN again. A
                 * running job's agent that is not the one pushed is pushed
                 * again before anything attaches with it. */
                j->need_agent = (status - RUN_MISSING) & 1;
                j->need_art = (status - RUN_MISSING) & 2;
                j->run_sent = 0;
                set_step(x, j, j->need_agent ? J_AGENT_UPLOAD : J_ART_UPLOAD);
                break;
            }
            if (status == RUN_NO_LINK && j->rec.last_seq < 0) {
                char why[700];
                snprintf(why, sizeof why, "cannot put the artifact into the job directory on %s: %s", h->rec.name,
                         errbuf);
                job_failover(x, h, why);
                return 0;
            }
            if (status == RUN_NO_START && !j->ended && j->rec.last_seq < 0)
                return job_not_started(x, h, status, errbuf);
            if (!j->ended)
                return attach_ended_early(x, h, status, errbuf);
            if ((rc = logs_done(x, j, status, errbuf)) != 0)
                return rc < 0 ? rc : 0;
            break;
        case J_AGENT_UPLOAD:
            if (!had) {
                char final[4200];
                snprintf(final, sizeof final, "%s/agents/%s/assay-agent", h->rec.agent_root, h->agent_sha);
                upload_cmd(cmd, sizeof cmd, final, h->agent_sha, 1);
                int fd = open(h->agent, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                    return assay_error_set_errno(ASSAY_EIO, errno, "%s", h->agent);
                rc = start_exec(x, j, cmd, NULL, 0, fd, NULL);
                if (rc < 0) {
                    close(fd);
                    return rc;
                }
                j->upfd = fd; /* read to its end by the exec, closed after */
                break;
            }
            close(j->upfd);
            j->upfd = -1;
            if (status != 0) {
                char why[700];
                snprintf(why, sizeof why, "uploading the agent to %s failed (%d): %s", h->rec.name, status, errbuf);
                job_failover(x, h, why);
                return 0;
            }
            say(x, "host %s: agent %.12s installed", h->rec.name, h->agent_sha);
            set_step(x, j, j->need_art ? J_ART_UPLOAD : J_RUN);
            break;
        case J_ART_UPLOAD:
            if (!had) {
                char final[4200], blob[4096];
                snprintf(final, sizeof final, "%s/cache/%s", h->rec.agent_root, j->art.sha256);
                upload_cmd(cmd, sizeof cmd, final, j->art.sha256, 0);
                if ((rc = assay_blob_path(blob, sizeof blob, x->lab->blobs, j->art.sha256)) < 0)
                    return rc;
                int fd = open(blob, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                    return assay_error_set_errno(ASSAY_EIO, errno, "%s", blob);
                if ((rc = start_exec(x, j, cmd, NULL, 0, fd, NULL)) < 0) {
                    close(fd);
                    return rc;
                }
                j->upfd = fd;
                snprintf(j->cur, sizeof j->cur, "upload %s", j->art_name);
                break;
            }
            close(j->upfd);
            j->upfd = -1;
            if (status != 0) {
                char why[700];
                snprintf(why, sizeof why, "uploading %s to %s failed (%d): %s", j->art_name, h->rec.name, status, errbuf);
                job_failover(x, h, why);
                return 0;
            }
            set_step(x, j, J_RUN);
            break;
        case J_LOGS:
            /* Every log of the job in one command, each framed by a line
             * "<size> <path>", into the blob store as it streams. */
            if (!had) {
                q(qd, sizeof qd, j->jobdir);
                snprintf(cmd, sizeof cmd, "cd %s && " LOGS_LOOP, qd, RUN_NO_LOGS);
                j->linelen = 0;
                j->log_left = -1;
                j->nlogs = 0;
                if ((rc = start_exec(x, j, cmd, NULL, 0, -1, logs_sink)) < 0)
                    return rc;
                snprintf(j->cur, sizeof j->cur, "logs");
                break;
            }
            if ((rc = logs_done(x, j, status, errbuf)) != 0)
                return rc < 0 ? rc : 0;
            break;
        case J_RESET:
            if (!had) {
                /* The host's own command, as its login user, with the agent
                 * root and the host's name in its environment. */
                char qr[8600], qn[200];
                if (++j->tries > MAX_TRIES) {
                    reset_failed(x, h, "the connection dropped during every reset");
                    return 0;
                }
                q(qr, sizeof qr, h->rec.agent_root);
                q(qn, sizeof qn, h->rec.name);
                int n = snprintf(cmd, sizeof cmd, "ASSAY_AGENT_ROOT=%s ASSAY_HOST=%s; export ASSAY_AGENT_ROOT ASSAY_HOST; %s",
                                 qr, qn, h->rec.reset);
                if (n < 0 || (size_t)n >= sizeof cmd) {
                    reset_failed(x, h, "the reset command is too long");
                    return 0;
                }
                if ((rc = start_exec(x, j, cmd, NULL, 0, -1, NULL)) < 0)
                    return rc;
                j->reset_deadline = now_s() + x->o->reset_timeout_s;
                snprintf(j->cur, sizeof j->cur, "reset");
                break;
            }
            if (status != 0) {
                char why[700], how[64];
                if (status < 0 && sig)
                    snprintf(how, sizeof how, "killed by %s", sig);
                else
                    snprintf(how, sizeof how, "exit status %d", status);
                snprintf(why, sizeof why, "the reset of %s failed (%s): %s", h->rec.name, how, errbuf);
                reset_failed(x, h, why);
                return 0;
            }
            if ((rc = assay_store_host_was_reset(x->lab->store, h->rec.name, j->rec.id)) < 0)
                return local(j, rc);
            h->rec.last_job = -1;
            h->rec.clean = 1;
            h->rec.last_package[0] = '\0';
            j->rec.host_reset = 1;
            j->tries = 0;
            say(x, "host %s: reset", h->rec.name);
            set_step(x, j, J_RUN);
            break;
        case J_CANCEL:
            if (!had) {
                /* After a protocol error: the agent's word is worth nothing,
                 * so no uninstall either; the host is not clean (the job
                 * ended in error) and is reset before its next job. */
                agent_cmd(a, sizeof a, h);
                q(qd, sizeof qd, j->jobdir);
                snprintf(cmd, sizeof cmd, "%s cancel --now --job-dir %s >/dev/null 2>&1; true", a, qd);
                if ((rc = start_exec(x, j, cmd, NULL, 0, -1, NULL)) < 0)
                    return rc;
                break;
            }
            say(x, "job %" PRId64 " on %s: stopped on the host", j->rec.id, h->rec.name);
            job_free(j);
            h->job = NULL;
            return 0;
        case J_END:
            if ((rc = assay_store_job_end(x->lab->store, j->rec.id, j->outcome, j->reason)) < 0)
                return local(j, rc);
            say(x, "job %" PRId64 " on %s: %s%s%s", j->rec.id, h->rec.name, j->outcome, j->reason[0] ? ": " : "",
                j->reason);
            x->done++;
            job_free(j);
            h->job = NULL;
            return 0;
        }
    }
}

static void drive_host(struct ctx *x, struct host *h)
{
    if (h->state == H_DISABLED || (h->state == H_DOWN && now_s() < h->retry_at))
        return;
    if (!h->job && h->state != H_CONNECTING)
        return; /* connections are made for work */
    if (!h->conn) {
        assay_conn_opts co = {.address = h->rec.address, .port = h->rec.port, .user = h->rec.user,
                              .identity = h->rec.identity, .hostkey = h->rec.hostkey, .tofu = h->rec.tofu,
                              .keepalive_s = x->o->silence_s >= 8 ? (int)(x->o->silence_s / 4) : 2};
        if (assay_conn_new(&h->conn, &co) < 0)
            return;
        h->state = H_CONNECTING;
    }
    if (h->state == H_CONNECTING || h->state == H_DOWN) {
        int rc = assay_conn_open(h->conn);
        if (rc == ASSAY_SSH_AGAIN) {
            h->state = H_CONNECTING;
            return;
        }
        if (rc == ASSAY_EHOSTKEY || rc == ASSAY_EAUTH) {
            host_disable(x, h, assay_error_last()->message);
            return;
        }
        if (rc < 0) {
            host_down(x, h, assay_error_last()->message);
            return;
        }
        if (!h->rec.hostkey[0]) {
            /* Trust on first use, as asked for when the host was added:
             * recorded, and said, never silent. */
            snprintf(h->rec.hostkey, sizeof h->rec.hostkey, "%s", assay_conn_hostkey(h->conn));
            assay_store_host_set_key(x->lab->store, h->rec.name, h->rec.hostkey);
            fprintf(x->o->out, "assay: host %s: trusted on first use: host key %s is now pinned\n", h->rec.name,
                    h->rec.hostkey);
        }
        if (h->down_since)
            say(x, "host %s: back", h->rec.name);
        h->state = H_READY;
        h->down_since = 0;
        h->backoff = 0;
    }
    if (h->job) {
        int rc = run_job(x, h);
        if (rc < 0 && rc != ASSAY_SSH_AGAIN && h->state == H_READY) {
            if (h->job && h->job->gone)
                job_drop(x, h);
            else if (h->job && h->job->proto_failed)
                job_protocol_error(x, h);
            else if (h->job && h->job->local_failed)
                job_pause(x, h);
            else
                host_down(x, h, assay_error_last()->message);
        }
    }
}

/* ---- the queue ----------------------------------------------------------- */

static struct host *find_host(struct ctx *x, const char *name)
{
    for (size_t i = 0; i < x->nhosts; i++)
        if (strcmp(x->hosts[i].rec.name, name) == 0)
            return &x->hosts[i];
    return NULL;
}

static int load_hosts(struct ctx *x)
{
    assay_host_rec *recs;
    size_t n;
    int rc = assay_store_hosts(x->lab->store, &recs, &n);
    if (rc < 0)
        return rc;
    /* New hosts are appended; known ones keep their state. */
    for (size_t i = 0; i < n; i++) {
        if (find_host(x, recs[i].name))
            continue;
        struct host *nh = realloc(x->hosts, (x->nhosts + 1) * sizeof *nh);
        if (!nh) {
            free(recs);
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        }
        x->hosts = nh;
        for (size_t k = 0; k < x->nhosts; k++) /* jobs point back at hosts */
            if (x->hosts[k].job)
                x->hosts[k].job->host = &x->hosts[k];
        struct host *h = &x->hosts[x->nhosts++];
        memset(h, 0, sizeof *h);
        h->rec = recs[i];
        h->state = recs[i].disabled[0] ? H_DISABLED : H_IDLE;
        assay_profile *p;
        if (assay_profile_load(&p, x->lab->profiles, h->rec.profile) == 0) {
            snprintf(h->arch, sizeof h->arch, "%s", p->arch);
            assay_profile_free(p);
            if (assay_lab_agent(h->agent, sizeof h->agent, h->agent_sha, h->arch) < 0)
                snprintf(h->agent_err, sizeof h->agent_err, "%s", assay_error_last()->message);
        } else {
            snprintf(h->agent_err, sizeof h->agent_err, "%s", assay_error_last()->message);
        }
    }
    free(recs);
    return 0;
}

/* Before the job goes to its host: does the host need its reset first?
 * It does when the job that last went there was of another package, or
 * left the host not clean. A host nothing has gone to since it was added or
 * reset needs none: whoever adds a host vouches for its state, as for a
 * machine just provisioned. The host's state is read from the store, not
 * from this dispatcher's copy: an earlier dispatcher may have changed it. */
static int decide_reset(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    assay_host_rec now;
    if (j->rec.last_seq >= 0)
        return 0; /* running there already */
    int rc = assay_store_host_get(x->lab->store, h->rec.name, &now);
    if (rc < 0)
        return rc;
    snprintf(h->rec.reset, sizeof h->rec.reset, "%s", now.reset);
    h->rec.last_job = now.last_job;
    h->rec.clean = now.clean;
    snprintf(h->rec.last_package, sizeof h->rec.last_package, "%s", now.last_package);
    if (now.last_job == j->rec.id) {
        j->claimed = 1; /* an earlier dispatcher sent it there: no reset under it */
        return 0;
    }
    int other = now.last_job > 0 && strcmp(now.last_package, j->rec.package_id) != 0;
    if (now.last_job <= 0 || (!other && now.clean))
        return 0;
    char why[200];
    snprintf(why, sizeof why, "its last job (%" PRId64 ") %s", now.last_job,
             other ? "was of another package" : "did not leave it clean");
    if (!now.reset[0]) {
        say(x, "job %" PRId64 " on %s: the host needs a reset (%s) but has none: the job runs on it as it is",
            j->rec.id, h->rec.name, why);
        j->rec.host_reset = 0;
        return assay_store_job_set_host_reset(x->lab->store, j->rec.id, 0);
    }
    say(x, "job %" PRId64 " on %s: the host is reset first: %s", j->rec.id, h->rec.name, why);
    set_step(x, j, J_RESET);
    return 0;
}

/* A job for host h: a queued one just assigned, or (resumed) one the store
 * has as assigned or running from an earlier dispatcher. */
/* A resumed job's checker learns the events stored before (they passed
 * it then; a store edited since would not). */
static int replay_events(struct ctx *x, struct job *j)
{
    cJSON *evs = NULL, *e;
    int rc = assay_store_job_events(x->lab->store, j->rec.id, j->rec.attempt, 0, &evs);
    cJSON_ArrayForEach(e, evs)
    {
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(e, "body");
        cJSON *b = cJSON_IsString(body) ? cJSON_Parse(body->valuestring) : NULL;
        rc = b ? assay_jobcheck_event(j->check, body->valuestring, strlen(body->valuestring), b)
               : assay_error_set(ASSAY_EPROTO, "a stored event is not JSON");
        cJSON_Delete(b);
        if (rc < 0)
            break;
    }
    cJSON_Delete(evs);
    return rc;
}

static struct job *new_job(struct ctx *x, struct host *h, const assay_job_rec *rec, int resumed)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->rec = *rec;
    j->host = h;
    j->upfd = -1;
    j->started = now_s();
    if (prepare_job(x, j) < 0 || (rec->last_seq >= 0 && replay_events(x, j) < 0)) {
        char why[600];
        snprintf(why, sizeof why, "%s", assay_error_last()->message);
        say(x, "job %" PRId64 ": cannot run: %s", rec->id, why);
        assay_store_job_end(x->lab->store, rec->id, "error", why);
        job_free(j);
        return NULL;
    }
    if (j->preflight_stop) {
        say(x, "job %" PRId64 ": %s", rec->id, j->reason);
        assay_store_job_end(x->lab->store, rec->id, "failed", j->reason);
        x->done++;
        job_free(j);
        return NULL;
    }
    j->step = J_RUN;
    if (decide_reset(x, j) < 0) {
        say(x, "job %" PRId64 ": store: %s", rec->id, assay_error_last()->message);
        job_free(j);
        return NULL; /* still assigned: the next poll resumes it */
    }
    j->marked_running = strcmp(j->rec.state, "running") == 0;
    /* It may be running there: a cancel must reach the agent. Not when it
     * waits for a reset: the RUN that starts it comes after. */
    j->run_sent = resumed && j->step != J_RESET;
    if (h->conn)
        assay_conn_touch(h->conn); /* idle until now: silence so far is not the host's */
    snprintf(j->cur, sizeof j->cur, "%s", step_names[j->step]);
    h->job = j;
    /* Resumed after its job-end was stored (the controller died while
     * fetching logs): an attach would have nothing left to send. */
    cJSON *last = NULL;
    if (j->rec.last_seq >= 0 &&
        assay_store_job_events(x->lab->store, j->rec.id, j->rec.attempt, j->rec.last_seq, &last) == 0) {
        const cJSON *e = cJSON_GetArrayItem(last, 0);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(e, "body");
        cJSON *b = cJSON_IsString(type) && strcmp(type->valuestring, "job-end") == 0 && cJSON_IsString(body)
                       ? cJSON_Parse(body->valuestring)
                       : NULL;
        if (b) {
            const cJSON *oc = cJSON_GetObjectItemCaseSensitive(b, "outcome");
            const cJSON *rs = cJSON_GetObjectItemCaseSensitive(b, "reason");
            j->ended = 1;
            snprintf(j->outcome, sizeof j->outcome, "%s", cJSON_IsString(oc) ? oc->valuestring : "error");
            snprintf(j->reason, sizeof j->reason, "%s", cJSON_IsString(rs) ? rs->valuestring : "");
            set_step(x, j, J_LOGS);
            cJSON_Delete(b);
        }
    }
    cJSON_Delete(last);
    assay_error_clear();
    return j;
}

/* Look at the store: cancel requests, jobs to resume, queued jobs for idle
 * hosts. Returns how much work is left (active + assignable queued). */
static int poll_store(struct ctx *x, size_t *work)
{
    assay_job_rec *v;
    size_t n;
    int rc;
    *work = 0;
    if ((rc = load_hosts(x)) < 0)
        return rc;
    /* Active jobs: resume ours after a restart, and see cancel requests. */
    if ((rc = assay_store_jobs_active(x->lab->store, &v, &n)) < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct host *h = find_host(x, v[i].host);
        if (!h) {
            assay_store_job_retry(x->lab->store, v[i].id, "its host was removed", x->o->max_attempts);
            continue;
        }
        if (h->job && h->job->rec.id == v[i].id) {
            h->job->rec.cancel = v[i].cancel;
        } else if (!h->job) {
            if (h->state == H_DISABLED) {
                assay_store_job_retry(x->lab->store, v[i].id, h->rec.disabled, x->o->max_attempts);
                continue;
            }
            say(x, "job %" PRId64 " on %s: resuming from event %" PRId64, v[i].id, h->rec.name, v[i].last_seq + 1);
            new_job(x, h, &v[i], 1);
        }
        (*work)++;
    }
    free(v);
    for (size_t k = 0; k < x->nhosts; k++) /* ended here, still to stop on the host */
        *work += x->hosts[k].job && x->hosts[k].job->step == J_CANCEL;
    /* Queued jobs, best first, to idle hosts of their profile. */
    if ((rc = assay_store_jobs_queued(x->lab->store, &v, &n)) < 0)
        return rc;
    size_t running = 0, starting = 0;
    for (size_t k = 0; k < x->nhosts; k++) {
        running += x->hosts[k].job != NULL;
        starting += x->hosts[k].job && is_starting(x->hosts[k].job);
    }
    for (size_t i = 0; i < n; i++) {
        int eligible = 0, any_up = 0;
        struct host *pick = NULL, *down = NULL, *rested = NULL;
        for (size_t k = 0; k < x->nhosts; k++) {
            struct host *h = &x->hosts[k];
            if (strcmp(h->rec.profile, v[i].profile) || h->state == H_DISABLED || h->agent_err[0])
                continue;
            eligible = 1;
            any_up |= h->state != H_DOWN;
            if (h->job)
                continue;
            if (h->state != H_DOWN && !pick)
                pick = h;
            else if (h->state == H_DOWN && now_s() >= h->retry_at && !down)
                down = h;
            if (h->state == H_DOWN && now_s() >= h->retry_at && now_s() - h->failed_at > x->o->unreachable_s && !rested)
                rested = h;
        }
        /* A host that was down is tried again when every host of the
         * profile is down, or once it has rested for the unreachable
         * timeout: a job failed over from it waits for a host that answers,
         * busy or not, rather than go straight back. */
        if (!pick)
            pick = any_up ? rested : down;
        if (eligible)
            (*work)++;
        else if (x->o->once)
            say(x, "job %" PRId64 ": no usable host has profile %s; it stays queued", v[i].id, v[i].profile);
        if (!pick || (x->o->max_parallel && running >= (size_t)x->o->max_parallel) ||
            starting >= (size_t)x->o->max_starting)
            continue;
        if (assay_store_job_assign(x->lab->store, v[i].id, pick->rec.name) < 0) {
            assay_error_clear();
            continue; /* taken meanwhile (canceled, another dispatcher) */
        }
        if (pick->state == H_DOWN)
            pick->down_since = 0; /* a new job, a whole unreachable window */
        v[i].attempt = v[i].attempt ? v[i].attempt : 1;
        snprintf(v[i].host, sizeof v[i].host, "%s", pick->rec.name);
        snprintf(v[i].state, sizeof v[i].state, "assigned");
        say(x, "job %" PRId64 " (run %" PRId64 ", %s, attempt %d) -> %s", v[i].id, v[i].run_id, v[i].profile,
            v[i].attempt, pick->rec.name);
        if (new_job(x, pick, &v[i], 0)) {
            running++;
            starting++;
        }
    }
    free(v);
    return 0;
}

/* ---- progress ------------------------------------------------------------ */

static void draw(struct ctx *x)
{
    if (!x->o->tty)
        return;
    FILE *f = x->o->out;
    for (int i = 0; i < x->drawn_lines; i++)
        fputs("\033[1A\033[2K", f);
    int lines = 0;
    size_t active = 0;
    double t = now_s();
    for (size_t k = 0; k < x->nhosts; k++) {
        struct host *h = &x->hosts[k];
        if (!h->job && h->state != H_DOWN && h->state != H_DISABLED)
            continue;
        if (h->job) {
            active++;
            fprintf(f, "  job %-5" PRId64 " %-14s %-28.28s %5.0fs%s\n", h->job->rec.id, h->rec.name, h->job->cur,
                    t - h->job->started, h->state == H_DOWN ? "  (host down, retrying)" : "");
        } else {
            fprintf(f, "  %-20s %s\n", h->rec.name, h->state == H_DOWN ? "down" : "disabled");
        }
        lines++;
    }
    size_t total = x->done + active;
    int width = 30, fill = total ? (int)(width * x->done / total) : 0;
    fprintf(f, "  [%.*s%*s] %zu done, %zu running\n", fill, "##############################", width - fill, "",
            x->done, active);
    x->drawn_lines = lines + 1;
    fflush(f);
}

/* ---- the loop ------------------------------------------------------------ */

int assay_dispatch(assay_lab *lab, const assay_dispatch_opts *opts)
{
    assay_dispatch_opts o = *opts;
    if (o.unreachable_s <= 0)
        o.unreachable_s = 120;
    if (o.max_attempts <= 0)
        o.max_attempts = 3;
    if (o.max_starting <= 0)
        o.max_starting = 16;
    if (o.silence_s <= 0)
        o.silence_s = 60;
    if (o.reset_timeout_s <= 0)
        o.reset_timeout_s = 1800;
    struct ctx x = {.lab = lab, .o = &o};
    struct pollfd *pfd = NULL;
    int rc = 0;
    sink_ctx = &x;

    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (;;) {
        double t = now_s();
        if (stop_requested) {
            say(&x, "stopping: jobs keep running on their hosts; the next dispatch re-attaches");
            break;
        }
        if (t >= x.next_poll) {
            size_t work;
            if ((rc = poll_store(&x, &work)) < 0)
                break;
            x.next_poll = t + 0.5;
            if (o.once && work == 0)
                break;
        }
        for (size_t k = 0; k < x.nhosts; k++) {
            struct host *h = &x.hosts[k];
            drive_host(&x, h);
            /* A connection that has gone silent (the host hung, the network
             * lost without a reset) is dead, however long TCP would wait. */
            if (h->conn && (h->state == H_CONNECTING || (h->state == H_READY && h->job)) &&
                assay_conn_silent_s(h->conn) > o.silence_s) {
                char why[160];
                snprintf(why, sizeof why, "no answer for %.0fs (host hung or network lost)",
                         assay_conn_silent_s(h->conn));
                host_down(&x, h, why);
            }
            /* A connection without work for 10 s is closed: nothing reads
             * it or keeps it alive, and the host's sshd may drop it. */
            if (!h->job && h->conn && h->state == H_READY) {
                if (!h->idle_since) {
                    h->idle_since = now_s();
                } else if (now_s() - h->idle_since > 10) {
                    assay_conn_free(h->conn);
                    h->conn = NULL;
                    h->state = H_IDLE;
                    h->idle_since = 0;
                }
            } else {
                h->idle_since = 0;
            }
            /* A new connection every half hour of attaching (see
             * assay_conn_age_s); the attach resumes where it was. */
            if (h->job && h->job->step == J_RUN && !h->job->ended && !h->job->xc &&
                h->state == H_READY &&
                assay_conn_age_s(h->conn) > 1800) {
                say(&x, "host %s: a fresh connection (the old one is 30 minutes old)", h->rec.name);
                drop_conn(h);
                h->state = H_DOWN;
                h->retry_at = 0;
            }
            /* A host down past the limit fails its job over. */
            if (h->job && h->state == H_DOWN && h->down_since && now_s() - h->down_since > o.unreachable_s) {
                if (h->job->step == J_CANCEL) {
                    job_free(h->job); /* ended in the store already; the host is gone */
                    h->job = NULL;
                } else {
                    char why[700];
                    snprintf(why, sizeof why, "host %s unreachable for %.0fs: %s", h->rec.name,
                             now_s() - h->down_since, h->last_error);
                    job_failover(&x, h, why);
                }
            }
        }
        if (t >= x.next_draw) {
            draw(&x);
            x.next_draw = t + 0.25;
        }
        /* Wait for any connection, the next store poll, or a retry. */
        struct pollfd *np = realloc(pfd, (x.nhosts + 1) * sizeof *pfd);
        if (!np) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            break;
        }
        pfd = np;
        nfds_t nf = 0;
        double wake = x.next_poll;
        for (size_t k = 0; k < x.nhosts; k++) {
            struct host *h = &x.hosts[k];
            if (h->conn && (h->state == H_CONNECTING || (h->state == H_READY && h->job))) {
                int next;
                if (assay_conn_keepalive(h->conn, &next) < 0) {
                    host_down(&x, h, assay_error_last()->message);
                    continue;
                }
                assay_conn_pollfd(h->conn, &pfd[nf]);
                if (pfd[nf].fd >= 0)
                    nf++;
            }
            if (h->state == H_DOWN && h->job && h->retry_at < wake)
                wake = h->retry_at;
        }
        int ms = (int)((wake - now_s()) * 1000);
        if (ms < 0)
            ms = 0;
        if (ms > 250)
            ms = 250;
        poll(pfd, nf, ms);
    }
    draw(&x);
    for (size_t k = 0; k < x.nhosts; k++) {
        job_free(x.hosts[k].job);
        assay_conn_free(x.hosts[k].conn);
    }
    free(x.hosts);
    free(pfd);
    sink_ctx = NULL;
    return rc;
}
