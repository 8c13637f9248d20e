/*
 * assay-agent's commands end to end, for every static agent: x86_64
 * natively, aarch64 and loongarch64 under qemu (binfmt_misc). Jobs run for
 * real in temporary job directories; events are checked line by line.
 */
#include "helpers.h"
#include "crypto.h"
#include "assay/proto.h"
#include "assay/error.h"
#include "jobcheck.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct triple {
    char name[32];
    char arch[16];
};

static struct triple triples[] = {
    {"x86_64-linux-gnu", "x86_64"},
    {"aarch64-linux-gnu", "aarch64"},
    {"loongarch64-linux-gnu", "loongarch64"},
};

static char agent[512], jd[256], out[8 << 20]; /* a job's live output is up to 4 MiB, in base64 */

static void setup_for(const struct triple *t)
{
    cr_assert_not_null(th_agent_path(t->name, agent, sizeof agent),
                       "no agent for %s: run ci/build-agents.sh", t->name);
    snprintf(jd, sizeof jd, "/tmp/assay-cli-%s-XXXXXX", t->arch);
    cr_assert_not_null(mkdtemp(jd));
}

static void cleanup(void)
{
    th_run(NULL, 0, "pkill -9 -f '[a]ssay-mark-%d' ; umount %s/full 2>/dev/null; rm -rf %s",
           (int)getpid(), jd, jd);
}

static int start(const char *spec)
{
    char path[300];
    snprintf(path, sizeof path, "%s.spec", jd);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(spec, f);
    fclose(f);
    int rc = th_run(out, sizeof out, "%s start --job-dir %s < %s", agent, jd, path);
    unlink(path);
    return rc;
}

/* attach --from N, parsed: an array of events. Checks every line is an
 * event with v 1 and that seqs run from `from` with no gap. */
static cJSON *attach_from(long from)
{
    int rc = th_run(out, sizeof out, "timeout 60 %s attach --job-dir %s --from %ld", agent, jd, from);
    cr_assert_eq(rc, 0, "attach failed (%d): %s", rc, out);
    cJSON *arr = cJSON_CreateArray();
    long want = from;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *e = cJSON_Parse(line);
        cr_assert_not_null(e, "not JSON: %s", line);
        cr_assert_eq(cJSON_GetObjectItem(e, "v")->valueint, 1);
        cr_assert_eq(cJSON_GetObjectItem(e, "seq")->valueint, want, "seq gap at %ld: %s", want, line);
        cr_assert(cJSON_IsString(cJSON_GetObjectItem(e, "ts")));
        want++;
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

/* Live (not zombie) processes of this test's marker, as "pid args" lines;
 * 0 if there are none. Zombies are dead: the lab's pid 1 may not reap. */
static int marker_alive(void)
{
    return th_run(out, sizeof out, "ps -eo stat=,pid=,args= | awk '$1 !~ /^Z/' | grep '[a]ssay-mark-%d'",
                  (int)getpid()) == 0;
}

static const char *type_of(const cJSON *e)
{
    return cJSON_GetObjectItem(e, "type")->valuestring;
}

static const cJSON *last(const cJSON *arr)
{
    return cJSON_GetArrayItem(arr, cJSON_GetArraySize(arr) - 1);
}

/* The step-end event of step `id` (run `run`). */
static const cJSON *step_end(const cJSON *arr, const char *id, int run)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const cJSON *s = cJSON_GetObjectItem(e, "step"), *r = cJSON_GetObjectItem(e, "run");
        if (strcmp(type_of(e), "step-end") == 0 && cJSON_IsString(s) && strcmp(s->valuestring, id) == 0 &&
            (!r || r->valueint == run))
            return e;
    }
    cr_assert_fail("no step-end for %s run %d", id, run);
    return NULL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Events that are not live output, and how many of them. */
static int steps_events(const cJSON *arr)
{
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) n += strcmp(type_of(e), "output") != 0;
    return n;
}

/* The live output ("output" events) of one stream of a step run, decoded
 * and checked: chunks of 1..ASSAY_LIVE_CHUNK bytes in order from offset 0,
 * each between that run's step-start and step-end. *chunks counts them. */
static unsigned char *live_output(const cJSON *arr, const char *id, int run, const char *stream, size_t *len,
                                  int *chunks)
{
    unsigned char *all = malloc(ASSAY_LIVE_MAX + 1);
    size_t n = 0;
    int in_run = 0;
    *chunks = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *ty = type_of(e), *st = str(e, "step");
        const cJSON *r = cJSON_GetObjectItem(e, "run");
        int mine = st && !strcmp(st, id) && cJSON_IsNumber(r) && r->valueint == run;
        if (mine && !strcmp(ty, "step-start"))
            in_run = 1;
        if (mine && !strcmp(ty, "step-end"))
            in_run = 0;
        if (strcmp(ty, "output") || !mine || strcmp(str(e, "stream"), stream))
            continue;
        cr_assert(in_run, "output of %s #%d outside its run", id, run);
        char want[24];
        snprintf(want, sizeof want, "%zu", n);
        cr_assert_str_eq(str(e, "offset"), want, "a gap in %s's live %s", id, stream);
        size_t k = 0;
        const char *d = str(e, "data");
        unsigned char *raw = assay_base64_decode(d, strlen(d), &k);
        cr_assert(raw && k >= 1 && k <= ASSAY_LIVE_CHUNK && n + k <= ASSAY_LIVE_MAX, "chunk of %zu bytes", k);
        memcpy(all + n, raw, k);
        free(raw);
        n += k;
        (*chunks)++;
    }
    *len = n;
    return all;
}

/* The controller's check (jobcheck) accepts every event of the job. */
static void controller_accepts(const char *spec, const cJSON *ev)
{
    assay_jobcheck *c;
    cr_assert_eq(assay_jobcheck_new(&c, spec, NULL), 0);
    const cJSON *e;
    cJSON_ArrayForEach(e, ev)
    {
        char *line = cJSON_PrintUnformatted(e);
        cr_expect_eq(assay_jobcheck_event(c, line, strlen(line), e), 0, "%s: %s", line, assay_error_last()->message);
        free(line);
    }
    cr_expect(assay_jobcheck_ended(c));
    assay_jobcheck_free(c);
}

#define PARAMS                                                                                     \
    ParameterizedTestParameters(agent_cli, NAME)                                                   \
    {                                                                                              \
        return cr_make_param_array(struct triple, triples, sizeof triples / sizeof triples[0]);    \
    }

#undef NAME
#define NAME version_and_facts
PARAMS
ParameterizedTest(struct triple *t, agent_cli, version_and_facts, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(th_run(out, sizeof out, "%s version --json", agent), 0, "%s", out);
    cJSON *v = cJSON_Parse(out);
    cr_assert_not_null(v, "%s", out);
    cr_assert_str_eq(str(v, "triple"), t->name);
    cr_assert_str_eq(str(v, "machine"), t->arch);
    cr_assert_eq(strlen(str(v, "build_id")), 40);
    cJSON_Delete(v);

    cr_assert_eq(th_run(out, sizeof out, "%s facts", agent), 0, "%s", out);
    cJSON *f = cJSON_Parse(out);
    cr_assert_not_null(f, "%s", out);
    cr_assert_str_eq(str(f, "arch"), t->arch);
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(f, "page_size")));
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(f, "memory_bytes")), "64-bit numbers travel as strings");
    cr_assert_str_eq(str(cJSON_GetObjectItem(f, "os"), "id"), "debian");
    /* This machine is x86_64: the other agents run under qemu and must say so. */
    const cJSON *emu = cJSON_GetObjectItem(f, "emulation");
    int emulated = strcmp(t->arch, "x86_64") != 0;
    cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(emu, "emulated")), emulated, "%s", out);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(emu, "evidence")) > 0, emulated);
    if (strcmp(t->arch, "loongarch64") == 0)
        cr_assert(cJSON_IsString(cJSON_GetObjectItem(f, "loongarch_world")));
    else
        cr_assert(cJSON_IsNull(cJSON_GetObjectItem(f, "loongarch_world")));
    cJSON_Delete(f);
}

