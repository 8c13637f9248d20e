/*
 * Signed reports: both algorithms, tampering anywhere, another lab's key,
 * the DSSE tamper corpus against three verifiers (tests/dsse), the
 * commands of docs/verify.md run as written, and the other
 * forms (JUnit checked by xmllint).
 */
#include "helpers.h"
#include "blob.h"
#include "crypto.h"
#include "lab.h"
#include "markup.h"
#include "package.h"
#include "pdf.h"
#include "report.h"
#include "store.h"
#include "assay/error.h"
#include "assay/json.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CORPUS ASSAY_BINARY_DIR "/corpus"
/* assay verify FILE [FLAG] in folder D, with the key there. */
#define VERIFY "cd %s && " ASSAY_BINARY_DIR "/assay verify %s --pubkey lab.pub.pem %s 2>&1"

static char dir[] = "/tmp/assay-report-XXXXXX";

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    th_run(NULL, 0, "rm -rf %s", dir);
}

TestSuite(report, .init = setup, .fini = teardown, .timeout = 120);

static void ev(assay_lab *lab, int64_t job, int64_t seq, const char *type, const char *body)
{
    char line[4096];
    snprintf(line, sizeof line, "{\"v\":1,\"seq\":%lld,\"ts\":\"2026-11-26T10:00:%02lldZ\",\"type\":\"%s\",%s}",
             (long long)seq, (long long)seq, type, body);
    cr_assert_eq(assay_store_job_event(lab->store, job, 1, seq, type, line), 0, "%s", assay_error_last()->message);
}

/* The second target's measured facts (make_lab): by default an x86_64
 * host that says little about itself. */
static const char *zx_facts = "\"facts\":{\"arch\":\"x86_64\",\"emulation\":{\"emulated\":false}},";

/* A lab with one finished run of two targets: one passes, one fails a
 * test; both run a benchmark. Made through the store, as the dispatcher
 * would, without a lab of hosts. */
/* A new lab in dir/name holding the corpus package `pkg`, whose id goes
 * to id. */
static void lab_with(assay_lab *lab, const char *name, assay_key_type type, const char *pkg, char id[65])
{
    char path[400];
    int existed;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(assay_lab_init(path, type, "Chongqing Test Centre 测试中心"), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_lab_open(lab, path), 0);
    cr_assert_eq(assay_package_add(lab, pkg, ASSAY_ADD_COPY, id, &existed), 0, "%s", assay_error_last()->message);
}

static void make_lab(assay_lab *lab, const char *name, assay_key_type type)
{
    char id[65];
    lab_with(lab, name, type, CORPUS "/ok-deb-rpm.tar.gz", id);
    char *profs[] = {"kunpeng-920-kylin-v10", "zhaoxin-kx6000-uos-20"};
    int64_t run;
    cr_assert_eq(assay_store_run_submit(lab->store, id, profs, 2, 0, 0, NULL, &run), 0);
    for (int64_t j = 1; j <= 2; j++) {
        cr_assert_eq(assay_store_job_assign(lab->store, j, j == 1 ? "kunpeng-1" : "zhaoxin-1"), 0);
        if (j == 1) /* kunpeng-1 had run another product and was reset first */
            cr_assert_eq(assay_store_job_set_host_reset(lab->store, j, 1), 0);
        cr_assert_eq(assay_store_job_set_running(lab->store, j, "ab12"), 0);
        char start[2048];
        snprintf(start, sizeof start, "%s\"agent\":{\"version\":\"0.1.0\",\"triple\":\"%s-linux-gnu\"}",
                 j == 1 ? "\"facts\":{\"arch\":\"aarch64\",\"emulation\":{\"emulated\":true}}," : zx_facts,
                 j == 1 ? "aarch64" : "x86_64");
        ev(lab, j, 0, "job-start", start);
        ev(lab, j, 1, "step-start", "\"step\":\"runs\",\"kind\":\"test\",\"name\":\"prints <hello> & exits\",\"run\":1");
        ev(lab, j, 2, "step-end", j == 1 ? "\"step\":\"runs\",\"kind\":\"test\",\"run\":1,\"verdict\":\"fail\","
                                           "\"reason\":\"exit status 3, expected 0\",\"exit_code\":3,\"signal\":null,"
                                           "\"timed_out\":false,\"metrics\":{\"wall_ns\":\"1500000000\"},"
                                           "\"logs\":{\"stdout\":\"logs/runs.1.stdout\",\"stderr\":\"logs/runs.1.stderr\"}"
                                         : "\"step\":\"runs\",\"kind\":\"test\",\"run\":1,\"verdict\":\"pass\",\"reason\":null,"
                                           "\"exit_code\":0,\"signal\":null,\"timed_out\":false,\"metrics\":{\"wall_ns\":\"1000000\"},"
                                           "\"logs\":{\"stdout\":\"logs/runs.1.stdout\",\"stderr\":\"logs/runs.1.stderr\"}");
        ev(lab, j, 3, "job-end", j == 1 ? "\"outcome\":\"failed\",\"reason\":null" : "\"outcome\":\"passed\",\"reason\":null");
        /* A log whose tail the JUnit failure shows. */
        char hex[65];
        const char *text = "starting\nerror: <bad> input & more\n";
        cr_assert_eq(assay_blob_put_mem(lab->blobs, text, strlen(text), hex), 0);
        cr_assert_eq(assay_store_job_log(lab->store, j, 1, "logs/runs.1.stdout", hex, strlen(text)), 0);
        cr_assert_eq(assay_store_job_end(lab->store, j, j == 1 ? "failed" : "passed", ""), 0);
    }
}



static void sign_run(assay_lab *lab, char **env, char **pem)
{
    char *payload, keyid[65], alg[16];
    cr_assert_eq(assay_report_statement(&payload, lab, 1), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_report_sign(env, lab, payload, strlen(payload)), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_key_public(lab->key, pem, keyid, alg), 0);
    free(payload);
}

static void both_algorithms(void (*fn)(assay_lab *, const char *, const char *, const char *))
{
    assay_lab ed, sm;
    make_lab(&ed, "ed", ASSAY_KEY_ED25519);
    make_lab(&sm, "sm", ASSAY_KEY_SM2);
    char *env, *pem;
    sign_run(&ed, &env, &pem);
    fn(&ed, env, pem, "ed25519");
    free(env);
    free(pem);
    sign_run(&sm, &env, &pem);
    fn(&sm, env, pem, "sm2-sm3");
    free(env);
    free(pem);
    assay_lab_close(&ed);
    assay_lab_close(&sm);
}

static void check_valid(assay_lab *lab, const char *env, const char *pem, const char *alg)
{
    assay_report_check c;
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), pem, strlen(pem)), 0, "%s: %s", alg,
                 assay_error_last()->message);
    cr_assert_str_eq(c.alg, alg);
    const cJSON *p = cJSON_GetObjectItem(c.statement, "predicate");
    cr_assert_str_eq(cJSON_GetObjectItem(p, "verdict")->valuestring, "fail");
    cr_assert_str_eq(cJSON_GetObjectItem(p, "centre")->valuestring, "Chongqing Test Centre 测试中心");
    /* Subjects: the submission and both artifacts, by SHA-256. */
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(c.statement, "subject")), 3);
    const cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "targets"), 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(t0, "emulated")));
    cr_assert_str_eq(cJSON_GetObjectItem(t0, "verdict")->valuestring, "fail");
    /* Whether each target's host was reset first: true, or null (none needed). */
    const cJSON *t1 = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "targets"), 1);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(t0, "host_reset")));
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(t1, "host_reset")));
    const cJSON *a0 = cJSON_GetArrayItem(cJSON_GetObjectItem(t0, "attempt_history"), 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(a0, "host_reset")), "the attempt records it too");
    cr_assert(cJSON_GetArraySize(cJSON_GetObjectItem(p, "notes")) >= 1, "emulated targets are called out");
    cJSON_Delete(c.statement);
    /* The key never appears in what is published. */
    char *keypem = th_slurp(lab->key, NULL);
    cr_assert_null(strstr(env, keypem + 30));
    free(keypem);
}

Test(report, sign_and_verify_both_algorithms)
{
    both_algorithms(check_valid);
}

static void tamper_envelope(assay_lab *lab, const char *env, const char *pem, const char *alg)
{
    (void)lab;
    size_t n = strlen(env);
    char *copy = malloc(n + 1);
    assay_report_check c;
    const unsigned char repl[] = {0x01, 'A', '='};
    int variants = strcmp(alg, "ed25519") == 0 ? 3 : 1;
    /* Except the name "keyid": the key id is an unauthenticated hint, and
     * an envelope whose signature has none (the member renamed into one
     * DSSE ignores) is still valid. */
    const char *kid = strstr(env, "\"keyid\":");
    cr_assert_not_null(kid);
    size_t k0 = (size_t)(kid - env) + 1, k1 = k0 + 5;
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < variants; v++) {
            memcpy(copy, env, n + 1);
            copy[i] = v == 0 ? (char)(copy[i] ^ 0x01) : (char)repl[v];
            if (copy[i] == env[i])
                continue;
            int rc = assay_report_verify(&c, copy, n, pem, strlen(pem));
            if (i >= k0 && i < k1 && copy[i] >= 0x20) {
                cr_assert_eq(rc, 0, "%s: keyid renamed at %zu refused: %s", alg, i, assay_error_last()->message);
                cJSON_Delete(c.statement);
                continue;
            }
            cr_assert_lt(rc, 0, "%s: byte %zu changed to %#x verified", alg, i, (unsigned char)copy[i]);
        }
    /* Bytes added or taken away. */
    memcpy(copy, env, n + 1);
    cr_assert_lt(assay_report_verify(&c, copy, n - 2, pem, strlen(pem)), 0);
    free(copy);
    /* JSON whitespace around the object is the same envelope (DSSE reads
     * JSON); any other byte is refused, NUL included. */
    char *longer = malloc(n + 2);
    const char *after[] = {" \r", "\t\n", "x\n", "\0\n", "\v\n", "{}"};
    for (size_t k = 0; k < sizeof after / sizeof *after; k++) {
        memcpy(longer, env, n);
        memcpy(longer + n, after[k], 2);
        int rc = assay_report_verify(&c, longer, n + 2, pem, strlen(pem));
        if (k < 2) {
            cr_assert_eq(rc, 0, "%s: whitespace %zu refused: %s", alg, k, assay_error_last()->message);
            cJSON_Delete(c.statement);
        } else {
            cr_assert_eq(rc, ASSAY_EINVAL, "%s: bytes %zu after the envelope accepted", alg, k);
        }
    }
    free(longer);
}

/* One verification per byte, both algorithms, under the sanitizers: the
 * signed payload grows with what reports hold, so these two get longer. */
