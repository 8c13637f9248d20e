/* Adaptation reports; see report.h and docs/report.md. */
#include "report.h"
#include "blob.h"
#include "crypto.h"
#include "manifest.h"
#include "profile.h"
#include "assay/error.h"
#include "assay/json.h"
#include "assay/io.h"
#include "assay/version.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define TEXT_MAX (256u << 20)

/* ---- a growable, capped text buffer -------------------------------------- */

struct sb {
    char *p;
    size_t len, cap;
    int failed;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 4096;
        while (nc < b->len + n + 1)
            nc *= 2;
        char *np = nc <= TEXT_MAX ? realloc(b->p, nc) : NULL;
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    free(big);
}

/* Markup-escape text (HTML and XML alike); drop what XML 1.0 forbids. */
static void sb_esc(struct sb *b, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '&': sb_puts(b, "&amp;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default:
            if (c < 0x20 && c != '\n' && c != '\t' && c != '\r')
                sb_puts(b, "?");
            else
                sb_add(b, (const char *)&c, 1);
        }
    }
}

static int sb_done(struct sb *b, char **out)
{
    if (b->failed || !b->p) {
        free(b->p);
        return assay_error_set(ASSAY_ENOMEM, "report too large or out of memory");
    }
    *out = b->p;
    return 0;
}

/* ---- JSON helpers -------------------------------------------------------- */


