/*
 * The ELF reader on real binaries built here (gcc, the aarch64 and
 * loongarch64 cross compilers), and on damaged copies of them: it must
 * report what preflight needs and never read outside the file.
 */
#include "helpers.h"
#include "assay/elf.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIN ASSAY_BINARY_DIR "/elf-corpus"

static assay_elf_info *load(const char *name)
{
    char path[300];
    size_t len;
    snprintf(path, sizeof path, BIN "/%s", name);
    char *buf = th_slurp(path, &len);
    cr_assert_not_null(buf, "no %s (the elf-corpus fixture builds it)", path);
    assay_elf_info *info;
    cr_assert_eq(assay_elf_read(&info, buf, len), 0, "%s: %s", name, assay_error_last()->message);
    free(buf);
    return info;
}

static int has_vreq(const assay_elf_info *i, const char *version)
{
    for (size_t k = 0; k < i->nvreqs; k++)
        if (!strcmp(i->vreqs[k].version, version))
            return 1;
    return 0;
}

static const char *sym_version(const assay_elf_info *i, const char *sym)
{
    for (size_t k = 0; k < i->nvsyms; k++)
        if (!strcmp(i->vsyms[k].name, sym))
            return i->vsyms[k].version;
    return NULL;
}

Test(elf, a_native_binary)
{
    assay_elf_info *i = load("hello-x86_64");
    cr_assert_eq(i->id.machine, 62);
    cr_assert_str_eq(i->interp, "/lib64/ld-linux-x86-64.so.2");
    cr_assert_eq(i->nneeded, 1);
    cr_assert_str_eq(i->needed[0], "libc.so.6");
    /* Linked against glibc 2.36: __libc_start_main@GLIBC_2.34. */
    cr_assert_str_eq(sym_version(i, "__libc_start_main"), "GLIBC_2.34");
    cr_assert(has_vreq(i, "GLIBC_2.34"));
    cr_assert_eq(i->x86_isa_needed, 1, "Debian 12 binutils marks binaries x86-64-baseline");
    cr_assert_geq(i->min_load_align, 4096);
    assay_elf_info_free(i);
}

Test(elf, a_newer_glibc_symbol_is_named)
{
    assay_elf_info *i = load("arc4random-x86_64");
    cr_assert_str_eq(sym_version(i, "arc4random"), "GLIBC_2.36");
    assay_elf_info_free(i);
}

Test(elf, cxx_versions)
{
    assay_elf_info *i = load("cxx-x86_64");
    int glibcxx = 0, cxxabi = 0;
    for (size_t k = 0; k < i->nvreqs; k++) {
        glibcxx |= !strncmp(i->vreqs[k].version, "GLIBCXX_3.4", 11) && !strcmp(i->vreqs[k].file, "libstdc++.so.6");
        cxxabi |= !strncmp(i->vreqs[k].version, "CXXABI_1.3", 10);
    }
    cr_assert(glibcxx && cxxabi);
    int found = 0;
    for (size_t k = 0; k < i->nneeded; k++)
        found |= !strcmp(i->needed[k], "libstdc++.so.6");
    cr_assert(found);
    assay_elf_info_free(i);
}

Test(elf, an_x86_64_v3_binary)
{
    assay_elf_info *i = load("hello-x86_64-v3");
    cr_assert_eq(i->x86_isa_needed, 3);
    assay_elf_info_free(i);
}

Test(elf, aarch64_and_its_page_alignment)
{
    assay_elf_info *i = load("hello-aarch64");
    cr_assert_eq(i->id.machine, 183);
    cr_assert_str_eq(i->interp, "/lib/ld-linux-aarch64.so.1");
    cr_assert_eq(i->min_load_align, 65536, "binutils aligns aarch64 segments to 64 KiB by default");
    assay_elf_info_free(i);
    i = load("hello-aarch64-4k");
    cr_assert_eq(i->min_load_align, 4096, "a 4 KiB-aligned build, which a 64 KiB-page kernel cannot load");
    assay_elf_info_free(i);
}

