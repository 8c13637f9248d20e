/* An agent job's events against its spec; see jobcheck.h. */
#include "jobcheck.h"
#include "crypto.h"
#include "assay/error.h"
#include "assay/evmac.h"
#include "assay/json.h"
#include "assay/proto.h"
#include "assay/spec.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct assay_jobcheck {
    assay_spec *sp;
    int keyed;
    unsigned char key[ASSAY_EVMAC_KEY];
    size_t i;           /* the next step to start or skip */
    int run;            /* its next run, from 1 */
    int open;           /* step i's run has started and not ended */
    int samples;        /* a benchmark's samples so far (warm-up runs are not) */
    double mean, m2;    /* their running mean and sum of squared deviations */
    const char *skip;   /* why tests and benchmarks are skipped from now on */
    int install_passed; /* the install step ended with pass */
    int inspected;
    int aborted;        /* a job-level error: the agent skips whatever is left */
    int canceled;
    int errors;         /* error events */
    int pass, fail, error, skipped;
    int ended, spent;
    int64_t seq;
    uint64_t live[2];   /* the open step run's live output so far, per stream */
    uint64_t live_job;  /* the job's, every run's */
};

int assay_jobcheck_new(assay_jobcheck **out, const char *spec, const unsigned char *key)
{
    assay_jobcheck *c = calloc(1, sizeof *c);
    if (!c)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    int rc = assay_spec_parse(&c->sp, spec, strlen(spec));
    if (rc < 0) {
        free(c);
        return assay_error_wrap("the job spec sent");
    }
    if (key) {
        memcpy(c->key, key, ASSAY_EVMAC_KEY);
        c->keyed = 1;
    }
    c->run = 1;
    *out = c;
    return 0;
}

const struct assay_spec *assay_jobcheck_spec(const assay_jobcheck *c)
{
    return c->sp;
}

void assay_jobcheck_free(assay_jobcheck *c)
{
    if (!c)
        return;
    explicit_bzero(c->key, sizeof c->key);
    assay_spec_free(c->sp);
    free(c);
}

int assay_jobcheck_ended(const assay_jobcheck *c)
{
    return c->ended;
}

/* 1 if the line ends with the MAC of the job's key over the line without
 * it (assay/evmac.h); -1 if it has no MAC field at its end; 0 if the MAC
 * is wrong. */
static int mac_check(const assay_jobcheck *c, const char *line, size_t len)
{
    static const char head[] = ",\"mac\":\"";
    if (len < ASSAY_EVMAC_SUFFIX + 2)
        return -1;
    const char *m = line + len - ASSAY_EVMAC_SUFFIX;
    if (memcmp(m, head, 8) != 0 || memcmp(line + len - 2, "\"}", 2) != 0)
        return -1;
    unsigned char want[32], got[32];
    for (int k = 0; k < 64; k++) {
        char h = m[8 + k];
        int v = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
        if (v < 0)
            return 0;
        got[k / 2] = (unsigned char)(k % 2 ? (got[k / 2] | v) : v << 4);
    }
    /* The MAC covers the line as it was: up to the mac field, then '}'. */
    assay_hmac_sha256_2(want, c->key, ASSAY_EVMAC_KEY, line, len - ASSAY_EVMAC_SUFFIX, "}", 1);
    unsigned char diff = 0; /* in constant time: no byte-by-byte oracle */
    for (int k = 0; k < 32; k++)
        diff |= (unsigned char)(want[k] ^ got[k]);
    return diff == 0;
}

static int bad(assay_jobcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(assay_jobcheck *c, const char *fmt, ...)
{
    c->spent = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return assay_error_set(ASSAY_EPROTO, "event %" PRId64 ": %s", c->seq, msg);
}

/* The verdict the protocol gives a step run that ended this way. */
static const char *computed_verdict(const assay_step *st, const cJSON *ev, char *why, size_t whylen)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(ev, "exit_code");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(ev, "signal");
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "timed_out"))) {
        snprintf(why, whylen, "it timed out");
        return "fail";
    }
    if (cJSON_IsString(sig)) {
        snprintf(why, whylen, "it was killed by a signal");
        return "fail";
    }
    if (!cJSON_IsNumber(code)) {
        snprintf(why, whylen, "it has no exit status");
        return "error";
    }
    if (code->valuedouble != st->expect_exit) {
        snprintf(why, whylen, "it exited %g, expected %d", code->valuedouble, st->expect_exit);
        return "fail";
    }
    if (st->kind == ASSAY_STEP_BENCH && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ev, "value"))) {
        snprintf(why, whylen, "a benchmark run without a value (unit %s)", st->unit);
        return "fail";
    }
    snprintf(why, whylen, "it exited %d as expected", st->expect_exit);
    return "pass";
}

