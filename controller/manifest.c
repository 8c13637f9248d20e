/* Manifest validation; see manifest.h and docs/manifest.md. */
#include "manifest.h"
#include "markup.h"
#include "assay/error.h"
#include "assay/json.h"
#include "assay/proto.h"
#include "assay/spec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARTIFACTS 64
#define MAX_TESTS 500
#define MAX_BENCH 100
#define MAX_COMMAND (64 * 1024)
#define TIMEOUT_MAX (30.0 * 24 * 3600)
#define MAX_DEPTH 16 /* a manifest nests 3 deep */

void assay_manifest_free(assay_manifest *m)
{
    if (!m)
        return;
    free(m->artifacts);
    free(m->files);
    cJSON_Delete(m->doc);
    free(m);
}

/* What a JSON value is, for "must be X, not Y". */
static const char *kind(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    return cJSON_IsObject(v) ? "an object" : "not a JSON value";
}

/* The offset where `json` nests arrays and objects deeper than MAX_DEPTH,
 * or -1. cJSON recurses once per level up to 1000 and then reports only
 * "invalid JSON"; this names the problem, in one pass, without recursion. */
static long too_deep(const char *json, size_t len)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = json[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > MAX_DEPTH)
                return (long)i;
        } else if (c == ']' || c == '}') {
            depth--;
        }
    }
    return -1;
}

static int line_of(const char *json, size_t len, size_t at)
{
    int line = 1;
    for (size_t i = 0; i < at && i < len; i++)
        line += json[i] == '\n';
    return line;
}

static int text(const cJSON *o, const char *key, const char *where, size_t max, int required, char *out,
                size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (required)
            return assay_error_set(ASSAY_EINVAL, "%s%s: missing", where, key);
        if (out)
            out[0] = '\0';
        return 0;
    }
    if (!cJSON_IsString(v))
        return assay_error_set(ASSAY_EINVAL, "%s%s: must be a string, not %s", where, key, kind(v));
    size_t n = strlen(v->valuestring);
    if (n == 0)
        return assay_error_set(ASSAY_EINVAL, "%s%s: must not be empty", where, key);
    if (n > max || (out && n >= outlen))
        return assay_error_set(ASSAY_EINVAL, "%s%s: longer than %zu bytes", where, key,
                               out && outlen - 1 < max ? outlen - 1 : max);
    for (const unsigned char *p = (const unsigned char *)v->valuestring; *p; p++)
        if (*p < 0x20 && *p != '\n' && *p != '\t')
            return assay_error_set(ASSAY_EINVAL, "%s%s: contains control characters", where, key);
    /* What people read (in tables, reports, the portal) is text: valid
     * UTF-8, one line but for the description, nothing that steers a
     * terminal or reorders what is shown. */
    int multiline = !strcmp(key, "description");
    if (multiline || !strcmp(key, "product") || !strcmp(key, "version") || !strcmp(key, "vendor") ||
        !strcmp(key, "name")) {
        const char *why = assay_text_check(v->valuestring, n, multiline);
        if (why)
            return assay_error_set(ASSAY_EINVAL, "%s%s: %s", where, key, why);
    }
    if (out)
        memcpy(out, v->valuestring, n + 1);
    return 0;
}

static int timeout(const cJSON *o, const char *where)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "timeout");
    if (!v)
        return assay_error_set(ASSAY_EINVAL, "%stimeout: missing (seconds)", where);
    if (!cJSON_IsNumber(v))
        return assay_error_set(ASSAY_EINVAL, "%stimeout: must be a number of seconds, not %s", where, kind(v));
    if (!isfinite(v->valuedouble) || v->valuedouble <= 0 || v->valuedouble > TIMEOUT_MAX)
        return assay_error_set(ASSAY_EINVAL, "%stimeout: must be a number of seconds in (0, %.0f]", where,
                               TIMEOUT_MAX);
    return 0;
}

