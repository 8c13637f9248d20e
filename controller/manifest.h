/*
 * The submission manifest (manifest.json at the root of a vendor's
 * archive): what the product is, which artifact serves which architecture,
 * and how to install, test, benchmark and uninstall it. docs/manifest.md
 * describes the format.
 */
#ifndef ASSAY_CTL_MANIFEST_H
#define ASSAY_CTL_MANIFEST_H

#include <cjson/cJSON.h>
#include <stddef.h>

#define ASSAY_MANIFEST_NAME "manifest.json"
#define ASSAY_MANIFEST_MAX (1024 * 1024)

typedef struct assay_manifest_artifact {
    char file[256];   /* path inside the submission archive: the first of its files */
    size_t first;     /* its files are files[first .. first + nfiles) of the manifest */
    size_t nfiles;    /* 1 for "file", the length of "files" for a set */
    char arch[32];    /* x86_64, aarch64, loongarch64, noarch */
    char abi[16];     /* loongarch64: "new" or "old"; else "" */
} assay_manifest_artifact;

typedef struct assay_manifest {
    char product[128], version[64], vendor[128];
    assay_manifest_artifact *artifacts;
    size_t nartifacts;
    char (*files)[256]; /* every artifact's files, in manifest order */
    size_t nfiles;
    cJSON *doc;       /* the whole manifest, for the job spec */
} assay_manifest;

/*
 * Parse and validate. Returns 0, or ASSAY_EINVAL with a message naming the
 * field ("tests[1].timeout: must be a number of seconds in (0, 2592000]").
 */
int assay_manifest_parse(assay_manifest **out, const char *json, size_t len);
void assay_manifest_free(assay_manifest *m);

/*
 * The job spec (JSON text, malloc'd) for running this manifest's steps as
 * job `job_id` with the artifact's files `names` (plain file names): one
 * file is the spec's "artifact", in the job directory; a set of several is
 * its "artifacts", in the job directory's artifacts/ folder
 * (docs/protocol.md). nnames 0: none.
 */
int assay_manifest_job_spec(char **out, const assay_manifest *m, const char *job_id, const char *const *names,
                            size_t nnames);

/* At most this many files in one artifact ("files"), and in a manifest. */
#define ASSAY_MANIFEST_SET_MAX 32
#define ASSAY_MANIFEST_FILES_MAX 256

/* The k-th file (0-based, k < a->nfiles) of artifact `a` of `m`. */
const char *assay_manifest_file(const assay_manifest *m, const assay_manifest_artifact *a, size_t k);

/* The artifact for a host of `arch` (and LoongArch `world`, may be NULL):
 * the exact arch first, then noarch. NULL if none. */
const assay_manifest_artifact *assay_manifest_pick(const assay_manifest *m, const char *arch,
                                                   const char *world);

#endif
