/*
 * The controller's check of a job's events against the spec it sent
 * (jobcheck.h), and the event MAC both sides compute (assay/evmac.h).
 */
#include "crypto.h"
#include "jobcheck.h"
#include "assay/error.h"
#include "assay/evmac.h"
#include "assay/proto.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SPEC =
    "{\"protocol\":1,\"id\":\"j1\",\"steps\":["
    "{\"id\":\"install\",\"kind\":\"install\",\"command\":\"true\",\"timeout\":5},"
    "{\"id\":\"t1\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":5},"
    "{\"id\":\"t2\",\"kind\":\"test\",\"command\":\"false\",\"timeout\":5,\"expect_exit\":1},"
    "{\"id\":\"b1\",\"kind\":\"bench\",\"command\":\"true\",\"timeout\":5,\"repeat\":2},"
    "{\"id\":\"uninstall\",\"kind\":\"uninstall\",\"command\":\"true\",\"timeout\":5}]}";

static const unsigned char KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static assay_jobcheck *chk;
static int64_t seq;

static void start(void)
{
    cr_assert_eq(assay_jobcheck_new(&chk, SPEC, KEY), 0, "%s", assay_error_last()->message);
    seq = 0;
}

static void stop(void)
{
    assay_jobcheck_free(chk);
}

TestSuite(jobcheck, .init = start, .fini = stop);

/* Feed one event ("type", rest of the body), MACed under `key` (NULL: none). */
static int feed_key(const unsigned char *key, const char *type, const char *rest)
{
    char line[16384], mac[ASSAY_EVMAC_SUFFIX + 1];
    int n = snprintf(line, sizeof line, "{\"v\":1,\"seq\":%lld,\"ts\":\"2026-11-30T00:00:00Z\",\"type\":\"%s\"%s%s}",
                     (long long)seq++, type, rest[0] ? "," : "", rest);
    if (key) {
        assay_evmac_suffix(mac, key, line, (size_t)n);
        memcpy(line + n - 1, mac, sizeof mac);
        n = (int)strlen(line);
    }
    cJSON *ev = cJSON_Parse(line);
    cr_assert_not_null(ev, "%s", line);
    int rc = assay_jobcheck_event(chk, line, (size_t)n, ev);
    cJSON_Delete(ev);
    return rc;
}

static int feed(const char *type, const char *rest)
{
    return feed_key(KEY, type, rest);
}

#define END(step, kind, run, verdict, code) \
    "\"step\":\"" step "\",\"kind\":\"" kind "\",\"run\":" #run ",\"verdict\":\"" verdict \
    "\",\"reason\":null,\"exit_code\":" #code ",\"signal\":null,\"timed_out\":false"
#define START(step, kind, run) "\"step\":\"" step "\",\"kind\":\"" kind "\",\"run\":" #run

static void ok(int rc)
{
    cr_assert_eq(rc, 0, "%s", assay_error_last()->message);
}

static void refused(int rc, const char *needle)
{
    cr_assert_eq(rc, ASSAY_EPROTO, "accepted; wanted a refusal naming '%s'", needle);
    cr_assert(strstr(assay_error_last()->message, needle), "'%s' does not name '%s'",
              assay_error_last()->message, needle);
}

static void through_install(void)
{
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    ok(feed("step-start", START("install", "install", 1)));
    ok(feed("step-end", END("install", "install", 1, "pass", 0)));
}

/* ---- live output ("output" events) ---- */

/* An output event's fields: step, run, stream, offset, and `n` bytes of 'A'
 * as standard base64. */
static const char *out_ev(const char *step, int run, const char *stream, long offset, int n)
{
    static char b[12000];
    int o = snprintf(b, sizeof b, "\"step\":\"%s\",\"run\":%d,\"stream\":\"%s\",\"offset\":\"%ld\",\"data\":\"", step,
                     run, stream, offset);
    for (int i = 0; i < n; i += 3)
        o += snprintf(b + o, sizeof b - (size_t)o, "%s", n - i >= 3 ? "QUFB" : n - i == 2 ? "QUE=" : "QQ==");
    snprintf(b + o, sizeof b - (size_t)o, "\"");
    return b;
}

/* Install, then every other step of SPEC: t1 fails, the rest pass; with
 * `live`, install, t1 and uninstall print as they run. */
