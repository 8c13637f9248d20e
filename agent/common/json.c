/* See include/assay/json.h. */
#include "assay/json.h"
#include "assay/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int assay_json_only_keys(const cJSON *o, const char *where, const char *const *keys)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        int known = 0;
        for (const char *const *k = keys; *k && !known; k++)
            known = m->string && strcmp(m->string, *k) == 0;
        if (known)
            continue;
        char list[512] = "";
        size_t used = 0;
        for (const char *const *k = keys; *k && used < sizeof list; k++) {
            int n = snprintf(list + used, sizeof list - used, "%s%s", k == keys ? "" : ", ", *k);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        return assay_error_set(ASSAY_EINVAL, "%s%s: unknown field (known: %s)", where, m->string ? m->string : "?",
                               list);
    }
    return 0;
}

const char *assay_json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double assay_json_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* ---- strict RFC 8259 check ------------------------------------------------ */

/* A cursor over the text and the first thing found wrong in it. */
struct strict {
    const unsigned char *p, *end, *start;
    const char *why;
};

/* Levels of nesting: far below every reader's own limit (jq 1.6: 255,
 * cJSON: 1000), so they all refuse the same texts; reports need about 8. */
#define STRICT_DEPTH 64

static int strict_fail(struct strict *s, const char *why)
{
    if (!s->why)
        s->why = why;
    return -1;
}

/* RFC 8259 whitespace is these four bytes; cJSON would also skip every
 * other control character, NUL included. */
static void strict_ws(struct strict *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int strict_hex4(struct strict *s, unsigned *out)
{
    unsigned v = 0;
    if (s->end - s->p < 4)
        return strict_fail(s, "a \\u escape cut short");
    for (int i = 0; i < 4; i++) {
        unsigned char c = *s->p++;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return strict_fail(s, "a \\u escape that is not hexadecimal");
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* One UTF-8 sequence starting at a byte >= 0x80: shortest form, no
 * surrogates, at most U+10FFFF (RFC 3629). */
static int strict_utf8(struct strict *s)
{
    unsigned char c = *s->p;
    unsigned cp;
    int n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0 || s->end - s->p <= n)
        return strict_fail(s, "a string that is not UTF-8");
    cp = c & (0x3fu >> n);
    for (int i = 1; i <= n; i++) {
        if ((s->p[i] & 0xc0) != 0x80)
            return strict_fail(s, "a string that is not UTF-8");
        cp = cp << 6 | (s->p[i] & 0x3fu);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return strict_fail(s, "a string that is not UTF-8");
    s->p += n + 1;
    return 0;
}

static int strict_string(struct strict *s)
{
    s->p++; /* the opening quote */
    while (s->p < s->end) {
        unsigned char c = *s->p;
        unsigned u, lo;
        if (c == '"') {
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return strict_fail(s, "a control character in a string");
        if (c >= 0x80) {
            if (strict_utf8(s) < 0)
                return -1;
            continue;
        }
        s->p++;
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            break;
        c = *s->p++;
        if (c && strchr("\"\\/bfnrt", c))
            continue;
        if (c != 'u')
            return strict_fail(s, "an unknown escape in a string");
        if (strict_hex4(s, &u) < 0)
            return -1;
        /* C strings end at NUL: cJSON would cut the string there and hand
         * on less than the text says. */
        if (u == 0)
            return strict_fail(s, "a NUL (\\u0000) in a string");
        if (u >= 0xdc00 && u <= 0xdfff)
            return strict_fail(s, "a lone UTF-16 surrogate in a string");
        if (u >= 0xd800 && u <= 0xdbff) {
            if (s->end - s->p < 2 || s->p[0] != '\\' || s->p[1] != 'u')
                return strict_fail(s, "a lone UTF-16 surrogate in a string");
            s->p += 2;
            if (strict_hex4(s, &lo) < 0)
                return -1;
            if (lo < 0xdc00 || lo > 0xdfff)
                return strict_fail(s, "a lone UTF-16 surrogate in a string");
        }
    }
    return strict_fail(s, "a string without its closing quote");
}

static int strict_digits(struct strict *s)
{
    const unsigned char *b = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > b ? 0 : strict_fail(s, "a malformed number");
}

static int strict_number(struct strict *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (strict_digits(s) < 0)
        return -1;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (strict_digits(s) < 0)
            return -1;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (strict_digits(s) < 0)
            return -1;
    }
    return 0;
}

static int strict_value(struct strict *s, int depth)
{
    strict_ws(s);
    if (s->p >= s->end)
        return strict_fail(s, "the text ends where a value should be");
    unsigned char c = *s->p;
    if (c == '"')
        return strict_string(s);
    if (c == '-' || (c >= '0' && c <= '9'))
        return strict_number(s);
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(s->end - s->p) >= n && !memcmp(s->p, words[i], n)) {
            s->p += n;
            return 0;
        }
    }
    if (c != '{' && c != '[')
        return strict_fail(s, "not a JSON value");
    if (depth >= STRICT_DEPTH)
        return strict_fail(s, "nested too deep");
    unsigned char close = c == '{' ? '}' : ']';
    s->p++;
    strict_ws(s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            strict_ws(s);
            if (s->p >= s->end || *s->p != '"')
                return strict_fail(s, "an object member without a string name");
            if (strict_string(s) < 0)
                return -1;
            strict_ws(s);
            if (s->p >= s->end || *s->p++ != ':')
                return strict_fail(s, "an object member without ':'");
        }
        if (strict_value(s, depth + 1) < 0)
            return -1;
        strict_ws(s);
        if (s->p >= s->end)
            return strict_fail(s, "an object or array without its end");
        if (*s->p == close) {
            s->p++;
            return 0;
        }
        if (*s->p++ != ',')
            return strict_fail(s, "a missing ',' between members");
    }
}

int assay_json_strict(const char *text, size_t len)
{
    struct strict s = {(const unsigned char *)text, (const unsigned char *)text + len, (const unsigned char *)text,
                       NULL};
    if (strict_value(&s, 0) == 0) {
        strict_ws(&s);
        if (s.p == s.end)
            return 0;
        strict_fail(&s, "bytes after the JSON value");
    }
    return assay_error_set(ASSAY_EINVAL, "not strict JSON: %s at byte %zu", s.why, (size_t)(s.p - s.start));
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int assay_json_unique_names(const cJSON *v)
{
    int rc = 0;
    if (cJSON_IsObject(v)) {
        int n = cJSON_GetArraySize(v), i = 0;
        const char **names = n > 1 ? malloc((size_t)n * sizeof *names) : NULL;
        const cJSON *m;
        if (n > 1 && !names)
            return assay_error_set(ASSAY_ENOMEM, "out of memory");
        cJSON_ArrayForEach(m, v)
        {
            if (names)
                names[i++] = m->string ? m->string : "";
        }
        if (names) {
            qsort(names, (size_t)n, sizeof *names, name_cmp);
            for (i = 1; i < n && !rc; i++)
                if (!strcmp(names[i - 1], names[i]))
                    rc = assay_error_set(ASSAY_EINVAL, "the name \"%.64s\" twice in one object", names[i]);
            free(names);
        }
    }
    const cJSON *c;
    if (cJSON_IsObject(v) || cJSON_IsArray(v))
        cJSON_ArrayForEach(c, v)
        {
            if (!rc)
                rc = assay_json_unique_names(c);
        }
    return rc;
}
