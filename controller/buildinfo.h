/* Versions of the libraries the controller runs with (for `assay version`
 * and for reports: a lab must be able to say what signed and transferred). */
#ifndef ASSAY_CTL_BUILDINFO_H
#define ASSAY_CTL_BUILDINFO_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* Print "name version" lines for every linked library to `f`. */
void assay_buildinfo_print(FILE *f);
/* The same as an object {"libssh2", "openssl", "libarchive", "sqlite",
 * "cjson"}, the caller's; NULL only when memory ran out. */
cJSON *assay_buildinfo_json(void);

#endif
