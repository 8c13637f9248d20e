/* Target profiles; see profile.h and docs/profiles.md. */
#include "profile.h"
#include "assay/error.h"
#include "assay/io.h"
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROFILE_MAX (256 * 1024)

void assay_profile_free(assay_profile *p)
{
    if (!p)
        return;
    cJSON_Delete(p->doc);
    free(p);
}

void assay_profile_list_free(assay_profile **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assay_profile_free(v[i]);
    free(v);
}

static int field(const cJSON *o, const char *key, const char *where, const char *src, int required,
                 char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    out[0] = '\0';
    if (!v && !required)
        return 0;
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) >= outlen)
        return assay_error_set(ASSAY_EINVAL, "%s: %s%s: %s", src, where, key,
                               v ? "must be a non-empty string of modest length" : "missing");
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return 0;
}

static int id_valid(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 96 && s[0] != '.' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

int assay_profile_parse(assay_profile **out, const char *json, size_t len, const char *src)
{
    assay_profile *p = calloc(1, sizeof *p);
    const cJSON *v, *cpu, *os;
    int rc;
    if (!p)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    if (!(p->doc = cJSON_ParseWithLength(json, len)) || !cJSON_IsObject(p->doc)) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: not a JSON object", src);
        goto fail;
    }
    v = cJSON_GetObjectItemCaseSensitive(p->doc, "profile");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: profile: must be 1 (the format version)", src);
        goto fail;
    }
    cpu = cJSON_GetObjectItemCaseSensitive(p->doc, "cpu");
    os = cJSON_GetObjectItemCaseSensitive(p->doc, "os");
    if (!cJSON_IsObject(cpu) || !cJSON_IsObject(os)) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: %s: missing or not an object", src, cJSON_IsObject(cpu) ? "os" : "cpu");
        goto fail;
    }
    if ((rc = field(p->doc, "id", "", src, 1, p->id, sizeof p->id)) < 0 ||
        (rc = field(p->doc, "name", "", src, 1, p->name, sizeof p->name)) < 0 ||
        (rc = field(p->doc, "name_zh", "", src, 0, p->name_zh, sizeof p->name_zh)) < 0 ||
        (rc = field(cpu, "family", "cpu.", src, 1, p->family, sizeof p->family)) < 0 ||
        (rc = field(cpu, "vendor", "cpu.", src, 1, p->vendor, sizeof p->vendor)) < 0 ||
        (rc = field(cpu, "model", "cpu.", src, 1, p->model, sizeof p->model)) < 0 ||
        (rc = field(p->doc, "arch", "", src, 1, p->arch, sizeof p->arch)) < 0 ||
        (rc = field(p->doc, "isa", "", src, 1, p->isa, sizeof p->isa)) < 0 ||
        (rc = field(os, "id", "os.", src, 1, p->os_id, sizeof p->os_id)) < 0 ||
        (rc = field(os, "name", "os.", src, 1, p->os_name, sizeof p->os_name)) < 0 ||
        (rc = field(os, "version", "os.", src, 1, p->os_version, sizeof p->os_version)) < 0 ||
        (rc = field(p->doc, "glibc", "", src, 1, p->glibc, sizeof p->glibc)) < 0 ||
        (rc = field(p->doc, "libstdcxx", "", src, 0, p->libstdcxx, sizeof p->libstdcxx)) < 0 ||
        (rc = field(p->doc, "kernel", "", src, 0, p->kernel, sizeof p->kernel)) < 0 ||
        (rc = field(p->doc, "package_format", "", src, 1, p->package_format, sizeof p->package_format)) < 0 ||
        (rc = field(p->doc, "loongarch_world", "", src, 0, p->loongarch_world, sizeof p->loongarch_world)) < 0)
        goto fail;
    if (!id_valid(p->id)) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: id: '%s' must be lowercase [a-z0-9._-]", src, p->id);
        goto fail;
    }
    if (strcmp(p->arch, "x86_64") && strcmp(p->arch, "aarch64") && strcmp(p->arch, "loongarch64")) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: arch: '%s' is not x86_64, aarch64 or loongarch64", src, p->arch);
        goto fail;
    }
    if (strcmp(p->package_format, "rpm") && strcmp(p->package_format, "deb")) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: package_format: must be rpm or deb", src);
        goto fail;
    }
    v = cJSON_GetObjectItemCaseSensitive(p->doc, "page_size");
    if (!cJSON_IsNumber(v) || (v->valueint != 4096 && v->valueint != 16384 && v->valueint != 65536)) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: page_size: must be 4096, 16384 or 65536", src);
        goto fail;
    }
    p->page_size = v->valueint;
    int la = strcmp(p->arch, "loongarch64") == 0;
    if (la != (p->loongarch_world[0] != 0) ||
        (la && strcmp(p->loongarch_world, "old") && strcmp(p->loongarch_world, "new"))) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: loongarch_world: %s", src,
                             la ? "loongarch64 profiles need \"old\" or \"new\"" : "only loongarch64 profiles take one");
        goto fail;
    }
    v = cJSON_GetObjectItemCaseSensitive(p->doc, "x86_isa_level");
    p->x86_isa_level = 0;
    if (strcmp(p->arch, "x86_64") == 0) {
        if (!cJSON_IsNumber(v) || v->valueint < 1 || v->valueint > 4) {
            rc = assay_error_set(ASSAY_EINVAL, "%s: x86_isa_level: x86_64 profiles need 1-4", src);
            goto fail;
        }
        p->x86_isa_level = v->valueint;
    }
    v = cJSON_GetObjectItemCaseSensitive(p->doc, "atomics_lse");
    p->atomics_lse = -1;
    if (strcmp(p->arch, "aarch64") == 0) {
        if (!cJSON_IsBool(v)) {
            rc = assay_error_set(ASSAY_EINVAL, "%s: atomics_lse: aarch64 profiles need true or false", src);
            goto fail;
        }
        p->atomics_lse = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(p->doc, "libraries");
    if (v) {
        const cJSON *l;
        if (!cJSON_IsArray(v)) {
            rc = assay_error_set(ASSAY_EINVAL, "%s: libraries: must be an array of file names", src);
            goto fail;
        }
        cJSON_ArrayForEach(l, v) if (!cJSON_IsString(l) || strchr(l->valuestring, '/'))
        {
            rc = assay_error_set(ASSAY_EINVAL, "%s: libraries: entries are file names like libc.so.6", src);
            goto fail;
        }
        p->libraries = (cJSON *)v;
    }
    *out = p;
    return 0;
fail:
    assay_profile_free(p);
    return rc;
}