Test(elf, loongarch_worlds)
{
    assay_elf_info *i = load("hello-loongarch64");
    cr_assert_eq(i->id.machine, 258);
    cr_assert_str_eq(i->interp, "/lib64/ld-linux-loongarch-lp64d.so.1");
    cr_assert_str_eq(assay_elf_loongarch_world(i), "new");
    assay_elf_info_free(i);
    i = load("hello-loongarch64-oldworld");
    cr_assert_str_eq(i->interp, "/lib64/ld.so.1");
    cr_assert_eq(i->id.flags & 0xc0, 0);
    cr_assert_str_eq(assay_elf_loongarch_world(i), "old");
    assay_elf_info_free(i);
    i = load("hello-x86_64");
    cr_assert_null(assay_elf_loongarch_world(i));
    assay_elf_info_free(i);
}

Test(elf, every_truncation_and_many_corruptions_are_safe)
{
    const char *names[] = {"hello-x86_64", "cxx-x86_64", "hello-aarch64", "hello-loongarch64"};
    for (size_t n = 0; n < 4; n++) {
        char path[300];
        size_t len;
        snprintf(path, sizeof path, BIN "/%s", names[n]);
        unsigned char *orig = (unsigned char *)th_slurp(path, &len);
        cr_assert_not_null(orig);
        /* Every prefix, each in a buffer of exactly that size (ASan sees a
         * read past the end). */
        for (size_t cut = 0; cut < len; cut += cut < 4096 ? 1 : 97) {
            unsigned char *b = malloc(cut ? cut : 1);
            memcpy(b, orig, cut);
            assay_elf_info *i = NULL;
            if (assay_elf_read(&i, b, cut) == 0)
                assay_elf_info_free(i);
            free(b);
        }
        /* Random corruption of headers and tables. */
        unsigned seed = 12345;
        unsigned char *b = malloc(len);
        for (int round = 0; round < 3000; round++) {
            memcpy(b, orig, len);
            for (int k = 0; k < 8; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 4) % (len < 8192 ? len : 8192);
                if (round % 2)
                    at = (seed >> 4) % len;
                b[at] = (unsigned char)(seed >> 24);
            }
            assay_elf_info *i = NULL;
            if (assay_elf_read(&i, b, len) == 0)
                assay_elf_info_free(i);
        }
        free(b);
        free(orig);
    }
}

Test(elf, not_elf_is_an_error)
{
    assay_elf_info *i;
    cr_assert_eq(assay_elf_read(&i, "#!/bin/sh\n", 10), ASSAY_EINVAL);
    cr_assert_eq(assay_elf_read(&i, "\177ELF", 4), ASSAY_EINVAL);
}

Test(elf, version_order)
{
    cr_assert_lt(assay_version_cmp("2.28", "2.34"), 0);
    cr_assert_lt(assay_version_cmp("3.4.9", "3.4.29"), 0);
    cr_assert_eq(assay_version_cmp("2.34", "2.34"), 0);
    cr_assert_gt(assay_version_cmp("2.4", "2.3.9"), 0);
}

/* ---- preflight checks against targets ------------------------------------ */

#include "assay/preflight.h"

static cJSON *check(const char *name, const assay_target *t, int *errors)
{
    assay_elf_info *i = load(name);
    cJSON *f = cJSON_CreateArray();
    *errors = assay_preflight_elf(f, i, t);
    assay_elf_info_free(i);
    cr_assert_geq(*errors, 0);
    return f;
}

static const cJSON *finding(const cJSON *f, const char *check_name)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, f) if (!strcmp(cJSON_GetObjectItem(x, "check")->valuestring, check_name)) return x;
    return NULL;
}

static const assay_target kylin_x86 = {"x86_64", NULL, "2.28", "3.4.24", 4096, 2};
static const assay_target kylin_kunpeng = {"aarch64", NULL, "2.28", "3.4.24", 65536, 0};

