/* Submissions: `assay package add`. */
#ifndef ASSAY_CTL_PACKAGE_H
#define ASSAY_CTL_PACKAGE_H

#include "lab.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/*
 * Ingest the submission at `path` into the lab: store it by SHA-256, read it
 * as a hostile archive, validate its manifest, store the artifacts it names
 * and check that .rpm/.deb arch tags match the manifest. Copies the
 * package id into id (65 bytes). *existed is 1 when the same file was added
 * before (then nothing changes). Errors name the entry or the field.
 * ASSAY_ADD_COPY reads the file where it is; ASSAY_ADD_TAKE is for a file
 * the caller made for this and gives away (assay serve's staged upload):
 * it is moved into the store, not copied (assay_blob_stage_take), and is
 * not at `path` any more.
 */
enum assay_add_mode { ASSAY_ADD_COPY, ASSAY_ADD_TAKE };
int assay_package_add(assay_lab *lab, const char *path, enum assay_add_mode mode, char id[65], int *existed);

/* From now on, the child that reads a submission (or preflights a package)
 * is this executable run again as `assay __budgeted`, not a fork: for a
 * process of many threads (assay serve), whose fork may copy a lock that
 * another thread holds. */
int assay_package_spawn_children(void);
/* `assay __budgeted`: the child's job as JSON on stdin, its report on
 * stdout; the exit status. */
int assay_package_child_main(void);

/* Ingest limits of this lab (settings ingest.max_*), or the defaults. */
struct assay_ingest_limits;
void assay_package_limits(assay_lab *lab, struct assay_ingest_limits *l);

/* One submission's budget (docs/manifest.md#budgets): lab settings
 * ingest.wall_seconds (120), ingest.cpu_seconds (120), ingest.memory_bytes
 * (512 MiB), ingest.max_submission_bytes (16 GiB), and how old staged files
 * and unnamed blobs must be before gc removes them, ingest.grace_seconds
 * (3600). */
typedef struct assay_package_budget_t {
    uint64_t wall_seconds, cpu_seconds, memory_bytes, max_submission, grace_seconds;
} assay_package_budget_t;
void assay_package_budget(assay_lab *lab, assay_package_budget_t *b);

/* Bytes of address space this process has mapped now (VmSize): the base
 * the memory budget's RLIMIT_AS is set over. */
uint64_t assay_mapped_bytes(void);

/* Preflight of stored package `id` (as assay_pkgcheck()), run under the
 * lab's budget in a child process. */
int assay_package_preflight(cJSON **out, assay_lab *lab, const char *id, char *const *profiles, size_t n);

/* If package `id` has no stored preflight (a crash before it was stored,
 * or a package from before preflight was stored with it), run and store
 * it; *done is 1 then. */
int assay_package_complete(assay_lab *lab, const char *id, int *done);

/* Remove staged files and blobs nothing names, last modified `grace`
 * seconds ago or more; counts into *staged and *orphans. */
int assay_package_gc(assay_lab *lab, int64_t grace, size_t *staged, size_t *orphans);

/* A package and its artifacts as JSON: {"id","file_name","size","product",
 * "version","vendor","added_at","artifacts":[{"name","arch","abi","format",
 * "sha256","size"}]} (package show --json, GET /api/v1/packages/ID). */
cJSON *assay_package_json(const assay_package_rec *p, const assay_artifact_rec *arts, size_t n);

/* The targets of a run: the profiles a spec selects (ids, families, OS
 * ids, globs, all) and, for each, why the package can never run there
 * (no artifact of its architecture and LoongArch world), or NULL. */
typedef struct assay_package_targets_t {
    char id[65];          /* the package's full id */
    char (*ids)[96];      /* the profile ids, n of them */
    char **list;          /* ids[i] as pointers, for assay_store_run_submit */
    char **gaps;          /* gaps[i]: the reason, or NULL */
    size_t n, ngaps;
} assay_package_targets_t;
int assay_package_targets(assay_package_targets_t *out, assay_lab *lab, const char *package_id, const char *spec);
void assay_package_targets_free(assay_package_targets_t *t);

#endif
