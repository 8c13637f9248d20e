/*
 * Jobs on the host: a job directory holds the job spec, the event log, the
 * step logs and the artifact the controller uploaded. One supervisor
 * process per job, detached from the SSH session, runs the steps.
 */
#ifndef ASSAY_AGENT_JOB_H
#define ASSAY_AGENT_JOB_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Validate the spec and start its job in `dir` (which must exist), detached:
 * own session and process group, stdio closed, so a dropped SSH connection
 * does not touch it. Copies the job id into id_out. Starting the same spec
 * again in the same directory is a no-op that gives the same id (the
 * controller may retry after losing a connection); another spec there is
 * ASSAY_EEXISTS. A spec that does not validate returns ASSAY_EINVAL and is
 * also recorded in the directory as an error event and a job-end.
 */
int assay_job_start(const char *dir, const char *spec, size_t len, char *id_out, size_t idlen);

/*
 * Write the events with seq >= from to fd, one per line, as they come, and
 * return 0 after the job-end event. If the supervisor is gone without a
 * job-end (killed, host rebooted), records an error and a job-end first,
 * so an attach always ends.
 *
 * One attach per job: it holds the job's attach lock while it runs, and a
 * newer attach of the same directory sends the older one SIGTERM and waits
 * (up to 10 s) for the lock. Stops early, the job untouched:
 * ASSAY_ECLOSED when nobody reads fd any more (a write fails with EPIPE,
 * or, while the job is quiet, poll() reports POLLHUP/POLLERR on it: the
 * SSH channel closed), ASSAY_ECANCELED on SIGTERM (replaced). Installs its
 * own SIGTERM handler and ignores SIGPIPE while it runs; restores both.
 */
int assay_job_attach(const char *dir, int64_t from, int fd);

/* *out = {"job", "cancel": null|"uninstall"|"now", "state": running|ended|stopped|none, "pid",
 * "last_seq", "outcome"}. */
int assay_job_status(const char *dir, cJSON **out);

/*
 * Write the job's logs to fd, each regular file of logs/ whose name is a
 * safe word ([A-Za-z0-9._-], not starting with '.', at most 128 bytes) in
 * name order, framed by a line "<size> logs/<name>" and then exactly that
 * many bytes: what the controller reads after the events (docs/protocol.md).
 * Anything else in logs/ is left out. Returns 0, or ASSAY_EIO when a log
 * cannot be read whole or fd takes no more (the reader went away).
 */
int assay_job_logs(const char *dir, int fd);

/*
 * Ask the supervisor to stop the job: the running step is stopped and the
 * rest skipped, but uninstall still runs with its own timeout (SIGTERM);
 * with `now`, or when a cancel was asked for before, uninstall is stopped
 * or skipped too (SIGUSR1). Records which in the job directory's `cancel`
 * file first. ASSAY_ESTATE if no job is running.
 */
int assay_job_cancel(const char *dir, int now);

/* receive: exactly `size` bytes of stdin (at most ASSAY_RECEIVE_MAX) whose
 * SHA-256 is `sha256` (lower-case hex), put at `path` (its folder must
 * exist) whole or not at all: written beside it, mode 0644, fsynced,
 * renamed, the folder synced. ASSAY_EPROTO for a short stdin or another
 * digest; nothing is left at `path` then. */
int assay_job_receive(const char *path, uint64_t size, const char *sha256);

#endif
