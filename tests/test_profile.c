/* Target profiles: every shipped one loads, bad ones are named, facts are compared. */
#include "profile.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(profile, every_shipped_profile_loads)
{
    assay_profile **v;
    size_t n;
    cr_assert_eq(assay_profile_list(&v, &n, ASSAY_SOURCE_DIR "/profiles"), 0, "%s", assay_error_last()->message);
    cr_assert_eq(n, 24);
    const char *must[] = {"kunpeng-920-kylin-v10", "kunpeng-920-kylin-v10-sp3", "kunpeng-920-openeuler-24.03", "phytium-ft2000plus-uos-20", "phytium-s2500-openeuler-22.03",
                          "loongson-3a5000-kylin-v10", "loongson-3c5000-openeuler-22.03", "zhaoxin-kx6000-uos-20",
                          "zhaoxin-kh30000-kylin-v10"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        int found = 0;
        for (size_t k = 0; k < n; k++)
            found |= strcmp(v[k]->id, must[i]) == 0;
        cr_assert(found, "no profile %s", must[i]);
    }
    for (size_t k = 0; k < n; k++) {
        if (strcmp(v[k]->arch, "loongarch64") == 0)
            cr_assert_eq(v[k]->page_size, 16384, "%s", v[k]->id);
        if (strcmp(v[k]->family, "phytium") == 0 && strstr(v[k]->model, "FT-2000+"))
            cr_assert_eq(v[k]->atomics_lse, 0, "FT-2000+ has no LSE atomics");
    }
    assay_profile_list_free(v, n);
}

/* Every value of every shipped profile says where it comes from: a
 * "sources" entry, a non-empty string, for each field but the profile's
 * own names and its list of checks. */
Test(profile, every_profile_field_has_a_source)
{
    assay_profile **v;
    size_t n, fields = 0;
    cr_assert_eq(assay_profile_list(&v, &n, ASSAY_SOURCE_DIR "/profiles"), 0, "%s", assay_error_last()->message);
    for (size_t k = 0; k < n; k++) {
        const cJSON *src = cJSON_GetObjectItem(v[k]->doc, "sources"), *f;
        cr_assert(cJSON_IsObject(src), "%s has no sources", v[k]->id);
        cJSON_ArrayForEach(f, v[k]->doc)
        {
            const char *meta[] = {"profile", "id", "name", "name_zh", "verify", "sources"};
            int is_meta = 0;
            for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
                is_meta |= !strcmp(f->string, meta[i]);
            if (is_meta)
                continue;
            const cJSON *s = cJSON_GetObjectItem(src, f->string);
            cr_assert(cJSON_IsString(s) && strlen(s->valuestring) > 10, "%s: %s has no source", v[k]->id, f->string);
            fields++;
        }
        /* No source for a field the profile does not have. */
        cJSON_ArrayForEach(f, src) cr_assert_not_null(cJSON_GetObjectItem(v[k]->doc, f->string), "%s: source for no field %s",
                                                      v[k]->id, f->string);
    }
    cr_assert_geq(fields, n * 10);
    assay_profile_list_free(v, n);
}

/* openEuler ships GCC 10 in 22.03 LTS and GCC 12 in 24.03 LTS. */
Test(profile, openeuler_libstdcxx_is_its_gcc)
{
    assay_profile *p;
    cr_assert_eq(assay_profile_load(&p, ASSAY_SOURCE_DIR "/profiles", "kunpeng-920-openeuler-22.03"), 0);
    cr_assert_str_eq(p->libstdcxx, "3.4.28");
    assay_profile_free(p);
    cr_assert_eq(assay_profile_load(&p, ASSAY_SOURCE_DIR "/profiles", "kunpeng-920-openeuler-24.03"), 0);
    cr_assert_str_eq(p->glibc, "2.38");
    cr_assert_str_eq(p->libstdcxx, "3.4.30");
    assay_profile_free(p);
}

/* libmvec.so.1, glibc's vector maths library, exists only where glibc builds
 * it: x86_64 since 2.22, aarch64 since 2.38, never LoongArch. A profile
 * that lists it where it does not exist would pass a binary that needs it
 * on a target without it. */
Test(profile, libmvec_only_where_glibc_builds_it)
{
    assay_profile **v;
    size_t n;
    cr_assert_eq(assay_profile_list(&v, &n, ASSAY_SOURCE_DIR "/profiles"), 0, "%s", assay_error_last()->message);
    for (size_t k = 0; k < n; k++) {
        if (!v[k]->libraries) /* a profile without a list checks no library names */
            continue;
        int minor = atoi(strchr(v[k]->glibc, '.') + 1), listed = 0;
        const cJSON *l;
        cJSON_ArrayForEach(l, v[k]->libraries) listed |= cJSON_IsString(l) && !strcmp(l->valuestring, "libmvec.so.1");
        int exists = !strcmp(v[k]->arch, "x86_64") ? minor >= 22 : !strcmp(v[k]->arch, "aarch64") ? minor >= 38 : 0;
        cr_assert_eq(listed, exists, "%s (%s, glibc %s) %s libmvec.so.1", v[k]->id, v[k]->arch, v[k]->glibc,
                     listed ? "lists" : "does not list");
    }
    assay_profile_list_free(v, n);
}

