/* Preflight against real Debian 12 packages (tests/data/make-debian-corpus.sh):
 * every error the readelf oracle predicts is found, no other error is
 * raised, and every file of every artifact is named in the coverage. */
#include "helpers.h"
#include "lab.h"
#include "package.h"
#include "profile.h"
#include "assay/elf.h"
#include "assay/error.h"
#include "assay/json.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS ASSAY_BINARY_DIR "/debian-corpus"

static char dir[] = "/tmp/assay-pfc-XXXXXX";
static assay_lab lab;

/* The oracle: one line per fact, tab-separated (see the script). */
struct fact {
    char kind[8], art[64], path[512], a[32], b[32];
};
static struct fact facts[1024];
static size_t nfacts;

static void setup(void)
{
    char d[300], line[1024];
    FILE *f = fopen(CORPUS "/expected.tsv", "r");
    if (!f)
        cr_skip_test("no Debian corpus: tests/data/make-debian-corpus.sh could not fetch the packages");
    nfacts = 0;
    while (fgets(line, sizeof line, f) && nfacts < sizeof facts / sizeof *facts) {
        struct fact *x = &facts[nfacts];
        memset(x, 0, sizeof *x);
        line[strcspn(line, "\n")] = '\0';
        char *save, *t = strtok_r(line, "\t", &save);
        char *fields[] = {x->kind, x->art, x->path, x->a, x->b};
        size_t caps[] = {sizeof x->kind, sizeof x->art, sizeof x->path, sizeof x->a, sizeof x->b};
        for (size_t i = 0; t && i < 5; i++, t = strtok_r(NULL, "\t", &save))
            snprintf(fields[i], caps[i], "%s", t);
        nfacts++;
    }
    fclose(f);
    cr_assert_gt(nfacts, 100, "the oracle is too short");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(d, sizeof d, "%s/lab", dir);
    cr_assert_eq(assay_lab_init(d, ASSAY_KEY_ED25519, "test"), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_lab_open(&lab, d), 0);
}

static void teardown(void)
{
    assay_lab_close(&lab);
    th_run(NULL, 0, "rm -rf %s", dir);
}

static char last_id[65];

static cJSON *preflight_of(const char *submission)
{
    char *id = last_id;
    int existed;
    cJSON *pf;
    cr_assert_eq(assay_package_add(&lab, submission, ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_package_preflight(&pf, &lab, id, NULL, 0), 0, "%s", assay_error_last()->message);
    return pf;
}

static const cJSON *finding_of(const cJSON *r, const char *path, const char *check)
{
    const cJSON *f, *fd;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(r, "files")) if (!strcmp(assay_json_str(f, "path"), path))
        cJSON_ArrayForEach(fd, cJSON_GetObjectItem(f, "findings")) if (!strcmp(assay_json_str(fd, "check"), check))
            return fd;
    return NULL;
}

/* Each profile's errors are exactly those the oracle predicts: a GLIBC_
 * version above the profile's, a load alignment below its page size, a
 * kernel module of another kernel series. With `complete_sets`, each
 * artifact provides every library its files need beside the OS's. */
/* Whether the oracle's artifact `art` is the result's artifact, or one
 * file of its set. */
static int of_result(const cJSON *r, const char *art)
{
    const cJSON *f;
    if (!strcmp(assay_json_str(r, "artifact"), art))
        return 1;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(r, "artifact_files")) if (cJSON_IsString(f) && !strcmp(f->valuestring, art))
        return 1;
    return 0;
}

