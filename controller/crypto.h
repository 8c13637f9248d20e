/*
 * The controller's one user of OpenSSL libcrypto: SHA-256 digests, the SSH
 * fingerprint format, and the lab's signing key. No OpenSSL type appears in
 * this header.
 */
#ifndef ASSAY_CTL_CRYPTO_H
#define ASSAY_CTL_CRYPTO_H

#include "assay/io.h"

#include <stddef.h>
#include <stdint.h>

#define ASSAY_SHA256_HEX 65 /* 64 hex digits and a NUL */

typedef struct assay_sha256 assay_sha256;

/* Streaming SHA-256. new returns NULL when out of memory. */
assay_sha256 *assay_sha256_new(void);
void assay_sha256_update(assay_sha256 *h, const void *data, size_t len);
/* Finish into lowercase hex and free the context. */
void assay_sha256_final(assay_sha256 *h, char out[ASSAY_SHA256_HEX]);

/* Digest of a buffer. */
void assay_sha256_hex(char out[ASSAY_SHA256_HEX], const void *data, size_t len);

/* Digest and size of a file. Returns 0, or ASSAY_EIO. */
int assay_sha256_file(char out[ASSAY_SHA256_HEX], uint64_t *size, const char *path);

/* OpenSSH's fingerprint of a raw public key blob: "SHA256:" and unpadded
 * base64 of its SHA-256. out must hold 60 bytes. */
void assay_ssh_fingerprint(char out[60], const unsigned char *blob, size_t len);

typedef enum { ASSAY_KEY_ED25519, ASSAY_KEY_SM2 } assay_key_type;

/* HMAC-SHA256 of msg under key. */
void assay_hmac_sha256(unsigned char out[32], const void *key, size_t keylen, const void *msg, size_t len);
/* The same over a followed by b, without joining them. */
void assay_hmac_sha256_2(unsigned char out[32], const void *key, size_t keylen, const void *a, size_t alen,
                         const void *b, size_t blen);

/*
 * The key that authenticates agent job `job`'s events (assay/evmac.h):
 * HMAC-SHA256 under the SHA-256 of the lab's private key file. Returns 0 or
 * ASSAY_EIO.
 */
int assay_event_key(unsigned char out[32], const char *keypath, const char *job);

/*
 * Make a new signing key and write it as PKCS#8 PEM to `path`, created 0600
 * (never readable by others, even for an instant). Returns 0, ASSAY_EEXISTS
 * if the file exists, or ASSAY_EIO.
 */
int assay_key_generate(const char *path, assay_key_type type);

/*
 * Sign `msg` with the lab's key at `keypath` (refused unless private, mode
 * 600): Ed25519, or SM2 with SM3 and the GM/T 0009 distinguishing ID
 * 1234567812345678. *sig is malloc'd. keyid: hex SHA-256 of the public
 * key's DER (SubjectPublicKeyInfo); alg: "ed25519" or "sm2-sm3". The key is
 * read, used and wiped from memory here, and nowhere else.
 */
int assay_sign(const char *keypath, const void *msg, size_t len, unsigned char **sig, size_t *siglen,
               char keyid[ASSAY_SHA256_HEX], char alg[16]);

/* The lab key's public half as PEM (malloc'd), its key id and algorithm. */
int assay_key_public(const char *keypath, char **pem, char keyid[ASSAY_SHA256_HEX], char alg[16]);

/* A public key read from PEM, to verify signatures with. */
typedef struct assay_pubkey assay_pubkey;

/*
 * Read a public key in PEM into *out (free it with assay_pubkey_free), and
 * give its key id and algorithm. Returns 0, or ASSAY_EINVAL (not a public
 * key assay knows; *out untouched). Reading PEM is the costly part of a
 * verification in OpenSSL 3 (its decoders): read a key once, then verify
 * as many signatures with it as there are.
 */
int assay_pubkey_load(assay_pubkey **out, const char *pubpem, size_t pemlen, char keyid[ASSAY_SHA256_HEX],
                      char alg[16]);

/* Verify a signature over msg with key: 0, ASSAY_EVERIFY (it does not
 * match) or ASSAY_ERROR (OpenSSL cannot verify with this key). */
int assay_pubkey_verify(const assay_pubkey *key, const void *msg, size_t len, const unsigned char *sig,
                        size_t siglen);

/* Free a key of assay_pubkey_load; NULL is a no-op. */
void assay_pubkey_free(assay_pubkey *key);

/*
 * Base64 (RFC 4648). encode writes the standard alphabet with padding.
 * decode takes the standard or the URL-safe alphabet (not both in one
 * string), padded or not, and refuses anything else: whitespace, NUL,
 * incomplete padding, non-zero unused bits. Both return malloc'd memory
 * (decode's holds *outlen bytes and one spare) or NULL.
 */
char *assay_base64_encode(const unsigned char *in, size_t len);
unsigned char *assay_base64_decode(const char *in, size_t len, size_t *outlen);

#endif
