/*
 * Faults, against the real lab (8 hosts: two of each family, so each
 * profile has a spare): a dropped connection, a host killed mid-job, a host
 * that stops answering without closing, garbage from an agent, a host that
 * offers only an RSA host key, and the controller's own disk filling up.
 * Each checks that nothing is lost and the loop keeps serving other jobs.
 * The controller killed over and over is ci/soak.sh (its own ctest test).
 */
#include "helpers.h"
#include "labctl.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/parameterized.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#define HOSTS ASSAY_BINARY_DIR "/test-faults-hosts"
#define NET 14

#define PASSING "[{\"id\": \"hello\", \"command\": \"./hello.sh | grep hello\", \"timeout\": 60}]"
#define SLOW                                                                                       \
    "[{\"id\": \"slow\", \"command\": \"sleep 6; ./hello.sh\", \"timeout\": 60}, "                 \
    "{\"id\": \"after\", \"command\": \"true\", \"timeout\": 60}]"

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    lc_down(HOSTS);
}

static void setup(void)
{
    lc_setup(HOSTS, NET, 8);
}

static void teardown(void)
{
    /* Whatever a test stopped or killed: stopped processes cannot be
     * killed by TERM, so KILL what is still stopped, then bring the lab
     * back for the next test. */
    th_run(NULL, 0,
           "for f in %s/hosts/*/sshd.pid; do p=$(cat $f 2>/dev/null) || continue; "
           "pkill -CONT -P $p; kill -CONT $p; done 2>/dev/null; true",
           HOSTS);
    lc_teardown();
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 240);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The host job `job` was given, into buf. */
static const char *host_of(int job, char *buf, size_t len)
{
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"select host from jobs where id = %d\"", lc_lab, job),
                 0);
    snprintf(buf, len, "%.*s", (int)strcspn(lc_out, "\n"), lc_out);
    cr_assert(buf[0], "job %d has no host", job);
    return buf;
}

static void stop_dispatch(int pid)
{
    kill(pid, SIGTERM);
    for (int i = 0; i < 50 && kill(pid, 0) == 0; i++)
        usleep(100000);
}

Test(faults, a_dropped_connection_is_reattached)
{
    char host[64];
    lc_submission("slow", SLOW);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20", LC_ASSAY, lc_pkg),
                 0);
    int pid = lc_dispatch_bg("dispatch.log", "");
    lc_wait_event(1, "step-start", "slow", 60);
    host_of(1, host, sizeof host);
    /* Kill the host's per-connection sshd processes, not the listener:
     * what a network reset looks like from the controller. */
    cr_assert_eq(
        th_run(lc_out, sizeof lc_out, "pkill -9 -P $(cat %s/hosts/%s/sshd.pid)", HOSTS, host), 0,
        "%s", lc_out);
    cr_assert_eq(lc_wait_run("1", 60), 0, "the run did not finish");
    stop_dispatch(pid);
    lc_sh("cat %s/dispatch.log", lc_lab);
    cr_assert(strstr(lc_out, "-> down:") && strstr(lc_out, "-> ready: back"), "%s", lc_out);
    cJSON *r = lc_run_json("1");
    const cJSON *j = lc_job(r, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed", "%s", lc_out);
    cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 1, "re-attached, not run again");
    cJSON_Delete(r);
    lc_check_events(1, 1);
    cr_assert_eq(
        lc_sh("sqlite3 %s/assay.db \"select group_concat(path, ' ') from (select path from logs "
              "where job_id = 1 and size >= 0 order by path)\"",
              lc_lab),
        0);
    cr_assert_str_eq(
        lc_out,
        "logs/after.1.stderr logs/after.1.stdout logs/install.1.stderr logs/install.1.stdout "
        "logs/slow.1.stderr logs/slow.1.stdout logs/uninstall.1.stderr logs/uninstall.1.stdout\n",
        "every log of every step: %s", lc_out);
}

