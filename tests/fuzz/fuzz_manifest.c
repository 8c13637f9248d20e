/* libFuzzer target: the submission manifest parser and job spec maker. */
#include "manifest.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_manifest *m;
    if (assay_manifest_parse(&m, (const char *)data, size) == 0) {
        char *spec;
        if (assay_manifest_job_spec(&spec, m, "job", (const char *[]){"a.tar.gz"}, 1) == 0)
            free(spec);
        (void)assay_manifest_pick(m, "aarch64", "new");
        assay_manifest_free(m);
    }
    return 0;
}
