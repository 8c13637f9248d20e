/*
 * What this binary is: assay's version, the target triple it was built for,
 * the source commit, and the GNU build id the linker stamped into it.
 */
#ifndef ASSAY_VERSION_H
#define ASSAY_VERSION_H

#include <stddef.h>

/* "0.1.0" */
const char *assay_version(void);

/* The GNU triple the binary was built for, e.g. "aarch64-linux-gnu". */
const char *assay_build_triple(void);

/* The source commit (short hash, "-dirty" if modified) or "unknown". */
const char *assay_build_commit(void);

/*
 * The running binary's NT_GNU_BUILD_ID as lowercase hex into `out`
 * (`outlen` >= 41 holds a SHA-1 id). Returns 0, or ASSAY_ENOTFOUND when the
 * binary carries no build id, or ASSAY_ETOOBIG when `out` is too small.
 */
int assay_build_id(char *out, size_t outlen);

#endif