static int whole(const cJSON *o, const char *key, const char *where, int lo, int hi)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v))
        return assay_error_set(ASSAY_EINVAL, "%s%s: must be a whole number from %d to %d, not %s", where, key, lo,
                               hi, kind(v));
    if (v->valuedouble != (double)(int)v->valuedouble || v->valuedouble < lo || v->valuedouble > hi)
        return assay_error_set(ASSAY_EINVAL, "%s%s: must be a whole number from %d to %d", where, key, lo, hi);
    return 0;
}

static int step_id_valid(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= ASSAY_ID_MAX && strcmp(s, ".") && strcmp(s, "..") && strcmp(s, "install") &&
           strcmp(s, "uninstall") &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

static int command_step(const cJSON *doc, const char *key, int required)
{
    static const char *const keys[] = {"command", "timeout", "expect_exit", NULL};
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, key);
    char where[32];
    int rc;
    if (!s) {
        if (required)
            return assay_error_set(ASSAY_EINVAL, "%s: missing (an object with command and timeout)", key);
        return 0;
    }
    if (!cJSON_IsObject(s))
        return assay_error_set(ASSAY_EINVAL, "%s: must be an object with command and timeout, not %s", key, kind(s));
    snprintf(where, sizeof where, "%s.", key);
    if ((rc = assay_json_only_keys(s, where, keys)) < 0 || (rc = text(s, "command", where, MAX_COMMAND, 1, NULL, 0)) < 0 ||
        (rc = timeout(s, where)) < 0 || (rc = whole(s, "expect_exit", where, 0, 255)) < 0)
        return rc;
    return 0;
}

static int step_list(const cJSON *doc, const char *key, int bench, char (*ids)[ASSAY_ID_MAX + 1],
                     size_t *nids, size_t max)
{
    static const char *const tkeys[] = {"id", "name", "command", "timeout", "expect_exit", "privileged", NULL};
    static const char *const bkeys[] = {"id",     "name", "command",    "timeout", "expect_exit",
                                        "repeat", "unit", "privileged", NULL};
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, key), *t;
    int rc;
    if (!arr)
        return 0;
    if (!cJSON_IsArray(arr))
        return assay_error_set(ASSAY_EINVAL, "%s: must be an array, not %s", key, kind(arr));
    if ((size_t)cJSON_GetArraySize(arr) > max)
        return assay_error_set(ASSAY_EINVAL, "%s: more than %zu entries", key, max);
    size_t i = 0;
    cJSON_ArrayForEach(t, arr)
    {
        char where[48], id[ASSAY_ID_MAX + 1];
        snprintf(where, sizeof where, "%s[%zu].", key, i);
        if (!cJSON_IsObject(t))
            return assay_error_set(ASSAY_EINVAL, "%s[%zu]: must be an object, not %s", key, i, kind(t));
        if ((rc = assay_json_only_keys(t, where, bench ? bkeys : tkeys)) < 0 ||
            (rc = text(t, "id", where, ASSAY_ID_MAX, 1, id, sizeof id)) < 0)
            return rc;
        if (!step_id_valid(id))
            return assay_error_set(ASSAY_EINVAL, "%sid: '%s' must be 1-64 of [A-Za-z0-9._-] and not "
                                                 "'install' or 'uninstall'", where, id);
        for (size_t j = 0; j < *nids; j++)
            if (strcmp(ids[j], id) == 0)
                return assay_error_set(ASSAY_EINVAL, "%sid: '%s' is used twice", where, id);
        memcpy(ids[(*nids)++], id, sizeof id);
        if ((rc = text(t, "name", where, 256, 0, NULL, 0)) < 0 ||
            (rc = text(t, "command", where, MAX_COMMAND, 1, NULL, 0)) < 0 || (rc = timeout(t, where)) < 0 ||
            (rc = whole(t, "expect_exit", where, 0, 255)) < 0)
            return rc;
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(t, "privileged");
        if (pv && !cJSON_IsBool(pv))
            return assay_error_set(ASSAY_EINVAL, "%sprivileged: must be true or false, not %s", where, kind(pv));
        if (bench) {
            const cJSON *rv = cJSON_GetObjectItemCaseSensitive(t, "repeat");
            assay_repeat rep;
            if (!rv)
                return assay_error_set(ASSAY_EINVAL, "%srepeat: missing (how many samples)", where);
            if (!cJSON_IsNumber(rv) && !cJSON_IsObject(rv))
                return assay_error_set(ASSAY_EINVAL, "%srepeat: must be a whole number or an object, not %s", where,
                                       kind(rv));
            /* A count, or the stop rules of a run until stable: the same
             * parser as the agent's, so the agent takes what passes here. */
            if ((rc = assay_repeat_parse(&rep, rv, where)) < 0 ||
                (rc = text(t, "unit", where, ASSAY_UNIT_MAX, 1, NULL, 0)) < 0)
                return rc;
            /* Not echoed: it may hold anything but what the rule allows. */
            if (!assay_unit_valid(cJSON_GetObjectItemCaseSensitive(t, "unit")->valuestring))
                return assay_error_set(ASSAY_EINVAL, "%sunit: must be " ASSAY_UNIT_RULE_FMT, where);
        }
        i++;
    }
    return 0;
}

