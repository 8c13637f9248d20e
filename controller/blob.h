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
/* The same, its temporary file in `stagedir` (on the store's file system;
 * NULL: the store's tmp/). */
int assay_blob_writer_open_in(assay_blob_writer **out, const char *root, const char *stagedir);
int assay_blob_writer_write(assay_blob_writer *w, const void *data, size_t len);
/* The file being written (valid until commit or abort). */
const char *assay_blob_writer_path(const assay_blob_writer *w);
/* Bytes written so far. */
uint64_t assay_blob_writer_size(const assay_blob_writer *w);
/* Finish writing (digest, close) but do not publish yet: the writer keeps
 * its temporary file until commit or abort, and its bytes are made durable
 * only then (bytes the store has already never are, nor bytes dropped).
 * Returns 0 with digest and size. */
int assay_blob_writer_finish(assay_blob_writer *w, char hex[ASSAY_SHA256_HEX], uint64_t *size);
/* Finish (if not done): name by digest and free the writer. A blob of that
 * digest that exists already is kept (its time made now, for gc's grace)
 * and the bytes written are dropped without an fsync; else they are
 * fsynced and renamed into place. Returns 0 with the digest and size. */
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

/* Copy descriptor `fd` to its end into a finished, unpublished blob in
 * `stagedir`, hashing as it goes: one read, so the digest names exactly the
 * bytes staged. ASSAY_ETOOBIG past `cap` bytes (`what` names the source in
 * read errors). */
int assay_blob_stage_fd(assay_blob_writer **out, const char *root, const char *stagedir, int fd, uint64_t cap,
                        const char *what, char hex[ASSAY_SHA256_HEX], uint64_t *size);

/* Take the file at `path`, the caller's own (made by it, on the store's
 * file system, no other name, no descriptor open for writing left), into
 * a finished, unpublished blob in `stagedir` without copying it: it is
 * moved there, then read once for its digest. A path that is not a
 * regular file with one name, or that is still open for writing (a read
 * lease is refused), is refused. Moved, the file goes
 * with the blob (abort removes it); the caller removes what may be left at
 * `path` on an error. ASSAY_ETOOBIG past `cap` bytes. */
int assay_blob_stage_take(assay_blob_writer **out, const char *root, const char *stagedir, const char *path,
                          uint64_t cap, char hex[ASSAY_SHA256_HEX], uint64_t *size);

/* Publish the finished file `staged` (same file system) as blob `hex`,
 * fsynced first; if that blob exists already, `staged` is removed. */
int assay_blob_adopt(const char *root, const char *staged, const char hex[ASSAY_SHA256_HEX]);

/* A fresh staging directory tmp/KIND-XXXXXX under `root` into out (KIND
 * says whose: "add" for package add, "upload" for assay serve), locked
 * (flock) through *lock while its owner lives, so that a sweep tells one
 * a killed process left from one in use; remove it and all in it, and
 * release the lock, with assay_blob_unstage() (NULL or "", and -1, are
 * no-ops). */
int assay_blob_stagedir(char *out, size_t outlen, int *lock, const char *root, const char *kind);
void assay_blob_unstage(const char *stagedir, int lock);

/*
 * Garbage: remove what is in tmp/ and blobs `referenced(ctx, hex)` says
 * nothing names (0; 1 if named, negative on error, which stops the sweep),
 * both only when last modified at least `grace` seconds ago; a staging
 * directory of assay_blob_stagedir() goes at once when its owner is gone,
 * and never while it lives (assay serve's uploads are staged in them, for
 * as long as an upload takes).
 * Counts what went into *staged and *orphans.
 */
int assay_blob_gc(const char *root, int64_t grace, int (*referenced)(void *ctx, const char *hex), void *ctx,
                  size_t *staged, size_t *orphans);

/* Path of the blob `hex` (which must be 64 hex digits) into out. */
int assay_blob_path(char *out, size_t outlen, const char *root, const char *hex);

/* Delete blob `hex` (one that is not there already counts as deleted).
 * Returns 0, or ASSAY_EINVAL / ASSAY_EIO. The caller makes sure nothing
 * refers to it any more. */
int assay_blob_remove(const char *root, const char *hex);

/* 1 if `s` is 64 lowercase hex digits. */
int assay_hex_digest_valid(const char *s);

#endif
