/*
 * Event authentication. The controller gives each job a 32-byte key (in the
 * job spec's "event_key"); the agent's supervisor keeps it in memory only and
 * ends every event line it writes with ,"mac":"<hex>"}, the HMAC-SHA256 of
 * the line as it was without that field. Vendor code that appends to or
 * rewrites the event log cannot make a line the controller accepts
 * (docs/security.md).
 *
 * The agent links only libc and cJSON, so SHA-256 (FIPS 180-4) and HMAC
 * (RFC 2104) are written out here; the controller checks with OpenSSL's,
 * and the tests hold the two to each other and to the standards' vectors.
 */
#ifndef ASSAY_EVMAC_H
#define ASSAY_EVMAC_H

#include <stddef.h>
#include <stdint.h>

#define ASSAY_EVMAC_KEY 32
#define ASSAY_EVMAC_SUFFIX 74 /* strlen(",\"mac\":\"") + 64 + strlen("\"}") */

/* SHA-256 of data[0..len). */
void assay_evmac_sha256(uint8_t out[32], const void *data, size_t len);

/* HMAC-SHA256 of msg under key. */
void assay_evmac_hmac(uint8_t out[32], const uint8_t *key, size_t keylen, const void *msg, size_t len);

/*
 * The MAC suffix for the event `line[0..len)`, which must end with '}':
 * writes ",\"mac\":\"<64 hex>\"}" (ASSAY_EVMAC_SUFFIX bytes + NUL) to out.
 * The signed line is line[0..len-1) followed by out.
 */
void assay_evmac_suffix(char out[ASSAY_EVMAC_SUFFIX + 1], const uint8_t key[ASSAY_EVMAC_KEY],
                        const char *line, size_t len);

/* Parse 64 hex digits into a key; 0, or -1 if s is not exactly that. */
int assay_evmac_key_parse(uint8_t key[ASSAY_EVMAC_KEY], const char *s);

#endif