/* cJSON ends a string at "\u0000" and says nothing: "Trusted\u0000 Evil"
 * would be read as "Trusted". Find the escape in the text itself, and the
 * key it is in (or under). Returns 1 and the key, or 0. */
static int nul_escape(const char *json, size_t len, char *key, size_t keylen, size_t *at)
{
    const char *last = NULL;
    size_t lastlen = 0;
    for (size_t i = 0; i < len; i++) {
        if (json[i] != '"')
            continue;
        size_t start = ++i;
        int nul = 0;
        for (; i < len && json[i] != '"'; i++) {
            if (json[i] != '\\')
                continue;
            if (i + 5 < len && json[i + 1] == 'u' && !strncmp(json + i + 2, "0000", 4))
                nul = 1, *at = i;
            i++;
        }
        size_t j = i + 1;
        while (j < len && strchr(" \t\r\n", json[j]))
            j++;
        int is_key = j < len && json[j] == ':';
        if (is_key)
            last = json + start, lastlen = i - start;
        if (nul) {
            snprintf(key, keylen, "%.*s", last ? (int)(lastlen < 64 ? lastlen : 64) : 1, last ? last : "?");
            return 1;
        }
    }
    return 0;
}

/* A key twice in one object: readers differ on which one counts, so the
 * manifest means nothing certain. No manifest object has over 16 fields. */