Test(report, every_changed_byte_of_the_envelope_fails, .timeout = 900)
{
    both_algorithms(tamper_envelope);
}

static void tamper_payload(assay_lab *lab, const char *env, const char *pem, const char *alg)
{
    (void)lab;
    cJSON *e = cJSON_Parse(env);
    const char *b64 = cJSON_GetObjectItem(e, "payload")->valuestring;
    size_t plen;
    unsigned char *p = assay_base64_decode(b64, strlen(b64), &plen);
    cr_assert_not_null(p);
    assay_report_check c;
    for (size_t i = 0; i < plen; i++) {
        p[i] ^= 0x20;
        char *nb = assay_base64_encode(p, plen);
        cJSON_ReplaceItemInObject(e, "payload", cJSON_CreateString(nb));
        char *forged = cJSON_PrintUnformatted(e);
        int rc = assay_report_verify(&c, forged, strlen(forged), pem, strlen(pem));
        cr_assert_eq(rc, ASSAY_EVERIFY, "%s: payload byte %zu changed verified (%d)", alg, i, rc);
        free(forged);
        free(nb);
        p[i] ^= 0x20;
    }
    free(p);
    cJSON_Delete(e);
}

Test(report, every_changed_byte_of_the_payload_fails, .timeout = 900)
{
    both_algorithms(tamper_payload);
}

Test(report, another_labs_key_does_not_verify)
{
    assay_lab a, b;
    make_lab(&a, "a", ASSAY_KEY_ED25519);
    make_lab(&b, "b", ASSAY_KEY_ED25519);
    char *env, *pem_a, *pem_b, keyid[65], alg[16];
    sign_run(&a, &env, &pem_a);
    cr_assert_eq(assay_key_public(b.key, &pem_b, keyid, alg), 0);
    assay_report_check c;
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), pem_b, strlen(pem_b)), ASSAY_EVERIFY);
    /* Nor an SM2 key over an Ed25519 signature. */
    assay_lab s;
    char *pem_s;
    make_lab(&s, "s", ASSAY_KEY_SM2);
    cr_assert_eq(assay_key_public(s.key, &pem_s, keyid, alg), 0);
    cr_assert_lt(assay_report_verify(&c, env, strlen(env), pem_s, strlen(pem_s)), 0);
    /* Nor text that is no public key: said as such. */
    const char *junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), junk, strlen(junk)), ASSAY_EINVAL);
    cr_assert(strstr(assay_error_last()->message, "not a PEM public key"), "%s", assay_error_last()->message);
    free(env);
    free(pem_a);
    free(pem_b);
    free(pem_s);
    assay_lab_close(&a);
    assay_lab_close(&b);
    assay_lab_close(&s);
}

static char *with_conclusion(assay_lab *lab, int certified);

static void put(const char *d, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", d, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/*
 * The DSSE tamper corpus (tests/dsse/corpus.py, made here from a real
 * signed report): assay verify, docs/verify-openssl.sh and Debian's
 * securesystemslib (Ed25519) must each give the answer of the DSSE
 * specification on every case (tests/dsse/run-corpus.sh prints the table).
 */
static void corpus_agrees(assay_lab *lab, const char *env, const char *pem, const char *alg)
{
    char d[400];
    static char out[64 * 1024];
    snprintf(d, sizeof d, "%s/dsse-%s", dir, alg);
    cr_assert_eq(th_run(out, sizeof out, "mkdir -p %s", d), 0);
    put(d, "report.json", env);
    put(d, "lab.pub.pem", pem);
    int rc = th_run(out, sizeof out, "%s/tests/dsse/run-corpus.sh %s/assay %s/report.json %s/lab.pub.pem %s %s/work 2>&1",
                    ASSAY_SOURCE_DIR, ASSAY_BINARY_DIR, d, d, lab->key, d);
    fprintf(stderr, "%s: %s\n", alg, out);
    cr_assert_eq(rc, 0, "%s: the verifiers disagree with DSSE (table above)", alg);
}

Test(report, dsse_corpus_three_verifiers_agree, .timeout = 600)
{
    both_algorithms(corpus_agrees);
}

/* docs/verify.md shows the script as it ships, and it is clean for
 * shellcheck in POSIX sh mode. */
Test(report, the_docs_show_the_script_that_ships)
{
    char out[4096];
    cr_assert_eq(th_run(out, sizeof out,
                        "awk '/<!-- verify-script -->/{f=1;next} f&&/^```sh/{g=1;next} g&&/^```/{exit} g' %s/docs/verify.md"
                        " | cmp - %s/docs/verify-openssl.sh 2>&1",
                        ASSAY_SOURCE_DIR, ASSAY_SOURCE_DIR),
                 0, "docs/verify.md and docs/verify-openssl.sh differ: %s", out);
    cr_assert_eq(th_run(out, sizeof out, "shellcheck -s sh %s/docs/verify-openssl.sh 2>&1", ASSAY_SOURCE_DIR), 0, "%s", out);
}

/* Every command of docs/verify.md's sh blocks (the script's own block
 * aside), as written, in a folder holding what the text says it holds: the
 * script, a certified report and the key; with the lab of the report. */
Test(report, the_commands_of_verify_md_run_as_written)
{
    assay_lab lab;
    make_lab(&lab, "docs-lab", ASSAY_KEY_ED25519);
    char d[400], *pem, keyid[65], alg[16];
    static char out[16384];
    snprintf(d, sizeof d, "%s/docs-cmds", dir);
    cr_assert_eq(th_run(out, sizeof out, "mkdir -p %s && cp %s/docs/verify-openssl.sh %s", d, ASSAY_SOURCE_DIR, d), 0);
    cr_assert_eq(assay_key_public(lab.key, &pem, keyid, alg), 0);
    char *env = with_conclusion(&lab, 1);
    put(d, "report.json", env);
    cr_assert_eq(th_run(out, sizeof out,
                        "awk '/<!-- verify-script -->/{skip=1} /^```sh/{on=1;next} /^```/{on=0;skip=0;next} on&&!skip' "
                        "%s/docs/verify.md > %s/cmds.sh && grep -c . %s/cmds.sh",
                        ASSAY_SOURCE_DIR, d, d),
                 0, "%s", out);
    cr_assert_geq(strtol(out, NULL, 10), 7, "too few commands found: %s", out);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && PATH=%s:$PATH ASSAY_LAB=%s sh -ex cmds.sh 2>&1", d, ASSAY_BINARY_DIR,
                        lab.dir),
                 0, "%s", out);
    cr_assert(strstr(out, "valid: signature 1 of 1"), "%s", out);
    free(env);
    free(pem);
    assay_lab_close(&lab);
}

/* A statement with predicate.conclusion set (certified 1 or 0) or taken
 * away (-1), signed by the lab. */
static char *with_conclusion(assay_lab *lab, int certified)
{
    char *payload, *env;
    cr_assert_eq(assay_report_statement(&payload, lab, 1), 0, "%s", assay_error_last()->message);
    cJSON *st = cJSON_Parse(payload), *c = cJSON_CreateObject(), *r = cJSON_CreateArray();
    cJSON_AddBoolToObject(c, "certified", certified);
    cJSON_AddStringToObject(c, "status", certified ? "certified" : "not-certified");
    if (!certified) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "target", "kunpeng-920-kylin-v10");
        cJSON_AddStringToObject(x, "code", "emulated");
        cJSON_AddStringToObject(x, "zh", "在模拟器上运行");
        cJSON_AddStringToObject(x, "en", "ran under emulation");
        cJSON_AddItemToArray(r, x);
    }
    cJSON_AddItemToObject(c, "reasons", r);
    cJSON *p = cJSON_GetObjectItem(st, "predicate");
    cJSON_DeleteItemFromObject(p, "conclusion");
    if (certified >= 0)
        cJSON_AddItemToObject(p, "conclusion", c);
    else
        cJSON_Delete(c);
    char *signed_payload = cJSON_PrintUnformatted(st);
    cr_assert_eq(assay_report_sign(&env, lab, signed_payload, strlen(signed_payload)), 0);
    free(signed_payload);
    free(payload);
    cJSON_Delete(st);
    return env;
}

/* --require-certified: 0 only for a valid, certified report; 3 for a valid
 * one that is not, with the reasons; 1 for an invalid one, as without it. */
Test(report, verify_require_certified)
{
    assay_lab lab;
    make_lab(&lab, "cert", ASSAY_KEY_ED25519);
    char d[400], out[4096], *pem, keyid[65], alg[16];
    snprintf(d, sizeof d, "%s/cert-cli", dir);
    cr_assert_eq(th_run(out, sizeof out, "mkdir -p %s", d), 0);
    cr_assert_eq(assay_key_public(lab.key, &pem, keyid, alg), 0);
    put(d, "lab.pub.pem", pem);
    char *yes = with_conclusion(&lab, 1), *no = with_conclusion(&lab, 0);
    put(d, "yes.json", yes);
    put(d, "no.json", no);
    /* The certified report with the 'not certified' one's signature. */
    cJSON *a = cJSON_Parse(yes), *b = cJSON_Parse(no);
    cJSON_ReplaceItemInObject(a, "signatures", cJSON_Duplicate(cJSON_GetObjectItem(b, "signatures"), 1));
    char *forged = cJSON_PrintUnformatted(a);
    put(d, "forged.json", forged);
    cr_assert_eq(th_run(out, sizeof out, VERIFY, d, "yes.json", "--require-certified"), 0, "%s", out);
    cr_assert(strstr(out, "valid: ") && strstr(out, ", certified,"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, VERIFY, d, "no.json", ""), 0, "%s", out);
    cr_assert(strstr(out, ", not certified,"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, VERIFY, d, "no.json", "--require-certified"), 3, "%s", out);
    cr_assert(strstr(out, "assay: verify no.json: not certified: kunpeng-920-kylin-v10: ran under emulation"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, VERIFY, d, "forged.json", "--require-certified"), 1, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, VERIFY, d, "forged.json", ""), 1, "%s", out);
    /* A report without a conclusion (made before there was one). */
    char *env = with_conclusion(&lab, -1);
    put(d, "old.json", env);
    cr_assert_eq(th_run(out, sizeof out, VERIFY, d, "old.json", ""), 0, "%s", out);
    cr_assert(strstr(out, ", no conclusion,"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, VERIFY, d, "old.json", "--require-certified"), 3, "%s", out);
    cr_assert(strstr(out, "not certified: the report has no conclusion"), "%s", out);
    free(env);
    free(forged);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(yes);
    free(no);
    free(pem);
    assay_lab_close(&lab);
}

