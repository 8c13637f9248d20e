/* Webhooks: adding hooks, signing, and the delivery thread; see webhook.h. */
#include "webhook.h"

#include "accounts.h"
#include "assay/error.h"
#include "assay/json.h"
#include "assay/version.h"
#include "client.h"
#include "crypto.h"
#include "markup.h"
#include "report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS 500          /* how often an idle sender looks for due tries */
#define SENDERS 4            /* tries in flight at once, at most: each of another hook */
#define CONNECT_SECONDS 5L   /* one try's connection, at most */
#define TRY_SECONDS 10L      /* one try, connection and answer, at most */
#define BACKOFF_MAX 3600     /* seconds between tries, at most */
#define EXCERPT 256          /* bytes of a failing answer kept in the record */

static int url_ok(const char *url)
{
    size_t n = strlen(url);
    if (n > ASSAY_WEBHOOK_URL_MAX || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return 0;
    const char *host = strstr(url, "//") + 2;
    if (!*host || *host == '/')
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            return 0;
    return 1;
}

int assay_webhook_add(int64_t *id, char secret[ASSAY_WEBHOOK_SECRET_LEN], assay_store *st, const char *org,
                      const char *url)
{
    char s[ASSAY_WEBHOOK_SECRET_LEN];
    int64_t hook;
    if (!assay_account_name_valid(org))
        return assay_error_set(ASSAY_EINVAL, "an organisation name is 1-63 letters, digits, '.', '_' or '-'");
    if (!url_ok(url))
        return assay_error_set(ASSAY_EINVAL, "a webhook URL is http:// or https://, a host, and at most %d bytes "
                                             "of printable ASCII without spaces",
                               ASSAY_WEBHOOK_URL_MAX);
    if (assay_account_secret_new(s, "whsec_") < 0)
        return assay_error_last()->code;
    int rc = assay_store_webhook_add(st, org, url, s, &hook);
    if (rc == 0) {
        memcpy(secret, s, sizeof s);
        *id = hook;
    }
    explicit_bzero(s, sizeof s);
    return rc;
}

void assay_webhook_sign(char out[72], const char *secret, const char *ts, const char *body, size_t len)
{
    unsigned char mac[32];
    char head[40];
    int n = snprintf(head, sizeof head, "%s.", ts);
    assay_hmac_sha256_2(mac, secret, strlen(secret), head, (size_t)n, body, len);
    memcpy(out, "sha256=", 7);
    assay_hex(out + 7, mac, sizeof mac);
}

int assay_webhook_payload(char **out, assay_lab *lab, int64_t run, const char *delivery, const char *base_url)
{
    cJSON *r = NULL, *o = NULL;
    char url[1200];
    int rc = assay_store_run_get(lab->store, run, &r);
    if (rc < 0)
        return rc;
    const char *state = assay_json_str(r, "state");
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "run.ended");
    cJSON_AddStringToObject(o, "delivery", delivery);
    cJSON_AddNumberToObject(o, "run", (double)run);
    cJSON_AddStringToObject(o, "package", assay_json_str(r, "package"));
    cJSON_AddStringToObject(o, "product", assay_json_str(r, "product"));
    cJSON_AddStringToObject(o, "version", assay_json_str(r, "version"));
    cJSON_AddStringToObject(o, "state", state);
    /* The verdict and whether it certifies, as the signed report states
     * them: a canceled run has neither. */
    char *env = NULL;
    assay_report_check chk = {0};
    cJSON *sum = NULL;
    if (!strcmp(state, "done") && assay_report_signed(&env, &chk, lab, run, 0) == 0 &&
        assay_report_outcome(&sum, chk.statement) == 0) {
        cJSON_AddStringToObject(o, "verdict", assay_json_str(sum, "verdict"));
    } else {
        assay_error_clear();
        cJSON_AddNullToObject(o, "verdict");
    }
    int certified = !strcmp(assay_json_str(sum, "status"), "certified");
    cJSON_Delete(sum);
    cJSON_Delete(chk.statement);
    free(env);
    cJSON_AddBoolToObject(o, "certified", certified);
    snprintf(url, sizeof url, "%s/api/v1/runs/%" PRId64 "/report", base_url, run);
    cJSON_AddStringToObject(o, "report_url", url);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    cJSON_Delete(r);
    if (!text)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    *out = text;
    return 0;
}

/* ---- the senders ------------------------------------------------------------
 *
 * SENDERS threads, each with its own store connection, take the due
 * deliveries round robin over hooks, at most one try of a hook in flight
 * at once (the store's webhook_next skips the busy ones): a receiver that
 * accepts and never answers holds one sender for TRY_SECONDS and delays
 * only its own hook's deliveries, while the others go on. What a sender
 * takes is chosen under w->mu, so two never take the same delivery.
 */