static int unique_keys(const cJSON *o, const char *where)
{
    const cJSON *a, *b;
    if (cJSON_IsObject(o)) {
        int n = 0;
        for (a = o->child; a; a = a->next)
            if (++n > 64)
                return assay_error_set(ASSAY_EINVAL, "%san object with over 64 fields", where);
        for (a = o->child; a; a = a->next)
            for (b = a->next; b; b = b->next)
                if (a->string && b->string && !strcmp(a->string, b->string))
                    return assay_error_set(ASSAY_EINVAL, "%s%.64s: appears twice (duplicate key)", where, a->string);
    }
    size_t i = 0;
    for (a = o->child; a; a = a->next, i++) {
        char sub[160];
        if (!cJSON_IsObject(a) && !cJSON_IsArray(a))
            continue;
        if (cJSON_IsArray(o))
            snprintf(sub, sizeof sub, "%.100s[%zu].", where, i);
        else
            snprintf(sub, sizeof sub, "%.100s%.40s.", where, a->string);
        int rc = unique_keys(a, sub);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Names the agent keeps for itself in a job directory (include/assay/
 * proto.h), and names older agents used: an artifact called so could not
 * be placed there. */
static int reserved_name(const char *file)
{
    static const char *const ours[] = {ASSAY_JOB_STATE, ASSAY_JOB_WORK, ASSAY_JOB_LOGS, "tmp", "home",
                                       "events.jsonl", NULL};
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    for (const char *const *k = ours; *k; k++)
        if (!strcmp(base, *k))
            return 1;
    return 0;
}

/* A relative path of plain components: no leading '/', no empty, '.' or
 * '..' component, no backslash. */
static int relative_path(const char *s)
{
    if (!*s || *s == '/' || strchr(s, '\\'))
        return 0;
    for (const char *c = s; c;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);
        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c = slash ? slash + 1 : NULL;
    }
    return 1;
}

static const char *const ARCHES[] = {"x86_64", "aarch64", "loongarch64", "noarch", NULL};

int assay_manifest_parse(assay_manifest **out, const char *json, size_t len)
{
    static const char *const keys[] = {"manifest", "product", "version", "vendor", "description",
                                       "artifacts", "install", "tests", "benchmarks", "uninstall",
                                       "inspect", NULL};
    assay_manifest *m = calloc(1, sizeof *m);
    char (*ids)[ASSAY_ID_MAX + 1] = NULL;
    size_t nids = 0;
    int rc = ASSAY_EINVAL;
    const cJSON *v, *a;

    if (!m)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    if (len > ASSAY_MANIFEST_MAX) {
        rc = assay_error_set(ASSAY_ETOOBIG, "larger than %d bytes", ASSAY_MANIFEST_MAX);
        goto out;
    }
    long deep = too_deep(json, len);
    if (deep >= 0) {
        assay_error_set(rc, "nested deeper than %d levels (line %d)", MAX_DEPTH, line_of(json, len, (size_t)deep));
        goto out;
    }
    const char *nul = memchr(json, '\0', len);
    if (nul) {
        assay_error_set(rc, "a NUL byte in the text (line %d)", line_of(json, len, (size_t)(nul - json)));
        goto out;
    }
    char nulkey[80];
    size_t nulat = 0;
    if (nul_escape(json, len, nulkey, sizeof nulkey, &nulat)) {
        assay_error_set(rc, "%s: contains a NUL character (\\u0000, line %d)", nulkey, line_of(json, len, nulat));
        goto out;
    }
    const char *end = NULL;
    if (!(m->doc = cJSON_ParseWithLengthOpts(json, len, &end, 0))) {
        const char *at = cJSON_GetErrorPtr();
        assay_error_set(rc, "not valid JSON (line %d)", line_of(json, len, at && at > json ? (size_t)(at - json) : 0));
        goto out;
    }
    while (end && end < json + len && strchr(" \t\r\n", *end))
        end++;
    if (end && end < json + len) {
        assay_error_set(rc, "bytes after the JSON object (line %d)", line_of(json, len, (size_t)(end - json)));
        goto out;
    }
    if ((rc = unique_keys(m->doc, "")) < 0)
        goto out;
    rc = ASSAY_EINVAL;
    if (!cJSON_IsObject(m->doc)) {
        assay_error_set(rc, "must be a JSON object");
        goto out;
    }
    if ((rc = assay_json_only_keys(m->doc, "", keys)) < 0)
        goto out;
    v = cJSON_GetObjectItemCaseSensitive(m->doc, "manifest");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        rc = assay_error_set(ASSAY_EINVAL, "manifest: must be 1 (the manifest format version)");
        goto out;
    }
    if ((rc = text(m->doc, "product", "", 127, 1, m->product, sizeof m->product)) < 0 ||
        (rc = text(m->doc, "version", "", 63, 1, m->version, sizeof m->version)) < 0 ||
        (rc = text(m->doc, "vendor", "", 127, 1, m->vendor, sizeof m->vendor)) < 0 ||
        (rc = text(m->doc, "description", "", 4096, 0, NULL, 0)) < 0)
        goto out;

    v = cJSON_GetObjectItemCaseSensitive(m->doc, "artifacts");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        rc = assay_error_set(ASSAY_EINVAL, "artifacts: must be a non-empty array of {file or files, arch}");
        goto out;
    }
    if (cJSON_GetArraySize(v) > MAX_ARTIFACTS) {
        rc = assay_error_set(ASSAY_EINVAL, "artifacts: more than %d", MAX_ARTIFACTS);
        goto out;
    }
    if (!(m->artifacts = calloc((size_t)cJSON_GetArraySize(v), sizeof *m->artifacts))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    if (!(m->files = calloc(ASSAY_MANIFEST_FILES_MAX, sizeof *m->files))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(a, v)
    {
        static const char *const akeys[] = {"file", "files", "arch", "abi", NULL};
        assay_manifest_artifact *ar = &m->artifacts[m->nartifacts];
        char where[40];
        snprintf(where, sizeof where, "artifacts[%zu].", m->nartifacts);
        if (!cJSON_IsObject(a)) {
            rc = assay_error_set(ASSAY_EINVAL, "artifacts[%zu]: must be an object, not %s", m->nartifacts, kind(a));
            goto out;
        }
        if ((rc = assay_json_only_keys(a, where, akeys)) < 0 ||
            (rc = text(a, "arch", where, 31, 1, ar->arch, sizeof ar->arch)) < 0 ||
            (rc = text(a, "abi", where, 15, 0, ar->abi, sizeof ar->abi)) < 0)
            goto out;
        int known = 0;
        for (const char *const *k = ARCHES; *k; k++)
            known |= strcmp(*k, ar->arch) == 0;
        if (!known) {
            const char *hint = strcmp(ar->arch, "arm64") == 0 || strcmp(ar->arch, "armv8") == 0 ? " (arm64 is aarch64)"
                               : strcmp(ar->arch, "amd64") == 0 || strcmp(ar->arch, "x86-64") == 0 ? " (amd64 is x86_64)"
                               : strcmp(ar->arch, "loong64") == 0 || strcmp(ar->arch, "mips64el") == 0
                                   ? " (Loongson's LoongArch is loongarch64)"
                                   : "";
            rc = assay_error_set(ASSAY_EINVAL, "%sarch: '%s' is not x86_64, aarch64, loongarch64 or noarch%s",
                                 where, ar->arch, hint);
            goto out;
        }
        if (ar->abi[0] && (strcmp(ar->arch, "loongarch64") != 0 || (strcmp(ar->abi, "new") && strcmp(ar->abi, "old")))) {
            rc = assay_error_set(ASSAY_EINVAL, "%sabi: only loongarch64 artifacts take one, 'new' or 'old'", where);
            goto out;
        }
        if (strcmp(ar->arch, "loongarch64") == 0 && !ar->abi[0])
            snprintf(ar->abi, sizeof ar->abi, "new");
        /* One file ("file"), or a set installed together ("files"):
         * exactly one of the two. */
        const cJSON *one = cJSON_GetObjectItemCaseSensitive(a, "file");
        const cJSON *set = cJSON_GetObjectItemCaseSensitive(a, "files");
        if (one && set) {
            rc = assay_error_set(ASSAY_EINVAL, "%sfiles: give either file (one) or files (a set), not both", where);
            goto out;
        }
        if (!one && !set) {
            rc = assay_error_set(ASSAY_EINVAL, "%sfile: missing (or files, a list of the files installed together)",
                                 where);
            goto out;
        }
        if (set && (!cJSON_IsArray(set) || cJSON_GetArraySize(set) == 0)) {
            rc = assay_error_set(ASSAY_EINVAL, "%sfiles: must be a non-empty array of file names, not %s", where,
                                 cJSON_IsArray(set) ? "an empty array" : kind(set));
            goto out;
        }
        if (set && cJSON_GetArraySize(set) > ASSAY_MANIFEST_SET_MAX) {
            rc = assay_error_set(ASSAY_EINVAL, "%sfiles: more than %d files in one artifact", where,
                                 ASSAY_MANIFEST_SET_MAX);
            goto out;
        }
        ar->first = m->nfiles;
        const cJSON *fv = one ? one : set->child;
        for (size_t k = 0; fv; k++, fv = one ? NULL : fv->next) {
            char fwhere[64], *file;
            if (m->nfiles == ASSAY_MANIFEST_FILES_MAX) {
                rc = assay_error_set(ASSAY_EINVAL, "%sfiles: more than %d files in all the artifacts", where,
                                     ASSAY_MANIFEST_FILES_MAX);
                goto out;
            }
            file = m->files[m->nfiles];
            if (one)
                snprintf(fwhere, sizeof fwhere, "%sfile", where);
            else
                snprintf(fwhere, sizeof fwhere, "%sfiles[%zu]", where, k);
            /* One rule for a file's name however it is given: no control
             * character at all (a tab or a newline would split the line of
             * $ASSAY_ARTIFACTS that names it). */
            if (!cJSON_IsString(fv)) {
                rc = assay_error_set(ASSAY_EINVAL, "%s: must be a string, not %s", fwhere, kind(fv));
                goto out;
            }
            size_t fl = strlen(fv->valuestring);
            if (fl == 0 || fl > 255) {
                rc = assay_error_set(ASSAY_EINVAL, "%s: must be 1-255 bytes", fwhere);
                goto out;
            }
            for (const unsigned char *c = (const unsigned char *)fv->valuestring; *c; c++)
                if (*c < 0x20) {
                    rc = assay_error_set(ASSAY_EINVAL, "%s: contains control characters", fwhere);
                    goto out;
                }
            memcpy(file, fv->valuestring, fl + 1);
            if (!relative_path(file)) {
                rc = assay_error_set(ASSAY_EINVAL, "%s: '%s' must be a relative path inside the submission (no "
                                                   "leading '/', no '.' or '..' component, no backslash)", fwhere, file);
                goto out;
            }
            if (reserved_name(file)) {
                rc = assay_error_set(ASSAY_EINVAL, "%s: '%s': the agent keeps that name for its own files in a job "
                                                   "directory", fwhere, file);
                goto out;
            }
            for (size_t j = 0; j < m->nfiles; j++)
                if (strcmp(m->files[j], file) == 0) {
                    rc = assay_error_set(ASSAY_EINVAL, "%s: '%s' is listed twice", fwhere, file);
                    goto out;
                }
            /* A set is installed from one folder on the host: two files
             * of the same name would be one there. */
            const char *base = strrchr(file, '/');
            base = base ? base + 1 : file;
            for (size_t j = ar->first; j < m->nfiles; j++) {
                const char *ob = strrchr(m->files[j], '/');
                if (strcmp(ob ? ob + 1 : m->files[j], base) == 0) {
                    rc = assay_error_set(ASSAY_EINVAL, "%s: '%s' has the file name of files[%zu] ('%s'): a set is "
                                                       "installed from one folder", fwhere, file, j - ar->first,
                                         m->files[j]);
                    goto out;
                }
            }
            m->nfiles++;
            ar->nfiles++;
        }
        memcpy(ar->file, m->files[ar->first], sizeof ar->file);
        for (size_t j = 0; j < m->nartifacts; j++) {
            if (strcmp(m->artifacts[j].arch, ar->arch) == 0 && strcmp(m->artifacts[j].abi, ar->abi) == 0) {
                rc = assay_error_set(ASSAY_EINVAL, "%sarch: a second artifact for %s%s%s (artifacts[%zu]; several "
                                                   "files installed together are one artifact's \"files\")",
                                     where, ar->arch, ar->abi[0] ? ", ABI " : "", ar->abi, j);
                goto out;
            }
        }
        m->nartifacts++;
    }

    if ((rc = command_step(m->doc, "install", 1)) < 0 || (rc = command_step(m->doc, "uninstall", 1)) < 0)
        goto out;
    if (!(ids = calloc(MAX_TESTS + MAX_BENCH, sizeof *ids))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = step_list(m->doc, "tests", 0, ids, &nids, MAX_TESTS)) < 0 ||
        (rc = step_list(m->doc, "benchmarks", 1, ids, &nids, MAX_BENCH)) < 0)
        goto out;
    if (nids == 0) {
        rc = assay_error_set(ASSAY_EINVAL, "tests: a manifest needs at least one test or benchmark");
        goto out;
    }
    v = cJSON_GetObjectItemCaseSensitive(m->doc, "inspect");
    if (v) {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > 10000) {
            rc = assay_error_set(ASSAY_EINVAL, "inspect: must be an array of at most 10000 paths");
            goto out;
        }
        size_t i = 0;
        cJSON_ArrayForEach(a, v)
        {
            if (!cJSON_IsString(a) || !a->valuestring[0] || strlen(a->valuestring) > 4096) {
                rc = assay_error_set(ASSAY_EINVAL, "inspect[%zu]: must be a path of 1-4096 bytes", i);
                goto out;
            }
            i++;
        }
    }
    *out = m;
    m = NULL;
    rc = 0;
