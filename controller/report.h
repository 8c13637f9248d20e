/*
 * Adaptation reports (适配测试报告). The report of a run is an in-toto
 * Statement v1 whose subjects are the submission and its artifacts (by
 * SHA-256) and whose predicate is the report, carried in a DSSE envelope
 * signed with the lab's key. The html, junit and md forms are made from the
 * signed payload, so they say exactly what the signature covers.
 * docs/report.md and docs/verify.md describe both.
 */
#ifndef ASSAY_CTL_REPORT_H
#define ASSAY_CTL_REPORT_H

#include "lab.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define ASSAY_DSSE_TYPE "application/vnd.in-toto+json"
/* More signatures than this in one envelope are refused. */
#define ASSAY_DSSE_MAX_SIGS 256
#define ASSAY_PREDICATE_TYPE "https://in-toto.io/attestation/assay-adaptation-report/v1"

/* The statement of run `run` as JSON text (deterministic for a given store). */
int assay_report_statement(char **out, assay_lab *lab, int64_t run);

/* The same with a comparison section: its benchmarks against those of
 * run `baseline` (0: none), target profile by profile (docs/report.md). */
int assay_report_statement_vs(char **out, assay_lab *lab, int64_t run, int64_t baseline);

/* The comparison of run_b's benchmarks against run_a's (the baseline), as
 * the "baseline" member of run_b's report would carry it; *out is owned by
 * the caller. Returns 0, or what making either statement returned. */
int assay_report_compare(cJSON **out, assay_lab *lab, int64_t run_a, int64_t run_b);

/* Sign a statement into a DSSE envelope (one line of JSON text). */
int assay_report_sign(char **out, assay_lab *lab, const char *payload, size_t len);

typedef struct assay_report_check {
    char keyid[65];
    char alg[16];
    char payload_sha256[65];
    cJSON *statement;  /* the verified statement, owned by the caller */
} assay_report_check;

/*
 * Verify a DSSE envelope with a public key (PEM), as DSSE v1.0.2 says with
 * a threshold of one: valid when any signature verifies over PAE(type,
 * payload) under the key (entries whose keyid names another key are not
 * counted); unknown members ignored; keyid optional; base64 standard or
 * URL-safe, padded or not. Refused: anything that is not strict JSON
 * (assay_json_strict: a \u0000 anywhere, bytes around the object ...), a
 * member name twice in one object, an entry that does not decode, another
 * payload type, a payload that is not an assay statement, more than
 * ASSAY_DSSE_MAX_SIGS signatures (ASSAY_ETOOBIG). The rules and
 * their reasons are in docs/verify.md. Returns 0 and fills out (the caller
 * owns out->statement), or ASSAY_EVERIFY (no signature verifies, other
 * payload type) or ASSAY_EINVAL (malformed, or pem is no key assay knows)
 * with the reason.
 */
int assay_report_verify(assay_report_check *out, const char *env, size_t len, const char *pem, size_t pemlen);

/*
 * The other forms, from a verified statement, into *out (the caller frees
 * it). Every string of the statement is escaped by the markup writers
 * (markup.h); the conclusion comes first when the payload has one. junit
 * reads log tails from `lab`'s blob store. Return 0, or ASSAY_ETOOBIG /
 * ASSAY_ENOMEM with *out untouched. docs/report.md describes them.
 */
int assay_report_html(char **out, const assay_report_check *c);
int assay_report_junit(char **out, assay_lab *lab, const assay_report_check *c);
int assay_report_md(char **out, const assay_report_check *c);

/*
 * The report of a finished run in form fmt (json: the signed envelope;
 * html, junit, md: made from its verified payload), compared with run
 * baseline's benchmarks if baseline > 0. *out is malloc'd text, *type its
 * media type. ASSAY_EINVAL for another form, ASSAY_ESTATE for a run that
 * has not ended.
 */
int assay_report_make(char **out, const char **type, assay_lab *lab, int64_t run, int64_t baseline, const char *fmt);
/*
 * The signed report of an ended run, the one maker behind every form of
 * it (assay_report_make, the PDF) and the registry's publication: the
 * statement made from the store (compared with run baseline's benchmarks
 * if baseline > 0), signed with the lab's key and verified with its public
 * key. *env gets the envelope's text (one line), *chk its check; the
 * caller frees *env and chk->statement. Both are set on success only.
 * ASSAY_ESTATE for a run that has not ended, or what making, signing or
 * verifying returned.
 */
int assay_report_signed(char **env, assay_report_check *chk, assay_lab *lab, int64_t run, int64_t baseline);

/*
 * What a verified statement concludes: the one place its verdict, whether
 * it certifies and on what conditions are read, for everything that shows
 * or acts on them (the API's run, verify and registry answers, webhooks,
 * the portal, which draws these fields and derives none). *out (the
 * caller's) is {"report_number","date","product":{...},"verdict",
 * "certified": true, false or null (a report made before conclusions, which
 * certifies nothing), "status": "certified" or "not-certified", "zh","en":
 * the conclusion in words, "reasons": [{"code","zh","en","target"}],
 * "targets": [{"profile","verdict","certifies","emulated","conditions"}],
 * "notes": [...]}. ASSAY_EINVAL for a statement without a predicate,
 * ASSAY_ENOMEM.
 */
int assay_report_outcome(cJSON **out, const cJSON *statement);

/* A verification as the API answers it: {"valid":true,"algorithm","keyid",
 * "payload_sha256","summary": assay_report_outcome of the statement that
 * verified}. *out is the caller's. Returns 0 or what the outcome did. */
int assay_report_check_json(cJSON **out, const assay_report_check *c);

/* The same report as a PDF (pdf.h), made from the verified payload. */
int assay_report_make_pdf(unsigned char **out, size_t *len, assay_lab *lab, int64_t run, int64_t baseline);

/* Whether `tz` names a time zone of the system's zoneinfo (like
 * Asia/Shanghai): 0, or ASSAY_EINVAL with the reason. */
int assay_report_timezone_check(const char *tz);

/* The written conclusion (结论) of a verified payload's predicate, in
 * Chinese and in English: who tested what, when, on how many targets,
 * with what result, and every reason it is not certified. The caller frees
 * both. Returns 0, ASSAY_ENOTFOUND for a payload without a conclusion, or
 * ASSAY_ENOMEM. Plain text: the writer that prints it escapes it. */
int assay_report_summary(char **zh, char **en, const cJSON *pred);

/* The test environment (测试环境) of one target of the payload, row by
 * row: what its profile says beside what the agent measured on its host
 * ("" where one side says nothing). Plain text, escaped by the caller's
 * writer; the strings live until row returns. */
typedef void (*assay_report_env_row)(void *ctx, const char *label, const char *profile, const char *measured);
void assay_report_environment(const cJSON *target, assay_report_env_row row, void *ctx);

/* A verdict of the payload in Chinese ("pass" -> "通过"). */
const char *assay_report_verdict_zh(const char *v);

/* The people a report names, in order: the predicate's "people" member,
 * its Chinese and its English label. */
extern const char *const assay_report_people[3][3];

#endif
