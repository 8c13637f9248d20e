/*
 * The centre's public certificate registry (兼容性清单, docs/portal.md):
 * the reports an engineer or admin chose to publish, listed for anyone
 * with what a buyer searches by, each one's signed report re-verified
 * by the server whenever it is shown.
 */
#ifndef ASSAY_CTL_REGISTRY_H
#define ASSAY_CTL_REGISTRY_H

#include "lab.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/*
 * Publish the report of run `run` (ended) as account `by`: its signed
 * report is made and verified with the lab's key, and the registry keeps
 * its product, version, vendor, targets' CPU families and OS ids,
 * conclusion, report number and date. Publishing again replaces the entry.
 * *out (may be NULL) gets the entry as assay_registry_get's "entry".
 * ASSAY_ENOTFOUND, ASSAY_ESTATE (the run has not ended), or another code.
 */
int assay_registry_publish(cJSON **out, assay_lab *lab, int64_t run, const char *by);

/*
 * A published run's certificate: {"entry":{...},"valid":true,"algorithm",
 * "keyid","payload_sha256","envelope":{the signed report}}, the report
 * made from the store and verified with the lab's public key now.
 * ASSAY_ENOTFOUND for a run that is not published (whether or not it
 * exists), or the verification's error.
 */
int assay_registry_get(cJSON **out, assay_lab *lab, int64_t run);

#endif
