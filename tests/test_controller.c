/*
 * The controller against the real lab (ci/lab.sh: one OpenSSH sshd per
 * host, aarch64 and loongarch64 agents under qemu): the happy path on all
 * three architectures, and what goes wrong in a lab: a changed host key, a
 * refused user key, a dead host, a host killed mid-job, the controller
 * killed mid-job, cancel, priorities, a duplicate submission.
 */
#include "helpers.h"
#include "labctl.h"
#include "assay/json.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOSTS ASSAY_BINARY_DIR "/test-ctl-hosts"

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    lc_down(HOSTS);
}

static void setup(void)
{
    lc_setup(HOSTS, 13, 4);
}

TestSuite(controller, .init = setup, .fini = lc_teardown, .timeout = 240);

#define PASSING "[{\"id\": \"hello\", \"command\": \"./hello.sh | grep hello\", \"timeout\": 60}]"

Test(controller, a_run_on_all_three_architectures)
{
    lc_submission("ok", PASSING);
    cr_assert_eq(
        lc_sh("%s run submit %.12s --profiles kunpeng-920-kylin-v10,phytium-ft2000plus-uos-20,"
              "loongson-3a5000-openeuler-22.03,zhaoxin-kx6000-uos-20",
              LC_ASSAY, lc_pkg),
        0, "%s", lc_out);
    cr_assert_str_eq(lc_out, "1\n");
    cr_assert_eq(lc_sh("%s dispatch --once", LC_ASSAY), 0, "dispatch: %s", lc_out);
    cJSON *r = lc_run_json("1"), *j;
    cr_assert_str_eq(cJSON_GetObjectItem(r, "state")->valuestring, "done");
    lc_sh("sqlite3 %s/assay.db \"select id, host, outcome, reason from jobs\"", lc_lab);
    cr_assert_eq(cJSON_GetObjectItem(r, "passed")->valueint, 4, "%s", lc_out);
    int jobno = 0;
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(r, "job_list"))
    {
        cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed");
        int n = lc_check_events(cJSON_GetObjectItem(j, "id")->valueint, 1);
        cr_assert_eq(n, 8, "job-start, 3 step starts and ends, job-end");
        /* and the test's output came live, as it printed it (the log is
         * checked against the host's below) */
        cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"select json_extract(body, '$.data') from events where job_id = %d "
                           "and type = 'output' and json_extract(body, '$.step') = 'hello'\" | base64 -d",
                           lc_lab, cJSON_GetObjectItem(j, "id")->valueint),
                     0, "%s", lc_out);
        cr_assert(!strncmp(lc_out, "hello from ", 11), "live output of hello: %s", lc_out);
        jobno++;
    }
    cr_assert_eq(jobno, 4);
    cJSON_Delete(r);
    /* Each host reported its own architecture, and the emulated ones said so. */
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"select j.host, json_extract(e.body, '$.facts.arch'), "
                       "json_extract(e.body, '$.facts.emulation.emulated') from events e join jobs "
                       "j on j.id = e.job_id "
                       "where e.type = 'job-start' order by j.host\"",
                       lc_lab),
                 0, "%s", lc_out);
    cr_assert_str_eq(
        lc_out,
        "kunpeng-1|aarch64|1\nloongson-1|loongarch64|1\nphytium-1|aarch64|1\nzhaoxin-1|x86_64|0\n");
    /* The step logs are in the blob store, by digest. */
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"select count(*) from logs where path = "
                       "'logs/hello.1.stdout' and size > 0\"",
                       lc_lab),
                 0);
    cr_assert_str_eq(lc_out, "4\n");
}

