/* See include/assay/json.h. */
#include "assay/json.h"
#include "assay/error.h"

#include <stdio.h>
#include <string.h>

int assay_json_only_keys(const cJSON *o, const char *where, const char *const *keys)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        int known = 0;
        for (const char *const *k = keys; *k && !known; k++)
            known = m->string && strcmp(m->string, *k) == 0;
        if (known)
            continue;
        char list[512] = "";
        size_t used = 0;
        for (const char *const *k = keys; *k && used < sizeof list; k++) {
            int n = snprintf(list + used, sizeof list - used, "%s%s", k == keys ? "" : ", ", *k);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        return assay_error_set(ASSAY_EINVAL, "%s%s: unknown field (known: %s)", where, m->string ? m->string : "?",
                               list);
    }
    return 0;
}

const char *assay_json_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double assay_json_num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}