static void count(assay_jobcheck *c, const char *verdict)
{
    if (!strcmp(verdict, "pass"))
        c->pass++;
    else if (!strcmp(verdict, "fail"))
        c->fail++;
    else if (!strcmp(verdict, "error"))
        c->error++;
    else
        c->skipped++;
}

static int step_start(assay_jobcheck *c, const cJSON *ev, const char *step)
{
    if (c->open)
        return bad(c, "step-start of %s while %s has not ended", step, c->sp->steps[c->i].id);
    if (c->i >= c->sp->nsteps)
        return bad(c, "step-start of %s after the last step of the job", step);
    const assay_step *st = &c->sp->steps[c->i];
    if (strcmp(step, st->id))
        return bad(c, "step-start of %s, but the next step of the job is %s", step, st->id);
    if (strcmp(assay_json_str(ev, "kind"), assay_step_kind_name(st->kind)))
        return bad(c, "step-start of %s with another kind than the spec's (%s)", step,
                   assay_step_kind_name(st->kind));
    if (assay_json_num(ev, "run") != c->run)
        return bad(c, "step-start of %s with a run number out of order", step);
    if (st->kind == ASSAY_STEP_BENCH && c->run > st->repeat.warmup + st->repeat.max)
        return bad(c, "step-start of %s: run %d, more than the spec allows (%d)", step, c->run,
                   st->repeat.warmup + st->repeat.max);
    if (!c->canceled && (st->kind == ASSAY_STEP_TEST || st->kind == ASSAY_STEP_BENCH) && (c->skip || c->aborted))
        return bad(c, "step %s started although it must be skipped (%s)", step,
                   c->skip ? c->skip : "the job had an error");
    c->open = 1;
    c->live[0] = c->live[1] = 0;
    return 0;
}

/*
 * Live output of the open step run (docs/protocol.md): never a benchmark's,
 * each stream's chunks in order from offset 0 without a gap, each 1 to
 * ASSAY_LIVE_CHUNK bytes of base64, ASSAY_LIVE_MAX bytes per stream at most.
 * It is shown, never judged: nothing here changes a verdict.
 */
static int output(assay_jobcheck *c, const cJSON *ev, const char *step)
{
    if (!c->open || c->i >= c->sp->nsteps || strcmp(step, c->sp->steps[c->i].id))
        return bad(c, "output of %.64s, which is not the step running", step);
    const assay_step *st = &c->sp->steps[c->i];
    if (st->kind == ASSAY_STEP_BENCH)
        return bad(c, "output of %s, a benchmark (its runs have no live output)", step);
    if (assay_json_num(ev, "run") != c->run)
        return bad(c, "output of %s for another run than the one running", step);
    const char *stream = assay_json_str(ev, "stream"), *off = assay_json_str(ev, "offset"),
               *data = assay_json_str(ev, "data");
    int k = !strcmp(stream, "stdout") ? 0 : !strcmp(stream, "stderr") ? 1 : -1;
    if (k < 0)
        return bad(c, "output of %s on a stream that is neither stdout nor stderr", step);
    char want[24];
    snprintf(want, sizeof want, "%" PRIu64, c->live[k]);
    if (strcmp(off, want))
        return bad(c, "output of %s: %s at offset '%.24s', expected %s", step, stream, off, want);
    size_t dl = strlen(data), n = 0;
    /* standard base64 with its padding, as a browser's atob() takes it */
    int std = dl % 4 == 0 && !strpbrk(data, "-_");
    unsigned char *raw = std && dl && dl <= (ASSAY_LIVE_CHUNK + 2) / 3 * 4 ? assay_base64_decode(data, dl, &n) : NULL;
    int decoded = raw != NULL;
    free(raw);
    if (!decoded || n == 0 || n > ASSAY_LIVE_CHUNK)
        return bad(c, "output of %s: \"data\" is not 1 to %d bytes in base64", step, ASSAY_LIVE_CHUNK);
    if (c->live[k] + n > ASSAY_LIVE_MAX)
        return bad(c, "output of %s: more than the %d bytes of live output a stream may have", step, ASSAY_LIVE_MAX);
    if (c->live_job + n > ASSAY_LIVE_JOB_MAX)
        return bad(c, "output of %s: more than the %d bytes of live output a job may have", step, ASSAY_LIVE_JOB_MAX);
    c->live[k] += n;
    c->live_job += n;
    return 0;
}

/*
 * A benchmark's run: a sample or a warm-up run, as the spec says; its last
 * run carries why it stopped, and the reason must be one its spec and its
 * samples allow (docs/protocol.md). 1: the benchmark ended; 0: it runs
 * again; < 0: a violation.
 */
