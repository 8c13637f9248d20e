/*
 * The dispatcher's loop and each host's connection; see dispatch.h.
 *
 * Per host: at most one connection and one job at a time. A host's
 * connection is a small state machine of its own (dispatch_int.h:
 * IDLE -> CONNECTING -> READY, DOWN with a backoff, DISABLED when it
 * refuses our key or we refuse its host key); each change goes through
 * host_state(), logged with why. The jobs' machine is jobrun.c's, the queue
 * placement.c's.
 *
 * Every command costs the host an sshd session and a shell (and under
 * emulation every agent run a qemu start): on a lab that certifies all
 * day, agents and artifacts are already there, and one command is what a
 * job should cost.
 *
 * What a job's failure means is decided here, by its code: ASSAY_EHOST
 * (the connection failed, a command ended wrong) takes the host down and
 * the job waits for it; ASSAY_EPROTO (the agent broke the protocol) ends
 * the job in error; ASSAY_ESTATE (the store no longer has the job as ours)
 * drops it; anything else is the controller's own failure (a full disk):
 * the job pauses and resumes from what the store holds.
 */
#include "dispatch_int.h"
#include "markup.h"
#include "assay/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    stop_requested = sig;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Plain, timestamped lines when output is not a terminal. */
void say(struct ctx *x, const char *fmt, ...)
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

#define AS_NAME(e, name) name,
static const char *const host_state_names[] = {HOST_STATES(AS_NAME)};

/* The one place a host's connection changes state: logged with why. */
void host_state(struct ctx *x, struct host *h, enum hstate s, const char *why)
{
    int quiet = !why && ((h->state == HS_IDLE && s == HS_CONNECTING) || (h->state == HS_CONNECTING && s == HS_READY));
    if (h->state != s && !quiet)
        say(x, "host %s: %s -> %s%s%s", h->rec.name, host_state_names[h->state], host_state_names[s],
            why && why[0] ? ": " : "", why ? why : "");
    h->state = s;
}

/* The health check's command, and the agent it pushes. */
static void check_cmd_free(struct ctx *x, struct host *h)
{
    if (h->hx)
        x->t->exec_free(h->hx);
    h->hx = NULL;
    if (h->hfd >= 0)
        close(h->hfd);
    h->hfd = -1;
}

/* Drop the connection (with it, whatever the host is still sending) and
 * the job's commands (first: they belong to the session). */
void drop_conn(struct ctx *x, struct host *h)
{
    if (h->job)
        job_lost_link(x, h->job);
    check_cmd_free(x, h);
    if (h->gx)
        x->t->exec_free(h->gx);
    h->gx = NULL;
    if (h->conn)
        x->t->conn_free(h->conn);
    h->conn = NULL;
}

static void check_end(struct ctx *x, struct host *h, const char *err);
static void gc_end(struct ctx *x, struct host *h, const char *err);

/* Where a job goes back to when its host is. */
static enum jstate resume_state(const struct job *j)
{
    if (j->state == JS_WAITING)
        return j->resume;
    if (j->state == JS_RESETTING || j->state == JS_STOPPING)
        return j->state;
    if (j->ended)
        return JS_FETCHING_LOGS;
    return j->rec.last_seq >= 0 ? JS_ATTACHING : JS_STARTING;
}

/* The connection failed: drop it. The job stays with the host and goes
 * on when the host is back; past unreachable_s it is failed over. */
void host_down(struct ctx *x, struct host *h, const char *why)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", why); /* why may be the error that drop_conn overwrites */
    drop_conn(x, h);
    if (h->state == HS_QUARANTINED || h->state == HS_DISABLED)
        return; /* out of use already: nothing to retry */
    if (h->checking && !h->job)
        check_end(x, h, msg);
    if (h->cleaning && !h->job)
        gc_end(x, h, msg);
    if (h->state == HS_QUARANTINED)
        return;
    h->failed_at = now_s();
    /* Down since the first failure, until a connection succeeds: retries in
     * between do not restart the clock. */
    if (!h->down_since) {
        h->down_since = now_s();
        h->backoff = 1;
    } else if (h->backoff < 30) {
        h->backoff *= 2;
    }
    h->retry_at = now_s() + h->backoff;
    snprintf(h->last_error, sizeof h->last_error, "%s", msg);
    char w[600];
    snprintf(w, sizeof w, "%s (retry in %ds)", msg, h->backoff);
    host_state(x, h, HS_DOWN, w);
    if (h->job) {
        h->job->resume = resume_state(h->job);
        job_state(x, h->job, JS_WAITING, "the host is down");
    }
}

void host_disable(struct ctx *x, struct host *h, const char *why)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", why);
    assay_store_host_disable(x->lab->store, h->rec.name, msg);
    snprintf(h->rec.disabled, sizeof h->rec.disabled, "%s", msg);
    host_state(x, h, HS_DISABLED, msg);
    job_failover(x, h, msg); /* frees the job's commands before the session */
    drop_conn(x, h);
}

/* ---- health ---------------------------------------------------------------- */

/* Too many infrastructure failures in a row: the host takes no job until
 * `host resume`. Its job (if any) was failed over already. */