Test(controller, a_changed_host_key_stops_all_work_with_the_host)
{
    lc_submission("ok", PASSING);
    /* Pin kunpeng-1 to phytium-1's key: what a swapped or rebuilt machine looks like. */
    cr_assert_eq(
        lc_sh("k=$(%s host list --json | python3 -c 'import json,sys; print([h[\"hostkey\"] for h "
              "in json.load(sys.stdin) if h[\"name\"]==\"phytium-1\"][0])'); "
              "sqlite3 %s/assay.db \"update hosts set hostkey = '$k' where name = 'kunpeng-1'\"",
              LC_ASSAY, lc_lab),
        0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles kunpeng-920-kylin-v10", LC_ASSAY, lc_pkg),
                 0);
    cr_assert_eq(lc_sh("%s dispatch --once", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "HOST KEY MISMATCH: pinned SHA256:"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s host list", LC_ASSAY), 0);
    cr_assert(strstr(lc_out, "DISABLED: ") && strstr(lc_out, "host presented SHA256:"), "%s",
              lc_out);
    /* The job was not run anywhere else and not blamed on the vendor. */
    cJSON *r = lc_run_json("1");
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "job_list"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "state")->valuestring, "queued");
    cr_assert(strstr(cJSON_GetObjectItem(j, "reason")->valuestring, "HOST KEY MISMATCH"));
    cJSON_Delete(r);
    /* host check says the same, with both fingerprints. */
    cr_assert_neq(lc_sh("%s host check kunpeng-1", LC_ASSAY), 0);
    cr_assert(strstr(lc_out, "pinned SHA256:") && strstr(lc_out, "host presented SHA256:"), "%s",
              lc_out);
}

/* host check times each phase of reaching a host and names the slowest;
 * a command that fails shows the host's stderr and the phase it failed in. */
Test(controller, host_check_says_where_the_time_went_and_what_failed)
{
    cr_assert_eq(lc_sh("%s host check zhaoxin-1 --timeout 120", LC_ASSAY), 0, "%s", lc_out);
    const char *phases[] = {"resolve", "connect", "handshake", "host key", "auth", "exec", "agent"};
    const char *at = lc_out;
    for (size_t i = 0; i < sizeof phases / sizeof *phases; i++) {
        char line[64];
        snprintf(line, sizeof line, "\n  %-10s ", phases[i]);
        at = strstr(at, line);
        cr_assert(at, "no %s line, or out of order: %s", phases[i], lc_out);
    }
    cr_assert(strstr(lc_out, "<- slowest"), "%s", lc_out);
    cr_assert_null(strstr(lc_out, "failed here"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s host check zhaoxin-1 --json", LC_ASSAY), 0, "%s", lc_out);
    cJSON *o = cJSON_Parse(lc_out);
    cr_assert_not_null(o, "%s", lc_out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "phases")), 7, "%s", lc_out);
    cJSON_Delete(o);

    /* A launcher that fails: the agent phase fails, with what the host said. */
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"update hosts set launcher = "
                       "'sh -c \\\"echo launcher broken on purpose >&2; exit 7\\\" --' "
                       "where name = 'zhaoxin-1'\"",
                       lc_lab),
                 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s host check zhaoxin-1", LC_ASSAY), 1, "%s", lc_out);
    cr_assert(strstr(lc_out, "assay: host check: host zhaoxin-1: agent: assay-agent facts failed (7)"), "%s",
              lc_out);
    const char *agent = strstr(lc_out, "\n  agent ");
    cr_assert(agent && strstr(agent, "<- failed here"), "%s", lc_out);
    cr_assert(strstr(lc_out, "remote stderr (exit status 7):\n    launcher broken on purpose"), "%s", lc_out);
}

Test(controller, a_refused_or_unsafe_user_key)
{
    /* zhaoxin-1's address (ci/lab.sh moves a lab whose net another lab holds). */
    char addr[128];
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"select address || ':' || port from hosts where name = "
                       "'zhaoxin-1'\" | tr -d '\\n'",
                       lc_lab),
                 0, "%s", lc_out);
    snprintf(addr, sizeof addr, "%s", lc_out);
    /* A key the hosts do not know. */
    cr_assert_eq(
        lc_sh("ssh-keygen -q -t ed25519 -N '' -f %s/other_key && %s host add stranger --profile "
              "zhaoxin-kx6000-uos-20 "
              "--address %s --user root --identity %s/other_key --trust-on-first-use",
              lc_lab, LC_ASSAY, addr, lc_lab),
        0, "%s", lc_out);
    cr_assert_neq(lc_sh("%s host check stranger", LC_ASSAY), 0);
    cr_assert(strstr(lc_out, "public key authentication refused"), "%s", lc_out);
    /* host check names the phase: the handshake and the key passed, auth did not. */
    cr_assert(strstr(lc_out, "assay: host check: host stranger: auth: "), "%s", lc_out);
    const char *auth = strstr(lc_out, "  auth ");
    cr_assert(auth && strstr(auth, "<- failed here") && strstr(lc_out, "  handshake ") &&
                  strstr(lc_out, "  host key "),
              "%s", lc_out);
    /* A private key others can read is refused before it is used. */
    cr_assert_eq(lc_sh("chmod 644 %s/other_key", lc_lab), 0);
    cr_assert_neq(lc_sh("%s host add loose --profile zhaoxin-kx6000-uos-20 --address "
                        "%s --user root "
                        "--identity %s/other_key --trust-on-first-use",
                        LC_ASSAY, addr, lc_lab),
                  0);
    cr_assert(strstr(lc_out, "must be a private file (mode 600, not 644)"), "%s", lc_out);
    cr_assert_eq(lc_sh("chmod 600 %s/other_key && sqlite3 %s/assay.db \"delete from hosts where "
                       "name != 'stranger'\"",
                       lc_lab, lc_lab),
                 0);
    lc_submission("ok", PASSING);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && %s dispatch --once",
                       LC_ASSAY, lc_pkg, LC_ASSAY),
                 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "host stranger: connecting -> disabled") && strstr(lc_out, "authentication refused"),
              "%s", lc_out);
}