#undef NAME
#define NAME a_job_runs_in_order_with_verdicts
PARAMS
ParameterizedTest(struct triple *t, agent_cli, a_job_runs_in_order_with_verdicts, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(th_run(NULL, 0, "printf 'payload' > %s/pkg.tar", jd), 0);
    int rc = start("{\"protocol\":1,\"id\":\"job-1\",\"artifact\":\"pkg.tar\",\"steps\":["
                   "{\"id\":\"install\",\"kind\":\"install\",\"command\":\"cat \\\"$ASSAY_ARTIFACT\\\"; echo; env\",\"timeout\":30},"
                   "{\"id\":\"ok\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":30},"
                   "{\"id\":\"bad\",\"kind\":\"test\",\"command\":\"exit 3\",\"timeout\":30},"
                   "{\"id\":\"want3\",\"kind\":\"test\",\"command\":\"exit 3\",\"timeout\":30,\"expect_exit\":3},"
                   "{\"id\":\"speed\",\"kind\":\"bench\",\"command\":\"echo 41.5\",\"timeout\":30,\"repeat\":3,\"unit\":\"MB/s\"},"
                   "{\"id\":\"time\",\"kind\":\"bench\",\"command\":\"true\",\"timeout\":30,\"repeat\":2},"
                   "{\"id\":\"uninstall\",\"kind\":\"uninstall\",\"command\":\"true\",\"timeout\":30}]}");
    cr_assert_eq(rc, 0, "start: %s", out);
    cr_assert_str_eq(out, "job-1\n");
    cJSON *ev = attach_from(0);
    /* job-start, 1+1+1+1+3+2+1 = 10 runs of start/end, job-end; and the
     * install step's output, live */
    cr_assert_eq(steps_events(ev), 22, "%d events", steps_events(ev));
    const cJSON *js = cJSON_GetArrayItem(ev, 0);
    cr_assert_str_eq(type_of(js), "job-start");
    cr_assert_str_eq(str(cJSON_GetObjectItem(js, "agent"), "triple"), t->name);
    cr_assert_str_eq(str(cJSON_GetObjectItem(js, "facts"), "arch"), t->arch);
    cr_assert_str_eq(str(step_end(ev, "install", 1), "verdict"), "pass");
    cr_assert_str_eq(str(step_end(ev, "ok", 1), "verdict"), "pass");
    const cJSON *bad = step_end(ev, "bad", 1);
    cr_assert_str_eq(str(bad, "verdict"), "fail");
    cr_assert_str_eq(str(bad, "reason"), "exit status 3, expected 0");
    cr_assert_eq(cJSON_GetObjectItem(bad, "exit_code")->valueint, 3);
    cr_assert_str_eq(str(step_end(ev, "want3", 1), "verdict"), "pass");
    for (int run = 1; run <= 3; run++) {
        const cJSON *b = step_end(ev, "speed", run);
        cr_assert_float_eq(cJSON_GetObjectItem(b, "value")->valuedouble, 41.5, 1e-9);
        cr_assert_str_eq(str(b, "unit"), "MB/s");
    }
    const cJSON *tb = step_end(ev, "time", 2);
    cr_assert_gt(cJSON_GetObjectItem(tb, "value")->valuedouble, 0);
    const cJSON *m = cJSON_GetObjectItem(step_end(ev, "install", 1), "metrics");
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(m, "wall_ns")));
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(m, "max_rss_kb")));
    const cJSON *end = last(ev);
    cr_assert_str_eq(type_of(end), "job-end");
    cr_assert_str_eq(str(end, "outcome"), "failed");
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(end, "counts"), "pass")->valueint, 9);
    cr_assert_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(end, "counts"), "fail")->valueint, 1);
    /* The install step saw the artifact and the documented environment. */
    char path[400];
    snprintf(path, sizeof path, "%s/logs/install.1.stdout", jd);
    char *log = th_slurp(path, NULL);
    cr_assert_not_null(log);
    cr_assert(strncmp(log, "payload\n", 8) == 0, "%s", log);
    cr_assert(strstr(log, "ASSAY_JOB_ID=job-1\n") && strstr(log, "ASSAY_STEP_KIND=install\n") &&
              strstr(log, "LANG=C.UTF-8\n") && strstr(log, "TMPDIR=") && strstr(log, "HOME="),
              "%s", log);
    /* What was sent live is the log, byte for byte; a benchmark sent none. */
    size_t ln;
    int chunks;
    unsigned char *lv = live_output(ev, "install", 1, "stdout", &ln, &chunks);
    cr_assert(chunks >= 1 && ln == strlen(log) && memcmp(lv, log, ln) == 0, "live %zu bytes, log %zu", ln,
              strlen(log));
    free(lv);
    const cJSON *e;
    cJSON_ArrayForEach(e, ev) if (!strcmp(type_of(e), "output"))
        cr_assert_str_eq(str(e, "step"), "install", "output of a step that printed nothing, or a benchmark");
    free(log);

    /* Status after the end (the supervisor, which wrote the job-end, may
     * still be on its way out: "running" until it is gone), and the same
     * spec again is a no-op. */
    cJSON *s = NULL;
    for (double t0 = mono(); !s || (!strcmp(str(s, "state"), "running") && mono() - t0 < 60); usleep(20000)) {
        cJSON_Delete(s);
        cr_assert_eq(th_run(out, sizeof out, "%s status --job-dir %s", agent, jd), 0);
        s = cJSON_Parse(out);
        cr_assert_not_null(s, "%s", out);
    }
    cr_assert_str_eq(str(s, "state"), "ended");
    cr_assert_str_eq(str(s, "outcome"), "failed");
    cr_assert_eq(cJSON_GetObjectItem(s, "last_seq")->valueint, cJSON_GetArraySize(ev) - 1);
    cJSON_Delete(s);
    cJSON_Delete(ev);
}

/* The benchmark's stop: the last step-end of `id`, and its stop reason. */
static const char *stop_of(const cJSON *ev, const char *id, int *runs, int *samples)
{
    const cJSON *e, *found = NULL;
    *runs = 0;
    cJSON_ArrayForEach(e, ev) if (!strcmp(type_of(e), "step-end") && !strcmp(str(e, "step"), id))
    {
        found = e;
        (*runs)++;
    }
    const cJSON *st = cJSON_GetObjectItem(found, "stop");
    *samples = cJSON_GetObjectItem(st, "samples") ? cJSON_GetObjectItem(st, "samples")->valueint : -1;
    return str(st, "reason");
}

#undef NAME
#define NAME a_benchmark_runs_until_stable
PARAMS
ParameterizedTest(struct triple *t, agent_cli, a_benchmark_runs_until_stable, .fini = cleanup)
{
    setup_for(t);
    /* steady: the same figure every time, stable after min samples; seesaw:
     * 101, 1, 101, ... never stable, stops at max; broken: fails at once;
     * slow: a run of 0.3 s against a budget of 0.5 s, so a second run would
     * end past it. */
    const char *spec =
        "{\"protocol\":1,\"id\":\"job-s\",\"steps\":["
        "{\"id\":\"steady\",\"kind\":\"bench\",\"command\":\"echo 41.5\",\"timeout\":30,\"unit\":\"MB/s\","
        "\"repeat\":{\"min\":3,\"max\":20,\"target_rse\":0.01,\"warmup\":1}},"
        "{\"id\":\"seesaw\",\"kind\":\"bench\",\"command\":\"echo $((ASSAY_RUN % 2 * 100 + 1))\",\"timeout\":30,"
        "\"unit\":\"ops\",\"repeat\":{\"min\":2,\"max\":4,\"target_rse\":0.01}},"
        "{\"id\":\"broken\",\"kind\":\"bench\",\"command\":\"exit 1\",\"timeout\":30,\"repeat\":{\"max\":5}},"
        "{\"id\":\"slow\",\"kind\":\"bench\",\"command\":\"sleep 0.3\",\"timeout\":30,\"unit\":\"ms\","
        "\"repeat\":{\"min\":3,\"max\":20,\"target_rse\":0.0001,\"budget\":0.5}}]}";
    cr_assert_eq(start(spec), 0, "start: %s", out);
    cJSON *ev = attach_from(0);
    cr_assert_str_eq(str(last(ev), "type"), "job-end");
    int runs, samples;
    cr_expect_str_eq(stop_of(ev, "steady", &runs, &samples), "stable");
    cr_expect_eq(runs, 4, "one warm-up run, then 3 samples");
    cr_expect_eq(samples, 3);
    cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(step_end(ev, "steady", 1), "warmup")));
    cr_expect(cJSON_IsFalse(cJSON_GetObjectItem(step_end(ev, "steady", 2), "warmup")));
    cr_expect_str_eq(stop_of(ev, "seesaw", &runs, &samples), "max");
    cr_expect_eq(runs, 4);
    cr_expect_str_eq(stop_of(ev, "broken", &runs, &samples), "failed");
    cr_expect_eq(runs, 1);
    cr_expect_str_eq(stop_of(ev, "slow", &runs, &samples), "budget");
    cr_expect_eq(runs, 1);
    /* The controller's check of the same events accepts them: the stops
     * are the ones the spec and the samples allow. */
    controller_accepts(spec, ev);
    cJSON_Delete(ev);
}