static int bench_run(assay_jobcheck *c, const assay_step *st, const cJSON *ev, const char *step,
                     const char *verdict)
{
    const assay_repeat *r = &st->repeat;
    int warm = c->run <= r->warmup;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "warmup")) != warm)
        return bad(c, "step-end of %s: run %d %s a warm-up run", step, c->run, warm ? "is" : "is not");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, "value");
    if (!warm && cJSON_IsNumber(v)) {
        c->samples++;
        double d = v->valuedouble - c->mean;
        c->mean += d / c->samples;
        c->m2 += d * (v->valuedouble - c->mean);
    }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(ev, "stop");
    if (!stop) {
        if (c->run >= r->warmup + r->max)
            return bad(c, "step-end of %s: its last run does not say why the benchmark stopped", step);
        if (c->canceled)
            return bad(c, "step-end of %s: canceled, and the benchmark does not stop", step);
        return 0;
    }
    const char *why = assay_json_str(stop, "reason");
    double rse = assay_repeat_rse(c->samples, c->mean, c->m2);
    int ok;
    if (!strcmp(why, "canceled")) {
        ok = 1;
        c->canceled = 1; /* and the job can only end canceled */
    } else if (!strcmp(why, "count")) {
        ok = !r->adaptive && c->run == r->warmup + r->max;
    } else if (!strcmp(why, "max")) {
        ok = r->adaptive && c->samples >= r->max;
    } else if (!strcmp(why, "failed")) {
        ok = r->adaptive && strcmp(verdict, "pass");
    } else if (!strcmp(why, "stable")) {
        /* Recomputed here: a stop the samples do not support is refused.
         * The margin covers the agent's and this sum's rounding only. */
        ok = r->adaptive && r->target_rse > 0 && c->samples >= r->min && rse <= r->target_rse * (1 + 1e-9);
    } else if (!strcmp(why, "budget")) {
        ok = r->adaptive && r->budget_s > 0 && c->samples < r->max;
    } else {
        ok = 0;
    }
    if (!ok)
        return bad(c, "step-end of %s: stopped as '%.20s' after %d samples, which its spec does not allow", step,
                   why, c->samples);
    if (assay_json_num(stop, "samples") != c->samples)
        return bad(c, "step-end of %s: the stop counts %g samples, the events %d", step, assay_json_num(stop, "samples"),
                   c->samples);
    return 1;
}

static void advance(assay_jobcheck *c)
{
    c->open = 0;
    c->i++;
    c->run = 1;
    c->samples = 0;
    c->mean = c->m2 = 0;
}

static int step_end(assay_jobcheck *c, const cJSON *ev, const char *step)
{
    const char *verdict = assay_json_str(ev, "verdict"), *reason = assay_json_str(ev, "reason");
    if (c->i >= c->sp->nsteps)
        return bad(c, "step-end of %s after the last step of the job", step);
    const assay_step *st = &c->sp->steps[c->i];
    if (strcmp(step, st->id))
        return bad(c, "step-end of %s, but the job's step now is %s", step, st->id);
    if (strcmp(assay_json_str(ev, "kind"), assay_step_kind_name(st->kind)))
        return bad(c, "step-end of %s with another kind than the spec's (%s)", step,
                   assay_step_kind_name(st->kind));
    if (!strcmp(verdict, "skipped")) {
        if (c->open)
            return bad(c, "step %s is reported skipped after it started", step);
        if (!strcmp(reason, "canceled"))
            c->canceled = 1;
        int body = st->kind == ASSAY_STEP_TEST || st->kind == ASSAY_STEP_BENCH;
        if (!c->canceled && !c->aborted && !(body && c->skip))
            return bad(c, "step %s is reported skipped, which nothing in the job allows (%.200s)", step, reason);
        count(c, verdict);
        advance(c);
        return 0;
    }
    if (!c->open)
        return bad(c, "step-end of %s without its step-start", step);
    if (assay_json_num(ev, "run") != c->run)
        return bad(c, "step-end of %s with a run number out of order", step);
    const cJSON *ee = cJSON_GetObjectItemCaseSensitive(ev, "expect_exit");
    if (ee && (!cJSON_IsNumber(ee) || ee->valuedouble != st->expect_exit))
        return bad(c, "step-end of %s names another expected exit status than the spec", step);
    if (!strcmp(verdict, "error") && !strcmp(reason, "canceled")) {
        c->canceled = 1;
    } else {
        char why[128];
        const char *want = computed_verdict(st, ev, why, sizeof why);
        if (strcmp(verdict, want)) {
            char what[200];
            snprintf(what, sizeof what, "%.40s is %.20s, but %.100s", step, verdict, why);
            return bad(c, "step-end of %s: the verdict must be %s", what, want);
        }
    }
    count(c, verdict);
    if (st->kind == ASSAY_STEP_INSTALL) {
        c->install_passed = !strcmp(verdict, "pass");
        if (!c->install_passed)
            c->skip = "install failed";
    }
    if (st->kind == ASSAY_STEP_BENCH) {
        int rc = bench_run(c, st, ev, step, verdict);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            c->open = 0;
            c->run++;
            return 0;
        }
    }
    advance(c);
    return 0;
}