/* The job's host dies: sshd and agent gone. Within the unreachable
 * timeout the job is an infrastructure error, retried on the other host of
 * the profile, and the report tells the story. */
Test(faults, a_killed_host_fails_over_to_another_of_its_profile)
{
    char host[64];
    lc_submission("slow", SLOW);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20", LC_ASSAY, lc_pkg),
                 0);
    int pid = lc_dispatch_bg("dispatch.log", "--unreachable-timeout 3");
    lc_wait_event(1, "step-start", "slow", 60);
    host_of(1, host, sizeof host);
    double t0 = now();
    cr_assert_eq(
        th_run(
            lc_out, sizeof lc_out,
            "h=%s/hosts/%s; p=$(cat $h/sshd.pid); pkill -9 -P $p; kill -9 $p; "
            "for d in /proc/[0-9]*; do case \"$(readlink $d/cwd; tr '\\0' ' ' < $d/cmdline)\" in "
            "*$h/root*) kill -9 ${d#/proc/} ;; esac; done 2>/dev/null; true",
            HOSTS, host),
        0, "%s", lc_out);
    double t_failover = 0;
    for (int i = 0; i < 300 && !t_failover; i++) {
        lc_sh("sqlite3 %s/assay.db \"select attempt from jobs where id = 1\"", lc_lab);
        if (atoi(lc_out) == 2)
            t_failover = now() - t0;
        usleep(50000);
    }
    cr_assert(t_failover > 0, "no second attempt");
    cr_assert(t_failover < 3 + 7, "failed over after %.1fs, limit 3s", t_failover);
    cr_assert_eq(lc_wait_run("1", 60), 0, "the run did not finish");
    stop_dispatch(pid);
    cJSON *r = lc_run_json("1");
    const cJSON *j = lc_job(r, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed", "%s", lc_out);
    cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 2, "%s", lc_out);
    cr_assert_str_neq(cJSON_GetObjectItem(j, "host")->valuestring, host,
                      "ran again on the same host");
    cJSON_Delete(r);
    lc_check_events(1, 2);
    /* The report: verdict pass on attempt 2, and what happened to attempt 1. */
    cr_assert_eq(lc_sh("%s report 1 -o %s/r.json && %s verify %s/r.json && %s report 1 --format md",
                       LC_ASSAY, lc_lab, LC_ASSAY, lc_lab, LC_ASSAY),
                 0, "%s", lc_out);
    char want[160];
    snprintf(want, sizeof want, "attempt 1 on %s: error: host %s unreachable for", host, host);
    cr_assert(strstr(lc_out, want), "%s", lc_out);
    cr_assert_eq(lc_sh("python3 -c \"import json,base64; e=json.load(open('%s/r.json')); "
                       "t=json.loads(base64.b64decode(e['payload']))['predicate']['targets'][0]; "
                       "print(t['attempts'], [(a['attempt'], a['host'], a['outcome']) for a in "
                       "t['attempt_history']])\"",
                       lc_lab),
                 0, "%s", lc_out);
    char hist[300];
    snprintf(hist, sizeof hist, "2 [(1, '%s', 'error'), (2, '", host);
    cr_assert(strstr(lc_out, hist) && strstr(lc_out, "'passed')]"), "%s", lc_out);
}

/* SIGSTOP the sshd of the job's connection: the socket stays open and
 * silent. The keepalives go unanswered, the connection is dropped after
 * the silence timeout, and a new one (the listener still answers)
 * re-attaches. Meanwhile another host's job runs to the end. */
