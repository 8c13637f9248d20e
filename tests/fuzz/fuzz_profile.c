/* libFuzzer target: the target profile parser, and the comparison of a
 * parsed profile with a host's facts (both halves taken from the input,
 * split at the first NUL: profile, then facts). */
#include "profile.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, '\0', size);
    size_t plen = nul ? (size_t)(nul - s) : size;
    assay_profile *p;
    if (assay_profile_parse(&p, s, plen, "fuzz.json") == 0) {
        cJSON *facts = nul ? cJSON_ParseWithLength(nul + 1, size - plen - 1) : NULL, *out = NULL;
        if (facts && assay_profile_check_facts(&out, p, facts) == 0)
            cJSON_Delete(out);
        cJSON_Delete(facts);
        assay_profile_free(p);
    }
    return 0;
}
