/*
 * events.jsonl: the job's append-only event log, the source of truth that
 * `attach` streams. One JSON object per line, each starting with
 * {"v":1,"seq":N,"ts":"...","type":...}; seq starts at 0 and has no gaps.
 */
#ifndef ASSAY_AGENT_EVLOG_H
#define ASSAY_AGENT_EVLOG_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct assay_evlog assay_evlog;

/*
 * Open `path` for appending, creating it. A torn last line (a crash in the
 * middle of a write) is cut off; the next seq follows the last complete
 * line. `reserve` (may be NULL) names a file of spare bytes made now and
 * deleted if the disk fills, so the error and job-end events still fit.
 */
int assay_evlog_open(assay_evlog **out, const char *path, const char *reserve);

/*
 * Append `ev` (an object with "type" first) as one line, stamped with v,
 * seq and ts, and fsync it. Takes ownership of `ev` in every case. On
 * success *seq_out (may be NULL) is the seq written. Several processes may
 * append (they take an flock); each sees the others' lines.
 */
int assay_evlog_emit(assay_evlog *log, cJSON *ev, int64_t *seq_out);

/* From now on, end every line with its MAC under `key` (assay/evmac.h).
 * The key is copied; the caller should wipe its own copy. */
void assay_evlog_set_key(assay_evlog *log, const uint8_t key[32]);

void assay_evlog_free(assay_evlog *log);

/*
 * Parse the head of one event line: its seq and type (copied into type,
 * NUL-terminated). Returns 0, or ASSAY_EPROTO for a line that is not an
 * event.
 */
int assay_event_head(int64_t *seq, char *type, size_t typelen, const char *line, size_t len);

/* Current UTC time as RFC 3339 with microseconds ("2026-11-26T23:15:27.123456Z"). */
void assay_ts_now(char out[32]);

#endif