Test(controller, a_dead_host_is_an_infrastructure_error)
{
    lc_submission("ok", PASSING);
    /* Nothing listens there; the key pin is a real-looking one. */
    cr_assert_eq(
        lc_sh("sqlite3 %s/assay.db \"update hosts set port = 1 where name = 'zhaoxin-1'\"", lc_lab),
        0);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20", LC_ASSAY, lc_pkg),
                 0);
    cr_assert_eq(lc_sh("%s dispatch --once --unreachable-timeout 2 --max-attempts 2", LC_ASSAY), 0,
                 "%s", lc_out);
    cJSON *r = lc_run_json("1");
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "job_list"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "error", "not a test failure");
    cr_assert(strstr(cJSON_GetObjectItem(j, "reason")->valuestring, "unreachable"), "%s",
              cJSON_GetObjectItem(j, "reason")->valuestring);
    cr_assert(strstr(cJSON_GetObjectItem(j, "reason")->valuestring, "attempt 2 of 2"));
    cJSON_Delete(r);
}

#define SLOW                                                                                       \
    "[{\"id\": \"slow\", \"command\": \"sleep 4; ./hello.sh\", \"timeout\": 60}, {\"id\": "        \
    "\"after\", \"command\": \"true\", \"timeout\": 60}]"

Test(controller, a_host_killed_mid_job_is_reattached)
{
    lc_submission("slow", SLOW);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles kunpeng-920-kylin-v10", LC_ASSAY, lc_pkg),
                 0);
    int pid = lc_dispatch_bg("dispatch.log", "");
    lc_wait_event(1, "step-start", "slow", 30);
    /* The host's sshd dies (network gone, daemon restarted): the job on the
     * host keeps running, detached. */
    cr_assert_eq(th_run(lc_out, sizeof lc_out,
                        "p=$(cat %s/hosts/kunpeng-1/sshd.pid); pkill -P $p; kill $p", HOSTS),
                 0);
    sleep(2);
    cr_assert_eq(th_run(lc_out, sizeof lc_out, "%s --dir %s --net 13 up 4", LC_LABSH, HOSTS), 0,
                 "%s", lc_out);
    for (int i = 0; i < 300; i++) {
        lc_sh("%s run show 1 --json", LC_ASSAY);
        if (strstr(lc_out, "\"state\":\t\"done\"") || strstr(lc_out, "\"state\": \"done\""))
            break;
        usleep(100000);
    }
    kill(pid, SIGTERM);
    lc_sh("sleep 0.5; cat %s/dispatch.log", lc_lab);
    cr_assert(strstr(lc_out, "host kunpeng-1: ") && strstr(lc_out, "-> down"), "%s", lc_out);
    cJSON *r = lc_run_json("1");
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "job_list"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed", "%s",
                     cJSON_Print(r));
    cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 1, "re-attached, not rerun");
    cJSON_Delete(r);
    lc_check_events(1, 1);
}

