/*
 * A vendor's install step (root on the host) tries to write its own
 * verdict: append forged events to the event log, rewrite it, replay a
 * genuine event's MAC on a forged job-end, kill the agent, replace it. Its one test
 * fails honestly; the job must end in error or fail, never pass, with the
 * violation named (docs/security.md). On the real lab (ci/lab.sh).
 */
#include "helpers.h"
#include "labctl.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTS ASSAY_BINARY_DIR "/test-forgery-hosts"

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    lc_down(HOSTS);
}

static void setup(void)
{
    lc_reference = 1;
    lc_setup(HOSTS, 21, 4);
}

TestSuite(forgery, .init = setup, .fini = lc_teardown, .timeout = 300);

static char dispatch_out[1 << 16]; /* the last certify()'s dispatcher output */

#define FAILING "[{\"id\": \"hello\", \"command\": \"false\", \"timeout\": 60}]"

/* A well-formed, in-sequence rest of the job that says it passed. */
#define FORGED_TAIL                                                                                          \
    "L=\"$ASSAY_JOB_DIR/state/events.jsonl\"; n=$(wc -l < \"$L\"); ts=2026-11-30T00:00:00.000000Z\n"                \
    "forged() {\n"                                                                                             \
    "printf '{\"v\":1,\"seq\":%d,\"ts\":\"%s\",\"type\":\"step-end\",\"step\":\"install\",\"kind\":\"install\"," \
    "\"run\":1,\"verdict\":\"pass\",\"reason\":null,\"exit_code\":0,\"signal\":null,\"timed_out\":false}\\n' $n $ts\n" \
    "printf '{\"v\":1,\"seq\":%d,\"ts\":\"%s\",\"type\":\"step-start\",\"step\":\"hello\",\"kind\":\"test\"," \
    "\"name\":\"hello\",\"run\":1,\"runs\":1}\\n' $((n+1)) $ts\n"                                               \
    "printf '{\"v\":1,\"seq\":%d,\"ts\":\"%s\",\"type\":\"step-end\",\"step\":\"hello\",\"kind\":\"test\"," \
    "\"run\":1,\"verdict\":\"pass\",\"reason\":null,\"exit_code\":0,\"signal\":null,\"timed_out\":false}\\n' $((n+2)) $ts\n" \
    "printf '{\"v\":1,\"seq\":%d,\"ts\":\"%s\",\"type\":\"job-end\",\"job\":\"%s\",\"outcome\":\"passed\"," \
    "\"reason\":null,\"counts\":{\"pass\":2,\"fail\":0,\"error\":0,\"skipped\":1}}\\n' $((n+3)) $ts \"$ASSAY_JOB_ID\"\n" \
    "}\n"

/* Submit `script` as the install step of a product whose test fails, run
 * it on one host, and return the job's outcome and reason. */
static void certify(const char *name, const char *script, char *outcome, char *reason, size_t rlen)
{
    lc_submission_install(name, script, FAILING);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20", LC_ASSAY, lc_pkg), 0, "%s", lc_out);
    char run[32];
    snprintf(run, sizeof run, "%d", atoi(lc_out));
    cr_assert_eq(lc_sh("%s dispatch --once --max-attempts 1", LC_ASSAY), 0, "dispatch: %s", lc_out);
    snprintf(dispatch_out, sizeof dispatch_out, "%s", lc_out);
    cJSON *r = lc_run_json(run);
    const cJSON *j = lc_job(r, 0);
    snprintf(outcome, 32, "%s", cJSON_GetObjectItem(j, "outcome")->valuestring);
    snprintf(reason, rlen, "%s", cJSON_GetObjectItem(j, "reason")->valuestring);
    cJSON_Delete(r);
    /* What happened, for the failure messages below. */
    lc_sh("sqlite3 %s/assay.db \"select type, json_extract(body, '$.step'), json_extract(body, '$.verdict'), "
          "json_extract(body, '$.reason'), json_extract(body, '$.message') from events\" | tail -n 12",
          lc_lab);
    snprintf(reason + strlen(reason), rlen - strlen(reason), " | events: %.600s", lc_out);
    lc_sh("for h in $(sqlite3 %s/assay.db \"select sha256 from logs where path like 'logs/install.1.%%'\"); do "
          "cat %s/blobs/$(printf %%.2s $h)/${h#??}; done | head -c 400",
          lc_lab, lc_lab);
    snprintf(reason + strlen(reason), rlen - strlen(reason), " | install: %.400s", lc_out);
    /* A CI pipeline's answer: not a pass (1: the product failed, 3: error). */
    int wait = lc_sh("%s run wait %s", LC_ASSAY, run);
    cr_assert(wait == 1 || wait == 3, "run wait exited %d: %s", wait, lc_out);
    /* The signed report says so too: not certified, the result named. */
    cr_assert_eq(lc_sh("cd %s && %s report %s -o r.json && %s verify r.json && "
                       "jq -r .payload r.json | base64 -d | jq -r '.predicate.conclusion.status, "
                       ".predicate.targets[0].verdict'",
                       lc_lab, LC_ASSAY, run, LC_ASSAY),
                 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "not-certified\n"), "%s", lc_out);
    cr_assert_null(strstr(lc_out, "\npass\n"), "%s", lc_out);
}

static void never_passes(const char *outcome, const char *reason, const char *needle)
{
    cr_assert(strcmp(outcome, "passed") != 0, "the forgery passed: %s", reason);
    cr_assert(strstr(reason, needle), "outcome %s, reason '%s' does not name '%s'", outcome, reason, needle);
}

