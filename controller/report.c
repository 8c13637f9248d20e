/* Adaptation reports; see report.h and docs/report.md. */
#include "report.h"
#include "pdf.h"
#include "pkgcheck.h"
#include "blob.h"
#include "crypto.h"
#include "isa.h"
#include "manifest.h"
#include "markup.h"
#include "profile.h"
#include "stats.h"
#include "assay/error.h"
#include "assay/json.h"
#include "assay/io.h"
#include "assay/version.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define TEXT_MAX (256u << 20)
/* The centre's time zone when the lab sets none (report.timezone). */
#define REPORT_TIMEZONE "Asia/Shanghai"

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

static int time_unit(const char *u)
{
    return !strcmp(u, "s") || !strcmp(u, "ms") || !strcmp(u, "us") || !strcmp(u, "ns") || !strcmp(u, "min");
}

/* ---- the statement -------------------------------------------------------- */

const char *assay_report_verdict_zh(const char *v)
{
    return !strcmp(v, "pass") ? "通过" : !strcmp(v, "fail") ? "不通过" : !strcmp(v, "error") ? "环境错误"
           : !strcmp(v, "skipped") ? "跳过" : !strcmp(v, "canceled") ? "已取消"
           : !strcmp(v, "not-provided") ? "厂商未提供" : "未完成";
}

static void condition(cJSON *arr, const char *code, const char *zh, const char *en)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "code", code);
    cJSON_AddStringToObject(c, "zh", zh);
    cJSON_AddStringToObject(c, "en", en);
    cJSON_AddItemToArray(arr, c);
}

/* How many bytes of s to print in at most max: never inside a UTF-8
 * sequence (a host or a vendor chose these bytes). */
static int cut(const char *s, int max)
{
    return (int)assay_utf8_cut(s, strlen(s), (size_t)max);
}

/* Append "; " between parts; a part that does not fit is cut on a UTF-8
 * boundary and the list ends with "...". */
static void join(char *out, size_t cap, const char *part)
{
    size_t len = strlen(out), n = strlen(part);
    if (len + 8 >= cap)
        return;
    if (len)
        memcpy(out + len, "; ", 2), len += 2;
    if (len + n + 4 >= cap) {
        n = assay_utf8_cut(part, n, cap - len - 4);
        memcpy(out + len, part, n);
        memcpy(out + len + n, "...", 4);
        return;
    }
    memcpy(out + len, part, n + 1);
}

/*
 * Whether this target's result certifies the target, and every reason it
 * does not (docs/report.md, docs/security.md): a result other than pass; a
 * CPU under emulation; measured host facts that contradict the profile; the
 * package's preflight errors against the profile; a host that ran another
 * product and was not reset. The reasons are signed with the result, so no
 * reader can take a pass for more than it is.
 */
static void target_conditions(cJSON *t, const assay_profile *p, const cJSON *facts, const cJSON *preflight)
{
    cJSON *conds = cJSON_CreateArray();
    char zh[1024], en[1024];
    const char *verdict = assay_json_str(t, "verdict");
    if (strcmp(verdict, "pass")) {
        snprintf(zh, sizeof zh, "结果为%s，不是通过", assay_report_verdict_zh(verdict));
        snprintf(en, sizeof en, "the result is %s, not pass", verdict);
        condition(conds, "result", zh, en);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "emulated")))
        condition(conds, "emulated", "在 CPU 模拟器（qemu）上运行，不代表目标硬件",
                  "ran under CPU emulation (qemu), not on the target's hardware");
    if (!p) {
        condition(conds, "host-mismatch", "目标配置不存在，无法与主机比对",
                  "the target profile is missing: the host cannot be compared with it");
    } else if (facts) {
        cJSON *diffs = NULL, *d;
        char zl[700] = "", el[700] = "";
        if (assay_profile_check_facts(&diffs, p, facts) == 0) {
            cJSON_ArrayForEach(d, diffs)
            {
                const char *field = assay_json_str(d, "field"), *host = assay_json_str(d, "host");
                char part[200];
                if (!strcmp(field, "emulation"))
                    continue; /* its own condition */
                const char *want = assay_json_str(d, "profile");
                snprintf(part, sizeof part, "%s %.*s（配置 %.*s）", field, cut(host[0] ? host : "未知", 60),
                         host[0] ? host : "未知", cut(want, 60), want);
                join(zl, sizeof zl, part);
                snprintf(part, sizeof part, "%s %.*s (profile %.*s)", field, cut(host[0] ? host : "unknown", 60),
                         host[0] ? host : "unknown", cut(want, 60), want);
                join(el, sizeof el, part);
            }
        }
        assay_error_clear();
        cJSON_Delete(diffs);
        if (el[0]) {
            snprintf(zh, sizeof zh, "主机实测与目标配置不符：%s", zl);
            snprintf(en, sizeof en, "the host does not match the profile: %s", el);
            condition(conds, "host-mismatch", zh, en);
        }
    }
    int errors = (int)assay_json_num(preflight, "errors");
    if (errors > 0) {
        char list[600] = "";
        const cJSON *f, *x;
        cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(preflight, "files"))
            cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(f, "findings"))
        {
            char part[200];
            if (strcmp(assay_json_str(x, "severity"), "error"))
                continue;
            const char *check = assay_json_str(x, "check"), *found = assay_json_str(x, "found");
            snprintf(part, sizeof part, "%.*s: %.*s%s", cut(check, 40), check, cut(found, 80), found,
                     cut(found, 80) < (int)strlen(found) ? "..." : "");
            if (!strstr(list, part))
                join(list, sizeof list, part);
        }
        snprintf(zh, sizeof zh, "软件包预检发现 %d 个错误：%s", errors, list);
        snprintf(en, sizeof en, "the package's preflight found %d error%s against the profile: %s", errors,
                 errors == 1 ? "" : "s", list);
        condition(conds, "preflight-error", zh, en);
    }
    /* Tests that ran as root could have written their own events: their
     * honesty would rest on the MAC alone (docs/security.md). */
    const cJSON *iso = cJSON_GetObjectItemCaseSensitive(t, "isolation");
    if (facts && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(iso, "run_user"))) {
        const char *note = assay_json_str(iso, "note");
        snprintf(zh, sizeof zh, "测试未以非特权用户运行（%.200s）", note[0] ? note : "代理未报告");
        snprintf(en, sizeof en, "tests did not run as an unprivileged user (%.200s)",
                 note[0] ? note : "the agent did not say");
        condition(conds, "not-isolated", zh, en);
    }
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(t, "host_reset")))
        condition(conds, "not-reset", "主机此前运行过其他产品，且未重置",
                  "the host ran another product before and was not reset");
    cJSON_AddBoolToObject(t, "certifies", cJSON_GetArraySize(conds) == 0);
    cJSON_AddItemToObject(t, "conditions", conds);
}

/* The report's conclusion: certified only when every target passed and
 * certifies; otherwise every reason, target by target. */
static cJSON *make_conclusion(const cJSON *targets)
{
    cJSON *c = cJSON_CreateObject(), *reasons = cJSON_CreateArray();
    const cJSON *t, *x;
    int all = cJSON_GetArraySize(targets) > 0;
    cJSON_ArrayForEach(t, targets)
    {
        all &= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "certifies"));
        cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(t, "conditions"))
        {
            cJSON *r = cJSON_Duplicate(x, 1);
            cJSON_AddItemToObject(r, "target", cJSON_CreateString(assay_json_str(
                                                   cJSON_GetObjectItemCaseSensitive(t, "profile"), "id")));
            cJSON_AddItemToArray(reasons, r);
        }
    }
    if (cJSON_GetArraySize(targets) == 0)
        condition(reasons, "result", "没有目标", "the run has no target");
    cJSON_AddBoolToObject(c, "certified", all);
    cJSON_AddStringToObject(c, "status", all ? "certified" : "not-certified");
    cJSON_AddStringToObject(c, "zh", all ? "已认证" : "未认证");
    cJSON_AddStringToObject(c, "en", all ? "certified" : "not certified");
    cJSON_AddItemToObject(c, "reasons", reasons);
    return c;
}

/* ---- benchmark figures (docs/report.md, "Benchmarks") --------------------- */

/* A benchmark's samples as numbers; NULL when it has none. */
static double *samples_of(const cJSON *bench, size_t *n)
{
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(bench, "samples"), *v;
    size_t k = 0, cap = (size_t)cJSON_GetArraySize(sm);
    double *x = cap ? malloc(cap * sizeof *x) : NULL;
    if (!x)
        return NULL;
    cJSON_ArrayForEach(v, sm) if (cJSON_IsNumber(v) && k < cap) x[k++] = v->valuedouble;
    *n = k;
    if (k == 0) {
        free(x);
        return NULL;
    }
    return x;
}

/* The summary of a benchmark on one target, added to its object: n,
 * median, mean, sd, cv, quartiles, the median's 95% interval, the samples
 * outside Tukey's fences (by their index in "samples") and whether the
 * interval is narrow enough (max_ci: the lab's limit on its width against
 * the median). */
static void bench_figures(cJSON *bb, double max_ci)
{
    size_t n = 0;
    double *x = samples_of(bb, &n);
    assay_summary s;
    unsigned char *flag = x ? calloc(n, 1) : NULL;
    cJSON_AddNumberToObject(bb, "n", (double)n);
    if (!x || !flag || assay_stats_summary(&s, flag, x, n, ASSAY_STATS_SEED, ASSAY_STATS_RESAMPLES) < 0) {
        assay_error_clear();
        cJSON_AddNullToObject(bb, "median");
        cJSON_AddStringToObject(bb, "stability", "no-samples");
        free(x);
        free(flag);
        return;
    }
    cJSON_AddNumberToObject(bb, "median", s.median);
    cJSON_AddNumberToObject(bb, "mean", s.mean);
    cJSON_AddNumberToObject(bb, "stddev", s.sd);
    cJSON_AddNumberToObject(bb, "cv", s.cv);
    cJSON_AddNumberToObject(bb, "min", s.min);
    cJSON_AddNumberToObject(bb, "max", s.max);
    cJSON_AddNumberToObject(bb, "q1", s.q1);
    cJSON_AddNumberToObject(bb, "q3", s.q3);
    cJSON *ci = cJSON_AddObjectToObject(bb, "ci");
    cJSON_AddNumberToObject(ci, "level", 0.95);
    cJSON_AddNumberToObject(ci, "lo", s.ci_lo);
    cJSON_AddNumberToObject(ci, "hi", s.ci_hi);
    if (isfinite(s.ci_rel))
        cJSON_AddNumberToObject(ci, "width_pct", 100 * s.ci_rel);
    else
        cJSON_AddNullToObject(ci, "width_pct");
    cJSON *out = cJSON_AddArrayToObject(bb, "outliers");
    for (size_t i = 0; i < n; i++)
        if (flag[i])
            cJSON_AddItemToArray(out, cJSON_CreateNumber((double)i));
    /* Three samples are the fewest whose interval says anything: with
     * fewer, every resample's median is one of at most two values. */
    cJSON_AddStringToObject(bb, "stability", n < 3 ? "too-few-samples" : s.ci_rel <= max_ci ? "stable" : "unstable");
    free(x);
    free(flag);
}

static const char *const CMP_WORDS[][2] = {
    {"no measurable difference", "无可测差异"}, {"faster", "更快"}, {"slower", "更慢"}, {"not compared", "未比较"}};

/*
 * b against a (the baseline): the ratio of medians b/a with its interval,
 * the U test, and the verdict in words, into *row. lower_better: a smaller
 * figure is faster (a time). A pair with too few or non-positive samples
 * is "not compared", with why.
 */
static void compare_pair(cJSON *row, const cJSON *a, const cJSON *b, int lower_better, double alpha)
{
    size_t na = 0, nb = 0;
    double *xa = samples_of(a, &na), *xb = samples_of(b, &nb), ratio, lo, hi;
    assay_mwu m;
    int w = 3;
    if (!xa || !xb) {
        cJSON_AddStringToObject(row, "why", "no samples on one side");
    } else if (assay_stats_ratio(&ratio, &lo, &hi, xa, na, xb, nb, ASSAY_STATS_SEED, ASSAY_STATS_RESAMPLES) < 0 ||
               assay_stats_mwu(&m, xa, na, xb, nb) < 0) {
        cJSON_AddStringToObject(row, "why", assay_error_last()->message);
        assay_error_clear();
    } else {
        assay_cmp c = assay_stats_verdict(m.p, lo, hi, alpha);
        w = c == ASSAY_CMP_NONE ? 0 : (c == ASSAY_CMP_LOWER) == (lower_better != 0) ? 1 : 2;
        cJSON_AddNumberToObject(row, "ratio", ratio);
        cJSON_AddNumberToObject(row, "ratio_lo", lo);
        cJSON_AddNumberToObject(row, "ratio_hi", hi);
        cJSON_AddNumberToObject(row, "u", m.u);
        cJSON_AddNumberToObject(row, "p", m.p);
        cJSON_AddStringToObject(row, "test", m.exact ? "mann-whitney-u exact" : "mann-whitney-u normal");
    }
    cJSON_AddStringToObject(row, "verdict", CMP_WORDS[w][0]);
    cJSON_AddStringToObject(row, "verdict_zh", CMP_WORDS[w][1]);
    free(xa);
    free(xb);
}

/* One side of a comparison row: what a reader needs to see the figure. */
static cJSON *side(const cJSON *bench, const cJSON *t)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(bench, "ci");
    cJSON_AddStringToObject(o, "host", assay_json_str(cJSON_GetObjectItemCaseSensitive(t, "host"), "name"));
    cJSON_AddNumberToObject(o, "n", assay_json_num(bench, "n"));
    cJSON_AddItemToObject(o, "median", dup_or_null(cJSON_GetObjectItemCaseSensitive(bench, "median")));
    cJSON_AddItemToObject(o, "ci_lo", dup_or_null(cJSON_GetObjectItemCaseSensitive(ci, "lo")));
    cJSON_AddItemToObject(o, "ci_hi", dup_or_null(cJSON_GetObjectItemCaseSensitive(ci, "hi")));
    cJSON_AddStringToObject(o, "stability", assay_json_str(bench, "stability"));
    /* The host's 1-minute load before and after the job, and its cores:
     * two figures from a quiet and a busy host differ for that reason. */
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "facts"),
                *before = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f, "environment"), "load_avg"),
                *after = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(t, "environment_after"), "load_avg");
    cJSON_AddItemToObject(o, "load_before", dup_or_null(cJSON_GetArrayItem(before, 0)));
    cJSON_AddItemToObject(o, "load_after", dup_or_null(cJSON_GetArrayItem(after, 0)));
    cJSON_AddItemToObject(o, "cores", dup_or_null(cJSON_GetObjectItemCaseSensitive(
                                          cJSON_GetObjectItemCaseSensitive(f, "cpu"), "cores_online")));
    return o;
}

static char *log_tail(assay_lab *lab, const char *sha);