static void quarantine(struct ctx *x, struct host *h, const char *why)
{
    char msg[600];
    snprintf(h->rec.quarantined, sizeof h->rec.quarantined, "%s", why);
    snprintf(msg, sizeof msg, "%d infrastructure failures in a row, the last: %s (assay host resume %s)",
             h->rec.failures, why, h->rec.name);
    h->checking = 0;
    drop_conn(x, h);
    host_state(x, h, HS_QUARANTINED, msg);
}

/* One more infrastructure failure of host h (an attempt failed over, a
 * health check failed): counted in the store, which quarantines the host
 * at quarantine_after in a row. */
static void count_failure(struct ctx *x, struct host *h, const char *why)
{
    int q = 0;
    if (assay_store_host_health(x->lab->store, h->rec.name, why, x->quarantine_after, &q) < 0)
        say(x, "host %s: store: %s", h->rec.name, assay_error_last()->message);
    h->rec.failures++;
    snprintf(h->rec.last_error, sizeof h->rec.last_error, "%s", why);
    if (q && !h->job)
        quarantine(x, h, why);
}

void host_infra_failure(struct ctx *x, struct host *h, const char *why)
{
    if (h->state == HS_DISABLED || h->state == HS_QUARANTINED)
        return; /* its own state says why already */
    count_failure(x, h, why);
    /* A check as soon as the host is idle. Jobs are not held back for it:
     * a job's next attempt is as good a probe, and a lab whose only host of
     * a profile failed still ends the job after --max-attempts. */
    if (h->state != HS_QUARANTINED)
        h->next_check = now_s();
}

/* A job ended on the host as it should: the failures in a row end too. */
void host_worked(struct ctx *x, struct host *h)
{
    if (!h->rec.failures)
        return;
    if (assay_store_host_health(x->lab->store, h->rec.name, NULL, 0, NULL) < 0)
        say(x, "host %s: store: %s", h->rec.name, assay_error_last()->message);
    h->rec.failures = 0;
}

static void check_end(struct ctx *x, struct host *h, const char *why)
{
    char msg[512];
    const char *err = why ? msg : NULL;
    if (why)
        snprintf(msg, sizeof msg, "%s", why); /* why may be the error message the store's calls overwrite */
    check_cmd_free(x, h);
    h->checking = 0;
    h->check_push = 0;
    if (!err) {
        say(x, "host %s: health check passed", h->rec.name);
        host_worked(x, h);
        h->next_check = now_s() + x->health_interval;
        return;
    }
    say(x, "host %s: health check failed: %s", h->rec.name, err);
    count_failure(x, h, err);
    /* Failed: again soon, so that a host that is really gone reaches its
     * quarantine in minutes, not in hours of health_interval. */
    h->next_check = now_s() + (x->health_interval < 30 ? x->health_interval : 30);
}

/* Drive a command of the host's own (a health check, a removal) as far as
 * it goes: 1 when it has ended (its exit status in *status), 0 while it
 * runs. A command past its deadline is ended by `end` (sshd answers
 * keepalives while the command hangs: a hung mount under a directory, a
 * replaced agent; the host is not left checking or cleaning for ever), a
 * connection that fails takes the host down: -1 for both. */
static int host_cmd_run(struct ctx *x, struct host *h, void *cmd, const char *what,
                        void (*end)(struct ctx *, struct host *, const char *), int *status)
{
    int rc = x->t->exec_run(cmd);
    if (rc == ASSAY_SSH_AGAIN) {
        if (now_s() <= h->cmd_deadline)
            return 0;
        char why[200];
        snprintf(why, sizeof why, "%s did not end within %.0fs", what, x->o->host_cmd_timeout_s);
        end(x, h, why);
        return -1;
    }
    if (rc < 0) {
        host_down(x, h, assay_error_last()->message);
        return -1;
    }
    const char *sig = NULL;
    *status = x->t->exec_status(cmd, &sig);
    return 1;
}

/* "<what> ended with <status>: <its stderr>", on one line. */
static void ended_with(char *out, size_t len, struct ctx *x, void *cmd, const char *what, int status)
{
    const char *err = x->t->exec_stderr(cmd);
    snprintf(out, len, "%s ended with %d%s%s", what, status, err && err[0] ? ": " : "", err ? err : "");
    out[strcspn(out, "\r\n")] = '\0';
}

/* Is a check of an idle host due? Not for a drained host (under
 * maintenance: whatever it answers says nothing), nor for one this
 * controller has no agent for (the controller's gap, not the host's). */
static int check_due(const struct host *h)
{
    return !h->job && !h->rec.drained && !h->agent_err[0] && (h->checking || now_s() >= h->next_check);
}

/* What the check's command prints, kept up to the cap (the count goes one
 * past it, and the answer is then refused). */
static int check_sink(void *arg, const char *d, size_t n)
{
    struct host *h = arg;
    size_t room = ASSAY_REMOTE_VERSION_MAX - (h->hout_len < ASSAY_REMOTE_VERSION_MAX ? h->hout_len
                                                                                       : ASSAY_REMOTE_VERSION_MAX);
    size_t take = n < room ? n : room;
    memcpy(h->hout + h->hout_len, d, take);
    h->hout_len += take;
    if (take < n)
        h->hout_len = ASSAY_REMOTE_VERSION_MAX + 1;
    return 0;
}