static cJSON *dup_or_null(const cJSON *v)
{
    return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int time_unit(const char *u)
{
    return !strcmp(u, "s") || !strcmp(u, "ms") || !strcmp(u, "us") || !strcmp(u, "ns") || !strcmp(u, "min");
}

/* ---- the statement -------------------------------------------------------- */

/* Per-target part of the report, from one job's stored events. */
static cJSON *target_json(assay_lab *lab, const assay_job_rec *j, const assay_manifest *m, const cJSON *pkgpf)
{
    cJSON *t = cJSON_CreateObject(), *evs = NULL, *logs = NULL, *e;
    assay_profile *p = NULL;
    assay_host_rec h;
    cJSON_AddNumberToObject(t, "job", (double)j->id);
    if (assay_profile_load(&p, lab->profiles, j->profile) == 0) {
        cJSON_AddItemToObject(t, "profile", cJSON_Duplicate(p->doc, 1));
        assay_profile_free(p);
    } else {
        cJSON *pp = cJSON_AddObjectToObject(t, "profile");
        cJSON_AddStringToObject(pp, "id", j->profile);
        assay_error_clear();
    }
    cJSON *host = cJSON_AddObjectToObject(t, "host");
    cJSON_AddStringToObject(host, "name", j->host);
    if (j->host[0] && assay_store_host_get(lab->store, j->host, &h) == 0)
        cJSON_AddStringToObject(host, "hostkey", h.hostkey);
    else
        cJSON_AddNullToObject(host, "hostkey");
    assay_error_clear();

    assay_store_job_events(lab->store, j->id, j->attempt, 0, &evs);
    assay_store_job_logs(lab->store, j->id, j->attempt, &logs);
    const cJSON *facts = NULL, *agent = NULL, *inspect = NULL, *end = NULL;
    cJSON *starts = cJSON_CreateObject(); /* step id -> name from step-start */
    cJSON *bodies = cJSON_CreateArray();
    cJSON_ArrayForEach(e, evs)
    {
        cJSON *b = cJSON_Parse(assay_json_str(e, "body"));
        if (!b)
            continue;
        cJSON_AddItemToArray(bodies, b);
        const char *type = assay_json_str(b, "type");
        if (!strcmp(type, "job-start")) {
            facts = cJSON_GetObjectItemCaseSensitive(b, "facts");
            agent = cJSON_GetObjectItemCaseSensitive(b, "agent");
        } else if (!strcmp(type, "inspect")) {
            inspect = cJSON_GetObjectItemCaseSensitive(b, "result");
        } else if (!strcmp(type, "job-end")) {
            end = b;
        } else if (!strcmp(type, "step-start") && !cJSON_GetObjectItemCaseSensitive(starts, assay_json_str(b, "step"))) {
            cJSON_AddStringToObject(starts, assay_json_str(b, "step"), assay_json_str(b, "name"));
        }
    }
    int emulated = facts && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                                cJSON_GetObjectItemCaseSensitive(facts, "emulation"), "emulated"));
    cJSON_AddItemToObject(t, "facts", dup_or_null(facts));
    cJSON_AddBoolToObject(t, "emulated", emulated);
    cJSON *ag = agent ? cJSON_Duplicate(agent, 1) : cJSON_CreateObject();
    cJSON_AddStringToObject(ag, "sha256", j->agent_sha256);
    cJSON_AddItemToObject(t, "agent", ag);
    cJSON *pre = cJSON_AddObjectToObject(t, "preflight");
    /* Before the run, on the package against the profile; during it, on
     * the installed files against the host. */
    const cJSON *pp, *mine = NULL;
    cJSON_ArrayForEach(pp, cJSON_GetObjectItemCaseSensitive(pkgpf, "profiles"))
        if (!strcmp(assay_json_str(pp, "profile"), j->profile))
            mine = pp;
    cJSON_AddItemToObject(pre, "package", dup_or_null(mine));
    cJSON_AddItemToObject(pre, "host", dup_or_null(inspect));

    /* Steps: install, tests, benchmarks, uninstall, each from its step-end. */
    cJSON *steps = cJSON_AddObjectToObject(t, "steps");
    cJSON *tests = cJSON_AddArrayToObject(t, "tests");
    cJSON *benches = cJSON_AddArrayToObject(t, "benchmarks");
    cJSON *bench_by_id = cJSON_CreateObject();
    cJSON *b;
    cJSON_ArrayForEach(b, bodies)
    {
        if (strcmp(assay_json_str(b, "type"), "step-end"))
            continue;
        const char *kind = assay_json_str(b, "kind"), *id = assay_json_str(b, "step");
        const cJSON *m_ = cJSON_GetObjectItemCaseSensitive(b, "metrics");
        const cJSON *lg = cJSON_GetObjectItemCaseSensitive(b, "logs");
        if (!strcmp(kind, "bench")) {
            cJSON *bb = cJSON_GetObjectItemCaseSensitive(bench_by_id, id);
            if (!bb) {
                bb = cJSON_CreateObject();
                cJSON_AddStringToObject(bb, "id", id);
                cJSON_AddStringToObject(bb, "name", assay_json_str(starts, id)[0] ? assay_json_str(starts, id) : id);
                cJSON_AddStringToObject(bb, "unit", assay_json_str(b, "unit")[0] ? assay_json_str(b, "unit") : "");
                cJSON_AddArrayToObject(bb, "samples");
                cJSON_AddArrayToObject(bb, "verdicts");
                cJSON_AddItemToObject(bench_by_id, id, bb);
            }
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "value");
            if (cJSON_IsNumber(v))
                cJSON_AddItemToArray(cJSON_GetObjectItem(bb, "samples"), cJSON_CreateNumber(v->valuedouble));
            cJSON_AddItemToArray(cJSON_GetObjectItem(bb, "verdicts"), cJSON_CreateString(assay_json_str(b, "verdict")));
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", id);
        cJSON_AddStringToObject(x, "name", assay_json_str(starts, id)[0] ? assay_json_str(starts, id) : id);
        cJSON_AddStringToObject(x, "verdict", assay_json_str(b, "verdict"));
        cJSON_AddItemToObject(x, "reason", dup_or_null(cJSON_GetObjectItemCaseSensitive(b, "reason")));
        cJSON_AddItemToObject(x, "exit_code", dup_or_null(cJSON_GetObjectItemCaseSensitive(b, "exit_code")));
        cJSON_AddItemToObject(x, "signal", dup_or_null(cJSON_GetObjectItemCaseSensitive(b, "signal")));
        cJSON_AddBoolToObject(x, "timed_out", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "timed_out")));
        if (m_)
            cJSON_AddNumberToObject(x, "duration_s", strtod(assay_json_str(m_, "wall_ns"), NULL) / 1e9);
        else
            cJSON_AddNullToObject(x, "duration_s");
        cJSON *ld = cJSON_AddObjectToObject(x, "logs");
        const char *keys[] = {"stdout", "stderr"};
        for (int k = 0; k < 2; k++) {
            const char *path = assay_json_str(lg, keys[k]);
            const cJSON *l, *found = NULL;
            cJSON_ArrayForEach(l, logs) if (path[0] && !strcmp(assay_json_str(l, "path"), path)) found = l;
            cJSON *one = cJSON_AddObjectToObject(ld, keys[k]);
            cJSON_AddStringToObject(one, "path", path);
            if (found) {
                cJSON_AddStringToObject(one, "sha256", assay_json_str(found, "sha256"));
                cJSON_AddNumberToObject(one, "size", assay_json_num(found, "size"));
            } else {
                cJSON_AddNullToObject(one, "sha256");
            }
        }
        cJSON_AddBoolToObject(x, "log_truncated", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(lg, "truncated")));
        if (!strcmp(kind, "test"))
            cJSON_AddItemToArray(tests, x);
        else
            cJSON_AddItemToObject(steps, kind, x);
    }
    /* Benchmarks in manifest order, with median and spread. */
    const cJSON *mb;
    cJSON_ArrayForEach(mb, cJSON_GetObjectItemCaseSensitive(m->doc, "benchmarks"))
    {
        cJSON *bb = cJSON_DetachItemFromObjectCaseSensitive(bench_by_id, assay_json_str(mb, "id"));
        if (!bb)
            continue;
        cJSON *sm = cJSON_GetObjectItem(bb, "samples");
        int n = cJSON_GetArraySize(sm);
        if (n > 0) {
            double *v = malloc((size_t)n * sizeof *v), sum = 0, sq = 0;
            for (int i = 0; i < n && v; i++) {
                v[i] = cJSON_GetArrayItem(sm, i)->valuedouble;
                sum += v[i];
            }
            if (v) {
                qsort(v, (size_t)n, sizeof *v, cmp_double);
                double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, mean = sum / n;
                for (int i = 0; i < n; i++)
                    sq += (v[i] - mean) * (v[i] - mean);
                cJSON_AddNumberToObject(bb, "median", med);
                cJSON_AddNumberToObject(bb, "min", v[0]);
                cJSON_AddNumberToObject(bb, "max", v[n - 1]);
                cJSON_AddNumberToObject(bb, "stddev", n > 1 ? sqrt(sq / (n - 1)) : 0);
                cJSON_AddNumberToObject(bb, "spread_pct", med != 0 ? 100.0 * (v[n - 1] - v[0]) / fabs(med) : 0);
                free(v);
            }
        } else {
            cJSON_AddNullToObject(bb, "median");
        }
        cJSON_AddItemToArray(benches, bb);
    }
    const char *outcome = j->outcome[0] ? j->outcome : "";
    const char *verdict = !strcmp(outcome, "passed") ? "pass" : !strcmp(outcome, "failed") ? "fail"
                          : !strcmp(outcome, "error") ? "error" : !strcmp(outcome, "canceled") ? "canceled"
                                                                                               : "incomplete";
    cJSON_AddStringToObject(t, "verdict", verdict);
    cJSON_AddStringToObject(t, "reason", end && assay_json_str(end, "reason")[0] ? assay_json_str(end, "reason") : j->reason);
    cJSON_AddNumberToObject(t, "attempts", j->attempt);
    /* Whether the host was reset before this attempt: true; false when it
     * had run another product (or was left not clean) and had no reset
     * command; null when it needed none. */
    if (j->host_reset < 0)
        cJSON_AddNullToObject(t, "host_reset");
    else
        cJSON_AddBoolToObject(t, "host_reset", j->host_reset);
    /* What happened to each attempt: a retry on another host is part of
     * the record, not hidden by the final verdict. */
    cJSON *hist = NULL, *a;
    if (assay_store_job_attempts(lab->store, j->id, &hist) == 0) {
        cJSON_ArrayForEach(a, hist)
        {
            cJSON *hr = cJSON_GetObjectItemCaseSensitive(a, "host_reset");
            if (cJSON_IsNumber(hr))
                cJSON_ReplaceItemInObjectCaseSensitive(a, "host_reset", cJSON_CreateBool(hr->valueint != 0));
        }
        cJSON_AddItemToObject(t, "attempt_history", hist);
    } else {
        cJSON_AddItemToObject(t, "attempt_history", cJSON_CreateArray());
    }
    cJSON_Delete(bench_by_id);
    cJSON_Delete(starts);
    cJSON_Delete(bodies);
    cJSON_Delete(evs);
    cJSON_Delete(logs);
    return t;
}

