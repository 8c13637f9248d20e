/*
 * The agent protocol: the job spec the controller sends to `assay-agent
 * start`, and the events the agent appends to events.jsonl and streams with
 * `attach`. docs/protocol.md is the full description.
 */
#ifndef ASSAY_PROTO_H
#define ASSAY_PROTO_H

#include <stddef.h>

/* Carried as "v" in every event and "protocol" in every job spec. */
#define ASSAY_PROTO_VERSION 1

#define ASSAY_SPEC_MAX (1024 * 1024)       /* bytes of a job spec */
#define ASSAY_EVENT_MAX (4 * 1024 * 1024)  /* bytes of one event line */
#define ASSAY_ID_MAX 64                    /* job and step ids: [A-Za-z0-9._-]{1,64} */
#define ASSAY_UNIT_MAX 32                  /* bytes of a benchmark unit */
/* The rule in words, as a printf format fragment (hence %%). */
#define ASSAY_UNIT_RULE_FMT "1-32 bytes of A-Z a-z 0-9 / %% . _ - and µ (like ops/s, MB/s, ms, µs)"

/* A benchmark unit is an identifier, not text: it is shown in every report
 * form and compared ("s", "ms" are times), so it may hold only
 * [A-Za-z0-9/%._-] and the micro sign (U+00B5), 1 to ASSAY_UNIT_MAX bytes. */
static inline int assay_unit_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c == 0xc2 && (unsigned char)s[n + 1] == 0xb5) {
            n++;
            continue;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '%' ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return n >= 1 && n <= ASSAY_UNIT_MAX;
}

/* Live output ("output" events, docs/protocol.md): the first bytes of each
 * stream of an install, test or uninstall step run (never a benchmark's: its
 * figures are not to share the host with the supervisor's writes), sent in
 * chunks of at most ASSAY_LIVE_CHUNK bytes, at most every ASSAY_LIVE_MS ms,
 * up to ASSAY_LIVE_MAX bytes per stream per run and ASSAY_LIVE_JOB_MAX in the
 * job (what the store keeps and a page replays stays bounded). The whole log still comes
 * when the job ends; this is what a person watches meanwhile. */
#define ASSAY_LIVE_CHUNK 4096
#define ASSAY_LIVE_MS 250
#define ASSAY_LIVE_MAX (64 * 1024)
#define ASSAY_LIVE_JOB_MAX (4 * 1024 * 1024) /* and at most this much in a whole job */

/* The most bytes the agent's `receive` takes (it holds them in memory);
 * the controller sends larger files through the host's own tools. */
#define ASSAY_RECEIVE_MAX ((uint64_t)2 << 20)

/* A log's name in logs/ as `assay-agent logs` sends it and the controller
 * takes it: 1-128 bytes of [A-Za-z0-9._-], not starting with '.' (step ids
 * make "<step>.<run>.stdout"). */
static inline int assay_log_name_valid(const char *n, size_t len)
{
    if (len == 0 || len > 128 || n[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}

/* Files in a job directory. The agent's own state lives in a 0700 folder
 * that no step running as the job's run user can open (docs/security.md);
 * the steps work in `work`, owned by that user; the logs are the agent's. */
#define ASSAY_JOB_STATE "state"
#define ASSAY_JOB_SPEC "state/job.json"
#define ASSAY_JOB_EVENTS "state/events.jsonl"
#define ASSAY_JOB_LOCK "state/supervisor.lock"
#define ASSAY_JOB_START_LOCK "state/start.lock" /* held (flock) by the one running start */
#define ASSAY_JOB_PID "state/supervisor.pid"
#define ASSAY_JOB_RESERVE "state/.reserve"
#define ASSAY_JOB_WORK "work"
#define ASSAY_JOB_ATTACH_LOCK "state/attach.lock" /* held (flock) by the one live attach */
#define ASSAY_JOB_ATTACH_PID "state/attach.pid"   /* its pid, for the attach that replaces it */
#define ASSAY_JOB_LOGS "logs"
#define ASSAY_JOB_CANCEL "state/cancel" /* the cancel asked for: "uninstall\n" or "now\n" */

/* The account tests and benchmarks run as when a host names none. */
#define ASSAY_RUN_USER_DEFAULT "assay-run"

/* Exit statuses of `assay-agent attach` when it stops before job-end on
 * purpose, leaving the job running: nobody reads its output any more (the
 * SSH channel closed), or a newer attach of the same job replaced it. */
#define ASSAY_ATTACH_EXIT_CLOSED 3
#define ASSAY_ATTACH_EXIT_REPLACED 4

#endif
