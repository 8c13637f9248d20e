/*
 * Host reset between certification jobs, against the real lab (ci/lab.sh,
 * whose hosts reset with ci/lab-reset.sh): two products on one host, the
 * second after a reset that really ran; a host without a reset command; a
 * canceled job whose uninstall still runs, and the reset after it.
 * Everything runs on zhaoxin-1 (x86_64, native: fast).
 */
#include "helpers.h"
#include "labctl.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOSTS ASSAY_BINARY_DIR "/test-reset-hosts"
#define NET 17
/* The marker that makes the test long lives outside the host's agent root
 * (the reset recreates that) where the run user can see it: beside the
 * lab folder, in this test's own folder (lc_setup makes it searchable), so
 * that another checkout's test_reset never touches it. */
static char slow[300];
#define ZHAOXIN "zhaoxin-kx6000-uos-20"
/* Seen from a job directory (<root>/jobs/<job>): the host's agent root and
 * the lab host's own folder around it. */
#define ROOT HOSTS "/hosts/zhaoxin-1/root"

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    lc_down(HOSTS);
}

static void setup(void)
{
    lc_setup(HOSTS, NET, 4);
    snprintf(slow, sizeof slow, "%.*s/slow", (int)(strrchr(lc_lab, '/') - lc_lab), lc_lab);
    th_run(NULL, 0, "rm -f %s/leftover-*", ROOT);
}

TestSuite(reset, .init = setup, .fini = lc_teardown, .timeout = 240);

static char pkg_a[65], pkg_b[65];

/* A submission (product hello-NAME) with the install, tests and uninstall
 * the test gives (JSON values); its id goes to out. */
static void submission(char out[65], const char *name, const char *install, const char *tests,
                       const char *uninstall)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/sub-%s", lc_lab, name);
    int rc = lc_sh("set -e; mkdir -p %s/pkgs %s/payload; printf '#!/bin/sh\\necho hello\\n' > %s/payload/hello.sh;"
                   "chmod 755 %s/payload/hello.sh; tar -C %s/payload -czf %s/pkgs/hello.tar.gz hello.sh;"
                   "cat > %s/manifest.json <<'EOF'\n"
                   "{\"manifest\": 1, \"product\": \"hello-%s\", \"version\": \"1.0\", \"vendor\": \"Example Co.\","
                   " \"artifacts\": [{\"file\": \"pkgs/hello.tar.gz\", \"arch\": \"noarch\"}],"
                   " \"install\": {\"command\": %s, \"timeout\": 60}, \"tests\": %s,"
                   " \"uninstall\": {\"command\": %s, \"timeout\": 60}}\n"
                   "EOF\n"
                   "tar -C %s -czf %s/%s.tar.gz manifest.json pkgs; %s package add %s/%s.tar.gz 2>/dev/null",
                   dir, dir, dir, dir, dir, dir, dir, name, install, tests, uninstall, dir, lc_lab, name, LC_ASSAY,
                   lc_lab, name);
    cr_assert_eq(rc, 0, "submission %s: %s", name, lc_out);
    snprintf(out, 65, "%.64s", lc_out);
}

/* Product A's install leaves a file in the agent root, outside its job
 * directory, that its uninstall forgets: what a reset must remove. B's
 * test fails if that file is there. */
static void two_products(void)
{
    submission(pkg_a, "a", "\"touch $ASSAY_JOB_DIR/../../leftover-a && tar -xzf \\\"$ASSAY_ARTIFACT\\\"\"",
               "[{\"id\": \"hello\", \"command\": \"./hello.sh\", \"timeout\": 60}]", "\"rm -f hello.sh\"");
    submission(pkg_b, "b", "\"tar -xzf \\\"$ASSAY_ARTIFACT\\\"\"",
               "[{\"id\": \"clean\", \"command\": \"test ! -e $ASSAY_JOB_DIR/../../leftover-a\", \"timeout\": 60}]",
               "\"rm -f hello.sh\"");
}

/* Run package `pkg` on zhaoxin-1 to its end (run number `run`), dispatch
 * output in dispatch-RUN.log; returns the job's outcome (static). */
static const char *run_on_zhaoxin(const char *pkg, int run)
{
    static char outcome[32];
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles " ZHAOXIN, LC_ASSAY, pkg), 0, "%s", lc_out);
    cr_assert_eq(atoi(lc_out), run, "%s", lc_out);
    cr_assert_eq(lc_sh("%s dispatch --once > %s/dispatch-%d.log 2>&1", LC_ASSAY, lc_lab, run), 0, "dispatch");
    lc_sh("sqlite3 -cmd '.timeout 10000' %s/assay.db \"select outcome from jobs where run_id = %d\"", lc_lab, run);
    snprintf(outcome, sizeof outcome, "%.*s", (int)strcspn(lc_out, "\n"), lc_out);
    return outcome;
}

