/*
 * The step runner, natively: exit status, signals, timeouts that kill whole
 * trees (daemonised grandchildren too), capped logs under a flood, resource
 * figures, and no process left behind in any case.
 */
#include "run.h"
#include "helpers.h"
#include "assay/error.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/assay-run-XXXXXX";
static char out_path[300], err_path[300], marker[300];
static char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C", NULL};

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    /* A copy of sleep with a name unique to this test, so pgrep can tell
     * whether anything the step started survived it. */
    snprintf(marker, sizeof marker, "%s/assay-marker-%d", dir, (int)getpid());
    cr_assert_eq(th_run(NULL, 0, "cp /bin/sleep %s", marker), 0);
    /* As the supervisor is: orphans of the step come back to us. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
}

static void teardown(void)
{
    /* "[a]ssay": a pattern of the marker itself would match (and kill)
     * the shell running this line before it removes anything. */
    th_run(NULL, 0, "pkill -9 -f '[a]ssay-marker-%d'; rm -rf %s", (int)getpid(), dir);
}

TestSuite(agent_run, .init = setup, .fini = teardown, .timeout = 60);

static assay_run_result run(const char *cmd, double timeout, uint64_t cap)
{
    assay_run_opts o = {.command = cmd, .cwd = dir, .envp = envp, .out_path = out_path,
                        .err_path = err_path, .log_cap = cap, .timeout_s = timeout,
                        .grace_s = 0.5, .wake_fd = -1, .cancel = NULL};
    assay_run_result r;
    int rc = assay_run_step(&r, &o);
    cr_assert_eq(rc, 0, "runner failed: %s", assay_error_last()->message);
    return r;
}

static int survivors(void)
{
    char out[4096];
    /* "[a]ssay" matches the marker's command line but not this shell's. */
    int rc = th_run(out, sizeof out, "pgrep -f '[a]ssay-marker-%d'", (int)getpid());
    return rc == 0 ? 1 : 0;
}

Test(agent_run, exit_status_and_logs)
{
    assay_run_result r = run("echo out; echo err >&2; exit 7", 10, 1 << 20);
    cr_assert(r.spawned && r.exited);
    cr_assert_eq(r.exit_code, 7);
    cr_assert_not(r.timed_out);
    cr_assert_eq(r.out_bytes, 4);
    cr_assert_eq(r.err_bytes, 4);
    char *o = th_slurp(out_path, NULL), *e = th_slurp(err_path, NULL);
    cr_assert_str_eq(o, "out\n");
    cr_assert_str_eq(e, "err\n");
    free(o);
    free(e);
}

Test(agent_run, clean_environment_and_cwd)
{
    setenv("ASSAY_LEAK_CHECK", "leaked", 1);
    assay_run_result r = run("env; pwd", 10, 1 << 20);
    cr_assert_eq(r.exit_code, 0);
    char *o = th_slurp(out_path, NULL);
    cr_assert(strstr(o, "PATH=/usr/local/bin:/usr/bin:/bin") != NULL, "%s", o);
    cr_assert(strstr(o, "ASSAY_LEAK_CHECK") == NULL, "the agent's environment leaked: %s", o);
    cr_assert(strstr(o, dir) != NULL, "not run in the job directory: %s", o);
    free(o);
}

Test(agent_run, killed_by_a_signal)
{
    assay_run_result r = run("kill -SEGV $$", 10, 1 << 20);
    cr_assert_not(r.exited);
    cr_assert_eq(r.term_signal, SIGSEGV);
}

Test(agent_run, timeout_kills_the_whole_tree_including_daemons)
{
    char cmd[2048];
    /* A grandchild in the group, one that left the group with setsid, one
     * double-forked away from its parent, and the main process, all hung. */
    snprintf(cmd, sizeof cmd,
             "%s 300 & setsid %s 300 & (setsid sh -c '%s 300 &' &); trap '' TERM; %s 300",
             marker, marker, marker, marker);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assay_run_result r = run(cmd, 0.5, 1 << 20);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert(r.timed_out);
    cr_assert_not(r.exited);
    cr_assert_lt(took, 5.0, "took %.1fs", took);
    cr_assert_geq(r.wall_ns, 500000000u);
    cr_assert_eq(survivors(), 0, "processes of the step survived the timeout");
}

Test(agent_run, processes_left_by_a_passing_step_are_killed_and_counted)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "(setsid %s 300 >/dev/null 2>&1 &); %s 300 >/dev/null 2>&1 & exit 0",
             marker, marker);
    assay_run_result r = run(cmd, 10, 1 << 20);
    cr_assert(r.exited);
    cr_assert_eq(r.exit_code, 0);
    cr_assert_geq(r.strays, 2, "strays %d", r.strays);
    cr_assert_eq(survivors(), 0);
}

/* As the supervisor runs steps: a subreaper, which skips reading /proc
 * once it has no child left; what a step left running is still found. */
Test(agent_run, a_subreaper_kills_what_a_passing_step_left)
{
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "(setsid %s 300 >/dev/null 2>&1 &); %s 300 >/dev/null 2>&1 & exit 0",
             marker, marker);
    assay_run_result r = run(cmd, 10, 1 << 20);
    cr_assert(r.exited);
    cr_assert_geq(r.strays, 2, "strays %d", r.strays);
    cr_assert_eq(survivors(), 0);
    r = run("true", 10, 1 << 20);
    cr_assert_eq(r.strays, 0, "a step that left nothing: strays %d", r.strays);
}

