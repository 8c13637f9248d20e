#include "buildinfo.h"

#include <archive.h>
#include <cjson/cJSON.h>
#include <libssh2.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

void assay_buildinfo_print(FILE *f)
{
    fprintf(f, "libssh2 %s\n", libssh2_version(0));
    fprintf(f, "%s\n", OpenSSL_version(OPENSSL_VERSION));
    fprintf(f, "%s\n", archive_version_details());
    fprintf(f, "sqlite %s\n", sqlite3_libversion());
    fprintf(f, "cJSON %s\n", cJSON_Version());
}
