/* Instruction-level preflight (controller/isa.c) on binaries that
 * tests/data/make-isa.sh builds with real compilers: what each profile
 * lacks is found, guarded code is a warning, baselines give nothing. */
#include "helpers.h"
#include "isa.h"
#include "lab.h"
#include "package.h"
#include "profile.h"
#include "report.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS ASSAY_BINARY_DIR "/isa-corpus/"

static assay_isa_result *scan(const char *name)
{
    size_t len;
    char *buf = th_slurp(name, &len);
    cr_assert(buf, "cannot read %s (tests/data/make-isa.sh)", name);
    assay_isa_result *r = NULL;
    cr_assert_eq(assay_isa_scan(&r, (const unsigned char *)buf, len), 0, "%s",
                 assay_error_last()->message);
    free(buf);
    cr_assert(r, "%s: not scanned", name);
    cr_assert_eq(r->too_large[0], '\0');
    cr_assert_gt(r->bytes, 0);
    return r;
}

static assay_profile *profile(const char *id)
{
    assay_profile *p;
    cr_assert_eq(assay_profile_load(&p, ASSAY_SOURCE_DIR "/profiles", id), 0, "%s",
                 assay_error_last()->message);
    return p;
}

/* The findings of r against profile id: *errors set, the array returned. */
static cJSON *findings(const assay_isa_result *r, const char *id, int *errors)
{
    assay_profile *p = profile(id);
    cJSON *fl = cJSON_CreateArray();
    *errors = assay_isa_findings(fl, r, p);
    assay_profile_free(p);
    return fl;
}

static const cJSON *finding(const cJSON *fl, const char *check)
{
    const cJSON *f;
    cJSON_ArrayForEach(
        f, fl) if (!strcmp(cJSON_GetObjectItem(f, "check")->valuestring, check)) return f;
    return NULL;
}

static const char *field(const cJSON *f, const char *k)
{
    return cJSON_GetObjectItem(f, k)->valuestring;
}

/* Every shipped profile: nothing to say about a baseline build. */
static void no_finding_anywhere(const char *name)
{
    assay_isa_result *r = scan(name);
    assay_profile **v;
    size_t n;
    cr_assert_eq(assay_profile_list(&v, &n, ASSAY_SOURCE_DIR "/profiles"), 0);
    for (size_t k = 0; k < n; k++) {
        cJSON *fl = cJSON_CreateArray();
        int e = assay_isa_findings(fl, r, v[k]);
        char *s = cJSON_PrintUnformatted(fl);
        cr_expect_eq(e, 0, "%s on %s: %s", name, v[k]->id, s);
        cr_expect_eq(cJSON_GetArraySize(fl), 0, "%s on %s: %s", name, v[k]->id, s);
        free(s);
        cJSON_Delete(fl);
    }
    assay_profile_list_free(v, n);
    assay_isa_result_free(r);
}

Test(isa, baselines_have_no_finding)
{
    no_finding_anywhere(CORPUS "x86_64-baseline");
    no_finding_anywhere(CORPUS "aarch64-baseline");
}

Test(isa, x86_64_v3_without_mneeded_is_an_error_on_zhaoxin)
{
    assay_isa_result *r = scan(CORPUS "x86_64-v3");
    const char *ids[] = {"zhaoxin-kx6000-kylin-v10", "zhaoxin-kh30000-uos-20"};
    for (size_t i = 0; i < 2; i++) {
        int e;
        cJSON *fl = findings(r, ids[i], &e);
        const cJSON *f = finding(fl, "instructions");
        cr_assert(f, "%s: no instructions finding", ids[i]);
        cr_expect_eq(e, 1);
        cr_expect_str_eq(field(f, "severity"), "error");
        cr_expect(strstr(field(f, "found"), "(AVX2) in ") &&
                      strstr(field(f, "found"), "vec_work()"),
                  "%s", field(f, "found"));
        cr_expect(strstr(field(f, "hint"), "SIGILL"), "%s", field(f, "hint"));
        cr_expect_null(strstr(field(f, "found"), "AVX-512"), "%s", field(f, "found"));
        cJSON_Delete(fl);
    }
    assay_isa_result_free(r);
}

/* Binary `name` on profile `id`: one "instructions" error whose "found"
 * holds both `want1` and `want2`. */
