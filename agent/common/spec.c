/* Job spec parsing and validation; see spec.h. */
#include "assay/spec.h"
#include "assay/evmac.h"
#include "assay/error.h"
#include "assay/json.h"
#include "assay/proto.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 1000
#define MAX_ENV 256
#define MAX_INSPECT 10000
#define MAX_COMMAND (64 * 1024)
#define MAX_REPEAT 1000

const char *assay_step_kind_name(assay_step_kind k)
{
    static const char *const names[] = {"install", "test", "bench", "uninstall"};
    return (unsigned)k < 4 ? names[k] : "?";
}

int assay_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ASSAY_ID_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

void assay_spec_free(assay_spec *spec)
{
    if (!spec)
        return;
    memset(spec->event_key, 0, sizeof spec->event_key);
    free(spec->record);
    free(spec->run_user);
    free(spec->id);
    free(spec->artifact);
    for (size_t i = 0; i < spec->nartifacts; i++)
        free(spec->artifacts[i]);
    free(spec->artifacts);
    for (size_t i = 0; i < spec->nenv; i++)
        free(spec->env[i]);
    free(spec->env);
    for (size_t i = 0; i < spec->ninspect; i++)
        free(spec->inspect[i]);
    free(spec->inspect);
    for (size_t i = 0; i < spec->nsteps; i++) {
        free(spec->steps[i].id);
        free(spec->steps[i].name);
        free(spec->steps[i].command);
        free(spec->steps[i].unit);
    }
    free(spec->steps);
    free(spec);
}

static char *dup_or_fail(const char *s, int *rc)
{
    char *d = strdup(s);
    if (!d)
        *rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
    return d;
}

/* A string member: required or optional, with a length cap. */
static int get_str(const cJSON *o, const char *key, const char *where, int required, size_t max,
                   const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return assay_error_set(ASSAY_EINVAL, "%s%s: missing", where, key);
        return 0;
    }
    if (!cJSON_IsString(v))
        return assay_error_set(ASSAY_EINVAL, "%s%s: must be a string", where, key);
    size_t n = strlen(v->valuestring);
    if (n == 0 && required)
        return assay_error_set(ASSAY_EINVAL, "%s%s: must not be empty", where, key);
    if (n > max)
        return assay_error_set(ASSAY_EINVAL, "%s%s: longer than %zu bytes", where, key, max);
    *out = v->valuestring;
    return 0;
}

/* The number v (absent: dflt) named key, in [lo, hi] or (lo, hi]. */
static int num_value(const cJSON *v, const char *key, const char *where, double lo, double hi, int lo_open,
                     double dflt, double *out)
{
    if (!v) {
        *out = dflt;
        return 0;
    }
    double d;
    char *end = NULL;
    if (cJSON_IsNumber(v))
        d = v->valuedouble;
    else if (cJSON_IsString(v) && v->valuestring[0] && (d = strtod(v->valuestring, &end), *end == '\0'))
        ; /* 64-bit values may travel as strings */
    else
        return assay_error_set(ASSAY_EINVAL, "%s%s: must be a number", where, key);
    if (!isfinite(d) || (lo_open ? d <= lo : d < lo) || d > hi)
        return assay_error_set(ASSAY_EINVAL, "%s%s: must be in %c%g, %g]", where, key,
                               lo_open ? '(' : '[', lo, hi);
    *out = d;
    return 0;
}

static int get_num(const cJSON *o, const char *key, const char *where, double lo, double hi,
                   int lo_open, double dflt, double *out)
{
    return num_value(cJSON_GetObjectItemCaseSensitive(o, key), key, where, lo, hi, lo_open, dflt, out);
}

static int whole_value(const cJSON *v, const char *key, const char *where, int lo, int hi, int dflt, int *out)
{
    double d = dflt;
    int rc = num_value(v, key, where, lo, hi, 0, dflt, &d);
    if (rc < 0)
        return rc;
    if (d != (double)(int)d)
        return assay_error_set(ASSAY_EINVAL, "%s%s: must be a whole number", where, key);
    *out = (int)d;
    return 0;
}

static int get_int(const cJSON *o, const char *key, const char *where, int lo, int hi, int dflt,
                   int *out)
{
    return whole_value(cJSON_GetObjectItemCaseSensitive(o, key), key, where, lo, hi, dflt, out);
}

#define MAX_WARMUP 100