Test(controller, a_killed_controller_resumes_where_it_was)
{
    lc_submission("slow", SLOW);
    cr_assert_eq(
        lc_sh("%s run submit %.12s --profiles loongson-3a5000-openeuler-22.03", LC_ASSAY, lc_pkg),
        0);
    int pid = lc_dispatch_bg("dispatch1.log", "");
    lc_wait_event(1, "step-start", "slow", 30);
    kill(pid, SIGKILL);
    /* Restarted (--wait: the killed one's lock goes with its last breath):
     * it finds the running job and attaches from the last stored event. */
    cr_assert_eq(lc_sh("%s dispatch --once --wait", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "resuming from event"), "%s", lc_out);
    cJSON *r = lc_run_json("1");
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "job_list"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed");
    cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 1);
    cJSON_Delete(r);
    lc_check_events(1, 1);
}

Test(controller, cancel_stops_a_running_job)
{
    lc_submission("long", "[{\"id\": \"long\", \"command\": \"sleep 120\", \"timeout\": 300}]");
    cr_assert_eq(
        lc_sh("%s run submit %.12s --profiles phytium-ft2000plus-uos-20", LC_ASSAY, lc_pkg), 0);
    int pid = lc_dispatch_bg("dispatch.log", "");
    lc_wait_event(1, "step-start", "long", 30);
    cr_assert_eq(lc_sh("%s run cancel 1", LC_ASSAY), 0, "%s", lc_out);
    for (int i = 0; i < 200; i++) {
        lc_sh("%s run show 1 --json", LC_ASSAY);
        if (strstr(lc_out, "canceled\",") && strstr(lc_out, "\"outcome\":"))
            if (!strstr(lc_out, "\"state\":\t\"running\"") &&
                !strstr(lc_out, "\"state\": \"running\""))
                break;
        usleep(100000);
    }
    kill(pid, SIGTERM);
    cJSON *r = lc_run_json("1");
    cr_assert_str_eq(cJSON_GetObjectItem(r, "state")->valuestring, "canceled");
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "job_list"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "canceled", "%s",
                     cJSON_Print(r));
    cJSON_Delete(r);
    lc_check_events(1, 1);
}

Test(controller, higher_priority_runs_first)
{
    lc_submission("ok", PASSING);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && "
                       "%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 --priority 10",
                       LC_ASSAY, lc_pkg, LC_ASSAY, lc_pkg),
                 0);
    cr_assert_eq(lc_sh("%s dispatch --once", LC_ASSAY), 0, "%s", lc_out);
    cr_assert_eq(
        lc_sh("sqlite3 %s/assay.db \"select run_id from jobs order by started_at, id\"", lc_lab),
        0);
    /* Same second is possible: order by the agent's job-start event time instead. */
    cr_assert_eq(
        lc_sh("sqlite3 %s/assay.db \"select j.run_id from events e join jobs j on j.id = e.job_id "
              "where e.type = 'job-start' order by json_extract(e.body, '$.ts')\"",
              lc_lab),
        0);
    cr_assert_str_eq(lc_out, "2\n1\n");
}

Test(controller, a_duplicate_submission_is_a_no_op)
{
    lc_submission("ok", PASSING);
    cr_assert_eq(lc_sh("%s package add %s/ok.tar.gz 2>/dev/null", LC_ASSAY, lc_lab), 0, "%s",
                 lc_out);
    cr_assert(strncmp(lc_out, lc_pkg, 64) == 0, "another id: %s", lc_out);
    cr_assert_eq(lc_sh("%s package add %s/ok.tar.gz 2>&1 >/dev/null", LC_ASSAY, lc_lab), 0, "%s",
                 lc_out);
    cr_assert(strstr(lc_out, "was added before; nothing changed"), "%s", lc_out);
    cr_assert_eq(lc_sh("%s package list --json | grep -c '\"id\"'", LC_ASSAY), 0);
    cr_assert_str_eq(lc_out, "1\n");
}