Test(report, other_forms)
{
    assay_lab lab;
    make_lab(&lab, "forms", ASSAY_KEY_ED25519);
    char *env, *pem, *html, *xml, *md, out[8192];
    sign_run(&lab, &env, &pem);
    assay_report_check c;
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), pem, strlen(pem)), 0);
    cr_assert_eq(assay_report_html(&html, &c), 0);
    cr_assert(strstr(html, "适配测试报告 / Adaptation Test Report") && strstr(html, "<svg") == NULL,
              "no benchmark here, so no chart");
    cr_assert(strstr(html, c.keyid) && strstr(html, c.payload_sha256), "the html ties itself to the signed JSON");
    cr_assert(strstr(html, "prints &lt;hello&gt; &amp; exits"), "names are escaped");
    cr_assert(strstr(html, "(模拟 emulated)"));
    cr_assert(!strstr(html, "http:") && !strstr(html, "https:") && !strstr(html, "src="),
              "self-contained: no external resources");
    cr_assert_eq(assay_report_junit(&xml, &lab, &c), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/junit.xml", dir);
    FILE *f = fopen(path, "w");
    fputs(xml, f);
    fclose(f);
    cr_assert_eq(th_run(out, sizeof out, "xmllint --noout %s", path), 0, "JUnit XML is not well-formed: %s", out);
    cr_assert(strstr(xml, "<failure message=\"exit status 3, expected 0\" type=\"exit status 3\">"), "%s", xml);
    cr_assert(strstr(xml, "error: &lt;bad&gt; input &amp; more"), "the log tail, escaped");
    cr_assert_eq(th_run(out, sizeof out, "xmllint --xpath 'count(//testsuite)' %s", path), 0);
    cr_assert_eq(atoi(out), 3, "the conclusion, then one suite per target: %s", out);
    cr_assert_eq(assay_report_md(&md, &c), 0);
    cr_assert(strstr(md, "| kunpeng-920-kylin-v10 (emulated) | kunpeng-1 | 0/1 | fail |"), "%s", md);
    free(html);
    free(xml);
    free(md);
    free(env);
    free(pem);
    cJSON_Delete(c.statement);
    assay_lab_close(&lab);
}

Test(report, the_signing_key_must_be_private)
{
    assay_lab lab;
    make_lab(&lab, "perm", ASSAY_KEY_ED25519);
    char *env = NULL, *pem, keyid[65], alg[16];
    th_run(NULL, 0, "chmod 644 %s", lab.key);
    cr_assert_eq(assay_key_public(lab.key, &pem, keyid, alg), ASSAY_EUNSAFE);
    cr_assert_eq(assay_report_sign(&env, &lab, "{}", 2), ASSAY_EUNSAFE);
    cr_assert(strstr(assay_error_last()->message, "must be a private file"));
    assay_lab_close(&lab);
}

static const cJSON *conclusion_of(assay_lab *lab, cJSON **st)
{
    char *payload;
    cr_assert_eq(assay_report_statement(&payload, lab, 1), 0, "%s", assay_error_last()->message);
    *st = cJSON_Parse(payload);
    free(payload);
    return cJSON_GetObjectItem(cJSON_GetObjectItem(*st, "predicate"), "conclusion");
}

static int has_reason(const cJSON *c, const char *target, const char *code, const char *needle)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(c, "reasons"))
    {
        if (!strcmp(cJSON_GetObjectItem(r, "target")->valuestring, target) &&
            (!code[0] || !strcmp(cJSON_GetObjectItem(r, "code")->valuestring, code)) &&
            strstr(cJSON_GetObjectItem(r, "en")->valuestring, needle) && cJSON_GetObjectItem(r, "zh"))
            return 1;
    }
    return 0;
}

/* The verdict carries its conditions: a failed, emulated target and a
 * passing one on a host that is not what its profile says are both named,
 * and the report is not certified. */
Test(report, conclusion_names_what_is_missing)
{
    assay_lab lab;
    zx_facts = "\"facts\":{\"arch\":\"x86_64\",\"cpu\":{\"family\":\"amd\",\"model\":\"AMD EPYC 7B13\"},"
               "\"os\":{\"id\":\"debian\",\"version_id\":\"12\"},\"glibc\":\"2.36\","
               "\"kernel\":{\"release\":\"6.1.0-27-amd64\"},\"page_size\":4096,\"emulation\":{\"emulated\":false}},";
    make_lab(&lab, "cond", ASSAY_KEY_ED25519);
    cJSON *st;
    const cJSON *c = conclusion_of(&lab, &st);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "certified")));
    cr_assert_str_eq(cJSON_GetObjectItem(c, "status")->valuestring, "not-certified");
    cr_assert_str_eq(cJSON_GetObjectItem(c, "zh")->valuestring, "未认证");
    cr_assert(has_reason(c, "kunpeng-920-kylin-v10", "result", "fail"));
    cr_assert(has_reason(c, "kunpeng-920-kylin-v10", "emulated", "emulation"));
    cr_assert(has_reason(c, "zhaoxin-kx6000-uos-20", "host-mismatch", "glibc 2.36 (profile 2.28)"));
    cr_assert(has_reason(c, "zhaoxin-kx6000-uos-20", "host-mismatch", "os.id debian (profile uos)"));
    cr_assert(has_reason(c, "zhaoxin-kx6000-uos-20", "host-mismatch", "kernel 6.1 (profile 4.19)"));
    cr_assert(has_reason(c, "zhaoxin-kx6000-uos-20", "host-mismatch", "cpu.family amd (profile zhaoxin)"));
    cr_assert(has_reason(c, "zhaoxin-kx6000-uos-20", "not-isolated", "unprivileged"),
              "a job-start without isolation: tests may have run as root");
    cr_assert(!has_reason(c, "zhaoxin-kx6000-uos-20", "result", ""), "the zhaoxin target passed");
    const cJSON *t1 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "targets"), 1);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(t1, "certifies")));
    cr_assert_str_eq(cJSON_GetObjectItem(t1, "verdict")->valuestring, "pass");
    cJSON_Delete(st);
    assay_lab_close(&lab);
}

/* A target whose host matches its profile in every measured fact, with no
 * preflight error against it, certifies; the run does not, because its
 * other target failed. */
Test(report, matching_host_certifies_its_target)
{
    assay_lab lab;
    zx_facts = "\"facts\":{\"arch\":\"x86_64\",\"cpu\":{\"family\":\"zhaoxin\",\"model\":\"ZHAOXIN KaiXian KX-6000 @ 3.0GHz\"},"
               "\"os\":{\"id\":\"uos\",\"version_id\":\"20\"},\"glibc\":\"2.28\","
               "\"kernel\":{\"release\":\"4.19.0-amd64-desktop\"},\"page_size\":4096,\"emulation\":{\"emulated\":false}},"
               "\"isolation\":{\"run_user\":\"assay-run\",\"uid\":999,\"note\":null},";
    make_lab(&lab, "match", ASSAY_KEY_ED25519);
    cJSON *st;
    const cJSON *c = conclusion_of(&lab, &st);
    const cJSON *t1 = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "targets"), 1);
    char *conds = cJSON_PrintUnformatted(cJSON_GetObjectItem(t1, "conditions"));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(t1, "certifies")), "conditions: %s", conds);
    free(conds);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(c, "certified")), "the kunpeng target failed");
    cr_assert(!has_reason(c, "zhaoxin-kx6000-uos-20", "", ""));
    cJSON_Delete(st);
    /* The page says whom the tests ran as, and where they were not isolated. */
    char *env, *pem, *html;
    sign_run(&lab, &env, &pem);
    assay_report_check chk;
    cr_assert_eq(assay_report_verify(&chk, env, strlen(env), pem, strlen(pem)), 0);
    cr_assert_eq(assay_report_html(&html, &chk), 0);
    cr_assert(strstr(html, "tests ran as assay-run (uid 999)"), "the isolation row");
    cr_assert(strstr(html, "tests not isolated: "), "the kunpeng target's job-start says nothing of it");
    free(html);
    free(env);
    free(pem);
    cJSON_Delete(chk.statement);
    assay_lab_close(&lab);
}

/* ---- hostile text in every field a vendor or a host controls -------------- */

/* Script that marks the page if it ever runs; the marker is put together at
 * run time, so the text of the script itself never contains it. */
#define MARK "document.documentElement.setAttribute('data-x','PW'+'NED')"
static const char HOSTILE[] =
    "<script>document.title='PW'+'NED';" MARK "</script>"
    "<img src=x onerror=\"" MARK "\">"
    "\"'><svg onload=\"" MARK "\"></svg>' onmouseover='" MARK "' x=\""
    "</title></style></textarea></td></table><script>" MARK "</script>"
    "]]></failure><![CDATA[x]]> &amp; &#60; <!-- --> <?pi x?>"
    "\x01\x08\x0b\x0c\x1b[31m\x7f\xc2\x9b"
    "\xff\xfe\xc0\xaf\xed\xa0\x80\xef\xbf\xbe\xe2\x80\xae"
    "| pipe\nnewline\r\t`*_[x](javascript:alert(1)) ### #"
    "中文厂商\xe4\xb8";

/* HOSTILE again and again, 64 KiB. */
static char *big_hostile(void)
{
    size_t n = 64 * 1024, h = strlen(HOSTILE);
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i += h)
        memcpy(s + i, HOSTILE, n - i < h ? n - i : h);
    s[n] = '\0';
    return s;
}

static cJSON *str(const char *s)
{
    return cJSON_CreateString(s);
}

/* A preflight object with one finding of each severity. */
static cJSON *hostile_preflight(int errors)
{
    cJSON *pf = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(pf, "files"), *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(pf, "errors", errors);
    cJSON_AddNumberToObject(pf, "warnings", 1);
    cJSON_AddNumberToObject(pf, "elf_files", 3);
    cJSON_AddNumberToObject(pf, "not_for_host", 1);
    cJSON_AddNumberToObject(pf, "not_examined", 4);
    cJSON_AddItemToObject(f, "path", str(HOSTILE));
    cJSON *fl = cJSON_AddArrayToObject(f, "findings");
    for (int i = 0; i < 2; i++) {
        cJSON *fd = cJSON_CreateObject();
        cJSON_AddStringToObject(fd, "severity", i ? "warning" : "error");
        cJSON_AddItemToObject(fd, "check", str(HOSTILE));
        cJSON_AddItemToObject(fd, "found", str(HOSTILE));
        cJSON_AddItemToObject(fd, "expected", str(HOSTILE));
        cJSON_AddItemToObject(fd, "hint", str(HOSTILE));
        cJSON_AddItemToArray(fl, fd);
    }
    cJSON_AddItemToArray(files, f);
    return pf;
}