/*
 * The tail of a stored log for the signed payload: the last 2 KiB (from a
 * character boundary) of the blob, only if the blob still has the digest
 * the store recorded, as valid UTF-8 with control characters and invalid
 * bytes replaced (the text writer), so the payload stays strict JSON. NULL
 * if the blob is missing or differs.
 */
static char *payload_tail(assay_lab *lab, const char *sha)
{
    char path[4096], hex[ASSAY_SHA256_HEX], *raw, *out = NULL;
    uint64_t size;
    assay_markup *w;
    if (assay_blob_path(path, sizeof path, lab->blobs, sha) < 0 || assay_sha256_file(hex, &size, path) < 0 ||
        strcmp(hex, sha) != 0) {
        assay_error_clear();
        return NULL;
    }
    if (!(raw = log_tail(lab, sha)))
        return NULL;
    if (assay_markup_new(&w, ASSAY_MARKUP_TEXT, 64 * 1024) == 0) {
        assay_markup_text(w, raw);
        if (assay_markup_done(&out, w) < 0)
            out = NULL;
    }
    free(raw);
    assay_error_clear();
    return out;
}

/* Per-target part of the report, from one job's stored events. */
static cJSON *target_json(assay_lab *lab, const assay_job_rec *j, const assay_manifest *m, const cJSON *pkgpf,
                          double max_ci)
{
    cJSON *t = cJSON_CreateObject(), *evs = NULL, *logs = NULL, *e;
    assay_profile *p = NULL;
    assay_host_rec h;
    cJSON_AddNumberToObject(t, "job", (double)j->id);
    if (assay_profile_load(&p, lab->profiles, j->profile) == 0) {
        cJSON_AddItemToObject(t, "profile", cJSON_Duplicate(p->doc, 1));
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

    assay_store_job_events_page(lab->store, j->id, j->attempt, 0, -1, 0, &evs);
    assay_store_job_logs(lab->store, j->id, j->attempt, &logs);
    const cJSON *facts = NULL, *agent = NULL, *inspect = NULL, *end = NULL, *isolation = NULL;
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
            isolation = cJSON_GetObjectItemCaseSensitive(b, "isolation");
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
    cJSON_AddItemToObject(t, "environment_after", dup_or_null(cJSON_GetObjectItemCaseSensitive(end, "environment")));
    cJSON_AddItemToObject(t, "isolation", dup_or_null(isolation));
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
                /* The unit the manifest declared (checked at ingest), not
                 * what the agent's event says. */
                const cJSON *mb_, *mu = NULL;
                cJSON_ArrayForEach(mb_, cJSON_GetObjectItemCaseSensitive(m->doc, "benchmarks"))
                    if (!strcmp(assay_json_str(mb_, "id"), id))
                        mu = cJSON_GetObjectItemCaseSensitive(mb_, "unit");
                cJSON_AddStringToObject(bb, "unit", cJSON_IsString(mu) ? mu->valuestring : "");
                cJSON_AddArrayToObject(bb, "samples");
                cJSON_AddArrayToObject(bb, "warmup_samples");
                cJSON_AddArrayToObject(bb, "verdicts");
                cJSON_AddNullToObject(bb, "stopped");
                cJSON_AddItemToObject(bench_by_id, id, bb);
            }
            /* Every value is kept: a warm-up run's apart, never a sample. */
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, "value"), *stop;
            int warm = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "warmup"));
            if (cJSON_IsNumber(v))
                cJSON_AddItemToArray(cJSON_GetObjectItem(bb, warm ? "warmup_samples" : "samples"),
                                     cJSON_CreateNumber(v->valuedouble));
            cJSON_AddItemToArray(cJSON_GetObjectItem(bb, "verdicts"), cJSON_CreateString(assay_json_str(b, "verdict")));
            if (cJSON_IsObject(stop = cJSON_GetObjectItemCaseSensitive(b, "stop"))) {
                cJSON *so = cJSON_CreateObject();
                cJSON_AddStringToObject(so, "reason", assay_json_str(stop, "reason"));
                cJSON_AddItemToObject(so, "rse", dup_or_null(cJSON_GetObjectItemCaseSensitive(stop, "rse")));
                cJSON_ReplaceItemInObjectCaseSensitive(bb, "stopped", so);
            }
            continue;
        }
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", id);
        cJSON_AddStringToObject(x, "name", assay_json_str(starts, id)[0] ? assay_json_str(starts, id) : id);
        cJSON_AddStringToObject(x, "verdict", assay_json_str(b, "verdict"));
        cJSON_AddItemToObject(x, "reason", dup_or_null(cJSON_GetObjectItemCaseSensitive(b, "reason")));
        cJSON_AddItemToObject(x, "exit_code", dup_or_null(cJSON_GetObjectItemCaseSensitive(b, "exit_code")));
        cJSON_AddItemToObject(x, "signal", dup_or_null(cJSON_GetObjectItemCaseSensitive(b, "signal")));
        /* Issue 14 item 3: a SIGILL linked to what the package's preflight
         * found about instructions for this target's profile (isa.h). A
         * shell reports a child killed by SIGILL (4) as exit status 132. */
        char ill_en[1200], ill_zh[1200];
        const cJSON *ill_ec = cJSON_GetObjectItemCaseSensitive(b, "exit_code");
        if ((!strcmp(assay_json_str(b, "signal"), "SIGILL") || (cJSON_IsNumber(ill_ec) && ill_ec->valueint == 132)) &&
            assay_isa_sigill_note(ill_en, sizeof ill_en, ill_zh, sizeof ill_zh, mine)) {
            cJSON *ill = cJSON_AddObjectToObject(x, "sigill_preflight");
            cJSON_AddStringToObject(ill, "zh", ill_zh);
            cJSON_AddStringToObject(ill, "en", ill_en);
        }
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
                /* Why a step failed is in its output: the tail of each
                 * stream goes into the signed report; the whole log is in
                 * the lab's blob store under the digest. */
                const char *v = assay_json_str(b, "verdict");
                if (!strcmp(v, "fail") || !strcmp(v, "error")) {
                    char *tail = payload_tail(lab, assay_json_str(found, "sha256"));
                    if (tail)
                        cJSON_AddStringToObject(one, "tail", tail);
                    else
                        cJSON_AddNullToObject(one, "tail");
                    free(tail);
                }
            } else {
                cJSON_AddNullToObject(one, "sha256");
            }
        }
        cJSON_AddBoolToObject(x, "log_truncated", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(lg, "truncated")));
        /* A test the manifest runs as root: its honesty rests on the host
         * reset and the event MAC, not on the run user. */
        const cJSON *mt;
        int priv = 0;
        cJSON_ArrayForEach(mt, cJSON_GetObjectItemCaseSensitive(m->doc, "tests"))
            if (!strcmp(assay_json_str(mt, "id"), id))
                priv = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(mt, "privileged"));
        if (!strcmp(kind, "test"))
            cJSON_AddBoolToObject(x, "privileged", priv);
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
        cJSON_AddItemToObject(bb, "repeat", dup_or_null(cJSON_GetObjectItemCaseSensitive(mb, "repeat")));
        bench_figures(bb, max_ci);
        cJSON_AddItemToArray(benches, bb);
    }
    const char *outcome = j->outcome[0] ? j->outcome : "";
    const char *verdict = !strcmp(outcome, "passed") ? "pass" : !strcmp(outcome, "failed") ? "fail"
                          : !strcmp(outcome, "error") ? "error" : !strcmp(outcome, "canceled") ? "canceled"
                          /* no artifact for the target: the vendor's gap, never the lab's */
                          : !strcmp(outcome, "not-provided") ? "not-provided" : "incomplete";
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
    target_conditions(t, p, facts, mine);
    assay_profile_free(p);
    cJSON_Delete(bench_by_id);
    cJSON_Delete(starts);
    cJSON_Delete(bodies);
    cJSON_Delete(evs);
    cJSON_Delete(logs);
    return t;
}

/* A benchmark's figures on target t, or NULL. */
static const cJSON *bench_in(const cJSON *t, const char *id)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(t, "benchmarks")) if (!strcmp(assay_json_str(b, "id"), id))
        return b;
    return NULL;
}

/*
 * Each benchmark on every target, each real target against the best real
 * one (ratio, interval, U test, verdict). Emulated targets' figures are
 * shown and never compared: they are the emulator's.
 */
static cJSON *comparison(const cJSON *targets, double alpha)
{
    cJSON *cmp = cJSON_CreateArray(), *t;
    const cJSON *b0;
    cJSON_ArrayForEach(b0, cJSON_GetObjectItem(cJSON_GetArrayItem(targets, 0), "benchmarks"))
    {
        const char *id = assay_json_str(b0, "id"), *unit = assay_json_str(b0, "unit");
        int lower_better = time_unit(unit);
        cJSON *c = cJSON_CreateObject(), *rows = cJSON_CreateArray();
        const cJSON *best = NULL, *b;
        double bestv = NAN;
        cJSON_ArrayForEach(t, targets)
        {
            const cJSON *med;
            if ((b = bench_in(t, id)) && cJSON_IsNumber(med = cJSON_GetObjectItem(b, "median")) &&
                !cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated")) &&
                (isnan(bestv) || (lower_better ? med->valuedouble < bestv : med->valuedouble > bestv))) {
                bestv = med->valuedouble;
                best = b;
            }
        }
        cJSON_ArrayForEach(t, targets)
        {
            if (!(b = bench_in(t, id)) || !cJSON_IsNumber(cJSON_GetObjectItem(b, "median")))
                continue;
            int emu = cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated"));
            cJSON *r = side(b, t);
            cJSON_AddStringToObject(r, "profile", assay_json_str(cJSON_GetObjectItem(t, "profile"), "id"));
            cJSON_AddBoolToObject(r, "emulated", emu);
            cJSON_AddNumberToObject(r, "cv", assay_json_num(b, "cv"));
            cJSON_AddNumberToObject(r, "outliers", cJSON_GetArraySize(cJSON_GetObjectItem(b, "outliers")));
            cJSON_AddItemToObject(r, "stopped", dup_or_null(cJSON_GetObjectItem(b, "stopped")));
            cJSON_AddBoolToObject(r, "best", b == best);
            if (emu || b == best || !best) {
                cJSON_AddNullToObject(r, "vs_best");
            } else {
                cJSON *vs = cJSON_AddObjectToObject(r, "vs_best");
                compare_pair(vs, best, b, lower_better, alpha);
            }
            cJSON_AddItemToArray(rows, r);
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

/*
 * The figures of `pred` against those of the baseline `base` (two report
 * predicates): per target profile and benchmark found in both, each side,
 * the ratio this/baseline with its interval, the U test and the verdict.
 * An emulated figure is never compared with a real one.
 */
static cJSON *baseline_comparison(const cJSON *base, const cJSON *pred, double alpha)
{
    cJSON *o = cJSON_CreateObject(), *rows;
    const cJSON *t, *b, *tb;
    const cJSON *bprod = cJSON_GetObjectItemCaseSensitive(base, "product");
    cJSON_AddNumberToObject(o, "run", assay_json_num(base, "run"));
    cJSON_AddStringToObject(o, "report_number", assay_json_str(base, "report_number"));
    cJSON_AddStringToObject(o, "product", assay_json_str(bprod, "name"));
    cJSON_AddStringToObject(o, "version", assay_json_str(bprod, "version"));
    cJSON_AddStringToObject(o, "package", assay_json_str(cJSON_GetObjectItemCaseSensitive(base, "submission"), "sha256"));
    rows = cJSON_AddArrayToObject(o, "benchmarks");
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(pred, "targets"))
    {
        const char *prof = assay_json_str(cJSON_GetObjectItem(t, "profile"), "id");
        const cJSON *match = NULL;
        cJSON_ArrayForEach(tb, cJSON_GetObjectItemCaseSensitive(base, "targets")) if (
            !match && !strcmp(assay_json_str(cJSON_GetObjectItem(tb, "profile"), "id"), prof)) match = tb;
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(t, "benchmarks"))
        {
            const cJSON *bb = match ? bench_in(match, assay_json_str(b, "id")) : NULL;
            if (!bb)
                continue;
            int emu = cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated")),
                bemu = cJSON_IsTrue(cJSON_GetObjectItem(match, "emulated"));
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "benchmark", assay_json_str(b, "id"));
            cJSON_AddStringToObject(r, "name", assay_json_str(b, "name"));
            cJSON_AddStringToObject(r, "unit", assay_json_str(b, "unit"));
            cJSON_AddStringToObject(r, "better", time_unit(assay_json_str(b, "unit")) ? "lower" : "higher");
            cJSON_AddStringToObject(r, "profile", prof);
            cJSON_AddBoolToObject(r, "emulated", emu || bemu);
            cJSON_AddItemToObject(r, "baseline", side(bb, match));
            cJSON_AddItemToObject(r, "this", side(b, t));
            if (emu != bemu) {
                cJSON_AddStringToObject(r, "why", "an emulated figure against real hardware");
                cJSON_AddStringToObject(r, "verdict", CMP_WORDS[3][0]);
                cJSON_AddStringToObject(r, "verdict_zh", CMP_WORDS[3][1]);
            } else {
                compare_pair(r, bb, b, time_unit(assay_json_str(b, "unit")), alpha);
            }
            cJSON_AddItemToArray(rows, r);
        }
    }
    return o;
}

/* What the statistics of a report are, so that a reader can redo them. */
static cJSON *statistics_json(double max_ci, double alpha)
{
    cJSON *o = cJSON_CreateObject(), *bs;
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)ASSAY_STATS_SEED);
    bs = cJSON_AddObjectToObject(o, "interval");
    cJSON_AddStringToObject(bs, "method", "bootstrap percentile of the median");
    cJSON_AddNumberToObject(bs, "level", 0.95);
    cJSON_AddNumberToObject(bs, "resamples", ASSAY_STATS_RESAMPLES);
    cJSON_AddStringToObject(bs, "prng", "splitmix64, index = (draw * n) >> 64");
    cJSON_AddStringToObject(bs, "seed", seed);
    cJSON_AddStringToObject(bs, "quantiles", "linear interpolation (type 7)");
    cJSON_AddStringToObject(o, "outliers", "outside [Q1 - 1.5 IQR, Q3 + 1.5 IQR] (Tukey); flagged, never dropped");
    cJSON_AddNumberToObject(o, "unstable_above_ci_width_pct", 100 * max_ci);
    cJSON_AddStringToObject(o, "test", "Mann-Whitney U, two-sided; exact without ties for n1 + n2 <= 60, else normal "
                                       "approximation with tie and continuity corrections");
    cJSON_AddNumberToObject(o, "alpha", alpha);
    cJSON_AddStringToObject(o, "difference", "measurable when p < alpha and the ratio's 95% interval leaves out 1");
    return o;
}

#define REPORT_ALPHA 0.01
#define REPORT_MAX_CI 0.10 /* an interval wider than 10% of the median: unstable, unless the lab says otherwise */

/* The lab's limit on a stable interval's width (report.max_ci_pct), as a
 * fraction of the median. */