/* Each benchmark's median on every target, against the best one. */
static cJSON *comparison(const cJSON *targets)
{
    cJSON *cmp = cJSON_CreateArray(), *t;
    cJSON *first = cJSON_GetArrayItem(targets, 0);
    cJSON *benches = first ? cJSON_GetObjectItem(first, "benchmarks") : NULL;
    const cJSON *b0;
    cJSON_ArrayForEach(b0, benches)
    {
        const char *id = assay_json_str(b0, "id"), *unit = assay_json_str(b0, "unit");
        int lower_better = time_unit(unit);
        cJSON *c = cJSON_CreateObject(), *rows = cJSON_CreateArray();
        double best = NAN;
        cJSON_ArrayForEach(t, targets)
        {
            const cJSON *b;
            cJSON_ArrayForEach(b, cJSON_GetObjectItem(t, "benchmarks"))
            {
                const cJSON *med = cJSON_GetObjectItem(b, "median");
                if (strcmp(assay_json_str(b, "id"), id) || !cJSON_IsNumber(med))
                    continue;
                if (isnan(best) || (lower_better ? med->valuedouble < best : med->valuedouble > best))
                    best = med->valuedouble;
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "profile", assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"));
                cJSON_AddBoolToObject(r, "emulated", cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated")));
                cJSON_AddNumberToObject(r, "median", med->valuedouble);
                cJSON_AddNumberToObject(r, "min", assay_json_num(b, "min"));
                cJSON_AddNumberToObject(r, "max", assay_json_num(b, "max"));
                cJSON_AddNumberToObject(r, "spread_pct", assay_json_num(b, "spread_pct"));
                cJSON_AddItemToArray(rows, r);
            }
        }
        cJSON_ArrayForEach(t, rows)
        {
            double med = assay_json_num(t, "median");
            double rel = best != 0 && !isnan(best) ? (lower_better ? best / med : med / best) : 0;
            cJSON_AddNumberToObject(t, "relative_to_best", isfinite(rel) ? rel : 0);
        }
        cJSON_AddStringToObject(c, "benchmark", id);
        cJSON_AddStringToObject(c, "name", assay_json_str(b0, "name"));
        cJSON_AddStringToObject(c, "unit", unit);
        cJSON_AddStringToObject(c, "better", lower_better ? "lower" : "higher");
        cJSON_AddItemToObject(c, "targets", rows);
        cJSON_AddItemToArray(cmp, c);
    }
    return cmp;
}

int assay_report_statement(char **out, assay_lab *lab, int64_t run)
{
    cJSON *r = NULL, *st = NULL, *pred, *subj, *targets;
    assay_package_rec p;
    assay_artifact_rec *arts = NULL;
    assay_job_rec *jobs = NULL;
    assay_manifest *m = NULL;
    char *mtext = NULL, centre[256] = "assay test centre", labid[32] = "";
    size_t na = 0, nj = 0;
    int rc;

    if ((rc = assay_store_run_get(lab->store, run, &r)) < 0 ||
        (rc = assay_store_package_get(lab->store, assay_json_str(r, "package"), &p, &mtext)) < 0 ||
        (rc = assay_store_artifacts(lab->store, p.id, &arts, &na)) < 0 ||
        (rc = assay_store_run_jobs(lab->store, run, &jobs, &nj)) < 0 ||
        (rc = assay_manifest_parse(&m, mtext, strlen(mtext))) < 0)
        goto out;
    assay_store_meta_get(lab->store, "centre", centre, sizeof centre);
    assay_store_meta_get(lab->store, "lab_id", labid, sizeof labid);
    assay_error_clear();
    if (strcmp(assay_json_str(r, "state"), "done") && strcmp(assay_json_str(r, "state"), "canceled")) {
        rc = assay_error_set(ASSAY_ESTATE, "run %" PRId64 " is %s: a report is made of a finished run", run,
                             assay_json_str(r, "state"));
        goto out;
    }

    st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "_type", STATEMENT_TYPE);
    subj = cJSON_AddArrayToObject(st, "subject");
    cJSON *s0 = cJSON_CreateObject();
    cJSON_AddStringToObject(s0, "name", p.file_name);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(s0, "digest"), "sha256", p.id);
    cJSON_AddItemToArray(subj, s0);
    for (size_t i = 0; i < na; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", arts[i].name);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(s, "digest"), "sha256", arts[i].sha256);
        cJSON_AddItemToArray(subj, s);
    }
    cJSON_AddStringToObject(st, "predicateType", ASSAY_PREDICATE_TYPE);
    pred = cJSON_AddObjectToObject(st, "predicate");

    /* Stable and unique in the lab: the year of submission, the lab id, the run. */
    char number[80];
    snprintf(number, sizeof number, "%.4s-%.8s-%06" PRId64, assay_json_str(r, "submitted_at"), labid, run);
    cJSON_AddStringToObject(pred, "report_number", number);
    cJSON_AddStringToObject(pred, "centre", centre);
    cJSON_AddStringToObject(pred, "date", assay_json_str(r, "finished_at")[0] ? assay_json_str(r, "finished_at") : assay_json_str(r, "submitted_at"));
    cJSON *gen = cJSON_AddObjectToObject(pred, "generator");
    cJSON_AddStringToObject(gen, "name", "assay");
    cJSON_AddStringToObject(gen, "version", assay_version());
    cJSON *prod = cJSON_AddObjectToObject(pred, "product");
    cJSON_AddStringToObject(prod, "name", p.product);
    cJSON_AddStringToObject(prod, "version", p.version);
    cJSON_AddStringToObject(prod, "vendor", p.vendor);
    cJSON_AddNumberToObject(pred, "run", (double)run);
    cJSON *sub = cJSON_AddObjectToObject(pred, "submission");
    cJSON_AddStringToObject(sub, "file", p.file_name);
    cJSON_AddNumberToObject(sub, "size", (double)p.size);
    cJSON_AddStringToObject(sub, "sha256", p.id);
    cJSON *aa = cJSON_AddArrayToObject(pred, "artifacts");
    for (size_t i = 0; i < na; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "file", arts[i].name);
        cJSON_AddStringToObject(a, "arch", arts[i].arch);
        cJSON_AddStringToObject(a, "abi", arts[i].abi);
        cJSON_AddStringToObject(a, "format", arts[i].format);
        cJSON_AddNumberToObject(a, "size", (double)arts[i].size);
        cJSON_AddStringToObject(a, "sha256", arts[i].sha256);
        cJSON_AddItemToArray(aa, a);
    }
    targets = cJSON_AddArrayToObject(pred, "targets");
    int fail = 0, other = 0, emulated = 0;
    char *pftext = assay_store_package_preflight(lab->store, p.id);
    cJSON *pkgpf = pftext ? cJSON_Parse(pftext) : NULL;
    free(pftext);
    for (size_t i = 0; i < nj; i++) {
        cJSON *t = target_json(lab, &jobs[i], m, pkgpf);
        const char *v = assay_json_str(t, "verdict");
        fail |= !strcmp(v, "fail");
        other |= strcmp(v, "pass") && strcmp(v, "fail");
        emulated |= cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated"));
        cJSON_AddItemToArray(targets, t);
    }
    cJSON_Delete(pkgpf);
    cJSON_AddItemToObject(pred, "comparison", comparison(targets));
    /* A vendor's failure is "fail"; a target that could not be tested
     * (infrastructure error, canceled) makes the report incomplete, never a
     * failure. */
    cJSON_AddStringToObject(pred, "verdict", fail ? "fail" : other ? "incomplete" : "pass");
    cJSON *notes = cJSON_AddArrayToObject(pred, "notes");
    if (emulated)
        cJSON_AddItemToArray(notes, cJSON_CreateString(
            "Targets marked emulated ran under CPU emulation (qemu) on another architecture: their results "
            "show that the software starts and behaves there, but they do not certify real hardware, and their "
            "performance figures are the emulator's. 模拟环境结果不构成真实硬件认证。"));
    if (other)
        cJSON_AddItemToArray(notes, cJSON_CreateString(
            "Targets with verdict error or canceled could not be tested (infrastructure); that is not a failure "
            "of the product."));
    if (!(*out = cJSON_PrintUnformatted(st)))
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
out:
    cJSON_Delete(st);
    cJSON_Delete(r);
    assay_manifest_free(m);
    free(mtext);
    free(arts);
    free(jobs);
    return rc;
}

