/*
 * Webhooks of an organisation (docs/api.md#webhooks): when a run of a
 * package the organisation uploaded ends, `assay serve` posts a JSON
 * summary to each of its hooks, signed with the hook's secret
 * (HMAC-SHA256 over "TIMESTAMP." and the body), and retries a delivery
 * that fails with exponential backoff. Every delivery and its tries are
 * recorded in the store. The deliveries are made by the store in the
 * transaction that ends a run; the server's senders (threads of their
 * own, round robin over hooks, one try of a hook at a time) try them:
 * request threads only read and write the hooks' rows.
 */
#ifndef ASSAY_CTL_WEBHOOK_H
#define ASSAY_CTL_WEBHOOK_H

#include "lab.h"
#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define ASSAY_WEBHOOK_SECRET_LEN 71 /* "whsec_" + 64 hex digits + NUL */
#define ASSAY_WEBHOOK_URL_MAX 1000  /* bytes of a hook's URL, at most */
#define ASSAY_WEBHOOK_ATTEMPTS 8    /* tries of one delivery before it is failed */
#define ASSAY_WEBHOOK_BACKOFF 30    /* seconds before the first retry; doubles, at most an hour */

/*
 * Add a hook of organisation org posting to url (http:// or https://,
 * printable ASCII without spaces, at most ASSAY_WEBHOOK_URL_MAX bytes): its
 * id into *id, its new secret (256 random bits, shown once) into secret.
 * ASSAY_EINVAL on a bad org name or URL.
 */
int assay_webhook_add(int64_t *id, char secret[ASSAY_WEBHOOK_SECRET_LEN], assay_store *st, const char *org,
                      const char *url);

/* The signature header's value, "sha256=" and 64 hex digits: HMAC-SHA256
 * under secret of ts, ".", and the body's len bytes. */
void assay_webhook_sign(char out[72], const char *secret, const char *ts, const char *body, size_t len);

/*
 * The body posted for run `run`, malloc'd JSON text: {"event":"run.ended",
 * "delivery","run","package","product","version","state","verdict"
 * (null unless done),"certified","report_url"}; base_url is the server's
 * address as its clients reach it.
 */
int assay_webhook_payload(char **out, assay_lab *lab, int64_t run, const char *delivery, const char *base_url);

typedef struct assay_webhook_worker assay_webhook_worker;

/*
 * Start the senders on the lab at labdir (each with its own store
 * connection): they try the deliveries due, round robin over hooks, at
 * most one try of a hook at a time and a few at once, and record each try;
 * backoff_s is the wait before the first retry (0: ASSAY_WEBHOOK_BACKOFF).
 * One line per try on stderr (never the secret or the URL). Call
 * assay_client_global_init() first.
 */
int assay_webhook_start(assay_webhook_worker **out, const char *labdir, const char *base_url, unsigned backoff_s);

/* Stop the senders (tries under way are aborted and stay pending) and
 * free w; NULL is a no-op. */
void assay_webhook_stop(assay_webhook_worker *w);

#endif
