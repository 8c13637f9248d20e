/* `assay host check`: reach one host now, outside the dispatcher. */
#ifndef ASSAY_CTL_HOSTCHECK_H
#define ASSAY_CTL_HOSTCHECK_H

#include "lab.h"

#include <cjson/cJSON.h>

/*
 * Connect to host `name` (pinned key checked, or trusted on first use and
 * recorded), make sure this controller's agent is there, run `assay-agent
 * facts`, and compare them with the host's profile. *facts and *diffs
 * (see assay_profile_check_facts) are the caller's. timeout_s bounds the
 * whole check.
 */
int assay_host_check(assay_lab *lab, const char *name, double timeout_s, cJSON **facts, cJSON **diffs);

#endif