Test(faults, a_silent_connection_is_detected_and_others_keep_going)
{
    char host[64];
    lc_submission("slow", SLOW);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20", LC_ASSAY, lc_pkg),
                 0);
    int pid = lc_dispatch_bg("dispatch.log", "--silence-timeout 4");
    lc_wait_event(1, "step-start", "slow", 60);
    host_of(1, host, sizeof host);
    cr_assert_eq(
        th_run(lc_out, sizeof lc_out, "pkill -STOP -P $(cat %s/hosts/%s/sshd.pid)", HOSTS, host),
        0);
    double t0 = now();
    lc_submission("ok", PASSING);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles kunpeng-920-kylin-v10", LC_ASSAY, lc_pkg),
                 0);
    cr_assert_eq(lc_wait_run("2", 60), 0, "another host's job waited for the silent one");
    lc_wait_log("dispatch.log", "no answer for", 20);
    double t_detect = now() - t0;
    cr_assert_eq(lc_wait_run("1", 60), 0, "the run did not finish");
    stop_dispatch(pid);
    cJSON *r = lc_run_json("1");
    const cJSON *j = lc_job(r, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed");
    cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 1, "re-attached, not run again");
    cJSON_Delete(r);
    lc_check_events(1, 1);
    r = lc_run_json("2");
    cr_assert_str_eq(cJSON_GetObjectItem(lc_job(r, 0), "outcome")->valuestring, "passed");
    cJSON_Delete(r);
    cr_assert(t_detect < 4 + 10, "detected after %.1fs", t_detect);
}

/* The whole host stops (sshd listener and sessions): connecting hangs in
 * the handshake too. The silence timeout ends every try, and past the
 * unreachable timeout the job goes to the other host of its profile. */
Test(faults, a_hung_host_is_failed_over)
{
    char host[64];
    lc_submission("slow", SLOW);
    cr_assert_eq(
        lc_sh("%s run submit %.12s --profiles loongson-3a5000-openeuler-22.03", LC_ASSAY, lc_pkg),
        0);
    int pid = lc_dispatch_bg("dispatch.log", "--silence-timeout 3 --unreachable-timeout 5");
    lc_wait_event(1, "step-start", "slow", 90);
    host_of(1, host, sizeof host);
    cr_assert_eq(th_run(lc_out, sizeof lc_out,
                        "p=$(cat %s/hosts/%s/sshd.pid); pkill -STOP -P $p; kill -STOP $p", HOSTS,
                        host),
                 0);
    cr_assert_eq(lc_wait_run("1", 120), 0, "the run did not finish");
    stop_dispatch(pid);
    cJSON *r = lc_run_json("1");
    const cJSON *j = lc_job(r, 0);
    cr_assert_str_eq(cJSON_GetObjectItem(j, "outcome")->valuestring, "passed", "%s", lc_out);
    cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 2);
    cJSON_Delete(r);
    lc_check_events(1, 2);
    cr_assert_eq(
        lc_sh(
            "sqlite3 %s/assay.db \"select reason from attempts where job_id = 1 and attempt = 1\"",
            lc_lab),
        0);
    cr_assert(strstr(lc_out, "unreachable for") && strstr(lc_out, "no answer for"), "%s", lc_out);
}

/* The controller died after storing the job-end event, before the logs
 * were fetched (the soak found this window): the store says running, the
 * agent has nothing more to send. The restarted dispatcher must fetch the
 * logs and end the job, not wait for a job-end that was already stored. */
Test(faults, a_controller_killed_between_job_end_and_logs_finishes_the_job)
{
    lc_submission("ok", PASSING);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20 && %s dispatch --once",
                       LC_ASSAY, lc_pkg, LC_ASSAY),
                 0, "%s", lc_out);
    /* Back to the instant of the crash. */
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"delete from logs; delete from attempts; update jobs "
                       "set state = 'running', "
                       "outcome = '', reason = '', ended_at = '' where id = 1; update runs set "
                       "state = 'running'\"",
                       lc_lab),
                 0, "%s", lc_out);
    cr_assert_eq(lc_sh("timeout 120 %s dispatch --once", LC_ASSAY), 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "logs stored"), "%s", lc_out);
    cJSON *r = lc_run_json("1");
    cr_assert_str_eq(cJSON_GetObjectItem(r, "state")->valuestring, "done");
    cr_assert_str_eq(cJSON_GetObjectItem(lc_job(r, 0), "outcome")->valuestring, "passed");
    cJSON_Delete(r);
    lc_check_events(1, 1);
    cr_assert_eq(
        lc_sh("sqlite3 %s/assay.db \"select count(*) from logs where job_id = 1\"", lc_lab), 0);
    cr_assert_str_eq(lc_out, "6\n", "install, hello, uninstall: stdout and stderr");
}

