/*
 * An agent job's events, checked against the spec the controller sent
 * (docs/security.md, "What the controller checks"). event.c checks that a
 * line is a well-formed event in sequence; this checks that the sequence is
 * the job that was sent: steps start and end in spec order, each exactly
 * once (a benchmark exactly `repeat` times), a skip only where the protocol
 * allows one, each step's verdict the one its exit status, signal, timeout
 * and expected status give, one job-end whose outcome and counts follow
 * from the steps, and, for a keyed job, every event carrying the MAC of the
 * job's key. Whatever contradicts the controller's own computation is a
 * protocol violation.
 */
#ifndef ASSAY_CTL_JOBCHECK_H
#define ASSAY_CTL_JOBCHECK_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct assay_jobcheck assay_jobcheck;

/*
 * A checker for the job whose spec (JSON text, as sent) is `spec`; `key`
 * (32 bytes, or NULL) is its event key: when given, an event without a good
 * MAC is refused, except the `error` and `job-end` (outcome error) that an
 * `attach` writes for a supervisor that died (it never holds the key).
 * Returns 0, ASSAY_EINVAL for a spec that does not parse, ASSAY_ENOMEM.
 */
int assay_jobcheck_new(assay_jobcheck **out, const char *spec, const unsigned char *key);

/*
 * Check the next event: `line[0..len)` as received and `ev`, its parse by
 * assay_event_parse. Returns 0, or ASSAY_EPROTO with a message naming the
 * event and what it contradicts. After an error the checker is spent.
 */
int assay_jobcheck_event(assay_jobcheck *c, const char *line, size_t len, const cJSON *ev);

/* 1 once a job-end was accepted. */
int assay_jobcheck_ended(const assay_jobcheck *c);

/* The spec the checker holds (parsed once, by assay_jobcheck_new): its
 * steps in order, with their ids and timeouts. Owned by the checker. */
struct assay_spec;
const struct assay_spec *assay_jobcheck_spec(const assay_jobcheck *c);

void assay_jobcheck_free(assay_jobcheck *c);

#endif