static void error_with(const char *name, const char *id, const char *want1, const char *want2)
{
    assay_isa_result *r = scan(name);
    int e;
    cJSON *fl = findings(r, id, &e);
    const cJSON *f = finding(fl, "instructions");
    cr_assert(f, "%s on %s: no instructions finding", name, id);
    cr_expect_eq(e, 1);
    cr_expect_str_eq(field(f, "severity"), "error");
    cr_expect(strstr(field(f, "found"), want1) && strstr(field(f, "found"), want2), "%s",
              field(f, "found"));
    cJSON_Delete(fl);
    assay_isa_result_free(r);
}

Test(isa, x86_64_v4_is_found_as_avx512)
{
    error_with(CORPUS "x86_64-v4", "zhaoxin-kx6000-uos-20", "(AVX-512) in ", "vec_work()");
}

/* Binary `name` on profile `id`: only an "instructions-guarded" warning,
 * whose "found" holds both `want1` and `want2`. */
static void guarded_only(const char *name, const char *id, const char *want1, const char *want2)
{
    assay_isa_result *r = scan(name);
    int e;
    cJSON *fl = findings(r, id, &e);
    char *s = cJSON_PrintUnformatted(fl);
    cr_expect_eq(e, 0, "%s", s);
    cr_expect_null(finding(fl, "instructions"), "%s", s);
    const cJSON *f = finding(fl, "instructions-guarded");
    cr_assert(f, "%s", s);
    cr_expect_str_eq(field(f, "severity"), "warning");
    cr_expect(strstr(field(f, "found"), want1) && strstr(field(f, "found"), want2), "%s",
              field(f, "found"));
    free(s);
    cJSON_Delete(fl);
    assay_isa_result_free(r);
}

Test(isa, target_clones_avx2_is_a_guarded_warning)
{
    guarded_only(CORPUS "x86_64-clones", "zhaoxin-kx6000-kylin-v10", "add_all.avx2", "(AVX2)");
}

Test(isa, armv8_2_inline_lse_is_an_error_on_ft2000plus_only)
{
    assay_isa_result *r = scan(CORPUS "aarch64-v8.2-lse");
    int e;
    /* FT-2000+: ARMv8.0, neither LSE nor FP16. */
    cJSON *fl = findings(r, "phytium-ft2000plus-kylin-v10", &e);
    const cJSON *f = finding(fl, "instructions");
    cr_assert(f);
    cr_expect_eq(e, 1);
    cr_expect(strstr(field(f, "found"), "(LSE) in atomic_work()"), "%s", field(f, "found"));
    cr_expect(strstr(field(f, "found"), "(FP16) in half_add()"), "%s", field(f, "found"));
    cr_expect(strstr(field(f, "lacks"), "FT-2000+/64 has no LSE atomics"), "%s", field(f, "lacks"));
    cr_expect_null(finding(fl, "instructions-guarded"));
    cJSON_Delete(fl);
    /* S2500: ARMv8.1 with LSE, no FP16. */
    fl = findings(r, "phytium-s2500-uos-20", &e);
    f = finding(fl, "instructions");
    cr_assert(f);
    cr_expect_null(strstr(field(f, "found"), "LSE"), "%s", field(f, "found"));
    cr_expect(strstr(field(f, "found"), "FP16"), "%s", field(f, "found"));
    cJSON_Delete(fl);
    /* Kunpeng 920: ARMv8.2 with both. */
    fl = findings(r, "kunpeng-920-kylin-v10", &e);
    cr_expect_eq(e, 0);
    cr_expect_eq(cJSON_GetArraySize(fl), 0);
    cJSON_Delete(fl);
    assay_isa_result_free(r);
}

Test(isa, outline_atomics_are_a_guarded_warning)
{
    guarded_only(CORPUS "aarch64-outline-atomics", "phytium-ft2000plus-uos-20", "__aarch64_",
                 "(LSE)");
}

/* Stripped: an outline-atomics helper is still told by its shape (a
 * warning), inline LSE outside any symbol is still an error. */
Test(isa, stripped_binaries_keep_their_verdicts)
{
    guarded_only(CORPUS "aarch64-outline-atomics-stripped", "phytium-ft2000plus-uos-20",
                 "name stripped", "(LSE)");
    error_with(CORPUS "aarch64-v8.2-lse-stripped", "phytium-ft2000plus-uos-20",
               "(LSE) in code outside any symbol", "casal");
}