static double lab_max_ci(assay_lab *lab)
{
    char v[64] = "";
    char *end;
    if (assay_store_meta_get(lab->store, "report.max_ci_pct", v, sizeof v) < 0) {
        assay_error_clear();
        return REPORT_MAX_CI;
    }
    double d = strtod(v, &end);
    return end != v && !*end && d > 0 && d <= 1000 ? d / 100 : REPORT_MAX_CI;
}

/* ---- the people and the centre's time ----------------------------------- */

/* `utc` ("2026-11-30T17:09:35Z") in time zone `tz` as
 * "2026-12-01 01:09:35 +0800" into out, or "" when either does not read.
 * The C library converts only through the TZ variable: it is set for the
 * call and put back. */
static void local_time(char *out, size_t outlen, const char *utc, const char *tz)
{
    struct tm tm = {0};
    const char *end = strptime(utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
    out[0] = '\0';
    if (!end || *end || !tz[0])
        return;
    time_t t = timegm(&tm);
    const char *was = getenv("TZ");
    char *saved = was ? strdup(was) : NULL;
    if (setenv("TZ", tz, 1) == 0) {
        tzset();
        struct tm lt;
        if (!localtime_r(&t, &lt) || !strftime(out, outlen, "%Y-%m-%d %H:%M:%S %z", &lt))
            out[0] = '\0';
    }
    if (saved)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    free(saved);
    tzset();
}

int assay_report_timezone_check(const char *tz)
{
    char path[300];
    int ok = tz[0] && tz[0] != '/' && !strstr(tz, "..") && strlen(tz) <= 200;
    for (const char *c = tz; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || strchr("/_+-", *c);
    if (!ok)
        return assay_error_set(ASSAY_EINVAL, "'%s' is not a time zone name (like Asia/Shanghai)", tz);
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    if (access(path, R_OK) != 0)
        return assay_error_set(ASSAY_EINVAL, "time zone '%s' is not in the system's zoneinfo", tz);
    return 0;
}

/*
 * The people who answer for the report (tested, reviewed, approved by),
 * the centre's time zone with the date in it, and the verification address
 * the printed report's QR code leads to: from the lab's settings
 * (report.tested_by, report.reviewed_by, report.approved_by,
 * report.timezone, report.verify_url), signed with the rest. Unset people
 * are empty strings: the printed report leaves their lines to be signed by
 * hand.
 */
static void report_signers(cJSON *pred, assay_lab *lab)
{
    static const char *const who[][2] = {
        {"report.tested_by", "tested_by"}, {"report.reviewed_by", "reviewed_by"}, {"report.approved_by", "approved_by"}};
    char v[256], tz[128] = REPORT_TIMEZONE, local[64];
    cJSON *people = cJSON_AddObjectToObject(pred, "people");
    for (size_t i = 0; i < sizeof who / sizeof *who; i++) {
        if (assay_store_meta_get(lab->store, who[i][0], v, sizeof v) < 0)
            v[0] = '\0';
        assay_text_clean(v);
        cJSON_AddStringToObject(people, who[i][1], v);
    }
    if (assay_store_meta_get(lab->store, "report.timezone", tz, sizeof tz) < 0 || assay_report_timezone_check(tz) < 0)
        snprintf(tz, sizeof tz, "%s", REPORT_TIMEZONE);
    local_time(local, sizeof local, assay_json_str(pred, "date"), tz);
    cJSON_AddStringToObject(pred, "timezone", tz);
    cJSON_AddStringToObject(pred, "date_local", local);
    if (assay_store_meta_get(lab->store, "report.verify_url", v, sizeof v) < 0)
        v[0] = '\0';
    assay_text_clean(v);
    cJSON_AddStringToObject(pred, "verify_url", v);
    assay_error_clear();
}

static int statement(cJSON **out, assay_lab *lab, int64_t run, double max_ci)
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
    report_signers(pred, lab);
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
        cJSON *t = target_json(lab, &jobs[i], m, pkgpf, max_ci);
        const char *v = assay_json_str(t, "verdict");
        fail |= !strcmp(v, "fail") || !strcmp(v, "not-provided");
        other |= strcmp(v, "pass") && strcmp(v, "fail") && strcmp(v, "not-provided");
        emulated |= cJSON_IsTrue(cJSON_GetObjectItem(t, "emulated"));
        cJSON_AddItemToArray(targets, t);
    }
    cJSON_Delete(pkgpf);
    cJSON_AddItemToObject(pred, "statistics", statistics_json(max_ci, REPORT_ALPHA));
    cJSON_AddItemToObject(pred, "comparison", comparison(targets, REPORT_ALPHA));
    /* A vendor's failure is "fail"; a target that could not be tested
     * (infrastructure error, canceled) makes the report incomplete, never a
     * failure. */
    cJSON_AddStringToObject(pred, "verdict", fail ? "fail" : other ? "incomplete" : "pass");
    cJSON_AddItemToObject(pred, "conclusion", make_conclusion(targets));
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
    *out = st;
    st = NULL;
    rc = 0;
out:
    cJSON_Delete(st);
    cJSON_Delete(r);
    assay_manifest_free(m);
    free(mtext);
    free(arts);
    free(jobs);
    return rc;
}

int assay_report_statement_vs(char **out, assay_lab *lab, int64_t run, int64_t baseline)
{
    cJSON *st = NULL, *base = NULL;
    double max_ci = lab_max_ci(lab);
    int rc;
    if (baseline == run)
        return assay_error_set(ASSAY_EINVAL, "the baseline is run %" PRId64 " itself", run);
    if ((rc = statement(&st, lab, run, max_ci)) < 0)
        goto out;
    if (baseline > 0) {
        if ((rc = statement(&base, lab, baseline, max_ci)) < 0) {
            rc = assay_error_wrap("baseline run %" PRId64, baseline);
            goto out;
        }
        cJSON_AddItemToObject(cJSON_GetObjectItem(st, "predicate"), "baseline",
                              baseline_comparison(cJSON_GetObjectItem(base, "predicate"),
                                                  cJSON_GetObjectItem(st, "predicate"), REPORT_ALPHA));
    }
    rc = (*out = cJSON_PrintUnformatted(st)) ? 0 : assay_error_set(ASSAY_ENOMEM, "out of memory");
out:
    cJSON_Delete(st);
    cJSON_Delete(base);
    return rc;
}

int assay_report_statement(char **out, assay_lab *lab, int64_t run)
{
    return assay_report_statement_vs(out, lab, run, 0);
}

int assay_report_compare(cJSON **out, assay_lab *lab, int64_t run_a, int64_t run_b)
{
    cJSON *a = NULL, *b = NULL;
    double max_ci = lab_max_ci(lab);
    int rc;
    if ((rc = statement(&a, lab, run_a, max_ci)) < 0 || (rc = statement(&b, lab, run_b, max_ci)) < 0)
        goto out;
    *out = baseline_comparison(cJSON_GetObjectItem(a, "predicate"), cJSON_GetObjectItem(b, "predicate"), REPORT_ALPHA);
    rc = 0;
out:
    cJSON_Delete(a);
    cJSON_Delete(b);
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
    /* One line, one signature, with a keyid: what every verifier reads.
     * Verifiers must not rely on the layout (docs/verify.md). */
    if (b64p && b64s)
        sb_printf(&b, "{\"payloadType\":\"%s\",\"payload\":\"%s\",\"signatures\":[{\"keyid\":\"%s\",\"sig\":\"%s\"}]}\n",
                  ASSAY_DSSE_TYPE, b64p, keyid, b64s);
    else
        b.failed = 1;
    free(b64p);
    free(b64s);
    return sb_done(&b, out);
}

