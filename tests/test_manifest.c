/* The manifest: the mistakes vendors make, each named precisely. */
#include "manifest.h"
#include "assay/error.h"
#include "assay/spec.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD "\"manifest\":1,\"product\":\"p\",\"version\":\"1\",\"vendor\":\"v\""
#define ARTS "\"artifacts\":[{\"file\":\"a.tar.gz\",\"arch\":\"x86_64\"}]"
#define STEPS "\"install\":{\"command\":\"i\",\"timeout\":60},\"uninstall\":{\"command\":\"u\",\"timeout\":60}"
#define TESTS "\"tests\":[{\"id\":\"t1\",\"command\":\"true\",\"timeout\":5}]"

static void bad(const char *body, const char *want)
{
    char json[4096];
    snprintf(json, sizeof json, "{%s}", body);
    assay_manifest *m = NULL;
    int rc = assay_manifest_parse(&m, json, strlen(json));
    cr_assert_lt(rc, 0, "accepted: %s", json);
    cr_assert(strstr(assay_error_last()->message, want) != NULL, "'%s' lacks '%s'", assay_error_last()->message, want);
}

Test(manifest, a_good_one_parses_and_makes_a_job_spec)
{
    const char *j = "{" HEAD ",\"artifacts\":[{\"file\":\"a/x.rpm\",\"arch\":\"x86_64\"},{\"file\":\"b.deb\",\"arch\":\"aarch64\"},"
                    "{\"file\":\"c.tgz\",\"arch\":\"loongarch64\",\"abi\":\"old\"},{\"file\":\"d.tgz\",\"arch\":\"loongarch64\"},"
                    "{\"file\":\"e.tgz\",\"arch\":\"noarch\"}]," STEPS ",\"tests\":[{\"id\":\"t1\",\"name\":\"help\","
                    "\"command\":\"x --help\",\"timeout\":5,\"expect_exit\":0}],\"benchmarks\":[{\"id\":\"b1\","
                    "\"command\":\"x\",\"timeout\":5,\"repeat\":3,\"unit\":\"MB/s\"}],\"inspect\":[\"/usr/bin/x\"]}";
    assay_manifest *m;
    cr_assert_eq(assay_manifest_parse(&m, j, strlen(j)), 0, "%s", assay_error_last()->message);
    cr_assert_eq(m->nartifacts, 5);
    cr_assert_str_eq(assay_manifest_pick(m, "x86_64", NULL)->file, "a/x.rpm");
    cr_assert_str_eq(assay_manifest_pick(m, "loongarch64", "old")->file, "c.tgz");
    cr_assert_str_eq(assay_manifest_pick(m, "loongarch64", "new")->file, "d.tgz", "abi defaults to new");
    cr_assert_str_eq(assay_manifest_pick(m, "riscv64", NULL)->file, "e.tgz", "noarch serves the rest");
    char *spec;
    cr_assert_eq(assay_manifest_job_spec(&spec, m, "r1-j2-a1", (const char *[]){"x.rpm"}, 1), 0);
    cr_assert(strstr(spec, "\"id\":\"install\",\"kind\":\"install\"") && strstr(spec, "\"kind\":\"bench\"") &&
              strstr(spec, "\"artifact\":\"x.rpm\"") && strstr(spec, "\"inspect\":[\"/usr/bin/x\"]"), "%s", spec);
    free(spec);
    assay_manifest_free(m);
}

/* Run until stable: the object reaches the agent as given, and the
 * agent's spec parser reads the stop rules back. */
Test(manifest, a_repeat_until_stable_reaches_the_agent)
{
    const char *j = "{" HEAD "," ARTS "," STEPS ",\"benchmarks\":[{\"id\":\"b1\",\"command\":\"x\",\"timeout\":5,"
                    "\"repeat\":{\"min\":3,\"max\":30,\"target_rse\":0.02,\"budget\":600,\"warmup\":1},"
                    "\"unit\":\"ms\"},{\"id\":\"b2\",\"command\":\"y\",\"timeout\":5,\"repeat\":4,\"unit\":\"s\"}]}";
    assay_manifest *m;
    char *spec;
    assay_spec *sp;
    cr_assert_eq(assay_manifest_parse(&m, j, strlen(j)), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_manifest_job_spec(&spec, m, "r1-j2-a1", (const char *[]){"x.rpm"}, 1), 0);
    cr_assert_eq(assay_spec_parse(&sp, spec, strlen(spec)), 0, "%s: %s", spec, assay_error_last()->message);
    const assay_repeat *r = &sp->steps[1].repeat, *f = &sp->steps[2].repeat;
    cr_expect(r->adaptive && r->min == 3 && r->max == 30 && r->warmup == 1 && r->target_rse == 0.02 &&
              r->budget_s == 600);
    cr_expect(!f->adaptive && f->min == 4 && f->max == 4 && f->warmup == 0 && f->target_rse == 0);
    assay_spec_free(sp);
    free(spec);
    assay_manifest_free(m);
}