Test(preflight, glibc_too_new_names_the_symbols)
{
    int errors;
    cJSON *f = check("hello-x86_64", &kylin_x86, &errors);
    const cJSON *g = finding(f, "glibc");
    cr_assert_not_null(g, "a glibc 2.36 build must not pass for glibc 2.28");
    cr_assert_str_eq(cJSON_GetObjectItem(g, "severity")->valuestring, "error");
    cr_assert(strstr(cJSON_GetObjectItem(g, "found")->valuestring, "__libc_start_main@GLIBC_2.34"));
    cr_assert(strstr(cJSON_GetObjectItem(g, "expected")->valuestring, "GLIBC_2.28"));
    cJSON_Delete(f);
    f = check("arc4random-x86_64", &kylin_x86, &errors);
    cr_assert(strstr(cJSON_GetObjectItem(finding(f, "glibc"), "found")->valuestring, "GLIBC_2.36"));
    cr_assert(strstr(cJSON_GetObjectItem(finding(f, "glibc"), "hint")->valuestring, "arc4random@GLIBC_2.36"));
    cJSON_Delete(f);
    /* The same binary on a glibc 2.36 target is fine. */
    assay_target new = kylin_x86;
    new.glibc = "2.36";
    f = check("arc4random-x86_64", &new, &errors);
    cr_assert_eq(errors, 0);
    cJSON_Delete(f);
}

Test(preflight, libstdcxx_too_new)
{
    int errors;
    cJSON *f = check("cxx-x86_64", &kylin_x86, &errors);
    cr_assert_not_null(finding(f, "glibcxx"), "GCC 12's libstdc++ symbols on a GCC 7 target");
    cJSON_Delete(f);
}

Test(preflight, x86_isa_level)
{
    int errors;
    cJSON *f = check("hello-x86_64-v3", &kylin_x86, &errors);
    const cJSON *x = finding(f, "x86-isa");
    cr_assert_not_null(x, "an x86-64-v3 binary on a v2 Zhaoxin CPU");
    cr_assert_str_eq(cJSON_GetObjectItem(x, "found")->valuestring, "x86-64-v3");
    cJSON_Delete(f);
    f = check("hello-x86_64", &kylin_x86, &errors);
    cr_assert_null(finding(f, "x86-isa"), "baseline is fine");
    cJSON_Delete(f);
}

Test(preflight, page_alignment)
{
    int errors;
    cJSON *f = check("hello-aarch64-4k", &kylin_kunpeng, &errors);
    const cJSON *p = finding(f, "page-size");
    cr_assert_not_null(p, "4 KiB-aligned segments on a 64 KiB-page kernel");
    cr_assert(strstr(cJSON_GetObjectItem(p, "hint")->valuestring, "max-page-size=65536"));
    cJSON_Delete(f);
    f = check("hello-aarch64", &kylin_kunpeng, &errors);
    cr_assert_null(finding(f, "page-size"));
    cJSON_Delete(f);
}

Test(preflight, architecture_and_loongarch_world)
{
    int errors;
    cJSON *f = check("hello-aarch64", &kylin_x86, &errors);
    cr_assert_eq(errors, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(finding(f, "arch"), "found")->valuestring, "aarch64");
    cJSON_Delete(f);
    assay_target old = {"loongarch64", "old", "2.28", NULL, 16384, 0};
    f = check("hello-loongarch64", &old, &errors);
    cr_assert_not_null(finding(f, "loongarch-world"), "a new-world binary on an old-world OS");
    cJSON_Delete(f);
    f = check("hello-loongarch64-oldworld", &old, &errors);
    cr_assert_null(finding(f, "loongarch-world"));
    cJSON_Delete(f);
}

Test(preflight, cxxabi_against_an_old_libstdcxx)
{
    /* Over-aligned new needs CXXABI_1.3.11 (GCC 7): fine for GCC 7's
     * libstdc++ (3.4.24), named for GCC 6's (3.4.22, CXXABI_1.3.10). */
    int errors;
    cJSON *f = check("cxx-x86_64", &kylin_x86, &errors);
    cr_assert_null(finding(f, "cxxabi"), "CXXABI_1.3.11 is in GCC 7's libstdc++");
    cJSON_Delete(f);
    assay_target gcc6 = kylin_x86;
    gcc6.libstdcxx = "3.4.22";
    f = check("cxx-x86_64", &gcc6, &errors);
    const cJSON *x = finding(f, "cxxabi");
    cr_assert_not_null(x, "CXXABI_1.3.11 on a libstdc++ that has 1.3.10");
    cr_assert(strstr(cJSON_GetObjectItem(x, "found")->valuestring, "CXXABI_1.3.11"), "%s",
              cJSON_GetObjectItem(x, "found")->valuestring);
    cJSON_Delete(f);
}