Test(controller, a_run_can_stop_on_preflight_errors)
{
    /* An x86_64 binary linked against glibc 2.36 (needs GLIBC_2.34) for UOS
     * 20, which has glibc 2.28. */
    char dir[300];
    snprintf(dir, sizeof dir, "%s/sub-pf", lc_lab);
    cr_assert_eq(
        lc_sh("set -e; mkdir -p %s/pkgs %s/p/usr/bin; cp %s/elf-corpus/hello-x86_64 "
              "%s/p/usr/bin/hello;"
              "tar -C %s/p -czf %s/pkgs/hello.tar.gz usr;"
              "printf '%%s' '{\"manifest\": 1, \"product\": \"pf\", \"version\": \"1\", "
              "\"vendor\": \"v\","
              " \"artifacts\": [{\"file\": \"pkgs/hello.tar.gz\", \"arch\": \"x86_64\"}],"
              " \"install\": {\"command\": \"tar -xzf \\\"$ASSAY_ARTIFACT\\\"\", \"timeout\": 60},"
              " \"tests\": [{\"id\": \"runs\", \"command\": \"usr/bin/hello\", \"timeout\": 60}],"
              " \"uninstall\": {\"command\": \"rm -rf usr\", \"timeout\": 60}}' > %s/manifest.json;"
              "tar -C %s -czf %s/pf.tar.gz manifest.json pkgs; id=$(%s package add %s/pf.tar.gz "
              "2>%s/err);"
              "cat %s/err; echo \"ID=$id\"",
              dir, dir, ASSAY_BINARY_DIR, dir, dir, dir, dir, dir, lc_lab, LC_ASSAY, lc_lab, lc_lab,
              lc_lab),
        0, "%s", lc_out);
    cr_assert(strstr(lc_out, "assay: preflight: 4 errors, 0 warnings over 7 profiles"),
              "the 2.28 ones: %s", lc_out);
    cr_assert_not_null(strstr(lc_out, "ID="));
    snprintf(lc_pkg, sizeof lc_pkg, "%.64s", strstr(lc_out, "ID=") + 3);
    cr_assert_eq(
        lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 --stop-on-preflight-error && "
              "%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && %s dispatch --once",
              LC_ASSAY, lc_pkg, LC_ASSAY, lc_pkg, LC_ASSAY),
        0, "%s", lc_out);
    cJSON *r = lc_run_json("1");
    const cJSON *j = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "job_list"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "failed");
    cr_assert(strstr(cJSON_GetObjectItem(j, "reason")->valuestring,
                     "stopped before install: preflight found"),
              "%s", cJSON_GetObjectItem(j, "reason")->valuestring);
    cJSON_Delete(r);
    /* Without the option the same package runs (and, on this Debian host
     * with glibc 2.36, passes: only a real UOS 20 would show the failure). */
    r = lc_run_json("2");
    j = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "job_list"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed");
    cJSON_Delete(r);
}

/* A product of two packages (a program and the shared library it needs)
 * as one artifact's "files": both reach the host, the install step finds
 * them in $ASSAY_ARTIFACTS (in the manifest's order) and alone in
 * $ASSAY_ARTIFACT_DIR, and the program runs against the library. */
Test(controller, a_two_package_product_installs_from_assay_artifacts)
{
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/sub-set", lc_lab);
    cr_assert_eq(
        lc_sh("set -e; d=%s; mkdir -p $d/src $d/lib/usr/lib $d/prog/usr/bin $d/pkgs; cd $d/src;"
              "printf 'const char *greeting(void) { return \"greetings from a set\"; }\\n' > lib.c;"
              "printf '#include <stdio.h>\\nconst char *greeting(void);\\nint main(void) { puts(greeting()); "
              "return 0; }\\n' > prog.c;"
              "gcc -shared -fPIC -Wl,-soname,libgreet.so.1 -o $d/lib/usr/lib/libgreet.so.1 lib.c;"
              "gcc -o $d/prog/usr/bin/greet prog.c -L$d/lib/usr/lib -l:libgreet.so.1;"
              "tar -C $d/prog -czf $d/pkgs/greet.tar.gz usr; tar -C $d/lib -czf $d/pkgs/greet-lib.tar.gz usr",
              dir),
        0, "%s", lc_out);
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"manifest\": 1, \"product\": \"greet\", \"version\": \"1.0\", \"vendor\": \"Example Co.\","
          " \"artifacts\": [{\"files\": [\"pkgs/greet.tar.gz\", \"pkgs/greet-lib.tar.gz\"], \"arch\": \"x86_64\"}],"
          " \"install\": {\"command\": \"for f in $ASSAY_ARTIFACTS; do tar -xzf \\\"$f\\\" || exit 1; done; "
          "printf '%s\\\\n' \\\"$ASSAY_ARTIFACTS\\\" > artifacts.list; "
          "test \\\"$ASSAY_ARTIFACT\\\" = \\\"$ASSAY_ARTIFACT_DIR/greet.tar.gz\\\"\", \"timeout\": 60},"
          " \"tests\": [{\"id\": \"runs\", \"command\": \"LD_LIBRARY_PATH=usr/lib usr/bin/greet | grep 'from a set'\","
          " \"timeout\": 60},"
          " {\"id\": \"order\", \"command\": \"test \\\"$(sed -n 1p artifacts.list)\\\" = "
          "\\\"$ASSAY_ARTIFACT_DIR/greet.tar.gz\\\" && test \\\"$(sed -n 2p artifacts.list)\\\" = "
          "\\\"$ASSAY_ARTIFACT_DIR/greet-lib.tar.gz\\\" && test $(wc -l < artifacts.list) = 2 && "
          "test \\\"$(ls \\\"$ASSAY_ARTIFACT_DIR\\\" | tr '\\\\n' ' ')\\\" = 'greet-lib.tar.gz greet.tar.gz '\","
          " \"timeout\": 60}],"
          " \"uninstall\": {\"command\": \"rm -rf usr artifacts.list\", \"timeout\": 60}}\n",
          f);
    fclose(f);
    cr_assert_eq(lc_sh("tar -C %s -czf %s/set.tar.gz manifest.json pkgs && %s package add %s/set.tar.gz 2>/dev/null",
                       dir, dir, LC_ASSAY, dir),
                 0, "%s", lc_out);
    snprintf(lc_pkg, sizeof lc_pkg, "%.64s", lc_out);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && %s dispatch --once", LC_ASSAY, lc_pkg,
                       LC_ASSAY),
                 0, "%s", lc_out);
    cJSON *r = lc_run_json("1");
    const cJSON *j = lc_job(r, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed", "%s",
                     cJSON_GetObjectItem(j, "reason")->valuestring);
    cJSON_Delete(r);
    /* The report names both files of the artifact. */
    cr_assert_eq(lc_sh("%s report 1 --format html", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "2 个文件一并安装 2 files installed together:<br><code>pkgs/greet.tar.gz</code><br><code>"
                             "pkgs/greet-lib.tar.gz</code>"),
              "%s", lc_out);
}