/* ---- DSSE ------------------------------------------------------------------ */

/* "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in decimal. */
static unsigned char *pae(const char *type, const char *body, size_t blen, size_t *len)
{
    char head[256];
    int h = snprintf(head, sizeof head, "DSSEv1 %zu %s %zu ", strlen(type), type, blen);
    unsigned char *p = malloc((size_t)h + blen);
    if (!p)
        return NULL;
    memcpy(p, head, (size_t)h);
    memcpy(p + h, body, blen);
    *len = (size_t)h + blen;
    return p;
}

int assay_report_sign(char **out, assay_lab *lab, const char *payload, size_t len)
{
    size_t plen, siglen;
    unsigned char *msg = pae(ASSAY_DSSE_TYPE, payload, len, &plen), *sig = NULL;
    char keyid[ASSAY_SHA256_HEX], alg[16];
    int rc;
    if (!msg)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    rc = assay_sign(lab->key, msg, plen, &sig, &siglen, keyid, alg);
    free(msg);
    if (rc < 0)
        return rc;
    char *b64p = assay_base64_encode((const unsigned char *)payload, len), *b64s = assay_base64_encode(sig, siglen);
    free(sig);
    struct sb b = {0};
    /* A fixed layout on one line: a few lines of sed can take it apart
     * (docs/verify.md). */
    if (b64p && b64s)
        sb_printf(&b, "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}\n",
                  ASSAY_DSSE_TYPE, b64p, keyid, b64s);
    else
        b.failed = 1;
    free(b64p);
    free(b64s);
    return sb_done(&b, out);
}