out:
    free(ids);
    assay_manifest_free(m);
    return rc;
}

const char *assay_manifest_file(const assay_manifest *m, const assay_manifest_artifact *a, size_t k)
{
    return k < a->nfiles ? m->files[a->first + k] : NULL;
}

const assay_manifest_artifact *assay_manifest_pick(const assay_manifest *m, const char *arch,
                                                   const char *world)
{
    const assay_manifest_artifact *noarch = NULL;
    for (size_t i = 0; i < m->nartifacts; i++) {
        const assay_manifest_artifact *a = &m->artifacts[i];
        if (strcmp(a->arch, "noarch") == 0)
            noarch = a;
        else if (strcmp(a->arch, arch) == 0 && (!world || !a->abi[0] || strcmp(a->abi, world) == 0))
            return a;
    }
    return noarch;
}

static cJSON *spec_step(const cJSON *src, const char *id, const char *kind)
{
    cJSON *s = cJSON_CreateObject();
    const cJSON *v;
    if (!s)
        return NULL;
    cJSON_AddStringToObject(s, "id", id);
    cJSON_AddStringToObject(s, "kind", kind);
    if ((v = cJSON_GetObjectItemCaseSensitive(src, "name")))
        cJSON_AddStringToObject(s, "name", v->valuestring);
    cJSON_AddStringToObject(s, "command", cJSON_GetObjectItemCaseSensitive(src, "command")->valuestring);
    cJSON_AddNumberToObject(s, "timeout", cJSON_GetObjectItemCaseSensitive(src, "timeout")->valuedouble);
    if ((v = cJSON_GetObjectItemCaseSensitive(src, "expect_exit")))
        cJSON_AddNumberToObject(s, "expect_exit", v->valuedouble);
    if ((v = cJSON_GetObjectItemCaseSensitive(src, "repeat")))
        cJSON_AddItemToObject(s, "repeat", cJSON_Duplicate(v, 1));
    if ((v = cJSON_GetObjectItemCaseSensitive(src, "unit")))
        cJSON_AddStringToObject(s, "unit", v->valuestring);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(src, "privileged")))
        cJSON_AddTrueToObject(s, "privileged");
    return s;
}

