/*
 * One job's state machine (dispatch_int.h names the states). A job first
 * tries the warm path, one command that starts the job, streams its events
 * and then its logs:
 *
 *   STARTING -> STREAMING -> FETCHING_LOGS -> ENDING -> DONE
 *
 * all on the one RUN command. When the host lacks our agent or the
 * artifact, RUN says which and exits before anything runs; they are
 * uploaded and RUN goes again:
 *
 *   STARTING -> UPLOADING -> STREAMING ...
 *
 * UPLOADING is one command too: what is missing goes up on its stdin, each
 * file checked by its digest on the host, then the spec, and RUN goes on
 * there. A cold host costs two commands, a warm one one.
 *
 * A job found running by a restarted dispatcher starts at ATTACHING (RUN
 * without the start), or at FETCHING_LOGS when its job-end is stored. A job
 * whose host's last job was of another package, or left it not clean,
 * starts at RESETTING. When the connection drops, the job goes to WAITING
 * and back, when the host is, to where it can resume: START is idempotent on
 * the agent's side and attach resumes from the last stored event, so the
 * same commands simply run again. A job whose agent broke the protocol ends
 * in error and goes to STOPPING, which stops it on the host.
 *
 * Each state has one handler, called with the result of the state's
 * command when it ended (or NULL to start it). Failures travel as ASSAY_E*
 * codes; dispatch.c decides what each means for the host (EHOST: the host
 * is down; EPROTO: the agent broke the protocol; ESTATE: the job is no
 * longer ours; anything else: the controller's own failure).
 */
#include "dispatch_int.h"
#include "event.h"
#include "assay/error.h"
#include "assay/proto.h"
#include "assay/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AS_NAME(e, name) name,
static const char *const job_state_names[] = {JOB_STATES(AS_NAME)};

const char *job_state_name(enum jstate s)
{
    return (unsigned)s < JS_COUNT ? job_state_names[s] : "?";
}

/* The one place a job changes state: logged with why. */
void job_state(struct ctx *x, struct job *j, enum jstate s, const char *why)
{
    if (j->state != s)
        say(x, "job %" PRId64 " on %s: %s -> %s%s%s", j->rec.id, j->host->rec.name, job_state_names[j->state],
            job_state_names[s], why && why[0] ? ": " : "", why ? why : "");
    /* A job that ended frees its host: the store is read at once, not at
     * the next half-second poll (a queued job takes the host; --once ends
     * with its last job, not up to 0.5 s later). */
    if (s == JS_DONE && j->state != s)
        x->next_poll = 0;
    j->state = s;
    snprintf(j->cur, sizeof j->cur, "%s", job_state_names[s]);
}

int job_is_starting(const struct job *j)
{
    switch (j->state) {
    case JS_RESETTING:
    case JS_UPLOADING:
    case JS_STOPPING:
    case JS_STARTING:
        return 1;
    case JS_WAITING:
        return j->rec.last_seq < 0;
    default:
        return 0;
    }
}

static void batch_clear(struct job *j)
{
    for (size_t i = 0; i < j->nbatch; i++)
        free(j->batch[i].body);
    j->nbatch = 0;
    j->batch_bytes = 0;
}

static void upfds_close(struct job *j)
{
    for (size_t k = 0; k < ASSAY_MANIFEST_SET_MAX; k++) {
        if (j->upfds[k] >= 0)
            close(j->upfds[k]);
        j->upfds[k] = -1;
    }
    j->nupfds = 0;
}

/* The job as remote.c takes it: one file, or a set; `sha` and `names`
 * hold the set's pointers. */
static assay_remote_job remote_job(const struct job *j, const char **sha, const char **names)
{
    for (size_t k = 0; k < j->nset; k++) {
        sha[k] = j->set[k].sha256;
        names[k] = j->set_names[k];
    }
    return (assay_remote_job){j->jobdir, j->art.sha256, j->art_name, j->rec.last_seq + 1, sha, names, j->nset};
}

/* All the artifact's files are needed (one file, or a set whose RUN did
 * not say which of its files are missing). */
static void need_all(struct job *j)
{
    for (size_t k = 0; k < ASSAY_MANIFEST_SET_MAX; k++)
        j->need_file[k] = k < j->nset;
}

static uint64_t set_size(const struct job *j)
{
    uint64_t n = 0;
    for (size_t k = 0; k < j->nset; k++)
        n += j->set[k].size;
    return n;
}

static void cmd_free(struct ctx *x, struct job *j)
{
    if (j->x)
        x->t->exec_free(j->x);
    if (j->xc)
        x->t->exec_free(j->xc);
    j->x = j->xc = NULL;
    if (j->upfd >= 0)
        close(j->upfd);
    j->upfd = -1;
    upfds_close(j);
    assay_blob_writer_abort(j->bw);
    j->bw = NULL;
}

void job_free(struct ctx *x, struct job *j)
{
    if (!j)
        return;
    cmd_free(x, j);
    batch_clear(j);
    free(j->batch);
    free(j->logrows);
    assay_remote_stream_free(&j->stream);
    free(j->spec);
    assay_jobcheck_free(j->check);
    explicit_bzero(j->key, sizeof j->key);
    free(j);
}