int assay_report_verify(assay_report_check *out, const char *env, size_t len, const char *pem, size_t pemlen)
{
    const char *end = NULL;
    cJSON *e = cJSON_ParseWithLengthOpts(env, len, &end, 0), *st = NULL;
    unsigned char *payload = NULL, *sig = NULL, *msg = NULL;
    size_t plen = 0, slen = 0, mlen;
    int rc = ASSAY_EINVAL;
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(e)) {
        assay_error_set(rc, "not a DSSE envelope (not a JSON object)");
        goto out;
    }
    /* Nothing may follow the envelope but one newline: every byte of the
     * file is either checked or refused. */
    size_t rest = len - (size_t)(end - env);
    if (env[0] != '{' || rest > 1 || (rest == 1 && *end != '\n')) {
        assay_error_set(rc, "not a DSSE envelope (bytes around the JSON object)");
        goto out;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "payloadType");
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(e, "payload");
    const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(e, "signatures");
    const cJSON *s0 = cJSON_GetArrayItem(sigs, 0);
    const cJSON *kid = cJSON_GetObjectItemCaseSensitive(s0, "keyid"), *sv = cJSON_GetObjectItemCaseSensitive(s0, "sig");
    if (cJSON_GetArraySize(e) != 3 || !cJSON_IsString(type) || !cJSON_IsString(pl) || !cJSON_IsArray(sigs) ||
        cJSON_GetArraySize(sigs) != 1 || !cJSON_IsString(kid) || !cJSON_IsString(sv) || cJSON_GetArraySize(s0) != 2) {
        assay_error_set(rc, "not a DSSE envelope with one signature");
        goto out;
    }
    if (strcmp(type->valuestring, ASSAY_DSSE_TYPE)) {
        rc = assay_error_set(ASSAY_EVERIFY, "payload type is '%s', not %s", type->valuestring, ASSAY_DSSE_TYPE);
        goto out;
    }
    if (!(payload = assay_base64_decode(pl->valuestring, strlen(pl->valuestring), &plen)) ||
        !(sig = assay_base64_decode(sv->valuestring, strlen(sv->valuestring), &slen))) {
        assay_error_set(rc, "payload or signature is not canonical base64");
        goto out;
    }
    if (!(msg = pae(type->valuestring, (const char *)payload, plen, &mlen))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = assay_verify(pem, pemlen, msg, mlen, sig, slen, out->keyid, out->alg)) < 0)
        goto out;
    if (strcmp(kid->valuestring, out->keyid)) {
        rc = assay_error_set(ASSAY_EVERIFY, "the envelope names key %.16s..., the key given is %.16s...",
                             kid->valuestring, out->keyid);
        goto out;
    }
    /* The signature covers the exact payload bytes: parse them only now. */
    st = cJSON_ParseWithLength((const char *)payload, plen);
    if (!cJSON_IsObject(st) || strcmp(assay_json_str(st, "_type"), STATEMENT_TYPE) ||
        strcmp(assay_json_str(st, "predicateType"), ASSAY_PREDICATE_TYPE) ||
        !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st, "predicate"))) {
        rc = assay_error_set(ASSAY_EINVAL, "signed, but the payload is not an assay report statement");
        goto out;
    }
    assay_sha256_hex(out->payload_sha256, payload, plen);
    out->statement = st;
    st = NULL;
    rc = 0;
out:
    cJSON_Delete(e);
    cJSON_Delete(st);
    free(payload);
    free(sig);
    free(msg);
    return rc;
}

/* ---- html ------------------------------------------------------------------ */

static const char *verdict_zh(const char *v)
{
    return !strcmp(v, "pass") ? "通过" : !strcmp(v, "fail") ? "不通过" : !strcmp(v, "error") ? "环境错误"
           : !strcmp(v, "skipped") ? "跳过" : !strcmp(v, "canceled") ? "已取消" : "未完成";
}

static void svg_chart(struct sb *b, const cJSON *c)
{
    const cJSON *rows = cJSON_GetObjectItem(c, "targets"), *r;
    int n = cJSON_GetArraySize(rows), bar = 22, w = 640, left = 260;
    double max = 0;
    cJSON_ArrayForEach(r, rows) if (assay_json_num(r, "max") > max) max = assay_json_num(r, "max");
    if (max <= 0)
        max = 1;
    sb_printf(b, "<svg width=\"%d\" height=\"%d\" role=\"img\">", w,
              n * (bar + 8) + 10);
    int i = 0;
    cJSON_ArrayForEach(r, rows)
    {
        int y = 5 + i * (bar + 8);
        double med = assay_json_num(r, "median"), lo = assay_json_num(r, "min"), hi = assay_json_num(r, "max");
        int bw = (int)((w - left - 80) * med / max), x0 = left + (int)((w - left - 80) * lo / max),
            x1 = left + (int)((w - left - 80) * hi / max);
        sb_printf(b, "<text x=\"0\" y=\"%d\" font-size=\"12\">", y + 15);
        sb_esc(b, assay_json_str(r, "profile"));
        sb_printf(b, "%s</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>",
                  cJSON_IsTrue(cJSON_GetObjectItem(r, "emulated")) ? " *" : "", left, y, bw > 1 ? bw : 1, bar,
                  cJSON_IsTrue(cJSON_GetObjectItem(r, "emulated")) ? "#9bb7d4" : "#2f6ea8");
        sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#222\"/>", x0, y + bar / 2, x1, y + bar / 2);
        sb_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"12\">%.4g</text>", left + bw + 6, y + 15, med);
        i++;
    }
    sb_puts(b, "</svg>");
}