/* A host that has the agent and the artifact runs a job in one command
 * (RUN); a host without the agent gets it first, then RUN again. */
Test(controller, a_warm_host_runs_a_job_in_one_command)
{
    lc_submission("ok", PASSING);
    /* Cold: no agent on zhaoxin-1. */
    cr_assert_eq(lc_sh("rm -rf %s/hosts/zhaoxin-1/root/agents && %s run submit %.12s --profiles "
                       "zhaoxin-kx6000-uos-20 && %s dispatch --once",
                       HOSTS, LC_ASSAY, lc_pkg, LC_ASSAY),
                 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "starting -> uploading: ") &&
                  strstr(lc_out, "uploading -> streaming") && strstr(lc_out, "fetching logs -> ending"),
              "%s", lc_out);
    /* Warm: one command, from start to the last log. */
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && %s dispatch --once",
                       LC_ASSAY, lc_pkg, LC_ASSAY),
                 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "starting -> streaming") && strstr(lc_out, "fetching logs -> ending") &&
                  !strstr(lc_out, "upload"),
              "%s", lc_out);
    cJSON *r = lc_run_json("2");
    cr_assert_str_eq(cJSON_GetObjectItem(lc_job(r, 0), "outcome")->valuestring, "passed");
    cJSON_Delete(r);
    lc_check_events(2, 1);
    cr_assert_eq(
        lc_sh("sqlite3 %s/assay.db \"select count(*) from logs where job_id = 2\"", lc_lab), 0);
    cr_assert_str_eq(lc_out, "6\n");
    /* Both jobs' directories are on the host until the lab's retention is
     * over; then gc --hosts removes them there (the dispatcher would, on
     * an idle host), and another directory in jobs/ stays. */
    const char *jobs = HOSTS "/hosts/zhaoxin-1/root/jobs";
    cr_assert_eq(lc_sh("id=$(sqlite3 %s/assay.db \"select value from meta where key = 'lab_id'\") && "
                       "test -d %s/$id-r1-j1-a1/logs && test -d %s/$id-r2-j2-a1/logs && mkdir -p %s/not-ours && "
                       "%s gc --hosts && %s config set hosts.job_retention_days 0 && %s gc --hosts && "
                       "! test -e %s/$id-r1-j1-a1 && ! test -e %s/$id-r2-j2-a1 && test -d %s/not-ours",
                       lc_lab, jobs, jobs, jobs, LC_ASSAY, LC_ASSAY, LC_ASSAY, jobs, jobs, jobs),
                 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "removed 0 job directories on hosts\n") &&
                  strstr(lc_out, "removed 2 job directories on hosts\n"),
              "within the retention none, then both: %s", lc_out);
}

