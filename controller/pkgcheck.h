/*
 * Preflight of a stored package: every ELF file inside every artifact
 * (.rpm and .deb payloads, tarballs, zips), read through libarchive without
 * running or extracting anything, checked against target profiles with the
 * shared checks (include/assay/preflight.h), plus what only the whole
 * package shows: shared libraries that neither the package nor the target
 * OS provides, and package metadata that says "noarch" over binaries.
 */
#ifndef ASSAY_CTL_PKGCHECK_H
#define ASSAY_CTL_PKGCHECK_H

#include "lab.h"

#include <cjson/cJSON.h>

/*
 * Check package `id` against `profiles` (NULL, n 0: every profile of the
 * lab whose architecture an artifact serves). *out = {"package", "profiles":
 * [{"profile", "artifact", "errors", "warnings", "files": [{"path", "arch",
 * "findings": [...]}], "files_unlisted", "not_for_host", "not_examined"}],
 * "coverage": [{"artifact", "elf_read", "not_for_host", "not_examined",
 * "examined_files": [path], "not_for_host_files": [{"path", "reason",
 * "arch"}], "not_examined_files": [{"path", "reason"}]}]}: every file of
 * every artifact is named once (nested archives' files as
 * outer.tar.gz!jq_1.6_arm64.deb!/usr/bin/jq). Its size does not grow with what
 * the files hold: one finding per check and file (one "library" warning
 * names the first five libraries and counts the rest), the first 100 files
 * with findings listed per profile and the rest counted in
 * "files_unlisted" ("errors" and "warnings" count them all).
 * `arts[i]`'s bytes are in the file `blobs[i]` (stored or staged), the
 * manifest's text is `mtext`, and every entry and byte read counts into
 * `tally`. For a stored package, under the lab's budget:
 * assay_package_preflight() (package.h). A damaged payload (a .deb without a
 * data archive or with a broken one, an .rpm whose payload does not read)
 * is an error naming the artifact; so is a budget crossed. */
struct assay_ingest_tally;

/* "1 error", "2 errors": `n` and the noun in its number, into `buf`.
 * Returns buf. */
const char *assay_counted(char *buf, size_t cap, long n, const char *one, const char *many);

/* A profile result's counts as one line: "2 errors, 1 warning, 3 ELF files
 * read, 9 not for this host, 40 not examined" (the files read are always
 * named, so that "0 errors" never stands alone). */
const char *assay_pkgcheck_counts(char *buf, size_t cap, const cJSON *profile_result);

int assay_pkgcheck_files(cJSON **out, assay_lab *lab, const char *id, const char *mtext,
                         const assay_artifact_rec *arts, size_t na, char *const *blobs, char *const *profiles,
                         size_t n, struct assay_ingest_tally *tally);

#endif