#undef NAME
#define NAME attach_resumes_from_every_seq
PARAMS
ParameterizedTest(struct triple *t, agent_cli, attach_resumes_from_every_seq, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start("{\"protocol\":1,\"id\":\"r\",\"steps\":["
                       "{\"id\":\"a\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":10},"
                       "{\"id\":\"b\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":10},"
                       "{\"id\":\"c\",\"kind\":\"bench\",\"command\":\"true\",\"timeout\":10,\"repeat\":2}]}"),
                 0, "%s", out);
    cJSON *all = attach_from(0);
    int n = cJSON_GetArraySize(all);
    cr_assert_eq(n, 10);
    for (int from = 0; from < n; from++) {
        cJSON *part = attach_from(from); /* checks seqs from..n-1 */
        cr_assert_eq(cJSON_GetArraySize(part), n - from);
        char *a = cJSON_PrintUnformatted(cJSON_GetArrayItem(all, from));
        char *b = cJSON_PrintUnformatted(cJSON_GetArrayItem(part, 0));
        cr_assert_str_eq(a, b);
        free(a);
        free(b);
        cJSON_Delete(part);
    }
    cJSON_Delete(all);
}

#undef NAME
#define NAME attach_killed_midway_resumes_without_gap_or_duplicate
PARAMS
ParameterizedTest(struct triple *t, agent_cli, attach_killed_midway_resumes_without_gap_or_duplicate,
                  .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start("{\"protocol\":1,\"id\":\"k\",\"steps\":["
                       "{\"id\":\"a\",\"kind\":\"test\",\"command\":\"sleep 0.3\",\"timeout\":10},"
                       "{\"id\":\"b\",\"kind\":\"test\",\"command\":\"sleep 0.3\",\"timeout\":10},"
                       "{\"id\":\"c\",\"kind\":\"test\",\"command\":\"sleep 0.3\",\"timeout\":10},"
                       "{\"id\":\"d\",\"kind\":\"test\",\"command\":\"sleep 0.3\",\"timeout\":10}]}"),
                 0, "%s", out);
    /* An attach that is killed after it printed some events, as when the
     * SSH connection drops: the controller keeps the last seq it got. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s attach --job-dir %s > %s.part & p=$!; sleep 0.5; kill -9 $p; { wait $p; } 2>/dev/null; "
             "cat %s.part; rm -f %s.part",
             agent, jd, jd, jd, jd);
    th_run(out, sizeof out, "%s", cmd);
    long got = 0;
    for (char *l = strtok(out, "\n"); l; l = strtok(NULL, "\n")) {
        cJSON *e = cJSON_Parse(l);
        if (!e)
            break; /* a line cut by the kill: not received */
        cr_assert_eq(cJSON_GetObjectItem(e, "seq")->valueint, got);
        got++;
        cJSON_Delete(e);
    }
    cr_assert_gt(got, 0, "the first attach printed nothing before it was killed");
    cJSON *rest = attach_from(got); /* checks the seqs continue from `got` */
    cr_assert_str_eq(type_of(last(rest)), "job-end");
    cr_assert_eq(got + cJSON_GetArraySize(rest), 10);
    cJSON_Delete(rest);
}

#undef NAME
#define NAME timeouts_kill_daemonised_grandchildren
PARAMS
ParameterizedTest(struct triple *t, agent_cli, timeouts_kill_daemonised_grandchildren, .fini = cleanup)
{
    setup_for(t);
    char spec[2048];
    /* A copy of sleep named for this test, started in the group, in a new
     * session, and double-forked: all must be gone when the step ends. */
    snprintf(spec, sizeof spec,
             "{\"protocol\":1,\"id\":\"t\",\"kill_grace\":0.2,\"steps\":["
             "{\"id\":\"hang\",\"kind\":\"test\",\"command\":\"cp /bin/sleep ./assay-mark-%d; "
             "./assay-mark-%d 300 & setsid ./assay-mark-%d 300 & (setsid ./assay-mark-%d 300 &); "
             "./assay-mark-%d 300\",\"timeout\":1},"
             "{\"id\":\"segv\",\"kind\":\"test\",\"command\":\"kill -SEGV $$\",\"timeout\":10}]}",
             getpid(), getpid(), getpid(), getpid(), getpid());
    cr_assert_eq(start(spec), 0, "%s", out);
    cJSON *ev = attach_from(0);
    const cJSON *h = step_end(ev, "hang", 1);
    cr_assert_str_eq(str(h, "verdict"), "fail");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(h, "timed_out")));
    cr_assert_str_eq(str(h, "reason"), "timed out after 1s");
    cr_assert_geq(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "metrics"), "strays_killed")->valueint, 1);
    const cJSON *s = step_end(ev, "segv", 1);
    cr_assert_str_eq(str(s, "signal"), "SIGSEGV");
    cr_assert_str_eq(str(s, "reason"), "killed by SIGSEGV");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(s, "exit_code")));
    cJSON_Delete(ev);
    cr_assert_not(marker_alive(), "processes survived: %s", out);
}

#undef NAME
#define NAME floods_are_capped
PARAMS
ParameterizedTest(struct triple *t, agent_cli, floods_are_capped, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start("{\"protocol\":1,\"id\":\"f\",\"log_cap\":65536,\"steps\":["
                       "{\"id\":\"flood\",\"kind\":\"test\",\"command\":\"head -c 20000000 /dev/zero; "
                       "head -c 3000000 /dev/zero >&2\",\"timeout\":60}]}"),
                 0, "%s", out);
    cJSON *ev = attach_from(0);
    const cJSON *lg = cJSON_GetObjectItem(step_end(ev, "flood", 1), "logs");
    cr_assert_str_eq(str(lg, "stdout_bytes"), "20000000");
    cr_assert_str_eq(str(lg, "stdout_kept"), "65536");
    cr_assert_str_eq(str(lg, "stderr_bytes"), "3000000");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(lg, "truncated")));
    /* Live output stops at its own cap: 64 KiB of zeros per stream, in
     * full chunks (a flood fills each before it is due). */
    for (int k = 0; k < 2; k++) {
        size_t n;
        int chunks;
        unsigned char *lv = live_output(ev, "flood", 1, k ? "stderr" : "stdout", &n, &chunks);
        cr_assert_eq(n, ASSAY_LIVE_MAX, "%zu bytes live", n);
        cr_assert_geq(chunks, ASSAY_LIVE_MAX / ASSAY_LIVE_CHUNK);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(lv[i], 0);
        free(lv);
    }
    cJSON_Delete(ev);
}

#undef NAME
#define NAME cancel_and_status
PARAMS
ParameterizedTest(struct triple *t, agent_cli, cancel_and_status, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start("{\"protocol\":1,\"id\":\"c\",\"steps\":["
                       "{\"id\":\"long\",\"kind\":\"test\",\"command\":\"sleep 60\",\"timeout\":120},"
                       "{\"id\":\"after\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":10}]}"),
                 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "%s status --job-dir %s", agent, jd), 0, "%s", out);
    cJSON *s = cJSON_Parse(out);
    cr_assert_str_eq(str(s, "state"), "running");
    cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(s, "pid")));
    cJSON_Delete(s);
    cr_assert_eq(th_run(out, sizeof out, "%s cancel --job-dir %s", agent, jd), 0, "%s", out);
    cJSON *ev = attach_from(0);
    cr_assert_str_eq(str(step_end(ev, "long", 1), "reason"), "canceled");
    cr_assert_str_eq(str(step_end(ev, "after", 1), "verdict"), "skipped");
    cr_assert_str_eq(str(last(ev), "outcome"), "canceled");
    cJSON_Delete(ev);
    /* Not running any more: cancel says so. */
    cr_assert_neq(th_run(out, sizeof out, "%s cancel --job-dir %s", agent, jd), 0);
    cr_assert(strstr(out, "no job is running") != NULL, "%s", out);
}

