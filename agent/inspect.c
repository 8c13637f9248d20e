/* Host-side ELF inspection; see inspect.h. */
#include "inspect.h"
#include "assay/elf.h"
#include "assay/error.h"
#include "assay/preflight.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

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

static const char *fstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int assay_inspect_files(cJSON **out, char *const *paths, size_t n, const char *base, const cJSON *facts)
{
    cJSON *res = cJSON_CreateObject(), *files;
    int errors = 0, warnings = 0;
    const char *host_arch = fstr(facts, "arch") ? fstr(facts, "arch") : "unknown";
    const char *world = fstr(facts, "loongarch_world");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(facts, "page_size");
    const cJSON *isa = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(facts, "cpu"), "x86_isa_level");
    assay_target t = {
        .arch = host_arch,
        .world = world && (!strcmp(world, "old") || !strcmp(world, "new")) ? world : NULL,
        .glibc = fstr(facts, "glibc"),
        .libstdcxx = fstr(facts, "libstdcxx"),
        .page_size = cJSON_IsNumber(ps) ? ps->valueint : 0,
        .x86_isa_level = cJSON_IsNumber(isa) ? isa->valueint : 0,
    };
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
        /* Mapped, not read: a 200 MiB binary costs only the pages the
         * reader touches. */
        assay_elf_info *e = NULL;
        int fd = open(full, O_RDONLY | O_CLOEXEC);
        void *map = MAP_FAILED;
        if (fd >= 0 && st.st_size > 0 && (uint64_t)st.st_size <= ASSAY_ELF_MAX_BYTES)
            map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (fd >= 0)
            close(fd);
        int rc = map == MAP_FAILED ? ASSAY_EINVAL : assay_elf_read(&e, map, (size_t)st.st_size);
        if (map != MAP_FAILED)
            munmap(map, (size_t)st.st_size);
        if (rc == ASSAY_ETOOBIG) { /* ELF, over a cap of the reader: reported, not read */
            if (!cJSON_AddTrueToObject(f, "elf") || assay_preflight_too_large(fl, assay_error_last()->message) < 0)
                goto nomem;
            assay_error_clear();
            warnings++;
            continue;
        }
        if (rc < 0) {
            assay_error_clear();
            if (!cJSON_AddFalseToObject(f, "elf"))
                goto nomem;
            continue; /* scripts and data: nothing to check here */
        }
        const char *arch = assay_elf_arch_name(e->id.machine, e->id.bits);
        char mach[48];
        snprintf(mach, sizeof mach, "e_machine %u", e->id.machine);
        int bad = !cJSON_AddTrueToObject(f, "elf") || !cJSON_AddStringToObject(f, "arch", arch ? arch : mach) ||
                  !cJSON_AddNumberToObject(f, "bits", e->id.bits);
        int found = bad ? ASSAY_ENOMEM : assay_preflight_elf(fl, e, &t);
        assay_elf_info_free(e);
        if (found < 0)
            goto nomem;
        errors += found;
    }
    if (!cJSON_AddNumberToObject(res, "errors", errors) || !cJSON_AddNumberToObject(res, "warnings", warnings))
        goto nomem;
    *out = res;
    return 0;
nomem:
    cJSON_Delete(res);
    return assay_error_set(ASSAY_ENOMEM, "out of memory");
}
