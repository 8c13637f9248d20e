/*
 * The agent protocol: the job spec the controller sends to `assay-agent
 * start`, and the events the agent appends to events.jsonl and streams with
 * `attach`. docs/protocol.md is the full description.
 */
#ifndef ASSAY_PROTO_H
#define ASSAY_PROTO_H

/* Carried as "v" in every event and "protocol" in every job spec. */
#define ASSAY_PROTO_VERSION 1

#define ASSAY_SPEC_MAX (1024 * 1024)       /* bytes of a job spec */
#define ASSAY_EVENT_MAX (4 * 1024 * 1024)  /* bytes of one event line */
#define ASSAY_ID_MAX 64                    /* job and step ids: [A-Za-z0-9._-]{1,64} */

/* Files in a job directory. */
#define ASSAY_JOB_SPEC "job.json"
#define ASSAY_JOB_EVENTS "events.jsonl"
#define ASSAY_JOB_LOCK "supervisor.lock"
#define ASSAY_JOB_PID "supervisor.pid"
#define ASSAY_JOB_ATTACH_LOCK "attach.lock" /* held (flock) by the one live attach */
#define ASSAY_JOB_ATTACH_PID "attach.pid"   /* its pid, for the attach that replaces it */
#define ASSAY_JOB_LOGS "logs"

/* Exit statuses of `assay-agent attach` when it stops before job-end on
 * purpose, leaving the job running: nobody reads its output any more (the
 * SSH channel closed), or a newer attach of the same job replaced it. */
#define ASSAY_ATTACH_EXIT_CLOSED 3
#define ASSAY_ATTACH_EXIT_REPLACED 4

#endif