/* ---- garbage from an agent ----------------------------------------------- */

struct garbage {
    char name[16];
    char attach[512]; /* shell code run instead of `attach` ("$real" is the real agent) */
    char error[96];   /* what the job's reason must say */
};

static struct garbage garbage[] = {
    {"not-json",
     "\"$real\" \"$@\" | { IFS= read -r l; printf '%s\\n' \"$l\"; echo 'hello, not json'; cat "
     ">/dev/null; }",
     "not a JSON object: hello, not json"},
    {"huge-line", "head -c 104857600 /dev/zero | tr '\\0' x", "an event line over 4194304 bytes"},
    {"bad-utf8",
     "bad=$(printf '\\303('); \"$real\" \"$@\" | LC_ALL=C sed "
     "\"2s/\\\"ts\\\":\\\"/\\\"ts\\\":\\\"$bad/\"",
     "event is not valid UTF-8 text"},
    {"seq-gap", "\"$real\" \"$@\" | sed 2d", "sequence gap: event 2 after 0"},
    {"other-job", "\"$real\" \"$@\" | sed '1s/\"job\":\"[^\"]*\"/\"job\":\"lab9-r9-j9-a1\"/'",
     "job-start event 0 is for job lab9-r9-j9-a1, not "},
    {"after-end",
     "\"$real\" \"$@\"; echo '{\"v\":1,\"seq\":99,\"type\":\"error\",\"message\":\"x\"}'",
     /* after job-end come the logs: this is no log header */
     "log stream: bad header '{\"v\":1,\"seq\":99"},
};

ParameterizedTestParameters(faults, garbage_from_an_agent_fails_its_job_not_the_controller)
{
    return cr_make_param_array(struct garbage, garbage, sizeof garbage / sizeof *garbage);
}