double assay_repeat_rse(int n, double mean, double m2)
{
    if (n < 2 || mean == 0)
        return INFINITY;
    return sqrt(m2 / (n - 1)) / sqrt((double)n) / fabs(mean);
}

int assay_repeat_parse(assay_repeat *out, const cJSON *v, const char *where)
{
    static const char *const keys[] = {"min", "max", "target_rse", "budget", "warmup", NULL};
    assay_repeat r = {1, 1, 0, 0, 0, 0};
    char w[96];
    double d = 0;
    int rc;
    if (!v) {
        *out = r;
        return 0;
    }
    if (!cJSON_IsObject(v)) {
        /* The fixed count: exactly this many samples. */
        if ((rc = whole_value(v, "repeat", where, 1, MAX_REPEAT, 1, &r.max)) < 0)
            return rc;
        r.min = r.max;
        *out = r;
        return 0;
    }
    snprintf(w, sizeof w, "%srepeat.", where);
    if ((rc = assay_json_only_keys(v, w, keys)) < 0)
        return rc;
    if (!cJSON_GetObjectItemCaseSensitive(v, "max"))
        return assay_error_set(ASSAY_EINVAL, "%smax: missing (the most samples to take)", w);
    if ((rc = get_int(v, "max", w, 1, MAX_REPEAT, 1, &r.max)) < 0 ||
        (rc = get_int(v, "min", w, 1, MAX_REPEAT, r.max < 3 ? r.max : 3, &r.min)) < 0 ||
        (rc = get_int(v, "warmup", w, 0, MAX_WARMUP, 0, &r.warmup)) < 0 ||
        (rc = get_num(v, "target_rse", w, 0, 1, 1, 0, &r.target_rse)) < 0 ||
        (rc = get_num(v, "budget", w, 0, ASSAY_TIMEOUT_MAX, 1, 0, &d)) < 0)
        return rc;
    r.budget_s = d;
    if (r.min > r.max)
        return assay_error_set(ASSAY_EINVAL, "%smin: %d is more than max (%d)", w, r.min, r.max);
    /* A standard error needs two samples: a target with one could never
     * be met or would be met by nothing. */
    if (r.target_rse > 0 && r.min < 2)
        return assay_error_set(ASSAY_EINVAL, "%smin: must be at least 2 with a target_rse", w);
    r.adaptive = 1;
    *out = r;
    return 0;
}

static int parse_step(assay_step *st, const cJSON *o, size_t i)
{
    static const char *const keys[] = {"id", "kind", "name", "command", "timeout", "expect_exit",
                                       "repeat", "unit", "privileged", NULL};
    char where[48];
    const char *id, *kind, *name, *cmd, *unit;
    int rc;
    snprintf(where, sizeof where, "steps[%zu].", i);
    if (!cJSON_IsObject(o))
        return assay_error_set(ASSAY_EINVAL, "steps[%zu]: must be an object", i);
    if ((rc = assay_json_only_keys(o, where, keys)) < 0 ||
        (rc = get_str(o, "id", where, 1, ASSAY_ID_MAX, &id)) < 0 ||
        (rc = get_str(o, "kind", where, 1, 16, &kind)) < 0 ||
        (rc = get_str(o, "name", where, 0, 256, &name)) < 0 ||
        (rc = get_str(o, "command", where, 1, MAX_COMMAND, &cmd)) < 0 ||
        (rc = get_str(o, "unit", where, 0, ASSAY_UNIT_MAX, &unit)) < 0)
        return rc;
    if (unit && !assay_unit_valid(unit))
        return assay_error_set(ASSAY_EINVAL, "%sunit: must be " ASSAY_UNIT_RULE_FMT, where);
    if (!assay_id_valid(id))
        return assay_error_set(ASSAY_EINVAL, "%sid: '%s' is not [A-Za-z0-9._-]{1,64}", where, id);
    if (strcmp(kind, "install") == 0)
        st->kind = ASSAY_STEP_INSTALL;
    else if (strcmp(kind, "test") == 0)
        st->kind = ASSAY_STEP_TEST;
    else if (strcmp(kind, "bench") == 0)
        st->kind = ASSAY_STEP_BENCH;
    else if (strcmp(kind, "uninstall") == 0)
        st->kind = ASSAY_STEP_UNINSTALL;
    else
        return assay_error_set(ASSAY_EINVAL, "%skind: '%s' is not install, test, bench or uninstall",
                               where, kind);
    if ((rc = get_num(o, "timeout", where, 0, ASSAY_TIMEOUT_MAX, 1, -1, &st->timeout_s)) < 0)
        return rc;
    if (st->timeout_s < 0)
        return assay_error_set(ASSAY_EINVAL, "%stimeout: missing", where);
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(o, "repeat");
    if ((rc = get_int(o, "expect_exit", where, 0, 255, 0, &st->expect_exit)) < 0 ||
        (rc = assay_repeat_parse(&st->repeat, rv, where)) < 0)
        return rc;
    if (st->kind != ASSAY_STEP_BENCH && ((rv && (st->repeat.max != 1 || st->repeat.adaptive)) || unit))
        return assay_error_set(ASSAY_EINVAL, "%s%s: only bench steps take it", where,
                               unit ? "unit" : "repeat");
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "privileged");
    if (pv && !cJSON_IsBool(pv))
        return assay_error_set(ASSAY_EINVAL, "%sprivileged: must be true or false", where);
    if (cJSON_IsTrue(pv) && st->kind != ASSAY_STEP_TEST && st->kind != ASSAY_STEP_BENCH)
        return assay_error_set(ASSAY_EINVAL, "%sprivileged: only test and bench steps take it (install and "
                                             "uninstall always run as the login user)", where);
    st->privileged = cJSON_IsTrue(pv);
    rc = 0;
    if (!(st->id = dup_or_fail(id, &rc)) || !(st->name = dup_or_fail(name ? name : id, &rc)) ||
        !(st->command = dup_or_fail(cmd, &rc)) ||
        (st->kind == ASSAY_STEP_BENCH && !(st->unit = dup_or_fail(unit ? unit : "s", &rc))))
        return rc;
    return 0;
}

