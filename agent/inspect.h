/*
 * Inspect ELF files on the host against its measured facts. Until the
 * preflight checks land in the shared code, this is the architecture check:
 * an ELF file of another machine than the host's will not run.
 */
#ifndef ASSAY_AGENT_INSPECT_H
#define ASSAY_AGENT_INSPECT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/*
 * Inspect `paths` (absolute, or relative to `base`) for a host of
 * architecture `host_arch`. *out receives {"host_arch", "files": [...],
 * "errors": N, "warnings": N}, owned by the caller. Returns 0 or
 * ASSAY_ENOMEM; problems with the files are findings, not failures.
 */
int assay_inspect_files(cJSON **out, char *const *paths, size_t n, const char *base,
                        const char *host_arch);

#endif
