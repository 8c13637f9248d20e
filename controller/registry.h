/*
 * The centre's public certificate registry (兼容性清单, docs/portal.md):
 * the reports an engineer or admin chose to publish, listed for anyone
 * with what a buyer searches by, each one's signed report kept as it
 * was published and re-verified by the server whenever it is shown.
 */
#ifndef ASSAY_CTL_REGISTRY_H
#define ASSAY_CTL_REGISTRY_H

#include "lab.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/*
 * Publish the report of run `run` (ended) as account `by`: its signed
 * report is made and verified with the lab's key (assay_report_signed) and
 * kept, byte for byte, with what a buyer searches by: product, version,
 * the manifest's vendor, who submitted it (the organisations that uploaded
 * the package), the targets' CPU families and OS ids, the conclusion,
 * report number and date. Publishing again replaces the entry and its
 * envelope. *out (may be NULL) gets the entry as assay_registry_get's
 * "entry". ASSAY_ENOTFOUND, ASSAY_ESTATE (the run has not ended), or
 * another code.
 */
int assay_registry_publish(cJSON **out, assay_lab *lab, int64_t run, const char *by);

/*
 * A published run's certificate: {"entry":{...},"envelope": the signed
 * report kept at publication, its exact bytes (raw JSON), and its check
 * with the lab's public key now: "valid":true with "algorithm","keyid",
 * "payload_sha256","summary" (assay_report_outcome) and "statement" (what
 * verified), or "valid":false with "error" (a key rotated since, a damaged
 * or older entry)}. Nothing is made again from the store. ASSAY_ENOTFOUND
 * for a run that is not published (whether or not it exists), or a store
 * error.
 */
int assay_registry_get(cJSON **out, assay_lab *lab, int64_t run);

#endif