/* A member that DSSE defines must be a string; NULL if it is not. */
static const char *dsse_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * DSSE (envelope.md and protocol.md, v1.0.2) with threshold 1:
 * - the envelope is one strict JSON object, with JSON whitespace around it
 *   and anywhere between tokens (so CRLF and pretty-printed files are the
 *   same envelope); assay_json_strict() refuses what cJSON would read as
 *   something else (a \u0000 cuts cJSON's strings, raw control bytes pass
 *   its whitespace skip), and a name twice in one object is refused: JSON
 *   leaves its meaning to each reader, and readers differ (jq and Python
 *   take the last, cJSON the first);
 * - payload, payloadType and each signatures[].sig are required strings,
 *   keyid an optional string (absent, null and "" all mean unset), every
 *   other member ignored; base64 in either alphabet, padded or not;
 * - any entry that does not decode rejects the envelope ("Reject if
 *   decoding fails"); an entry whose keyid is set and is not the key's id
 *   is skipped (the spec lets a verifier filter keys by keyid); the
 *   envelope is valid if one remaining signature verifies over
 *   PAE(payloadType, payload) under the key;
 * - the payload type must be the in-toto one and the payload an assay
 *   statement, parsed (as strictly as the envelope) from the very bytes
 *   that were verified;
 * - at most ASSAY_DSSE_MAX_SIGS signatures (DSSE sets no limit).
 */
int assay_report_verify(assay_report_check *out, const char *env, size_t len, const char *pem, size_t pemlen)
{
    cJSON *e = NULL, *st = NULL;
    unsigned char *payload = NULL, *msg = NULL, **sig = NULL;
    assay_pubkey *key = NULL;
    size_t plen = 0, mlen, *slen = NULL;
    int rc, nsig = 0, skipped = 0, tried = 0;
    memset(out, 0, sizeof *out);
    rc = assay_json_strict(env, len);
    if (rc == 0 && !(e = cJSON_ParseWithLength(env, len)))
        rc = assay_error_set(ASSAY_EINVAL, "cJSON cannot read it");
    if (rc == 0)
        rc = assay_json_unique_names(e);
    if (rc < 0) {
        assay_error_wrap("not a DSSE envelope");
        goto out;
    }
    const char *type = dsse_str(e, "payloadType"), *pl = dsse_str(e, "payload");
    const cJSON *sigs = cJSON_GetObjectItemCaseSensitive(e, "signatures"), *s;
    rc = ASSAY_EINVAL;
    if (!cJSON_IsObject(e) || !type || !pl || !cJSON_IsArray(sigs) || (nsig = cJSON_GetArraySize(sigs)) < 1) {
        assay_error_set(rc, "not a DSSE envelope (it needs the strings payloadType and payload, and signatures)");
        goto out;
    }
    /* Each signature costs a verification: a cap keeps a file of a million
     * signatures from holding a verifier for hours. */
    if (nsig > ASSAY_DSSE_MAX_SIGS) {
        rc = assay_error_set(ASSAY_ETOOBIG, "more than %d signatures", ASSAY_DSSE_MAX_SIGS);
        goto out;
    }
    if (!(sig = calloc((size_t)nsig, sizeof *sig)) || !(slen = calloc((size_t)nsig, sizeof *slen))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    if (!(payload = assay_base64_decode(pl, strlen(pl), &plen))) {
        assay_error_set(rc, "the payload is not base64");
        goto out;
    }
    int i = 0;
    cJSON_ArrayForEach(s, sigs)
    {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(s, "keyid");
        const char *sv = dsse_str(s, "sig");
        if (!cJSON_IsObject(s) || !sv || (k && !cJSON_IsString(k) && !cJSON_IsNull(k))) {
            assay_error_set(rc, "signature %d is not an object with the string sig (and keyid a string if set)", i + 1);
            goto out;
        }
        if (!(sig[i] = assay_base64_decode(sv, strlen(sv), &slen[i]))) {
            assay_error_set(rc, "signature %d is not base64", i + 1);
            goto out;
        }
        i++;
    }
    if (strcmp(type, ASSAY_DSSE_TYPE)) {
        rc = assay_error_set(ASSAY_EVERIFY, "payload type is '%.64s', not %s", type, ASSAY_DSSE_TYPE);
        goto out;
    }
    if (!(msg = pae(type, (const char *)payload, plen, &mlen))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = assay_pubkey_load(&key, pem, pemlen, out->keyid, out->alg)) < 0)
        goto out;
    rc = ASSAY_EVERIFY;
    i = 0;
    cJSON_ArrayForEach(s, sigs)
    {
        const char *kid = dsse_str(s, "keyid");
        i++;
        if (kid && kid[0] && strcmp(kid, out->keyid)) { /* another key's: not counted */
            skipped++;
            continue;
        }
        tried++;
        if (assay_pubkey_verify(key, msg, mlen, sig[i - 1], slen[i - 1]) == 0) {
            rc = 0;
            break;
        }
    }
    if (rc < 0) {
        rc = assay_error_set(ASSAY_EVERIFY, "no signature verifies under key %.16s... (of %d: %d tried, %d naming another key)",
                             out->keyid, nsig, tried, skipped);
        goto out;
    }
    /* The signature covers the exact payload bytes: parse them only now,
     * as strictly as the envelope (the script of docs/verify.md does too). */
    if (assay_json_strict((const char *)payload, plen) == 0)
        st = cJSON_ParseWithLength((const char *)payload, plen);
    if (!cJSON_IsObject(st) || assay_json_unique_names(st) < 0 || strcmp(assay_json_str(st, "_type"), STATEMENT_TYPE) ||
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
    for (i = 0; sig && i < nsig; i++)
        free(sig[i]);
    free(sig);
    free(slen);
    assay_pubkey_free(key);
    cJSON_Delete(e);
    cJSON_Delete(st);
    free(payload);
    free(msg);
    return rc;
}

/* ---- the forms made from a verified payload -------------------------------
 *
 * Every string of the payload is text to these writers, the lab's own
 * included: a vendor named the product, the steps and the benchmarks, an
 * agent on a host measured the facts and wrote the reasons and the logs.
 * They go through assay_markup_text/attr only (markup.h); the page's own
 * markup is literals and numbers.
 */

/* Short names for the two calls nearly every line below makes. */
#define W_RAW assay_markup_raw
#define W_TEXT assay_markup_text

static const cJSON *obj(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Issue 14 item 3: a step's SIGILL and what preflight found about it
 * ("sigill_preflight"), Chinese then English, for HTML or Markdown. */
static void sigill_note(assay_markup *w, const cJSON *x, int html)
{
    const cJSON *n = obj(x, "sigill_preflight");
    if (!n)
        return;
    if (html)
        W_RAW(w, "<br><small>");
    else
        W_RAW(w, "\n");
    W_RAW(w, "预检已预见 predicted by preflight: ");
    W_TEXT(w, assay_json_str(n, "zh"));
    if (html)
        W_RAW(w, " / ");
    else
        W_RAW(w, "\n  ");
    W_TEXT(w, assay_json_str(n, "en"));
    if (html)
        W_RAW(w, "</small>");
}

/* A verdict's CSS class: one of the page's own names, never the payload's. */
static const char *verdict_class(const char *v)
{
    static const char *const known[] = {"pass",    "fail",     "error",
                                        "skipped", "canceled", "incomplete"};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(v, known[i]))
            return known[i];
    /* The vendor's gap reads as the product's failure. */
    if (!strcmp(v, "not-provided"))
        return "fail";
    return "incomplete";
}


/* The conclusion of the payload (issue 12: certified or not, with the
 * reasons), or NULL for a report made before it existed. */
static const cJSON *conclusion(const cJSON *p)
{
    const cJSON *c = obj(p, "conclusion");
    return cJSON_IsObject(c) && cJSON_IsBool(obj(c, "certified")) ? c : NULL;
}

static int certified(const cJSON *c)
{
    return cJSON_IsTrue(obj(c, "certified"));
}

/* "中文 / English" of a reason or condition. */
static void both_langs(assay_markup *w, const cJSON *r, const char *sep)
{
    const char *zh = assay_json_str(r, "zh"), *en = assay_json_str(r, "en");
    W_TEXT(w, zh[0] ? zh : assay_json_str(r, "code"));
    if (en[0]) {
        W_TEXT(w, sep);
        W_TEXT(w, en);
    }
}

static const char *profile_id(const cJSON *t)
{
    return assay_json_str(obj(t, "profile"), "id");
}

/* ---- what the html and the pdf both say ----------------------------------- */

/* "a b" of two strings of o (either may be missing), into out. */
static void two(char *out, size_t n, const cJSON *o, const char *a, const char *b)
{
    const char *x = assay_json_str(o, a), *y = assay_json_str(o, b);
    snprintf(out, n, "%s%s%s", x, x[0] && y[0] ? " " : "", y);
}

void assay_report_environment(const cJSON *t, assay_report_env_row row, void *ctx)
{
    const cJSON *pf = obj(t, "profile"), *f = obj(t, "facts");
    const char *none = cJSON_IsObject(f) ? "-" : "未测得 not measured";
    char a[300], b[300];
    const char *pname = assay_json_str(pf, "name_zh")[0] ? assay_json_str(pf, "name_zh") : assay_json_str(pf, "name");
    two(a, sizeof a, obj(t, "host"), "name", "hostkey");
    row(ctx, "主机 Host", pname[0] ? pname : profile_id(t), a[0] ? a : "-");
    row(ctx, "架构 Architecture", assay_json_str(pf, "arch"), assay_json_str(f, "arch")[0] ? assay_json_str(f, "arch") : none);
    two(a, sizeof a, obj(pf, "cpu"), "vendor", "model");
    two(b, sizeof b, obj(f, "cpu"), "vendor", "model");
    if (!b[0])
        snprintf(b, sizeof b, "%s", assay_json_str(obj(f, "cpu"), "model_name"));
    row(ctx, "处理器 CPU", a, b[0] ? b : none);
    two(a, sizeof a, obj(pf, "os"), "name", "version");
    const char *os = assay_json_str(obj(f, "os"), "pretty_name");
    row(ctx, "操作系统 OS", a, os[0] ? os : none);
    const char *kr = assay_json_str(obj(f, "kernel"), "release");
    row(ctx, "内核 Kernel", assay_json_str(pf, "kernel"), kr[0] ? kr : none);
    row(ctx, "glibc", assay_json_str(pf, "glibc"), assay_json_str(f, "glibc")[0] ? assay_json_str(f, "glibc") : none);
    snprintf(a, sizeof a, "%.0f", assay_json_num(pf, "page_size"));
    snprintf(b, sizeof b, "%.0f", assay_json_num(f, "page_size"));
    row(ctx, "页大小 Page size", cJSON_IsNumber(obj(pf, "page_size")) ? a : "", cJSON_IsNumber(obj(f, "page_size")) ? b : none);
    if (assay_json_str(f, "memory_bytes")[0])
        snprintf(b, sizeof b, "%.1f GiB, %.0f cores", strtod(assay_json_str(f, "memory_bytes"), NULL) / (1 << 30),
                 assay_json_num(obj(f, "cpu"), "cores_online"));
    else
        snprintf(b, sizeof b, "%s", none);
    row(ctx, "内存与核数 Memory, cores", "", b);
    row(ctx, "运行方式 Execution", "",
        cJSON_IsTrue(obj(t, "emulated")) ? "CPU 模拟（qemu），不代表目标硬件 CPU emulation (qemu), not the target's hardware"
        : cJSON_IsObject(f)              ? "真实硬件 on the host's own CPU"
                                         : none);
}

int assay_report_summary(char **zh, char **en, const cJSON *pred)
{
    const cJSON *con = conclusion(pred), *t, *r, *prod = obj(pred, "product");
    struct sb z = {0}, e = {0};
    int n = 0, pass = 0, fail = 0;
    if (!con)
        return assay_error_set(ASSAY_ENOTFOUND, "the report has no conclusion");
    cJSON_ArrayForEach(t, obj(pred, "targets"))
    {
        const char *v = assay_json_str(t, "verdict");
        n++;
        pass += !strcmp(v, "pass");
        fail += !strcmp(v, "fail") || !strcmp(v, "not-provided");
    }
    const char *date = assay_json_str(pred, "date_local")[0] ? assay_json_str(pred, "date_local") : assay_json_str(pred, "date");
    sb_printf(&z, "%s于 %s 对%s的 %s %s 在 %d 个目标平台上进行了适配测试：通过 %d 个，不通过 %d 个，未能完成 %d 个。"
                  "结论：%s。",
              assay_json_str(pred, "centre"), date, assay_json_str(prod, "vendor"), assay_json_str(prod, "name"),
              assay_json_str(prod, "version"), n, pass, fail, n - pass - fail, certified(con) ? "已认证" : "未认证");
    sb_printf(&e, "%s tested %s %s by %s on %d target platform%s (%s UTC): %d passed, %d failed, %d could not be "
                  "completed. Conclusion: %s.",
              assay_json_str(pred, "centre"), assay_json_str(prod, "name"), assay_json_str(prod, "version"),
              assay_json_str(prod, "vendor"), n, n == 1 ? "" : "s", assay_json_str(pred, "date"), pass, fail,
              n - pass - fail, certified(con) ? "certified" : "not certified");
    if (!certified(con)) {
        /* Which targets do not certify and how many reasons each has; the
         * reasons themselves follow the paragraph, one by one. */
        int k = 0, all = cJSON_GetArraySize(obj(con, "reasons"));
        cJSON_ArrayForEach(t, obj(pred, "targets"))
        {
            int nr = 0;
            cJSON_ArrayForEach(r, obj(con, "reasons")) nr += !strcmp(assay_json_str(r, "target"), profile_id(t));
            if (!nr)
                continue;
            sb_printf(&z, "%s%s（%d 条原因）", k ? "、" : "未能认证的目标：", profile_id(t), nr);
            sb_printf(&e, "%s%s (%d reason%s)", k ? ", " : " Targets not certified: ", profile_id(t), nr,
                      nr == 1 ? "" : "s");
            k++;
        }
        sb_printf(&z, "%s共 %d 条原因，逐条列于下方。", k ? "；" : "", all);
        sb_printf(&e, "%s%d reason%s in all, each listed below.", k ? "; " : " ", all, all == 1 ? "" : "s");
    }
    char *zt = NULL;
    int rc = sb_done(&z, &zt);
    if (rc < 0) {
        sb_done(&e, &zt);
        free(zt);
        return rc;
    }
    if ((rc = sb_done(&e, en)) < 0) {
        free(zt);
        return rc;
    }
    *zh = zt;
    return 0;
}

const char *const assay_report_people[3][3] = {
    {"tested_by", "测试人", "Tested by"}, {"reviewed_by", "审核人", "Reviewed by"}, {"approved_by", "批准人", "Approved by"}};

/* ---- html ------------------------------------------------------------------ */

static void html_verdict(assay_markup *w, const char *v)
{
    assay_markup_attr(w, "class", verdict_class(v));
    W_RAW(w, ">");
    W_TEXT(w, assay_report_verdict_zh(v));
    W_RAW(w, " ");
    W_TEXT(w, v);
}

/* Words for the figures' codes, Chinese first. */
static const char *stability_words(const char *v)
{
    return !strcmp(v, "stable")            ? "稳定 stable"
           : !strcmp(v, "unstable")        ? "不稳定 unstable"
           : !strcmp(v, "too-few-samples") ? "样本过少 too few samples"
                                           : "无样本 no samples";
}

static const char *stop_words(const char *v)
{
    return !strcmp(v, "stable")     ? "已稳定 reached its target"
           : !strcmp(v, "max")      ? "达到最多次数 maximum count"
           : !strcmp(v, "budget")   ? "时间预算用尽 time budget spent"
           : !strcmp(v, "failed")   ? "运行失败 a run failed"
           : !strcmp(v, "canceled") ? "已取消 canceled"
           : !strcmp(v, "count")    ? "固定次数 fixed count"
                                    : "-";
}

/* x in [0, max] to a pixel in [x0, x0 + width]. */
static int px(double x, double max, int x0, int width)
{
    if (!(max > 0) || !isfinite(x) || x < 0)
        return x0;
    return x0 + (int)(width * (x > max ? 1 : x / max));
}

/* One benchmark across targets: a dot at each median and a line over its
 * 95% interval; emulated targets pale, unstable ones orange. */
static void svg_chart(assay_markup *w, const cJSON *c)
{
    const cJSON *rows = obj(c, "targets"), *r;
    int n = cJSON_GetArraySize(rows), h = 26, wd = 640, left = 260, span = wd - left - 90;
    double max = 0;
    cJSON_ArrayForEach(r, rows) max = fmax(max, fmax(assay_json_num(r, "ci_hi"), assay_json_num(r, "median")));
    assay_markup_rawf(w, "<svg width=\"%d\" height=\"%d\" role=\"img\">", wd, n * h + 10);
    int i = 0;
    cJSON_ArrayForEach(r, rows)
    {
        int y = 5 + i * h + h / 2, emu = cJSON_IsTrue(obj(r, "emulated")),
            bad = strcmp(assay_json_str(r, "stability"), "stable") != 0;
        const char *col = emu ? "#9bb7d4" : bad ? "#d9822b" : "#2f6ea8";
        double med = assay_json_num(r, "median");
        assay_markup_rawf(w, "<text x=\"0\" y=\"%d\" font-size=\"12\">", y + 4);
        W_TEXT(w, assay_json_str(r, "profile"));
        if (emu)
            W_RAW(w, " *");
        W_RAW(w, "</text><line");
        assay_markup_rawf(w, " x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke-width=\"3\" stroke=\"",
                          px(assay_json_num(r, "ci_lo"), max, left, span), y,
                          px(assay_json_num(r, "ci_hi"), max, left, span), y);
        W_TEXT(w, col);
        assay_markup_rawf(w, "\"/><circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"", px(med, max, left, span), y);
        W_TEXT(w, col);
        assay_markup_rawf(w, "\"/><text x=\"%d\" y=\"%d\" font-size=\"12\">%.4g",
                          px(assay_json_num(r, "ci_hi"), max, left, span) + 8, y + 4, med);
        if (bad)
            W_RAW(w, " !");
        W_RAW(w, "</text>");
        i++;
    }
    W_RAW(w, "</svg>");
}

/* The ratio this/baseline of each pair with its interval, around a line at
 * 1 (no change); the scale is 0.5 to 2, logarithmic, clipped. */
static void svg_ratio_chart(assay_markup *w, const cJSON *rows)
{
    const cJSON *r;
    int n = 0, h = 24, wd = 640, left = 300, span = wd - left - 40;
    cJSON_ArrayForEach(r, rows) n += cJSON_IsNumber(obj(r, "ratio"));
    if (n == 0)
        return;
#define RX(v) (left + (int)(span * (fmin(fmax(log2(v), -1), 1) + 1) / 2))
    assay_markup_rawf(w, "<svg width=\"%d\" height=\"%d\" role=\"img\">", wd, n * h + 24);
    assay_markup_rawf(w, "<line x1=\"%d\" y1=\"0\" x2=\"%d\" y2=\"%d\" stroke=\"#888\" stroke-dasharray=\"4\"/>",
                      RX(1.0), RX(1.0), n * h + 6);
    assay_markup_rawf(w, "<text x=\"%d\" y=\"%d\" font-size=\"11\">0.5x</text><text x=\"%d\" y=\"%d\" "
                         "font-size=\"11\">1x</text><text x=\"%d\" y=\"%d\" font-size=\"11\">2x</text>",
                      RX(0.5), n * h + 20, RX(1.0) - 6, n * h + 20, RX(2.0) - 16, n * h + 20);
    int i = 0;
    cJSON_ArrayForEach(r, rows)
    {
        if (!cJSON_IsNumber(obj(r, "ratio")))
            continue;
        int y = 3 + i * h + h / 2;
        const char *v = assay_json_str(r, "verdict");
        const char *col = !strcmp(v, "faster") ? "#2e7d32" : !strcmp(v, "slower") ? "#c62828" : "#555";
        double ratio = assay_json_num(r, "ratio"), lo = assay_json_num(r, "ratio_lo"), hi = assay_json_num(r, "ratio_hi");
        assay_markup_rawf(w, "<text x=\"0\" y=\"%d\" font-size=\"12\">", y + 4);
        W_TEXT(w, assay_json_str(r, "name"));
        W_RAW(w, " / ");
        W_TEXT(w, assay_json_str(r, "profile"));
        assay_markup_rawf(w, "</text><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke-width=\"3\" stroke=\"",
                          lo > 0 ? RX(lo) : left, y, hi > 0 ? RX(hi) : left, y);
        W_TEXT(w, col);
        assay_markup_rawf(w, "\"/><circle cx=\"%d\" cy=\"%d\" r=\"5\" fill=\"", ratio > 0 ? RX(ratio) : left, y);
        W_TEXT(w, col);
        W_RAW(w, "\"/>");
        i++;
    }
#undef RX
    W_RAW(w, "</svg>");
}

/* "1.02 [0.98, 1.05], p = 0.41, 无可测差异 no measurable difference" */
static void html_vs(assay_markup *w, const cJSON *x)
{
    if (cJSON_IsNumber(obj(x, "ratio")))
        assay_markup_rawf(w, "%.3f [%.3f, %.3f], p = %.2g, ", assay_json_num(x, "ratio"), assay_json_num(x, "ratio_lo"),
                          assay_json_num(x, "ratio_hi"), assay_json_num(x, "p"));
    W_TEXT(w, assay_json_str(x, "verdict_zh"));
    W_RAW(w, " ");
    W_TEXT(w, assay_json_str(x, "verdict"));
    if (assay_json_str(x, "why")[0]) {
        W_RAW(w, " (");
        W_TEXT(w, assay_json_str(x, "why"));
        W_RAW(w, ")");
    }
}

/* "12.3 [11.9, 12.8] (n 10)" for one side of a comparison. */
static void html_figure(assay_markup *w, const cJSON *x)
{
    assay_markup_rawf(w, "%.4g [%.4g, %.4g] (n %.0f) ", assay_json_num(x, "median"), assay_json_num(x, "ci_lo"),
                      assay_json_num(x, "ci_hi"), assay_json_num(x, "n"));
    W_TEXT(w, stability_words(assay_json_str(x, "stability")));
    W_RAW(w, "<br><small>");
    W_TEXT(w, assay_json_str(x, "host"));
    if (cJSON_IsNumber(obj(x, "load_before")) && cJSON_IsNumber(obj(x, "load_after")))
        assay_markup_rawf(w, ", 负载 load %.2f → %.2f on %.0f cores", assay_json_num(x, "load_before"),
                          assay_json_num(x, "load_after"), assay_json_num(x, "cores"));
    W_RAW(w, "</small>");
}

/* "<tr><th>label</th><td>value</td></tr>", both escaped. */
static void html_row(assay_markup *w, const char *label, const char *value)
{
    W_RAW(w, "<tr><th>");
    W_TEXT(w, label);
    W_RAW(w, "</th><td>");
    W_TEXT(w, value);
    W_RAW(w, "</td></tr>");
}

static void html_conditions(assay_markup *w, const cJSON *list)
{
    const cJSON *r;
    if (cJSON_GetArraySize(list) == 0)
        return;
    W_RAW(w, "<ul>");
    cJSON_ArrayForEach(r, list)
    {
        W_RAW(w, "<li>");
        if (assay_json_str(r, "target")[0]) {
            W_RAW(w, "<b>");
            W_TEXT(w, assay_json_str(r, "target"));
            W_RAW(w, "</b>: ");
        }
        both_langs(w, r, " / ");
        W_RAW(w, "</li>");
    }
    W_RAW(w, "</ul>");
}

/* A target's certification cell: yes, or no with its conditions. */
static void html_certifies(assay_markup *w, const cJSON *t)
{
    if (cJSON_IsTrue(obj(t, "certifies")))
        W_RAW(w, "<td class=\"pass\">是 yes");
    else
        W_RAW(w, "<td class=\"fail\">否 no");
    html_conditions(w, obj(t, "conditions"));
    W_RAW(w, "</td>");
}

static void html_findings(assay_markup *w, const cJSON *pk)
{
    const cJSON *pf, *fd;
    W_RAW(w, "<table><tr><th>预检 Preflight</th><th>文件 File</th><th>发现 Found</th><th>建议 "
             "Hint</th></tr>");
    cJSON_ArrayForEach(pf, obj(pk, "files")) cJSON_ArrayForEach(fd, obj(pf, "findings"))
    {
        W_RAW(w, "<tr><td");
        assay_markup_attr(w, "class",
                          !strcmp(assay_json_str(fd, "severity"), "error") ? "fail" : "error");
        W_RAW(w, ">");
        W_TEXT(w, assay_json_str(fd, "severity"));
        W_RAW(w, " ");
        W_TEXT(w, assay_json_str(fd, "check"));
        W_RAW(w, "</td><td><code>");
        W_TEXT(w, assay_json_str(pf, "path"));
        W_RAW(w, "</code></td><td>");
        W_TEXT(w, assay_json_str(fd, "found"));
        W_RAW(w, "</td><td>");
        W_TEXT(w, assay_json_str(fd, "hint"));
        W_RAW(w, "</td></tr>");
    }
    W_RAW(w, "</table>\n");
}

/* The tails of a failed step's output, from the payload (each stream's
 * `tail`); the full logs are in the lab's blob store by digest. */
static void html_tails(assay_markup *w, const cJSON *x)
{
    static const char *const streams[] = {"stderr", "stdout"};
    const cJSON *lg = obj(x, "logs");
    for (int k = 0; k < 2; k++) {
        const cJSON *one = obj(lg, streams[k]);
        const char *tail = assay_json_str(one, "tail");
        if (!tail[0])
            continue;
        W_RAW(w, "<tr><td colspan=\"5\"><small>");
        W_TEXT(w, streams[k]);
        W_RAW(w, " (末尾 last 2 KiB; 完整日志 full log: sha256 <code>");
        W_TEXT(w, assay_json_str(one, "sha256"));
        W_RAW(w, "</code>)</small><pre>");
        W_TEXT(w, tail);
        W_RAW(w, "</pre></td></tr>");
    }
}

/* One row of the steps table: install, a test or uninstall, and for a
 * step that failed, the tails of its output. */
static void html_step_row(assay_markup *w, const cJSON *x)
{
    W_RAW(w, "<tr><td>");
    W_TEXT(w, assay_json_str(x, "name"));
    /* Its honesty rests on the host reset, not on the run user. */
    if (cJSON_IsTrue(obj(x, "privileged")))
        W_RAW(w, " <small>(以 root 运行 ran as root)</small>");
    W_RAW(w, "</td><td");
    html_verdict(w, assay_json_str(x, "verdict"));
    if (assay_json_str(x, "reason")[0]) {
        W_RAW(w, "<br><small>");
        W_TEXT(w, assay_json_str(x, "reason"));
        W_RAW(w, "</small>");
    }
    const cJSON *ec = obj(x, "exit_code");
    W_RAW(w, "</td><td>");
    if (cJSON_IsNumber(ec))
        assay_markup_rawf(w, "%d", ec->valueint);
    else
        W_TEXT(w, assay_json_str(x, "signal"));
    sigill_note(w, x, 1); /* issue 14 item 3 */
    assay_markup_rawf(w, "</td><td>%.3f s</td><td><code>", assay_json_num(x, "duration_s"));
    W_RAW(w, "stdout ");
    assay_markup_textf(w, "%.16s", assay_json_str(obj(obj(x, "logs"), "stdout"), "sha256"));
    W_RAW(w, "<br>stderr ");
    assay_markup_textf(w, "%.16s", assay_json_str(obj(obj(x, "logs"), "stderr"), "sha256"));
    W_RAW(w, "</code></td></tr>");
    html_tails(w, x);
}

/* What affects a benchmark on this host: CPU model, frequency governor
 * and clock, SMT, memory, the load before the job and after it. */
static void html_environment(assay_markup *w, const cJSON *f, const cJSON *after)
{
    const cJSON *e = obj(f, "environment"), *before = obj(e, "load_avg");
    W_TEXT(w, assay_json_str(obj(f, "cpu"), "model_name")[0] ? assay_json_str(obj(f, "cpu"), "model_name") : "-");
    assay_markup_rawf(w, ", %.0f cores; 调频 governor ", assay_json_num(obj(f, "cpu"), "cores_online"));
    W_TEXT(w, assay_json_str(e, "governor")[0] ? assay_json_str(e, "governor") : "-");
    if (cJSON_IsNumber(obj(e, "cpu0_mhz")))
        assay_markup_rawf(w, " (cpu0 %.0f of %.0f MHz)", assay_json_num(e, "cpu0_mhz"), assay_json_num(e, "cpu0_max_mhz"));
    W_RAW(w, "; SMT ");
    W_TEXT(w, assay_json_str(e, "smt")[0] ? assay_json_str(e, "smt") : "-");
    if (assay_json_str(f, "memory_bytes")[0])
        assay_markup_rawf(w, "; 内存 memory %.1f GiB", strtod(assay_json_str(f, "memory_bytes"), NULL) / (1 << 30));
    if (assay_json_str(e, "memory_available_bytes")[0])
        assay_markup_rawf(w, " (%.1f GiB free at start)", strtod(assay_json_str(e, "memory_available_bytes"), NULL) / (1 << 30));
    W_RAW(w, "; 负载 load ");
    if (cJSON_GetArraySize(before) == 3)
        assay_markup_rawf(w, "%.2f", cJSON_GetArrayItem(before, 0)->valuedouble);
    else
        W_RAW(w, "-");
    W_RAW(w, " before, ");
    if (cJSON_GetArraySize(after) == 3)
        assay_markup_rawf(w, "%.2f", cJSON_GetArrayItem(after, 0)->valuedouble);
    else
        W_RAW(w, "-");
    W_RAW(w, " after (1 min)");
}

static void html_env_row(void *ctx, const char *label, const char *profile, const char *measured)
{
    assay_markup *w = ctx;
    W_RAW(w, "<tr><th>");
    W_TEXT(w, label);
    W_RAW(w, "</th><td>");
    W_TEXT(w, profile[0] ? profile : "-");
    W_RAW(w, "</td><td>");
    W_TEXT(w, measured);
    W_RAW(w, "</td></tr>");
}

/* 测试环境: each target's profile beside what its host measured. */
static void html_test_environment(assay_markup *w, const cJSON *targets)
{
    const cJSON *t;
    W_RAW(w, "<h2>测试环境 Test environment</h2>\n");
    cJSON_ArrayForEach(t, targets)
    {
        W_RAW(w, "<h3>");
        W_TEXT(w, profile_id(t));
        W_RAW(w, "</h3>\n<table><tr><th>项目 Item</th><th>目标配置 Profile</th><th>实测 Measured on the host</th></tr>");
        assay_report_environment(t, html_env_row, w);
        W_RAW(w, "</table>\n");
    }
}

/* 测试人 / 审核人 / 批准人, from the lab's settings; an empty line to sign
 * by hand beside each. */
static void html_people(assay_markup *w, const cJSON *p)
{
    const cJSON *pe = obj(p, "people");
    W_RAW(w, "<h2>签字 Sign-off</h2>\n<table class=\"people\"><tr><th></th><th>姓名 Name</th><th>签字 Signature</th>"
             "<th>日期 Date</th></tr>");
    for (int i = 0; i < 3; i++) {
        W_RAW(w, "<tr><th>");
        W_TEXT(w, assay_report_people[i][1]);
        W_RAW(w, " ");
        W_TEXT(w, assay_report_people[i][2]);
        W_RAW(w, "</th><td>");
        W_TEXT(w, assay_json_str(pe, assay_report_people[i][0]));
        W_RAW(w, "</td><td></td><td></td></tr>");
    }
    W_RAW(w, "</table>\n");
}

int assay_report_html(char **out, const assay_report_check *c)
{
    const cJSON *p = obj(c->statement, "predicate"), *t, *x;
    const cJSON *prod = obj(p, "product"), *con = conclusion(p);
    assay_markup *w;
    int rc = assay_markup_new(&w, ASSAY_MARKUP_HTML, 0);
    if (rc < 0)
        return rc;
    W_RAW(w, "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
             "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src "
             "'unsafe-inline'\">"
             "<title>适配测试报告 Adaptation Test Report ");
    W_TEXT(w, assay_json_str(p, "report_number"));
    W_RAW(
        w,
        "</"
        "title><style>body{font-family:\"Noto Sans CJK SC\",\"Source Han Sans SC\",\"WenQuanYi Micro Hei\","
        "\"Noto Sans SC\",\"Microsoft YaHei\",\"PingFang SC\",sans-serif;margin:2em;color:#111}"
        ".summary{line-height:1.6}.people td{min-width:12em;height:2.2em}table{border-collapse:"
        "collapse;"
        "margin:.5em 0 1.5em}td,th{border:1px solid #999;padding:.25em "
        ".5em;text-align:left;vertical-align:top}"
        "th{background:#eee}.pass{color:#0a6b0a;font-weight:bold}.fail{color:#b00;font-weight:bold}"
        ".error,.incomplete,.canceled{color:#a60;font-weight:bold}.note{background:#fff6d6;padding:"
        ".5em;"
        "border:1px solid #e0c060}.conclusion{padding:.5em 1em;border:2px "
        "solid}.certified{border-color:#0a6b0a}"
        ".not-certified{border-color:#b00}code{font-size:90%;overflow-wrap:anywhere}td{overflow-"
        "wrap:anywhere}pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:85%;margin:.25em 0}"
        "@page{size:A4;margin:18mm 15mm 20mm;@bottom-center{content:\"第 \" counter(page) \" 页，共 \" "
        "counter(pages) \" 页 Page \" counter(page) \" of \" counter(pages);font-size:9pt}}"
        "@media print{body{margin:0}h2{break-after:avoid}tr,pre{break-inside:avoid}"
        ".conclusion,.people{break-inside:avoid}}</style></head><body>\n");
    W_RAW(w, "<h1>适配测试报告 / Adaptation Test Report</h1>\n");
    if (con) {
        if (certified(con))
            W_RAW(w, "<section class=\"conclusion certified\"><h2 class=\"pass\">结论：已认证 / "
                     "Conclusion: certified</h2>");
        else
            W_RAW(w, "<section class=\"conclusion not-certified\"><h2 class=\"fail\">结论：未认证 "
                     "/ Conclusion: not certified</h2>");
        char *zh = NULL, *en = NULL;
        if (assay_report_summary(&zh, &en, p) == 0) {
            W_RAW(w, "<p class=\"summary\">");
            W_TEXT(w, zh);
            W_RAW(w, "</p><p class=\"summary\" lang=\"en\">");
            W_TEXT(w, en);
            W_RAW(w, "</p>");
        }
        free(zh);
        free(en);
        html_conditions(w, obj(con, "reasons"));
        W_RAW(w, "</section>\n");
    }
    W_RAW(w, "<table>");
    html_row(w, "报告编号 Report number", assay_json_str(p, "report_number"));
    html_row(w, "测试中心 Test centre", assay_json_str(p, "centre"));
    if (assay_json_str(p, "date_local")[0]) {
        W_RAW(w, "<tr><th>日期 Date</th><td>");
        W_TEXT(w, assay_json_str(p, "date_local"));
        W_RAW(w, " (");
        W_TEXT(w, assay_json_str(p, "timezone"));
        W_RAW(w, ")<br>");
        W_TEXT(w, assay_json_str(p, "date"));
        W_RAW(w, " (UTC)</td></tr>");
    } else {
        html_row(w, "日期 Date", assay_json_str(p, "date"));
    }
    W_RAW(w, "<tr><th>产品 Product</th><td>");
    W_TEXT(w, assay_json_str(prod, "name"));
    W_RAW(w, " ");
    W_TEXT(w, assay_json_str(prod, "version"));
    W_RAW(w, "</td></tr>");
    html_row(w, "厂商 Vendor", assay_json_str(prod, "vendor"));
    W_RAW(w, "<tr><th>结果 Verdict</th><td");
    html_verdict(w, assay_json_str(p, "verdict"));
    W_RAW(w, "</td></tr></table>\n");
    const cJSON *note;
    cJSON_ArrayForEach(note, obj(p, "notes"))
    {
        W_RAW(w, "<p class=\"note\">");
        W_TEXT(w, cJSON_IsString(note) ? note->valuestring : "");
        W_RAW(w, "</p>\n");
    }
    W_RAW(w, "<h2>目标平台 Targets</h2>\n<table><tr><th>平台 Profile</th><th>主机 "
             "Host</th><th>测试 Tests</th>"
             "<th>预检 Preflight</th><th>结果 Verdict</th>");
    if (con)
        W_RAW(w, "<th>认证 Certification</th>");
    W_RAW(w, "</tr>");
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        int pass = 0, n = 0;
        cJSON_ArrayForEach(x, obj(t, "tests"))
        {
            n++;
            pass += !strcmp(assay_json_str(x, "verdict"), "pass");
        }
        const char *pname = assay_json_str(obj(t, "profile"), "name");
        W_RAW(w, "<tr><td>");
        W_TEXT(w, pname[0] ? pname : profile_id(t));
        if (cJSON_IsTrue(obj(t, "emulated")))
            W_RAW(w, " <b>(模拟 emulated)</b>");
        W_RAW(w, "</td><td>");
        W_TEXT(w, assay_json_str(obj(t, "host"), "name"));
        const cJSON *pk = obj(obj(t, "preflight"), "package");
        assay_markup_rawf(w, "</td><td>%d / %d</td><td>", pass, n);
        char counts[200];
        if (cJSON_IsObject(pk)) /* with the coverage: "0 errors" never alone */
            W_TEXT(w, assay_pkgcheck_counts(counts, sizeof counts, pk));
        else
            W_RAW(w, "-");
        W_RAW(w, "</td><td");
        html_verdict(w, assay_json_str(t, "verdict"));
        W_RAW(w, "</td>");
        if (con)
            html_certifies(w, t);
        W_RAW(w, "</tr>");
    }
    W_RAW(w, "</table>\n");
    html_test_environment(w, obj(p, "targets"));
    const cJSON *cmp;
    if (cJSON_GetArraySize(obj(p, "comparison")) > 0)
        W_RAW(w, "<h2>性能对比 Benchmark comparison</h2>\n<p class=\"note\">点：中位数；线：中位数的 95% "
                 "置信区间；橙色：不稳定。Dot: the median; line: its 95% confidence interval; orange: unstable "
                 "(the interval is wider than the lab allows). 比值为本平台/最佳平台 The ratio is this target's "
                 "median over the best real target's; a difference counts only when the U test's p is under ");
    if (cJSON_GetArraySize(obj(p, "comparison")) > 0)
        assay_markup_rawf(w, "%.2g and the ratio's interval leaves out 1 (docs/report.md).</p>\n",
                          assay_json_num(obj(p, "statistics"), "alpha"));
    cJSON_ArrayForEach(cmp, obj(p, "comparison"))
    {
        W_RAW(w, "<h3>");
        W_TEXT(w, assay_json_str(cmp, "name"));
        W_RAW(w, " (");
        W_TEXT(w, assay_json_str(cmp, "unit"));
        W_RAW(w, ", ");
        W_TEXT(w, !strcmp(assay_json_str(cmp, "better"), "lower") ? "越低越好 lower" : "越高越好 higher");
        W_RAW(w, " is better)</h3>\n");
        svg_chart(w, cmp);
        W_RAW(w, "\n<table><tr><th>平台 Profile</th><th>样本 n</th><th>中位数 Median</th><th>95% 置信区间 CI</th>"
                 "<th>变异系数 CV</th><th>离群值 Outliers</th><th>停止原因 Stopped</th><th>稳定性 Stability</th>"
                 "<th>对比最佳 vs best</th></tr>");
        cJSON_ArrayForEach(x, obj(cmp, "targets"))
        {
            W_RAW(w, "<tr><td>");
            W_TEXT(w, assay_json_str(x, "profile"));
            if (cJSON_IsTrue(obj(x, "emulated")))
                W_RAW(w, " *");
            assay_markup_rawf(w, "</td><td>%.0f</td><td>%.4g</td><td>[%.4g, %.4g]</td><td>%.1f%%</td><td>%.0f</td><td>",
                              assay_json_num(x, "n"), assay_json_num(x, "median"), assay_json_num(x, "ci_lo"),
                              assay_json_num(x, "ci_hi"), 100 * assay_json_num(x, "cv"), assay_json_num(x, "outliers"));
            W_TEXT(w, stop_words(assay_json_str(obj(x, "stopped"), "reason")));
            W_RAW(w, "</td><td");
            assay_markup_attr(w, "class", !strcmp(assay_json_str(x, "stability"), "stable") ? "pass" : "fail");
            W_RAW(w, ">");
            W_TEXT(w, stability_words(assay_json_str(x, "stability")));
            W_RAW(w, "</td><td>");
            if (cJSON_IsTrue(obj(x, "best")))
                W_RAW(w, "最佳 best");
            else if (cJSON_IsTrue(obj(x, "emulated")))
                W_RAW(w, "模拟，不比较 emulated, not compared");
            else if (cJSON_IsObject(obj(x, "vs_best")))
                html_vs(w, obj(x, "vs_best"));
            W_RAW(w, "</td></tr>");
        }
        W_RAW(w, "</table>\n");
    }
    const cJSON *base = obj(p, "baseline");
    if (cJSON_IsObject(base)) {
        W_RAW(w, "<h2>版本对比 Comparison with a baseline</h2>\n<p>基线 Baseline: ");
        W_TEXT(w, assay_json_str(base, "product"));
        W_RAW(w, " ");
        W_TEXT(w, assay_json_str(base, "version"));
        W_RAW(w, ", report ");
        W_TEXT(w, assay_json_str(base, "report_number"));
        assay_markup_rawf(w, " (run %.0f). 比值为本次/基线 The ratio is this run's median over the baseline's; "
                             "left of 1x: smaller figures.</p>\n",
                          assay_json_num(base, "run"));
        svg_ratio_chart(w, obj(base, "benchmarks"));
        W_RAW(w, "\n<table><tr><th>基准 Benchmark</th><th>平台 Profile</th><th>基线 Baseline</th><th>本次 This "
                 "run</th><th>比值与结论 Ratio and verdict</th></tr>");
        cJSON_ArrayForEach(x, obj(base, "benchmarks"))
        {
            W_RAW(w, "<tr><td>");
            W_TEXT(w, assay_json_str(x, "name"));
            W_RAW(w, " (");
            W_TEXT(w, assay_json_str(x, "unit"));
            W_RAW(w, ")</td><td>");
            W_TEXT(w, assay_json_str(x, "profile"));
            if (cJSON_IsTrue(obj(x, "emulated")))
                W_RAW(w, " *");
            W_RAW(w, "</td><td>");
            html_figure(w, obj(x, "baseline"));
            W_RAW(w, "</td><td>");
            html_figure(w, obj(x, "this"));
            W_RAW(w, "</td><td>");
            html_vs(w, x);
            W_RAW(w, "</td></tr>");
        }
        W_RAW(w, "</table>\n");
    }
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        const cJSON *f = obj(t, "facts"), *cpu = obj(f, "cpu"), *os = obj(f, "os"),
                    *ag = obj(t, "agent");
        W_RAW(w, "<h2>");
        W_TEXT(w, profile_id(t));
        W_RAW(w, "</h2>\n<table>");
        if (con) {
            W_RAW(w, "<tr><th>认证 Certification</th>");
            html_certifies(w, t);
            W_RAW(w, "</tr>");
        }
        W_RAW(w, "<tr><th>主机 Host</th><td>");
        W_TEXT(w, assay_json_str(obj(t, "host"), "name"));
        W_RAW(w, " <code>");
        W_TEXT(w, assay_json_str(obj(t, "host"), "hostkey"));
        W_RAW(w, "</code>");
        const cJSON *reset = obj(t, "host_reset");
        if (cJSON_IsTrue(reset))
            W_RAW(w, " (已重置 reset before the job)");
        else if (cJSON_IsFalse(reset))
            W_RAW(w, " (未重置 not reset before the job)");
        W_RAW(w, "</td></tr><tr><th>实测 Measured</th><td>");
        W_TEXT(w, assay_json_str(f, "arch"));
        W_RAW(w, ", ");
        W_TEXT(w, assay_json_str(cpu, "vendor"));
        W_RAW(w, " ");
        W_TEXT(w, assay_json_str(cpu, "model"));
        W_RAW(w, ", ");
        W_TEXT(w, assay_json_str(os, "pretty_name"));
        W_RAW(w, ", kernel ");
        W_TEXT(w, assay_json_str(obj(f, "kernel"), "release"));
        W_RAW(w, ", glibc ");
        W_TEXT(w, assay_json_str(f, "glibc"));
        assay_markup_rawf(w, ", page %d", (int)assay_json_num(f, "page_size"));
        W_RAW(w, "</td></tr><tr><th>性能环境 Performance conditions</th><td>");
        html_environment(w, f, obj(obj(t, "environment_after"), "load_avg"));
        W_RAW(w, "</td></tr><tr><th>代理 Agent</th><td>");
        W_TEXT(w, assay_json_str(ag, "version"));
        W_RAW(w, " ");
        W_TEXT(w, assay_json_str(ag, "triple"));
        W_RAW(w, " <code>sha256 ");
        W_TEXT(w, assay_json_str(ag, "sha256"));
        W_RAW(w, "</code></td></tr>");
        const cJSON *iso = obj(t, "isolation");
        if (cJSON_IsObject(iso) || cJSON_IsObject(obj(t, "facts"))) { /* the agent started the job */
            W_RAW(w, "<tr><th>隔离 Isolation</th><td>");
            if (!cJSON_IsObject(iso)) {
                W_RAW(w, "测试未隔离 tests not isolated: the agent did not say whom they ran as");
            } else if (cJSON_IsString(obj(iso, "run_user"))) {
                W_RAW(w, "测试以非特权用户运行 tests ran as ");
                W_TEXT(w, assay_json_str(iso, "run_user"));
                assay_markup_rawf(w, " (uid %d)", (int)assay_json_num(iso, "uid"));
            } else {
                W_RAW(w, "测试未隔离 tests not isolated: ");
                W_TEXT(w, assay_json_str(iso, "note"));
            }
            W_RAW(w, "</td></tr>");
        }
        if (assay_json_str(t, "reason")[0])
            html_row(w, "原因 Reason", assay_json_str(t, "reason"));
        if (cJSON_IsObject(obj(obj(t, "preflight"), "package"))) { /* what preflight read, beside what it found */
            /* The artifact installed: its file, or each file of a set in
             * the order $ASSAY_ARTIFACTS gives them. */
            const cJSON *pkpf = obj(obj(t, "preflight"), "package"), *set = obj(pkpf, "artifact_files"), *sf;
            if (cJSON_GetArraySize(set) > 1) {
                assay_markup_rawf(w, "<tr><th>制品 Artifact</th><td>%d 个文件一并安装 %d files installed together:",
                                  cJSON_GetArraySize(set), cJSON_GetArraySize(set));
                cJSON_ArrayForEach(sf, set) if (cJSON_IsString(sf))
                {
                    W_RAW(w, "<br><code>");
                    W_TEXT(w, sf->valuestring);
                    W_RAW(w, "</code>");
                }
                W_RAW(w, "</td></tr>");
            } else if (cJSON_IsString(obj(pkpf, "artifact"))) {
                html_row(w, "制品 Artifact", assay_json_str(pkpf, "artifact"));
            }
            char cov[200];
            html_row(w, "预检覆盖 Preflight coverage",
                     assay_pkgcheck_counts(cov, sizeof cov, obj(obj(t, "preflight"), "package")));
        }
        W_RAW(w, "</table>\n");
        const cJSON *pk = obj(obj(t, "preflight"), "package"),
                    *ph = obj(obj(t, "preflight"), "host");
        if (cJSON_IsObject(pk) &&
            (assay_json_num(pk, "errors") > 0 || assay_json_num(pk, "warnings") > 0))
            html_findings(w, pk);
        if (cJSON_IsObject(ph) &&
            (assay_json_num(ph, "errors") > 0 || assay_json_num(ph, "warnings") > 0))
            html_findings(w, ph);
        if (assay_json_num(t, "attempts") > 1) {
            W_RAW(w, "<table><tr><th>尝试 Attempt</th><th>主机 Host</th><th>结果 "
                     "Outcome</th><th>原因 Reason</th></tr>");
            cJSON_ArrayForEach(x, obj(t, "attempt_history"))
            {
                assay_markup_rawf(w, "<tr><td>%.0f</td><td>", assay_json_num(x, "attempt"));
                W_TEXT(w, assay_json_str(x, "host"));
                W_RAW(w, "</td><td>");
                W_TEXT(w, assay_json_str(x, "outcome"));
                W_RAW(w, "</td><td>");
                W_TEXT(w, assay_json_str(x, "reason"));
                W_RAW(w, "</td></tr>");
            }
            W_RAW(w, "</table>\n");
        }
        W_RAW(w, "<table><tr><th>步骤 Step</th><th>结果 Verdict</th><th>退出 Exit</th>"
                 "<th>耗时 Duration</th><th>日志 Logs sha256</th></tr>");
        const cJSON *steps = obj(t, "steps");
        if (cJSON_IsObject(obj(steps, "install")))
            html_step_row(w, obj(steps, "install"));
        cJSON_ArrayForEach(x, obj(t, "tests")) html_step_row(w, x);
        if (cJSON_IsObject(obj(steps, "uninstall")))
            html_step_row(w, obj(steps, "uninstall"));
        W_RAW(w, "</table>\n");
    }
    html_people(w, p);
    W_RAW(w, "<h2>签名 Signature</h2>\n<p>本页不是签名文件：请验证 JSON 报告。 This page shows the "
             "signed JSON report "
             "(a DSSE envelope). Verify that file, not this page: <code>assay verify "
             "report.json</code> or the openssl "
             "commands of the verification guide. 打印版上的二维码指向报告的验证地址（见 docs/report.md）。 The printed "
             "report's QR code leads to the report's verification address (docs/report.md).</p>\n<table><tr><th>密钥标识 "
             "Key id (SHA-256 of the public key)</th><td><code>");
    W_TEXT(w, c->keyid);
    W_RAW(w, "</code> (");
    W_TEXT(w, c->alg);
    W_RAW(w, ")</td></tr><tr><th>签名内容摘要 Payload SHA-256</th><td><code>");
    W_TEXT(w, c->payload_sha256);
    W_RAW(w, "</code></td></tr><tr><th>提交文件摘要 Submission SHA-256</th><td><code>");
    W_TEXT(w, assay_json_str(obj(p, "submission"), "sha256"));
    W_RAW(w, "</code></td></tr></table>\n</body></html>\n");
    return assay_markup_done(out, w);
}

/* ---- junit ----------------------------------------------------------------- */

#define TAIL_BYTES 2048

/* The last TAIL_BYTES of a stored log, from a character boundary. */
static char *log_tail(assay_lab *lab, const char *sha)
{
    char path[4096];
    if (!lab || !sha || !sha[0] || assay_blob_path(path, sizeof path, lab->blobs, sha) < 0)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    /* Three bytes more, to find where a character starts. */
    size_t want = TAIL_BYTES + 3;
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)want ? size - (off_t)want : 0;
    char *buf = malloc(want + 1);
    ssize_t n = buf ? pread(fd, buf, want, from) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    size_t at = assay_utf8_tail(buf, (size_t)n, TAIL_BYTES);
    memmove(buf, buf + at, (size_t)n - at);
    buf[(size_t)n - at] = '\0';
    return buf;
}