struct assay_webhook_worker {
    char labdir[PATH_MAX];
    char base_url[512];
    unsigned backoff;
    pthread_t threads[SENDERS];
    size_t nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* a hook's try ended, or stop */
    int64_t busy[SENDERS];   /* the hook each sender is trying (0: none) */
    int64_t last;            /* the hook taken last: the next is the one after it */
    int looking;             /* an idle sender looks in the store every POLL_MS */
    int unrecorded;          /* tries in a row, by any sender, whose record the store refused */
    volatile int stop;       /* read by curl's progress callback to abort a try */
};

/* One sender's thread argument: the senders, and its slot in busy[]. */
typedef struct sender {
    assay_webhook_worker *w;
    size_t slot;
} sender;

/* One line on stderr about a try: the hook and delivery ids, never the
 * secret or the URL (a URL may carry a receiver's own token). */
static void log_try(const cJSON *d, int attempt, int status, const char *result)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "{\"time\":\"%s\",\"webhook\":%.0f,\"delivery\":\"%s\",\"run\":%.0f,\"attempt\":%d,"
                    "\"status\":%d,\"result\":\"%s\"}\n",
            when, assay_json_num(d, "webhook"), assay_json_str(d, "id"), assay_json_num(d, "run"), attempt, status,
            result);
}

/* Try delivery d once and record how it went: 0, or -1 when the record
 * could not be written (said on stderr). */
static int deliver(assay_webhook_worker *w, assay_lab *lab, const cJSON *d)
{
    char *body = NULL, ts[24], sig[72], answer[EXCERPT + 1], why[EXCERPT + 64] = "";
    char h_id[80], h_ts[48], h_sig[96], h_ua[64];
    const char *id = assay_json_str(d, "id");
    int64_t run = (int64_t)assay_json_num(d, "run");
    int attempt = (int)assay_json_num(d, "attempts") + 1, status = 0;
    time_t now = time(NULL);
    if (assay_webhook_payload(&body, lab, run, id, w->base_url) < 0) {
        snprintf(why, sizeof why, "%s", assay_error_last()->message);
    } else {
        snprintf(ts, sizeof ts, "%lld", (long long)now);
        assay_webhook_sign(sig, assay_json_str(d, "secret"), ts, body, strlen(body));
        snprintf(h_id, sizeof h_id, "X-Assay-Delivery: %s", id);
        snprintf(h_ts, sizeof h_ts, "X-Assay-Timestamp: %s", ts);
        snprintf(h_sig, sizeof h_sig, "X-Assay-Signature: %s", sig);
        snprintf(h_ua, sizeof h_ua, "User-Agent: assay-webhook/%s", assay_version());
        const char *hdr[] = {h_id, h_ts, h_sig, h_ua, "X-Assay-Event: run.ended", NULL};
        if (assay_client_post(&status, answer, sizeof answer, assay_json_str(d, "url"), hdr, body,
                              CONNECT_SECONDS, TRY_SECONDS, &w->stop) < 0) {
            snprintf(why, sizeof why, "%s", assay_error_last()->message);
        } else if (status < 200 || status > 299) {
            /* What the receiver said, made plain text and cut: it is
             * shown to people later (API, CLI). */
            assay_text_clean(answer);
            snprintf(why, sizeof why, "HTTP %d: %.*s", status, (int)assay_utf8_cut(answer, strlen(answer), EXCERPT),
                     answer);
        }
        free(body);
    }
    if (w->stop && status == 0)
        return 0; /* aborted by the server's shutdown: tried again at the next start */
    int ok = status >= 200 && status <= 299 && !why[0];
    const char *st = ok ? "delivered" : attempt >= ASSAY_WEBHOOK_ATTEMPTS ? "failed" : "pending";
    int64_t wait = w->backoff;
    for (int i = 1; i < attempt && wait < BACKOFF_MAX; i++)
        wait *= 2;
    if (wait > BACKOFF_MAX)
        wait = BACKOFF_MAX;
    /* Logged first: whoever sees the record can find its line. A success
     * keeps the last failure's message: the record shows why it took more
     * than one try. */
    log_try(d, attempt, status, ok ? "delivered" : *st == 'f' ? "failed" : "retry");
    if (assay_store_webhook_delivery_set(lab->store, id, st, attempt, ok ? now : now + wait, status,
                                         ok ? NULL : why) < 0) {
        fprintf(stderr, "assay serve: webhook delivery %s: %s\n", id, assay_error_last()->message);
        return -1;
    }
    return 0;
}

/* Wait (w->mu held) until a try ends or stop, POLL_MS at most. */
static void nap_ms(assay_webhook_worker *w, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&w->cv, &w->mu, &until);
}

static void nap(assay_webhook_worker *w)
{
    nap_ms(w, POLL_MS);
}

/* A delivery's hook secret, wiped before the delivery is freed. */
static void explicit_bzero_secret(cJSON *d)
{
    cJSON *sec = cJSON_GetObjectItemCaseSensitive(d, "secret");
    if (cJSON_IsString(sec))
        explicit_bzero(sec->valuestring, strlen(sec->valuestring));
}

/* The hooks being tried, as the JSON array webhook_next skips. Called
 * with w->mu held. */