int assay_manifest_job_spec(char **out, const assay_manifest *m, const char *job_id, const char *const *names,
                            size_t nnames)
{
    cJSON *spec = cJSON_CreateObject(), *steps, *t;
    if (!spec)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    cJSON_AddNumberToObject(spec, "protocol", ASSAY_PROTO_VERSION);
    cJSON_AddStringToObject(spec, "id", job_id);
    if (nnames == 1) {
        cJSON_AddStringToObject(spec, "artifact", names[0]);
    } else if (nnames > 1) {
        cJSON *set = cJSON_AddArrayToObject(spec, "artifacts");
        for (size_t i = 0; i < nnames; i++)
            cJSON_AddItemToArray(set, cJSON_CreateString(names[i]));
    }
    const cJSON *insp = cJSON_GetObjectItemCaseSensitive(m->doc, "inspect");
    if (insp)
        cJSON_AddItemToObject(spec, "inspect", cJSON_Duplicate(insp, 1));
    steps = cJSON_AddArrayToObject(spec, "steps");
    cJSON_AddItemToArray(steps, spec_step(cJSON_GetObjectItemCaseSensitive(m->doc, "install"), "install", "install"));
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m->doc, "tests"))
        cJSON_AddItemToArray(steps, spec_step(t, cJSON_GetObjectItemCaseSensitive(t, "id")->valuestring, "test"));
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(m->doc, "benchmarks"))
        cJSON_AddItemToArray(steps, spec_step(t, cJSON_GetObjectItemCaseSensitive(t, "id")->valuestring, "bench"));
    cJSON_AddItemToArray(steps, spec_step(cJSON_GetObjectItemCaseSensitive(m->doc, "uninstall"), "uninstall", "uninstall"));
    *out = cJSON_PrintUnformatted(spec);
    cJSON_Delete(spec);
    return *out ? 0 : assay_error_set(ASSAY_ENOMEM, "out of memory");
}