/* The ids of dir's profiles (file names without .json), at most max. */
static size_t profile_ids(char (*ids)[96], size_t max, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    while (d && n < max && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l >= 6 && l - 5 < 96 && e->d_name[0] != '.' && strcmp(e->d_name + l - 5, ".json") == 0)
            snprintf(ids[n++], 96, "%.*s", (int)(l - 5), e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

/* " (did you mean 'x'?)" for a word near one of `extra` or dir's ids, or "". */
static void near_profile(char *out, size_t outlen, const char *dir, const char *word, const char *const *extra,
                         size_t nextra)
{
    static _Thread_local char ids[512][96]; /* threads of assay serve suggest at once */
    const char *cands[512 + 64];
    size_t n = profile_ids(ids, 512, dir), k = 0;
    for (size_t i = 0; i < n; i++)
        cands[k++] = ids[i];
    for (size_t i = 0; i < nextra && k < sizeof cands / sizeof cands[0]; i++)
        cands[k++] = extra[i];
    const char *s = assay_cli_suggest(word, cands, k);
    if (s)
        snprintf(out, outlen, " (did you mean '%s'?)", s);
    else
        out[0] = '\0';
}

static int load_file(assay_profile **out, const char *path, const char *name)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? assay_error_set(ASSAY_ENOTFOUND, "no profile %s", name)
                               : assay_error_set_errno(ASSAY_EIO, errno, "%s", path);
    char *buf = malloc(PROFILE_MAX + 1);
    ssize_t n = buf ? assay_read_full(fd, buf, PROFILE_MAX + 1) : -1;
    close(fd);
    if (n < 0 || n > PROFILE_MAX) {
        free(buf);
        return assay_error_set(ASSAY_EINVAL, "%s: unreadable or larger than %d bytes", path, PROFILE_MAX);
    }
    int rc = assay_profile_parse(out, buf, (size_t)n, name);
    free(buf);
    return rc;
}

int assay_profile_load(assay_profile **out, const char *dir, const char *id)
{
    char path[PATH_MAX], name[160];
    if (!id_valid(id))
        return assay_error_set(ASSAY_EINVAL, "'%s' is not a profile id", id);
    snprintf(path, sizeof path, "%s/%s.json", dir, id);
    snprintf(name, sizeof name, "%s.json", id);
    int rc = load_file(out, path, name);
    if (rc == ASSAY_ENOTFOUND) {
        char near[160];
        near_profile(near, sizeof near, dir, id, NULL, 0);
        return assay_error_set(ASSAY_ENOTFOUND, "no profile %s%s", id, near);
    }
    if (rc == 0 && strcmp((*out)->id, id) != 0) {
        rc = assay_error_set(ASSAY_EINVAL, "%s: id: '%s' does not match the file name", name, (*out)->id);
        assay_profile_free(*out);
    }
    return rc;
}

static int cmp_prof(const void *a, const void *b)
{
    return strcmp((*(assay_profile *const *)a)->id, (*(assay_profile *const *)b)->id);
}

int assay_profile_list(assay_profile ***out, size_t *n, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return assay_error_set_errno(ASSAY_ENOTFOUND, errno, "profiles directory %s", dir);
    assay_profile **v = NULL;
    size_t cnt = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0 || e->d_name[0] == '.')
            continue;
        char id[128];
        snprintf(id, sizeof id, "%.*s", (int)(l - 5), e->d_name);
        assay_profile *p, **nv = realloc(v, (cnt + 1) * sizeof *v);
        if (!nv) {
            rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
            break;
        }
        v = nv;
        if ((rc = assay_profile_load(&p, dir, id)) < 0)
            break;
        v[cnt++] = p;
    }
    closedir(d);
    if (rc < 0) {
        assay_profile_list_free(v, cnt);
        return rc;
    }
    qsort(v, cnt, sizeof *v, cmp_prof);
    *out = v;
    *n = cnt;
    return 0;
}