static void bad(const char *json, const char *want)
{
    assay_profile *p;
    cr_assert_lt(assay_profile_parse(&p, json, strlen(json), "x.json"), 0, "accepted %s", json);
    cr_assert(strstr(assay_error_last()->message, want), "'%s' lacks '%s'", assay_error_last()->message, want);
}

#define P(extra) "{\"profile\":1,\"id\":\"x\",\"name\":\"X\",\"cpu\":{\"family\":\"f\",\"vendor\":\"v\",\"model\":\"m\"}," \
                 "\"isa\":\"i\",\"os\":{\"id\":\"o\",\"name\":\"O\",\"version\":\"1\"},\"glibc\":\"2.28\"," \
                 "\"package_format\":\"rpm\"," extra "}"

Test(profile, bad_profiles_are_named)
{
    bad("[]", "x.json: not a JSON object");
    bad(P("\"arch\":\"x86_64\",\"page_size\":4096"), "x86_isa_level");
    bad(P("\"arch\":\"mips\",\"page_size\":4096"), "arch: 'mips'");
    bad(P("\"arch\":\"aarch64\",\"page_size\":8192,\"atomics_lse\":true"), "page_size: must be 4096, 16384 or 65536");
    bad(P("\"arch\":\"aarch64\",\"page_size\":4096"), "atomics_lse");
    bad(P("\"arch\":\"loongarch64\",\"page_size\":16384"), "loongarch_world");
    bad(P("\"arch\":\"aarch64\",\"page_size\":4096,\"atomics_lse\":true,\"loongarch_world\":\"old\""),
        "only loongarch64 profiles take one");
    assay_profile *p;
    cr_assert_eq(assay_profile_load(&p, ASSAY_SOURCE_DIR "/profiles", "no-such-profile"), ASSAY_ENOTFOUND);
    cr_assert_eq(assay_profile_load(&p, ASSAY_SOURCE_DIR "/profiles", "../etc/passwd"), ASSAY_EINVAL);
}

Test(profile, facts_are_compared)
{
    assay_profile *p;
    cr_assert_eq(assay_profile_load(&p, ASSAY_SOURCE_DIR "/profiles", "loongson-3a5000-kylin-v10"), 0);
    const char *facts = "{\"arch\":\"loongarch64\",\"cpu\":{\"family\":\"loongson\",\"model\":\"Loongson-3A5000\"},"
                        "\"os\":{\"id\":\"kylin\",\"version_id\":\"V10\"},\"glibc\":\"2.36\",\"page_size\":16384,"
                        "\"kernel\":{\"release\":\"5.4.18-110-generic\"},"
                        "\"loongarch_world\":\"new\",\"emulation\":{\"emulated\":false}}";
    cJSON *f = cJSON_Parse(facts), *d, *x;
    cr_assert_eq(assay_profile_check_facts(&d, p, f), 0);
    int world = 0, glibc = 0, n = 0;
    cJSON_ArrayForEach(x, d)
    {
        n++;
        const char *field = cJSON_GetObjectItem(x, "field")->valuestring;
        if (strcmp(field, "loongarch_world") == 0)
            world = strcmp(cJSON_GetObjectItem(x, "severity")->valuestring, "error") == 0;
        if (strcmp(field, "glibc") == 0)
            glibc = 1;
    }
    cr_assert(world, "a new-world host cannot stand for an old-world profile");
    cr_assert(glibc);
    cr_assert_eq(n, 2, "only the two differences");
    cJSON_Delete(d);
    cJSON_Delete(f);
    /* Another kernel series is a difference; its patch level is not. */
    f = cJSON_Parse("{\"arch\":\"loongarch64\",\"kernel\":{\"release\":\"6.1.0-27-loong64\"}}");
    cr_assert_eq(assay_profile_check_facts(&d, p, f), 0);
    int kernel = 0;
    cJSON_ArrayForEach(x, d) if (!strcmp(cJSON_GetObjectItem(x, "field")->valuestring, "kernel"))
        kernel = !strcmp(cJSON_GetObjectItem(x, "host")->valuestring, "6.1");
    cr_assert(kernel, "kernel 6.1 on a 4.19 profile is named");
    cJSON_Delete(d);
    cJSON_Delete(f);
    assay_profile_free(p);
}