/* The checker learns the events stored so far (they passed it then; a
 * store edited since would not). */
int job_replay(struct ctx *x, struct job *j)
{
    cJSON *evs = NULL, *e;
    assay_jobcheck_free(j->check);
    j->check = NULL;
    int rc = assay_jobcheck_new(&j->check, j->spec, j->key);
    if (rc < 0 || j->rec.last_seq < 0) {
        j->checked_seq = j->rec.last_seq;
        return rc;
    }
    rc = assay_store_job_events(x->lab->store, j->rec.id, j->rec.attempt, 0, &evs);
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
    j->checked_seq = j->rec.last_seq;
    return rc;
}

/* The connection is gone (down, dropped, paused): whatever was in flight
 * with it is dropped too. Events checked but not stored come again on the
 * next attach, so the checker goes back to what the store holds. */
void job_lost_link(struct ctx *x, struct job *j)
{
    cmd_free(x, j);
    j->cancel_sent = 0;
    j->sink_rc = 0;
    if (j->nbatch || j->checked_seq != j->rec.last_seq) {
        batch_clear(j);
        j->end_seen = j->ended;
        if (job_replay(x, j) < 0)
            say(x, "job %" PRId64 ": %s", j->rec.id, assay_error_last()->message);
    }
}

/* ---- the store --------------------------------------------------------- */

/* The events checked so far, in one transaction. A store busy with another
 * writer keeps them for the next call (the loop never waits on it for
 * long); ASSAY_ESTATE when the store no longer has the job as ours. */
int job_flush(struct ctx *x, struct job *j)
{
    int rc = 0;
    if (!j->nbatch)
        return 0;
    if (!j->marked_running) {
        /* The first event says the agent started the job; recorded first. */
        if ((rc = assay_store_job_set_running(x->lab->store, j->rec.id, j->host->agent_sha)) < 0)
            goto out;
        j->marked_running = 1;
    }
    assay_event_row stack[64], *rows = j->nbatch <= 64 ? stack : malloc(j->nbatch * sizeof *rows);
    if (!rows)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    for (size_t i = 0; i < j->nbatch; i++)
        rows[i] = (assay_event_row){j->batch[i].seq, j->batch[i].type, j->batch[i].body, j->batch[i].len,
                                    j->batch[i].received_ms};
    rc = assay_store_job_events_put(x->lab->store, j->rec.id, j->rec.attempt, rows, j->nbatch);
    if (rows != stack)
        free(rows);
    if (rc == 0) {
        j->rec.last_seq = j->batch[j->nbatch - 1].seq;
        j->tries = 0; /* progress */
        j->ended = j->end_seen;
        batch_clear(j);
    }
out:
    if (rc == ASSAY_ETIMEOUT && j->batch_bytes < ((size_t)1 << 20)) {
        assay_error_clear();
        return 0; /* busy: the next call */
    }
    if (rc == ASSAY_EPROTO) /* the store has other events: the job is no longer ours alone */
        rc = assay_error_set(ASSAY_ESTATE, "job %" PRId64 ": %s", j->rec.id, assay_error_last()->message);
    return rc;
}

/* ---- the RUN and LOGS answers (remote.h's stream) ------------------------ */

static struct ctx *sink_ctx; /* the loop's context, for the stream callbacks */

/* Is `name` an item of the ", "-separated `list` (not a part of one:
 * "test" is not in "test-long")? */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p++)
        if ((p == list || (p - list >= 2 && p[-2] == ',' && p[-1] == ' ')) && (p[n] == '\0' || p[n] == ','))
            return 1;
    return 0;
}

/* For the live view: which of the spec's steps runs now, and its timeout,
 * from the spec the checker holds (parsed once, when the job began). */
static void step_progress(struct job *j, const char *id)
{
    const assay_spec *sp = j->check ? assay_jobcheck_spec(j->check) : NULL;
    if (!sp)
        return;
    j->nsteps = (int)sp->nsteps;
    for (size_t k = 0; k < sp->nsteps; k++) {
        if (strcmp(sp->steps[k].id, id))
            continue;
        if (j->stepk != (int)k + 1)
            j->step_started = now_s();
        j->stepk = (int)k + 1;
        j->step_timeout = sp->steps[k].timeout_s;
        break;
    }
}