/* The signed report's host_reset of run `run`'s only target, and of its
 * last attempt in attempt_history: "True", "False" or "None" each. */
static void host_reset_of(int run, const char *want)
{
    cr_assert_eq(lc_sh("%s report %d -o %s/r%d.json && %s verify %s/r%d.json >/dev/null && "
                       "python3 -c \"import json,base64; e=json.load(open('%s/r%d.json')); "
                       "t=json.loads(base64.b64decode(e['payload']))['predicate']['targets'][0]; "
                       "print(t['host_reset'], t['attempt_history'][-1]['host_reset'])\"",
                       LC_ASSAY, run, lc_lab, run, LC_ASSAY, lc_lab, run, lc_lab, run),
                 0, "%s", lc_out);
    char line[64];
    snprintf(line, sizeof line, "%s %s\n", want, want);
    cr_assert_str_eq(lc_out, line, "run %d: host_reset", run);
}

Test(reset, a_host_that_ran_another_product_is_reset_first)
{
    two_products();
    cr_assert_str_eq(run_on_zhaoxin(pkg_a, 1), "passed");
    host_reset_of(1, "None"); /* a fresh host needs no reset */
    cr_assert_eq(th_run(NULL, 0, "test -e %s/leftover-a", ROOT), 0, "A's install left nothing behind");
    /* The store knows what went to the host last. */
    cr_assert_eq(lc_sh("%s host list --json", LC_ASSAY), 0, "%s", lc_out);
    cJSON *hosts = cJSON_Parse(lc_out), *h, *z = NULL;
    cJSON_ArrayForEach(h, hosts) if (!strcmp(cJSON_GetObjectItem(h, "name")->valuestring, "zhaoxin-1")) z = h;
    cr_assert_not_null(z);
    cr_assert_str_eq(cJSON_GetObjectItem(z, "last_package")->valuestring, pkg_a);
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(z, "clean")), "A ended and uninstalled");
    cr_assert(strstr(cJSON_GetObjectItem(z, "reset")->valuestring, "ci/lab-reset.sh"));
    cJSON_Delete(hosts);

    /* B on the same host: reset first, and the reset really ran (B's test
     * passes only without A's leftover). */
    cr_assert_str_eq(run_on_zhaoxin(pkg_b, 2), "passed");
    cr_assert_neq(th_run(NULL, 0, "test -e %s/leftover-a", ROOT), 0, "A's leftover survived the reset");
    lc_sh("cat %s/dispatch-2.log", lc_lab);
    cr_assert(strstr(lc_out, "the host is reset first: its last job (1) was of another package"), "%s", lc_out);
    cr_assert(strstr(lc_out, "resetting -> starting: the host is reset"), "%s", lc_out);
    host_reset_of(2, "True");

    /* B again: the same package, left clean: no reset. */
    cr_assert_str_eq(run_on_zhaoxin(pkg_b, 3), "passed");
    lc_sh("cat %s/dispatch-3.log", lc_lab);
    cr_assert_null(strstr(lc_out, "reset"), "%s", lc_out);
    host_reset_of(3, "None");
}

Test(reset, a_host_without_a_reset_command_is_reported_not_reset)
{
    two_products();
    cr_assert_str_eq(run_on_zhaoxin(pkg_a, 1), "passed");
    /* The lab's hosts without their reset command: an update keeps what
     * the store knows of each host (that A went to zhaoxin-1 last). */
    cr_assert_eq(lc_sh("sed 's/, \"reset\": \"[^\"]*\"//' %s/hosts.json > %s/noreset.json && "
                       "%s host import %s/noreset.json",
                       HOSTS, lc_lab, LC_ASSAY, lc_lab),
                 0, "%s", lc_out);
    cr_assert_str_eq(lc_out, "0 hosts added, 4 updated\n");
    /* B's own test fails: A's leftover is there, and the report says why
     * that can be: the host was not reset. */
    cr_assert_str_eq(run_on_zhaoxin(pkg_b, 2), "failed");
    lc_sh("cat %s/dispatch-2.log", lc_lab);
    cr_assert(strstr(lc_out, "needs a reset (its last job (1) was of another package) but has none"), "%s", lc_out);
    host_reset_of(2, "False");
}