Test(manifest, a_repeat_object_s_mistakes_are_named)
{
#define B(rep) HEAD "," ARTS "," STEPS ",\"benchmarks\":[{\"id\":\"b\",\"command\":\"x\",\"timeout\":5,\"unit\":\"s\",\"repeat\":" rep "}]"
    bad(B("{\"min\":3}"), "benchmarks[0].repeat.max: missing");
    bad(B("{\"min\":5,\"max\":3}"), "benchmarks[0].repeat.min: 5 is more than max (3)");
    bad(B("{\"max\":3,\"target_rse\":0}"), "benchmarks[0].repeat.target_rse: must be in (0, 1]");
    bad(B("{\"max\":3,\"budget\":-1}"), "benchmarks[0].repeat.budget");
    bad(B("{\"max\":3,\"warmup\":101}"), "benchmarks[0].repeat.warmup");
    bad(B("{\"max\":3,\"min\":1,\"target_rse\":0.1}"), "min: must be at least 2 with a target_rse");
    bad(B("{\"max\":3,\"until\":\"stable\"}"), "benchmarks[0].repeat.until: unknown field");
    bad(B("{\"max\":1001}"), "benchmarks[0].repeat.max");
    bad(B("\"5\""), "benchmarks[0].repeat: must be a whole number or an object, not a string");
    bad(B("2.5"), "benchmarks[0].repeat: must be a whole number");
#undef B
}

Test(manifest, what_vendors_get_wrong)
{
    bad(ARTS "," STEPS "," TESTS, "manifest: must be 1");
    bad("\"manifest\":1," ARTS "," STEPS "," TESTS, "product: missing");
    bad("\"manifest\":1,\"product\":\"\",\"version\":\"1\",\"vendor\":\"v\"," ARTS "," STEPS "," TESTS, "product: must not be empty");
    bad(HEAD "," STEPS "," TESTS, "artifacts: must be a non-empty array");
    bad(HEAD ",\"artifacts\":[]," STEPS "," TESTS, "artifacts: must be a non-empty array");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a\",\"arch\":\"amd64\"}]," STEPS "," TESTS, "(amd64 is x86_64)");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a\",\"arch\":\"loong64\"}]," STEPS "," TESTS, "LoongArch is loongarch64");
    bad(HEAD ",\"artifacts\":[{\"file\":\"/opt/a\",\"arch\":\"x86_64\"}]," STEPS "," TESTS, "must be a relative path");
    bad(HEAD ",\"artifacts\":[{\"file\":\"../a\",\"arch\":\"x86_64\"}]," STEPS "," TESTS, "must be a relative path");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a\",\"arch\":\"x86_64\",\"abi\":\"new\"}]," STEPS "," TESTS, "abi: only loongarch64");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a\",\"arch\":\"x86_64\"},{\"file\":\"b\",\"arch\":\"x86_64\"}]," STEPS "," TESTS,
        "artifacts[1].arch: a second artifact for x86_64");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a\",\"arch\":\"x86_64\"},{\"file\":\"a\",\"arch\":\"aarch64\"}]," STEPS "," TESTS,
        "artifacts[1].file: 'a' is listed twice");
    bad(HEAD "," ARTS ",\"uninstall\":{\"command\":\"u\",\"timeout\":60}," TESTS, "install: missing");
    bad(HEAD "," ARTS ",\"install\":\"make install\",\"uninstall\":{\"command\":\"u\",\"timeout\":60}," TESTS,
        "install: must be an object");
    bad(HEAD "," ARTS ",\"install\":{\"command\":\"i\"},\"uninstall\":{\"command\":\"u\",\"timeout\":60}," TESTS,
        "install.timeout: missing");
    bad(HEAD "," ARTS "," STEPS, "a manifest needs at least one test or benchmark");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"t1\",\"command\":\"x\",\"timout\":5}]", "tests[0].timout: unknown field (known: id, name, command, timeout, expect_exit, privileged)");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"t1\",\"command\":\"x\",\"timeout\":\"30s\"}]", "tests[0].timeout: must be a number of seconds");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"t1\",\"command\":\"x\",\"timeout\":0}]", "tests[0].timeout");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"install\",\"command\":\"x\",\"timeout\":5}]", "not 'install' or 'uninstall'");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"my test\",\"command\":\"x\",\"timeout\":5}]", "tests[0].id: 'my test'");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"a\",\"command\":\"x\",\"timeout\":5},{\"id\":\"a\",\"command\":\"y\",\"timeout\":5}]",
        "tests[1].id: 'a' is used twice");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"a\",\"command\":\"x\",\"timeout\":5,\"expect_exit\":-1}]", "expect_exit: must be a whole number from 0 to 255");
    bad(HEAD "," ARTS "," STEPS ",\"benchmarks\":[{\"id\":\"b\",\"command\":\"x\",\"timeout\":5,\"unit\":\"s\"}]", "benchmarks[0].repeat: missing");
    bad(HEAD "," ARTS "," STEPS ",\"benchmarks\":[{\"id\":\"b\",\"command\":\"x\",\"timeout\":5,\"repeat\":3}]", "benchmarks[0].unit: missing");
    bad(HEAD "," ARTS "," STEPS "," TESTS ",\"homepage\":\"x\"", "homepage: unknown field");
    bad(HEAD "," ARTS "," STEPS "," TESTS ",\"inspect\":\"/usr/bin/x\"", "inspect: must be an array");
}

