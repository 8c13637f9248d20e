/* libFuzzer target: the agent's job spec parser on any bytes. */
#include "assay/spec.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    assay_spec *sp;
    if (assay_spec_parse(&sp, (const char *)data, size) == 0)
        assay_spec_free(sp);
    return 0;
}