/* An install that fails the way a missing dependency does: run show names
 * the step and the first line of its stderr, run logs and job show give
 * the logs, and every report form carries the tails (escaped), the JSON
 * by digest too. */
Test(controller, why_a_job_failed_is_on_screen_and_in_the_report)
{
    lc_submission_install("nodep", "echo 'Reading package lists...'\n"
                                   "echo 'E: Unable to locate package libfoo <&>' >&2\n"
                                   "printf '\\033[31mred\\n' >&2\nexit 100\n",
                          PASSING);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && %s dispatch --once", LC_ASSAY,
                       lc_pkg, LC_ASSAY),
                 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s run show 1", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "失败 failed at install: exit status 100: E: Unable to locate package libfoo <&>"),
              "%s", lc_out);
    cr_assert(strstr(lc_out, "兆芯 KX-6000 / 统信 UOS 20"), "%s", lc_out);
    cJSON *rj = lc_run_json("1");
    const cJSON *fs = cJSON_GetObjectItem(lc_job(rj, 0), "failed_step");
    cr_assert_str_eq(cJSON_GetObjectItem(fs, "step")->valuestring, "install");
    cr_assert_str_eq(cJSON_GetObjectItem(fs, "status")->valuestring, "exit status 100");
    cr_assert_str_eq(cJSON_GetObjectItem(fs, "stderr_first_line")->valuestring,
                     "E: Unable to locate package libfoo <&>");
    cJSON_Delete(rj);
    cr_assert_eq(lc_sh("%s run logs 1 --step install --stderr", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "==> job 1 zhaoxin-kx6000-uos-20 step install run 1 stderr (") &&
                  strstr(lc_out, "E: Unable to locate package libfoo <&>\n\033[31mred\n") &&
                  !strstr(lc_out, "Reading package lists"),
              "piped, as stored, stderr only: %s", lc_out);
    cr_assert_eq(lc_sh("%s run logs 1 --job 1 --step install --stdout", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "Reading package lists...") && !strstr(lc_out, "libfoo"), "%s", lc_out);
    cr_assert_neq(lc_sh("%s run logs 1 --step nosuch", LC_ASSAY), 0);
    cr_assert_eq(lc_sh("%s job show 1", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "install") && strstr(lc_out, "exit status 100") &&
                  strstr(lc_out, "    E: Unable to locate package libfoo <&>") && !strstr(lc_out, "\033"),
              "the tail, escaped for the terminal: %s", lc_out);
    cr_assert_eq(lc_sh("%s job show 1 --json", LC_ASSAY), 0, "%s", lc_out);
    cJSON *j = cJSON_Parse(lc_out);
    cr_assert_not_null(j, "%s", lc_out);
    const cJSON *st0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "steps"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(st0, "step")->valuestring, "install");
    char digest[65];
    snprintf(digest, sizeof digest, "%s", cJSON_GetObjectItem(cJSON_GetObjectItem(st0, "stderr"), "sha256")->valuestring);
    cJSON_Delete(j);
    /* The signed payload: the tail, and the digest of the whole log, which
     * is the blob the lab keeps. */
    cr_assert_eq(lc_sh("%s report 1 | python3 -c 'import json,sys,base64; p=json.loads(base64.b64decode("
                       "json.load(sys.stdin)[\"payload\"])); s=p[\"predicate\"][\"targets\"][0][\"steps\"][\"install\"]"
                       "[\"logs\"][\"stderr\"]; print(s[\"sha256\"]); print(s[\"tail\"], end=\"\")'",
                       LC_ASSAY),
                 0, "%s", lc_out);
    char want[512];
    snprintf(want, sizeof want, "%s\nE: Unable to locate package libfoo <&>\n\xef\xbf\xbd[31mred\n", digest);
    cr_assert_str_eq(lc_out, want);
    cr_assert_eq(lc_sh("sha256sum %s/blobs/%.2s/%s", lc_lab, digest, digest + 2), 0, "%s", lc_out);
    cr_assert(strncmp(lc_out, digest, 64) == 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s report 1 --format html", LC_ASSAY), 0);
    cr_assert(strstr(lc_out, "<pre>E: Unable to locate package libfoo &lt;&amp;&gt;\n\xef\xbf\xbd[31mred\n</pre>"),
              "%s", lc_out);
    cr_assert_eq(lc_sh("%s report 1 --format md", LC_ASSAY), 0);
    cr_assert(strstr(lc_out, "step install: fail (exit status 100)") &&
                  strstr(lc_out, "> E: Unable to locate package libfoo \\<\\&\\>\n"),
              "%s", lc_out);
}