/* A job that installs a marker, runs a long test, and removes the marker
 * in uninstall (UNINSTALL: its command and timeout). */
#define CANCELABLE(UNINSTALL)                                                                       \
    "{\"protocol\":1,\"id\":\"u\",\"steps\":["                                                   \
    "{\"id\":\"install\",\"kind\":\"install\",\"command\":\"touch installed\",\"timeout\":10},"   \
    "{\"id\":\"long\",\"kind\":\"test\",\"command\":\"sleep 60\",\"timeout\":120},"             \
    "{\"id\":\"after\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":10},"                 \
    "{\"id\":\"uninstall\",\"kind\":\"uninstall\"," UNINSTALL "}]}"

/* Wait until the job's event log has a step-start of `step`. */
static void wait_step_start(const char *step)
{
    for (int i = 0; i < 300; i++) {
        if (th_run(NULL, 0, "grep -q '\"type\":\"step-start\",\"step\":\"%s\"' %s/state/events.jsonl", step, jd) == 0)
            return;
        usleep(100000);
    }
    th_run(out, sizeof out, "cat %s/state/events.jsonl", jd);
    cr_assert_fail("no step-start of %s: %s", step, out);
}

#undef NAME
#define NAME cancel_still_runs_uninstall
PARAMS
ParameterizedTest(struct triple *t, agent_cli, cancel_still_runs_uninstall, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start(CANCELABLE("\"command\":\"rm installed && touch uninstalled\",\"timeout\":30")), 0, "%s",
                 out);
    wait_step_start("long");
    cr_assert_eq(th_run(out, sizeof out, "%s cancel --job-dir %s", agent, jd), 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "%s status --job-dir %s", agent, jd), 0, "%s", out);
    cJSON *s = cJSON_Parse(out);
    cr_assert_str_eq(str(s, "cancel"), "uninstall", "%s", out);
    cJSON_Delete(s);
    cJSON *ev = attach_from(0);
    cr_assert_str_eq(str(step_end(ev, "long", 1), "reason"), "canceled");
    cr_assert_str_eq(str(step_end(ev, "after", 1), "verdict"), "skipped");
    cr_assert_str_eq(str(step_end(ev, "uninstall", 1), "verdict"), "pass");
    cr_assert_str_eq(str(last(ev), "outcome"), "canceled");
    cJSON_Delete(ev);
    cr_assert_eq(th_run(NULL, 0, "test ! -e %s/work/installed && test -e %s/work/uninstalled", jd, jd), 0,
                 "uninstall did not run");
}

#undef NAME
#define NAME cancel_now_skips_uninstall
PARAMS
ParameterizedTest(struct triple *t, agent_cli, cancel_now_skips_uninstall, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start(CANCELABLE("\"command\":\"rm installed\",\"timeout\":30")), 0, "%s", out);
    wait_step_start("long");
    cr_assert_eq(th_run(out, sizeof out, "%s cancel --now --job-dir %s", agent, jd), 0, "%s", out);
    cJSON *ev = attach_from(0);
    cr_assert_str_eq(str(step_end(ev, "long", 1), "reason"), "canceled");
    cr_assert_str_eq(str(step_end(ev, "uninstall", 1), "verdict"), "skipped");
    cr_assert_str_eq(str(step_end(ev, "uninstall", 1), "reason"), "canceled now");
    cr_assert_str_eq(str(last(ev), "outcome"), "canceled");
    cJSON_Delete(ev);
    cr_assert_eq(th_run(NULL, 0, "test -e %s/work/installed", jd), 0, "uninstall ran after cancel --now");
}

#undef NAME
#define NAME uninstall_after_cancel_keeps_its_timeout
PARAMS
ParameterizedTest(struct triple *t, agent_cli, uninstall_after_cancel_keeps_its_timeout, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start(CANCELABLE("\"command\":\"sleep 60\",\"timeout\":1")), 0, "%s", out);
    wait_step_start("long");
    cr_assert_eq(th_run(out, sizeof out, "%s cancel --job-dir %s", agent, jd), 0, "%s", out);
    cJSON *ev = attach_from(0);
    const cJSON *u = step_end(ev, "uninstall", 1);
    cr_assert_str_eq(str(u, "verdict"), "fail");
    cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(u, "timed_out")), "uninstall was not timed out");
    cr_assert_str_eq(str(last(ev), "outcome"), "canceled");
    cJSON_Delete(ev);
}

#undef NAME
#define NAME a_second_cancel_stops_uninstall
PARAMS
ParameterizedTest(struct triple *t, agent_cli, a_second_cancel_stops_uninstall, .fini = cleanup)
{
    setup_for(t);
    cr_assert_eq(start(CANCELABLE("\"command\":\"sleep 60\",\"timeout\":120")), 0, "%s", out);
    wait_step_start("long");
    cr_assert_eq(th_run(out, sizeof out, "%s cancel --job-dir %s", agent, jd), 0, "%s", out);
    wait_step_start("uninstall");
    cr_assert_eq(th_run(out, sizeof out, "%s cancel --job-dir %s", agent, jd), 0, "%s", out);
    cJSON *ev = attach_from(0);
    cr_assert_str_eq(str(step_end(ev, "uninstall", 1), "verdict"), "error");
    cr_assert_str_eq(str(step_end(ev, "uninstall", 1), "reason"), "canceled");
    cr_assert_str_eq(str(last(ev), "outcome"), "canceled");
    cJSON_Delete(ev);
    cr_assert_eq(th_run(out, sizeof out, "cat %s/state/cancel", jd), 0);
    cr_assert_str_eq(out, "now\n");
}

#undef NAME
#define NAME bad_input_gives_clear_errors
PARAMS
ParameterizedTest(struct triple *t, agent_cli, bad_input_gives_clear_errors, .fini = cleanup)
{
    setup_for(t);
    /* A malformed spec: refused with the field named, and recorded. */
    int rc = start("{\"protocol\":1,\"id\":\"m\",\"steps\":[{\"id\":\"a\",\"kind\":\"test\",\"command\":\"true\"}]}");
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "assay-agent: start: steps[0].timeout: missing") != NULL, "%s", out);
    cJSON *ev = attach_from(0);
    cr_assert_eq(cJSON_GetArraySize(ev), 2);
    cr_assert_str_eq(type_of(cJSON_GetArrayItem(ev, 0)), "error");
    cr_assert(strstr(str(cJSON_GetArrayItem(ev, 0), "message"), "steps[0].timeout: missing") != NULL);
    cr_assert_str_eq(str(last(ev), "outcome"), "error");
    cJSON_Delete(ev);

    /* Then a good spec in the same directory, naming a missing artifact. */
    rc = start("{\"protocol\":1,\"id\":\"m\",\"artifact\":\"gone.rpm\",\"steps\":["
               "{\"id\":\"install\",\"kind\":\"install\",\"command\":\"true\",\"timeout\":10}]}");
    cr_assert_eq(rc, 0, "%s", out);
    ev = attach_from(0);
    cr_assert_str_eq(type_of(cJSON_GetArrayItem(ev, 1)), "error");
    cr_assert(strstr(str(cJSON_GetArrayItem(ev, 1), "message"), "artifact gone.rpm") != NULL);
    cr_assert_str_eq(str(step_end(ev, "install", 0), "verdict"), "skipped");
    cr_assert_str_eq(str(last(ev), "outcome"), "error");
    cr_assert_str_eq(str(last(ev), "reason"), "artifact missing");
    cJSON_Delete(ev);

    /* Another spec in a used job directory is refused. */
    rc = start("{\"protocol\":1,\"id\":\"other\",\"steps\":[{\"id\":\"a\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":1}]}");
    cr_assert_neq(rc, 0);
    cr_assert(strstr(out, "holds another job") != NULL, "%s", out);

    /* Usage errors and garbage options. */
    cr_assert_eq(th_run(out, sizeof out, "%s attach --job-dir %s --from -3", agent, jd), 2);
    cr_assert_eq(th_run(out, sizeof out, "%s attach", agent), 2);
    cr_assert(strstr(out, "--job-dir DIR is required") != NULL, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "%s frobnicate", agent), 2);
    cr_assert_neq(th_run(out, sizeof out, "%s status --job-dir %s/nope", agent, jd), 0);
    cr_assert(strstr(out, "does not exist") != NULL, "%s", out);
}

