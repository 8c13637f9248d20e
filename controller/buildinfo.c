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

cJSON *assay_buildinfo_json(void)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "libssh2", libssh2_version(0));
    cJSON_AddStringToObject(o, "openssl", OpenSSL_version(OPENSSL_VERSION));
    cJSON_AddStringToObject(o, "libarchive", archive_version_details());
    cJSON_AddStringToObject(o, "sqlite", sqlite3_libversion());
    cJSON_AddStringToObject(o, "cjson", cJSON_Version());
    return o;
}