static int inspect(assay_jobcheck *c, const cJSON *ev)
{
    const assay_step *prev = c->i > 0 ? &c->sp->steps[c->i - 1] : NULL;
    if (c->open || c->inspected || !c->install_passed || !prev || prev->kind != ASSAY_STEP_INSTALL ||
        c->sp->ninspect == 0)
        return bad(c, "an inspect event where the job has none (after a passing install, once, when the spec "
                      "names files)");
    c->inspected = 1;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(ev, "result");
    if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "errors")))
        return bad(c, "an inspect event without its error count");
    if (c->sp->stop_on_inspect_error && assay_json_num(r, "errors") > 0)
        c->skip = "preflight errors on the host";
    return 0;
}

static int job_end(assay_jobcheck *c, const cJSON *ev)
{
    const char *outcome = assay_json_str(ev, "outcome");
    c->ended = 1;
    /* An error or a cancel is never a pass: the agent may end a job so at
     * any point (a supervisor lost, an artifact missing, a cancel). */
    if (!strcmp(outcome, "error") || !strcmp(outcome, "canceled"))
        return 0;
    if (strcmp(outcome, "passed") && strcmp(outcome, "failed"))
        return bad(c, "job-end with outcome '%.40s'", outcome);
    if (c->open || c->i < c->sp->nsteps)
        return bad(c, "job-end (%s) before the job's step %s ended", outcome,
                   c->sp->steps[c->i < c->sp->nsteps ? c->i : c->sp->nsteps - 1].id);
    const char *want = c->canceled ? "canceled" : c->errors || c->error || c->aborted ? "error"
                                              : c->fail                          ? "failed"
                                                                                 : "passed";
    if (strcmp(outcome, want))
        return bad(c, "job-end says %s, but its steps make it %s", outcome, want);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(ev, "counts");
    if (!cJSON_IsObject(n) || assay_json_num(n, "pass") != c->pass || assay_json_num(n, "fail") != c->fail ||
        assay_json_num(n, "error") != c->error || assay_json_num(n, "skipped") != c->skipped)
        return bad(c, "job-end counts are not those of its steps");
    return 0;
}

int assay_jobcheck_event(assay_jobcheck *c, const char *line, size_t len, const cJSON *ev)
{
    const char *type = assay_json_str(ev, "type"), *step = assay_json_str(ev, "step");
    c->seq = (int64_t)assay_json_num(ev, "seq");
    if (c->spent)
        return assay_error_set(ASSAY_EPROTO, "event %" PRId64 ": after a protocol violation", c->seq);
    if (c->ended)
        return bad(c, "a %s after the job-end", type);
    if (c->keyed) {
        int m = mac_check(c, line, len);
        /* attach ends a job whose supervisor died, without the key: such
         * an error and job-end can only make the job an error. */
        int recovery = !strcmp(type, "error") ||
                       (!strcmp(type, "job-end") && !strcmp(assay_json_str(ev, "outcome"), "error"));
        if (m != 1 && !recovery)
            return bad(c, "a %s that %s: not written by the job's supervisor", type,
                       m < 0 ? "does not carry the job's MAC" : "carries a MAC that does not verify");
    }
    if (!strcmp(type, "job-start")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(ev, "steps");
        if (cJSON_IsNumber(n) && n->valuedouble != (double)c->sp->nsteps)
            return bad(c, "job-start counts another number of steps than the spec");
        return 0;
    }
    if (!strcmp(type, "step-start"))
        return step_start(c, ev, step);
    if (!strcmp(type, "step-end"))
        return step_end(c, ev, step);
    if (!strcmp(type, "output"))
        return output(c, ev, step);
    if (!strcmp(type, "inspect"))
        return inspect(c, ev);
    if (!strcmp(type, "error")) {
        c->errors++;
        if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev, "step")))
            c->aborted = 1;
        return 0;
    }
    if (!strcmp(type, "job-end"))
        return job_end(c, ev);
    return bad(c, "an event of type %.40s", type);
}