/* The controller's clock, ms since the epoch: when an event was read. */
static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_event(void *arg, const char *line, size_t len)
{
    struct job *j = arg;
    struct ctx *x = sink_ctx;
    assay_event ev;
    int rc = assay_event_parse(&ev, line, len, j->agent_job, j->checked_seq);
    if (rc < 0)
        return rc;
    if (!ev.json)
        return 0; /* already stored (a resumed attach) */
    cJSON *e = ev.json;
    /* The job that was sent, not just well-formed lines: checked before
     * anything is stored. */
    if ((rc = assay_jobcheck_event(j->check, line, len, e)) < 0)
        goto out;
    if (j->nbatch == j->capbatch) {
        size_t nc = j->capbatch ? 2 * j->capbatch : 16;
        struct pending *nb = realloc(j->batch, nc * sizeof *nb);
        if (!nb) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        j->batch = nb;
        j->capbatch = nc;
    }
    struct pending *p = &j->batch[j->nbatch];
    if (!(p->body = malloc(len + 1))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(p->body, line, len);
    p->body[len] = '\0';
    p->len = len;
    p->seq = ev.seq;
    p->received_ms = now_ms();
    snprintf(p->type, sizeof p->type, "%s", ev.type);
    j->nbatch++;
    j->batch_bytes += len;
    j->checked_seq = ev.seq;
    if (x->o->event_batch > 0 && j->nbatch >= (size_t)x->o->event_batch && (rc = job_flush(x, j)) < 0)
        goto out;
    if (j->state == JS_STARTING || j->state == JS_ATTACHING || j->state == JS_UPLOADING)
        job_state(x, j, JS_STREAMING, "the agent's events");
    const cJSON *step = cJSON_GetObjectItemCaseSensitive(e, "step");
    if (!strcmp(ev.type, "step-start") && cJSON_IsString(step)) {
        const cJSON *run = cJSON_GetObjectItemCaseSensitive(e, "run");
        snprintf(j->cur, sizeof j->cur, "%s%s%d", step->valuestring, cJSON_IsNumber(run) ? " #" : "",
                 cJSON_IsNumber(run) ? run->valueint : 0);
        step_progress(j, step->valuestring);
    } else if (!strcmp(ev.type, "step-end") && cJSON_IsString(step)) {
        const cJSON *verdict = cJSON_GetObjectItemCaseSensitive(e, "verdict");
        say(x, "job %" PRId64 " on %s: %s %s", j->rec.id, j->host->rec.name, step->valuestring,
            cJSON_IsString(verdict) ? verdict->valuestring : "?");
        if (cJSON_IsString(verdict) && (!strcmp(verdict->valuestring, "fail") || !strcmp(verdict->valuestring, "error")) &&
            !listed(j->failed, step->valuestring)) {
            size_t l = strlen(j->failed);
            snprintf(j->failed + l, sizeof j->failed - l, "%s%s", l ? ", " : "", step->valuestring);
        }
    } else if (!strcmp(ev.type, "job-end")) {
        const cJSON *oc = cJSON_GetObjectItemCaseSensitive(e, "outcome");
        const cJSON *rs = cJSON_GetObjectItemCaseSensitive(e, "reason");
        j->end_seen = 1;
        snprintf(j->outcome, sizeof j->outcome, "%s", cJSON_IsString(oc) ? oc->valuestring : "error");
        snprintf(j->reason, sizeof j->reason, "%s", cJSON_IsString(rs) ? rs->valuestring : "");
        job_state(x, j, JS_FETCHING_LOGS, "job-end");
        rc = 1; /* log frames follow */
    }
out:
    cJSON_Delete(e);
    return rc;
}

static int on_log_open(void *arg, const char *path, uint64_t announced)
{
    struct job *j = arg;
    (void)announced;
    /* The events first: a log is stored only for a job whose end is. */
    int rc = job_flush(sink_ctx, j);
    if (rc < 0)
        return rc;
    if (j->nbatch)
        return assay_error_set(ASSAY_ETIMEOUT, "the store stayed busy with the job's last events");
    snprintf(j->logpath, sizeof j->logpath, "%s", path);
    return assay_blob_writer_open(&j->bw, sink_ctx->lab->blobs);
}

static int on_log_data(void *arg, const char *d, size_t n)
{
    struct job *j = arg;
    return assay_blob_writer_write(j->bw, d, n);
}

/* The logs a job's steps can make: two streams of every run (a
 * benchmark's warm-ups and samples each a run), and a few more. */
static size_t logs_max(const struct job *j)
{
    const assay_spec *sp = j->check ? assay_jobcheck_spec(j->check) : NULL;
    size_t n = 16;
    for (size_t i = 0; sp && i < sp->nsteps; i++)
        n += 2 * (size_t)(sp->steps[i].repeat.max + sp->steps[i].repeat.warmup);
    return sp ? n : 65536;
}

static int on_log_close(void *arg, uint64_t kept, uint64_t announced)
{
    struct job *j = arg;
    char hex[ASSAY_SHA256_HEX];
    uint64_t size;
    (void)kept;
    (void)announced;
    int rc = assay_blob_writer_commit(j->bw, hex, &size);
    j->bw = NULL;
    if (rc < 0)
        return rc;
    /* Its blob is on disk; its row waits for the others (one transaction
     * for a job's logs, at the end of the fetch). As many as the job's
     * steps can make, no more: a host (or a root step writing into
     * logs/) that sends more is not taken at its word, nor kept in memory. */
    if (j->nlogrows >= logs_max(j))
        return assay_error_set(ASSAY_EPROTO, "job %" PRId64 ": the host sent more than the %zu logs its steps can make",
                               j->rec.id, logs_max(j));
    if (j->nlogrows == j->caplogrows) {
        size_t nc = j->caplogrows ? 2 * j->caplogrows : 16;
        assay_log_row *nr = realloc(j->logrows, nc * sizeof *nr);
        if (!nr)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        j->logrows = nr;
        j->caplogrows = nc;
    }
    assay_log_row *lr = &j->logrows[j->nlogrows++];
    snprintf(lr->path, sizeof lr->path, "%s", j->logpath);
    snprintf(lr->sha256, sizeof lr->sha256, "%.64s", hex);
    lr->size = size;
    return 0;
}

/* The logs fetched, in one transaction. */
static int logs_store(struct ctx *x, struct job *j)
{
    int rc = assay_store_job_logs_put(x->lab->store, j->rec.id, j->rec.attempt, j->logrows, j->nlogrows);
    if (rc == 0)
        j->nlogrows = 0;
    return rc;
}

static const assay_remote_stream_ops stream_ops = {on_event, on_log_open, on_log_data, on_log_close};

/* A new stream of events and logs: logs fetched before are not kept. */
static void stream_init(struct ctx *x, struct job *j, int events)
{
    j->nlogrows = 0;
    assay_remote_stream_init(&j->stream, &stream_ops, j, events, x->o->log_cap);
}

/* The output of RUN and LOGS: fed to the stream, then the events of this
 * read stored in one transaction. */
static int stream_sink(void *arg, const char *d, size_t n)
{
    struct job *j = arg;
    int rc = assay_remote_stream_feed(&j->stream, d, n);
    if (rc >= 0)
        rc = job_flush(sink_ctx, j);
    if (rc < 0)
        j->sink_rc = rc;
    return rc < 0 ? rc : 0;
}

/* ---- commands -------------------------------------------------------- */

static assay_remote_host remote_host(const struct host *h)
{
    return (assay_remote_host){h->rec.agent_root, h->rec.launcher, h->agent_sha, h->rec.name};
}

/* A transport failure is the host's (EHOST), unless the output handler
 * failed first (its own code), or the host refused us (EHOSTKEY, EAUTH). */
static int link_rc(struct job *j, int rc)
{
    if (rc >= 0)
        return rc;
    if (j->sink_rc < 0) {
        rc = j->sink_rc;
        j->sink_rc = 0;
        return rc;
    }
    if (rc == ASSAY_EHOST || rc == ASSAY_EHOSTKEY || rc == ASSAY_EAUTH || rc == ASSAY_ENOMEM)
        return rc;
    return assay_error_set(ASSAY_EHOST, "%s", assay_error_last()->message);
}

static int cmd_start2(struct ctx *x, struct job *j, assay_remote_kind kind, const char *cmd, const void *in,
                      size_t inlen, int infd, const int *infds, size_t ninfds, int stream)
{
    assay_exec_opts eo = {.command = cmd, .in = in, .inlen = inlen, .infd = infd, .infd2 = -1,
                          .infds = infds, .ninfds = ninfds, .sink = stream ? stream_sink : NULL, .arg = j};
    j->sink_rc = 0;
    j->xkind = kind;
    return link_rc(j, x->t->exec_new(&j->x, j->host->conn, kind, &eo));
}

static int cmd_start(struct ctx *x, struct job *j, assay_remote_kind kind, const char *cmd, const void *in,
                     size_t inlen, int infd, int stream)
{
    return cmd_start2(x, j, kind, cmd, in, inlen, infd, NULL, 0, stream);
}

struct result {
    int status;          /* exit status, -1 if killed by a signal */
    const char *signal;
    char err[512];       /* its stderr, on one line */
};

/* ---- failures that end the job's time on this host ------------------------ */

/* The job's attempt is an infrastructure error: queue it again elsewhere
 * (or end it after max_attempts). Never a vendor's failure. */
void job_failover(struct ctx *x, struct host *h, const char *why)
{
    struct job *j = h->job;
    if (!j)
        return;
    char msg[700];
    snprintf(msg, sizeof msg, "%s", why); /* why may be the error message the store's calls overwrite */
    why = msg;
    say(x, "job %" PRId64 " on %s: infrastructure error: %s", j->rec.id, h->rec.name, why);
    job_retried(x, j, why);
    if (assay_store_job_retry_attempt(x->lab->store, j->rec.id, j->rec.attempt, why, x->o->max_attempts) < 0)
        say(x, "job %" PRId64 ": store: %s", j->rec.id, assay_error_last()->message);
    job_state(x, j, JS_DONE, "failed over");
    job_free(x, j);
    h->job = NULL;
    host_infra_failure(x, h, why);
}

/* The job ends here, with this outcome. */
/* The job's end into the store. host_dir: the job's directory on its
 * host, given once its events and logs are all stored (it may then be
 * removed after the lab's retention), else NULL. */
static int job_end_dir(struct ctx *x, struct job *j, const char *outcome, const char *reason, const char *host_dir)
{
    int rc = assay_store_job_end_dir(x->lab->store, j->rec.id, j->rec.attempt, outcome, reason, host_dir);
    if (rc < 0)
        return rc;
    if (host_dir)
        host_job_ended(x, j->host);
    say(x, "job %" PRId64 " on %s: %s%s%s", j->rec.id, j->host->rec.name, outcome, reason[0] ? ": " : "", reason);
    job_finished(x, j, outcome, reason);
    x->done++;
    host_worked(x, j->host);
    return 0;
}

static int job_end(struct ctx *x, struct job *j, const char *outcome, const char *reason)
{
    return job_end_dir(x, j, outcome, reason, NULL);
}

static int gone(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    job_state(x, j, JS_DONE, NULL);
    job_free(x, j);
    h->job = NULL;
    return 0;
}

/* A command ended wrong; after MAX_TRIES in a row, the job fails over. */
static int try_again(struct ctx *x, struct job *j, const char *why)
{
    if (++j->tries >= MAX_TRIES) {
        job_failover(x, j->host, why);
        return 0;
    }
    return assay_error_set(ASSAY_EHOST, "%s", why);
}

/* ---- the states ---------------------------------------------------------- */

static int on_resetting(struct ctx *x, struct job *j, const struct result *r)
{
    struct host *h = j->host;
    char cmd[20000], why[700];
    if (!r) {
        if (++j->tries > MAX_TRIES) {
            job_failover(x, h, "the connection dropped during every reset");
            host_down(x, h, "reset failed");
            return 0;
        }
        assay_remote_host rh = remote_host(h);
        int rc = assay_remote_reset(cmd, sizeof cmd, &rh, h->rec.reset);
        if (rc < 0) {
            job_failover(x, h, assay_error_last()->message);
            return 0;
        }
        j->reset_deadline = now_s() + x->o->reset_timeout_s;
        return cmd_start(x, j, ASSAY_REMOTE_RESET, cmd, NULL, 0, -1, 0);
    }
    if (r->status != 0) {
        char how[64];
        if (r->status < 0 && r->signal)
            snprintf(how, sizeof how, "killed by %s", r->signal);
        else
            snprintf(how, sizeof how, "exit status %d", r->status);
        snprintf(why, sizeof why, "the reset of %s failed (%s): %s", h->rec.name, how, r->err);
        job_failover(x, h, why);
        host_down(x, h, why); /* it stays not clean: the next job tries the reset again */
        return 0;
    }
    int rc = assay_store_host_was_reset(x->lab->store, h->rec.name, j->rec.id);
    if (rc < 0)
        return rc;
    h->rec.last_job = -1;
    h->rec.clean = 1;
    h->rec.last_package[0] = '\0';
    j->rec.host_reset = 1;
    j->tries = 0;
    job_state(x, j, JS_STARTING, "the host is reset");
    return 0;
}

/* From the first RUN on, the host may hold the package, whatever happens
 * to the job: recorded before it is sent. */
static int claim(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    if (j->claimed || j->rec.last_seq >= 0)
        return 0;
    int rc = assay_store_host_claim(x->lab->store, h->rec.name, j->rec.id);
    if (rc < 0)
        return rc;
    j->claimed = 1;
    h->rec.last_job = j->rec.id;
    h->rec.clean = 0;
    snprintf(h->rec.last_package, sizeof h->rec.last_package, "%s", j->rec.package_id);
    return 0;
}

/* RUN: start (or attach to) the job and stream it. */
static int run_start(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    enum { RUN_CMD_MAX = 96 * 1024 }; /* a set of 32 files' names and digests fits */
    char *cmd = malloc(RUN_CMD_MAX);
    const char *sha[ASSAY_MANIFEST_SET_MAX], *names[ASSAY_MANIFEST_SET_MAX];
    assay_remote_host rh = remote_host(h);
    assay_remote_job rj = remote_job(j, sha, names);
    if (!cmd)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    int rc = assay_remote_run(cmd, RUN_CMD_MAX, &rh, &rj);
    if (rc < 0) {
        free(cmd);
        job_failover(x, h, assay_error_last()->message);
        return 0;
    }
    if ((rc = claim(x, j)) < 0) {
        free(cmd);
        return rc;
    }
    stream_init(x, j, 1);
    rc = cmd_start(x, j, ASSAY_REMOTE_RUN, cmd, j->spec, strlen(j->spec), -1, 1); /* the transport copies cmd */
    free(cmd);
    if (rc < 0)
        return rc;
    j->run_sent = 1;
    return 0;
}

/* RUN ended before any event: nothing is missing (then upload it), it did
 * not start, or the attach failed. */
static int on_starting(struct ctx *x, struct job *j, const struct result *r)
{
    struct host *h = j->host;
    char why[700];
    if (!r) {
        /* First contact of a new job with a host the store has no record
         * of our agent (or this artifact) on: send them with the job at
         * once, one command instead of a RUN that finds them missing. A
         * wrong guess costs an upload the host already had; a large
         * artifact is not guessed (RUN checks first). */
        int ha = 1, hf = 1;
        if (j->rec.last_seq < 0 && !j->guessed &&
            assay_store_host_has(x->lab->store, h->rec.name, h->agent_sha, j->art.sha256, &ha, &hf) == 0 &&
            (!ha || (!hf && set_size(j) <= ASSAY_PREUPLOAD_MAX))) {
            j->guessed = 1;
            j->need_agent = !ha;
            j->need_art = !hf && set_size(j) <= ASSAY_PREUPLOAD_MAX;
            need_all(j);
            job_state(x, j, JS_UPLOADING, "the lab's records show no job of this agent or artifact on the host");
            return 0;
        }
        assay_error_clear();
        j->guessed = 1;
        return run_start(x, j);
    }
    int missing = r->status - ASSAY_REMOTE_MISSING;
    if (missing >= 1 && missing <= 3 && (j->rec.last_seq < 0 || missing == 1)) {
        /* Nothing ran. A running job's agent that is not the one pushed is
         * pushed again before anything attaches with it. */
        j->need_agent = missing & 1;
        j->need_art = missing & 2;
        /* A set's RUN names the files it lacks: only those go up (the
         * ones a cut transfer brought whole are in the cache). */
        if (j->nset <= 1 || !assay_remote_missing_files(j->need_file, j->nset, r->err))
            need_all(j);
        j->run_sent = 0;
        job_state(x, j, JS_UPLOADING,
                  missing == 3 ? "the host has neither agent nor artifact"
                  : missing == 1 ? "the host lacks our agent" : "the host lacks the artifact");
        return 0;
    }
    if (r->status == ASSAY_REMOTE_NO_LINK && j->rec.last_seq < 0) {
        snprintf(why, sizeof why, "cannot put the artifact into the job directory on %s: %s", h->rec.name, r->err);
        job_failover(x, h, why);
        return 0;
    }
    if (r->status == ASSAY_REMOTE_NO_START && j->rec.last_seq < 0) {
        /* The agent refused the job: retrying elsewhere would not help. */
        snprintf(why, sizeof why, "agent on %s did not start the job (%d): %s", h->rec.name, r->status, r->err);
        int rc = job_end(x, j, "error", why);
        if (rc < 0)
            return rc;
        return gone(x, j);
    }
    /* attach ended before job-end: the job directory is gone (the host was
     * reinstalled: fail over), or the stream broke (reconnect, resume). */
    snprintf(why, sizeof why, "attach on %s ended without job-end (%d): %s", h->rec.name, r->status, r->err);
    if (strstr(r->err, "no job in")) {
        job_failover(x, h, why);
        return 0;
    }
    return try_again(x, j, why);
}

static int open_size(const char *path, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return assay_error_set_errno(ASSAY_EIO, e, "%s", path);
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* UPLOADING's command: the agent if it is missing, then each missing file
 * of the artifact, each checked by its digest on the host, then RUN. */
static int upload_start(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    char blob[4096];
    int rc;
    uint64_t asize = 0, fsize = 0, sizes[ASSAY_MANIFEST_SET_MAX] = {0};
    upfds_close(j);
    if (j->need_agent && (j->upfd = open_size(h->agent, &asize)) < 0)
        return j->upfd;
    for (size_t k = 0; j->need_art && k < j->nset; k++) {
        if (!j->need_file[k])
            continue;
        if ((rc = assay_blob_path(blob, sizeof blob, x->lab->blobs, j->set[k].sha256)) < 0)
            return rc;
        if ((j->upfds[j->nupfds] = open_size(blob, &sizes[k])) < 0) {
            rc = j->upfds[j->nupfds];
            j->upfds[j->nupfds] = -1;
            return rc;
        }
        j->nupfds++;
        if (sizes[k] == 0)
            fsize = 1; /* an empty blob: refused below */
    }
    if ((asize == 0 && j->need_agent) || fsize)
        return assay_error_set(ASSAY_EIO, "an empty file to upload (the agent or an artifact's blob)");
    enum { UPLOAD_CMD_MAX = 160 * 1024 }; /* the agent's and 32 files' upload parts, then RUN */
    const char *sha[ASSAY_MANIFEST_SET_MAX], *names[ASSAY_MANIFEST_SET_MAX];
    assay_remote_host rh = remote_host(h);
    assay_remote_job rj = remote_job(j, sha, names);
    char *cmd = malloc(UPLOAD_CMD_MAX);
    if (!cmd)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    if (j->nset > 1)
        rc = assay_remote_upload_run_set(cmd, UPLOAD_CMD_MAX, &rh, &rj, asize, sizes);
    else
        rc = assay_remote_upload_run(cmd, UPLOAD_CMD_MAX, &rh, &rj, asize, sizes[0]);
    if (rc < 0) {
        free(cmd);
        job_failover(x, h, assay_error_last()->message);
        return 0;
    }
    if ((rc = claim(x, j)) < 0) {
        free(cmd);
        return rc;
    }
    stream_init(x, j, 1);
    /* The files are read to their ends by the command, closed after; the
     * transport copies the command. */
    rc = cmd_start2(x, j, ASSAY_REMOTE_UPLOAD_RUN, cmd, j->spec, strlen(j->spec), j->upfd, j->upfds, j->nupfds, 1);
    free(cmd);
    if (rc < 0)
        return rc;
    j->run_sent = 1;
    size_t nf = 0;
    for (size_t k = 0; j->need_art && k < j->nset; k++)
        nf += j->need_file[k];
    char what[300];
    if (nf > 1 || (nf == 1 && j->nset > 1))
        snprintf(what, sizeof what, "%zu of the artifact's %zu files", nf, j->nset);
    else
        snprintf(what, sizeof what, "%s", j->art_name);
    snprintf(j->cur, sizeof j->cur, "upload %s%s%s", j->need_agent ? "agent" : "",
             j->need_agent && j->need_art ? " + " : "", j->need_art ? what : "");
    return 0;
}

/* What RUN found missing goes up on the stdin of one command that then
 * goes on as RUN. */
static int on_uploading(struct ctx *x, struct job *j, const struct result *r)
{
    struct host *h = j->host;
    char why[700];
    if (!r)
        return upload_start(x, j);
    if (r->status == ASSAY_REMOTE_NO_UPLOAD) {
        snprintf(why, sizeof why, "uploading %s%s%s to %s failed: %s", j->need_agent ? "the agent" : "",
                 j->need_agent && j->need_art ? " and " : "", j->need_art ? j->art_name : "", h->rec.name, r->err);
        job_failover(x, h, why);
        return 0;
    }
    int missing = r->status - ASSAY_REMOTE_MISSING;
    if (missing >= 1 && missing <= 3) {
        /* What was sent and is still missing is the host's failure; what
         * was not sent (a first contact's guess) goes up now. */
        unsigned char still[ASSAY_MANIFEST_SET_MAX];
        int sent_missing = (missing & 2) && j->need_art;
        if (sent_missing && j->nset > 1 && assay_remote_missing_files(still, j->nset, r->err)) {
            sent_missing = 0;
            for (size_t k = 0; k < j->nset; k++)
                sent_missing |= still[k] && j->need_file[k];
        }
        if (((missing & 1) && j->need_agent) || sent_missing) {
            snprintf(why, sizeof why, "%s still lacks %s after the upload", h->rec.name,
                     (missing & 1) && j->need_agent ? "the agent" : "the artifact");
            job_failover(x, h, why);
            return 0;
        }
        /* What was not sent goes up now, once: a first contact's wrong
         * guess costs one more round, never more. A host that names in
         * turn what the last round did not send would keep us uploading. */
        if (++j->upload_rounds >= 2) {
            snprintf(why, sizeof why, "%s still lacks %s after %d uploads", h->rec.name,
                     missing == 3 ? "the agent and the artifact" : missing == 1 ? "the agent" : "the artifact",
                     j->upload_rounds);
            job_failover(x, h, why);
            return 0;
        }
        j->need_agent = missing & 1;
        j->need_art = (missing & 2) != 0;
        if (j->nset <= 1 || !assay_remote_missing_files(j->need_file, j->nset, r->err))
            need_all(j);
        return on_uploading(x, j, NULL);
    }
    /* The uploads went through; the rest is RUN's. */
    return on_starting(x, j, r);
}

/* RUN ended while events came, before the job-end. */
static int on_streaming(struct ctx *x, struct job *j, const struct result *r)
{
    char why[700];
    if (!r)
        return run_start(x, j);
    snprintf(why, sizeof why, "attach on %s ended without job-end (%d): %s", j->host->rec.name, r->status, r->err);
    if (strstr(r->err, "no job in")) {
        job_failover(x, j->host, why);
        return 0;
    }
    return try_again(x, j, why);
}

static int on_fetching_logs(struct ctx *x, struct job *j, const struct result *r)
{
    char cmd[9000], why[700];
    int rc;
    if (!r) {
        /* After a reconnect: every log in one command. */
        if ((rc = assay_remote_logs(cmd, sizeof cmd, j->jobdir)) < 0)
            return rc;
        stream_init(x, j, 0);
        return cmd_start(x, j, ASSAY_REMOTE_LOGS, cmd, NULL, 0, -1, 1);
    }
    if (r->status != 0 || (rc = assay_remote_stream_end(&j->stream)) < 0) {
        snprintf(why, sizeof why, "fetching logs from %s failed (%d): %s", j->host->rec.name, r->status,
                 r->status != 0 ? r->err : assay_error_last()->message);
        return try_again(x, j, why);
    }
    if ((rc = logs_store(x, j)) < 0)
        return rc; /* as a log's row failing to store did: the job pauses, or is dropped (ESTATE) */
    say(x, "job %" PRId64 " on %s: %d logs stored", j->rec.id, j->host->rec.name, j->stream.nlogs);
    job_state(x, j, JS_ENDING, "logs stored");
    return 0;
}

static int on_ending(struct ctx *x, struct job *j, const struct result *r)
{
    (void)r;
    /* Only here have the job's events and logs all reached the store. */
    int rc = job_end_dir(x, j, j->outcome, j->reason, j->jobdir);
    if (rc < 0)
        return rc;
    return gone(x, j);
}

/* After a protocol error: the agent's word is worth nothing, so no
 * uninstall either; the host is not clean (the job ended in error) and is
 * reset before its next job. */
static int on_stopping(struct ctx *x, struct job *j, const struct result *r)
{
    char cmd[9000];
    if (!r) {
        assay_remote_host rh = remote_host(j->host);
        int rc = assay_remote_stop(cmd, sizeof cmd, &rh, j->jobdir);
        if (rc < 0)
            return rc;
        return cmd_start(x, j, ASSAY_REMOTE_STOP, cmd, NULL, 0, -1, 0);
    }
    say(x, "job %" PRId64 " on %s: stopped on the host", j->rec.id, j->host->rec.name);
    return gone(x, j);
}

static int on_waiting(struct ctx *x, struct job *j, const struct result *r)
{
    (void)r;
    job_state(x, j, j->resume, "the host is back");
    return 0;
}

static int on_done(struct ctx *x, struct job *j, const struct result *r)
{
    (void)r;
    return gone(x, j);
}

static int (*const handlers[JS_COUNT])(struct ctx *, struct job *, const struct result *) = {
    [JS_RESETTING] = on_resetting,
    [JS_STARTING] = on_starting,
    [JS_ATTACHING] = on_starting,
    [JS_UPLOADING] = on_uploading,
    [JS_STREAMING] = on_streaming,
    [JS_FETCHING_LOGS] = on_fetching_logs,
    [JS_ENDING] = on_ending,
    [JS_STOPPING] = on_stopping,
    [JS_WAITING] = on_waiting,
    [JS_DONE] = on_done,
};

/* ---- driving ------------------------------------------------------------- */

/* Cancel: before any RUN nothing runs on the host; once the job exists
 * there, the agent is asked on a channel of its own, beside the stream,
 * which then carries the job's end. Returns 1 if the job is gone. */
static int cancel(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    int rc;
    if (j->rec.cancel <= j->cancel_sent || j->state == JS_STOPPING || j->state == JS_ENDING)
        return 0;
    if (!j->run_sent && j->rec.last_seq < 0) {
        if ((rc = job_end(x, j, "canceled", "canceled before it started")) < 0)
            return rc;
        gone(x, j);
        return 1;
    }
    if ((j->state != JS_STREAMING && j->state != JS_ATTACHING && j->state != JS_STARTING && j->state != JS_UPLOADING) ||
        !j->x || j->xc ||
        j->checked_seq < 0)
        return 0;
    char cmd[9000];
    assay_remote_host rh = remote_host(h);
    if ((rc = assay_remote_cancel(cmd, sizeof cmd, &rh, j->jobdir, j->rec.cancel)) < 0)
        return rc;
    assay_exec_opts eo = {.command = cmd, .infd = -1};
    if ((rc = link_rc(j, x->t->exec_new(&j->xc, h->conn, ASSAY_REMOTE_CANCEL, &eo))) < 0)
        return rc;
    j->cancel_sent = j->rec.cancel;
    say(x, "job %" PRId64 " on %s: cancel%s sent", j->rec.id, h->rec.name,
        j->rec.cancel >= 2 ? " --now" : " (uninstall still runs)");
    return 0;
}

/* Advance the job as far as it goes without waiting: ASSAY_SSH_AGAIN when
 * it waits for the host, 0 when the job is gone from the host, or a
 * failure (above). */
int job_drive(struct ctx *x, struct job *j)
{
    struct host *h = j->host;
    int rc;
    sink_ctx = x;
    for (;;) {
        if ((rc = cancel(x, j)) != 0)
            return rc < 0 ? rc : 0;
        if (j->xc) {
            rc = link_rc(j, x->t->exec_run(j->xc));
            if (rc < 0)
                return rc;
            if (rc == 0) {
                x->t->exec_free(j->xc);
                j->xc = NULL;
            }
        }
        if (j->state == JS_RESETTING && j->x && now_s() > j->reset_deadline) {
            char why[160];
            snprintf(why, sizeof why, "the reset of %s did not end within %.0fs", h->rec.name,
                     x->o->reset_timeout_s);
            job_failover(x, h, why);
            host_down(x, h, why);
            return 0;
        }
        if ((rc = job_flush(x, j)) < 0)
            return rc;
        struct result res, *r = NULL;
        if (j->x) {
            rc = link_rc(j, x->t->exec_run(j->x));
            if (rc != 0)
                return rc; /* ASSAY_SSH_AGAIN, or failed */
            if (j->nbatch)
                return ASSAY_SSH_AGAIN; /* its events are stored first */
            const char *err = x->t->exec_stderr(j->x);
            res.status = x->t->exec_status(j->x, &res.signal);
            snprintf(res.err, sizeof res.err, "%s", err ? err : "");
            for (char *p = res.err; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            x->t->exec_free(j->x);
            j->x = NULL;
            if (j->upfd >= 0)
                close(j->upfd);
            j->upfd = -1;
            upfds_close(j);
            r = &res;
        }
        enum jstate before = j->state;
        if ((rc = handlers[j->state](x, j, r)) < 0)
            return rc;
        if (!h->job || h->job != j)
            return 0; /* gone */
        if (!j->x && j->state == before && before != JS_WAITING)
            return assay_error_set(ASSAY_ERROR, "job %" PRId64 ": state %s made no progress", j->rec.id,
                                   job_state_names[before]);
    }
}
