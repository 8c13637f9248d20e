/* Small helpers over cJSON shared by the agent and the controller. */
#ifndef ASSAY_JSON_H
#define ASSAY_JSON_H

#include <cjson/cJSON.h>

/*
 * Refuse members of object `o` not in the NULL-terminated `keys`: a typo
 * ("timout") must be an error, not a silent default. Returns 0, or
 * ASSAY_EINVAL with "<where><member>: unknown field (known: a, b, ...)".
 */
int assay_json_only_keys(const cJSON *o, const char *where, const char *const *keys);

/* The string member `k` of `o`, or "" if absent or not a string. */
const char *assay_json_str(const cJSON *o, const char *k);

/* The number member `k` of `o`, or 0. */
double assay_json_num(const cJSON *o, const char *k);

#endif