static cJSON *hostile_step(const char *verdict, const char *reason, const char *out_sha, const char *err_sha)
{
    cJSON *x = cJSON_CreateObject(), *logs;
    cJSON_AddItemToObject(x, "id", str("t1"));
    cJSON_AddItemToObject(x, "name", str(HOSTILE));
    cJSON_AddItemToObject(x, "verdict", str(verdict));
    cJSON_AddItemToObject(x, "reason", str(reason));
    cJSON_AddNullToObject(x, "exit_code");
    cJSON_AddItemToObject(x, "signal", str(HOSTILE));
    cJSON_AddNumberToObject(x, "duration_s", 1.25);
    logs = cJSON_AddObjectToObject(x, "logs");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(logs, "stdout"), "sha256", out_sha);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(logs, "stderr"), "sha256", err_sha);
    return x;
}

enum { T_INSTALL, T_PF_PACKAGE, T_PF_HOST, T_INFRA, T_CANCELED, T_OK, NTARGETS };

/* A target whose every string is hostile, in one of six situations. */
static cJSON *hostile_target(int kind, const char *big, const char *out_sha, const char *err_sha)
{
    cJSON *t = cJSON_CreateObject(), *o;
    o = cJSON_AddObjectToObject(t, "profile");
    cJSON_AddItemToObject(o, "id", str(HOSTILE));
    cJSON_AddItemToObject(o, "name", str(kind == T_OK ? big : HOSTILE));
    o = cJSON_AddObjectToObject(t, "host");
    cJSON_AddItemToObject(o, "name", str(HOSTILE));
    cJSON_AddItemToObject(o, "hostkey", str(HOSTILE));
    cJSON *f = cJSON_AddObjectToObject(t, "facts");
    cJSON_AddItemToObject(f, "arch", str(HOSTILE));
    o = cJSON_AddObjectToObject(f, "cpu");
    cJSON_AddItemToObject(o, "vendor", str(HOSTILE));
    cJSON_AddItemToObject(o, "model", str(big));
    cJSON_AddItemToObject(cJSON_AddObjectToObject(f, "os"), "pretty_name", str(HOSTILE));
    cJSON_AddItemToObject(cJSON_AddObjectToObject(f, "kernel"), "release", str(HOSTILE));
    cJSON_AddItemToObject(f, "glibc", str(HOSTILE));
    cJSON_AddNumberToObject(f, "page_size", 4096);
    cJSON_AddBoolToObject(t, "emulated", kind == T_INSTALL);
    o = cJSON_AddObjectToObject(t, "agent");
    cJSON_AddItemToObject(o, "version", str(HOSTILE));
    cJSON_AddItemToObject(o, "triple", str(HOSTILE));
    cJSON_AddItemToObject(o, "sha256", str(HOSTILE));
    o = cJSON_AddObjectToObject(t, "preflight");
    cJSON_AddItemToObject(o, "package", hostile_preflight(kind == T_PF_PACKAGE ? 2 : 0));
    cJSON_AddItemToObject(o, "host", kind == T_PF_HOST ? hostile_preflight(1) : cJSON_CreateNull());
    cJSON *steps = cJSON_AddObjectToObject(t, "steps"), *tests = cJSON_AddArrayToObject(t, "tests");
    static const char *const verdicts[] = {"fail", "fail", "fail", "error", "canceled", "pass"};
    if (kind != T_PF_PACKAGE && kind != T_INFRA) {
        cJSON_AddItemToObject(steps, "install", hostile_step(kind == T_INSTALL ? "fail" : "pass", HOSTILE, out_sha, err_sha));
        cJSON_AddItemToObject(steps, "uninstall", hostile_step("pass", "", out_sha, err_sha));
        const char *tv = kind == T_OK || kind == T_CANCELED ? "pass" : "skipped";
        cJSON_AddItemToArray(tests, hostile_step(tv, kind == T_PF_HOST ? "preflight errors on the host" : HOSTILE, out_sha, err_sha));
        if (kind == T_INSTALL) /* a verdict no agent should send */
            cJSON_AddItemToArray(tests, hostile_step(HOSTILE, HOSTILE, out_sha, err_sha));
    }
    cJSON *benches = cJSON_AddArrayToObject(t, "benchmarks"), *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "id", str("b1"));
    cJSON_AddItemToObject(b, "name", str(HOSTILE));
    cJSON_AddItemToObject(b, "unit", str(HOSTILE));
    cJSON *vs = cJSON_AddArrayToObject(b, "verdicts");
    cJSON_AddItemToArray(vs, str(kind == T_OK ? "pass" : HOSTILE));
    cJSON_AddItemToArray(benches, b);
    cJSON_AddItemToObject(t, "verdict", str(verdicts[kind]));
    cJSON_AddItemToObject(t, "reason", str(HOSTILE));
    cJSON_AddNumberToObject(t, "attempts", 2);
    cJSON *hist = cJSON_AddArrayToObject(t, "attempt_history");
    for (int i = 1; i <= 2; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "attempt", i);
        cJSON_AddItemToObject(a, "host", str(HOSTILE));
        cJSON_AddItemToObject(a, "outcome", str(HOSTILE));
        cJSON_AddItemToObject(a, "reason", str(HOSTILE));
        cJSON_AddItemToArray(hist, a);
    }
    cJSON_AddBoolToObject(t, "certifies", kind == T_OK);
    cJSON *conds = cJSON_AddArrayToObject(t, "conditions");
    if (kind != T_OK) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddItemToObject(c, "code", str(HOSTILE));
        cJSON_AddItemToObject(c, "zh", str(HOSTILE));
        cJSON_AddItemToObject(c, "en", str(HOSTILE));
        cJSON_AddItemToArray(conds, c);
    }
    cJSON_AddBoolToObject(t, "host_reset", kind != T_INSTALL);
    return t;
}

/* The predicate of issue 12's shape with hostile text everywhere. */
static cJSON *hostile_statement(const char *big, const char *out_sha, const char *err_sha)
{
    cJSON *st = cJSON_CreateObject(), *p = cJSON_AddObjectToObject(st, "predicate"), *o;
    cJSON_AddStringToObject(st, "_type", "https://in-toto.io/Statement/v1");
    cJSON_AddItemToObject(p, "report_number", str(HOSTILE));
    cJSON_AddItemToObject(p, "centre", str(HOSTILE));
    cJSON_AddItemToObject(p, "date", str(HOSTILE));
    o = cJSON_AddObjectToObject(p, "product");
    cJSON_AddItemToObject(o, "name", str(big));
    cJSON_AddItemToObject(o, "version", str(HOSTILE));
    cJSON_AddItemToObject(o, "vendor", str(HOSTILE));
    cJSON_AddItemToObject(cJSON_AddObjectToObject(p, "submission"), "sha256", str(HOSTILE));
    cJSON_AddItemToObject(p, "verdict", str(HOSTILE));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "notes"), str(HOSTILE));
    o = cJSON_AddObjectToObject(p, "conclusion");
    cJSON_AddFalseToObject(o, "certified");
    cJSON_AddItemToObject(o, "zh", str(HOSTILE));
    cJSON_AddItemToObject(o, "en", str(HOSTILE));
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(r, "target", str(HOSTILE));
    cJSON_AddItemToObject(r, "code", str(HOSTILE));
    cJSON_AddItemToObject(r, "zh", str(HOSTILE));
    cJSON_AddItemToObject(r, "en", str(big));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "reasons"), r);
    cJSON *cmp = cJSON_CreateObject(), *row = cJSON_CreateObject();
    cJSON_AddItemToObject(cmp, "benchmark", str(HOSTILE));
    cJSON_AddItemToObject(cmp, "name", str(HOSTILE));
    cJSON_AddItemToObject(cmp, "unit", str(HOSTILE));
    cJSON_AddItemToObject(cmp, "better", str(HOSTILE));
    cJSON_AddItemToObject(row, "profile", str(HOSTILE));
    cJSON_AddTrueToObject(row, "emulated");
    cJSON_AddNumberToObject(row, "median", 2);
    cJSON_AddNumberToObject(row, "min", 1);
    cJSON_AddNumberToObject(row, "max", 3);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(cmp, "targets"), row);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(p, "comparison"), cmp);
    cJSON *targets = cJSON_AddArrayToObject(p, "targets");
    for (int k = 0; k < NTARGETS; k++)
        cJSON_AddItemToArray(targets, hostile_target(k, big, out_sha, err_sha));
    return st;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* How many nodes an XPath expression finds in a file, by xmllint. */
static int xpath_count(const char *path, const char *expr)
{
    char out[256];
    cr_assert_eq(th_run(out, sizeof out, "xmllint --xpath \"count(%s)\" %s", expr, path), 0, "%s: %s", expr, out);
    return (int)strtol(out, NULL, 10);
}