Test(agent_run, a_flood_is_capped_and_counted)
{
    /* 64 MiB on stdout and 8 MiB on stderr at once, 1 MiB kept of each. */
    assay_run_result r = run("head -c 8388608 /dev/zero >&2 & head -c 67108864 /dev/zero; wait", 60,
                             1 << 20);
    cr_assert_eq(r.exit_code, 0);
    cr_assert_eq(r.out_bytes, 67108864u);
    cr_assert_eq(r.err_bytes, 8388608u);
    cr_assert_eq(r.out_kept, 1u << 20);
    cr_assert_eq(r.err_kept, 1u << 20);
    struct stat st;
    cr_assert_eq(stat(out_path, &st), 0);
    cr_assert_lt((size_t)st.st_size, (1u << 20) + 200, "log not capped: %lld", (long long)st.st_size);
    char *o = th_slurp(out_path, NULL);
    /* The log ends with a note saying what was cut. */
    cr_assert(strstr(o + (1u << 20), "[assay: output truncated: 1048576 of 67108864 bytes kept]") != NULL);
    free(o);
}

Test(agent_run, resources_are_measured)
{
    /* CPU work, a 32 MiB allocation touched, and 4 MiB written. */
    assay_run_result r = run("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; "
                             "head -c 33554432 /dev/zero | tail -c 1 >/dev/null; "
                             "head -c 4194304 /dev/zero > big",
                             60, 1 << 20);
    cr_assert_eq(r.exit_code, 0);
    cr_assert_gt(r.user_ns + r.sys_ns, 10000000u, "cpu %llu ns", (unsigned long long)(r.user_ns + r.sys_ns));
    cr_assert_gt(r.max_rss_kb, 1000u);
    cr_assert_gt(r.minflt, 0u);
    cr_assert_gt(r.nvcsw + r.nivcsw, 0u);
    cr_assert(r.have_io, "/proc/<pid>/io not read");
    cr_assert_geq(r.wchar, 4194304u);
    cr_assert_geq(r.wall_ns, r.user_ns / 4);
}

Test(agent_run, a_missing_working_directory_is_a_spawn_error)
{
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    assay_run_opts o = {.command = "true", .cwd = missing, .envp = envp, .out_path = out_path,
                        .err_path = err_path, .log_cap = 1024, .timeout_s = 5, .grace_s = 1,
                        .wake_fd = -1};
    assay_run_result r;
    cr_assert_eq(assay_run_step(&r, &o), 0);
    cr_assert_not(r.spawned);
    cr_assert_eq(r.spawn_errno, ENOENT);
}

Test(agent_run, an_unwritable_log_is_an_error_not_a_crash)
{
    char bad[400];
    snprintf(bad, sizeof bad, "%s/no/such/dir/out", dir);
    assay_run_opts o = {.command = "true", .cwd = dir, .envp = envp, .out_path = bad,
                        .err_path = err_path, .log_cap = 1024, .timeout_s = 5, .grace_s = 1,
                        .wake_fd = -1};
    assay_run_result r;
    cr_assert_eq(assay_run_step(&r, &o), ASSAY_EIO);
    cr_assert(strstr(assay_error_last()->message, bad) != NULL);
}

static volatile sig_atomic_t cancel_flag;

Test(agent_run, cancel_stops_the_step)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s 300", marker);
    cancel_flag = 1; /* already requested: stops at once */
    assay_run_opts o = {.command = cmd, .cwd = dir, .envp = envp, .out_path = out_path,
                        .err_path = err_path, .log_cap = 1024, .timeout_s = 60, .grace_s = 0.5,
                        .wake_fd = -1, .cancel = &cancel_flag};
    assay_run_result r;
    cr_assert_eq(assay_run_step(&r, &o), 0);
    cr_assert(r.canceled);
    cr_assert_not(r.timed_out);
    cr_assert_eq(survivors(), 0);
}

Test(agent_run, kill_by_env_finds_reparented_processes)
{
    char cmd[1024];
    /* Started outside any runner: a process holding a job's environment
     * entry, as a dead supervisor's step would be. */
    snprintf(cmd, sizeof cmd, "env ASSAY_JOB_DIR=%s/jobX setsid %s 300 >/dev/null 2>&1 &", dir, marker);
    cr_assert_eq(th_run(NULL, 0, "%s", cmd), 0);
    for (int i = 0; i < 50 && !survivors(); i++)
        usleep(20000);
    cr_assert_eq(survivors(), 1);
    char entry[400];
    snprintf(entry, sizeof entry, "ASSAY_JOB_DIR=%s/jobX", dir);
    cr_assert_geq(assay_run_kill_by_env(entry), 1);
    for (int i = 0; i < 50 && survivors(); i++)
        usleep(20000);
    cr_assert_eq(survivors(), 0);
}

/* A step timeout of 30 days (the longest a spec takes) is a deadline the
 * loop wakes for, not an int that wraps negative and waits for ever. */
Test(agent_run, a_30_day_timeout_is_scheduled)
{
    uint64_t now = 1000000000ull, day = 86400ull * 1000000000ull;
    int ms = assay_run_poll_ms(now + 30 * day, now);
    cr_assert_gt(ms, 0, "30 days became %d ms", ms);
    cr_assert_leq(ms, 3600000);
    cr_assert_eq(assay_run_poll_ms(now + 1500000, now), 2, "rounded up to whole ms");
    cr_assert_eq(assay_run_poll_ms(now, now + 5), 0, "a past deadline does not wait");
    cr_assert_eq(assay_run_poll_ms(now + 25 * day, now), 3600000);
}