/* One testsuite being written: its testcases, and their counts. */
struct suite {
    assay_markup *cases;
    int tests, failures, errors, skipped;
    double time;
};

static void case_open(struct suite *s, const char *name, const char *classname, double time)
{
    s->tests++;
    s->time += time;
    W_RAW(s->cases, "    <testcase");
    assay_markup_attr(s->cases, "name", name);
    assay_markup_attr(s->cases, "classname", classname);
    assay_markup_rawf(s->cases, " time=\"%.3f\"", time);
}

static void case_pass(struct suite *s, const char *name, const char *classname, double time)
{
    case_open(s, name, classname, time);
    W_RAW(s->cases, "/>\n");
}

enum outcome { O_FAILURE, O_ERROR, O_SKIPPED };

/* A testcase that did not pass; `body` (may be NULL) and the tails of the
 * `logs` (a payload logs object, may be NULL) are its text. */
static void case_not_passed(struct suite *s, assay_lab *lab, const char *name,
                            const char *classname, double time, enum outcome o, const char *message,
                            const char *type, const char *body, const cJSON *logs)
{
    case_open(s, name, classname, time);
    W_RAW(s->cases, ">\n      ");
    if (o == O_FAILURE) {
        s->failures++;
        W_RAW(s->cases, "<failure");
    } else if (o == O_ERROR) {
        s->errors++;
        W_RAW(s->cases, "<error");
    } else {
        s->skipped++;
        W_RAW(s->cases, "<skipped");
    }
    assay_markup_attr(s->cases, "message", message);
    if (type)
        assay_markup_attr(s->cases, "type", type);
    if (o == O_SKIPPED) {
        W_RAW(s->cases, "/>\n    </testcase>\n");
        return;
    }
    W_RAW(s->cases, ">");
    if (body)
        W_TEXT(s->cases, body);
    if (logs) {
        char *out = log_tail(lab, assay_json_str(obj(logs, "stdout"), "sha256"));
        char *err = log_tail(lab, assay_json_str(obj(logs, "stderr"), "sha256"));
        W_TEXT(s->cases, "--- stdout (tail) ---\n");
        W_TEXT(s->cases, out);
        W_TEXT(s->cases, "\n--- stderr (tail) ---\n");
        W_TEXT(s->cases, err);
        free(out);
        free(err);
    }
    if (o == O_FAILURE)
        W_RAW(s->cases, "</failure>\n    </testcase>\n");
    else
        W_RAW(s->cases, "</error>\n    </testcase>\n");
}