Test(report, hostile_text_is_text_in_every_form)
{
    assay_lab lab;
    make_lab(&lab, "hostile", ASSAY_KEY_ED25519);
    /* The logs whose tails the JUnit failures show: one all CJK, so a tail
     * cut by bytes would start inside a character; one hostile. */
    char out_sha[65], err_sha[65], path[512], out[8192];
    size_t cjk_len = 3 * 1000 + 3;
    char *cjk = malloc(cjk_len + 1), *big = big_hostile();
    for (size_t i = 0; i < 1000; i++)
        memcpy(cjk + 3 * i, "中", 3);
    memcpy(cjk + 3000, "END", 4);
    cr_assert_eq(assay_blob_put_mem(lab.blobs, cjk, cjk_len, out_sha), 0);
    cr_assert_eq(assay_blob_put_mem(lab.blobs, HOSTILE, strlen(HOSTILE), err_sha), 0);
    assay_report_check c = {.keyid = "00ff", .alg = "ed25519", .payload_sha256 = "aa55"};
    c.statement = hostile_statement(big, out_sha, err_sha);

    /* HTML: a real parser finds only the page's own elements, and the
     * hostile text as text. The page and a control page that holds the
     * same text unescaped go to the browser check (report-browser). */
    char *html, *xml, *md, dir2[400];
    cr_assert_eq(assay_report_html(&html, &c), 0, "%s", assay_error_last()->message);
    /* The package preflight's counts come with what it read. */
    cr_assert(strstr(html, "<th>预检覆盖 Preflight coverage</th><td>2 errors, 1 warning, 3 ELF files read, 1 not for this "
                           "host, 4 not examined</td>"),
              "no coverage row");
    snprintf(dir2, sizeof dir2, "%s/hostile-report", ASSAY_BINARY_DIR);
    cr_assert_eq(th_run(NULL, 0, "mkdir -p %s", dir2), 0);
    snprintf(path, sizeof path, "%s/report.html", dir2);
    write_file(path, html);
    cr_assert_eq(th_run(out, sizeof out, "python3 %s/tests/check-report.py html %s", ASSAY_SOURCE_DIR, path), 0, "%s", out);
    size_t clen = strlen(HOSTILE) + 200;
    char *control = malloc(clen);
    snprintf(control, clen, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>control</title></head><body>%s</body></html>\n",
             HOSTILE);
    snprintf(path, sizeof path, "%s/control.html", dir2);
    write_file(path, control);
    cr_assert_neq(th_run(out, sizeof out, "python3 %s/tests/check-report.py html %s", ASSAY_SOURCE_DIR, path), 0,
                  "the checker must see the unescaped control page: %s", out);
    free(control);

    /* JUnit: valid against the JUnit schema, counts that add up, and the
     * mapping CI gates on. */
    cr_assert_eq(assay_report_junit(&xml, &lab, &c), 0, "%s", assay_error_last()->message);
    snprintf(path, sizeof path, "%s/junit.xml", dir2);
    write_file(path, xml);
    cr_assert_eq(th_run(out, sizeof out, "xmllint --noout --schema %s/tests/data/junit.xsd %s 2>&1 | tail -5",
                        ASSAY_SOURCE_DIR, path), 0);
    cr_assert(strstr(out, "validates"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "python3 %s/tests/check-report.py junit %s", ASSAY_SOURCE_DIR, path), 0, "%s", out);
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite"), 1 + NTARGETS);
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[1][starts-with(@name,'结论')]/testcase/failure"), 1,
                 "the conclusion comes first, and fails");
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[2]/testcase[@name='安装 install']/failure"), 1,
                 "an install failure is a failure, not a skip");
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[2]/testcase/failure[contains(.,'END') and "
                                   "contains(.,'--- stdout (tail) ---\n中中')]"), 1,
                 "the log tail starts on a character");
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[3]/testcase[@name='预检 preflight']/failure"), 1,
                 "a preflight stop before install is a failure");
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[4]/testcase[@name='预检 preflight']/failure"
                                   "[@message='preflight errors on the host']"), 1,
                 "a preflight stop on the host is a failure");
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[5]/testcase[@name='目标 target']/error[@type='infrastructure']"), 1);
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[6]/testcase[@name='目标 target']/error[@type='infrastructure']"), 1,
                 "canceled is an infrastructure error");
    for (int i = 2; i <= 6; i++) {
        char e[160];
        snprintf(e, sizeof e, "/testsuites/testsuite[%d]/testcase[@name='认证 certification']/failure", i);
        cr_assert_eq(xpath_count(path, e), 1, "target %d does not certify: a failing testcase", i - 1);
    }
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[7][@failures=0 and @errors=0]"), 1);
    for (int i = 2; i <= 6; i++) {
        char e[160];
        snprintf(e, sizeof e, "/testsuites/testsuite[%d]/testcase[error[@type='benchmark']]", i);
        cr_assert_eq(xpath_count(path, e), 1, "target %d: a benchmark verdict assay does not know is an error", i - 1);
    }
    cr_assert_eq(xpath_count(path, "//skipped"), 2, "tests skipped after install failure and preflight: %s", xml);

    /* Markdown: every table row has its five columns, every line starts
     * with the page's own text, nothing is raw markup. */
    cr_assert_eq(assay_report_md(&md, &c), 0);
    int rows = 0;
    for (char *line = md, *nl; *line; line = nl + 1) {
        if (!(nl = strchr(line, '\n')))
            nl = line + strlen(line) - 1;
        else
            *nl = '\0';
        if (!*line)
            continue;
        static const char *const starts[] = {"### ", "- ", "Adaptation report ", "| ", "|---", "Benchmark ",
                                             "Target ", "> ", "Signed ("};
        int ok = 0;
        for (size_t i = 0; i < sizeof starts / sizeof *starts; i++)
            ok |= !strncmp(line, starts[i], strlen(starts[i]));
        cr_assert(ok, "a line starts with vendor text: %.80s", line);
        int bars = 0;
        for (char *q = line; *q; q++) {
            cr_assert(!strchr("<>`*[]", *q) || (q > line && q[-1] == '\\') || !strncmp(line, "Signed (", 8) ||
                          (q == line && *q == '>'),
                      "raw markup at %td: %.80s", q - line, line);
            bars += *q == '|' && (q == line || q[-1] != '\\');
        }
        if (line[0] == '|') {
            cr_assert_eq(bars, 6, "a row of %d bars: %.120s", bars, line);
            rows++;
        }
    }
    cr_assert_eq(rows, 2 + NTARGETS);
    free(md);
    free(html);
    free(xml);
    free(cjk);
    free(big);
    cJSON_Delete(c.statement);
    assay_lab_close(&lab);
}

/* A report made before the conclusion existed renders without it. */
Test(report, forms_of_a_payload_without_conclusion)
{
    assay_lab lab;
    make_lab(&lab, "old", ASSAY_KEY_ED25519);
    char *env, *pem, *html, *xml, *md;
    sign_run(&lab, &env, &pem);
    assay_report_check c;
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), pem, strlen(pem)), 0);
    cJSON *p = cJSON_GetObjectItem(c.statement, "predicate");
    cJSON_DeleteItemFromObject(p, "conclusion");
    cr_assert_eq(assay_report_html(&html, &c), 0);
    cr_assert_null(strstr(html, "结论："));
    cr_assert_eq(assay_report_junit(&xml, &lab, &c), 0);
    cr_assert_null(strstr(xml, "certif"));
    cr_assert(strstr(xml, "<testsuite name=\"kunpeng-920-kylin-v10\""), "%s", xml);
    cr_assert_eq(assay_report_md(&md, &c), 0);
    cr_assert(strstr(md, "### ") == md && !strstr(md, "ertified"), "%s", md);
    free(html);
    free(xml);
    free(md);
    free(env);
    free(pem);
    cJSON_Delete(c.statement);
    assay_lab_close(&lab);
}

/* assay_report_outcome is what every reader of a report is told (the API,
 * webhooks, the portal): the signed conclusion and each target's, read in
 * one place; a report without a conclusion certifies nothing and says so
 * with null. assay_report_signed is the one maker behind the JSON form. */
Test(report, outcome_is_the_signed_conclusion)
{
    assay_lab lab;
    zx_facts = "\"facts\":{\"arch\":\"x86_64\",\"cpu\":{\"family\":\"zhaoxin\",\"model\":\"ZHAOXIN KaiXian KX-6000 @ 3.0GHz\"},"
               "\"os\":{\"id\":\"uos\",\"version_id\":\"20\"},\"glibc\":\"2.28\","
               "\"kernel\":{\"release\":\"4.19.0-amd64-desktop\"},\"page_size\":4096,\"emulation\":{\"emulated\":false}},"
               "\"isolation\":{\"run_user\":\"assay-run\",\"uid\":999,\"note\":null},";
    make_lab(&lab, "outcome", ASSAY_KEY_ED25519);
    char *env = NULL, *json = NULL;
    const char *type;
    assay_report_check c = {0};
    cJSON *o = NULL;
    cr_assert_eq(assay_report_signed(&env, &c, &lab, 1, 0), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_report_make(&json, &type, &lab, 1, 0, "json"), 0);
    cr_assert_str_eq(json, env, "the JSON form is the signed report");
    cr_assert_eq(assay_report_outcome(&o, c.statement), 0);
    const cJSON *p = cJSON_GetObjectItem(c.statement, "predicate");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "verdict")->valuestring, cJSON_GetObjectItem(p, "verdict")->valuestring);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(o, "certified")), "the kunpeng target failed");
    cr_assert_str_eq(cJSON_GetObjectItem(o, "status")->valuestring, "not-certified");
    cr_assert(cJSON_Compare(cJSON_GetObjectItem(o, "reasons"),
                            cJSON_GetObjectItem(cJSON_GetObjectItem(p, "conclusion"), "reasons"), 1));
    cr_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "product"), "name")->valuestring, "hello");
    const cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "targets"), 0),
                *t1 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "targets"), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(t0, "profile")->valuestring, "kunpeng-920-kylin-v10");
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(t0, "certifies")) && cJSON_IsTrue(cJSON_GetObjectItem(t0, "emulated")));
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(t1, "certifies")) && cJSON_IsFalse(cJSON_GetObjectItem(t1, "emulated")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t1, "conditions")), 0);
    cJSON_Delete(o);
    /* Certified when the conclusion says so, and only then. */
    cJSON *con = cJSON_GetObjectItem(p, "conclusion");
    cJSON_ReplaceItemInObject(con, "certified", cJSON_CreateTrue());
    cr_assert_eq(assay_report_outcome(&o, c.statement), 0);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "certified")));
    cr_assert_str_eq(cJSON_GetObjectItem(o, "status")->valuestring, "certified");
    cJSON_Delete(o);
    /* A report made before conclusions: null, not certified. */
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(c.statement, "predicate"), "conclusion");
    cr_assert_eq(assay_report_outcome(&o, c.statement), 0);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "certified")));
    cr_assert_str_eq(cJSON_GetObjectItem(o, "status")->valuestring, "not-certified");
    cJSON_Delete(o);
    cJSON *bare = cJSON_CreateObject();
    cr_assert_eq(assay_report_outcome(&o, bare), ASSAY_EINVAL);
    cJSON_Delete(bare);
    cJSON_Delete(c.statement);
    free(env);
    free(json);
    assay_lab_close(&lab);
}

/* The conclusion (issue 12's payload fields, added here by hand the way
 * assay_report_statement writes them) comes first in every form. */
