/*
 * Inspect ELF files on the host against its measured facts, with the same
 * preflight checks the controller runs against profiles.
 */
#ifndef ASSAY_AGENT_INSPECT_H
#define ASSAY_AGENT_INSPECT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/*
 * Inspect `paths` (absolute, or relative to `base`) against the host whose
 * measured facts (assay-agent facts) are `facts`: the preflight checks of
 * include/assay/preflight.h. *out receives {"host_arch", "files": [...],
 * "errors": N, "warnings": N}, owned by the caller. Returns 0 or
 * ASSAY_ENOMEM; problems with the files are findings, not failures.
 */
int assay_inspect_files(cJSON **out, char *const *paths, size_t n, const char *base, const cJSON *facts);

#endif