Test(reset, a_failing_reset_is_the_hosts_failure_not_the_products)
{
    two_products();
    cr_assert_str_eq(run_on_zhaoxin(pkg_a, 1), "passed");
    cr_assert_eq(lc_sh("sed 's|\"reset\": \"[^\"]*\"|\"reset\": \"echo broken >\\&2; exit 3\"|' %s/hosts.json > "
                       "%s/broken.json && %s host import %s/broken.json",
                       HOSTS, lc_lab, LC_ASSAY, lc_lab),
                 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles " ZHAOXIN, LC_ASSAY, pkg_b), 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s dispatch --once --max-attempts 2 > %s/dispatch-2.log 2>&1", LC_ASSAY, lc_lab), 0);
    cJSON *r = lc_run_json("2");
    const cJSON *j = lc_job(r, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "error", "an infrastructure error, not failed");
    cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 2, "failed over (to the same host, the only one)");
    cr_assert(strstr(cJSON_GetObjectItem(j, "reason")->valuestring,
                     "the reset of zhaoxin-1 failed (exit status 3): broken"),
              "%s", cJSON_GetObjectItem(j, "reason")->valuestring);
    cJSON_Delete(r);
    /* Nothing of B ran on the host. */
    cr_assert_eq(lc_sh("sqlite3 -cmd '.timeout 10000' %s/assay.db \"select count(*) from events where job_id = 2\"", lc_lab), 0);
    cr_assert_str_eq(lc_out, "0\n");
}

/* A test that sleeps 120 s while the marker `slow` is there (static). */
static const char *long_tests(void)
{
    static char tests[600];
    snprintf(tests, sizeof tests,
             "[{\"id\": \"long\", \"command\": \"if [ -e %s ]; then sleep 120; fi\", \"timeout\": 300}]", slow);
    return tests;
}

/* Cancel run `run` (with `flags`) while its test runs; returns when the
 * job has ended. */
static void cancel_mid_test(int run, const char *flags)
{
    th_run(NULL, 0, "touch %s", slow);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles " ZHAOXIN, LC_ASSAY, pkg_a), 0, "%s", lc_out);
    char log[32];
    snprintf(log, sizeof log, "dispatch-%d.log", run);
    int pid = lc_dispatch_bg(log, "");
    lc_wait_event(run, "step-start", "long", 60);
    cr_assert_eq(lc_sh("%s run cancel %d %s", LC_ASSAY, run, flags), 0, "%s", lc_out);
    for (int i = 0; i < 300; i++) {
        lc_sh("sqlite3 -cmd '.timeout 10000' %s/assay.db \"select state from jobs where run_id = %d\"", lc_lab, run);
        if (!strcmp(lc_out, "canceled\n"))
            break;
        usleep(100000);
    }
    kill(pid, SIGTERM);
    cr_assert_str_eq(lc_out, "canceled\n", "the job did not end");
    for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) /* the store is its until it exits */
        usleep(100000);
    /* The marker goes with the job: the next run of the product is quick. */
    th_run(NULL, 0, "rm -f %s", slow);
}

/* The uninstall step-end of run `run`'s job: its verdict and reason. */
static const char *uninstall_of(int run)
{
    lc_sh("sqlite3 -cmd '.timeout 10000' %s/assay.db \"select json_extract(body, '$.verdict') || ' ' || "
          "coalesce(json_extract(body, '$.reason'), '') from events where job_id = %d and type = 'step-end' "
          "and json_extract(body, '$.kind') = 'uninstall'\"",
          lc_lab, run);
    return lc_out;
}

Test(reset, a_canceled_job_still_uninstalls_and_its_host_is_reset_before_the_next)
{
    submission(pkg_a, "a", "\"touch $ASSAY_JOB_DIR/../../leftover-a && tar -xzf \\\"$ASSAY_ARTIFACT\\\"\"", long_tests(),
               "\"rm -f $ASSAY_JOB_DIR/../../leftover-a hello.sh\"");
    cancel_mid_test(1, "");
    cr_assert_str_eq(uninstall_of(1), "pass \n", "the uninstall ran after the cancel: %s", lc_out);
    cr_assert_neq(th_run(NULL, 0, "test -e %s/leftover-a", ROOT), 0, "the uninstall did not run");
    /* The same product again: the canceled job left the host not clean. */
    cr_assert_str_eq(run_on_zhaoxin(pkg_a, 2), "passed");
    lc_sh("cat %s/dispatch-2.log", lc_lab);
    cr_assert(strstr(lc_out, "the host is reset first: its last job (1) did not leave it clean"), "%s", lc_out);
    host_reset_of(2, "True");

    /* --now: no uninstall; what the install left stays until the reset. */
    cancel_mid_test(3, "--now");
    cr_assert_str_eq(uninstall_of(3), "skipped canceled now\n");
    cr_assert_eq(th_run(NULL, 0, "test -e %s/leftover-a", ROOT), 0, "nothing uninstalled after --now");
}