Test(report, the_conclusion_comes_first)
{
    assay_lab lab;
    make_lab(&lab, "concl", ASSAY_KEY_ED25519);
    char *env, *pem, *html, *xml, *md, path[400], out[4096];
    sign_run(&lab, &env, &pem);
    assay_report_check c;
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), pem, strlen(pem)), 0);
    cJSON *p = cJSON_GetObjectItem(c.statement, "predicate");
    cJSON_DeleteItemFromObject(p, "conclusion");
    cJSON *con = cJSON_Parse("{\"certified\":false,\"status\":\"not-certified\",\"zh\":\"未认证\","
                             "\"en\":\"not certified\","
                             "\"reasons\":[{\"target\":\"kunpeng-920-kylin-v10\",\"code\":"
                             "\"emulated\",\"zh\":\"模拟环境\","
                             "\"en\":\"ran under emulation\"}]}");
    cJSON_AddItemToObject(p, "conclusion", con);
    cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(p, "targets"))
    {
        int first = t == cJSON_GetArrayItem(cJSON_GetObjectItem(p, "targets"), 0);
        cJSON_DeleteItemFromObject(t, "certifies");
        cJSON_DeleteItemFromObject(t, "conditions");
        cJSON_AddBoolToObject(t, "certifies", !first);
        cJSON_AddItemToObject(
            t, "conditions",
            cJSON_Parse(
                first
                    ? "[{\"code\":\"emulated\",\"zh\":\"模拟环境\",\"en\":\"ran under emulation\"}]"
                    : "[]"));
    }
    cr_assert_eq(assay_report_html(&html, &c), 0);
    const char *h2 = strstr(html, "结论：未认证 / Conclusion: not certified"),
               *meta = strstr(html, "报告编号 Report number");
    cr_assert(h2 && meta && h2 < meta, "the conclusion before everything else");
    cr_assert(strstr(h2, "<li><b>kunpeng-920-kylin-v10</b>: 模拟环境 / ran under emulation</li>"),
              "%s", h2);
    cr_assert(
        strstr(html,
               "<td class=\"fail\">否 no<ul><li>模拟环境 / ran under emulation</li></ul></td>"),
        "%s", html);
    cr_assert_eq(assay_report_md(&md, &c), 0);
    cr_assert(!strncmp(md,
                       "### 未认证 Not certified: hello 1.0: fail\n\n- kunpeng-920-kylin-v10: "
                       "模拟环境 / ran under emulation\n",
                       strlen("### 未认证 Not certified: hello 1.0: fail\n\n- "
                              "kunpeng-920-kylin-v10: 模拟环境 / ran under emulation\n")),
              "%s", md);
    cr_assert(strstr(md, "| kunpeng-920-kylin-v10 (emulated) | kunpeng-1 | 0/1 | fail | 否 no; "
                         "模拟环境 / ran under emulation |"),
              "%s", md);
    cr_assert(strstr(md, "| zhaoxin-kx6000-uos-20 | zhaoxin-1 | 1/1 | pass | 是 yes |"), "%s", md);
    cr_assert_eq(assay_report_junit(&xml, &lab, &c), 0);
    snprintf(path, sizeof path, "%s/concl.xml", dir);
    write_file(path, xml);
    cr_assert_eq(th_run(out, sizeof out, "xmllint --noout --schema %s/tests/data/junit.xsd %s",
                        ASSAY_SOURCE_DIR, path),
                 0, "%s", out);
    cr_assert_eq(xpath_count(path,
                             "/testsuites/testsuite[1]/testcase[@name='认证 certification']/failure"
                             "[@message='未认证 not certified: 模拟环境 / ran under emulation']"),
                 1, "%s", xml);
    cr_assert_eq(
        xpath_count(path,
                    "/testsuites/testsuite[2]/testcase[1][@name='认证 certification']/failure"),
        1, "%s", xml);
    cr_assert_eq(
        xpath_count(
            path,
            "/testsuites/testsuite[3]/testcase[1][@name='认证 certification' and not(failure)]"),
        1, "%s", xml);
    cr_assert_eq(xpath_count(path, "/testsuites/testsuite[3][@failures=0 and @errors=0]"), 1, "%s",
                 xml);
    free(html);
    free(xml);
    free(md);
    free(env);
    free(pem);
    cJSON_Delete(c.statement);
    assay_lab_close(&lab);
}

/* Base64 as DSSE allows it (either alphabet, padding optional), and only
 * one spelling of each byte string. */
Test(report, base64_boundaries)
{
    static const struct {
        const char *in;
        const char *out; /* NULL: refused */
    } c[] = {
        {"", ""},           {"QQ==", "A"},      {"QQ", "A"},       {"QUI=", "AB"},    {"QUI", "AB"},
        {"QUJD", "ABC"},    {"-_8=", "\xfb\xff"}, {"-_8", "\xfb\xff"}, {"+/8=", "\xfb\xff"}, {"+_8=", NULL},
        {"QR==", NULL},     {"QUJ=", NULL},     {"Q===", NULL},    {"QQ=", NULL},     {"Q", NULL},
        {"QUJDR", NULL},    {"QQ==QQ==", NULL}, {"=QQ=", NULL},    {"QQ ==", NULL},   {"QU\nJD", NULL},
        {"QUJD\n", NULL},   {"Q.==", NULL},     {"QQ==\x00", NULL},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        size_t n = 0, len = strlen(c[i].in) + (i == sizeof c / sizeof *c - 1);
        unsigned char *b = assay_base64_decode(c[i].in, len, &n);
        if (!c[i].out) {
            cr_assert_null(b, "'%s' decoded", c[i].in);
            continue;
        }
        cr_assert_not_null(b, "'%s' refused", c[i].in);
        cr_assert_eq(n, strlen(c[i].out), "'%s'", c[i].in);
        cr_assert_eq(memcmp(b, c[i].out, n), 0, "'%s'", c[i].in);
        free(b);
    }
    /* Every length round-trips, both ways of padding. */
    unsigned char bytes[64];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof bytes; len++) {
        char *e = assay_base64_encode(bytes, len);
        size_t n, elen = strlen(e);
        unsigned char *d = assay_base64_decode(e, elen, &n);
        cr_assert(d && n == len && !memcmp(d, bytes, len), "length %zu", len);
        free(d);
        while (elen && e[elen - 1] == '=')
            elen--;
        d = assay_base64_decode(e, elen, &n);
        cr_assert(d && n == len && !memcmp(d, bytes, len), "length %zu unpadded", len);
        free(d);
        free(e);
    }
}

/* What the strict check lets through to cJSON, and what it stops. */
Test(report, strict_json_boundaries)
{
    static const char *const ok[] = {
        "{}", " \t\r\n{\"a\":[1,-0,0.5,-1e+9,2E-3,true,false,null,\"\"]} \r\n", "\"\\u00e9\\ud83d\\ude00\\/\\b\"",
        "{\"\xe4\xb8\xad\":\"\xf0\x9f\x98\x80\"}", "[[[]]]", "0",
    };
    static const char *const bad[] = {
        "",         "{",          "{}x",        "{}{}",        "{\"a\":01}",    "{\"a\":1.}",   "{\"a\":.5}",
        "{\"a\":NaN}", "{\"a\":+1}", "[1,]",      "{\"a\":1,}",   "{'a':1}",       "\"\\x\"",      "\"\\u12\"",
        "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"a\tb\"", "\"\xff\"", "\"\xc0\xaf\"",
        "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\x0b{}", "\xef\xbb\xbf{}", "{}\x00", "[1 2]", "{\"a\" 1}", "tru",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        cr_assert_eq(assay_json_strict(ok[i], strlen(ok[i])), 0, "refused %zu: %s", i, assay_error_last()->message);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t len = strlen(bad[i]) + (strcmp(bad[i], "{}") == 0); /* "{}\0": the NUL counts */
        cr_assert_eq(assay_json_strict(bad[i], len), ASSAY_EINVAL, "accepted %zu", i);
    }
    /* 64 levels pass, 65 do not. */
    char deep[200];
    for (int levels = 64; levels <= 65; levels++) {
        memset(deep, '[', (size_t)levels);
        memset(deep + levels, ']', (size_t)levels);
        cr_assert_eq(assay_json_strict(deep, 2 * (size_t)levels), levels == 64 ? 0 : ASSAY_EINVAL, "%d", levels);
    }
    /* A name twice, at any depth; the same name in two objects is fine. */
    cJSON *j = cJSON_Parse("{\"a\":[{\"b\":1,\"c\":2},{\"b\":1}],\"d\":{\"e\":{\"f\":1,\"g\":2,\"f\":3}}}");
    cr_assert_eq(assay_json_unique_names(j), ASSAY_EINVAL);
    cJSON_Delete(j);
    j = cJSON_Parse("{\"a\":[{\"b\":1,\"c\":2},{\"b\":1}],\"d\":{\"e\":{\"f\":1,\"g\":2}}}");
    cr_assert_eq(assay_json_unique_names(j), 0);
    cJSON_Delete(j);
}

/* ---- benchmark figures and comparisons (issue 18) -------------------------- */

/* The samples of tests/data/stats-reference.py: the interval of "base"
 * is its reference [99.7, 102.05] under the report's seed. */
static const double BASE[] = {101.2, 99.8, 100.4, 102.9, 98.7, 100.1, 101.7, 99.3, 100.9, 103.4};
static const double AGAIN[] = {100.6, 101.9, 99.5, 100.2, 102.2, 98.9, 101.1, 100.7, 99.9, 102.6};
static const double SLOWER[] = {131.5, 130.2, 133.0, 129.1, 132.4, 130.8, 134.2, 129.9, 131.1, 130.5};
static const double NOISY[] = {48.8, 101.9, 77.0, 290.0, 63.5, 95.2, 410.0, 70.1, 120.4, 55.0};

static const char *const BENCH_PROFILES[] = {"kunpeng-920-kylin-v10", "phytium-s2500-kylin-v10",
                                             "zhaoxin-kx6000-uos-20", "loongson-3a5000-kylin-v10"};

/* A finished run of the bench package on the four profiles: each target's
 * samples (10), after one warm-up run of 500 ms; the last is emulated. */
static int64_t bench_run(assay_lab *lab, const char *pkg, const double *const samples[4])
{
    int64_t run, first = 0;
    char *profs[4];
    memcpy(profs, BENCH_PROFILES, sizeof profs);
    cr_assert_eq(assay_store_run_submit(lab->store, pkg, profs, 4, 0, 0, NULL, &run), 0);
    assay_job_rec *jobs;
    size_t nj;
    cr_assert_eq(assay_store_run_jobs(lab->store, run, &jobs, &nj), 0);
    cr_assert_eq(nj, 4);
    for (size_t k = 0; k < 4; k++) {
        int64_t j = jobs[k].id, seq = 0;
        char host[32], body[1024];
        first = first ? first : j;
        snprintf(host, sizeof host, "host-%zu", k);
        cr_assert_eq(assay_store_job_assign(lab->store, j, host), 0);
        cr_assert_eq(assay_store_job_set_running(lab->store, j, "ab12"), 0);
        snprintf(body, sizeof body, "\"facts\":{\"arch\":\"x86_64\",\"emulation\":{\"emulated\":%s}},"
                                    "\"agent\":{\"version\":\"0.1.0\",\"triple\":\"x86_64-linux-gnu\"}",
                 k == 3 ? "true" : "false");
        ev(lab, j, seq++, "job-start", body);
        for (int r = 1; r <= 11; r++) {
            double v = r == 1 ? 500 : samples[k][r - 2];
            snprintf(body, sizeof body, "\"step\":\"startup\",\"kind\":\"bench\",\"name\":\"start and exit\",\"run\":%d,"
                                        "\"runs\":31,\"warmup\":%s", r, r == 1 ? "true" : "false");
            ev(lab, j, seq++, "step-start", body);
            snprintf(body, sizeof body, "\"step\":\"startup\",\"kind\":\"bench\",\"run\":%d,\"verdict\":\"pass\","
                                        "\"reason\":null,\"exit_code\":0,\"value\":%.17g,\"unit\":\"ms\",\"warmup\":%s%s",
                     r, v, r == 1 ? "true" : "false",
                     r == 11 ? ",\"stop\":{\"reason\":\"max\",\"samples\":10,\"warmup\":1,\"rse\":0.005}" : "");
            ev(lab, j, seq++, "step-end", body);
        }
        ev(lab, j, seq++, "job-end", "\"outcome\":\"passed\",\"reason\":null");
        cr_assert_eq(assay_store_job_end(lab->store, j, "passed", ""), 0);
    }
    free(jobs);
    return run;
}