Test(isa, sigill_note_names_instruction_function_and_cpu)
{
    assay_isa_result *r = scan(CORPUS "aarch64-v8.2-lse");
    int e;
    cJSON *pf = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(pf, "files"),
          *file = cJSON_CreateObject();
    cJSON_AddStringToObject(file, "path", "/usr/bin/work");
    cJSON_AddItemToObject(file, "findings", findings(r, "phytium-ft2000plus-kylin-v10", &e));
    cJSON_AddItemToArray(files, file);
    char en[1024], zh[1024];
    cr_assert_eq(assay_isa_sigill_note(en, sizeof en, zh, sizeof zh, pf), 1);
    cr_expect(strstr(en, "/usr/bin/work uses ") && strstr(en, " (LSE) in atomic_work()") &&
                  strstr(en, "FT-2000+/64 has no LSE atomics"),
              "%s", en);
    cr_expect(strstr(zh, "不支持"), "%s", zh);
    cJSON_Delete(pf);
    /* Nothing about instructions: nothing said. */
    pf = cJSON_Parse("{\"files\":[{\"path\":\"/"
                     "x\",\"findings\":[{\"check\":\"glibc\",\"found\":\"GLIBC_2.34\"}]}]}");
    cr_expect_eq(assay_isa_sigill_note(en, sizeof en, zh, sizeof zh, pf), 0);
    cr_expect_eq(en[0], '\0');
    cJSON_Delete(pf);
    assay_isa_result_free(r);
}

/* Damaged files: every prefix of a real binary, and its section table
 * pointing anywhere: no crash, no read outside the buffer (ASan). */
Test(isa, truncated_and_damaged_files_are_safe)
{
    size_t len;
    char *buf = th_slurp(CORPUS "aarch64-v8.2-lse", &len);
    cr_assert(buf);
    for (size_t cut = 0; cut < len; cut += len / 97 + 1) {
        unsigned char *part = malloc(cut ? cut : 1);
        memcpy(part, buf, cut);
        assay_isa_result *r = NULL;
        cr_assert_eq(assay_isa_scan(&r, part, cut), 0);
        assay_isa_result_free(r);
        free(part);
    }
    /* e_shoff near the end of the file. */
    unsigned char *bad = malloc(len);
    memcpy(bad, buf, len);
    uint64_t off = len - 8;
    memcpy(bad + 0x28, &off, 8);
    assay_isa_result *r = NULL;
    cr_assert_eq(assay_isa_scan(&r, bad, len), 0);
    cr_expect_null(r);
    free(bad);
    free(buf);
}

/* Every aarch64 profile says which extensions it has, so the check never
 * stays silent for want of data; the FT-2000+ has none of them. */
Test(isa, aarch64_profiles_list_their_extensions)
{
    assay_profile **v;
    size_t n;
    cr_assert_eq(assay_profile_list(&v, &n, ASSAY_SOURCE_DIR "/profiles"), 0);
    for (size_t k = 0; k < n; k++) {
        if (strcmp(v[k]->arch, "aarch64"))
            continue;
        const cJSON *x = cJSON_GetObjectItem(v[k]->doc, "isa_extensions");
        cr_expect(cJSON_IsArray(x), "%s has no isa_extensions", v[k]->id);
        int lse = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, x) lse |= cJSON_IsString(e) && !strcmp(e->valuestring, "lse");
        cr_expect_eq(lse, v[k]->atomics_lse, "%s: isa_extensions and atomics_lse disagree",
                     v[k]->id);
    }
    assay_profile_list_free(v, n);
}

/* Through the whole path: a package whose aarch64 build has inline LSE
 * atomics gets the error in its stored preflight for FT-2000+ (not for
 * Kunpeng 920), and a test step of that package killed by SIGILL on the
 * FT-2000+ target is linked to it in the report. */