#undef NAME
#define NAME a_killed_supervisor_is_ended_by_attach
PARAMS
ParameterizedTest(struct triple *t, agent_cli, a_killed_supervisor_is_ended_by_attach, .fini = cleanup)
{
    setup_for(t);
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"protocol\":1,\"id\":\"d\",\"steps\":[{\"id\":\"long\",\"kind\":\"test\",\"command\":"
             "\"cp /bin/sleep ./assay-mark-%d; ./assay-mark-%d 120\",\"timeout\":300}]}",
             getpid(), getpid());
    cr_assert_eq(start(spec), 0, "%s", out);
    /* Wait for the step, then kill the supervisor outright, as an OOM kill
     * or a crash would. */
    cr_assert_eq(th_run(out, sizeof out,
                        "for i in $(seq 100); do pgrep -f '[a]ssay-mark-%d' >/dev/null && break; "
                        "sleep 0.05; done; kill -9 $(cat %s/state/supervisor.pid)",
                        getpid(), jd),
                 0, "%s", out);
    cJSON *ev = attach_from(0);
    const cJSON *err = cJSON_GetArrayItem(ev, cJSON_GetArraySize(ev) - 2);
    cr_assert_str_eq(type_of(err), "error");
    cr_assert(strstr(str(err, "message"), "supervisor stopped") != NULL, "%s", str(err, "message"));
    cr_assert_str_eq(str(last(ev), "outcome"), "error");
    cr_assert_str_eq(str(last(ev), "reason"), "supervisor lost");
    cJSON_Delete(ev);
    /* Its step did not outlive it. */
    cr_assert_not(marker_alive(), "left behind: %s", out);
}

#undef NAME
#define NAME a_full_disk_is_an_error_event
PARAMS
ParameterizedTest(struct triple *t, agent_cli, a_full_disk_is_an_error_event, .fini = cleanup)
{
    setup_for(t);
    /* A real small file system as the job directory. */
    char full[300];
    snprintf(full, sizeof full, "%s/full", jd);
    cr_assert_eq(mkdir(full, 0755), 0);
    if (mount("tmpfs", full, "tmpfs", 0, "size=1m") != 0)
        cr_skip_test("cannot mount a tmpfs here (needs root)");
    snprintf(jd + strlen(jd), sizeof jd - strlen(jd), "/full");
    cr_assert_eq(start("{\"protocol\":1,\"id\":\"disk\",\"log_cap\":8388608,\"steps\":["
                       "{\"id\":\"fill\",\"kind\":\"test\",\"command\":\"head -c 4000000 /dev/urandom\",\"timeout\":60},"
                       "{\"id\":\"next\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":60}]}"),
                 0, "%s", out);
    cJSON *ev = attach_from(0);
    int saw_error = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ev)
    {
        if (strcmp(type_of(e), "error") == 0 && strstr(str(e, "message"), "No space left on device"))
            saw_error = 1;
    }
    cr_assert(saw_error, "no error event for the full disk");
    cr_assert_str_eq(str(last(ev), "outcome"), "error");
    cJSON_Delete(ev);
    jd[strlen(jd) - 5] = '\0';
}

#undef NAME
#define NAME inspect_checks_architecture_against_the_host
PARAMS
ParameterizedTest(struct triple *t, agent_cli, inspect_checks_architecture_against_the_host,
                  .fini = cleanup)
{
    setup_for(t);
    /* Real ELF files of every architecture: the three agents themselves. */
    char paths[3][512];
    for (int i = 0; i < 3; i++)
        cr_assert_not_null(th_agent_path(triples[i].name, paths[i], sizeof paths[i]));
    cr_assert_eq(th_run(NULL, 0, "echo '#!/bin/sh' > %s/script.sh", jd), 0);
    int rc = th_run(out, sizeof out, "cd %s && %s inspect %s %s %s script.sh missing.bin", jd, agent,
                    paths[0], paths[1], paths[2]);
    cr_assert_eq(rc, 1, "inspect must fail on error findings: %d %s", rc, out);
    cJSON *r = cJSON_Parse(out);
    cr_assert_not_null(r, "%s", out);
    cr_assert_str_eq(str(r, "host_arch"), t->arch);
    const cJSON *files = cJSON_GetObjectItem(r, "files");
    for (int i = 0; i < 3; i++) {
        const cJSON *f = cJSON_GetArrayItem(files, i);
        cr_assert_str_eq(str(f, "arch"), triples[i].arch);
        int mismatch = strcmp(triples[i].arch, t->arch) != 0;
        const cJSON *fl = cJSON_GetObjectItem(f, "findings");
        cr_assert_eq(cJSON_GetArraySize(fl), mismatch, "%s on %s", triples[i].arch, t->arch);
        if (mismatch) {
            const cJSON *x = cJSON_GetArrayItem(fl, 0);
            cr_assert_str_eq(str(x, "severity"), "error");
            cr_assert_str_eq(str(x, "check"), "arch");
            cr_assert_str_eq(str(x, "expected"), t->arch);
            cr_assert_str_eq(str(x, "found"), triples[i].arch);
        }
    }
    const cJSON *script = cJSON_GetArrayItem(files, 3);
    cr_assert(cJSON_IsFalse(cJSON_GetObjectItem(script, "elf")));
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(script, "findings")), 0);
    const cJSON *missing = cJSON_GetArrayItem(files, 4);
    cr_assert_str_eq(str(cJSON_GetArrayItem(cJSON_GetObjectItem(missing, "findings"), 0), "check"), "exists");
    cr_assert_eq(cJSON_GetObjectItem(r, "errors")->valueint, 3);
    cJSON_Delete(r);
}

#undef NAME
#define NAME preflight_errors_on_the_host_can_stop_the_job
PARAMS
ParameterizedTest(struct triple *t, agent_cli, preflight_errors_on_the_host_can_stop_the_job,
                  .fini = cleanup)
{
    setup_for(t);
    /* "Install" copies in a binary of another architecture than the host's. */
    char foreign[512], spec[2048];
    const struct triple *other = &triples[strcmp(t->arch, "aarch64") == 0 ? 2 : 1];
    cr_assert_not_null(th_agent_path(other->name, foreign, sizeof foreign));
    snprintf(spec, sizeof spec,
             "{\"protocol\":1,\"id\":\"p\",\"inspect\":[\"bin/tool\"],\"stop_on_inspect_error\":true,"
             "\"steps\":[{\"id\":\"install\",\"kind\":\"install\",\"command\":\"mkdir -p bin && cp %s bin/tool\",\"timeout\":30},"
             "{\"id\":\"t\",\"kind\":\"test\",\"command\":\"bin/tool version\",\"timeout\":30},"
             "{\"id\":\"uninstall\",\"kind\":\"uninstall\",\"command\":\"rm -rf bin\",\"timeout\":30}]}",
             foreign);
    cr_assert_eq(start(spec), 0, "%s", out);
    cJSON *ev = attach_from(0);
    const cJSON *insp = NULL, *e;
    cJSON_ArrayForEach(e, ev) if (strcmp(type_of(e), "inspect") == 0) insp = e;
    cr_assert_not_null(insp, "no inspect event");
    const cJSON *res = cJSON_GetObjectItem(insp, "result");
    cr_assert_eq(cJSON_GetObjectItem(res, "errors")->valueint, 1);
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItem(res, "files"), 0);
    cr_assert_str_eq(str(f, "arch"), other->arch);
    cr_assert_str_eq(str(step_end(ev, "t", 0), "verdict"), "skipped");
    cr_assert_str_eq(str(step_end(ev, "t", 0), "reason"), "preflight errors on the host");
    cr_assert_str_eq(str(step_end(ev, "uninstall", 1), "verdict"), "pass", "uninstall still runs");
    cJSON_Delete(ev);
}

/* Tests and benchmarks run as the job's run user (docs/security.md): a
 * test cannot write the event log or the logs, signal the supervisor or
 * replace the agent; install runs as root, and so does a test the spec
 * marks privileged. */