int assay_profile_select(char (**out)[96], size_t *n, const char *dir, const char *spec)
{
    assay_profile **all = NULL;
    size_t na = 0, cnt = 0;
    char(*ids)[96] = NULL, *copy = NULL;
    int rc = assay_profile_list(&all, &na, dir);
    if (rc < 0)
        return rc;
    if (!(ids = calloc(na ? na : 1, sizeof *ids)) || !(copy = strdup(spec))) {
        rc = assay_error_set(ASSAY_ENOMEM, "out of memory");
        goto out;
    }
    for (char *s = copy, *save = NULL, *t; (t = strtok_r(s, ",", &save)); s = NULL) {
        int glob = strpbrk(t, "*?[") != NULL, matched = 0;
        for (size_t i = 0; i < na; i++) {
            const assay_profile *p = all[i];
            int hit = !strcmp(t, "all") || !strcmp(t, p->id) || (glob && fnmatch(t, p->id, 0) == 0) ||
                      (!glob && (!strcmp(t, p->family) || !strcmp(t, p->os_id)));
            if (!hit)
                continue;
            matched = 1;
            size_t k = 0;
            while (k < cnt && strcmp(ids[k], p->id))
                k++;
            if (k == cnt)
                snprintf(ids[cnt++], 96, "%s", p->id);
        }
        if (!matched) {
            /* Families and OS ids are candidates too. */
            const char *extra[2 * 64 + 1];
            size_t ne = 0;
            extra[ne++] = "all";
            for (size_t i = 0; i < na && ne + 2 <= sizeof extra / sizeof extra[0]; i++) {
                extra[ne++] = all[i]->family;
                extra[ne++] = all[i]->os_id;
            }
            char near[160];
            near_profile(near, sizeof near, dir, t, extra, ne);
            rc = assay_error_set(ASSAY_ENOTFOUND, "'%s' is no profile id, family, OS id or glob of a profile%s", t,
                                 near);
            goto out;
        }
    }
    if (cnt == 0) {
        rc = assay_error_set(ASSAY_EINVAL, "no profile given");
        goto out;
    }
    *out = ids;
    *n = cnt;
    ids = NULL;
out:
    free(ids);
    free(copy);
    assay_profile_list_free(all, na);
    return rc;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One field compared: what the profile says, what the host measured (NULL:
 * nothing), whether they agree, and how much it matters when they do not. */
static void compared(cJSON *arr, const char *fieldname, const char *want, const char *got, int match, const char *sev)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "field", fieldname);
    cJSON_AddStringToObject(d, "profile", want);
    if (got)
        cJSON_AddStringToObject(d, "host", got);
    else
        cJSON_AddNullToObject(d, "host");
    cJSON_AddBoolToObject(d, "match", match);
    cJSON_AddStringToObject(d, "severity", sev);
    cJSON_AddItemToArray(arr, d);
}