ParameterizedTest(struct garbage *g, faults, garbage_from_an_agent_fails_its_job_not_the_controller)
{
    char real[512], agents[300];
    cr_assert_not_null(th_agent_path("x86_64-linux-gnu", real, sizeof real));
    snprintf(agents, sizeof agents, "%s/agents", lc_lab);
    /* An x86_64 "agent" that is the real one except for attach. */
    FILE *f;
    cr_assert_eq(lc_sh("mkdir -p %s/x86_64-linux-gnu && for t in aarch64 loongarch64; do "
                       "ln -s %s/build-agents/$t-linux-gnu %s/$t-linux-gnu; done",
                       agents, ASSAY_SOURCE_DIR, agents),
                 0);
    char path[400];
    snprintf(path, sizeof path, "%s/x86_64-linux-gnu/assay-agent", agents);
    cr_assert_not_null(f = fopen(path, "w"));
    fprintf(f,
            "#!/bin/sh\n# garbage: %s\nreal=%s\nif [ \"$1\" = attach ]; then\n%s\nexit 0\nfi\nexec "
            "\"$real\" \"$@\"\n",
            g->name, real, g->attach);
    fclose(f);
    cr_assert_eq(lc_sh("chmod 755 %s", path), 0);
    lc_submission("ok", PASSING);
    cr_assert_eq(lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20,kunpeng-920-kylin-v10",
                       LC_ASSAY, lc_pkg),
                 0);
    cr_assert_eq(lc_sh("ASSAY_AGENTS_DIR=%s timeout 300 %s dispatch --once", agents, LC_ASSAY), 0,
                 "%s", lc_out);
    /* The job may still run there: it is stopped before the host takes more. */
    cr_assert(strstr(lc_out, "stopped on the host"), "%s: %s", g->name, lc_out);
    cJSON *r = lc_run_json("1"), *j;
    int seen = 0;
    cJSON_ArrayForEach(j, cJSON_GetObjectItem(r, "job_list"))
    {
        const char *profile = cJSON_GetObjectItem(j, "profile")->valuestring;
        const char *outcome = cJSON_GetObjectItem(j, "outcome")->valuestring;
        const char *reason = cJSON_GetObjectItem(j, "reason")->valuestring;
        if (strstr(profile, "zhaoxin")) {
            cr_assert_str_eq(outcome, "error", "%s: %s", g->name, reason);
            cr_assert(strstr(reason, "protocol error from the agent on zhaoxin-"), "%s: %s",
                      g->name, reason);
            cr_assert(strstr(reason, g->error), "%s: %s", g->name, reason);
            cr_assert_eq(cJSON_GetObjectItem(j, "attempt")->valueint, 1,
                         "not retried: the agent is at fault");
        } else {
            cr_assert_str_eq(outcome, "passed", "the other job: %s", reason);
        }
        seen++;
    }
    cr_assert_eq(seen, 2);
    cJSON_Delete(r);
    /* What was stored before the garbage is still in order. */
    cr_assert_eq(lc_sh("sqlite3 %s/assay.db \"select count(*), coalesce(max(seq), -1) from events "
                       "e join jobs j on "
                       "j.id = e.job_id where j.profile like 'zhaoxin%%'\"",
                       lc_lab),
                 0);
    int n = -1, max = -2;
    sscanf(lc_out, "%d|%d", &n, &max);
    cr_assert_eq(n, max + 1, "%s: %s", g->name, lc_out);
}

/* ---- host keys ------------------------------------------------------------ */

Test(faults, a_host_with_only_an_rsa_key_is_refused_saying_what_to_do)
{
    /* zhaoxin-2's sshd config, on another port, with an RSA host key only. */
    cr_assert_eq(
        lc_sh("set -e; d=%s/rsa; mkdir -p $d; ssh-keygen -q -t rsa -b 2048 -N '' -f $d/key;"
              "sed -e 's/^ListenAddress \\(.*\\):[0-9]*/ListenAddress \\1:22999/' -e \"s|^HostKey "
              ".*|HostKey $d/key|\" "
              "-e 's/^HostKeyAlgorithms .*/HostKeyAlgorithms rsa-sha2-512,rsa-sha2-256,ssh-rsa/' "
              "-e \"s|^PidFile .*|PidFile $d/sshd.pid|\" %s/hosts/zhaoxin-2/sshd_config > "
              "$d/sshd_config;"
              "/usr/sbin/sshd -f $d/sshd_config -E $d/sshd.log; sleep 0.3;"
              "a=$(awk '/^ListenAddress/ {print $2}' $d/sshd_config);"
              "%s host add rsa-only --profile zhaoxin-kx6000-uos-20 --address $a --user root "
              "--identity %s/client_key --trust-on-first-use",
              lc_lab, HOSTS, LC_ASSAY, HOSTS),
        0, "%s", lc_out);
    int rc = lc_sh("%s host check rsa-only; rc=$?; kill $(cat %s/rsa/sshd.pid); exit $rc", LC_ASSAY,
                   lc_lab);
    cr_assert_neq(rc, 0, "%s", lc_out);
    cr_assert(strstr(lc_out, "assay: host check: "), "%s", lc_out);
    cr_assert(strstr(lc_out, "no host key type or key exchange in common with the host"), "%s",
              lc_out);
    cr_assert(strstr(lc_out, "give the host an Ed25519 key"), "%s", lc_out);
}

/* ---- the controller's own disk -------------------------------------------- */

/* The store lives on a 24 MiB tmpfs; a job writes a 4 MiB log; the disk is
 * filled before the logs come. The dispatcher says it cannot store, keeps
 * the store consistent, and finishes the job once space is back. */