#undef NAME
#define NAME tests_run_as_an_unprivileged_user
PARAMS
ParameterizedTest(struct triple *t, agent_cli, tests_run_as_an_unprivileged_user, .fini = cleanup)
{
    setup_for(t);
    chmod(jd, 0755); /* mkdtemp's 0700 would keep the run user out */
    char spec[4096];
    snprintf(spec, sizeof spec,
             "{\"protocol\":1,\"id\":\"iso\",\"run_user\":\"assay-run\",\"steps\":["
             "{\"id\":\"install\",\"kind\":\"install\",\"command\":\"id -u > installed-as\",\"timeout\":60},"
             "{\"id\":\"who\",\"kind\":\"test\",\"command\":\"test $(id -u) != 0 && test $(cat installed-as) = 0 && "
             "test \\\"$USER\\\" = assay-run && touch mine && touch \\\"$HOME/x\\\" \\\"$TMPDIR/y\\\"\",\"timeout\":60},"
             "{\"id\":\"append\",\"kind\":\"test\",\"command\":\"echo '{}' >> \\\"$ASSAY_JOB_DIR/state/events.jsonl\\\"\",\"timeout\":60},"
             "{\"id\":\"signal\",\"kind\":\"test\",\"command\":\"kill -9 $(cat \\\"$ASSAY_JOB_DIR/state/supervisor.pid\\\") || "
             "pkill -9 -u 0 -f \\\"start --job-dir $ASSAY_JOB_DIR\\\"; test $? = 0\",\"timeout\":60},"
             "{\"id\":\"logs\",\"kind\":\"test\",\"command\":\"echo forged >> \\\"$ASSAY_JOB_DIR/logs/install.1.stdout\\\"\",\"timeout\":60},"
             "{\"id\":\"binary\",\"kind\":\"test\",\"command\":\"cp /bin/true '%s'\",\"timeout\":60},"
             "{\"id\":\"root\",\"kind\":\"test\",\"command\":\"test $(id -u) = 0\",\"timeout\":60,\"privileged\":true}]}",
             agent);
    cr_assert_eq(start(spec), 0, "start: %s", out);
    cJSON *ev = attach_from(0);
    const cJSON *iso = cJSON_GetObjectItem(cJSON_GetArrayItem(ev, 0), "isolation");
    cr_assert_str_eq(str(iso, "run_user"), "assay-run", "%s", cJSON_PrintUnformatted(iso));
    cr_assert_str_eq(str(step_end(ev, "install", 1), "verdict"), "pass");
    cr_assert_str_eq(str(step_end(ev, "who", 1), "verdict"), "pass", "%s", str(step_end(ev, "who", 1), "reason"));
    static const char *const denied[] = {"append", "signal", "logs", "binary"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(str(step_end(ev, denied[i], 1), "verdict"), "fail", "%s succeeded as the run user",
                         denied[i]);
    cr_assert_str_eq(str(step_end(ev, "root", 1), "verdict"), "pass");
    cr_assert_str_eq(str(last(ev), "outcome"), "failed", "the supervisor outlived the attempts");
    cJSON_Delete(ev);
    struct stat st;
    char path[400];
    snprintf(path, sizeof path, "%s/state", jd);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/logs/install.1.stdout", jd);
    char *log = th_slurp(path, NULL);
    cr_assert(log && !strstr(log, "forged"));
    free(log);
}

/* ---- one live attach per job, and none without a reader ---------------- */


/* `attach --from N` with stdout one end of a pipe (socket 0) or of a
 * socketpair (socket 1), as sshd gives an exec channel; *reader: our end. */
static pid_t spawn_attach(int socket, long from, int *reader)
{
    int sv[2];
    cr_assert_eq(
        socket ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) : pipe2(sv, O_CLOEXEC), 0);
    if (!socket) { /* pipe2 gives [read, write]: the agent writes */
        int t = sv[0];
        sv[0] = sv[1];
        sv[1] = t;
    }
    char fromb[24];
    snprintf(fromb, sizeof fromb, "%ld", from);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(sv[0], 1);
        if (socket)
            dup2(sv[0], 0);
        execl(agent, agent, "attach", "--job-dir", jd, "--from", fromb, (char *)NULL);
        _exit(127);
    }
    close(sv[0]);
    *reader = sv[1];
    return pid;
}

/* Wait up to `seconds` for `pid`; its exit status, or -1 if it still runs. */
static int wait_exit(pid_t pid, double seconds)
{
    for (double t0 = mono(); mono() - t0 < seconds;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        cr_assert(r == 0 || errno == EINTR);
        usleep(20000);
    }
    return -1;
}

static void start_quiet_job(void)
{
    char spec[1024];
    /* One step that sleeps (a marker copy, killed by cleanup): after
     * job-start and step-start (seq 0, 1) the job is quiet for a minute. */
    snprintf(
        spec, sizeof spec,
        "{\"protocol\":1,\"id\":\"quiet\",\"steps\":[{\"id\":\"nap\",\"kind\":\"test\",\"command\":"
        "\"cp /bin/sleep ./assay-mark-%d; ./assay-mark-%d 60\",\"timeout\":300}]}",
        getpid(), getpid());
    cr_assert_eq(start(spec), 0, "%s", out);
}

static void assert_job_running(void)
{
    cr_assert_eq(th_run(out, sizeof out, "%s status --job-dir %s", agent, jd), 0, "%s", out);
    cJSON *s = cJSON_Parse(out);
    cr_assert_str_eq(str(s, "state"), "running", "the job must outlive its attach: %s", out);
    cJSON_Delete(s);
}

#undef NAME
#define NAME attach_ends_when_its_reader_goes_away
PARAMS
ParameterizedTest(struct triple *t, agent_cli, attach_ends_when_its_reader_goes_away,
                  .fini = cleanup)
{
    setup_for(t);
    start_quiet_job();
    for (int socket = 0; socket <= 1; socket++) {
        int reader;
        pid_t pid = spawn_attach(socket, 2, &reader);
        /* sshd half-closes a socketpair channel on the controller's EOF
         * (stdin done): not a hang-up. */
        if (socket)
            shutdown(reader, SHUT_WR);
        cr_assert_eq(wait_exit(pid, 1.5), -1, "attach (%s) ended with a reader there",
                     socket ? "socketpair" : "pipe");
        double t0 = mono();
        close(reader); /* the controller is gone, with nothing to write to it */
        int st = wait_exit(pid, 10);
        if (st < 0)
            kill(pid, SIGKILL), waitpid(pid, NULL, 0);
        cr_assert_eq(st, 3, "attach on a %s whose reader closed: status %d after %.1fs",
                     socket ? "socketpair" : "pipe", st, mono() - t0);
        cr_assert_lt(mono() - t0, 3.0, "noticed after %.1fs", mono() - t0);
    }
    assert_job_running();
}

#undef NAME
#define NAME a_second_attach_replaces_the_first
PARAMS
ParameterizedTest(struct triple *t, agent_cli, a_second_attach_replaces_the_first, .fini = cleanup)
{
    setup_for(t);
    start_quiet_job();
    int r1, r2;
    pid_t a1 = spawn_attach(0, 0, &r1);
    /* The first holds the job's attach lock once its pid is in attach.pid. */
    char path[300];
    snprintf(path, sizeof path, "%s/state/attach.pid", jd);
    int claimed = 0;
    for (int i = 0; i < 500 && !claimed; i++) {
        char *s = th_slurp(path, NULL);
        claimed = s && strtol(s, NULL, 10) == a1;
        free(s);
        if (!claimed)
            usleep(20000);
    }
    cr_assert(claimed, "the first attach never claimed the job");
    double t0 = mono();
    pid_t a2 = spawn_attach(0, 0, &r2);
    int st = wait_exit(a1, 10);
    cr_assert_eq(st, 4, "the first attach: status %d after %.1fs", st, mono() - t0);
    cr_assert_eq(wait_exit(a2, 0.5), -1, "the second attach must go on");
    /* The second streams from seq 0 as asked: job-start first. */
    char line[64] = "";
    ssize_t n = read(r2, line, sizeof line - 1);
    cr_assert_gt(n, 0);
    cr_assert(strstr(line, "\"seq\":0") != NULL, "%s", line);
    close(r1);
    close(r2);
    cr_assert_eq(wait_exit(a2, 10), 3);
    assert_job_running();

    /* A lock held by something that is not an attach of this job: never
     * signalled (a stale or reused pid), and the new attach gives up. */
    if (strcmp(t->arch, "x86_64") == 0) {
        cr_assert_eq(
            th_run(
                out, sizeof out,
                "cd %s/state && { flock attach.lock sleep 30 >/dev/null 2>&1 & echo $! > attach.pid; }; "
                "for i in $(seq 200); do flock -n attach.lock true || break; sleep 0.05; done; "
                "timeout 30 %s attach --job-dir .. ; echo \"rc=$?\"; p=$(cat attach.pid); "
                "kill -0 $p && echo holder-alive; pkill -P $p; kill $p 2>/dev/null; true",
                jd, agent),
            0, "%s", out);
        cr_assert(strstr(out, "by no attach of this job") && strstr(out, "rc=1") &&
                      strstr(out, "holder-alive"),
                  "%s", out);
    }
}