/* A unit is an identifier: markup, spaces and quotes are refused, named by
 * the field, not echoed. */
Test(manifest, bench_units_are_identifiers)
{
    const char *hostile[] = {"<img src=x onerror=alert(1)>", "a b", "\\\"q\\\"", "ops/s'", "\u00e9/s",
                             "123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++) {
        char body[1024];
        snprintf(body, sizeof body, HEAD "," ARTS "," STEPS ",\"benchmarks\":[{\"id\":\"b\",\"command\":\"x\","
                 "\"timeout\":5,\"repeat\":1,\"unit\":\"%s\"}]", hostile[i]);
        bad(body, i == 5 ? "benchmarks[0].unit: longer than 32 bytes" : "benchmarks[0].unit: must be 1-32 bytes of A-Z a-z 0-9 / % . _ - and \u00b5");
        cr_assert_null(strstr(assay_error_last()->message, "img"));
    }
    const char *fine[] = {"ops/s", "MB/s", "ms", "\u00b5s", "%"};
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        char json[1024];
        snprintf(json, sizeof json, "{" HEAD "," ARTS "," STEPS ",\"benchmarks\":[{\"id\":\"b\",\"command\":\"x\","
                 "\"timeout\":5,\"repeat\":1,\"unit\":\"%s\"}]}", fine[i]);
        assay_manifest *m;
        cr_assert_eq(assay_manifest_parse(&m, json, strlen(json)), 0, "%s: %s", fine[i], assay_error_last()->message);
        assay_manifest_free(m);
    }
}

Test(manifest, malformed_documents)
{
    assay_manifest *m;
    const char *cases[][2] = {
        {"", "not valid JSON (line 1)"},
        {"{\n\"manifest\": 1,\n\"product\": \"p\"\n\"version\": 1}", "not valid JSON (line 4)"},
        {"[]", "must be a JSON object"},
        {"\"manifest\"", "must be a JSON object"},
    };
    for (size_t i = 0; i < 4; i++) {
        cr_assert_lt(assay_manifest_parse(&m, cases[i][0], strlen(cases[i][0])), 0);
        cr_assert(strstr(assay_error_last()->message, cases[i][1]), "'%s': %s", cases[i][0], assay_error_last()->message);
    }
    size_t n = ASSAY_MANIFEST_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    cr_assert_eq(assay_manifest_parse(&m, big, n), ASSAY_ETOOBIG);
    free(big);
}

