/* Host facts, measured on the host: see docs/protocol.md, "facts". */
#ifndef ASSAY_AGENT_FACTS_H
#define ASSAY_AGENT_FACTS_H

#include <cjson/cJSON.h>

/*
 * Collect the host's facts into a new JSON object owned by the caller.
 * Facts that cannot be measured are null, never guessed. Returns 0, or
 * ASSAY_ENOMEM.
 */
int assay_facts_collect(cJSON **out);

/*
 * CPU facts from a /proc/cpuinfo text as an agent of architecture `arch`
 * would read it: {"vendor", "family", "model", "model_name", "implementer",
 * "part", "cores_online", "cores_listed"}. NULL when out of memory.
 */
cJSON *assay_facts_cpu(const char *arch, const char *cpuinfo);

/*
 * What affects a benchmark's figures now (docs/protocol.md, "facts"):
 * {"load_avg": [1, 5, 15 min], "memory_available_bytes", "governor" (cpu0's
 * cpufreq governor), "cpu0_mhz", "cpu0_max_mhz", "smt" (the kernel's SMT
 * control: on, off, forceoff, notsupported, notimplemented), "smt_active"
 * (1 or 0)}, each null when the host does not say. Measured at the job's
 * start (facts) and end (job-end). NULL when out of memory.
 */
cJSON *assay_facts_environment(void);

/* OS facts from /etc/os-release and the vendors' release files under
 * assay_facts_root(). NULL when out of memory. */
cJSON *assay_facts_os(void);

/*
 * The root of the file system facts are read from: "" (the real root) unless
 * the environment sets ASSAY_FACTS_ROOT, which tests use to present
 * recorded /proc/cpuinfo and /etc files of real machines.
 */
const char *assay_facts_root(void);

#endif
