/*
 * Signed reports: both algorithms, tampering anywhere, another lab's key,
 * the openssl commands of docs/verify.md run as written, and the other
 * forms (JUnit checked by xmllint).
 */
#include "helpers.h"
#include "blob.h"
#include "crypto.h"
#include "lab.h"
#include "package.h"
#include "report.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS ASSAY_BINARY_DIR "/corpus"

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

/* A lab with one finished run of two targets: one passes, one fails a
 * test; both run a benchmark. Made through the store, as the dispatcher
 * would, without a lab of hosts. */
static void make_lab(assay_lab *lab, const char *name, assay_key_type type)
{
    char path[400], id[65];
    int existed;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(assay_lab_init(path, type, "Chongqing Test Centre 测试中心"), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_lab_open(lab, path), 0);
    cr_assert_eq(assay_package_add(lab, CORPUS "/ok-deb-rpm.tar.gz", id, &existed), 0, "%s", assay_error_last()->message);
    char *profs[] = {"kunpeng-920-kylin-v10", "zhaoxin-kx6000-uos-20"};
    int64_t run;
    cr_assert_eq(assay_store_run_submit(lab->store, id, profs, 2, 0, 0, &run), 0);
    for (int64_t j = 1; j <= 2; j++) {
        cr_assert_eq(assay_store_job_assign(lab->store, j, j == 1 ? "kunpeng-1" : "zhaoxin-1"), 0);
        if (j == 1) /* kunpeng-1 had run another product and was reset first */
            cr_assert_eq(assay_store_job_set_host_reset(lab->store, j, 1), 0);
        cr_assert_eq(assay_store_job_set_running(lab->store, j, "ab12"), 0);
        ev(lab, j, 0, "job-start", j == 1 ? "\"facts\":{\"arch\":\"aarch64\",\"emulation\":{\"emulated\":true}},"
                                            "\"agent\":{\"version\":\"0.1.0\",\"triple\":\"aarch64-linux-gnu\"}"
                                          : "\"facts\":{\"arch\":\"x86_64\",\"emulation\":{\"emulated\":false}},"
                                            "\"agent\":{\"version\":\"0.1.0\",\"triple\":\"x86_64-linux-gnu\"}");
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
    for (size_t i = 0; i < n; i++)
        for (int v = 0; v < variants; v++) {
            memcpy(copy, env, n + 1);
            copy[i] = v == 0 ? (char)(copy[i] ^ 0x01) : (char)repl[v];
            if (copy[i] == env[i])
                continue;
            int rc = assay_report_verify(&c, copy, n, pem, strlen(pem));
            cr_assert_lt(rc, 0, "%s: byte %zu changed to %#x verified", alg, i, (unsigned char)copy[i]);
        }
    /* Bytes added or taken away. */
    memcpy(copy, env, n + 1);
    cr_assert_lt(assay_report_verify(&c, copy, n - 2, pem, strlen(pem)), 0);
    free(copy);
    char *longer = malloc(n + 2);
    memcpy(longer, env, n);
    memcpy(longer + n, " \n", 2);
    cr_assert_lt(assay_report_verify(&c, longer, n + 2, pem, strlen(pem)), 0);
    free(longer);
}

Test(report, every_changed_byte_of_the_envelope_fails)
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

Test(report, every_changed_byte_of_the_payload_fails)
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
    free(env);
    free(pem_a);
    free(pem_b);
    free(pem_s);
    assay_lab_close(&a);
    assay_lab_close(&b);
    assay_lab_close(&s);
}

/* The script of docs/verify.md, extracted as written. */
static void openssl_agrees(assay_lab *lab, const char *env, const char *pem, const char *alg)
{
    char d[400], out[4096];
    snprintf(d, sizeof d, "%s/openssl-%s", dir, alg);
    cr_assert_eq(th_run(out, sizeof out,
                        "mkdir -p %s && awk '/<!-- verify-script -->/{f=1;next} f&&/^```sh/{g=1;next} g&&/^```/{exit} g' "
                        "%s/docs/verify.md > %s/verify.sh && test -s %s/verify.sh", d, ASSAY_SOURCE_DIR, d, d), 0, "%s", out);
    FILE *f = fopen(strcat(strcpy(out, d), "/lab.pub.pem"), "w");
    fputs(pem, f);
    fclose(f);
    /* Valid, then tampered in three ways: payload, signature, key id. */
    const char *tamper[] = {
        "true",
        "python3 -c \"import json,base64,sys; e=json.load(open('report.json')); p=base64.b64decode(e['payload'])"
        ".replace(b'\\\"verdict\\\":\\\"fail\\\"', b'\\\"verdict\\\":\\\"pass\\\"', 1); e['payload']=base64.b64encode(p).decode();"
        " open('report.json','w').write(json.dumps(e, separators=(',',':'))+'\\n')\"",
        "python3 -c \"import json,base64; e=json.load(open('report.json')); s=bytearray(base64.b64decode(e['signatures'][0]['sig']));"
        " s[10]^=1; e['signatures'][0]['sig']=base64.b64encode(bytes(s)).decode();"
        " open('report.json','w').write(json.dumps(e, separators=(',',':'))+'\\n')\"",
        "sed -i 's/\"keyid\":\"\\(.\\)/\"keyid\":\"0\\1/' report.json",
    };
    for (int i = 0; i < 4; i++) {
        f = fopen(strcat(strcpy(out, d), "/report.json"), "w");
        fputs(env, f);
        fclose(f);
        cr_assert_eq(th_run(out, sizeof out, "cd %s && %s", d, tamper[i]), 0, "tamper %d: %s", i, out);
        int rc = th_run(out, sizeof out, "cd %s && bash verify.sh", d);
        char path[450];
        snprintf(path, sizeof path, "%s/report.json", d);
        size_t len;
        char *tampered = th_slurp(path, &len);
        assay_report_check c;
        int ours = assay_report_verify(&c, tampered, len, pem, strlen(pem));
        if (ours == 0)
            cJSON_Delete(c.statement);
        free(tampered);
        if (i == 0) {
            cr_assert_eq(rc, 0, "%s: openssl refused a valid report: %s", alg, out);
            cr_assert(strstr(out, "Signature Verified Successfully"), "%s", out);
            cr_assert_eq(ours, 0);
        } else {
            cr_assert_neq(rc, 0, "%s: openssl accepted tampering %d: %s", alg, i, out);
            cr_assert_lt(ours, 0, "%s: assay accepted tampering %d", alg, i);
        }
    }
    (void)lab;
}

Test(report, the_openssl_commands_of_the_docs_agree)
{
    both_algorithms(openssl_agrees);
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
    cr_assert_null(strstr(html, "http"), "self-contained: no external resources");
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
    cr_assert_eq(atoi(out), 2, "%s", out);
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
