/*
 * The lab's content-addressed blob store: submissions, artifacts, agents and
 * logs, each stored once under its SHA-256 (blobs/ab/cdef...). Writes go to a
 * temporary file and are renamed into place after fsync, so a blob that
 * exists is complete.
 */
#ifndef ASSAY_CTL_BLOB_H
#define ASSAY_CTL_BLOB_H

#include "crypto.h"

#include <stddef.h>
#include <stdint.h>

typedef struct assay_blob_writer assay_blob_writer;

/* Start a blob under `root` (the lab's blobs/ directory). */
int assay_blob_writer_open(assay_blob_writer **out, const char *root);
int assay_blob_writer_write(assay_blob_writer *w, const void *data, size_t len);
/* The file being written (valid until commit or abort). */
const char *assay_blob_writer_path(const assay_blob_writer *w);
/* Bytes written so far. */
uint64_t assay_blob_writer_size(const assay_blob_writer *w);
/* Finish writing (fsync, digest) but do not publish yet: the writer keeps
 * its temporary file until commit or abort. Returns 0 with digest and size. */
int assay_blob_writer_finish(assay_blob_writer *w, char hex[ASSAY_SHA256_HEX], uint64_t *size);
/* Finish (if not done): fsync, name by digest (an existing blob of that digest is kept),
 * free the writer. Returns 0 with the digest and size. */
int assay_blob_writer_commit(assay_blob_writer *w, char hex[ASSAY_SHA256_HEX], uint64_t *size);
/* Drop a blob being written; NULL is a no-op. */
void assay_blob_writer_abort(assay_blob_writer *w);

/* Store a file or a buffer. */
int assay_blob_put_file(const char *root, const char *path, char hex[ASSAY_SHA256_HEX], uint64_t *size);
int assay_blob_put_mem(const char *root, const void *data, size_t len, char hex[ASSAY_SHA256_HEX]);

/* An anonymous scratch file in the store's tmp directory (unlinked at once,
 * so nothing is left behind, even by a crash), for bytes that may never be
 * published. Returns 0 with a descriptor open for reading and writing,
 * which the caller closes. */
int assay_blob_scratch(int *out, const char *root);

/* Copy a file into a finished but unpublished blob (commit or abort it). */
int assay_blob_stage_file(assay_blob_writer **out, const char *root, const char *path,
                          char hex[ASSAY_SHA256_HEX], uint64_t *size);

/* Path of the blob `hex` (which must be 64 hex digits) into out. */
int assay_blob_path(char *out, size_t outlen, const char *root, const char *hex);

/* Delete blob `hex` (one that is not there already counts as deleted).
 * Returns 0, or ASSAY_EINVAL / ASSAY_EIO. The caller makes sure nothing
 * refers to it any more. */
int assay_blob_remove(const char *root, const char *hex);

/* 1 if `s` is 64 lowercase hex digits. */
int assay_hex_digest_valid(const char *s);

#endif
