/*
 * Reading vendors' archives, the controller's one user of libarchive. Every
 * upload is hostile: only regular files and directories, relative paths
 * without "..", no links, no device nodes, no setuid/setgid bits, and caps on
 * entry count, entry size, total size and compression ratio. Nothing is
 * extracted to the file system: entries go into the blob store.
 */
#ifndef ASSAY_CTL_INGEST_H
#define ASSAY_CTL_INGEST_H

#include "crypto.h"

#include <stddef.h>
#include <stdint.h>

struct archive;

typedef struct assay_ingest_limits {
    uint64_t max_entries;  /* entries in the archive */
    uint64_t max_entry;    /* bytes of one entry */
    uint64_t max_total;    /* bytes of all entries */
    uint64_t max_ratio;    /* uncompressed : compressed, checked past 64 MiB */
} assay_ingest_limits;

/* 10000 entries, 4 GiB per entry, 16 GiB in all, 200:1. */
void assay_ingest_limits_default(assay_ingest_limits *l);

/*
 * One submission's archive budget, counted across every level: the
 * submission's own entries and bytes, and those of the .deb control and
 * data archives, .rpm payloads and tarballs inside it. The ratio is of all
 * bytes decompressed so far to the bytes uploaded.
 */
typedef struct assay_ingest_tally {
    const assay_ingest_limits *lim;
    uint64_t raw;     /* bytes of the submission as uploaded */
    uint64_t entries; /* entries seen at every level */
    uint64_t bytes;   /* bytes decompressed at every level */
} assay_ingest_tally;

/* Add `entries` and `bytes` read inside `where` (a nested archive, named
 * for the error). ASSAY_ETOOBIG naming the cap, the setting and `where`
 * once a cap is crossed. */
int assay_ingest_count(assay_ingest_tally *t, const char *where, uint64_t entries, uint64_t bytes);

/* Read the current entry's data of `a` to its end, counting the bytes
 * into `t` as they come out (a nested archive's entry not needed). */
int assay_ingest_drain(struct archive *a, assay_ingest_tally *t, const char *where);

/* libarchive's message, never NULL. */
const char *assay_archive_why(struct archive *a);

typedef struct assay_ingest_file {
    char path[1024];
    char sha256[ASSAY_SHA256_HEX];
    uint64_t size;
} assay_ingest_file;

typedef struct assay_ingest assay_ingest;

/*
 * Read the submission at `path`: validate every entry, keep the manifest's
 * text, and hold every other regular file's bytes inside `stagedir` (NULL:
 * `blobroot`'s tmp directory), unpublished until assay_ingest_keep(): small files in one
 * anonymous spool, large ones in a staged blob each. Returns 0, or
 * ASSAY_EUNSAFE / ASSAY_ETOOBIG / ASSAY_EINVAL with a message naming the
 * entry (or the cap, or what the archive is not).
 */
int assay_ingest_open(assay_ingest **out, const char *path, const char *blobroot, const char *stagedir,
                      assay_ingest_tally *tally, const char *manifest_name);

/* The manifest's text (NUL-terminated) and length, or NULL if the archive
 * had none. */
const char *assay_ingest_manifest(const assay_ingest *in, size_t *len);

/* Entry `path`: fill `f` and the staged file's location (for checks before
 * it is kept), staging it from the spool first if need be. ASSAY_ENOTFOUND
 * if the archive has no such regular file (the manifest is not one). */
int assay_ingest_find(assay_ingest *in, const char *path, assay_ingest_file *f, char *staged, size_t len);

/* Publish the blob of entry `path` into the store. */
int assay_ingest_keep(assay_ingest *in, const char *path);

/* Drop every blob not kept, free everything. */
void assay_ingest_free(assay_ingest *in);

/* What a stored artifact is, by its content: "rpm", "deb", "tar", "zip" or
 * "file"; and for rpm and deb the architecture its metadata declares,
 * mapped to x86_64/aarch64/loongarch64/noarch (others as written). */
int assay_package_probe(const char *file, char *format, size_t flen, char *arch, size_t alen,
                        assay_ingest_tally *tally);

#endif