Test(faults, a_full_controller_disk_pauses_and_loses_nothing)
{
    char small[300];
    snprintf(small, sizeof small, "%.*s/small", (int)(strrchr(lc_lab, '/') - lc_lab), lc_lab);
    cr_assert_eq(lc_sh("mkdir -p %s", small), 0);
    if (mount("tmpfs", small, "tmpfs", 0, "size=24m") != 0)
        cr_skip_test("cannot mount a tmpfs here (needs root)");
    char saved[256];
    snprintf(saved, sizeof saved, "%s", lc_lab);
    snprintf(lc_lab, sizeof lc_lab, "%s/lab", small);
    int rc = lc_sh("%s init && %s host import %s/hosts.json", LC_ASSAY, LC_ASSAY, HOSTS);
    if (rc == 0) {
        lc_submission(
            "big", "[{\"id\": \"big\", \"command\": \"head -c 4194304 /dev/urandom | od -An -tx1 | "
                   "head -c 4194304\", \"timeout\": 60}]");
        rc = lc_sh("%s run submit %.12s --profiles zhaoxin-kx6000-uos-20", LC_ASSAY, lc_pkg);
    }
    /* Fill the disk, leaving 256 KiB: room for events, not for the log. */
    if (rc == 0)
        rc = lc_sh("cd %s && { dd if=/dev/zero of=fill bs=64k 2>/dev/null; true; } && truncate -s "
                   "-256K fill && df -k .",
                   small);
    int pid = rc == 0 ? lc_dispatch_bg("../dispatch.log", "") : -1;
    if (rc == 0) {
        lc_wait_log("../dispatch.log", "cannot store", 60);
        /* The message says why, and where. */
        lc_sh("grep -m1 'cannot store' %s/../dispatch.log", lc_lab);
        cr_expect(strstr(lc_out, "No space left on device") ||
                      strstr(lc_out, "database or disk is full"),
                  "%s", lc_out);
        cr_expect(strstr(lc_out, small) || strstr(lc_out, "store: "), "%s", lc_out);
        /* While it cannot store: the store is consistent, nothing half-done. */
        lc_sh("sqlite3 %s/assay.db 'pragma integrity_check'", lc_lab);
        cr_expect_str_eq(lc_out, "ok\n", "%s", lc_out);
        lc_sh("ls -A %s/blobs/tmp | wc -l", lc_lab);
        cr_expect_str_eq(lc_out, "0\n", "a partial blob was left behind");
        lc_sh("rm -f %s/fill", small);
        rc = lc_wait_run("1", 90);
    }
    if (pid > 0)
        stop_dispatch(pid);
    cJSON *r = rc == 0 ? lc_run_json("1") : NULL;
    const char *outcome = r ? cJSON_GetObjectItem(lc_job(r, 0), "outcome")->valuestring : "";
    char got[32];
    snprintf(got, sizeof got, "%s", outcome);
    cJSON_Delete(r);
    int events = rc == 0 ? lc_check_events(1, 1) : 0;
    lc_sh("sqlite3 %s/assay.db \"select size from logs where job_id = 1 and path = "
          "'logs/big.1.stdout'\"",
          lc_lab);
    char logsize[32];
    snprintf(logsize, sizeof logsize, "%s", lc_out);
    lc_sh("cat %s/../dispatch.log | tail -n 20", lc_lab);
    char tail[4096];
    snprintf(tail, sizeof tail, "%s", lc_out);
    snprintf(lc_lab, sizeof lc_lab, "%s", saved);
    umount2(small, MNT_DETACH);
    cr_assert_eq(rc, 0, "%s", tail);
    cr_assert_str_eq(got, "passed", "%s", tail);
    cr_assert(events > 0);
    cr_assert_str_eq(logsize, "4194304\n", "the whole log, stored once space returned");
}