static void through_uninstall_live(int live)
{
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    ok(feed("step-start", START("install", "install", 1)));
    if (live) {
        ok(feed("output", out_ev("install", 1, "stdout", 0, 6)));
        ok(feed("output", out_ev("install", 1, "stderr", 0, 4096)));
        ok(feed("output", out_ev("install", 1, "stdout", 6, 1)));
    }
    ok(feed("step-end", END("install", "install", 1, "pass", 0)));
    ok(feed("step-start", START("t1", "test", 1)));
    /* each step run starts again at offset 0, up to 64 KiB a stream */
    for (long off = 0; live && off < ASSAY_LIVE_MAX; off += ASSAY_LIVE_CHUNK)
        ok(feed("output", out_ev("t1", 1, "stdout", off, ASSAY_LIVE_CHUNK)));
    ok(feed("step-end", END("t1", "test", 1, "fail", 2)));
    ok(feed("step-start", START("t2", "test", 1)));
    ok(feed("step-end", END("t2", "test", 1, "pass", 1)));
    ok(feed("step-start", START("b1", "bench", 1)));
    ok(feed("step-end", END("b1", "bench", 1, "pass", 0) ",\"value\":0.5"));
    ok(feed("step-start", START("b1", "bench", 2)));
    ok(feed("step-end", END("b1", "bench", 2, "pass", 0) ",\"value\":0.6,\"stop\":{\"reason\":\"count\",\"samples\":2}"));
    ok(feed("step-start", START("uninstall", "uninstall", 1)));
    if (live)
        ok(feed("output", out_ev("uninstall", 1, "stdout", 0, 2)));
    ok(feed("step-end", END("uninstall", "uninstall", 1, "pass", 0)));
}

static void through_uninstall(void)
{
    through_uninstall_live(0);
}

static void to_bench(void);

Test(jobcheck, live_output_in_order_is_accepted_and_judges_nothing)
{
    through_uninstall_live(1);
    /* the counts are the steps': output is shown, never counted or judged */
    ok(feed("job-end", "\"job\":\"j1\",\"outcome\":\"failed\",\"reason\":null,"
                       "\"counts\":{\"pass\":5,\"fail\":1,\"error\":0,\"skipped\":0}"));
}

/* Each refusal: after install's step-start, an output event that breaks a rule. */
static void live_refused(const char *rest, const char *needle)
{
    char *bad = strdup(rest); /* out_ev's buffer is used again below */
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    ok(feed("step-start", START("install", "install", 1)));
    ok(feed("output", out_ev("install", 1, "stdout", 0, 6)));
    int rc = feed("output", bad);
    free(bad);
    refused(rc, needle);
}

Test(jobcheck, live_output_with_a_gap_is_refused)
{
    live_refused(out_ev("install", 1, "stdout", 7, 1), "offset '7', expected 6");
}
Test(jobcheck, live_output_again_from_zero_is_refused)
{
    live_refused(out_ev("install", 1, "stdout", 0, 1), "offset '0', expected 6");
}
Test(jobcheck, live_output_of_another_run_or_stream_is_refused)
{
    live_refused(out_ev("install", 2, "stdout", 6, 1), "another run");
}
Test(jobcheck, live_output_on_no_such_stream_is_refused)
{
    live_refused(out_ev("install", 1, "stdin", 0, 1), "neither stdout nor stderr");
}
Test(jobcheck, live_output_of_a_step_not_running_is_refused)
{
    live_refused(out_ev("t1", 1, "stdout", 0, 1), "not the step running");
}
Test(jobcheck, live_output_that_is_not_standard_base64_is_refused)
{
    live_refused("\"step\":\"install\",\"run\":1,\"stream\":\"stdout\",\"offset\":\"6\",\"data\":\"-_-_\"", "base64");
}
Test(jobcheck, empty_live_output_is_refused)
{
    live_refused("\"step\":\"install\",\"run\":1,\"stream\":\"stdout\",\"offset\":\"6\",\"data\":\"\"", "base64");
}
Test(jobcheck, a_live_chunk_over_its_size_is_refused)
{
    live_refused(out_ev("install", 1, "stdout", 6, ASSAY_LIVE_CHUNK + 1), "base64");
}
Test(jobcheck, live_output_past_its_cap_is_refused)
{
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    ok(feed("step-start", START("install", "install", 1)));
    for (long off = 0; off < ASSAY_LIVE_MAX; off += ASSAY_LIVE_CHUNK)
        ok(feed("output", out_ev("install", 1, "stderr", off, ASSAY_LIVE_CHUNK)));
    refused(feed("output", out_ev("install", 1, "stderr", ASSAY_LIVE_MAX, 1)), "more than the 65536 bytes");
}
Test(jobcheck, a_benchmark_has_no_live_output)
{
    to_bench();
    ok(feed("step-start", START("b1", "bench", 1)));
    refused(feed("output", out_ev("b1", 1, "stdout", 0, 1)), "a benchmark");
}
Test(jobcheck, live_output_between_steps_is_refused)
{
    through_install();
    refused(feed("output", out_ev("install", 1, "stdout", 0, 1)), "not the step running");
}