int assay_report_html(char **out, const assay_report_check *c)
{
    const cJSON *p = cJSON_GetObjectItem(c->statement, "predicate"), *t, *x;
    const cJSON *prod = cJSON_GetObjectItem(p, "product");
    struct sb b = {0};
    sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>适配测试报告 Adaptation Test Report ");
    sb_esc(&b, assay_json_str(p, "report_number"));
    sb_puts(&b, "</title><style>body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;"
                "margin:.5em 0 1.5em}td,th{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}"
                "th{background:#eee}.pass{color:#0a6b0a;font-weight:bold}.fail{color:#b00;font-weight:bold}"
                ".error,.incomplete,.canceled{color:#a60;font-weight:bold}.note{background:#fff6d6;padding:.5em;"
                "border:1px solid #e0c060}code{font-size:90%}@media print{body{margin:1cm}h2{page-break-before:auto}}"
                "</style></head><body>\n");
    sb_puts(&b, "<h1>适配测试报告 / Adaptation Test Report</h1>\n<table>");
    sb_puts(&b, "<tr><th>报告编号 Report number</th><td>");
    sb_esc(&b, assay_json_str(p, "report_number"));
    sb_puts(&b, "</td></tr><tr><th>测试中心 Test centre</th><td>");
    sb_esc(&b, assay_json_str(p, "centre"));
    sb_puts(&b, "</td></tr><tr><th>日期 Date</th><td>");
    sb_esc(&b, assay_json_str(p, "date"));
    sb_puts(&b, "</td></tr><tr><th>产品 Product</th><td>");
    sb_esc(&b, assay_json_str(prod, "name"));
    sb_puts(&b, " ");
    sb_esc(&b, assay_json_str(prod, "version"));
    sb_puts(&b, "</td></tr><tr><th>厂商 Vendor</th><td>");
    sb_esc(&b, assay_json_str(prod, "vendor"));
    sb_printf(&b, "</td></tr><tr><th>结论 Verdict</th><td class=\"%s\">%s %s</td></tr></table>\n", assay_json_str(p, "verdict"),
              verdict_zh(assay_json_str(p, "verdict")), assay_json_str(p, "verdict"));
    const cJSON *note;
    cJSON_ArrayForEach(note, cJSON_GetObjectItem(p, "notes"))
    {
        sb_puts(&b, "<p class=\"note\">");
        sb_esc(&b, note->valuestring);
        sb_puts(&b, "</p>\n");
    }
    sb_puts(&b, "<h2>目标平台 Targets</h2>\n<table><tr><th>平台 Profile</th><th>主机 Host</th><th>测试 Tests</th>"
                "<th>预检 Preflight</th><th>结论 Verdict</th></tr>");
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "targets"))
    {
        int pass = 0, n = 0;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, "tests"))
        {
            n++;
            pass += !strcmp(assay_json_str(x, "verdict"), "pass");
        }
        sb_puts(&b, "<tr><td>");
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "profile"), "name")[0] ? assay_json_str(cJSON_GetObjectItem(t, "profile"), "name")
                                                                    : assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"));
        if (cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated")))
            sb_puts(&b, " <b>(模拟 emulated)</b>");
        sb_puts(&b, "</td><td>");
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "host"), "name"));
        const cJSON *pk = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "preflight"), "package");
        sb_printf(&b, "</td><td>%d / %d</td><td>", pass, n);
        if (cJSON_IsObject(pk))
            sb_printf(&b, "%d errors, %d warnings", (int)assay_json_num(pk, "errors"), (int)assay_json_num(pk, "warnings"));
        else
            sb_puts(&b, "-");
        sb_printf(&b, "</td><td class=\"%s\">%s %s</td></tr>", assay_json_str(t, "verdict"), verdict_zh(assay_json_str(t, "verdict")),
                  assay_json_str(t, "verdict"));
    }
    sb_puts(&b, "</table>\n");
    const cJSON *cmp;
    if (cJSON_GetArraySize(cJSON_GetObjectItem(p, "comparison")) > 0)
        sb_puts(&b, "<h2>性能对比 Benchmark comparison</h2>\n");
    cJSON_ArrayForEach(cmp, cJSON_GetObjectItem(p, "comparison"))
    {
        sb_puts(&b, "<h3>");
        sb_esc(&b, assay_json_str(cmp, "name"));
        sb_printf(&b, " (%s, %s is better; bar: median, line: min to max)</h3>\n", assay_json_str(cmp, "unit"), assay_json_str(cmp, "better"));
        svg_chart(&b, cmp);
        sb_puts(&b, "\n<table><tr><th>平台 Profile</th><th>中位数 Median</th><th>最小 Min</th><th>最大 Max</th>"
                    "<th>离散 Spread</th><th>相对最佳 vs best</th></tr>");
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(cmp, "targets"))
        {
            sb_puts(&b, "<tr><td>");
            sb_esc(&b, assay_json_str(x, "profile"));
            sb_printf(&b, "%s</td><td>%.4g</td><td>%.4g</td><td>%.4g</td><td>%.1f%%</td><td>%.0f%%</td></tr>",
                      cJSON_IsTrue(cJSON_GetObjectItem(x, "emulated")) ? " *" : "", assay_json_num(x, "median"), assay_json_num(x, "min"),
                      assay_json_num(x, "max"), assay_json_num(x, "spread_pct"), 100 * assay_json_num(x, "relative_to_best"));
        }
        sb_puts(&b, "</table>\n");
    }
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "targets"))
    {
        const cJSON *f = cJSON_GetObjectItem(t, "facts"), *cpu = cJSON_GetObjectItem(f, "cpu"),
                    *os = cJSON_GetObjectItem(f, "os"), *ag = cJSON_GetObjectItem(t, "agent");
        sb_puts(&b, "<h2>");
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"));
        sb_puts(&b, "</h2>\n<table><tr><th>主机 Host</th><td>");
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "host"), "name"));
        sb_puts(&b, " <code>");
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "host"), "hostkey"));
        sb_puts(&b, "</code></td></tr><tr><th>实测 Measured</th><td>");
        sb_esc(&b, assay_json_str(f, "arch"));
        sb_puts(&b, ", ");
        sb_esc(&b, assay_json_str(cpu, "vendor"));
        sb_puts(&b, " ");
        sb_esc(&b, assay_json_str(cpu, "model"));
        sb_puts(&b, ", ");
        sb_esc(&b, assay_json_str(os, "pretty_name"));
        sb_puts(&b, ", kernel ");
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(f, "kernel"), "release"));
        sb_puts(&b, ", glibc ");
        sb_esc(&b, assay_json_str(f, "glibc"));
        sb_printf(&b, ", page %d", (int)assay_json_num(f, "page_size"));
        sb_puts(&b, "</td></tr><tr><th>代理 Agent</th><td>");
        sb_esc(&b, assay_json_str(ag, "version"));
        sb_puts(&b, " ");
        sb_esc(&b, assay_json_str(ag, "triple"));
        sb_puts(&b, " <code>sha256 ");
        sb_esc(&b, assay_json_str(ag, "sha256"));
        sb_puts(&b, "</code></td></tr></table>\n");
        const cJSON *pk = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "preflight"), "package"), *pf, *fd;
        if (cJSON_IsObject(pk) && (assay_json_num(pk, "errors") > 0 || assay_json_num(pk, "warnings") > 0)) {
            sb_puts(&b, "<table><tr><th>预检 Preflight</th><th>文件 File</th><th>发现 Found</th><th>建议 Hint</th></tr>");
            cJSON_ArrayForEach(pf, cJSON_GetObjectItem(pk, "files")) cJSON_ArrayForEach(fd, cJSON_GetObjectItem(pf, "findings"))
            {
                sb_printf(&b, "<tr><td class=\"%s\">%s %s</td><td><code>", !strcmp(assay_json_str(fd, "severity"), "error") ? "fail" : "error",
                          assay_json_str(fd, "severity"), assay_json_str(fd, "check"));
                sb_esc(&b, assay_json_str(pf, "path"));
                sb_puts(&b, "</code></td><td>");
                sb_esc(&b, assay_json_str(fd, "found"));
                sb_puts(&b, "</td><td>");
                sb_esc(&b, assay_json_str(fd, "hint"));
                sb_puts(&b, "</td></tr>");
            }
            sb_puts(&b, "</table>\n");
        }
        if (assay_json_num(t, "attempts") > 1) {
            sb_puts(&b, "<table><tr><th>尝试 Attempt</th><th>主机 Host</th><th>结果 Outcome</th><th>原因 Reason</th></tr>");
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, "attempt_history"))
            {
                sb_printf(&b, "<tr><td>%.0f</td><td>", assay_json_num(x, "attempt"));
                sb_esc(&b, assay_json_str(x, "host"));
                sb_puts(&b, "</td><td>");
                sb_esc(&b, assay_json_str(x, "outcome"));
                sb_puts(&b, "</td><td>");
                sb_esc(&b, assay_json_str(x, "reason"));
                sb_puts(&b, "</td></tr>");
            }
            sb_puts(&b, "</table>\n");
        }
        sb_puts(&b, "<table><tr><th>测试 Test</th><th>结论 Verdict</th><th>退出 Exit</th>"
                    "<th>耗时 Duration</th><th>日志 Log sha256</th></tr>");
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, "tests"))
        {
            sb_puts(&b, "<tr><td>");
            sb_esc(&b, assay_json_str(x, "name"));
            sb_printf(&b, "</td><td class=\"%s\">%s %s", assay_json_str(x, "verdict"), verdict_zh(assay_json_str(x, "verdict")), assay_json_str(x, "verdict"));
            if (assay_json_str(x, "reason")[0]) {
                sb_puts(&b, "<br><small>");
                sb_esc(&b, assay_json_str(x, "reason"));
                sb_puts(&b, "</small>");
            }
            const cJSON *ec = cJSON_GetObjectItem(x, "exit_code");
            sb_puts(&b, "</td><td>");
            if (cJSON_IsNumber(ec))
                sb_printf(&b, "%d", ec->valueint);
            else
                sb_esc(&b, assay_json_str(x, "signal"));
            sb_printf(&b, "</td><td>%.3f s</td><td><code>%.16s</code></td></tr>", assay_json_num(x, "duration_s"),
                      assay_json_str(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "logs"), "stdout"), "sha256"));
        }
        sb_puts(&b, "</table>\n");
    }
    sb_puts(&b, "<h2>签名 Signature</h2>\n<p>This page shows the signed JSON report (a DSSE envelope). Verify that "
                "file, not this page: <code>assay verify report.json</code> or the openssl commands of the "
                "verification guide.</p>\n<table><tr><th>Key id (SHA-256 of the public key)</th><td><code>");
    sb_esc(&b, c->keyid);
    sb_printf(&b, "</code> (%s)</td></tr><tr><th>Payload SHA-256</th><td><code>%s</code></td></tr><tr><th>"
                  "Submission SHA-256</th><td><code>", c->alg, c->payload_sha256);
    sb_esc(&b, assay_json_str(cJSON_GetObjectItem(p, "submission"), "sha256"));
    sb_puts(&b, "</code></td></tr></table>\n</body></html>\n");
    return sb_done(&b, out);
}