/* A step or test of the payload as a testcase. */
static void case_step(struct suite *s, assay_lab *lab, const cJSON *x, const char *name,
                      const char *classname)
{
    const char *v = assay_json_str(x, "verdict");
    double time = assay_json_num(x, "duration_s");
    if (!strcmp(v, "pass")) {
        case_pass(s, name, classname, time);
        return;
    }
    if (!strcmp(v, "skipped")) {
        case_not_passed(s, lab, name, classname, time, O_SKIPPED, assay_json_str(x, "reason"), NULL,
                        NULL, NULL);
        return;
    }
    const cJSON *ec = obj(x, "exit_code");
    char status[64];
    if (cJSON_IsNumber(ec))
        snprintf(status, sizeof status, "exit status %d", ec->valueint);
    else
        snprintf(status, sizeof status, "%s",
                 assay_json_str(x, "signal")[0] ? assay_json_str(x, "signal") : "no exit status");
    const char *reason = assay_json_str(x, "reason");
    case_not_passed(s, lab, name, classname, time, !strcmp(v, "fail") ? O_FAILURE : O_ERROR,
                    reason[0] ? reason : status, status, NULL, obj(x, "logs"));
}

/* The error findings of a preflight object, one per line. */
static char *findings_text(const cJSON *pf)
{
    const cJSON *f, *fd;
    assay_markup *w;
    char *out = NULL;
    if (assay_markup_new(&w, ASSAY_MARKUP_TEXT, 1u << 20) < 0)
        return NULL;
    cJSON_ArrayForEach(f, obj(pf, "files")) cJSON_ArrayForEach(fd, obj(f, "findings"))
    {
        W_TEXT(w, assay_json_str(fd, "severity"));
        W_RAW(w, " ");
        W_TEXT(w, assay_json_str(fd, "check"));
        W_RAW(w, " ");
        W_TEXT(w, assay_json_str(f, "path"));
        W_RAW(w, ": ");
        W_TEXT(w, assay_json_str(fd, "found"));
        if (assay_json_str(fd, "expected")[0]) {
            W_RAW(w, " (expected ");
            W_TEXT(w, assay_json_str(fd, "expected"));
            W_RAW(w, ")");
        }
        if (assay_json_str(fd, "hint")[0]) {
            W_RAW(w, ": ");
            W_TEXT(w, assay_json_str(fd, "hint"));
        }
        W_RAW(w, "\n");
    }
    if (assay_markup_done(&out, w) < 0)
        assay_error_clear();
    return out;
}