Test(jobcheck, a_whole_job_is_accepted)
{
    through_uninstall();
    ok(feed("job-end", "\"job\":\"j1\",\"outcome\":\"failed\",\"reason\":null,"
                       "\"counts\":{\"pass\":5,\"fail\":1,\"error\":0,\"skipped\":0}"));
    cr_assert(assay_jobcheck_ended(chk));
}

Test(jobcheck, an_event_without_the_mac_is_refused)
{
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    ok(feed("step-start", START("install", "install", 1)));
    refused(feed_key(NULL, "step-end", END("install", "install", 1, "pass", 0)), "does not carry the job's MAC");
}

Test(jobcheck, a_mac_under_another_key_is_refused)
{
    unsigned char other[32] = {9};
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    refused(feed_key(other, "step-start", START("install", "install", 1)), "does not verify");
}

Test(jobcheck, a_verdict_that_contradicts_the_exit_status_is_refused)
{
    through_install();
    ok(feed("step-start", START("t1", "test", 1)));
    refused(feed("step-end", END("t1", "test", 1, "pass", 3)), "the verdict must be fail");
}

Test(jobcheck, an_expected_exit_is_the_spec_s)
{
    through_install();
    ok(feed("step-start", START("t1", "test", 1)));
    ok(feed("step-end", END("t1", "test", 1, "pass", 0)));
    ok(feed("step-start", START("t2", "test", 1)));
    refused(feed("step-end", END("t2", "test", 1, "pass", 0)), "expected 1");
}

Test(jobcheck, a_job_end_before_the_steps_is_refused)
{
    through_install();
    refused(feed("job-end", "\"job\":\"j1\",\"outcome\":\"passed\",\"reason\":null,"
                            "\"counts\":{\"pass\":1,\"fail\":0,\"error\":0,\"skipped\":0}"),
            "before the job's step t1 ended");
}

Test(jobcheck, a_second_job_end_is_refused)
{
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    ok(feed("job-end", "\"job\":\"j1\",\"outcome\":\"error\",\"reason\":\"x\""));
    refused(feed("job-end", "\"job\":\"j1\",\"outcome\":\"passed\",\"reason\":null"), "after the job-end");
}

Test(jobcheck, skipping_a_test_needs_a_reason)
{
    through_install();
    refused(feed("step-end", "\"step\":\"t1\",\"kind\":\"test\",\"verdict\":\"skipped\",\"reason\":\"install failed\""),
            "nothing in the job allows");
}

Test(jobcheck, tests_after_a_failed_install_are_skipped)
{
    ok(feed("job-start", "\"job\":\"j1\",\"steps\":5"));
    ok(feed("step-start", START("install", "install", 1)));
    ok(feed("step-end", END("install", "install", 1, "fail", 1)));
    refused(feed("step-start", START("t1", "test", 1)), "must be skipped (install failed)");
}

Test(jobcheck, steps_run_in_spec_order)
{
    through_install();
    refused(feed("step-start", START("t2", "test", 1)), "the next step of the job is t1");
}

Test(jobcheck, a_benchmark_runs_repeat_times)
{
    through_install();
    ok(feed("step-start", START("t1", "test", 1)));
    ok(feed("step-end", END("t1", "test", 1, "pass", 0)));
    ok(feed("step-start", START("t2", "test", 1)));
    ok(feed("step-end", END("t2", "test", 1, "pass", 1)));
    ok(feed("step-start", START("b1", "bench", 1)));
    ok(feed("step-end", END("b1", "bench", 1, "pass", 0) ",\"value\":1"));
    refused(feed("step-start", START("uninstall", "uninstall", 1)), "the next step of the job is b1");
}

/* Through t2, to b1's first run. */
static void to_bench(void)
{
    through_install();
    ok(feed("step-start", START("t1", "test", 1)));
    ok(feed("step-end", END("t1", "test", 1, "pass", 0)));
    ok(feed("step-start", START("t2", "test", 1)));
    ok(feed("step-end", END("t2", "test", 1, "pass", 1)));
}

Test(jobcheck, a_fixed_count_stops_at_its_count_and_says_so)
{
    to_bench();
    ok(feed("step-start", START("b1", "bench", 1)));
    refused(feed("step-end", END("b1", "bench", 1, "pass", 0) ",\"value\":1,\"stop\":{\"reason\":\"count\",\"samples\":1}"),
            "which its spec does not allow");
}