Test(manifest, deep_nesting_is_named_and_brackets_in_strings_do_not_count)
{
    assay_manifest *m;
    /* 100000 levels: refused by name, before cJSON recurses into it. */
    size_t levels = 100000, n = 2 * levels + 64;
    char *deep = malloc(n);
    int len = snprintf(deep, n, "{\"manifest\": 1,\n\"description\": ");
    memset(deep + len, '[', levels);
    memset(deep + len + levels, ']', levels);
    memcpy(deep + len + 2 * levels, "}", 2);
    cr_assert_eq(assay_manifest_parse(&m, deep, strlen(deep)), ASSAY_EINVAL);
    cr_assert_str_eq(assay_error_last()->message, "nested deeper than 16 levels (line 2)");
    free(deep);
    /* Brackets and escaped quotes inside strings are text, not nesting. */
    bad(HEAD ",\"description\":\"[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{{{{\"," ARTS "," STEPS ",\"tests\":{}",
        "tests: must be an array, not an object");
}

Test(manifest, a_wrong_type_is_named_with_what_it_is)
{
    bad("\"manifest\":1,\"product\":42,\"version\":\"1\",\"vendor\":\"v\"," ARTS "," STEPS "," TESTS,
        "product: must be a string, not a number");
    bad(HEAD "," ARTS ",\"install\":{\"command\":\"i\",\"timeout\":\"60\"},\"uninstall\":{\"command\":\"u\",\"timeout\":60}," TESTS,
        "install.timeout: must be a number of seconds, not a string");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[{\"id\":\"t1\",\"command\":\"x\",\"timeout\":5,\"expect_exit\":\"0\"}]",
        "tests[0].expect_exit: must be a whole number from 0 to 255, not a string");
    bad(HEAD "," ARTS ",\"install\":[],\"uninstall\":{\"command\":\"u\",\"timeout\":60}," TESTS,
        "install: must be an object with command and timeout, not an array");
    bad(HEAD ",\"artifacts\":[null]," STEPS "," TESTS, "artifacts[0]: must be an object, not null");
    bad(HEAD "," ARTS "," STEPS ",\"tests\":[true]", "tests[0]: must be an object, not a boolean");
    bad(HEAD "," ARTS "," STEPS "," TESTS ",\"licence\":\"MIT\"", "licence: unknown field (known: manifest, product,");
}

/* A product of several packages: one artifact per arch and world whose
 * "files" are installed together; the old "file" still works beside it. */
Test(manifest, an_artifact_can_be_a_set_of_files)
{
    const char *j = "{" HEAD ",\"artifacts\":[{\"files\":[\"arm/jq_1.6_arm64.deb\",\"arm/libjq1_1.6_arm64.deb\","
                    "\"arm/libonig5_6.9_arm64.deb\"],\"arch\":\"aarch64\"},{\"file\":\"x.rpm\",\"arch\":\"x86_64\"}],"
                    STEPS "," TESTS "}";
    assay_manifest *m;
    cr_assert_eq(assay_manifest_parse(&m, j, strlen(j)), 0, "%s", assay_error_last()->message);
    cr_assert_eq(m->nartifacts, 2);
    cr_assert_eq(m->nfiles, 4);
    const assay_manifest_artifact *a = assay_manifest_pick(m, "aarch64", NULL);
    cr_assert_eq(a->nfiles, 3);
    cr_assert_str_eq(a->file, "arm/jq_1.6_arm64.deb", "file is the set's first");
    cr_assert_str_eq(assay_manifest_file(m, a, 1), "arm/libjq1_1.6_arm64.deb");
    cr_assert_str_eq(assay_manifest_file(m, a, 2), "arm/libonig5_6.9_arm64.deb");
    cr_assert_null(assay_manifest_file(m, a, 3));
    const assay_manifest_artifact *x = assay_manifest_pick(m, "x86_64", NULL);
    cr_assert_eq(x->nfiles, 1);
    cr_assert_str_eq(assay_manifest_file(m, x, 0), "x.rpm");
    /* The job spec names a set's files in order; the agent reads them back. */
    char *spec;
    assay_spec *sp;
    cr_assert_eq(assay_manifest_job_spec(&spec, m, "r1-j2-a1", (const char *[]){"a.deb", "b.deb", "c.deb"}, 3), 0);
    cr_assert(strstr(spec, "\"artifacts\":[\"a.deb\",\"b.deb\",\"c.deb\"]") && !strstr(spec, "\"artifact\":"), "%s",
              spec);
    cr_assert_eq(assay_spec_parse(&sp, spec, strlen(spec)), 0, "%s", assay_error_last()->message);
    cr_assert_eq(sp->nartifacts, 3);
    cr_assert_str_eq(sp->artifacts[2], "c.deb");
    cr_assert_str_eq(sp->artifact, "artifacts/a.deb");
    assay_spec_free(sp);
    free(spec);
    assay_manifest_free(m);
}

Test(manifest, a_set_s_mistakes_are_named)
{
#define SET(files) HEAD ",\"artifacts\":[{\"files\":" files ",\"arch\":\"aarch64\"}]," STEPS "," TESTS
    bad(SET("[\"a.deb\",\"a.deb\"]"), "artifacts[0].files[1]: 'a.deb' is listed twice");
    bad(SET("[\"a.deb\",\"/abs/b.deb\"]"), "artifacts[0].files[1]: '/abs/b.deb' must be a relative path");
    bad(SET("[\"a.deb\",\"x/../b.deb\"]"), "artifacts[0].files[1]: 'x/../b.deb' must be a relative path");
    bad(SET("[\"p/a.deb\",\"q/a.deb\"]"), "artifacts[0].files[1]: 'q/a.deb' has the file name of files[0] ('p/a.deb')");
    bad(SET("[]"), "artifacts[0].files: must be a non-empty array of file names, not an empty array");
    bad(SET("\"a.deb\""), "artifacts[0].files: must be a non-empty array of file names, not a string");
    bad(SET("[\"a.deb\",7]"), "artifacts[0].files[1]: must be a string, not a number");
    bad(SET("[\"a.deb\",\"\"]"), "artifacts[0].files[1]: must be 1-255 bytes");
    bad(SET("[\"a.deb\",\"logs\"]"), "artifacts[0].files[1]: 'logs': the agent keeps that name");
    /* The same rule for a name given as "file" or in "files": a newline or
     * a tab would split the line of $ASSAY_ARTIFACTS that names it. */
    bad(SET("[\"a.deb\",\"b\\n.deb\"]"), "artifacts[0].files[1]: contains control characters");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a\\tb.deb\",\"arch\":\"aarch64\"}]," STEPS "," TESTS,
        "artifacts[0].file: contains control characters");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a\\nb.deb\",\"arch\":\"aarch64\"}]," STEPS "," TESTS,
        "artifacts[0].file: contains control characters");
    bad(HEAD ",\"artifacts\":[{\"file\":7,\"arch\":\"aarch64\"}]," STEPS "," TESTS,
        "artifacts[0].file: must be a string, not a number");
    bad(HEAD ",\"artifacts\":[{\"file\":\"a.deb\",\"files\":[\"b.deb\"],\"arch\":\"aarch64\"}]," STEPS "," TESTS,
        "artifacts[0].files: give either file (one) or files (a set), not both");
    bad(HEAD ",\"artifacts\":[{\"arch\":\"aarch64\"}]," STEPS "," TESTS, "artifacts[0].file: missing (or files");
    /* A file is in one artifact only. */
    bad(HEAD ",\"artifacts\":[{\"files\":[\"a.deb\",\"b.deb\"],\"arch\":\"aarch64\"},{\"file\":\"b.deb\",\"arch\":"
             "\"x86_64\"}]," STEPS "," TESTS,
        "artifacts[1].file: 'b.deb' is listed twice");
    /* Two artifacts for one arch: the message points at "files". */
    bad(HEAD ",\"artifacts\":[{\"file\":\"a.deb\",\"arch\":\"aarch64\"},{\"file\":\"b.deb\",\"arch\":\"aarch64\"}],"
             STEPS "," TESTS,
        "artifacts[1].arch: a second artifact for aarch64 (artifacts[0]; several files installed together are one "
        "artifact's \"files\")");
    char many[4096];
    int n = snprintf(many, sizeof many, "[");
    for (int i = 0; i <= ASSAY_MANIFEST_SET_MAX; i++)
        n += snprintf(many + n, sizeof many - (size_t)n, "%s\"f%d.deb\"", i ? "," : "", i);
    snprintf(many + n, sizeof many - (size_t)n, "]");
    char body[4096];
    snprintf(body, sizeof body, HEAD ",\"artifacts\":[{\"files\":%s,\"arch\":\"aarch64\"}]," STEPS "," TESTS, many);
    bad(body, "artifacts[0].files: more than 32 files in one artifact");
#undef SET
}
