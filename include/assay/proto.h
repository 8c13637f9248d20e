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

/* Files in a job directory. The agent's own state lives in a 0700 folder
 * that no step running as the job's run user can open (docs/security.md);
 * the steps work in `work`, owned by that user; the logs are the agent's. */
#define ASSAY_JOB_STATE "state"
#define ASSAY_JOB_SPEC "state/job.json"
#define ASSAY_JOB_EVENTS "state/events.jsonl"
#define ASSAY_JOB_LOCK "state/supervisor.lock"
#define ASSAY_JOB_PID "state/supervisor.pid"
#define ASSAY_JOB_RESERVE "state/.reserve"
#define ASSAY_JOB_WORK "work"
#define ASSAY_JOB_LOGS "logs"

/* The account tests and benchmarks run as when a host names none. */
#define ASSAY_RUN_USER_DEFAULT "assay-run"

#endif