static void errors_match_oracle(const cJSON *pf, int complete_sets, int *checked)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(pf, "profiles"))
    {
        if (!cJSON_IsString(cJSON_GetObjectItem(r, "artifact")))
            continue;
        const char *art = assay_json_str(r, "artifact"), *pid = assay_json_str(r, "profile");
        assay_profile *p;
        cr_assert_eq(assay_profile_load(&p, ASSAY_SOURCE_DIR "/profiles", pid), 0);
        int want = 0;
        for (size_t i = 0; i < nfacts; i++) {
            const struct fact *x = &facts[i];
            if (!of_result(r, x->art))
                continue;
            if (!strcmp(x->kind, "elf")) {
                int glibc = strcmp(x->a, "0") && assay_version_cmp(x->a, p->glibc) > 0;
                int page = atoi(x->b) < p->page_size;
                cr_assert_eq(finding_of(r, x->path, "glibc") != NULL, glibc, "%s %s: GLIBC_%s against %s", pid,
                             x->path, x->a, p->glibc);
                cr_assert_eq(finding_of(r, x->path, "page-size") != NULL, page, "%s %s: align %s against %d", pid,
                             x->path, x->b, p->page_size);
                /* DT_NEEDED resolved against the artifact set itself. */
                if (complete_sets)
                    cr_assert_null(finding_of(r, x->path, "library"), "%s %s: a library the set provides is missing",
                                   pid, x->path);
                want += glibc + page;
                (*checked)++;
            } else if (!strcmp(x->kind, "kmod")) {
                int other = p->kernel[0] && strcmp(x->a, p->kernel) != 0; /* no series: not checked */
                cr_assert_eq(finding_of(r, x->path, "kernel-module") != NULL, other, "%s %s: kernel %s against %s",
                             pid, x->path, x->a, p->kernel);
                want += other;
                (*checked)++;
            }
        }
        cr_assert_eq((int)assay_json_num(r, "errors"), want, "%s (%s): %d errors, the oracle says %d", pid, art,
                     (int)assay_json_num(r, "errors"), want);
        assay_profile_free(p);
    }
}

/* Every regular file of every artifact is named once in the coverage;
 * those the loader never runs are "not for this host", never errors. */
static void coverage_matches_oracle(const cJSON *pf)
{
    const cJSON *c, *x;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(pf, "coverage"))
    {
        const char *art = assay_json_str(c, "artifact");
        size_t files = 0, foreign = 0, elf = 0, named = 0;
        for (size_t i = 0; i < nfacts; i++) {
            const struct fact *f = &facts[i];
            if (strcmp(f->art, art))
                continue;
            files += !strcmp(f->kind, "file");
            foreign += !strcmp(f->kind, "foreign");
            elf += !strcmp(f->kind, "elf") || !strcmp(f->kind, "kmod");
            if (strcmp(f->kind, "file"))
                continue;
            int seen = 0;
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(c, "examined_files")) seen += !strcmp(x->valuestring, f->path);
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(c, "not_for_host_files")) seen += !strcmp(assay_json_str(x, "path"), f->path);
            cJSON_ArrayForEach(x, cJSON_GetObjectItem(c, "not_examined_files")) seen += !strcmp(assay_json_str(x, "path"), f->path);
            cr_assert_eq(seen, 1, "%s: %s is named %d times in the coverage", art, f->path, seen);
            named++;
        }
        cr_assert_gt(files, 0, "the oracle has no files of %s", art);
        cr_assert_eq(named, files);
        cr_assert_eq((size_t)assay_json_num(c, "elf_read") + (size_t)assay_json_num(c, "not_for_host") +
                         (size_t)assay_json_num(c, "not_examined"), files, "%s: more files named than it holds", art);
        cr_assert_eq((size_t)assay_json_num(c, "elf_read"), elf, "%s", art);
        cr_assert_eq((size_t)assay_json_num(c, "not_for_host"), foreign, "%s", art);
    }
}

TestSuite(preflight_corpus, .init = setup, .fini = teardown, .timeout = 300);

/* A product's submission against the oracle: its errors exactly, every
 * file named, no library it provides reported missing, jq's file at
 * `jq_path` (quoted JSON), and `package inspect`'s line for Kunpeng 920
 * with Kylin V10 (`head`); the inspect output in `out`. */
static void product_checked(const char *submission, const char *jq_path, const char *head, char *out, size_t outlen)
{
    cJSON *pf = preflight_of(submission);
    int checked = 0;
    errors_match_oracle(pf, 1, &checked);
    coverage_matches_oracle(pf);
    cr_assert_geq(checked, 6 * 2, "the six ELF files, over at least two profiles each");
    char *text = cJSON_PrintUnformatted(pf);
    cr_assert(strstr(text, jq_path), "%s", text);
    cr_assert_null(strstr(text, "libjq.so.1 is neither"), "%s", text);
    free(text);
    cJSON_Delete(pf);
    /* package inspect: counts with the files read, then every file. */
    cr_assert_eq(th_run(out, outlen, ASSAY_BINARY_DIR "/assay --lab %s/lab package inspect %s --profile "
                                     "kunpeng-920-kylin-v10", dir, last_id),
                 1, "errors exit 1: %s", out);
    cr_assert(strstr(out, head), "%s", out);
}