/* ---- junit ----------------------------------------------------------------- */

/* The last lines of a stored log, for a failure message. */
static char *log_tail(assay_lab *lab, const char *sha, size_t max)
{
    char path[4096];
    if (!sha || !sha[0] || assay_blob_path(path, sizeof path, lab->blobs, sha) < 0)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)max ? size - (off_t)max : 0;
    char *buf = malloc(max + 1);
    ssize_t n = buf ? pread(fd, buf, max, from) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int assay_report_junit(char **out, assay_lab *lab, const assay_report_check *c)
{
    const cJSON *p = cJSON_GetObjectItem(c->statement, "predicate"), *t, *x;
    struct sb b = {0};
    sb_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"");
    sb_esc(&b, assay_json_str(cJSON_GetObjectItem(p, "product"), "name"));
    sb_puts(&b, " ");
    sb_esc(&b, assay_json_str(cJSON_GetObjectItem(p, "product"), "version"));
    sb_puts(&b, "\">\n");
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "targets"))
    {
        int tests = 0, failures = 0, errors = 0, skipped = 0;
        double time = 0;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, "tests"))
        {
            const char *v = assay_json_str(x, "verdict");
            tests++;
            failures += !strcmp(v, "fail");
            errors += !strcmp(v, "error");
            skipped += !strcmp(v, "skipped");
            time += assay_json_num(x, "duration_s");
        }
        const char *tv = assay_json_str(t, "verdict");
        int infra = !strcmp(tv, "error") || !strcmp(tv, "canceled") || !strcmp(tv, "incomplete");
        sb_puts(&b, "  <testsuite name=\"");
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"));
        sb_printf(&b, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\" hostname=\"",
                  tests + (infra && !tests), failures, errors + (infra && !tests), skipped, time);
        sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "host"), "name"));
        sb_puts(&b, "\">\n");
        sb_puts(&b, "    <properties><property name=\"emulated\" value=\"");
        sb_puts(&b, cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated")) ? "true" : "false");
        sb_puts(&b, "\"/><property name=\"report_number\" value=\"");
        sb_esc(&b, assay_json_str(p, "report_number"));
        sb_puts(&b, "\"/></properties>\n");
        if (infra && !tests) {
            sb_puts(&b, "    <testcase name=\"target\" classname=\"");
            sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"));
            sb_puts(&b, "\"><error message=\"");
            sb_esc(&b, assay_json_str(t, "reason"));
            sb_puts(&b, "\" type=\"infrastructure\"/></testcase>\n");
        }
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, "tests"))
        {
            const char *v = assay_json_str(x, "verdict");
            sb_puts(&b, "    <testcase name=\"");
            sb_esc(&b, assay_json_str(x, "name"));
            sb_puts(&b, "\" classname=\"");
            sb_esc(&b, assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"));
            sb_printf(&b, "\" time=\"%.3f\"", assay_json_num(x, "duration_s"));
            if (!strcmp(v, "pass")) {
                sb_puts(&b, "/>\n");
                continue;
            }
            sb_puts(&b, ">\n");
            if (!strcmp(v, "skipped")) {
                sb_puts(&b, "      <skipped message=\"");
                sb_esc(&b, assay_json_str(x, "reason"));
                sb_puts(&b, "\"/>\n");
            } else {
                const cJSON *ec = cJSON_GetObjectItem(x, "exit_code");
                char status[64];
                if (cJSON_IsNumber(ec))
                    snprintf(status, sizeof status, "exit status %d", ec->valueint);
                else
                    snprintf(status, sizeof status, "%s", assay_json_str(x, "signal")[0] ? assay_json_str(x, "signal") : "no exit status");
                sb_printf(&b, "      <%s message=\"", !strcmp(v, "fail") ? "failure" : "error");
                sb_esc(&b, assay_json_str(x, "reason")[0] ? assay_json_str(x, "reason") : status);
                sb_printf(&b, "\" type=\"%s\">", status);
                const cJSON *lg = cJSON_GetObjectItem(x, "logs");
                char *o = log_tail(lab, assay_json_str(cJSON_GetObjectItem(lg, "stdout"), "sha256"), 2048);
                char *e = log_tail(lab, assay_json_str(cJSON_GetObjectItem(lg, "stderr"), "sha256"), 2048);
                sb_puts(&b, "--- stdout (tail) ---\n");
                sb_esc(&b, o ? o : "");
                sb_puts(&b, "\n--- stderr (tail) ---\n");
                sb_esc(&b, e ? e : "");
                free(o);
                free(e);
                sb_printf(&b, "</%s>\n", !strcmp(v, "fail") ? "failure" : "error");
            }
            sb_puts(&b, "    </testcase>\n");
        }
        sb_puts(&b, "  </testsuite>\n");
    }
    sb_puts(&b, "</testsuites>\n");
    return sb_done(&b, out);
}

