/* Submissions: `assay package add`. */
#ifndef ASSAY_CTL_PACKAGE_H
#define ASSAY_CTL_PACKAGE_H

#include "lab.h"

/*
 * Ingest the submission at `path` into the lab: store it by SHA-256, read it
 * as a hostile archive, validate its manifest, store the artifacts it names
 * and check that .rpm/.deb arch tags match the manifest. Copies the
 * package id into id (65 bytes). *existed is 1 when the same file was added
 * before (then nothing changes). Errors name the entry or the field.
 */
int assay_package_add(assay_lab *lab, const char *path, char id[65], int *existed);

/* Ingest limits of this lab (settings ingest.max_*), or the defaults. */
struct assay_ingest_limits;
void assay_package_limits(assay_lab *lab, struct assay_ingest_limits *l);

#endif