Test(jobcheck, the_last_run_of_a_count_must_say_why_it_stopped)
{
    to_bench();
    ok(feed("step-start", START("b1", "bench", 1)));
    ok(feed("step-end", END("b1", "bench", 1, "pass", 0) ",\"value\":1"));
    ok(feed("step-start", START("b1", "bench", 2)));
    refused(feed("step-end", END("b1", "bench", 2, "pass", 0) ",\"value\":1"), "does not say why");
}

/* A benchmark run until stable: one warm-up run, then 3 to 6 samples. */
static const char *ADAPTIVE =
    "{\"protocol\":1,\"id\":\"j2\",\"steps\":["
    "{\"id\":\"b\",\"kind\":\"bench\",\"command\":\"true\",\"timeout\":5,"
    "\"repeat\":{\"min\":3,\"max\":6,\"target_rse\":0.02,\"budget\":60,\"warmup\":1}}]}";

static void adaptive(void)
{
    assay_jobcheck_free(chk);
    cr_assert_eq(assay_jobcheck_new(&chk, ADAPTIVE, KEY), 0, "%s", assay_error_last()->message);
    ok(feed("job-start", "\"job\":\"j2\",\"steps\":1"));
    ok(feed("step-start", START("b", "bench", 1)));
    ok(feed("step-end", END("b", "bench", 1, "pass", 0) ",\"value\":9,\"warmup\":true"));
}

