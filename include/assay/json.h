/* Small helpers over cJSON shared by the agent and the controller. */
#ifndef ASSAY_JSON_H
#define ASSAY_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

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

/*
 * Check that text[0..len) is one JSON value (RFC 8259) with nothing around
 * it but JSON whitespace, stricter than cJSON where cJSON would read
 * something other than what the text says: strings must be UTF-8 with no
 * raw control characters, no lone surrogates and no \u0000 (cJSON cuts a
 * string at a NUL); numbers, literals and whitespace as in the RFC; at
 * most 64 levels deep. Returns 0, or ASSAY_EINVAL naming the first fault
 * and its byte offset. Duplicate names are left to
 * assay_json_unique_names(), on the parsed tree.
 */
int assay_json_strict(const char *text, size_t len);

/* 0 if no object anywhere in v has one member name twice (RFC 8259 leaves
 * what such an object means to each reader), or ASSAY_EINVAL naming it. */
int assay_json_unique_names(const cJSON *v);

#endif
