/* Agent events, checked; see event.h. */
#include "event.h"
#include "assay/error.h"
#include "assay/proto.h"

#include <inttypes.h>
#include <string.h>

int assay_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c == 0)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (len - i < n)
            return 0;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n;
    }
    return 1;
}

static const char *const types[] = {"job-start", "step-start", "step-end", "output",
                                    "inspect",   "error",      "job-end"};

static int known_type(const char *t)
{
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(t, types[i]) == 0)
            return 1;
    return 0;
}

/* A printable excerpt of untrusted bytes for an error message. */
static void excerpt(char *out, size_t outlen, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    for (; i < len && o + 8 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\', out[o++] = 'x', out[o++] = hex[c >> 4], out[o++] = hex[c & 15];
        }
    }
    if (i < len)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
}

int assay_event_parse(assay_event *out, const char *line, size_t len, const char *job,
                      int64_t last_seq)
{
    char ex[80];
    memset(out, 0, sizeof *out);
    excerpt(ex, sizeof ex, line, len);
    if (!assay_utf8_valid(line, len))
        return assay_error_set(ASSAY_EPROTO, "event is not valid UTF-8 text: %s", ex);
    /* \u0000 would cut a string short where it is compared (a job id) */
    for (size_t i = 0; i + 6 <= len; i++)
        if (line[i] == '\\' && line[i + 1] == 'u' && memcmp(line + i + 2, "0000", 4) == 0)
            return assay_error_set(ASSAY_EPROTO, "event holds a \\u0000: %s", ex);
    const char *end = NULL;
    cJSON *e = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!e || !cJSON_IsObject(e)) {
        cJSON_Delete(e);
        return assay_error_set(ASSAY_EPROTO, "not a JSON object: %s", ex);
    }
    while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r'))
        end++;
    if (end != line + len) {
        cJSON_Delete(e);
        return assay_error_set(ASSAY_EPROTO, "more than one JSON object: %s", ex);
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "v"),
                *s = cJSON_GetObjectItemCaseSensitive(e, "seq"),
                *t = cJSON_GetObjectItemCaseSensitive(e, "type");
    int rc = 0;
    if (!cJSON_IsNumber(v) || v->valuedouble != ASSAY_PROTO_VERSION)
        rc = assay_error_set(ASSAY_EPROTO, "not a protocol %d event (\"v\"): %s",
                             ASSAY_PROTO_VERSION, ex);
    else if (!cJSON_IsNumber(s) || !(s->valuedouble >= 0 && s->valuedouble <= 9e15) ||
             s->valuedouble != (double)(int64_t)s->valuedouble)
        rc = assay_error_set(ASSAY_EPROTO, "\"seq\" is not a whole number >= 0: %s", ex);
    else if (!cJSON_IsString(t) || !known_type(t->valuestring))
        rc = assay_error_set(ASSAY_EPROTO, "\"type\" is not an event type of the protocol: %s", ex);
    if (rc < 0) {
        cJSON_Delete(e);
        return rc;
    }
    int64_t seq = (int64_t)s->valuedouble;
    if (seq <= last_seq) { /* already stored: a resumed attach */
        cJSON_Delete(e);
        out->seq = seq;
        return 0;
    }
    if (seq != last_seq + 1) {
        cJSON_Delete(e);
        return assay_error_set(ASSAY_EPROTO, "sequence gap: event %" PRId64 " after %" PRId64, seq,
                               last_seq);
    }
    if ((seq == 0) != (strcmp(t->valuestring, "job-start") == 0)) {
        rc = assay_error_set(ASSAY_EPROTO, "event %" PRId64 " is a %s: a job starts with its one job-start",
                             seq, t->valuestring);
        cJSON_Delete(e);
        return rc;
    }
    if (strcmp(t->valuestring, "job-start") == 0 || strcmp(t->valuestring, "job-end") == 0) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "job");
        /* A job-end may carry a null job (a spec the agent could not read). */
        int ok = cJSON_IsString(id) ? strcmp(id->valuestring, job) == 0
                                    : cJSON_IsNull(id) && strcmp(t->valuestring, "job-end") == 0;
        if (!ok) {
            char got[80];
            excerpt(got, sizeof got, cJSON_IsString(id) ? id->valuestring : "(none)",
                    cJSON_IsString(id) ? strlen(id->valuestring) : 6);
            rc = assay_error_set(ASSAY_EPROTO, "%s event %" PRId64 " is for job %s, not %s",
                                 t->valuestring, seq, got, job);
            cJSON_Delete(e);
            return rc;
        }
    }
    out->json = e;
    out->seq = seq;
    out->type = t->valuestring;
    return 0;
}