/* Two starts of one job at once (a controller retrying while its first
 * start still runs): both succeed with the job's id, one supervisor runs it
 * once, and job.json is the job's. Two starts of different jobs in one
 * directory: one wins, the other is told the directory holds another job,
 * and the winner's job.json is whole. Native agent only: the race is the
 * kernel's, not the CPU's. */
Test(agent_cli, concurrent_starts_start_one_job, .fini = cleanup)
{
    setup_for(&triples[0]);
    char a[300], b[300];
    snprintf(a, sizeof a, "%s.a", jd);
    snprintf(b, sizeof b, "%s.b", jd);
    FILE *f = fopen(a, "w");
    fputs("{\"protocol\":1,\"id\":\"same\",\"steps\":[{\"id\":\"t\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":30}]}", f);
    fclose(f);
    f = fopen(b, "w");
    fputs("{\"protocol\":1,\"id\":\"other\",\"steps\":[{\"id\":\"t\",\"kind\":\"test\",\"command\":\"true\",\"timeout\":30}]}", f);
    fclose(f);
    int rc = th_run(out, sizeof out,
                    "set -u; bad=0; for i in $(seq 20); do d=%s/s$i; mkdir $d; "
                    "%s start --job-dir $d < %s > $d.o1 2>&1 & p1=$!; %s start --job-dir $d < %s > $d.o2 2>&1 & p2=$!; "
                    "wait $p1 || { bad=1; cat $d.o1; }; wait $p2 || { bad=1; cat $d.o2; }; "
                    "done; exit $bad",
                    jd, agent, a, agent, a);
    cr_assert_eq(rc, 0, "a start of the same job failed: %s", out);
    for (int i = 1; i <= 20; i++) {
        rc = th_run(out, sizeof out, "timeout 60 %s attach --job-dir %s/s%d --from 0", agent, jd, i);
        cr_assert_eq(rc, 0, "attach s%d: %s", i, out);
        int starts = 0, ends = 0;
        for (char *p = out; (p = strstr(p, "\"type\":\"job-start\"")); p++)
            starts++;
        for (char *p = out; (p = strstr(p, "\"outcome\":\"passed\"")); p++)
            ends++;
        cr_assert_eq(starts, 1, "s%d: %d job-starts: %s", i, starts, out);
        cr_assert_eq(ends, 1, "s%d: not one passing job-end: %s", i, out);
    }
    rc = th_run(out, sizeof out,
                "set -u; for i in $(seq 20); do d=%s/d$i; mkdir $d; "
                "%s start --job-dir $d < %s > $d.o1 2>&1 & p1=$!; %s start --job-dir $d < %s > $d.o2 2>&1 & p2=$!; "
                "wait $p1; r1=$?; wait $p2; r2=$?; "
                "if [ $r1 = 0 ]; then w=%s; l=$d.o2; r=$r2; else w=%s; l=$d.o1; r=$r1; fi; "
                "[ $r != 0 ] && grep -q 'holds another job' $l || { echo \"d$i: $r1 $r2\"; cat $d.o1 $d.o2; exit 1; }; "
                "cmp -s $w $d/state/job.json || { echo \"d$i: job.json is not the winner's\"; exit 1; }; "
                "done",
                jd, agent, a, agent, b, a, b);
    cr_assert_eq(rc, 0, "%s", out);
    unlink(a);
    unlink(b);
}

/* A supervisor killed in the middle of writing an event leaves a torn last
 * line; one attach cuts it, ends the job and streams the ending whole. */
Test(agent_cli, attach_after_a_torn_line_ends_the_job_in_one_call, .fini = cleanup)
{
    setup_for(&triples[0]);
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"protocol\":1,\"id\":\"torn\",\"steps\":[{\"id\":\"long\",\"kind\":\"test\",\"command\":"
             "\"cp /bin/sleep ./assay-mark-%d; ./assay-mark-%d 120\",\"timeout\":300}]}",
             getpid(), getpid());
    cr_assert_eq(start(spec), 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out,
                        "for i in $(seq 100); do pgrep -f '[a]ssay-mark-%d' >/dev/null && break; "
                        "sleep 0.05; done; kill -9 $(cat %s/state/supervisor.pid); "
                        "printf '{\"v\":1,\"seq\":2,\"ts\":\"2026' >> %s/state/events.jsonl",
                        getpid(), jd, jd),
                 0, "%s", out);
    int rc = th_run(out, sizeof out, "timeout 60 %s attach --job-dir %s --from 0", agent, jd);
    cr_assert_eq(rc, 0, "the first attach failed (%d): %s", rc, out);
    cr_assert(strstr(out, "\"reason\":\"supervisor lost\"") && !strstr(out, "\"ts\":\"2026{"), "%s", out);
}

/* A root step that stops the supervisor (SIGSTOP) would leave the job
 * looking alive for ever, its timeouts unenforced: attach resumes it, so
 * the next step's timeout still fires and the job ends. */
Test(agent_cli, a_stopped_supervisor_is_resumed_by_attach, .fini = cleanup)
{
    setup_for(&triples[0]);
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"protocol\":1,\"id\":\"stop\",\"steps\":["
             "{\"id\":\"install\",\"kind\":\"install\",\"command\":"
             "\"kill -STOP $(cat \\\"$ASSAY_JOB_DIR/state/supervisor.pid\\\")\",\"timeout\":60},"
             "{\"id\":\"hang\",\"kind\":\"test\",\"command\":\"cp /bin/sleep ./assay-mark-%d; ./assay-mark-%d 600\","
             "\"timeout\":2}]}",
             getpid(), getpid());
    cr_assert_eq(start(spec), 0, "%s", out);
    int rc = th_run(out, sizeof out, "timeout 120 %s attach --job-dir %s --from 0", agent, jd);
    cr_assert_eq(rc, 0, "attach did not end the job (%d): %s", rc, out);
    cr_assert(strstr(out, "\"type\":\"job-end\""), "%s", out);
    cr_assert(strstr(out, "\"timed_out\":true"), "the hanging step's timeout did not fire: %s", out);
    cr_assert_not(marker_alive(), "left behind");
}

#undef NAME
#define NAME output_comes_while_the_step_runs
PARAMS
ParameterizedTest(struct triple *t, agent_cli, output_comes_while_the_step_runs, .fini = cleanup)
{
    setup_for(t);
    /* The step prints a line (a CJK one, cut nowhere by the chunks), then
     * waits for the test: its output must be in events.jsonl before the
     * step ends, not only in the log at the end. */
    const char *spec = "{\"protocol\":1,\"id\":\"live\",\"steps\":[{\"id\":\"slow\",\"kind\":\"test\",\"command\":"
                       "\"echo first-line 测试; echo to-stderr >&2; while [ ! -e go ]; do sleep 0.05; done; echo last-line\","
                       "\"timeout\":300}]}";
    cr_assert_eq(start(spec), 0, "%s", out);
    char path[400], *seen = NULL;
    snprintf(path, sizeof path, "%s/" ASSAY_JOB_EVENTS, jd);
    int got = 0;
    for (double t0 = mono(); !got && mono() - t0 < 120; usleep(20000)) {
        free(seen);
        seen = th_slurp(path, NULL);
        cr_assert(!seen || !strstr(seen, "\"step-end\""), "the step ended before the test let it");
        for (char *l = seen ? strstr(seen, "\"type\":\"output\"") : NULL; l; l = strstr(l + 1, "\"type\":\"output\"")) {
            char *d = strstr(l, "\"data\":\"");
            size_t n = 0;
            unsigned char *raw = d ? assay_base64_decode(d + 8, strcspn(d + 8, "\""), &n) : NULL;
            static const char first[] = "first-line 测试\n";
            got |= raw && n >= sizeof first - 1 && memcmp(raw, first, sizeof first - 1) == 0;
            free(raw);
        }
    }
    free(seen);
    cr_assert(got, "no live output of the running step in %s", path);
    cr_assert_eq(th_run(NULL, 0, "touch %s/" ASSAY_JOB_WORK "/go", jd), 0);
    cJSON *ev = attach_from(0);
    size_t n;
    int chunks;
    unsigned char *o = live_output(ev, "slow", 1, "stdout", &n, &chunks);
    cr_assert(n == strlen("first-line 测试\nlast-line\n") && !memcmp(o, "first-line 测试\nlast-line\n", n),
              "live stdout: %.*s", (int)n, o);
    cr_assert_geq(chunks, 2, "the last line came in its own chunk, after the wait");
    free(o);
    o = live_output(ev, "slow", 1, "stderr", &n, &chunks);
    cr_assert(n == 10 && !memcmp(o, "to-stderr\n", 10));
    free(o);
    controller_accepts(spec, ev);
    cJSON_Delete(ev);
}

