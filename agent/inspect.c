/* Host-side ELF inspection; see inspect.h. */
#include "inspect.h"
#include "assay/elf.h"
#include "assay/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int finding(cJSON *list, const char *severity, const char *check, const char *expected,
                   const char *found, const char *hint)
{
    cJSON *f = cJSON_CreateObject();
    if (!f || !cJSON_AddStringToObject(f, "severity", severity) ||
        !cJSON_AddStringToObject(f, "check", check) ||
        !(expected ? cJSON_AddStringToObject(f, "expected", expected) : cJSON_AddNullToObject(f, "expected")) ||
        !(found ? cJSON_AddStringToObject(f, "found", found) : cJSON_AddNullToObject(f, "found")) ||
        !cJSON_AddStringToObject(f, "hint", hint) || !cJSON_AddItemToArray(list, f)) {
        cJSON_Delete(f);
        return -1;
    }
    return 0;
}

int assay_inspect_files(cJSON **out, char *const *paths, size_t n, const char *base,
                        const char *host_arch)
{
    cJSON *res = cJSON_CreateObject(), *files;
    int errors = 0, warnings = 0;
    if (!res || !cJSON_AddStringToObject(res, "host_arch", host_arch) ||
        !(files = cJSON_AddArrayToObject(res, "files")))
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        char full[PATH_MAX];
        if (paths[i][0] == '/')
            snprintf(full, sizeof full, "%s", paths[i]);
        else
            snprintf(full, sizeof full, "%s/%s", base, paths[i]);
        cJSON *f = cJSON_CreateObject(), *fl;
        if (!f || !cJSON_AddItemToArray(files, f)) {
            cJSON_Delete(f);
            goto nomem;
        }
        if (!cJSON_AddStringToObject(f, "path", paths[i]) || !(fl = cJSON_AddArrayToObject(f, "findings")))
            goto nomem;
        struct stat st;
        assay_elf_ident id;
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
            char why[96];
            snprintf(why, sizeof why, "%s", stat(full, &st) != 0 ? strerror(errno) : "not a regular file");
            if (!cJSON_AddFalseToObject(f, "elf") ||
                finding(fl, "error", "exists", "a regular file", why,
                        "the package did not install this file where the manifest says"))
                goto nomem;
            errors++;
            continue;
        }
        if (assay_elf_ident_file(&id, full) < 0) {
            assay_error_clear();
            if (!cJSON_AddFalseToObject(f, "elf"))
                goto nomem;
            continue; /* scripts and data: nothing to check here */
        }
        const char *arch = assay_elf_arch_name(id.machine, id.bits);
        char found[48];
        if (!arch)
            snprintf(found, sizeof found, "e_machine %u", id.machine);
        if (!cJSON_AddTrueToObject(f, "elf") || !cJSON_AddStringToObject(f, "arch", arch ? arch : found) ||
            !cJSON_AddNumberToObject(f, "bits", id.bits))
            goto nomem;
        if (!arch || strcmp(arch, host_arch) != 0) {
            char hint[160];
            snprintf(hint, sizeof hint, "rebuild this file for %s; a %s binary cannot run on this host",
                     host_arch, arch ? arch : found);
            if (finding(fl, "error", "arch", host_arch, arch ? arch : found, hint))
                goto nomem;
            errors++;
        }
    }
    if (!cJSON_AddNumberToObject(res, "errors", errors) || !cJSON_AddNumberToObject(res, "warnings", warnings))
        goto nomem;
    *out = res;
    return 0;
nomem:
    cJSON_Delete(res);
    return assay_error_set(ASSAY_ENOMEM, "out of memory");
}