/* The conditions of a target or the reasons of the conclusion, one per line. */
static char *conditions_text(const cJSON *list, char *first, size_t firstlen)
{
    const cJSON *r;
    assay_markup *w;
    char *out = NULL;
    if (first && firstlen)
        first[0] = '\0';
    if (assay_markup_new(&w, ASSAY_MARKUP_TEXT, 1u << 20) < 0)
        return NULL;
    cJSON_ArrayForEach(r, list)
    {
        if (assay_json_str(r, "target")[0]) {
            W_TEXT(w, assay_json_str(r, "target"));
            W_RAW(w, ": ");
        }
        both_langs(w, r, " / ");
        W_RAW(w, "\n");
        if (first && !first[0])
            snprintf(first, firstlen, "%s / %s", assay_json_str(r, "zh"), assay_json_str(r, "en"));
    }
    if (assay_markup_done(&out, w) < 0)
        assay_error_clear();
    return out;
}

static int has_failed(const struct suite *s)
{
    return s->failures > 0;
}

/* One target's testcases: certification, install, preflight, tests,
 * benchmarks, uninstall, and what stopped the target. */
static void target_cases(struct suite *s, assay_lab *lab, const cJSON *t, int with_conclusion)
{
    const char *cls = profile_id(t), *tv = assay_json_str(t, "verdict"),
               *reason = assay_json_str(t, "reason");
    const cJSON *steps = obj(t, "steps"), *install = obj(steps, "install"), *x;
    const cJSON *pkpf = obj(obj(t, "preflight"), "package"),
                *hostpf = obj(obj(t, "preflight"), "host");
    char first[1024], msg[1200];
    if (with_conclusion) {
        if (cJSON_IsTrue(obj(t, "certifies"))) {
            case_pass(s, "认证 certification", cls, 0);
        } else {
            char *body = conditions_text(obj(t, "conditions"), first, sizeof first);
            snprintf(msg, sizeof msg, "未认证 not certified%s%s", first[0] ? ": " : "", first);
            case_not_passed(s, lab, "认证 certification", cls, 0, O_FAILURE, msg, "not-certified",
                            body, NULL);
            free(body);
        }
    }
    if (cJSON_IsObject(install))
        case_step(s, lab, install, "安装 install", cls);
    /* Stopped before install by the package's preflight (the controller
     * never started the job): no install step, no tests. */
    if (!cJSON_IsObject(install) && !strcmp(tv, "fail") &&
        cJSON_GetArraySize(obj(t, "tests")) == 0) {
        char *body = cJSON_IsObject(pkpf) ? findings_text(pkpf) : NULL;
        case_not_passed(
            s, lab, assay_json_num(pkpf, "errors") > 0 ? "预检 preflight" : "目标 target", cls, 0,
            O_FAILURE, reason[0] ? reason : "stopped before install", "preflight", body, NULL);
        free(body);
    }
    /* Stopped after install by the host's preflight: tests skipped. */
    int skipped = 0;
    cJSON_ArrayForEach(x, obj(t, "tests")) skipped +=
        !strcmp(assay_json_str(x, "verdict"), "skipped");
    if (cJSON_IsObject(install) && !strcmp(assay_json_str(install, "verdict"), "pass") && skipped &&
        assay_json_num(hostpf, "errors") > 0) {
        const char *why = "preflight errors on the host";
        cJSON_ArrayForEach(x,
                           obj(t, "tests")) if (!strcmp(assay_json_str(x, "verdict"), "skipped") &&
                                                assay_json_str(x, "reason")[0]) why =
            assay_json_str(x, "reason");
        char *body = findings_text(hostpf);
        case_not_passed(s, lab, "预检 preflight", cls, 0, O_FAILURE, why, "preflight", body, NULL);
        free(body);
    }
    cJSON_ArrayForEach(x, obj(t, "tests")) case_step(s, lab, x, assay_json_str(x, "name"), cls);
    cJSON_ArrayForEach(x, obj(t, "benchmarks"))
    {
        int n = 0, fail = 0, err = 0, skip = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, obj(x, "verdicts"))
        {
            const char *vs = cJSON_IsString(v) ? v->valuestring : "";
            n++;
            fail += !strcmp(vs, "fail");
            skip += !strcmp(vs, "skipped");
            /* error, or a verdict assay does not know: never a pass */
            err += strcmp(vs, "pass") && strcmp(vs, "fail") && strcmp(vs, "skipped");
        }
        char bmsg[96];
        if (fail || err) {
            snprintf(bmsg, sizeof bmsg, "%d of %d samples %s", fail ? fail : err, n,
                     fail ? "failed" : "had errors");
            case_not_passed(s, lab, assay_json_str(x, "name"), cls, 0, fail ? O_FAILURE : O_ERROR,
                            bmsg, "benchmark", NULL, NULL);
        } else if (n == 0 || skip == n) {
            case_not_passed(s, lab, assay_json_str(x, "name"), cls, 0, O_SKIPPED, "no sample taken",
                            NULL, NULL, NULL);
        } else {
            case_pass(s, assay_json_str(x, "name"), cls, 0);
        }
    }
    if (cJSON_IsObject(obj(steps, "uninstall")))
        case_step(s, lab, obj(steps, "uninstall"), "卸载 uninstall", cls);
    if (!strcmp(tv, "error") || !strcmp(tv, "canceled") || !strcmp(tv, "incomplete")) {
        /* The target could not be tested: an infrastructure error, never
         * a skip (CI would show it green). */
        snprintf(msg, sizeof msg, "%s %s%s%s", assay_report_verdict_zh(tv), tv, reason[0] ? ": " : "", reason);
        case_not_passed(s, lab, "目标 target", cls, 0, O_ERROR, msg, "infrastructure", NULL, NULL);
    } else if (!strcmp(tv, "fail") && !has_failed(s)) {
        /* Failed, and no testcase above says why: say it here. */
        case_not_passed(s, lab, "目标 target", cls, 0, O_FAILURE,
                        reason[0] ? reason : "the target failed", "target", NULL, NULL);
    }
}

static void suite_write(assay_markup *w, const struct suite *s, const char *name,
                        const char *hostname)
{
    W_RAW(w, "  <testsuite");
    assay_markup_attr(w, "name", name);
    assay_markup_rawf(w, " tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%.3f\"",
                      s->tests, s->failures, s->errors, s->skipped, s->time);
    if (hostname)
        assay_markup_attr(w, "hostname", hostname);
    W_RAW(w, ">\n");
}

int assay_report_junit(char **out, assay_lab *lab, const assay_report_check *c)
{
    const cJSON *p = obj(c->statement, "predicate"), *t, *con = conclusion(p);
    assay_markup *w = NULL, *body = NULL;
    struct suite s = {0};
    int rc, tests = 0, failures = 0, errors = 0;
    char name[512];
    if ((rc = assay_markup_new(&w, ASSAY_MARKUP_XML, 0)) < 0 ||
        (rc = assay_markup_new(&body, ASSAY_MARKUP_XML, 0)) < 0)
        goto out;
    /* The conclusion first: one suite, one testcase that fails unless the
     * product is certified, with the reasons. */
    if (con) {
        if ((rc = assay_markup_new(&s.cases, ASSAY_MARKUP_XML, 0)) < 0)
            goto out;
        if (certified(con)) {
            case_pass(&s, "认证 certification", "conclusion", 0);
        } else {
            char first[1024], msg[1200];
            char *text = conditions_text(obj(con, "reasons"), first, sizeof first);
            snprintf(msg, sizeof msg, "未认证 not certified%s%s", first[0] ? ": " : "", first);
            case_not_passed(&s, lab, "认证 certification", "conclusion", 0, O_FAILURE, msg,
                            "not-certified", text, NULL);
            free(text);
        }
        suite_write(body, &s,
                    certified(con) ? "结论：已认证 conclusion: certified"
                                   : "结论：未认证 conclusion: not certified",
                    NULL);
        assay_markup_append(body, s.cases);
        W_RAW(body, "  </testsuite>\n");
        tests += s.tests, failures += s.failures, errors += s.errors;
        assay_markup_free(s.cases);
        s = (struct suite){0};
    }
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        if ((rc = assay_markup_new(&s.cases, ASSAY_MARKUP_XML, 0)) < 0)
            goto out;
        target_cases(&s, lab, t, con != NULL);
        suite_write(body, &s, profile_id(t), assay_json_str(obj(t, "host"), "name"));
        W_RAW(body, "    <properties><property name=\"emulated\"");
        assay_markup_attr(body, "value", cJSON_IsTrue(obj(t, "emulated")) ? "true" : "false");
        W_RAW(body, "/><property name=\"report_number\"");
        assay_markup_attr(body, "value", assay_json_str(p, "report_number"));
        if (con) {
            W_RAW(body, "/><property name=\"certifies\"");
            assay_markup_attr(body, "value", cJSON_IsTrue(obj(t, "certifies")) ? "true" : "false");
        }
        W_RAW(body, "/></properties>\n");
        assay_markup_append(body, s.cases);
        W_RAW(body, "  </testsuite>\n");
        tests += s.tests, failures += s.failures, errors += s.errors;
        assay_markup_free(s.cases);
        s = (struct suite){0};
    }
    snprintf(name, sizeof name, "%s %s", assay_json_str(obj(p, "product"), "name"),
             assay_json_str(obj(p, "product"), "version"));
    W_RAW(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites");
    assay_markup_attr(w, "name", name);
    assay_markup_rawf(w, " tests=\"%d\" failures=\"%d\" errors=\"%d\">\n", tests, failures, errors);
    assay_markup_append(w, body);
    W_RAW(w, "</testsuites>\n");
    rc = assay_markup_done(out, w);
    w = NULL;
out:
    assay_markup_free(s.cases);
    assay_markup_free(body);
    assay_markup_free(w);
    return rc;
}

/* ---- md -------------------------------------------------------------------- */

/* "ratio 1.02 [0.98, 1.05], p 0.41: 无可测差异 no measurable difference" */
static void md_vs(assay_markup *w, const cJSON *x)
{
    if (cJSON_IsNumber(obj(x, "ratio")))
        assay_markup_rawf(w, "ratio %.3f (95%% CI %.3f to %.3f), p %.2g: ", assay_json_num(x, "ratio"),
                          assay_json_num(x, "ratio_lo"), assay_json_num(x, "ratio_hi"), assay_json_num(x, "p"));
    W_TEXT(w, assay_json_str(x, "verdict_zh"));
    W_RAW(w, " ");
    W_TEXT(w, assay_json_str(x, "verdict"));
}