#undef NAME
#define NAME logs_are_framed_and_only_the_job_s
PARAMS
ParameterizedTest(struct triple *t, agent_cli, logs_are_framed_and_only_the_job_s, .fini = cleanup)
{
    setup_for(t);
    const char *spec = "{\"protocol\":1,\"id\":\"lg\",\"steps\":[{\"id\":\"t\",\"kind\":\"test\",\"command\":"
                       "\"printf 'a\\\\nb'; printf 'err' >&2\",\"timeout\":60}]}";
    cr_assert_eq(start(spec), 0, "%s", out);
    cJSON *ev = attach_from(0);
    cJSON_Delete(ev);
    /* What is in logs/ besides the job's own: a link out of it, a folder,
     * names the controller would refuse. None of it is a log. */
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s/logs && ln -s /etc/passwd link && mkdir dir && echo x > .hidden && "
                        "echo x > 'bad name' && printf 'x' > z.extra",
                        jd),
                 0, "%s", out);
    int rc = th_run(out, sizeof out, "%s logs --job-dir %s", agent, jd);
    cr_assert_eq(rc, 0, "%s", out);
    /* in name order, each exactly its bytes (no newline added) */
    cr_assert_str_eq(out, "3 logs/t.1.stderr\nerr3 logs/t.1.stdout\na\nb1 logs/z.extra\nx");
    /* and no logs/ at all is no logs, not an error */
    cr_assert_eq(th_run(out, sizeof out, "rm -rf %s/logs && %s logs --job-dir %s", jd, agent, jd), 0, "%s", out);
    cr_assert_str_eq(out, "");
}

/* The pid file is read by one rule wherever it is read: a number and
 * nothing else, or the reader says so (cancel) or knows no pid (status). */
Test(agent_cli, a_pid_file_that_holds_no_pid_is_refused_by_every_reader, .fini = cleanup)
{
    setup_for(&triples[0]);
    start_quiet_job();
    char path[400], good[32];
    snprintf(path, sizeof path, "%s/" ASSAY_JOB_PID, jd);
    char *p = th_slurp(path, NULL);
    cr_assert_not_null(p);
    snprintf(good, sizeof good, "%s", p);
    free(p);
    static const char *const bad[] = {"12x\n", "\n", "1\n", "99999999999999999999\n", "-5\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(bad[i], f);
        fclose(f);
        cr_assert_eq(th_run(out, sizeof out, "%s status --job-dir %s", agent, jd), 0, "%s", out);
        cJSON *s = cJSON_Parse(out);
        cr_assert(cJSON_IsNull(cJSON_GetObjectItem(s, "pid")), "pid file '%s': %s", bad[i], out);
        cJSON_Delete(s);
        cr_assert_neq(th_run(out, sizeof out, "%s cancel --job-dir %s 2>&1", agent, jd), 0, "%s", out);
        cr_assert(strstr(out, "does not hold a pid"), "pid file '%s': %s", bad[i], out);
        unlink(path); /* the cancel file the try left: the next try is a first cancel again */
        char cf[400];
        snprintf(cf, sizeof cf, "%s/" ASSAY_JOB_CANCEL, jd);
        unlink(cf);
    }
    FILE *f = fopen(path, "w");
    fputs(good, f);
    fclose(f);
    cr_assert_eq(th_run(out, sizeof out, "%s cancel --job-dir %s --now 2>&1", agent, jd), 0, "%s", out);
}

/* Live output stops at the job's cap however many steps print: the store
 * and a page that replays the job stay bounded; the logs have every byte. */
Test(agent_cli, live_output_stops_at_the_job_s_cap, .fini = cleanup)
{
    setup_for(&triples[0]);
    int nt = ASSAY_LIVE_JOB_MAX / (2 * ASSAY_LIVE_MAX) + 2;
    char *spec = malloc(200 + (size_t)nt * 200);
    int o = sprintf(spec, "{\"protocol\":1,\"id\":\"cap\",\"steps\":[");
    for (int i = 0; i < nt; i++)
        o += sprintf(spec + o,
                     "%s{\"id\":\"t%d\",\"kind\":\"test\",\"command\":\"head -c 70000 /dev/zero; head -c 70000 /dev/zero >&2\","
                     "\"timeout\":60}",
                     i ? "," : "", i);
    sprintf(spec + o, "]}");
    cr_assert_eq(start(spec), 0, "%s", out);
    cJSON *ev = attach_from(0);
    uint64_t total = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, ev) if (!strcmp(type_of(e), "output"))
    {
        size_t n = 0;
        const char *d = str(e, "data");
        free(assay_base64_decode(d, strlen(d), &n));
        total += n;
    }
    cr_assert_eq(total, ASSAY_LIVE_JOB_MAX, "%llu bytes live", (unsigned long long)total);
    cr_assert_str_eq(str(last(ev), "outcome"), "passed");
    controller_accepts(spec, ev);
    free(spec);
    cJSON_Delete(ev);
}

#undef NAME
#define NAME receive_takes_a_checked_file_whole_or_not_at_all
PARAMS
/* receive: exactly N bytes of stdin (the rest stays for what follows),
 * put in place only when their SHA-256 is the one given; a short stdin,
 * another digest, a size over the cap leave nothing behind. */
ParameterizedTest(struct triple *t, agent_cli, receive_takes_a_checked_file_whole_or_not_at_all, .fini = cleanup)
{
    setup_for(t);
    char sha[80], sha5[80];
    cr_assert_eq(th_run(NULL, 0, "mkdir %s/c && printf 'hello receive' > %s/in", jd, jd), 0);
    cr_assert_eq(th_run(sha, sizeof sha, "sha256sum < %s/in | cut -c1-64 | tr -d '\\n'", jd), 0);
    cr_assert_eq(th_run(sha5, sizeof sha5, "head -c 5 %s/in | sha256sum | cut -c1-64 | tr -d '\\n'", jd), 0);
    cr_assert_eq(th_run(out, sizeof out, "%s receive --size 13 --sha256 %s --to %s/c/f < %s/in 2>&1", agent, sha, jd, jd),
                 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "cat %s/c/f; stat -c ' %%a' %s/c/f", jd, jd), 0);
    cr_assert_str_eq(out, "hello receive 644\n");
    /* The next bytes stay on stdin. */
    cr_assert_eq(th_run(out, sizeof out, "{ %s receive --size 5 --sha256 %s --to %s/c/h && cat; } < %s/in", agent, sha5, jd,
                        jd),
                 0, "%s", out);
    cr_assert_str_eq(out, " receive");
    /* Short, another digest, too big, not a digest: refused, nothing left. */
    cr_assert_eq(th_run(out, sizeof out, "printf 'hel' | %s receive --size 13 --sha256 %s --to %s/c/g 2>&1", agent, sha, jd),
                 1, "%s", out);
    cr_assert(strstr(out, "stdin ended after 3 of 13 bytes"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "printf 'hello receivX' | %s receive --size 13 --sha256 %s --to %s/c/g 2>&1", agent,
                        sha, jd),
                 1, "%s", out);
    cr_assert(strstr(out, "digest mismatch: got "), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "%s receive --size 3000000 --sha256 %s --to %s/c/g < /dev/null 2>&1", agent, sha, jd),
                 1, "%s", out);
    cr_assert(strstr(out, "over the 2097152 a receive takes"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "%s receive --size 13 --sha256 XYZ --to %s/c/g < %s/in 2>&1", agent, jd, jd), 1,
                 "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "%s receive --size 13 --to %s/c/g < %s/in 2>&1", agent, jd, jd), 2, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "ls -A %s/c", jd), 0);
    cr_assert_str_eq(out, "f\nh\n", "nothing but the two files received");
}