Test(preflight_corpus, a_product_of_debs_inside_tarballs)
{
    char out[16384];
    /* The path inside the nested package. */
    product_checked(CORPUS "/product.tar.gz", "\"jq-arm64.tar!jq_1.6-2.1+deb12u3_arm64.deb!/usr/bin/jq\"",
                    "kunpeng-920-kylin-v10 (jq-arm64.tar): 2 errors, 0 warnings, 3 ELF files read, "
                    "0 not for this host, 12 not examined\n", out, sizeof out);
    cr_assert(strstr(out, "\n  read          jq-arm64.tar!libonig5_6.9.8-1_arm64.deb!/usr/lib/aarch64-linux-gnu/"
                          "libonig.so.5.3.0\n"), "%s", out);
    cr_assert(strstr(out, "\n  not examined  jq-arm64.tar!jq_1.6-2.1+deb12u3_arm64.deb!/usr/share/doc/jq/copyright: "
                          "not ELF\n"), "%s", out);
}

/* The same product as artifact sets ("files": the three .debs of each
 * arch): the same real findings, no library the set provides reported
 * missing (jq needs libjq.so.1 and libonig.so.5), every file named. */
Test(preflight_corpus, a_product_as_an_artifact_set)
{
    char out[16384];
    product_checked(CORPUS "/set.tar.gz", "\"pkgs/jq_1.6-2.1+deb12u3_arm64.deb!/usr/bin/jq\"",
                    "kunpeng-920-kylin-v10 (set of 3: pkgs/jq_1.6-2.1+deb12u3_arm64.deb, "
                    "pkgs/libjq1_1.6-2.1+deb12u3_arm64.deb, pkgs/libonig5_6.9.8-1_arm64.deb): 2 errors, 0 warnings, "
                    "3 ELF files read, 0 not for this host, 12 not examined\n", out, sizeof out);
    cr_assert(strstr(out, "\n  read          pkgs/libonig5_6.9.8-1_arm64.deb!/usr/lib/aarch64-linux-gnu/"
                          "libonig.so.5.3.0\n"), "%s", out);
}

Test(preflight_corpus, plain_elf_stripped_headers_truncated_kernel_module_and_firmware)
{
    cJSON *pf = preflight_of(CORPUS "/odd.tar.gz"), *c;
    int checked = 0;
    errors_match_oracle(pf, 0, &checked);
    coverage_matches_oracle(pf);
    cr_assert_geq(checked, 3);
    int truncated = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(pf, "coverage"))
    {
        const cJSON *x;
        cJSON_ArrayForEach(x, cJSON_GetObjectItem(c, "not_examined_files"))
            truncated += !strcmp(assay_json_str(x, "path"), "/usr/bin/jq-truncated") &&
                         strstr(assay_json_str(x, "reason"), "truncated");
    }
    cr_assert_eq(truncated, 1, "the truncated ELF file is named with its reason");
    cJSON_Delete(pf);
}

Test(preflight_corpus, an_artifact_with_no_elf_file_read_is_a_warning_unless_noarch)
{
    char sub[400], out[1024];
    snprintf(sub, sizeof sub, "%s/docs", dir);
    cr_assert_eq(th_run(out, sizeof out,
                        "set -e; d=%s; mkdir -p $d/s/t/usr/share/doc/x; echo hi > $d/s/t/usr/share/doc/x/README;"
                        "tar -C $d/s/t -cf $d/s/x.tar usr;"
                        "printf '%%s' '{\"manifest\":1,\"product\":\"p\",\"version\":\"1\",\"vendor\":\"v\",\"artifacts\":["
                        "{\"file\":\"x.tar\",\"arch\":\"x86_64\"}],\"install\":{\"command\":\"true\",\"timeout\":9},"
                        "\"uninstall\":{\"command\":\"true\",\"timeout\":9},\"tests\":[{\"id\":\"t\",\"command\":\"true\","
                        "\"timeout\":9}]}' > $d/s/manifest.json; tar -C $d/s -czf $d.tar.gz manifest.json x.tar",
                        sub),
                 0, "%s", out);
    snprintf(sub, sizeof sub, "%s/docs.tar.gz", dir);
    cJSON *pf = preflight_of(sub), *r;
    int n = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(pf, "profiles"))
    {
        const cJSON *fd = finding_of(r, "x.tar", "coverage");
        cr_assert_not_null(fd, "%s: nothing read, and no word of it", assay_json_str(r, "profile"));
        cr_assert_str_eq(assay_json_str(fd, "severity"), "warning");
        cr_assert_eq((int)assay_json_num(r, "errors"), 0);
        n++;
    }
    cr_assert_gt(n, 0);
    cJSON_Delete(pf);
}