/* One failed step of a target: its status, and the tail of each stream as
 * a block quote, line by line (each line escaped on its own, so none can
 * start a block). */
static void md_step(assay_markup *w, const cJSON *t, const cJSON *x)
{
    const char *v = assay_json_str(x, "verdict");
    if (strcmp(v, "fail") && strcmp(v, "error"))
        return;
    W_RAW(w, "\nTarget ");
    W_TEXT(w, profile_id(t));
    W_RAW(w, ", step ");
    W_TEXT(w, assay_json_str(x, "name"));
    W_RAW(w, ": ");
    W_TEXT(w, v);
    const cJSON *ec = obj(x, "exit_code");
    if (cJSON_IsNumber(ec))
        assay_markup_rawf(w, " (exit status %d)", ec->valueint);
    else if (assay_json_str(x, "signal")[0]) {
        W_RAW(w, " (");
        W_TEXT(w, assay_json_str(x, "signal"));
        W_RAW(w, ")");
    }
    sigill_note(w, x, 0); /* issue 14 item 3 */
    W_RAW(w, "\n");
    static const char *const streams[] = {"stderr", "stdout"};
    for (int k = 0; k < 2; k++) {
        const cJSON *one = obj(obj(x, "logs"), streams[k]);
        const char *tail = assay_json_str(one, "tail");
        if (!tail[0])
            continue;
        W_RAW(w, "\n");
        W_TEXT(w, streams[k]);
        W_RAW(w, " (last 2 KiB; full log sha256 ");
        W_TEXT(w, assay_json_str(one, "sha256"));
        W_RAW(w, "):\n\n");
        for (const char *line = tail; *line;) {
            size_t n = strcspn(line, "\n");
            W_RAW(w, "> ");
            assay_markup_textn(w, line, n);
            W_RAW(w, "\n");
            line += n + (line[n] == '\n');
        }
    }
}

static void md_failed_steps(assay_markup *w, const cJSON *t)
{
    const cJSON *x, *steps = obj(t, "steps");
    if (cJSON_IsObject(obj(steps, "install")))
        md_step(w, t, obj(steps, "install"));
    cJSON_ArrayForEach(x, obj(t, "tests")) md_step(w, t, x);
    if (cJSON_IsObject(obj(steps, "uninstall")))
        md_step(w, t, obj(steps, "uninstall"));
}

int assay_report_md(char **out, const assay_report_check *c)
{
    const cJSON *p = obj(c->statement, "predicate"), *t, *x, *con = conclusion(p);
    const cJSON *prod = obj(p, "product");
    assay_markup *w;
    int rc = assay_markup_new(&w, ASSAY_MARKUP_MD, 0);
    if (rc < 0)
        return rc;
    W_RAW(w, "### ");
    if (con) {
        if (certified(con))
            W_RAW(w, "已认证 Certified: ");
        else
            W_RAW(w, "未认证 Not certified: ");
    }
    W_TEXT(w, assay_json_str(prod, "name"));
    W_RAW(w, " ");
    W_TEXT(w, assay_json_str(prod, "version"));
    W_RAW(w, ": ");
    W_TEXT(w, assay_json_str(p, "verdict"));
    W_RAW(w, "\n\n");
    if (con && cJSON_GetArraySize(obj(con, "reasons")) > 0) {
        cJSON_ArrayForEach(x, obj(con, "reasons"))
        {
            W_RAW(w, "- ");
            W_TEXT(w, assay_json_str(x, "target"));
            W_RAW(w, ": ");
            both_langs(w, x, " / ");
            W_RAW(w, "\n");
        }
        W_RAW(w, "\n");
    }
    W_RAW(w, "Adaptation report ");
    W_TEXT(w, assay_json_str(p, "report_number"));
    W_RAW(w, ", ");
    W_TEXT(w, assay_json_str(p, "centre"));
    W_RAW(w, ", ");
    W_TEXT(w, assay_json_str(p, "date"));
    W_RAW(w, " (vendor: ");
    W_TEXT(w, assay_json_str(prod, "vendor"));
    W_RAW(w, ")\n\n");
    if (con)
        W_RAW(
            w,
            "| target | host | tests passed | verdict | certifies 认证 |\n|---|---|---|---|---|\n");
    else
        W_RAW(w, "| target | host | tests passed | verdict |\n|---|---|---|---|\n");
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        int pass = 0, n = 0;
        cJSON_ArrayForEach(x, obj(t, "tests"))
        {
            n++;
            pass += !strcmp(assay_json_str(x, "verdict"), "pass");
        }
        W_RAW(w, "| ");
        W_TEXT(w, profile_id(t));
        if (cJSON_IsTrue(obj(t, "emulated")))
            W_RAW(w, " (emulated)");
        W_RAW(w, " | ");
        W_TEXT(w, assay_json_str(obj(t, "host"), "name"));
        assay_markup_rawf(w, " | %d/%d | ", pass, n);
        W_TEXT(w, assay_json_str(t, "verdict"));
        if (con) {
            if (cJSON_IsTrue(obj(t, "certifies")))
                W_RAW(w, " | 是 yes");
            else
                W_RAW(w, " | 否 no");
            cJSON_ArrayForEach(x, obj(t, "conditions"))
            {
                W_RAW(w, "; ");
                both_langs(w, x, " / ");
            }
        }
        W_RAW(w, " |\n");
    }
    const cJSON *cmp;
    cJSON_ArrayForEach(cmp, obj(p, "comparison"))
    {
        W_RAW(w, "\nBenchmark ");
        W_TEXT(w, assay_json_str(cmp, "name"));
        W_RAW(w, " (");
        W_TEXT(w, assay_json_str(cmp, "unit"));
        W_RAW(w, ", ");
        W_TEXT(w, !strcmp(assay_json_str(cmp, "better"), "lower") ? "lower" : "higher");
        W_RAW(w, " is better):\n");
        cJSON_ArrayForEach(x, obj(cmp, "targets"))
        {
            W_RAW(w, "- ");
            W_TEXT(w, assay_json_str(x, "profile"));
            if (cJSON_IsTrue(obj(x, "emulated")))
                W_RAW(w, " (emulated)");
            assay_markup_rawf(w, ": median %.4g, 95%% CI %.4g to %.4g, n %.0f, CV %.1f%%, ", assay_json_num(x, "median"),
                              assay_json_num(x, "ci_lo"), assay_json_num(x, "ci_hi"), assay_json_num(x, "n"),
                              100 * assay_json_num(x, "cv"));
            W_TEXT(w, stability_words(assay_json_str(x, "stability")));
            if (cJSON_IsTrue(obj(x, "best"))) {
                W_RAW(w, "; 最佳 best");
            } else if (cJSON_IsObject(obj(x, "vs_best"))) {
                W_RAW(w, "; vs best ");
                md_vs(w, obj(x, "vs_best"));
            }
            W_RAW(w, "\n");
        }
    }
    const cJSON *base = obj(p, "baseline");
    if (cJSON_IsObject(base)) {
        W_RAW(w, "\n版本对比 Against the baseline ");
        W_TEXT(w, assay_json_str(base, "product"));
        W_RAW(w, " ");
        W_TEXT(w, assay_json_str(base, "version"));
        W_RAW(w, " (report ");
        W_TEXT(w, assay_json_str(base, "report_number"));
        W_RAW(w, "), this run / baseline:\n");
        cJSON_ArrayForEach(x, obj(base, "benchmarks"))
        {
            W_RAW(w, "- ");
            W_TEXT(w, assay_json_str(x, "name"));
            W_RAW(w, " on ");
            W_TEXT(w, assay_json_str(x, "profile"));
            assay_markup_rawf(w, ": %.4g → %.4g ", assay_json_num(obj(x, "baseline"), "median"),
                              assay_json_num(obj(x, "this"), "median"));
            W_TEXT(w, assay_json_str(x, "unit"));
            W_RAW(w, ", ");
            md_vs(w, x);
            W_RAW(w, "\n");
        }
    }
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        /* Attempts before the last one: infrastructure retries. */
        cJSON_ArrayForEach(x, obj(t, "attempt_history"))
        {
            if (assay_json_num(x, "attempt") >= assay_json_num(t, "attempts"))
                continue;
            W_RAW(w, "\nTarget ");
            W_TEXT(w, profile_id(t));
            assay_markup_rawf(w, ", attempt %.0f on ", assay_json_num(x, "attempt"));
            W_TEXT(w, assay_json_str(x, "host"));
            W_RAW(w, ": ");
            W_TEXT(w, assay_json_str(x, "outcome"));
            W_RAW(w, ": ");
            W_TEXT(w, assay_json_str(x, "reason"));
            W_RAW(w, "\n");
        }
    }
    cJSON_ArrayForEach(t, obj(p, "targets"))
        md_failed_steps(w, t);
    const cJSON *note;
    cJSON_ArrayForEach(note, obj(p, "notes"))
    {
        W_RAW(w, "\n> ");
        W_TEXT(w, cJSON_IsString(note) ? note->valuestring : "");
        W_RAW(w, "\n");
    }
    W_RAW(w, "\nSigned (");
    W_TEXT(w, c->alg);
    W_RAW(w, "), key ");
    assay_markup_textf(w, "%.16s", c->keyid);
    W_RAW(w, ", payload sha256 ");
    assay_markup_textf(w, "%.16s", c->payload_sha256);
    W_RAW(w, ". Verify the JSON report: `assay verify report.json`.\n");
    return assay_markup_done(out, w);
}

int assay_report_signed(char **env, assay_report_check *chk, assay_lab *lab, int64_t run, int64_t baseline)
{
    char *payload = NULL, *e = NULL, *pem = NULL, keyid[65], alg[16];
    assay_report_check c = {0};
    int rc;
    if ((rc = assay_report_statement_vs(&payload, lab, run, baseline)) < 0 ||
        (rc = assay_report_sign(&e, lab, payload, strlen(payload))) < 0 ||
        (rc = assay_key_public(lab->key, &pem, keyid, alg)) < 0 ||
        /* Every form is made from the signed payload, checked. */
        (rc = assay_report_verify(&c, e, strlen(e), pem, strlen(pem))) < 0)
        goto out;
    *env = e;
    e = NULL;
    *chk = c;
out:
    free(payload);
    free(e);
    free(pem);
    return rc;
}

/* A copy of member k of o, or a new empty array where o has none. */
static cJSON *dup_list(const cJSON *o, const char *k)
{
    const cJSON *v = obj(o, k);
    return cJSON_IsArray(v) ? cJSON_Duplicate(v, 1) : cJSON_CreateArray();
}

int assay_report_outcome(cJSON **out, const cJSON *statement)
{
    const cJSON *p = obj(statement, "predicate"), *con, *t;
    if (!cJSON_IsObject(p))
        return assay_error_set(ASSAY_EINVAL, "the statement has no predicate");
    con = conclusion(p);
    cJSON *o = cJSON_CreateObject(), *targets = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "report_number", assay_json_str(p, "report_number"));
    cJSON_AddStringToObject(o, "date", assay_json_str(p, "date"));
    cJSON_AddItemToObject(o, "product", cJSON_IsObject(obj(p, "product")) ? cJSON_Duplicate(obj(p, "product"), 1)
                                                                          : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "verdict", assay_json_str(p, "verdict"));
    /* A report made before conclusions existed says nothing either way:
     * certified is null, and it certifies nothing. */
    if (con)
        cJSON_AddBoolToObject(o, "certified", certified(con));
    else
        cJSON_AddNullToObject(o, "certified");
    cJSON_AddStringToObject(o, "status", certified(con) ? "certified" : "not-certified");
    cJSON_AddStringToObject(o, "zh", certified(con) ? "已认证" : "未认证");
    cJSON_AddStringToObject(o, "en", certified(con) ? "certified" : "not certified");
    cJSON_AddItemToObject(o, "reasons", dup_list(con, "reasons"));
    cJSON_ArrayForEach(t, obj(p, "targets"))
    {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "profile", profile_id(t));
        cJSON_AddStringToObject(x, "verdict", assay_json_str(t, "verdict"));
        cJSON_AddBoolToObject(x, "certifies", cJSON_IsTrue(obj(t, "certifies")));
        cJSON_AddBoolToObject(x, "emulated", cJSON_IsTrue(obj(t, "emulated")));
        cJSON_AddItemToObject(x, "conditions", dup_list(t, "conditions"));
        cJSON_AddItemToArray(targets, x);
    }
    cJSON_AddItemToObject(o, "targets", targets);
    cJSON_AddItemToObject(o, "notes", dup_list(p, "notes"));
    /* cJSON's adders fail quietly when out of memory: a printed copy
     * proves the tree is whole. */
    char *probe = cJSON_PrintUnformatted(o);
    if (!probe) {
        cJSON_Delete(o);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    free(probe);
    *out = o;
    return 0;
}

int assay_report_check_json(cJSON **out, const assay_report_check *c)
{
    cJSON *sum = NULL;
    int rc = assay_report_outcome(&sum, c->statement);
    if (rc < 0)
        return rc;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "valid", 1);
    cJSON_AddStringToObject(o, "algorithm", c->alg);
    cJSON_AddStringToObject(o, "keyid", c->keyid);
    cJSON_AddStringToObject(o, "payload_sha256", c->payload_sha256);
    if (!cJSON_AddItemToObject(o, "summary", sum)) {
        cJSON_Delete(sum);
        cJSON_Delete(o);
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    }
    *out = o;
    return 0;
}

int assay_report_make_pdf(unsigned char **out, size_t *len, assay_lab *lab, int64_t run, int64_t baseline)
{
    char *env = NULL;
    assay_report_check chk = {0};
    int rc = assay_report_signed(&env, &chk, lab, run, baseline);
    if (rc == 0)
        rc = assay_report_pdf(out, len, &chk);
    cJSON_Delete(chk.statement);
    free(env);
    return rc;
}

int assay_report_make(char **out, const char **type, assay_lab *lab, int64_t run, int64_t baseline, const char *fmt)
{
    char *env = NULL, *text = NULL;
    assay_report_check chk = {0};
    int rc;
    if (strcmp(fmt, "json") && strcmp(fmt, "html") && strcmp(fmt, "junit") && strcmp(fmt, "md"))
        return assay_error_set(ASSAY_EINVAL, "the format must be json, html, junit or md");
    if ((rc = assay_report_signed(&env, &chk, lab, run, baseline)) < 0)
        goto out;
    if (!strcmp(fmt, "json")) {
        text = env;
        env = NULL;
        *type = "application/json";
    } else if (!strcmp(fmt, "html")) {
        rc = assay_report_html(&text, &chk);
        *type = "text/html; charset=utf-8";
    } else if (!strcmp(fmt, "junit")) {
        rc = assay_report_junit(&text, lab, &chk);
        *type = "application/xml";
    } else {
        rc = assay_report_md(&text, &chk);
        *type = "text/markdown; charset=utf-8";
    }
    if (rc == 0) {
        *out = text;
        text = NULL;
    }
out:
    cJSON_Delete(chk.statement);
    free(env);
    free(text);
    return rc;
}
