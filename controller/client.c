/* The CLI as a client of assay serve; see client.h. */
#include "client.h"

#include "assay/error.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ANSWER_MAX (64u * 1024 * 1024) /* a JSON answer held in memory, at most */

int assay_client_init(assay_client *c, const char *url, const char *token_file)
{
    memset(c, 0, sizeof *c);
    if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))
        return assay_error_set(ASSAY_EINVAL, "--server takes an http:// or https:// URL");
    size_t n = strlen(url);
    while (n && url[n - 1] == '/')
        n--;
    if (n >= sizeof c->url)
        return assay_error_set(ASSAY_EINVAL, "--server: URL too long");
    memcpy(c->url, url, n);
    c->url[n] = 0;
    if (token_file) {
        FILE *f = fopen(token_file, "re");
        if (!f)
            return assay_error_set_errno(ASSAY_EIO, errno, "%s", token_file);
        if (!fgets(c->token, sizeof c->token, f))
            c->token[0] = 0;
        fclose(f);
    } else if (getenv("ASSAY_TOKEN")) {
        snprintf(c->token, sizeof c->token, "%s", getenv("ASSAY_TOKEN"));
    }
    c->token[strcspn(c->token, "\r\n \t")] = 0;
    if (!c->token[0])
        return assay_error_set(ASSAY_EINVAL, "no token: set ASSAY_TOKEN or give --token-file (assay token create)");
    return assay_client_global_init();
}

void assay_client_done(assay_client *c)
{
    explicit_bzero(c->token, sizeof c->token);
    assay_client_global_done();
}

typedef struct answer {
    char *buf;
    size_t len;
    int too_big;
} answer;

static size_t take(char *data, size_t size, size_t nmemb, void *arg)
{
    answer *a = arg;
    size_t n = size * nmemb;
    if (a->len + n > ANSWER_MAX) {
        a->too_big = 1;
        return 0;
    }
    char *nb = realloc(a->buf, a->len + n + 1);
    if (!nb)
        return 0;
    a->buf = nb;
    memcpy(a->buf + a->len, data, n);
    a->len += n;
    a->buf[a->len] = 0;
    return n;
}

static int status_code(long st)
{
    return st == 404 ? ASSAY_ENOTFOUND
           : st == 401 || st == 403 ? ASSAY_EAUTH
           : st == 413 ? ASSAY_ETOOBIG
           : st == 409 ? ASSAY_ESTATE
           : st < 500 ? ASSAY_EINVAL
                      : ASSAY_EIO;
}

/* One request, as assay_client_request; with `extra` (a header line, or
 * NULL) sent as well. */
static int perform(assay_client *c, cJSON **out, FILE *sink, const char *method, const char *path,
                   const char *json_body, const char *upload_path, const char *extra)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    answer a = {NULL, 0, 0};
    FILE *up = NULL;
    char url[2048], auth[160];
    int rc;
    long st = 0;
    if (out)
        *out = NULL;
    if (!h)
        return assay_error_set(ASSAY_ENOMEM, "libcurl: out of memory");
    if (snprintf(url, sizeof url, "%s%s", c->url, path) >= (int)sizeof url) {
        rc = assay_error_set(ASSAY_EINVAL, "URL too long");
        goto out;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->token);
    hdr = curl_slist_append(hdr, auth);
    explicit_bzero(auth, sizeof auth);
    if (extra)
        hdr = curl_slist_append(hdr, extra);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, take);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    if (upload_path) {
        /* Streamed as read: libcurl reads the file as it sends. */
        struct stat sb;
        if (!(up = fopen(upload_path, "rbe")) || fstat(fileno(up), &sb) < 0 || !S_ISREG(sb.st_mode)) {
            rc = assay_error_set_errno(ASSAY_EIO, errno ? errno : EINVAL, "%s: not a readable regular file",
                                       upload_path);
            goto out;
        }
        hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_READDATA, up);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sb.st_size);
    } else if (json_body) {
        hdr = curl_slist_append(hdr, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    /* The body of an error is a problem; only a success goes to sink. */
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && a.too_big)) {
        rc = assay_error_set(ASSAY_EIO, "%s: %s", c->url, curl_easy_strerror(cc));
        goto out;
    }
    if (a.too_big) {
        rc = assay_error_set(ASSAY_ETOOBIG, "the server's answer is larger than %u bytes", ANSWER_MAX);
        goto out;
    }
    if (st >= 400 || st < 200) {
        cJSON *p = a.buf ? cJSON_Parse(a.buf) : NULL;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "detail");
        rc = assay_error_set(status_code(st), "%s (HTTP %ld)", cJSON_IsString(d) ? d->valuestring : "no detail", st);
        cJSON_Delete(p);
        goto out;
    }
    if (sink && a.buf && fwrite(a.buf, 1, a.len, sink) != a.len) {
        rc = assay_error_set_errno(ASSAY_EIO, errno, "writing the answer");
        goto out;
    }
    if (out && a.buf)
        *out = cJSON_ParseWithLength(a.buf, a.len);
    rc = (int)st;
out:
    if (up)
        fclose(up);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    free(a.buf);
    return rc;
}

int assay_client_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : assay_error_set(ASSAY_EIO, "libcurl could not start");
}

void assay_client_global_done(void)
{
    curl_global_cleanup();
}

int assay_client_request(assay_client *c, cJSON **out, FILE *sink, const char *method, const char *path,
                         const char *json_body, const char *upload_path)
{
    return perform(c, out, sink, method, path, json_body, upload_path, NULL);
}

int assay_client_get_range(assay_client *c, FILE *sink, const char *path, uint64_t off, uint64_t len)
{
    char range[80];
    if (len == 0)
        return assay_error_set(ASSAY_EINVAL, "an empty range");
    snprintf(range, sizeof range, "Range: bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    return perform(c, NULL, sink, "GET", path, NULL, NULL, range);
}

/* ---- one signed POST to someone else's server (webhooks) ---------------- */

typedef struct excerpt {
    char *buf;
    size_t len, cap;
} excerpt;

/* Keeps the first cap bytes of an answer and drops the rest. */
static size_t keep_excerpt(char *data, size_t size, size_t nmemb, void *arg)
{
    excerpt *e = arg;
    size_t n = size * nmemb, room = e->cap - e->len;
    if (room)
        memcpy(e->buf + e->len, data, n < room ? n : room);
    e->len += n < room ? n : room;
    return n;
}

static int stop_asked(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const volatile int *stop = arg;
    return stop && *stop;
}

int assay_client_post(int *status, char *reply, size_t replylen, const char *url, const char *const *headers,
                      const char *body, long connect_s, long timeout_s, const volatile int *stop)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = NULL;
    excerpt e = {reply, 0, replylen ? replylen - 1 : 0};
    long st = 0;
    int rc;
    if (replylen)
        reply[0] = 0;
    if (!h)
        return assay_error_set(ASSAY_ENOMEM, "libcurl: out of memory");
    for (const char *const *p = headers; p && *p; p++)
        hdr = curl_slist_append(hdr, *p);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, not a new address */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, connect_s < timeout_s ? connect_s : timeout_s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_excerpt);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &e);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stop_asked);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)stop);
    CURLcode cc = curl_easy_perform(h);
    if (replylen)
        reply[e.len] = 0;
    if (cc != CURLE_OK) {
        rc = assay_error_set(cc == CURLE_OPERATION_TIMEDOUT ? ASSAY_ETIMEOUT : ASSAY_EIO, "%s",
                             curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    *status = (int)st;
    rc = 0;
out:
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return rc;
}