static void bench_lab(assay_lab *lab, const char *name, int64_t *r1, int64_t *r2)
{
    char id[65];
    lab_with(lab, name, ASSAY_KEY_ED25519, CORPUS "/bench.tar.gz", id);
    const double *const one[4] = {BASE, BASE, NOISY, BASE}, *const two[4] = {AGAIN, SLOWER, NOISY, SLOWER};
    *r1 = bench_run(lab, id, one);
    *r2 = bench_run(lab, id, two);
}

static const cJSON *target_bench(const cJSON *pred, int k)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(pred, "targets"), k),
                                                  "benchmarks"), 0);
}

Test(report, benchmarks_carry_intervals_outliers_and_stability)
{
    assay_lab lab;
    int64_t r1, r2;
    bench_lab(&lab, "figures", &r1, &r2);
    char *payload;
    cr_assert_eq(assay_report_statement(&payload, &lab, r1), 0, "%s", assay_error_last()->message);
    cJSON *st = cJSON_Parse(payload), *p = cJSON_GetObjectItem(st, "predicate");
    const cJSON *b = target_bench(p, 0), *ci = cJSON_GetObjectItem(b, "ci");
    /* Every sample kept, the warm-up apart; the figures are stats.c's,
     * whose reference values test_stats checks. */
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "samples")), 10);
    cr_expect_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "warmup_samples"), 0)->valuedouble, 500);
    cr_expect_eq(assay_json_num(b, "n"), 10);
    cr_expect_float_eq(assay_json_num(b, "median"), 100.65, 1e-9);
    cr_expect_float_eq(assay_json_num(ci, "lo"), 99.7, 1e-9);
    cr_expect_float_eq(assay_json_num(ci, "hi"), 102.05, 1e-9);
    cr_expect_str_eq(assay_json_str(b, "stability"), "stable");
    cr_expect_str_eq(assay_json_str(cJSON_GetObjectItem(b, "stopped"), "reason"), "max");
    cr_expect(cJSON_IsObject(cJSON_GetObjectItem(b, "repeat")), "the stop rules the manifest gave");
    /* The noisy one: unstable, its two slow runs flagged and kept. */
    b = target_bench(p, 2);
    cr_expect_str_eq(assay_json_str(b, "stability"), "unstable");
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "outliers")), 2);
    cr_expect_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(b, "outliers"), 0)->valuedouble, 3);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "samples")), 10);
    /* How to redo the figures is in the signed payload. */
    const cJSON *stats = cJSON_GetObjectItem(p, "statistics");
    cr_expect_str_eq(assay_json_str(cJSON_GetObjectItem(stats, "interval"), "seed"), "418548769145");
    /* Across targets: the emulated one is shown, never compared. */
    const cJSON *rows = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(p, "comparison"), 0), "targets");
    cr_assert_eq(cJSON_GetArraySize(rows), 4);
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 3), "vs_best")));
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 2), "best")), "the lowest median, noisy or not");
    const cJSON *vs = cJSON_GetObjectItem(cJSON_GetArrayItem(rows, 0), "vs_best");
    cr_expect_str_eq(assay_json_str(vs, "verdict"), "no measurable difference", "a noisy best proves nothing");
    cJSON_Delete(st);
    free(payload);

    /* A lab that allows wider intervals: the noisy one is still unstable
     * (its interval is 154% of its median), the others stay stable. */
    cr_assert_eq(assay_store_meta_set(lab.store, "report.max_ci_pct", "200"), 0);
    cr_assert_eq(assay_report_statement(&payload, &lab, r1), 0);
    st = cJSON_Parse(payload);
    cr_expect_str_eq(assay_json_str(target_bench(cJSON_GetObjectItem(st, "predicate"), 2), "stability"), "stable");
    cr_expect_float_eq(assay_json_num(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "predicate"), "statistics"),
                                      "unstable_above_ci_width_pct"), 200, 1e-9);
    cJSON_Delete(st);
    free(payload);
    assay_lab_close(&lab);
}

Test(report, two_runs_compare_with_a_verdict_per_pair)
{
    assay_lab lab;
    int64_t r1, r2;
    bench_lab(&lab, "compare", &r1, &r2);
    cJSON *cmp;
    cr_assert_eq(assay_report_compare(&cmp, &lab, r1, r2), 0, "%s", assay_error_last()->message);
    const cJSON *rows = cJSON_GetObjectItem(cmp, "benchmarks"), *x;
    cr_assert_eq(cJSON_GetArraySize(rows), 4);
    x = cJSON_GetArrayItem(rows, 0); /* the same thing twice */
    cr_expect_str_eq(assay_json_str(x, "verdict"), "no measurable difference");
    cr_expect_str_eq(assay_json_str(x, "verdict_zh"), "无可测差异");
    cr_expect_gt(assay_json_num(x, "p"), 0.5);
    x = cJSON_GetArrayItem(rows, 1); /* 30% slower */
    cr_expect_str_eq(assay_json_str(x, "verdict"), "slower");
    cr_expect_lt(assay_json_num(x, "p"), 0.01);
    cr_expect_float_eq(assay_json_num(x, "ratio"), 1.3010432190760057, 1e-9);
    x = cJSON_GetArrayItem(rows, 2); /* the same noisy samples */
    cr_expect_str_eq(assay_json_str(x, "verdict"), "no measurable difference");
    x = cJSON_GetArrayItem(rows, 3); /* emulated on both sides: the emulator against itself */
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(x, "emulated")));
    cr_expect_str_eq(assay_json_str(x, "verdict"), "slower");
    cJSON_Delete(cmp);

    /* The report of run 2 with run 1 as its baseline carries the same
     * comparison, signed, and every form shows it. */
    char *payload, *env, *pem, keyid[65], alg[16], *html, *md;
    cr_assert_eq(assay_report_statement_vs(&payload, &lab, r2, r1), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_report_sign(&env, &lab, payload, strlen(payload)), 0);
    cr_assert_eq(assay_key_public(lab.key, &pem, keyid, alg), 0);
    assay_report_check c;
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), pem, strlen(pem)), 0);
    const cJSON *base = cJSON_GetObjectItem(cJSON_GetObjectItem(c.statement, "predicate"), "baseline");
    cr_expect_eq(assay_json_num(base, "run"), (double)r1);
    cr_expect_eq(cJSON_GetArraySize(cJSON_GetObjectItem(base, "benchmarks")), 4);
    cr_assert_eq(assay_report_html(&html, &c), 0, "%s", assay_error_last()->message);
    cr_expect(strstr(html, "版本对比 Comparison with a baseline") && strstr(html, "更慢 slower") &&
              strstr(html, "无可测差异 no measurable difference") && strstr(html, "不稳定 unstable"), "%s", html);
    cr_expect(strstr(html, "<circle"), "the charts draw medians");
    cr_assert_eq(assay_report_md(&md, &c), 0);
    cr_expect(strstr(md, "更慢 slower") && strstr(md, "95% CI"), "%s", md);
    /* A run is not its own baseline. */
    char *self;
    cr_expect_eq(assay_report_statement_vs(&self, &lab, r2, r2), ASSAY_EINVAL);
    /* The command line, as docs/report.md shows it. */
    char out[8192];
    cr_expect_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/compare compare %lld %lld", dir,
                        (long long)r1, (long long)r2), 0, "%s", out);
    cr_expect(strstr(out, "start and exit (ms, lower is better) on phytium-s2500-kylin-v10") &&
              strstr(out, "ratio 1.301") && strstr(out, "更慢 slower"), "%s", out);
    cr_expect_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/compare compare %lld 2>&1", dir,
                        (long long)r1), 2, "%s", out);
    cr_expect_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/compare config set report.max_ci_pct "
                        "wide 2>&1", dir), 2, "%s", out);
    cr_expect_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/compare config set report.max_ci_pct 15",
                        dir), 0, "%s", out);
    cJSON_Delete(c.statement);
    free(html);
    free(md);
    free(payload);
    free(env);
    free(pem);
    assay_lab_close(&lab);
}

/* ---- the document to sign and seal: html sections and the pdf ------------- */

/* Pixels darker than mid-grey in a PGM (P5) file pdftoppm wrote. */
static long dark_pixels(const char *path)
{
    size_t n;
    char *b = th_slurp(path, &n);
    int w = 0, h = 0, max = 0, off = 0;
    cr_assert_not_null(b, "%s", path);
    cr_assert_eq(sscanf(b, "P5 %d %d %d%n", &w, &h, &max, &off), 3, "%s is not a PGM", path);
    cr_assert((size_t)off + 1 + (size_t)w * (size_t)h <= n, "%s is short", path);
    long dark = 0;
    for (size_t i = (size_t)off + 1; i < (size_t)off + 1 + (size_t)w * (size_t)h; i++)
        dark += (unsigned char)b[i] < 128;
    free(b);
    return dark;
}

/* The PDF of c as NAME.pdf in the build's report-pdf folder (kept, with a
 * PNG of every page, for people to look at): its text by pdftotext into
 * *text with line breaks taken out (pango wraps long names anywhere), every
 * page rendered by pdftoppm and holding ink, the CJK font embedded.
 * Returns the pages. */