static int env_name_valid(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    size_t n = strlen(s);
    return n <= 128 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n &&
           strncmp(s, "ASSAY_", 6) != 0;
}

/* The artifact is a plain file name inside the job directory: no path, no
 * leading '.' or '-' (hidden files, options to the vendor's install
 * command), and none of the names the agent itself uses there. */
static int artifact_valid(const char *s)
{
    static const char *const ours[] = {ASSAY_JOB_STATE, ASSAY_JOB_WORK, ASSAY_JOB_LOGS};
    size_t n = strlen(s);
    if (n == 0 || n > 255 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (strcmp(s, ours[i]) == 0)
            return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-~") == n;
}

int assay_login_name_valid(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 32 && ((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_') &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n && strcmp(s, "root") != 0;
}

int assay_spec_parse(assay_spec **out, const char *json, size_t len)
{
    static const char *const keys[] = {"protocol", "id", "artifact", "artifacts", "env", "inspect", "log_cap",
                                       "kill_grace", "stop_on_inspect_error", "steps", "event_key", "run_user", NULL};
    assay_spec *sp = NULL;
    cJSON *doc = NULL;
    const cJSON *v, *m;
    const char *s;
    int rc = ASSAY_EINVAL;
    double d;

    if (len > ASSAY_SPEC_MAX) {
        rc = assay_error_set(ASSAY_ETOOBIG, "job spec: larger than %d bytes", ASSAY_SPEC_MAX);
        goto out;
    }
    if (!(doc = cJSON_ParseWithLength(json, len))) {
        assay_error_set(rc, "job spec: not valid JSON (near byte %td)",
                        cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - json : (ptrdiff_t)0);
        goto out;
    }
    if (!cJSON_IsObject(doc)) {
        assay_error_set(rc, "job spec: must be a JSON object");
        goto out;
    }
    if ((rc = assay_json_only_keys(doc, "", keys)) < 0)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(doc, "protocol");
    if (!cJSON_IsNumber(v) || v->valuedouble != ASSAY_PROTO_VERSION) {
        rc = assay_error_set(ASSAY_EINVAL, "protocol: must be %d (this agent's protocol)",
                             ASSAY_PROTO_VERSION);
        goto out;
    }
    if (!(sp = calloc(1, sizeof *sp))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = get_str(doc, "id", "", 1, ASSAY_ID_MAX, &s)) < 0)
        goto out;
    if (!assay_id_valid(s)) {
        rc = assay_error_set(ASSAY_EINVAL, "id: '%s' is not [A-Za-z0-9._-]{1,64}", s);
        goto out;
    }
    rc = 0;
    if (!(sp->id = dup_or_fail(s, &rc)))
        goto out;
    if ((rc = get_str(doc, "artifact", "", 0, 255, &s)) < 0)
        goto out;
    if (s) {
        if (!artifact_valid(s)) {
            rc = assay_error_set(ASSAY_EINVAL, "artifact: '%s' must be a plain file name in the job directory", s);
            goto out;
        }
        if (!(sp->artifact = dup_or_fail(s, &rc)))
            goto out;
    }
    /* A set: files installed together, in the job directory's artifacts/
     * folder; the first is also "the" artifact. */
    v = cJSON_GetObjectItemCaseSensitive(doc, "artifacts");
    if (v) {
        const cJSON *f;
        if (sp->artifact) {
            rc = assay_error_set(ASSAY_EINVAL, "artifacts: give either artifact (one file) or artifacts (a set)");
            goto out;
        }
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > ASSAY_SPEC_SET_MAX) {
            rc = assay_error_set(ASSAY_EINVAL, "artifacts: must be an array of 1-%d file names", ASSAY_SPEC_SET_MAX);
            goto out;
        }
        if (!(sp->artifacts = calloc((size_t)cJSON_GetArraySize(v), sizeof *sp->artifacts))) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_ArrayForEach(f, v)
        {
            size_t i = sp->nartifacts;
            if (!cJSON_IsString(f) || !artifact_valid(f->valuestring)) {
                rc = assay_error_set(ASSAY_EINVAL, "artifacts[%zu]: must be a plain file name", i);
                goto out;
            }
            for (size_t k = 0; k < i; k++)
                if (!strcmp(sp->artifacts[k], f->valuestring)) {
                    rc = assay_error_set(ASSAY_EINVAL, "artifacts[%zu]: '%s' is listed twice", i, f->valuestring);
                    goto out;
                }
            if (!(sp->artifacts[i] = dup_or_fail(f->valuestring, &rc)))
                goto out;
            sp->nartifacts++;
        }
        size_t n = strlen(ASSAY_ARTIFACT_DIR) + strlen(sp->artifacts[0]) + 2;
        if (!(sp->artifact = malloc(n))) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        snprintf(sp->artifact, n, "%s/%s", ASSAY_ARTIFACT_DIR, sp->artifacts[0]);
    }
    if ((rc = get_num(doc, "log_cap", "", 1024, 1024.0 * 1024 * 1024, 0, ASSAY_LOG_CAP_DEFAULT, &d)) < 0)
        goto out;
    sp->log_cap = (uint64_t)d;
    if ((rc = get_num(doc, "kill_grace", "", 0, 600, 0, 2, &sp->kill_grace_s)) < 0)
        goto out;
    if ((rc = get_str(doc, "run_user", "", 0, 32, &s)) < 0)
        goto out;
    if (s) {
        if (!assay_login_name_valid(s)) {
            rc = assay_error_set(ASSAY_EINVAL, "run_user: '%s' is not a login name [a-z_][a-z0-9_-]{0,31} "
                                               "other than root", s);
            goto out;
        }
        if (!(sp->run_user = dup_or_fail(s, &rc)))
            goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(doc, "stop_on_inspect_error");
    if (v && !cJSON_IsBool(v)) {
        rc = assay_error_set(ASSAY_EINVAL, "stop_on_inspect_error: must be true or false");
        goto out;
    }
    sp->stop_on_inspect_error = cJSON_IsTrue(v);

    v = cJSON_GetObjectItemCaseSensitive(doc, "env");
    if (v && !cJSON_IsObject(v)) {
        rc = assay_error_set(ASSAY_EINVAL, "env: must be an object of NAME: value");
        goto out;
    }
    if (v) {
        int n = cJSON_GetArraySize(v);
        if (n > MAX_ENV) {
            rc = assay_error_set(ASSAY_EINVAL, "env: more than %d variables", MAX_ENV);
            goto out;
        }
        if (!(sp->env = calloc((size_t)n + 1, sizeof *sp->env))) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_ArrayForEach(m, v)
        {
            if (!m->string || !env_name_valid(m->string)) {
                rc = assay_error_set(ASSAY_EINVAL, "env.%s: not a valid name (ASSAY_* is reserved)",
                                     m->string ? m->string : "?");
                goto out;
            }
            if (!cJSON_IsString(m) || strlen(m->valuestring) > 4096) {
                rc = assay_error_set(ASSAY_EINVAL, "env.%s: must be a string of at most 4096 bytes",
                                     m->string);
                goto out;
            }
            size_t l = strlen(m->string) + strlen(m->valuestring) + 2;
            if (!(sp->env[sp->nenv] = malloc(l))) {
                rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
                goto out;
            }
            snprintf(sp->env[sp->nenv++], l, "%s=%s", m->string, m->valuestring);
        }
    }

    v = cJSON_GetObjectItemCaseSensitive(doc, "inspect");
    if (v && !cJSON_IsArray(v)) {
        rc = assay_error_set(ASSAY_EINVAL, "inspect: must be an array of paths");
        goto out;
    }
    if (v) {
        int n = cJSON_GetArraySize(v);
        if (n > MAX_INSPECT) {
            rc = assay_error_set(ASSAY_EINVAL, "inspect: more than %d files", MAX_INSPECT);
            goto out;
        }
        if (!(sp->inspect = calloc((size_t)n + 1, sizeof *sp->inspect))) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
        cJSON_ArrayForEach(m, v)
        {
            if (!cJSON_IsString(m) || !m->valuestring[0] || strlen(m->valuestring) > 4096) {
                rc = assay_error_set(ASSAY_EINVAL, "inspect[%zu]: must be a path of 1-4096 bytes",
                                     sp->ninspect);
                goto out;
            }
            if (!(sp->inspect[sp->ninspect++] = dup_or_fail(m->valuestring, &rc)))
                goto out;
        }
    }

    v = cJSON_GetObjectItemCaseSensitive(doc, "steps");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        rc = assay_error_set(ASSAY_EINVAL, "steps: must be a non-empty array");
        goto out;
    }
    if (cJSON_GetArraySize(v) > MAX_STEPS) {
        rc = assay_error_set(ASSAY_EINVAL, "steps: more than %d steps", MAX_STEPS);
        goto out;
    }
    if (!(sp->steps = calloc((size_t)cJSON_GetArraySize(v), sizeof *sp->steps))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(m, v)
    {
        assay_step *st = &sp->steps[sp->nsteps];
        sp->nsteps++; /* counted first so spec_free releases a half-parsed step */
        if ((rc = parse_step(st, m, sp->nsteps - 1)) < 0)
            goto out;
        /* Order: install?, test*, bench*, uninstall? -- what a deployment does. */
        if (sp->nsteps > 1 && st->kind < sp->steps[sp->nsteps - 2].kind) {
            rc = assay_error_set(ASSAY_EINVAL,
                                 "steps[%zu].kind: %s after %s (order is install, test, bench, uninstall)",
                                 sp->nsteps - 1, assay_step_kind_name(st->kind),
                                 assay_step_kind_name(sp->steps[sp->nsteps - 2].kind));
            goto out;
        }
        if ((st->kind == ASSAY_STEP_INSTALL || st->kind == ASSAY_STEP_UNINSTALL) && sp->nsteps > 1 &&
            sp->steps[sp->nsteps - 2].kind == st->kind) {
            rc = assay_error_set(ASSAY_EINVAL, "steps[%zu].kind: only one %s step", sp->nsteps - 1,
                                 assay_step_kind_name(st->kind));
            goto out;
        }
        for (size_t j = 0; j + 1 < sp->nsteps; j++)
            if (strcmp(sp->steps[j].id, st->id) == 0) {
                rc = assay_error_set(ASSAY_EINVAL, "steps[%zu].id: '%s' repeats steps[%zu].id",
                                     sp->nsteps - 1, st->id, j);
                goto out;
            }
    }
    /* The event key stays in memory: job.json holds the spec without it
     * (what a step could read must not let it sign events). */
    v = cJSON_GetObjectItemCaseSensitive(doc, "event_key");
    if (v) {
        if (!cJSON_IsString(v) || assay_evmac_key_parse(sp->event_key, v->valuestring) < 0) {
            rc = assay_error_set(ASSAY_EINVAL, "event_key: must be 64 lowercase hex digits");
            goto out;
        }
        sp->keyed = 1;
        cJSON_DeleteItemFromObjectCaseSensitive(doc, "event_key");
        if (!(sp->record = cJSON_PrintUnformatted(doc))) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            goto out;
        }
    }
    *out = sp;
    sp = NULL;
    rc = 0;
out:
    cJSON_Delete(doc);
    assay_spec_free(sp);
    return rc;
}