/* The check: a login, a shell, the agent's digest (as RUN checks it) and
 * its answer to version --json: what every job needs first. An agent that
 * is missing or not the one pushed goes up, digest-checked on the host,
 * as a job's start would send it, and answers then; a host where that
 * fails, or whose agent answers anything but our agent's version, is not
 * healthy. */
static void drive_check(struct ctx *x, struct host *h)
{
    for (;;) {
        if (!h->hx) {
            char cmd[9000];
            assay_remote_host rh = {h->rec.agent_root, h->rec.launcher, h->agent_sha, h->rec.name};
            assay_exec_opts eo = {.infd = -1, .infd2 = -1, .sink = check_sink, .arg = h};
            int rc = h->check_push ? assay_remote_upload_version(cmd, sizeof cmd, &rh)
                                   : assay_remote_version(cmd, sizeof cmd, &rh);
            if (rc == 0 && h->check_push && (h->hfd = open(h->agent, O_RDONLY | O_CLOEXEC)) < 0)
                rc = assay_error_set_errno(ASSAY_EIO, errno, "%s", h->agent);
            if (rc < 0) {
                check_end(x, h, assay_error_last()->message);
                return;
            }
            eo.command = cmd;
            eo.infd = h->hfd;
            h->hout_len = 0;
            x->t->conn_touch(h->conn);
            if (x->t->exec_new(&h->hx, h->conn, h->check_push ? ASSAY_REMOTE_UPLOAD_VERSION : ASSAY_REMOTE_VERSION,
                               &eo) < 0) {
                host_down(x, h, assay_error_last()->message);
                return;
            }
            h->cmd_deadline = now_s() + x->o->host_cmd_timeout_s;
        }
        int status;
        if (host_cmd_run(x, h, h->hx, "health check: the command", check_end, &status) <= 0)
            return;
        char why[800];
        if (status == ASSAY_REMOTE_MISSING + 1 && !h->check_push) {
            say(x, "host %s: health check: the agent is missing or not the one pushed: it goes up again",
                h->rec.name);
            check_cmd_free(x, h);
            h->check_push = 1;
            continue;
        }
        if (status == ASSAY_REMOTE_NO_UPLOAD && h->check_push) {
            ended_with(why, sizeof why, x, h->hx,
                       "health check: the agent was missing or not ours, and its upload", status);
        } else if (status != 0) {
            ended_with(why, sizeof why, x, h->hx, "health check: the agent's version --json", status);
        } else if (assay_remote_version_answer(h->hout, h->hout_len) < 0) {
            snprintf(why, sizeof why, "health check: %s", assay_error_last()->message);
        } else {
            check_end(x, h, NULL);
            return;
        }
        check_end(x, h, why);
        return;
    }
}

/* ---- ended jobs' directories ------------------------------------------------ */

/* Directories removed by one command at most, and how often an idle
 * host's are looked for in the store. */
#define GC_BATCH 64
#define GC_EVERY 600.0
#define GC_NEVER 1e18

int host_cmd_busy(const struct host *h)
{
    return h->hx || h->gx;
}

void host_job_ended(struct ctx *x, struct host *h)
{
    double due = now_s() + x->retention_s;
    if (!x->o->gc_only && h->next_gc > due)
        h->next_gc = due;
}

/* Does the host have directories due now? Looked up in the store when
 * next_gc has come (every GC_EVERY, and when a job's retention ends), and
 * only for an idle host in use: a drained one is under maintenance. */
