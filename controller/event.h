/*
 * Events from an agent, checked before they are stored. Everything an agent
 * sends is untrusted: a broken agent, a compromised host or a test that
 * writes into the job directory must not be able to put into the store (and
 * so into a signed report) what the agent's protocol does not allow.
 */
#ifndef ASSAY_CTL_EVENT_H
#define ASSAY_CTL_EVENT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct assay_event {
    cJSON *json; /* the parsed line; NULL for a duplicate to skip */
    int64_t seq;
    const char *type; /* in json */
} assay_event;

/*
 * Check one line of `assay-agent attach` output (without its newline) for
 * the agent job id `job`, whose events up to last_seq are stored (-1: none).
 * It must be valid UTF-8 without NUL bytes (nor \u0000), exactly one JSON
 * object (nothing after it but blanks) of protocol ASSAY_PROTO_VERSION with
 * an integer "seq" and a "type" the protocol defines; seq must be
 * last_seq + 1 (a lower one is a duplicate of a resumed attach: 0 with
 * out->json NULL); seq 0 is the job-start and no other event is, and
 * job-start and job-end must name `job`. Returns 0, or ASSAY_EPROTO with a
 * message saying what is wrong (ASSAY_ENOMEM). The caller frees out->json.
 */
int assay_event_parse(assay_event *out, const char *line, size_t len, const char *job,
                      int64_t last_seq);

/* 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)
 * without NUL bytes. */
int assay_utf8_valid(const char *s, size_t len);

#endif
