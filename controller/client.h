/*
 * The CLI as a client of `assay serve` (`assay --server URL ...`), for CI
 * pipelines that have no shell on the controller: libcurl, a token from
 * $ASSAY_TOKEN or a file, never printed or logged.
 */
#ifndef ASSAY_CTL_CLIENT_H
#define ASSAY_CTL_CLIENT_H

#include <cjson/cJSON.h>
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

#endif