int assay_profile_compare_facts(cJSON **out, const assay_profile *p, const cJSON *facts)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return assay_error_set(ASSAY_ENOMEM, "out of memory");
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(facts, "cpu");
    const cJSON *os = cJSON_GetObjectItemCaseSensitive(facts, "os");
    const char *arch = jstr(facts, "arch");
    compared(arr, "arch", p->arch, arch, arch && strcmp(arch, p->arch) == 0, "error");
    /* A profile of family "any" targets an OS on any CPU of its ISA: its
     * model and family are not compared (docs/profiles.md). */
    if (strcmp(p->family, "any") != 0) {
        const char *fam = jstr(cpu, "family");
        compared(arr, "cpu.family", p->family, fam, fam && strcmp(fam, p->family) == 0, "warning");
        const char *model = jstr(cpu, "model");
        compared(arr, "cpu.model", p->model, model, model && strstr(model, p->model) != NULL, "warning");
    }
    const char *osid = jstr(os, "id");
    compared(arr, "os.id", p->os_id, osid, osid && strcasecmp(osid, p->os_id) == 0, "warning");
    const char *ver = jstr(os, "version_id");
    compared(arr, "os.version", p->os_version, ver, ver && ver[0] && strncasecmp(ver, p->os_version, strlen(ver)) == 0,
          "warning");
    /* The kernel series (major.minor): what a kernel ABI, a module or a
     * syscall a product relies on depends on. */
    const char *krel = jstr(cJSON_GetObjectItemCaseSensitive(facts, "kernel"), "release");
    if (p->kernel[0]) {
        char series[32] = "";
        unsigned maj, min;
        if (krel && sscanf(krel, "%u.%u", &maj, &min) == 2)
            snprintf(series, sizeof series, "%u.%u", maj, min);
        compared(arr, "kernel", p->kernel, series[0] ? series : krel, strcmp(series, p->kernel) == 0, "warning");
    }
    const char *glibc = jstr(facts, "glibc");
    compared(arr, "glibc", p->glibc, glibc, glibc && strcmp(glibc, p->glibc) == 0, "warning");
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(facts, "page_size");
    char want[16], got[16];
    snprintf(want, sizeof want, "%d", p->page_size);
    snprintf(got, sizeof got, "%d", cJSON_IsNumber(ps) ? ps->valueint : 0);
    compared(arr, "page_size", want, cJSON_IsNumber(ps) ? got : NULL, cJSON_IsNumber(ps) && ps->valueint == p->page_size,
          "warning");
    if (p->loongarch_world[0]) {
        const char *w = jstr(facts, "loongarch_world");
        compared(arr, "loongarch_world", p->loongarch_world, w,
              w && (strcmp(w, p->loongarch_world) == 0 || strcmp(w, "both") == 0), "error");
    }
    const cJSON *emu = cJSON_GetObjectItemCaseSensitive(facts, "emulation");
    int emulated = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(emu, "emulated"));
    compared(arr, "emulation", "real hardware", emulated ? "emulated" : "real hardware", !emulated, "warning");
    *out = arr;
    return 0;
}

int assay_profile_check_facts(cJSON **out, const assay_profile *p, const cJSON *facts)
{
    cJSON *all = NULL, *arr = cJSON_CreateArray();
    int rc = arr ? assay_profile_compare_facts(&all, p, facts) : assay_error_set(ASSAY_ENOMEM, "out of memory");
    if (rc < 0) {
        cJSON_Delete(arr);
        return rc;
    }
    /* The differences only, in the shape they always had (no "match"). */
    while (cJSON_GetArraySize(all) > 0) {
        cJSON *d = cJSON_DetachItemFromArray(all, 0);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "match"))) {
            cJSON_Delete(d);
            continue;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(d, "match");
        cJSON_AddItemToArray(arr, d);
    }
    cJSON_Delete(all);
    *out = arr;
    return 0;
}
