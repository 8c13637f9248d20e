/*
 * The CLI as a client of `assay serve` (`assay --server URL ...`), for CI
 * pipelines that have no shell on the controller: libcurl, a token from
 * $ASSAY_TOKEN or a file, never printed or logged.
 */
#ifndef ASSAY_CTL_CLIENT_H
#define ASSAY_CTL_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct assay_client {
    char url[1024];   /* the server, without a trailing slash */
    char token[128];  /* the bearer token */
} assay_client;

/* Set up a client of `url` with the token of token_file (its first line)
 * or else $ASSAY_TOKEN. ASSAY_EINVAL if there is none, or the URL is not
 * http(s). */
int assay_client_init(assay_client *c, const char *url, const char *token_file);
/* Forget the token. */
void assay_client_done(assay_client *c);

/*
 * One request: method and path ("/api/v1/runs"), an optional body (JSON
 * text, or the file upload_path streamed as it is read). The answer goes
 * to sink (if not NULL), else is parsed as JSON into *out (NULL if not
 * JSON). Returns the HTTP status (2xx), or a negative code: for a status
 * of 400 and above, ASSAY_ENOTFOUND (404), ASSAY_EAUTH (401, 403),
 * ASSAY_ETOOBIG (413) or ASSAY_EINVAL/ASSAY_ESTATE/ASSAY_EIO, with the
 * server's problem detail as the message.
 */
int assay_client_request(assay_client *c, cJSON **out, FILE *sink, const char *method, const char *path,
                         const char *json_body, const char *upload_path);

/* GET bytes [off, off + len) of path (a ranged request) into sink: 206
 * when the server sent that range, 200 when it sent the whole, or a
 * negative code as assay_client_request. len must not be 0. */
int assay_client_get_range(assay_client *c, FILE *sink, const char *path, uint64_t off, uint64_t len);

/*
 * POST the JSON `body` to `url` (http or https) with extra `headers`
 * (NULL-terminated "Name: value" lines), for a webhook: no redirect
 * followed, at most connect_s seconds to connect and timeout_s seconds
 * in all (a receiver that accepts and never answers costs no more than
 * that), aborted when *stop becomes
 * non-zero (stop may be NULL). The answer's status into *status and its
 * first replylen - 1 bytes into reply (NUL-terminated; the rest is read
 * and dropped). Returns 0 when an answer came, whatever its status, or
 * ASSAY_ETIMEOUT / ASSAY_EIO (no answer) with curl's reason. Call
 * curl_global_init (assay_client_global) before any thread does this.
 */
int assay_client_post(int *status, char *reply, size_t replylen, const char *url, const char *const *headers,
                      const char *body, long connect_s, long timeout_s, const volatile int *stop);

/* libcurl's global set-up, once, before threads (0 or ASSAY_EIO), and its end. */
int assay_client_global_init(void);
void assay_client_global_done(void);

#endif