Test(isa, package_preflight_and_report_link_sigill)
{
    char dir[] = "/tmp/assay-isa-XXXXXX", path[200], id[65];
    int existed;
    assay_lab lab;
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/lab", dir);
    cr_assert_eq(assay_lab_init(path, ASSAY_KEY_ED25519, "Test Centre 测试中心"), 0, "%s",
                 assay_error_last()->message);
    cr_assert_eq(assay_lab_open(&lab, path), 0);
    cr_assert_eq(assay_package_add(&lab, CORPUS "work-aarch64-submission.tar", ASSAY_ADD_COPY, id, &existed), 0,
                 "%s", assay_error_last()->message);

    cJSON *pf;
    char *profs[] = {"phytium-ft2000plus-uos-20", "kunpeng-920-kylin-v10"};
    cr_assert_eq(assay_package_preflight(&pf, &lab, id, profs, 2), 0, "%s",
                 assay_error_last()->message);
    char *text = cJSON_PrintUnformatted(pf);
    const cJSON *pr;
    int seen = 0;
    cJSON_ArrayForEach(pr, cJSON_GetObjectItem(pf, "profiles"))
    {
        const char *pid = cJSON_GetObjectItem(pr, "profile")->valuestring;
        char *one = cJSON_PrintUnformatted(pr);
        int has = strstr(one, "\"check\":\"instructions\"") != NULL;
        free(one);
        if (!strcmp(pid, "phytium-ft2000plus-uos-20")) {
            cr_expect(has, "%s", text);
            cr_expect_geq(cJSON_GetObjectItem(pr, "errors")->valueint, 1, "%s", text);
            seen++;
        } else {
            cr_expect_not(has, "%s", text);
            seen++;
        }
    }
    cr_expect_eq(seen, 2, "%s", text);
    free(text);
    cJSON_Delete(pf);

    int64_t run;
    cr_assert_eq(assay_store_run_submit(lab.store, id, profs, 1, 0, 0, NULL, &run), 0);
    cr_assert_eq(assay_store_job_assign(lab.store, 1, "phytium-1"), 0);
    cr_assert_eq(assay_store_job_set_running(lab.store, 1, "ab12"), 0);
    const char *events[][2] = {
        {"job-start", "\"facts\":{\"arch\":\"aarch64\",\"emulation\":{\"emulated\":true}},"
                      "\"agent\":{\"version\":\"0.1.0\",\"triple\":\"aarch64-linux-gnu\"}"},
        {"step-start", "\"step\":\"t\",\"kind\":\"test\",\"name\":\"t\",\"run\":1"},
        {"step-end", "\"step\":\"t\",\"kind\":\"test\",\"run\":1,\"verdict\":\"fail\",\"reason\":"
                     "\"killed by SIGILL\","
                     "\"exit_code\":null,\"signal\":\"SIGILL\",\"timed_out\":false,\"metrics\":{"
                     "\"wall_ns\":\"1000\"},"
                     "\"logs\":{\"stdout\":\"\",\"stderr\":\"\"}"},
        /* A shell's report of a child killed by SIGILL: linked too. */
        {"step-end",
         "\"step\":\"t2\",\"kind\":\"test\",\"run\":1,\"verdict\":\"fail\",\"reason\":null,"
         "\"exit_code\":132,\"signal\":null,\"timed_out\":false,\"metrics\":{\"wall_ns\":\"1000\"},"
         "\"logs\":{\"stdout\":\"\",\"stderr\":\"\"}"},
        /* Any other failure: not linked. */
        {"step-end",
         "\"step\":\"t3\",\"kind\":\"test\",\"run\":1,\"verdict\":\"fail\",\"reason\":null,"
         "\"exit_code\":1,\"signal\":null,\"timed_out\":false,\"metrics\":{\"wall_ns\":\"1000\"},"
         "\"logs\":{\"stdout\":\"\",\"stderr\":\"\"}"},
        {"job-end", "\"outcome\":\"failed\",\"reason\":null"},
    };
    for (int k = 0; k < 6; k++) {
        char line[2048];
        snprintf(line, sizeof line,
                 "{\"v\":1,\"seq\":%d,\"ts\":\"2026-11-30T10:00:0%dZ\",\"type\":\"%s\",%s}", k, k,
                 events[k][0], events[k][1]);
        cr_assert_eq(assay_store_job_event(lab.store, 1, 1, k, events[k][0], line), 0, "%s",
                     assay_error_last()->message);
    }
    cr_assert_eq(assay_store_job_end(lab.store, 1, "failed", ""), 0);
    char *payload;
    cr_assert_eq(assay_report_statement(&payload, &lab, run), 0, "%s", assay_error_last()->message);
    cr_expect(strstr(payload, "\"sigill_preflight\"") && strstr(payload, "/usr/bin/work uses ") &&
                  strstr(payload, "(LSE) in atomic_work()") &&
                  strstr(payload, "FT-2000+/64 has no LSE atomics"),
              "%s", payload);
    int links = 0;
    for (const char *q = payload; (q = strstr(q, "\"sigill_preflight\"")); q++)
        links++;
    cr_expect_eq(links, 2, "%s", payload);
    free(payload);
    assay_lab_close(&lab);
    th_run(NULL, 0, "rm -rf %s", dir);
}