Test(forgery, appended_events_are_refused)
{
    char outcome[32], reason[4096];
    certify("append", FORGED_TAIL "forged >> \"$L\"\n", outcome, reason, sizeof reason);
    cr_assert_str_eq(outcome, "error", "%s", reason);
    never_passes(outcome, reason, "does not carry the job's MAC");
}

Test(forgery, a_rewritten_log_is_refused)
{
    char outcome[32], reason[4096];
    certify("rewrite",
            FORGED_TAIL "head -n 1 \"$L\" > \"$L.new\"; n=1; forged >> \"$L.new\"; cat \"$L.new\" > \"$L\"; "
                        "rm -f \"$L.new\"\n",
            outcome, reason, sizeof reason);
    never_passes(outcome, reason, "");
    cr_assert(strcmp(outcome, "failed") == 0 || strstr(reason, "protocol error"), "%s: %s", outcome, reason);
}

Test(forgery, a_genuine_mac_on_a_forged_job_end_is_refused)
{
    char outcome[32], reason[4096];
    /* The job-start's MAC, kept, on a job-end that says passed. */
    certify("replay",
            "L=\"$ASSAY_JOB_DIR/state/events.jsonl\"; n=$(wc -l < \"$L\")\n"
            "mac=$(head -n 1 \"$L\" | sed 's/.*,\"mac\":\"\\([0-9a-f]*\\)\"}$/\\1/')\n"
            "printf '{\"v\":1,\"seq\":%d,\"ts\":\"2026-11-30T00:00:00.000000Z\",\"type\":\"job-end\",\"job\":\"%s\","
            "\"outcome\":\"passed\",\"reason\":null,\"counts\":{\"pass\":1,\"fail\":0,\"error\":0,\"skipped\":0},"
            "\"mac\":\"%s\"}\\n' $n \"$ASSAY_JOB_ID\" \"$mac\" >> \"$L\"\n",
            outcome, reason, sizeof reason);
    cr_assert_str_eq(outcome, "error", "%s", reason);
    never_passes(outcome, reason, "carries a MAC that does not verify");
}

Test(forgery, killing_the_agent_is_an_error)
{
    char outcome[32], reason[4096];
    certify("kill", "kill -9 $(cat \"$ASSAY_JOB_DIR/state/supervisor.pid\")\n", outcome, reason, sizeof reason);
    cr_assert_str_eq(outcome, "error", "%s", reason);
    never_passes(outcome, reason, "supervisor lost");
}

/* The install step replaces the agent with its own and cuts the stream, so
 * that the controller's next attach would run the vendor's binary. The
 * controller runs only the agent it pushed (by digest): it pushes it again,
 * resumes, and the honest result stands. */
Test(forgery, a_replaced_agent_is_never_run)
{
    char outcome[32], reason[4096];
    certify("binary",
            "for a in \"$ASSAY_JOB_DIR\"/../../agents/*/assay-agent; do\n"
            "  printf '#!/bin/sh\\necho forged-agent-ran >> /tmp/assay-forged-agent-%s\\n' \"$ASSAY_JOB_ID\" "
            "> \"$a.new\" && chmod 755 \"$a.new\" && mv -f \"$a.new\" \"$a\"\n"
            "done\n"
            "pkill -f \"attach --job-dir .*$ASSAY_JOB_ID\"\n"
            "sleep 2\n",
            outcome, reason, sizeof reason);
    never_passes(outcome, reason, "");
    cr_assert_str_eq(outcome, "failed", "the product's own test fails: %s", reason);
    cr_assert(strstr(dispatch_out, "-> uploading: the host lacks our agent"), "the replaced agent was not pushed again: %s", dispatch_out);
    cr_assert_neq(lc_sh("cat /tmp/assay-forged-agent-* 2>/dev/null | grep -q forged-agent-ran"), 0,
                  "the vendor's agent ran");
    cr_assert_eq(lc_sh("cd %s/hosts/zhaoxin-1/root/agents && for d in *; do "
                       "[ \"$(sha256sum < $d/assay-agent | cut -c1-64)\" = \"$d\" ] || echo \"$d: replaced\"; done",
                       HOSTS),
                 0, "%s", lc_out);
    cr_assert_str_eq(lc_out, "", "an agent on the host is not the one pushed: %s", lc_out);
    lc_sh("rm -f /tmp/assay-forged-agent-*");
}

/* The control: an honest product on a host that is what its profile says
 * (the lab's reference host, x86_64 Debian 12) certifies, and `run wait`
 * exits 0. */
Test(forgery, an_honest_product_on_a_matching_host_certifies)
{
    lc_submission("honest", "[{\"id\": \"hello\", \"command\": \"./hello.sh | grep hello\", \"timeout\": 60}]");
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles x86_64-debian-12", LC_ASSAY, lc_pkg), 0, "%s", lc_out);
    char run[32];
    snprintf(run, sizeof run, "%d", atoi(lc_out));
    cr_assert_eq(lc_sh("%s dispatch --once", LC_ASSAY), 0, "dispatch: %s", lc_out);
    cr_assert_eq(lc_sh("%s run wait %s", LC_ASSAY, run), 0, "run wait: %s", lc_out);
    cr_assert(strstr(lc_out, "已认证 certified"), "%s", lc_out);
    cr_assert_eq(lc_sh("cd %s && %s report %s -o ok.json && jq -r .payload ok.json | base64 -d | "
                       "jq -r '.predicate.conclusion.status, .predicate.targets[0].isolation.run_user'",
                       lc_lab, LC_ASSAY, run),
                 0, "%s", lc_out);
    cr_assert_str_eq(lc_out, "certified\nassay-run\n");
}