static void busy_json(const assay_webhook_worker *w, char *out, size_t len)
{
    size_t n = (size_t)snprintf(out, len, "[");
    for (size_t i = 0; i < SENDERS && n < len; i++)
        if (w->busy[i])
            n += (size_t)snprintf(out + n, len - n, "%s%" PRId64, n > 1 ? "," : "", w->busy[i]);
    if (n < len)
        snprintf(out + n, len - n, "]");
}

static void *send_loop(void *arg)
{
    sender *me = arg;
    assay_webhook_worker *w = me->w;
    assay_lab lab;
    char busy[SENDERS * 24 + 4];
    if (assay_lab_open(&lab, w->labdir) < 0) {
        fprintf(stderr, "assay serve: webhooks: %s\n", assay_error_last()->message);
        free(me);
        return NULL;
    }
    assay_store_set_busy_ms(lab.store, 5000);
    int looker = 0; /* this sender is the one that looks while idle */
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        cJSON *d = NULL;
        busy_json(w, busy, sizeof busy);
        int64_t last = w->last;
        /* The query without the lock (the store may keep it up to its busy
         * timeout, and the others must be able to end their tries); a hook
         * another sender took meanwhile is left to it. */
        pthread_mutex_unlock(&w->mu);
        if (assay_store_webhook_next(lab.store, (int64_t)time(NULL), last, busy, &d) < 0)
            fprintf(stderr, "assay serve: webhooks: %s\n", assay_error_last()->message);
        pthread_mutex_lock(&w->mu);
        if (d) {
            int64_t h = (int64_t)assay_json_num(d, "webhook");
            for (size_t k = 0; k < SENDERS && d; k++)
                if (w->busy[k] == h) {
                    explicit_bzero_secret(d);
                    cJSON_Delete(d);
                    d = NULL;
                }
        }
        if (!d && w->stop)
            break;
        if (!d) {
            /* Nothing due that no other sender holds. One idle sender
             * looks again every POLL_MS (new deliveries come from other
             * processes' commits); the others wait for a try to end or
             * for the looker to take work. Idle, the senders cost the
             * store one query per POLL_MS, not one each. */
            if (looker || !w->looking) {
                looker = w->looking = 1;
                nap(w);
            } else {
                pthread_cond_wait(&w->cv, &w->mu);
            }
            continue;
        }
        int64_t hook = (int64_t)assay_json_num(d, "webhook");
        w->busy[me->slot] = hook;
        w->last = hook;
        if (looker) {
            /* Another idle sender looks now (and may find another hook's
             * delivery due at once). */
            looker = w->looking = 0;
            pthread_cond_broadcast(&w->cv);
        }
        pthread_mutex_unlock(&w->mu);
        int recorded = deliver(w, &lab, d) == 0;
        explicit_bzero_secret(d);
        cJSON_Delete(d);
        pthread_mutex_lock(&w->mu);
        /* A try not recorded is due again at once: its hook stays held
         * through a pause that grows (1 s, 2 s ... 60 s), or a store that
         * refuses writes would have the receiver posted to again at once,
         * by this sender or another. The count is the senders' together:
         * the next try of the hook may be another sender's, and a store
         * that refuses one record refuses the others'. */
        w->unrecorded = recorded ? 0 : w->unrecorded + 1;
        if (!recorded) {
            /* The whole pause: another sender's broadcast ends a nap. */
            struct timespec t0, t;
            int n = w->unrecorded;
            long ms = n > 6 ? 60000L : 1000L << (n - 1), left = ms;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            while (!w->stop && left > 0) {
                nap_ms(w, left);
                clock_gettime(CLOCK_MONOTONIC, &t);
                left = ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
            }
        }
        w->busy[me->slot] = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    assay_lab_close(&lab);
    free(me);
    return NULL;
}

/* Stop the senders started and free w. */
static void stop_all(assay_webhook_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

int assay_webhook_start(assay_webhook_worker **out, const char *labdir, const char *base_url, unsigned backoff_s)
{
    assay_webhook_worker *w = calloc(1, sizeof *w);
    if (!w)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    snprintf(w->labdir, sizeof w->labdir, "%s", labdir);
    snprintf(w->base_url, sizeof w->base_url, "%s", base_url);
    w->backoff = backoff_s ? backoff_s : ASSAY_WEBHOOK_BACKOFF;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    /* The lab opens here once, so that a lab that cannot is said at start. */
    assay_lab lab;
    if (assay_lab_open(&lab, labdir) < 0) {
        stop_all(w);
        return assay_error_last()->code;
    }
    assay_lab_close(&lab);
    for (size_t i = 0; i < SENDERS; i++) {
        sender *me = malloc(sizeof *me);
        if (!me || (me->w = w, me->slot = i, pthread_create(&w->threads[i], NULL, send_loop, me) != 0)) {
            free(me);
            stop_all(w);
            return assay_error_set(ASSAY_EIO, "cannot start the webhook senders");
        }
        w->nthreads++;
    }
    *out = w;
    return 0;
}

void assay_webhook_stop(assay_webhook_worker *w)
{
    if (w)
        stop_all(w);
}