static int gc_due(struct ctx *x, struct host *h)
{
    if (h->cleaning)
        return 1;
    if (h->job || h->rec.drained || now_s() < h->next_gc)
        return 0;
    h->next_gc = x->o->gc_only ? GC_NEVER : now_s() + GC_EVERY;
    free(h->gdirs);
    h->gdirs = NULL;
    h->ngdirs = 0;
    char cutoff[32];
    time_t t = time(NULL) - (time_t)x->retention_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(cutoff, sizeof cutoff, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (assay_store_host_dirs_due(x->lab->store, h->rec.name, cutoff, GC_BATCH, &h->gdirs, &h->ngdirs) < 0) {
        say(x, "host %s: store: %s", h->rec.name, assay_error_last()->message);
        return 0;
    }
    /* A path that is not a job directory of ours is never sent (a store
     * edited by hand, a hostile name): given up at once, and said. */
    size_t keep = 0;
    for (size_t i = 0; i < h->ngdirs; i++) {
        if (assay_remote_job_dir_check(h->gdirs[i].dir) < 0) {
            char why[400];
            snprintf(why, sizeof why, "refused: %s", assay_error_last()->message);
            say(x, "host %s: job %" PRId64 " attempt %d: %s", h->rec.name, h->gdirs[i].job_id, h->gdirs[i].attempt, why);
            assay_store_host_dirs_result(x->lab->store, &h->gdirs[i], 1, why, 1);
            x->dirs_failed++;
            continue;
        }
        h->gdirs[keep++] = h->gdirs[i];
    }
    h->ngdirs = keep;
    h->cleaning = keep > 0;
    if (!h->cleaning)
        x->next_poll = 0; /* nothing to remove: a pass (--once) may be over now */
    return h->cleaning;
}

/* The removal ended: recorded in the store either way, so a directory is
 * removed once and a failing one is tried ASSAY_HOST_DIR_TRIES times. */
static void gc_end(struct ctx *x, struct host *h, const char *why)
{
    char msg[512];
    const char *err = why ? msg : NULL;
    if (why)
        snprintf(msg, sizeof msg, "%s", why);
    if (h->gx)
        x->t->exec_free(h->gx);
    h->gx = NULL;
    h->cleaning = 0;
    if (assay_store_host_dirs_result(x->lab->store, h->gdirs, h->ngdirs, err, 0) < 0)
        say(x, "host %s: store: %s", h->rec.name, assay_error_last()->message);
    if (err) {
        x->dirs_failed += h->ngdirs;
        say(x, "host %s: %zu job directories not removed: %s", h->rec.name, h->ngdirs, err);
    } else {
        x->dirs_removed += h->ngdirs;
        say(x, "host %s: %zu job directories removed (ended more than %g days ago)", h->rec.name, h->ngdirs,
            x->retention_s / 86400);
    }
    /* A full batch: there may be more. */
    h->next_gc = !err && h->ngdirs == GC_BATCH ? 0 : x->o->gc_only ? GC_NEVER : now_s() + GC_EVERY;
    x->next_poll = 0; /* the host is free: the store is read at once */
    free(h->gdirs);
    h->gdirs = NULL;
    h->ngdirs = 0;
}

static void drive_gc(struct ctx *x, struct host *h)
{
    if (!h->gx) {
        size_t len = 64;
        for (size_t i = 0; i < h->ngdirs; i++)
            len += 4 * strlen(h->gdirs[i].dir) + 4;
        char *cmd = malloc(len);
        const char **dirs = calloc(h->ngdirs, sizeof *dirs);
        int rc = !cmd || !dirs ? assay_error_set(ASSAY_ENOMEM, "out of memory") : 0;
        for (size_t i = 0; rc == 0 && i < h->ngdirs; i++)
            dirs[i] = h->gdirs[i].dir;
        if (rc == 0)
            rc = assay_remote_remove_dirs(cmd, len, dirs, h->ngdirs);
        assay_exec_opts eo = {.command = cmd, .infd = -1, .infd2 = -1};
        if (rc == 0) {
            x->t->conn_touch(h->conn);
            rc = x->t->exec_new(&h->gx, h->conn, ASSAY_REMOTE_REMOVE, &eo);
            h->cmd_deadline = now_s() + x->o->host_cmd_timeout_s;
        }
        free(cmd);
        free(dirs);
        if (rc < 0) {
            if (h->gx || rc == ASSAY_ENOMEM || rc == ASSAY_EINVAL)
                gc_end(x, h, assay_error_last()->message);
            else
                host_down(x, h, assay_error_last()->message);
            return;
        }
    }
    int status;
    if (host_cmd_run(x, h, h->gx, "the removal", gc_end, &status) <= 0)
        return;
    if (status == 0) {
        gc_end(x, h, NULL);
        return;
    }
    char why[700];
    ended_with(why, sizeof why, x, h->gx, "the removal", status);
    gc_end(x, h, why);
}

/* ---- what a job's failure means ----------------------------------------- */

/* The agent broke the protocol: what it sends cannot be trusted, so the
 * job ends in error with what was wrong. The events stored so far stay
 * (each was checked). The job may still run on the host: it is stopped
 * there (STOPPING, on a new connection: the old one still carries the bad
 * stream) before the host takes another job. */
static void job_protocol_error(struct ctx *x, struct host *h, const char *msg)
{
    struct job *j = h->job;
    char why[600];
    snprintf(why, sizeof why, "protocol error from the agent on %s: %s", h->rec.name, msg);
    drop_conn(x, h);
    if (assay_store_job_end_attempt(x->lab->store, j->rec.id, j->rec.attempt, "error", why) < 0)
        say(x, "job %" PRId64 ": store: %s", j->rec.id, assay_error_last()->message);
    job_finished(x, j, "error", why);
    x->done++;
    job_state(x, j, JS_STOPPING, why);
    host_state(x, h, HS_DOWN, "a new connection to stop the job");
    h->retry_at = 0;
}

/* The controller could not store what arrived (its disk is full, say):
 * neither the job's nor the host's fault. Nothing is lost: the agent keeps
 * every event and log, so the job goes back to where it can resume in a
 * few seconds, until there is space again. */
static void job_pause(struct ctx *x, struct host *h, const char *msg)
{
    struct job *j = h->job;
    say(x, "job %" PRId64 " on %s: cannot store: %s; trying again in 5s", j->rec.id, h->rec.name, msg);
    drop_conn(x, h);
    j->resume = resume_state(j);
    job_state(x, j, JS_WAITING, "paused");
    host_state(x, h, HS_DOWN, "paused for the controller's store");
    h->retry_at = now_s() + 5;
}

/* The store no longer has the job running here (it ended or was taken
 * meanwhile, by a cancel or another dispatcher): forget it. */
static void job_drop(struct ctx *x, struct host *h, const char *msg)
{
    say(x, "job %" PRId64 " on %s: dropped: %s", h->job->rec.id, h->rec.name, msg);
    drop_conn(x, h);
    job_state(x, h->job, JS_DONE, "dropped");
    job_free(x, h->job);
    h->job = NULL;
    host_state(x, h, HS_IDLE, NULL);
}

/* ---- a host --------------------------------------------------------------- */

static void drive_host(struct ctx *x, struct host *h)
{
    if (h->state == HS_DISABLED || h->state == HS_QUARANTINED || (h->state == HS_DOWN && now_s() < h->retry_at))
        return;
    if (!h->job && !x->o->gc_only && check_due(h))
        h->checking = 1;
    if (!h->job && !h->checking)
        gc_due(x, h);
    if (h->job && h->gx) {
        /* A job resumed onto the host: it comes first; the removal is
         * looked for again later. */
        x->t->exec_free(h->gx);
        h->gx = NULL;
        h->cleaning = 0;
    }
    if (!h->job && h->state != HS_CONNECTING && !h->checking && !h->cleaning)
        return; /* connections are made for work, health checks and removals */
    if (!h->conn) {
        assay_conn_opts co = {.address = h->rec.address, .port = h->rec.port, .user = h->rec.user,
                              .identity = h->rec.identity, .hostkey = h->rec.hostkey, .tofu = h->rec.tofu,
                              .keepalive_s = x->o->silence_s >= 8 ? (int)(x->o->silence_s / 4) : 2};
        if (x->t->conn_new(&h->conn, &co, x->t->arg) < 0) {
            host_down(x, h, assay_error_last()->message);
            return;
        }
        host_state(x, h, HS_CONNECTING, NULL);
    }
    if (h->state == HS_CONNECTING || h->state == HS_DOWN || h->state == HS_IDLE) {
        int rc = x->t->conn_open(h->conn);
        if (rc == ASSAY_SSH_AGAIN) {
            host_state(x, h, HS_CONNECTING, NULL);
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
            snprintf(h->rec.hostkey, sizeof h->rec.hostkey, "%s", x->t->conn_hostkey(h->conn));
            assay_store_host_set_key(x->lab->store, h->rec.name, h->rec.hostkey);
            fprintf(x->o->out, "assay: host %s: trusted on first use: host key %s is now pinned\n", h->rec.name,
                    h->rec.hostkey);
        }
        host_state(x, h, HS_READY, h->down_since ? "back" : NULL);
        h->down_since = 0;
        h->backoff = 0;
    }
    if (!h->job) {
        if (h->checking)
            drive_check(x, h);
        else if (h->cleaning)
            drive_gc(x, h);
        return;
    }
    int rc = job_drive(x, h->job);
    if (rc >= 0 || !h->job)
        return;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", assay_error_last()->message);
    switch (rc) {
    case ASSAY_EHOST:
    case ASSAY_EHOSTKEY:
    case ASSAY_EAUTH:
        host_down(x, h, msg);
        break;
    case ASSAY_EPROTO:
        job_protocol_error(x, h, msg);
        break;
    case ASSAY_ESTATE:
        job_drop(x, h, msg);
        break;
    default:
        job_pause(x, h, msg);
        break;
    }
}

/* The checks of the clock for one host: silence, idleness, age, and how
 * long it has been down. */
static void watch_host(struct ctx *x, struct host *h)
{
    const assay_dispatch_opts *o = x->o;
    /* A connection that has gone silent (the host hung, the network lost
     * without a reset) is dead, however long TCP would wait. */
    if (h->conn && (h->state == HS_CONNECTING || (h->state == HS_READY && (h->job || host_cmd_busy(h)))) &&
        x->t->conn_silent_s(h->conn) > o->silence_s) {
        char why[160];
        snprintf(why, sizeof why, "no answer for %.0fs (host hung or network lost)", x->t->conn_silent_s(h->conn));
        host_down(x, h, why);
    }
    /* A connection without work for 10 s is closed: nothing reads it or
     * keeps it alive, and the host's sshd may drop it. */
    if (!h->job && !host_cmd_busy(h) && h->conn && h->state == HS_READY) {
        if (!h->idle_since) {
            h->idle_since = now_s();
        } else if (now_s() - h->idle_since > 10) {
            drop_conn(x, h);
            host_state(x, h, HS_IDLE, "idle for 10s");
            h->idle_since = 0;
        }
    } else {
        h->idle_since = 0;
    }
    /* A new connection every half hour of attaching (see
     * assay_conn_age_s); the attach resumes where it was. */
    if (h->job && h->job->state == JS_STREAMING && !h->job->xc && h->state == HS_READY &&
        x->t->conn_age_s(h->conn) > 1800) {
        say(x, "host %s: a fresh connection (the old one is 30 minutes old)", h->rec.name);
        drop_conn(x, h);
        h->job->resume = resume_state(h->job);
        job_state(x, h->job, JS_WAITING, "a fresh connection");
        host_state(x, h, HS_DOWN, "a fresh connection");
        h->retry_at = 0;
    }
    /* A host down past the limit fails its job over. */
    if (h->job && h->state == HS_DOWN && h->down_since && now_s() - h->down_since > o->unreachable_s) {
        if (h->job->resume == JS_STOPPING) {
            job_free(x, h->job); /* ended in the store already; the host is gone */
            h->job = NULL;
        } else {
            char why[700];
            snprintf(why, sizeof why, "host %s unreachable for %.0fs: %s", h->rec.name, now_s() - h->down_since,
                     h->last_error);
            job_failover(x, h, why);
        }
    }
}

/* ---- progress ------------------------------------------------------------ */

/* On a terminal, a table of what runs now, redrawn in place; above it,
 * printed once and left in the scrollback, every job that ended, with its
 * verdict and failing steps; at the end, a recap per run. Text that came
 * from hosts, agents or vendors goes through the terminal writer
 * (markup.c). Piped, none of this: say()'s timestamped lines. */

#define SGR_RESET "\033[0m"
#define SGR_BOLD "\033[1m"
#define SGR_RED "\033[31m"
#define SGR_GREEN "\033[32m"
#define SGR_YELLOW "\033[33m"

static const char *sgr(const struct ctx *x, const char *code)
{
    return x->o->color ? code : "";
}

static const char *outcome_sgr(const struct ctx *x, const char *outcome)
{
    return sgr(x, !strcmp(outcome, "passed") ? SGR_GREEN : !strcmp(outcome, "canceled") ? SGR_YELLOW : SGR_RED);
}

/* 12s, 4m05s, 2h03m */
static const char *span(char *out, size_t len, double s)
{
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t < 60)
        snprintf(out, len, "%lds", t);
    else if (t < 3600)
        snprintf(out, len, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(out, len, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
    return out;
}

/* One line for the scrollback, printed at the next draw. */
static void scroll_add(struct ctx *x, const char *line)
{
    if (!x->o->tty)
        return;
    char **ns = realloc(x->scroll, (x->nscroll + 1) * sizeof *ns);
    if (!ns)
        return; /* the line is lost, the run is not */
    x->scroll = ns;
    if ((x->scroll[x->nscroll] = strdup(line)))
        x->nscroll++;
}

void job_finished(struct ctx *x, const struct job *j, const char *outcome, const char *reason)
{
    /* The recap and the scrollback are a terminal's: a dispatcher logging
     * to a file for months keeps neither. */
    if (!x->o->tty)
        return;
    struct recap *nr = realloc(x->recap, (x->nrecap + 1) * sizeof *nr);
    if (nr) {
        x->recap = nr;
        struct recap *r = &x->recap[x->nrecap++];
        memset(r, 0, sizeof *r);
        r->run_id = j->rec.run_id;
        r->job_id = j->rec.id;
        snprintf(r->host, sizeof r->host, "%s", j->host->rec.name);
        snprintf(r->profile, sizeof r->profile, "%s", j->rec.profile);
        snprintf(r->outcome, sizeof r->outcome, "%s", outcome);
        snprintf(r->failed, sizeof r->failed, "%s", j->failed);
    }
    char host[200], prof[300], failed[700], why[1100], el[32], line[2600];
    assay_markup_term(host, sizeof host, j->host->rec.name, 0);
    assay_markup_term(prof, sizeof prof, j->rec.profile, 0);
    assay_markup_term(failed, sizeof failed, j->failed, 0);
    assay_markup_term(why, sizeof why, reason, 0);
    snprintf(line, sizeof line, "job %" PRId64 " on %s (%s): %s%s%s%s%s%s%s%s in %s", j->rec.id, host, prof,
             outcome_sgr(x, outcome), sgr(x, SGR_BOLD), outcome, sgr(x, SGR_RESET), failed[0] ? " at " : "", failed,
             why[0] ? ": " : "", why, span(el, sizeof el, now_s() - j->started));
    scroll_add(x, line);
}

void job_retried(struct ctx *x, const struct job *j, const char *why)
{
    char host[200], w[1100], line[1500];
    if (!x->o->tty)
        return;
    assay_markup_term(host, sizeof host, j->host->rec.name, 0);
    assay_markup_term(w, sizeof w, why, 0);
    snprintf(line, sizeof line, "job %" PRId64 " on %s: %sinfrastructure error%s, queued again: %s", j->rec.id, host,
             sgr(x, SGR_YELLOW), sgr(x, SGR_RESET), w);
    scroll_add(x, line);
}

static void draw(struct ctx *x)
{
    if (!x->o->tty)
        return;
    FILE *f = x->o->out;
    for (int i = 0; i < x->drawn_lines; i++)
        fputs("\033[1A\033[2K", f);
    for (size_t i = 0; i < x->nscroll; i++) {
        fprintf(f, "%s\n", x->scroll[i]);
        free(x->scroll[i]);
    }
    x->nscroll = 0;
    int lines = 0;
    size_t active = 0;
    double t = now_s();
    /* The free text at the end of a line gets what the terminal has left
     * after the line's fixed part (19 and 37 columns). */
    int cols = x->o->cols > 0 ? x->o->cols : 120;
    size_t why_w = cols - 20 < 20 ? 20 : cols - 20 > 100 ? 100 : (size_t)(cols - 20);
    size_t host_w = cols - 38 < 20 ? 20 : cols - 38 > 60 ? 60 : (size_t)(cols - 38);
    char c1[200], c2[300], c3[600], e1[32], e2[32], e3[32];
    for (size_t k = 0; k < x->nhosts; k++) {
        struct host *h = x->hosts[k];
        if (h->job) {
            struct job *j = h->job;
            char step[40] = "", clock[80];
            active++;
            if (j->stepk && j->nsteps)
                snprintf(step, sizeof step, "step %d/%d", j->stepk, j->nsteps);
            if (j->stepk && j->step_timeout > 0) {
                double se = t - j->step_started;
                snprintf(clock, sizeof clock, "%s%s/%s%s", se > 0.8 * j->step_timeout ? sgr(x, SGR_YELLOW) : "",
                         span(e1, sizeof e1, se), span(e2, sizeof e2, j->step_timeout),
                         se > 0.8 * j->step_timeout ? sgr(x, SGR_RESET) : "");
            } else {
                snprintf(clock, sizeof clock, "%s", span(e3, sizeof e3, t - j->started));
            }
            fprintf(f, "  job %-5" PRId64 " %s %s %-10s %-13s%s%s%s\n", j->rec.id,
                    assay_markup_term(c1, sizeof c1, h->rec.name, 14), assay_markup_term(c3, sizeof c3, j->cur, 24),
                    step, clock, h->state == HS_DOWN ? sgr(x, SGR_YELLOW) : "",
                    h->state == HS_DOWN ? "  (host down, retrying)" : "", h->state == HS_DOWN ? sgr(x, SGR_RESET) : "");
        } else if (h->state == HS_DOWN || h->state == HS_DISABLED || h->state == HS_QUARANTINED) {
            const char *why = h->state == HS_DISABLED ? h->rec.disabled
                              : h->state == HS_QUARANTINED ? h->rec.quarantined
                                                           : h->last_error;
            fprintf(f, "  %s %s%s%s: %s\n", assay_markup_term(c1, sizeof c1, h->rec.name, 20), sgr(x, SGR_RED),
                    h->state == HS_DOWN ? "down" : h->state == HS_DISABLED ? "disabled" : "quarantined",
                    sgr(x, SGR_RESET), assay_markup_term(c3, sizeof c3, why, host_w));
        } else {
            continue;
        }
        lines++;
    }
    for (int i = 0; i < x->nunplaced; i++) {
        fprintf(f, "  job %-5" PRId64 " %swaits%s: %s\n", x->unplaced[i].id, sgr(x, SGR_YELLOW), sgr(x, SGR_RESET),
                assay_markup_term(c2, sizeof c2, x->unplaced[i].why, why_w));
        lines++;
    }
    size_t total = x->done + active;
    int width = 30, fill = total ? (int)(width * x->done / total) : 0;
    fprintf(f, "  [%.*s%*s] %zu done, %zu running\n", fill, "##############################", width - fill, "",
            x->done, active);
    x->drawn_lines = lines + 1;
    fflush(f);
}

/* Like ansible's PLAY RECAP: per run, per host and profile, how many jobs
 * passed, failed and erred here, and the steps that failed. */
static void recap(struct ctx *x)
{
    if (!x->o->tty || !x->nrecap)
        return;
    FILE *f = x->o->out;
    char *seen = calloc(x->nrecap, 1);
    if (!seen)
        return;
    for (size_t i = 0; i < x->nrecap; i++) {
        if (seen[i] == 2)
            continue;
        int64_t run = x->recap[i].run_id;
        fprintf(f, "%sRUN %" PRId64 " RECAP%s\n", sgr(x, SGR_BOLD), run, sgr(x, SGR_RESET));
        for (size_t a = i; a < x->nrecap; a++) {
            if (seen[a] || x->recap[a].run_id != run)
                continue;
            int passed = 0, failed = 0, error = 0, canceled = 0;
            char names[600] = "";
            for (size_t b = a; b < x->nrecap; b++) {
                const struct recap *r = &x->recap[b];
                if (seen[b] || r->run_id != run || strcmp(r->host, x->recap[a].host) ||
                    strcmp(r->profile, x->recap[a].profile))
                    continue;
                seen[b] = 1;
                passed += !strcmp(r->outcome, "passed");
                failed += !strcmp(r->outcome, "failed");
                canceled += !strcmp(r->outcome, "canceled");
                error += strcmp(r->outcome, "passed") && strcmp(r->outcome, "failed") && strcmp(r->outcome, "canceled");
                if (r->failed[0]) {
                    size_t l = strlen(names);
                    snprintf(names + l, sizeof names - l, "%sjob %" PRId64 ": %s", l ? "; " : "", r->job_id, r->failed);
                }
            }
            char c1[200], c2[300], c3[1800];
            fprintf(f, "  %s %s %spassed=%d%s %sfailed=%d%s %serror=%d%s", assay_markup_term(c1, sizeof c1, x->recap[a].host, 16),
                    assay_markup_term(c2, sizeof c2, x->recap[a].profile, 32), passed ? sgr(x, SGR_GREEN) : "", passed,
                    passed ? sgr(x, SGR_RESET) : "", failed ? sgr(x, SGR_RED) : "", failed, failed ? sgr(x, SGR_RESET) : "",
                    error ? sgr(x, SGR_RED) : "", error, error ? sgr(x, SGR_RESET) : "");
            if (canceled)
                fprintf(f, " canceled=%d", canceled);
            if (names[0])
                fprintf(f, "  failed: %s", assay_markup_term(c3, sizeof c3, names, 0));
            fputc('\n', f);
        }
        for (size_t a = i; a < x->nrecap; a++)
            if (x->recap[a].run_id == run)
                seen[a] = 2;
    }
    free(seen);
    fflush(f);
}

/* ---- the store's WAL, outside the loop ------------------------------------ */

/* The loop's connection never checkpoints (wal_autocheckpoint is off for
 * it): a thread with a connection of its own does, every second, so a
 * commit in the loop is a WAL append and its sync, never a checkpoint. */
struct checkpointer {
    pthread_t t;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    char dir[4200];
};

static void *checkpoint_main(void *arg)
{
    struct checkpointer *c = arg;
    assay_store *st = NULL;
    if (assay_store_open(&st, c->dir, 0) < 0)
        return NULL;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        assay_store_checkpoint(st, 0);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    assay_store_checkpoint(st, 1);
    assay_store_close(st);
    return NULL;
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
    if (o.host_cmd_timeout_s <= 0)
        o.host_cmd_timeout_s = 600;
    if (o.gc_only)
        o.once = 1;
    struct ctx x = {.lab = lab, .o = &o, .t = o.transport ? o.transport : &assay_transport_ssh, .data_version = -1};
    /* The lab's settings: whole numbers (assay config set checks them). */
    x.health_interval = (double)assay_lab_setting(lab, "hosts.health_interval", 1, UINT32_MAX, 600);
    x.quarantine_after = (int)assay_lab_setting(lab, "hosts.quarantine_after", 1, 999999, 3);
    x.retention_s = (double)assay_lab_setting(lab, "hosts.job_retention_days", 0, 36500, 7) * 86400;
    assay_error_clear();
    stop_requested = 0;
    if (o.stopped_by)
        *o.stopped_by = 0;
    struct pollfd *pfd = NULL;
    int rc = 0;

    struct sigaction sa = {.sa_handler = on_stop};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The loop waits at most this long for another writer of the store. */
    assay_store_set_busy_ms(lab->store, 50);
    struct checkpointer cp = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    snprintf(cp.dir, sizeof cp.dir, "%s", lab->dir);
    if (assay_store_autocheckpoint(lab->store, 0) == 0)
        cp.started = pthread_create(&cp.t, NULL, checkpoint_main, &cp) == 0;
    if (!cp.started)
        assay_store_autocheckpoint(lab->store, 1000);

    for (;;) {
        double t = now_s();
        if (stop_requested) {
            say(&x, "stopping: jobs keep running on their hosts; the next dispatch re-attaches");
            if (o.stopped_by)
                *o.stopped_by = stop_requested;
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
        int pending = 0;
        for (size_t k = 0; k < x.nhosts; k++) {
            struct host *h = x.hosts[k];
            drive_host(&x, h);
            watch_host(&x, h);
            pending |= h->job && h->job->nbatch;
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
        double wake = pending ? now_s() + 0.05 : x.next_poll;
        for (size_t k = 0; k < x.nhosts; k++) {
            struct host *h = x.hosts[k];
            if (h->conn && (h->state == HS_CONNECTING || (h->state == HS_READY && (h->job || host_cmd_busy(h))))) {
                int next;
                if (x.t->conn_keepalive(h->conn, &next) < 0) {
                    host_down(&x, h, assay_error_last()->message);
                    continue;
                }
                x.t->conn_pollfd(h->conn, &pfd[nf]);
                if (pfd[nf].fd >= 0)
                    nf++;
            }
            if (h->state == HS_DOWN && h->job && h->retry_at < wake)
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
    if (o.tty && stop_requested) {
        size_t running = 0;
        for (size_t k = 0; k < x.nhosts; k++)
            running += x.hosts[k]->job != NULL;
        fprintf(o.out, "detached: %zu job%s keep%s running on %s host%s; assay dispatch re-attaches\n", running,
                running == 1 ? "" : "s", running == 1 ? "s" : "", running == 1 ? "its" : "their", running == 1 ? "" : "s");
    }
    recap(&x);
    if (o.dirs_removed)
        *o.dirs_removed = x.dirs_removed;
    if (o.dirs_failed)
        *o.dirs_failed = x.dirs_failed;
    free(x.recap);
    for (size_t i = 0; i < x.nscroll; i++)
        free(x.scroll[i]);
    free(x.scroll);
    hosts_free(&x);
    free(pfd);
    if (cp.started) {
        pthread_mutex_lock(&cp.mu);
        cp.stop = 1;
        pthread_cond_signal(&cp.cv);
        pthread_mutex_unlock(&cp.mu);
        pthread_join(cp.t, NULL);
    }
    assay_store_autocheckpoint(lab->store, 1000);
    assay_store_set_busy_ms(lab->store, 10000);
    return rc;
}