/* Issue 18 on the lab itself: the same package run twice compares as "no
 * measurable difference"; a version whose benchmark scores 30% lower
 * compares as "slower" with p < 0.01. The benchmark reports a value (its
 * stdout's last line), so what is tested is the whole path, agent repeats
 * to compare verdict, not the scheduler's noise (the statistics themselves
 * are held to SciPy's numbers in test_stats). */
static void bench_submission(const char *name, const char *version, int score)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/sub-%s", lc_lab, name);
    int rc = lc_sh("set -e; mkdir -p %s/pkgs %s/p; echo x > %s/p/x; tar -C %s/p -czf %s/pkgs/x.tar.gz x;"
                   "cat > %s/manifest.json <<'EOF'\n"
                   "{\"manifest\": 1, \"product\": \"scorer\", \"version\": \"%s\", \"vendor\": \"Example Co.\","
                   " \"artifacts\": [{\"file\": \"pkgs/x.tar.gz\", \"arch\": \"noarch\"}],"
                   " \"install\": {\"command\": \"true\", \"timeout\": 60},"
                   " \"tests\": [{\"id\": \"t\", \"command\": \"true\", \"timeout\": 60}],"
                   " \"benchmarks\": [{\"id\": \"score\", \"command\": \"echo %d\", \"unit\": \"ops/s\","
                   "   \"repeat\": {\"min\": 6, \"max\": 6}, \"timeout\": 60}],"
                   " \"uninstall\": {\"command\": \"true\", \"timeout\": 60}}\n"
                   "EOF\n"
                   "tar -C %s -czf %s/%s.tar.gz manifest.json pkgs; %s package add %s/%s.tar.gz 2>/dev/null",
                   dir, dir, dir, dir, dir, dir, version, score, dir, lc_lab, name, LC_ASSAY, lc_lab, name);
    cr_assert_eq(rc, 0, "submission %s: %s", name, lc_out);
    snprintf(lc_pkg, sizeof lc_pkg, "%.64s", lc_out);
}

static const cJSON *first_comparison(cJSON *cmp)
{
    const cJSON *x = cJSON_GetArrayItem(cJSON_GetObjectItem(cmp, "benchmarks"), 0);
    cr_assert_not_null(x, "no comparison");
    return x;
}

Test(controller, runs_compare_as_the_same_or_slower)
{
    bench_submission("v1", "1.0", 100);
    char v1[65];
    snprintf(v1, sizeof v1, "%s", lc_pkg);
    bench_submission("v2", "2.0", 70);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && %s run submit %.12s --profiles "
                       "zhaoxin-kx6000-uos-20 && %s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && "
                       "%s dispatch --once",
                       LC_ASSAY, v1, LC_ASSAY, v1, LC_ASSAY, lc_pkg, LC_ASSAY),
                 0, "%s", lc_out);
    cr_assert_eq(lc_sh("%s compare 1 2 --json", LC_ASSAY), 0, "%s", lc_out);
    cJSON *same = cJSON_Parse(lc_out);
    cr_assert_not_null(same, "%s", lc_out);
    cr_assert_str_eq(assay_json_str(first_comparison(same), "verdict"), "no measurable difference", "%s", lc_out);
    cJSON_Delete(same);
    cr_assert_eq(lc_sh("%s compare 1 3 --json", LC_ASSAY), 0, "%s", lc_out);
    cJSON *slower = cJSON_Parse(lc_out);
    cr_assert_not_null(slower, "%s", lc_out);
    const cJSON *x = first_comparison(slower);
    cr_assert_str_eq(assay_json_str(x, "verdict"), "slower", "%s", lc_out);
    cr_assert_lt(assay_json_num(x, "p"), 0.01, "%s", lc_out);
    cr_assert_float_eq(assay_json_num(x, "ratio"), 0.7, 1e-9, "%s", lc_out);
    cJSON_Delete(slower);
}