static int pdf_check(const assay_report_check *c, const char *name, char **text)
{
    unsigned char *pdf;
    size_t n;
    char path[600], out[4096], pdir[400];
    snprintf(pdir, sizeof pdir, "%s/report-pdf", ASSAY_BINARY_DIR);
    cr_assert_eq(th_run(NULL, 0, "mkdir -p %s && rm -f %s/%s*", pdir, pdir, name), 0);
    cr_assert_eq(assay_report_pdf(&pdf, &n, c), 0, "%s", assay_error_last()->message);
    cr_assert(n > 1000 && !memcmp(pdf, "%PDF-", 5), "not a PDF");
    snprintf(path, sizeof path, "%s/%s.pdf", pdir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(pdf, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    free(pdf);
    cr_assert_eq(th_run(out, sizeof out, "pdfinfo %s | sed -n 's/^Pages: *//p'", path), 0, "%s", out);
    int pages = (int)strtol(out, NULL, 10);
    cr_assert_gt(pages, 0, "pdfinfo: %s", out);
    cr_assert_eq(th_run(out, sizeof out, "pdffonts %s", path), 0, "%s", out);
    cr_assert(strstr(out, "NotoSansCJK"), "the CJK font is used: %s", out);
    for (char *l = out; (l = strstr(l, "NotoSansCJK")); l++)
        cr_assert(strstr(l, " yes ") && strstr(l, " yes ") < strchr(l, '\n'), "embedded: %s", out);
    cr_assert_eq(th_run(out, sizeof out, "pdftotext -enc UTF-8 %s %s/%s.txt", path, pdir, name), 0, "%s", out);
    snprintf(path, sizeof path, "%s/%s.txt", pdir, name);
    size_t tn;
    char *t = th_slurp(path, &tn);
    cr_assert_not_null(t);
    char *w = t;
    for (size_t i = 0; i < tn; i++)
        if (t[i] != '\n' && t[i] != '\f')
            *w++ = t[i];
    *w = '\0';
    cr_assert_null(assay_text_check(t, strlen(t), 1), "the PDF's text is clean UTF-8: %s",
                   assay_text_check(t, strlen(t), 1));
    *text = t;
    snprintf(path, sizeof path, "%s/%s.pdf", pdir, name);
    cr_assert_eq(th_run(out, sizeof out, "pdftoppm -r 30 -gray %s %s/%s-page && pdftoppm -r 60 -png %s %s/%s-page",
                        path, pdir, name, path, pdir, name), 0, "%s", out);
    for (int i = 1; i <= pages; i++) {
        char png[700];
        /* pdftoppm pads the page number to the width of the last one */
        snprintf(png, sizeof png, "%s/%s-page-%0*d.pgm", pdir, name, pages >= 100 ? 3 : pages >= 10 ? 2 : 1, i);
        cr_assert_gt(dark_pixels(png), 500, "page %d of %s is blank", i, name);
    }
    return pages;
}

Test(report, the_document_to_sign_html_and_pdf)
{
    assay_lab lab;
    make_lab(&lab, "sealed", ASSAY_KEY_SM2);
    cr_assert_eq(assay_store_meta_set(lab.store, "report.tested_by", "张三 Zhang San"), 0);
    cr_assert_eq(assay_store_meta_set(lab.store, "report.approved_by", "王五 <Wang> & Co"), 0);
    cr_assert_eq(assay_store_meta_set(lab.store, "report.verify_url", "https://verify.example/r/"), 0);
    char *env, *pem, *html, *text;
    sign_run(&lab, &env, &pem);
    assay_report_check c;
    cr_assert_eq(assay_report_verify(&c, env, strlen(env), pem, strlen(pem)), 0);
    const cJSON *p = cJSON_GetObjectItem(c.statement, "predicate");
    /* The people and the centre's time are signed with the rest. */
    cr_assert_str_eq(assay_json_str(cJSON_GetObjectItem(p, "people"), "tested_by"), "张三 Zhang San");
    cr_assert_str_eq(assay_json_str(cJSON_GetObjectItem(p, "people"), "reviewed_by"), "");
    cr_assert_str_eq(assay_json_str(p, "timezone"), "Asia/Shanghai");
    const char *utc = assay_json_str(p, "date"), *local = assay_json_str(p, "date_local");
    struct tm tu = {0}, tl = {0};
    cr_assert_not_null(strptime(utc, "%Y-%m-%dT%H:%M:%SZ", &tu), "%s", utc);
    cr_assert_not_null(strptime(local, "%Y-%m-%d %H:%M:%S +0800", &tl), "%s", local);
    cr_assert_eq(timegm(&tl) - timegm(&tu), 8 * 3600, "%s is %s in Shanghai", utc, local);
    const char *product = assay_json_str(cJSON_GetObjectItem(p, "product"), "name");
    cr_assert(product[0]);

    cr_assert_eq(assay_report_html(&html, &c), 0);
    const char *con = strstr(html, "结论：未认证"), *sum = strstr(html, "<p class=\"summary\">"),
               *env_h = strstr(html, "<h2>测试环境 Test environment</h2>"), *people = strstr(html, "测试人 Tested by");
    cr_assert(con && sum && env_h && people && con < sum && sum < env_h && env_h < people, "the sections, in order");
    cr_assert(strstr(sum, "结论：未认证。未能认证的目标：kunpeng-920-kylin-v10（4 条原因）、zhaoxin-kx6000-uos-20（"),
              "the written conclusion names the targets that do not certify: %.600s", sum);
    cr_assert(strstr(html, "lang=\"en\">Chongqing Test Centre 测试中心 tested "), "and in English");
    cr_assert(strstr(html, local) && strstr(html, "(Asia/Shanghai)") && strstr(html, " (UTC)"), "both dates");
    cr_assert(strstr(html, "<td>张三 Zhang San</td>") && strstr(html, "王五 &lt;Wang&gt; &amp; Co"), "the people, escaped");
    cr_assert(strstr(html, "<th>内核 Kernel</th><td>4.19</td><td>未测得 not measured</td>") ||
                  strstr(html, "<th>内核 Kernel</th><td>4.19</td><td>-</td>"),
              "the profile's kernel beside what the host said (nothing)");
    cr_assert(strstr(html, "<th>架构 Architecture</th><td>aarch64</td><td>aarch64</td>"), "measured beside profile");
    cr_assert(strstr(html, "\"Noto Sans CJK SC\"") && strstr(html, "@page{") && strstr(html, "counter(pages)"),
              "a CJK font stack and page numbers in print");
    /* Kept beside the PDF for people to look at (the hostile test runs the
     * page through check-report.py and the browser). */
    char hpath[400];
    snprintf(hpath, sizeof hpath, "%s/report-pdf", ASSAY_BINARY_DIR);
    cr_assert_eq(th_run(NULL, 0, "mkdir -p %s", hpath), 0);
    snprintf(hpath, sizeof hpath, "%s/report-pdf/html-sealed.html", ASSAY_BINARY_DIR);
    write_file(hpath, html);
    int pages = pdf_check(&c, "sealed", &text);
    char want[200];
    cr_assert(strstr(text, "结论：未认证") && strstr(text, "测试环境") && strstr(text, product) &&
                  strstr(text, "张三 Zhang San") && strstr(text, "王五 <Wang> & Co") && strstr(text, "批准人"),
              "%s", text);
    cr_assert(strstr(text, "Chongqing Test Centre 测试中心于"), "the written conclusion: %s", text);
    cr_assert(strstr(text, "prints <hello> & exits"), "a step's name as text");
    /* The digest on every page, with the page's number. */
    int digests = 0;
    for (const char *q = text; (q = strstr(q, c.payload_sha256)); q++)
        digests++;
    cr_assert_geq(digests, pages, "the payload's SHA-256 on each of %d pages: %d", pages, digests);
    for (int i = 1; i <= pages; i++) {
        snprintf(want, sizeof want, "第 %d 页，共 %d 页", i, pages);
        cr_assert(strstr(text, want), "%s in %s", want, text);
        snprintf(want, sizeof want, "Page %d of %d", i, pages);
        cr_assert(strstr(text, want), "%s in %s", want, text);
    }
    snprintf(want, sizeof want, "https://verify.example/r/%s", c.payload_sha256);
    cr_assert(strstr(text, want), "the verification address: %s", text);
    char addr[600];
    assay_report_verify_address(addr, sizeof addr, &c);
    cr_assert_str_eq(addr, want);
    free(text);
    free(html);
    free(env);
    free(pem);
    cJSON_Delete(c.statement);

    /* The time zone is the lab's: another one moves the local date. */
    cr_assert_lt(assay_report_timezone_check("Mars/Olympus_Mons"), 0);
    cr_assert_lt(assay_report_timezone_check("../../etc/passwd"), 0);
    cr_assert_eq(assay_report_timezone_check("America/New_York"), 0);
    cr_assert_eq(assay_store_meta_set(lab.store, "report.timezone", "America/New_York"), 0);
    char *payload;
    cr_assert_eq(assay_report_statement(&payload, &lab, 1), 0);
    cJSON *st = cJSON_Parse(payload);
    p = cJSON_GetObjectItem(st, "predicate");
    cr_assert_str_eq(assay_json_str(p, "timezone"), "America/New_York");
    cr_assert(strstr(assay_json_str(p, "date_local"), " -0500") || strstr(assay_json_str(p, "date_local"), " -0400"),
              "%s", assay_json_str(p, "date_local"));
    cJSON_Delete(st);
    free(payload);

    /* The command line, as docs/report.md shows it. */
    char out[4096];
    cr_assert_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/sealed report 1 --format pdf -o %s/cli.pdf && "
                        "pdftotext -enc UTF-8 %s/cli.pdf - | grep -c 测试环境", dir, dir, dir), 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/sealed report 1 --format pdf | head -c 5", dir),
                 0, "%s", out);
    cr_assert_str_eq(out, "%PDF-", "to stdout");
    cr_assert_neq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/sealed config set report.timezone Mars/Olympus 2>&1",
                         dir), 0, "%s", out);
    cr_assert(strstr(out, "Mars/Olympus"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, ASSAY_BINARY_DIR "/assay --lab %s/sealed config set report.reviewed_by '李四' && "
                        ASSAY_BINARY_DIR "/assay --lab %s/sealed config get report.reviewed_by", dir, dir), 0, "%s", out);
    cr_assert_str_eq(out, "李四\n");
    assay_lab_close(&lab);
}

/* Vendor text in the PDF: markup characters, control bytes, broken UTF-8,
 * CJK, names of 64 KiB without a space: all text, the document renders. */
Test(report, hostile_text_in_the_pdf)
{
    char *big = big_hostile(), *text;
    size_t cn = 3 * 3000;
    char *cjk = malloc(cn + 1);
    for (size_t i = 0; i < cn; i += 3)
        memcpy(cjk + i, "测", 3);
    cjk[cn] = '\0';
    assay_report_check c = {.keyid = "00ff", .alg = "ed25519",
                            .payload_sha256 = "5a1e000000000000000000000000000000000000000000000000000000000000"};
    c.statement = hostile_statement(big, "ab", "cd");
    cJSON *p = cJSON_GetObjectItem(c.statement, "predicate");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "product"), "vendor", cJSON_CreateString(cjk));
    cJSON_AddItemToObject(p, "verify_url", cJSON_CreateString(HOSTILE));
    int pages = pdf_check(&c, "hostile", &text);
    cr_assert_geq(pages, 2);
    cr_assert(strstr(text, "<script>document.title='PW'+'NED';"), "markup is text, not markup: %.400s", text);
    cr_assert(strstr(text, "]]></failure><![CDATA[x]]> &amp; &#60; <!-- -->"), "entities stay as written");
    cr_assert(strstr(text, "中文厂商"), "CJK");
    cr_assert(strstr(text, "测测测测测测测测测测测测测测测测"), "a long CJK name wraps");
    cr_assert(strstr(text, c.payload_sha256), "the digest");
    free(text);
    free(big);
    free(cjk);
    cJSON_Delete(c.statement);
}
