/*
 * Target profiles: a CPU model with an OS, as JSON files (one per profile) in
 * the lab's profiles/ directory. docs/profiles.md describes the format.
 */
#ifndef ASSAY_CTL_PROFILE_H
#define ASSAY_CTL_PROFILE_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct assay_profile {
    char id[96], name[192];
    char name_zh[192];       /* the Chinese name ("鲲鹏 920 / 银河麒麟 V10"), or "" */
    char family[32], vendor[64], model[64];
    char arch[32], isa[32];
    char os_id[32], os_name[96], os_version[32];
    char glibc[16], libstdcxx[16], kernel[16];
    char package_format[8];
    char loongarch_world[8]; /* "old", "new" or "" */
    int page_size;
    int x86_isa_level;       /* 0 when not x86 */
    int atomics_lse;         /* aarch64: 1 or 0; -1 when not aarch64 */
    cJSON *libraries;        /* the OS's shared libraries (names), in doc */
    cJSON *doc;              /* the whole file */
} assay_profile;

/* Load profile `id` from `dir`. ASSAY_ENOTFOUND, or ASSAY_EINVAL naming the
 * file and field. */
int assay_profile_load(assay_profile **out, const char *dir, const char *id);
/* Every *.json in dir, sorted by id; a bad file fails the whole list. */
int assay_profile_list(assay_profile ***out, size_t *n, const char *dir);
void assay_profile_free(assay_profile *p);
void assay_profile_list_free(assay_profile **v, size_t n);

/*
 * The profiles of `dir` that `spec` selects: comma-separated profile ids,
 * CPU families (kunpeng), OS ids (kylin), globs over ids (kunpeng-*,
 * *-kylin-v10, fnmatch(3)) and "all". *out (malloc'd, *n ids, each once,
 * in the order the spec names them) is the caller's. A word that selects
 * nothing fails the whole spec with ASSAY_ENOTFOUND naming the nearest
 * id, family or OS id.
 */
int assay_profile_select(char (**out)[96], size_t *n, const char *dir, const char *spec);

/* Parse a profile document (exposed for tests). */
int assay_profile_parse(assay_profile **out, const char *json, size_t len, const char *source);

/*
 * Compare a host's measured facts (assay-agent facts) with a profile:
 * *out = [{"field", "profile", "host", "severity"}]. Severity "error" means
 * the host cannot stand for the profile (another architecture or LoongArch
 * world), "warning" that it differs (CPU model, OS, glibc, page size).
 */
int assay_profile_check_facts(cJSON **out, const assay_profile *p, const cJSON *facts);

/*
 * The same comparison, every field compared (the fields check_facts
 * reports are those of these that do not match): *out = [{"field",
 * "profile", "host", "match", "severity"}], "host" null where the host
 * measured nothing. Fields a profile does not pin (the CPU of a family
 * "any" profile, a kernel series or LoongArch world it leaves empty) are
 * not there. *out is the caller's.
 */
int assay_profile_compare_facts(cJSON **out, const assay_profile *p, const cJSON *facts);

#endif
