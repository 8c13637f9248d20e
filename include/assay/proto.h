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
#define ASSAY_JOB_LOGS "logs"
#define ASSAY_JOB_CANCEL "cancel" /* the cancel asked for: "uninstall\n" or "now\n" */

#endif