/* ---- md -------------------------------------------------------------------- */

int assay_report_md(char **out, const assay_report_check *c)
{
    const cJSON *p = cJSON_GetObjectItem(c->statement, "predicate"), *t, *x;
    const cJSON *prod = cJSON_GetObjectItem(p, "product");
    struct sb b = {0};
    sb_printf(&b, "### %s %s: %s\n\n", assay_json_str(prod, "name"), assay_json_str(prod, "version"), assay_json_str(p, "verdict"));
    sb_printf(&b, "Adaptation report %s, %s, %s (vendor: %s)\n\n", assay_json_str(p, "report_number"), assay_json_str(p, "centre"),
              assay_json_str(p, "date"), assay_json_str(prod, "vendor"));
    sb_puts(&b, "| target | host | tests passed | verdict |\n|---|---|---|---|\n");
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "targets"))
    {
        int pass = 0, n = 0;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, "tests"))
        {
            n++;
            pass += !strcmp(assay_json_str(x, "verdict"), "pass");
        }
        sb_printf(&b, "| %s%s | %s | %d/%d | %s |\n", assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"),
                  cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated")) ? " (emulated)" : "",
                  assay_json_str(cJSON_GetObjectItem(t, "host"), "name"), pass, n, assay_json_str(t, "verdict"));
    }
    const cJSON *cmp;
    cJSON_ArrayForEach(cmp, cJSON_GetObjectItem(p, "comparison"))
    {
        sb_printf(&b, "\n%s (%s, %s is better): ", assay_json_str(cmp, "name"), assay_json_str(cmp, "unit"), assay_json_str(cmp, "better"));
        int first = 1;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(cmp, "targets"))
        {
            sb_printf(&b, "%s%s %.4g (±%.0f%%)", first ? "" : "; ", assay_json_str(x, "profile"), assay_json_num(x, "median"), assay_json_num(x, "spread_pct"));
            first = 0;
        }
        sb_puts(&b, "\n");
    }
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "targets"))
    {
        /* Attempts before the last one: infrastructure retries. */
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(t, "attempt_history"))
        {
            if (assay_json_num(x, "attempt") >= assay_json_num(t, "attempts"))
                continue;
            sb_printf(&b, "\n%s, attempt %.0f on %s: %s: %s\n", assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"),
                      assay_json_num(x, "attempt"), assay_json_str(x, "host"), assay_json_str(x, "outcome"),
                      assay_json_str(x, "reason"));
        }
    }
    const cJSON *note;
    cJSON_ArrayForEach(note, cJSON_GetObjectItem(p, "notes")) sb_printf(&b, "\n> %s\n", note->valuestring);
    sb_printf(&b, "\nSigned (%s), key `%.16s`, payload sha256 `%.16s`. Verify the JSON report: "
                  "`assay verify report.json`.\n", c->alg, c->keyid, c->payload_sha256);
    return sb_done(&b, out);
}