#define SAMPLE(run, v) \
    ok(feed("step-start", START("b", "bench", run))); \
    ok(feed("step-end", END("b", "bench", run, "pass", 0) ",\"value\":" #v ",\"warmup\":false"))

Test(jobcheck, a_benchmark_stops_stable_when_its_samples_are)
{
    adaptive();
    SAMPLE(2, 1.00);
    SAMPLE(3, 1.01);
    ok(feed("step-start", START("b", "bench", 4)));
    /* The warm-up run's 9 is not a sample: with it the error would be large. */
    ok(feed("step-end", END("b", "bench", 4, "pass", 0) ",\"value\":1.0,\"warmup\":false,"
                                                         "\"stop\":{\"reason\":\"stable\",\"samples\":3}"));
    ok(feed("job-end", "\"job\":\"j2\",\"outcome\":\"passed\",\"reason\":null,"
                       "\"counts\":{\"pass\":4,\"fail\":0,\"error\":0,\"skipped\":0}"));
}

Test(jobcheck, a_stable_stop_the_samples_do_not_support_is_refused)
{
    adaptive();
    SAMPLE(2, 1.0);
    SAMPLE(3, 2.0);
    ok(feed("step-start", START("b", "bench", 4)));
    refused(feed("step-end", END("b", "bench", 4, "pass", 0) ",\"value\":3.0,\"warmup\":false,"
                                                              "\"stop\":{\"reason\":\"stable\",\"samples\":3}"),
            "stopped as 'stable' after 3 samples");
}

Test(jobcheck, warm_up_runs_are_the_spec_s)
{
    assay_jobcheck_free(chk);
    cr_assert_eq(assay_jobcheck_new(&chk, ADAPTIVE, KEY), 0);
    ok(feed("job-start", "\"job\":\"j2\",\"steps\":1"));
    ok(feed("step-start", START("b", "bench", 1)));
    refused(feed("step-end", END("b", "bench", 1, "pass", 0) ",\"value\":9,\"warmup\":false"), "is a warm-up run");
}

Test(jobcheck, max_and_failed_stops)
{
    adaptive();
    SAMPLE(2, 1.0);
    ok(feed("step-start", START("b", "bench", 3)));
    refused(feed("step-end", END("b", "bench", 3, "pass", 0) ",\"value\":2.0,\"warmup\":false,"
                                                              "\"stop\":{\"reason\":\"max\",\"samples\":2}"),
            "stopped as 'max'");
    adaptive();
    ok(feed("step-start", START("b", "bench", 2)));
    ok(feed("step-end", END("b", "bench", 2, "fail", 3) ",\"value\":null,\"warmup\":false,"
                                                        "\"stop\":{\"reason\":\"failed\",\"samples\":0}"));
    /* and no seventh run: max is 6 samples after one warm-up */
    adaptive();
    for (int run = 2; run <= 7; run++) {
        char st[128], en[256];
        snprintf(st, sizeof st, "\"step\":\"b\",\"kind\":\"bench\",\"run\":%d", run);
        snprintf(en, sizeof en, "%s,\"verdict\":\"pass\",\"reason\":null,\"exit_code\":0,\"signal\":null,"
                 "\"timed_out\":false,\"value\":%d,\"warmup\":false%s", st, run,
                 run == 7 ? ",\"stop\":{\"reason\":\"max\",\"samples\":6}" : "");
        ok(feed("step-start", st));
        ok(feed("step-end", en));
    }
    ok(feed("job-end", "\"job\":\"j2\",\"outcome\":\"passed\",\"reason\":null,"
                       "\"counts\":{\"pass\":7,\"fail\":0,\"error\":0,\"skipped\":0}"));
}

Test(jobcheck, a_dead_supervisor_s_end_needs_no_mac_and_is_an_error)
{
    through_install();
    ok(feed_key(NULL, "error", "\"message\":\"supervisor lost\",\"step\":null"));
    ok(feed_key(NULL, "job-end", "\"job\":\"j1\",\"outcome\":\"error\",\"reason\":\"supervisor lost\""));
}

Test(jobcheck, outcome_and_counts_follow_the_steps)
{
    through_uninstall();
    refused(feed("job-end", "\"job\":\"j1\",\"outcome\":\"passed\",\"reason\":null,"
                            "\"counts\":{\"pass\":6,\"fail\":0,\"error\":0,\"skipped\":0}"),
            "its steps make it failed");
}

/* FIPS 180-4 and RFC 4231 vectors, and the agent's HMAC against OpenSSL's. */
Test(evmac, matches_the_standards_and_openssl)
{
    uint8_t d[32];
    char hex[65];
    assay_evmac_sha256(d, "abc", 3);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    assay_evmac_sha256(d, m, strlen(m));
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    assay_evmac_hmac(d, (const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    cr_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char buf[3000], a[32], b[32], key[100];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 13);
    for (size_t len = 0; len < sizeof buf; len += 61)
        for (size_t kl = 0; kl <= sizeof key; kl += 33) {
            assay_evmac_hmac(a, key, kl, buf, len);
            assay_hmac_sha256(b, key, kl, buf, len);
            cr_assert_eq(memcmp(a, b, 32), 0, "len %zu key %zu", len, kl);
        }
    uint8_t k[32];
    cr_assert_eq(assay_evmac_key_parse(k, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"), 0);
    cr_assert_eq(k[31], 0xff);
    cr_assert_eq(assay_evmac_key_parse(k, "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"), -1);
    cr_assert_eq(assay_evmac_key_parse(k, "0011"), -1);
}

/* A job's live output stops at ASSAY_LIVE_JOB_MAX, whatever its steps'. */
Test(jobcheck, live_output_past_the_job_s_cap_is_refused)
{
    int nt = ASSAY_LIVE_JOB_MAX / (2 * ASSAY_LIVE_MAX) + 1; /* one test step more than the cap holds */
    char *spec = malloc(200 + (size_t)nt * 100), id[16];
    int o = sprintf(spec, "{\"protocol\":1,\"id\":\"j1\",\"steps\":[");
    for (int i = 0; i < nt; i++)
        o += sprintf(spec + o, "%s{\"id\":\"t%d\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":5}", i ? "," : "", i);
    sprintf(spec + o, "]}");
    assay_jobcheck_free(chk);
    cr_assert_eq(assay_jobcheck_new(&chk, spec, KEY), 0, "%s", assay_error_last()->message);
    free(spec);
    ok(feed("job-start", "\"job\":\"j1\""));
    for (int i = 0; i < nt; i++) {
        char start[100];
        snprintf(id, sizeof id, "t%d", i);
        snprintf(start, sizeof start, "\"step\":\"%s\",\"kind\":\"test\",\"run\":1", id);
        ok(feed("step-start", start));
        for (int k = 0; k < 2; k++)
            for (long off = 0; off < ASSAY_LIVE_MAX; off += ASSAY_LIVE_CHUNK) {
                int rc = feed("output", out_ev(id, 1, k ? "stderr" : "stdout", off, ASSAY_LIVE_CHUNK));
                if (i < nt - 1) {
                    ok(rc);
                } else {
                    refused(rc, "more than the 4194304 bytes of live output a job may have");
                    return;
                }
            }
        char end[200];
        snprintf(end, sizeof end, "%s,\"verdict\":\"pass\",\"reason\":null,\"exit_code\":0,\"signal\":null,\"timed_out\":false", start);
        ok(feed("step-end", end));
    }
    cr_assert_fail("the job's cap was never reached");
}
