/*
 * The dispatcher's state machines on a fake host (fakehost.h): a fault in
 * every state, and the log that names every transition. The lab tests
 * (test_controller, test_faults, test_hangup...) do the same on real sshd
 * and real agents; these do what a real host cannot do on demand.
 */
#include "blob.h"
#include "dispatch.h"
#include "fakehost.h"
#include "helpers.h"
#include "lab.h"
#include "remote.h"
#include "store.h"
#include "ssh.h"
#include "assay/error.h"
#include "assay/proto.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSAY ASSAY_BINARY_DIR "/assay"
#define PROFILE "zhaoxin-kx6000-uos-20"

static char dir[] = "/tmp/assay-jobrun-XXXXXX";
static char out[1 << 16];
static char *log_text;
static fake_host fh;

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    fake_host_init(&fh);
    int rc = th_run(out, sizeof out,
                    "set -e; cd %s; A='%s --lab %s/lab'; $A init >/dev/null; ssh-keygen -q -t ed25519 -N '' -f key; "
                    "$A host add fake-1 --profile " PROFILE " --address 192.0.2.1 --user root --identity key "
                    "--trust-on-first-use >/dev/null; mkdir -p sub/pkgs; echo hi > sub/pkgs/a.txt; "
                    "tar -C sub/pkgs -czf sub/pkgs/a.tar.gz a.txt; cat > sub/manifest.json <<'EOF'\n"
                    "{\"manifest\": 1, \"product\": \"fake\", \"version\": \"1.0\", \"vendor\": \"Example Co.\","
                    " \"artifacts\": [{\"file\": \"pkgs/a.tar.gz\", \"arch\": \"noarch\"}],"
                    " \"install\": {\"command\": \"true\", \"timeout\": 60},"
                    " \"tests\": [{\"id\": \"t1\", \"command\": \"true\", \"timeout\": 60},"
                    "             {\"id\": \"t2\", \"command\": \"true\", \"timeout\": 60}],"
                    " \"uninstall\": {\"command\": \"true\", \"timeout\": 60}}\n"
                    "EOF\n"
                    "tar -C sub -czf sub.tar.gz manifest.json pkgs/a.tar.gz; p=$($A package add sub.tar.gz 2>/dev/null); "
                    "$A run submit \"$(echo $p | cut -c1-12)\" --profiles " PROFILE " >/dev/null",
                    dir, ASSAY, dir);
    cr_assert_eq(rc, 0, "%s", out);
}

static void teardown(void)
{
    free(log_text);
    log_text = NULL;
    fake_host_free(&fh);
    th_run(NULL, 0, "rm -rf %s", dir);
}

TestSuite(jobrun, .init = setup, .fini = teardown, .timeout = 120);

/* A dispatcher on the fake host until the queue is empty (once) or
 * SIGINT; its log in log_text. */
static int max_attempts; /* 0: the dispatcher's default */
static int gc_only;      /* assay gc --hosts: no jobs, the job directories due */
static double host_cmd_timeout; /* 0: the dispatcher's default (600 s) */
static size_t gc_removed, gc_failed;

static void dispatch_x(double silence_s, double unreachable_s, int once)
{
    assay_lab lab;
    char labdir[300], logp[300];
    snprintf(labdir, sizeof labdir, "%s/lab", dir);
    snprintf(logp, sizeof logp, "%s/dispatch.log", dir);
    cr_assert_eq(assay_lab_open(&lab, labdir), 0, "%s", assay_error_last()->message);
    FILE *f = fopen(logp, "w");
    assay_transport t = fake_transport(&fh);
    assay_dispatch_opts o = {.once = once, .out = f, .transport = &t, .silence_s = silence_s,
                             .unreachable_s = unreachable_s, .log_cap = 1000, .max_attempts = max_attempts,
                             .gc_only = gc_only, .dirs_removed = &gc_removed, .dirs_failed = &gc_failed,
                             .host_cmd_timeout_s = host_cmd_timeout};
    cr_assert_eq(assay_dispatch(&lab, &o), 0, "%s", assay_error_last()->message);
    fclose(f);
    assay_lab_close(&lab);
    free(log_text);
    log_text = th_slurp(logp, NULL);
    cr_assert_not_null(log_text);
}

/* One dispatcher pass over the queue, on the fake host; its log in log_text. */
static void dispatch(double silence_s)
{
    dispatch_x(silence_s, 60, 1);
}

/* `assay --lab LAB ARGS...` in the test's directory; its output in out. */
static int lab_cmd(const char *args)
{
    return th_run(out, sizeof out, "cd %s && %s --lab %s/lab %s", dir, ASSAY, dir, args);
}

static void lab_open(assay_lab *lab)
{
    char labdir[300];
    snprintf(labdir, sizeof labdir, "%s/lab", dir);
    cr_assert_eq(assay_lab_open(lab, labdir), 0, "%s", assay_error_last()->message);
}

/* Job 1's state, outcome, reason, and its attempt's event and log counts. */
static void job1(const char *outcome, int events, int logs)
{
    assay_lab lab;
    lab_open(&lab);
    assay_job_rec j;
    cr_assert_eq(assay_store_job_get(lab.store, 1, &j), 0);
    cr_assert_str_eq(j.outcome, outcome, "job 1: %s (%s)\n%s", j.outcome, j.reason, log_text);
    if (events >= 0) {
        cJSON *ev = NULL, *lg = NULL;
        cr_assert_eq(assay_store_job_events(lab.store, 1, j.attempt, 0, &ev), 0);
        cr_assert_eq(cJSON_GetArraySize(ev), events, "events stored once each\n%s", log_text);
        cr_assert_eq(assay_store_job_logs(lab.store, 1, j.attempt, &lg), 0);
        cr_assert_eq(cJSON_GetArraySize(lg), logs, "logs\n%s", log_text);
        cJSON_Delete(ev);
        cJSON_Delete(lg);
    }
    assay_lab_close(&lab);
}

static void has(const char *text)
{
    cr_assert(strstr(log_text, text), "no '%s' in the log:\n%s", text, log_text);
}

/* job-start, 4 steps x (start, end), job-end; 4 logs */
#define EVENTS 10
#define LOGS 4

/* A host the lab has no record of: the agent and the artifact go with the
 * job, one command. */
Test(jobrun, a_cold_host_every_state_logged)
{
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    has("job 1 on fake-1: done -> starting: assigned");
    has("starting -> uploading: the lab's records show no job of this agent or artifact on the host");
    has("uploading -> streaming: the agent's events");
    has("streaming -> fetching logs: job-end");
    has("fetching logs -> ending: logs stored");
    has("ending -> done");
    cr_assert_eq(fh.uploads_agent, 1);
    cr_assert_eq(fh.uploads_art, 1);
    cr_assert_eq(fh.runs + fh.upload_runs, 1, "first contact is one command");
}

/* Another run of the package (job 2). */
static void submit_again(void)
{
    cr_assert_eq(th_run(out, sizeof out,
                        "%s --lab %s/lab run submit $(%s --lab %s/lab package list --json | grep -o '[0-9a-f]\\{64\\}' | "
                        "head -1 | cut -c1-12) --profiles " PROFILE,
                        ASSAY, dir, ASSAY, dir),
                 0, "%s", out);
    fh.runs = fh.upload_runs = fh.uploads_agent = fh.uploads_art = 0;
}

/* The lab's records are a hint: a host that lost its agent is found out by
 * RUN, which says what is missing before anything runs. */
Test(jobrun, a_host_that_lost_the_agent_gets_it_again)
{
    dispatch(5);
    submit_again();
    fh.has_agent = 0;
    dispatch(5);
    has("job 2 on fake-1: starting -> uploading: the host lacks our agent");
    cr_assert_eq(fh.runs, 1);
    cr_assert_eq(fh.upload_runs, 1);
    cr_assert_eq(fh.uploads_agent, 1);
    cr_assert_eq(fh.uploads_art, 0, "the artifact was there");
}

Test(jobrun, a_warm_host_is_one_command)
{
    fh.has_agent = fh.has_art = 1;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    /* The first job went with uploads (no records yet); the next one is one RUN. */
    submit_again();
    dispatch(5);
    cr_assert_eq(fh.runs, 1, "%s", log_text);
    cr_assert_eq(fh.upload_runs + fh.uploads_agent + fh.uploads_art, 0);
}

/* Every read split at every byte, and EAGAIN before every step. */
Test(jobrun, one_byte_reads_and_eagain_everywhere)
{
    fh.has_agent = fh.has_art = 1;
    fh.split = 1;
    fh.eagain = 1;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
}

Test(jobrun, connecting_refused_then_back)
{
    fh.has_agent = fh.has_art = 1;
    fh.connect_fail = 2;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    has("host fake-1: connecting -> down: fake: connect: Connection refused (retry in 1s)");
    has("-> ready: back");
    cr_assert_eq(fh.connects, 3);
}

Test(jobrun, auth_refused_disables_the_host)
{
    fh.auth_fail = 1;
    dispatch(5);
    has("host fake-1: connecting -> disabled: fake: authentication refused");
    has("job 1 on fake-1: infrastructure error");
    has("no usable host has profile " PROFILE);
}

Test(jobrun, a_failed_upload_fails_over)
{
    fh.fail_kind = ASSAY_REMOTE_UPLOAD_RUN;
    fh.fail_status = ASSAY_REMOTE_NO_UPLOAD;
    fh.fail_times = 1;
    dispatch(5);
    has("uploading the agent and a.tar.gz to fake-1 failed: fake: upload and run failed");
    /* Failed over; the host is the only one of its profile, so attempt 2 runs there. */
    job1("passed", EVENTS, LOGS);
}

Test(jobrun, a_dropped_upload_resumes)
{
    fh.has_agent = 1;
    fh.drop_kind = ASSAY_REMOTE_UPLOAD_RUN;
    fh.drop_at = 0;
    fh.drop_times = 1;
    dispatch(5);
    has("uploading -> waiting for host: the host is down");
    has("waiting for host -> starting: the host is back");
    job1("passed", EVENTS, LOGS);
}

Test(jobrun, starting_refused_by_the_agent_ends_in_error)
{
    fh.has_agent = fh.has_art = 1;
    fh.fail_kind = ASSAY_REMOTE_RUN;
    fh.fail_status = ASSAY_REMOTE_NO_START;
    fh.fail_times = 1;
    dispatch(5);
    job1("error", -1, -1);
    has("agent on fake-1 did not start the job");
}

/* The connection drops inside the event stream (in a line, at a line's
 * end) and inside the logs (a header, a body): each time the job resumes
 * from what the store holds, and every event and log is stored once. */
Test(jobrun, streaming_and_logs_dropped_at_many_offsets)
{
    /* From the start: in the job-start, at its end, in the events; from
     * the end: in the first log's header, in a log's body, the last byte. */
    static const long offsets[] = {1, 57, 200, 401, 1500, -470, -460, -101, -1};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        if (i) {
            teardown();
            strcpy(dir, "/tmp/assay-jobrun-XXXXXX");
            setup();
        }
        fh.has_agent = fh.has_art = 1;
        fh.drop_kind = ASSAY_REMOTE_RUN;
        fh.drop_at = offsets[i];
        fh.drop_times = 1;
        dispatch(5);
        job1("passed", EVENTS, LOGS);
        has("-> waiting for host: the host is down");
        if (offsets[i] > 400) /* events stored: the job exists there, RUN attaches */
            has("waiting for host -> attaching: the host is back");
        if (offsets[i] < 0) /* job-end stored: only the logs are fetched again */
            has("waiting for host -> fetching logs: the host is back");
        cr_assert_eq(fh.runs + fh.upload_runs + fh.logs_cmds, 2, "offset %ld: one more command after the drop", offsets[i]);
    }
}

/* A channel that closes in the middle of a log frame: the log is fetched
 * again (LOGS), whole. */
Test(jobrun, fetching_logs_closed_mid_frame)
{
    fh.has_agent = fh.has_art = 1;
    fh.close_kind = ASSAY_REMOTE_RUN;
    fh.close_at = -150; /* inside the logs */
    fh.close_times = 1;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    cr_assert_eq(fh.logs_cmds, 1, "the logs came again on their own command\n%s", log_text);
    has("fetching logs -> waiting for host");
}

/* A host that stops answering mid-stream is taken for down after the
 * silence limit, and the job resumes. */
Test(jobrun, streaming_stalled_is_down_then_resumes)
{
    fh.has_agent = fh.has_art = 1;
    fh.stall_kind = ASSAY_REMOTE_RUN;
    fh.stall_times = 1;
    dispatch(1);
    has("no answer for");
    job1("passed", EVENTS, LOGS);
}

/* Events whose MAC does not verify: the job ends in error, nothing of the
 * bad stream is stored, and the job is stopped on the host. */
Test(jobrun, a_forged_stream_ends_in_error_and_is_stopped)
{
    fh.has_agent = fh.has_art = 1;
    fh.bad_mac = 1;
    dispatch(5);
    job1("error", 0, 0);
    has("protocol error from the agent on fake-1");
    has("-> stopping: protocol error");
    has("stopping -> done");
    cr_assert_eq(fh.stops, 1);
}

/* More logs than the job's steps can make (a hostile host, a root step
 * filling logs/): a protocol error, not rows piling up in the
 * controller's memory; none of them is stored. */
Test(jobrun, more_logs_than_the_steps_make_is_a_protocol_error)
{
    fh.has_agent = fh.has_art = 1;
    fh.extra_logs = 100000;
    dispatch(5);
    job1("error", EVENTS, 0);
    has("the host sent more than the 24 logs its steps can make");
    has("protocol error from the agent on fake-1");
}

/* A log announced larger than the lab's cap (1000 bytes here) is kept up
 * to the cap with a marker; the stream stays in frame. */
Test(jobrun, a_log_over_the_cap_is_cut_with_a_marker)
{
    fh.has_agent = fh.has_art = 1;
    fh.log_bytes = 100;
    fh.announce_extra = 2000;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    assay_lab lab;
    char labdir[300], path[4096];
    snprintf(labdir, sizeof labdir, "%s/lab", dir);
    cr_assert_eq(assay_lab_open(&lab, labdir), 0);
    cJSON *lg = NULL;
    cr_assert_eq(assay_store_job_logs(lab.store, 1, 1, &lg), 0);
    const cJSON *l = cJSON_GetArrayItem(lg, 0);
    const char *sha = cJSON_GetObjectItem(l, "sha256")->valuestring;
    cr_assert_eq(assay_blob_path(path, sizeof path, lab.blobs, sha), 0);
    size_t len;
    char *text = th_slurp(path, &len);
    cr_assert(len > 1000 && len < 1200, "%zu bytes kept", len);
    cr_assert(strstr(text, "[assay: log truncated: the host announced 2100 bytes, over the lab's cap of 1000"),
              "%s", text);
    free(text);
    cJSON_Delete(lg);
    assay_lab_close(&lab);
}

/* Hosts follow the store: an edit made while the job runs takes effect
 * on the next connection; a removed host fails its job over. */
static void edit_host(fake_host *h)
{
    (void)h;
    th_run(NULL, 0, "sqlite3 %s/lab/assay.db \"update hosts set address = '192.0.2.7' where name = 'fake-1'\"",
           dir);
}

Test(jobrun, an_edited_host_takes_effect_without_a_restart)
{
    fh.has_agent = fh.has_art = 1;
    fh.on_run = edit_host;
    fh.stall_kind = ASSAY_REMOTE_RUN; /* the first RUN hangs until the edit is seen */
    fh.stall_times = 1;
    dispatch(30);
    has("host fake-1: edited (address, user, key or identity): a new connection");
    cr_assert_str_eq(fh.last_address, "192.0.2.7");
    job1("passed", EVENTS, LOGS);
}

static void remove_host(fake_host *h)
{
    (void)h;
    /* `host remove` refuses a host with work on it; a store edited by hand
     * (or a removal racing an assignment) can still take it away. */
    th_run(NULL, 0, "sqlite3 %s/lab/assay.db \"delete from hosts where name = 'fake-1'\"", dir);
}

Test(jobrun, a_removed_host_fails_its_job_over)
{
    fh.has_agent = fh.has_art = 1;
    fh.on_run = remove_host;
    fh.stall_kind = ASSAY_REMOTE_RUN;
    fh.stall_times = 1;
    dispatch(30);
    has("host fake-1: removed from the lab");
    has("job 1 on fake-1: infrastructure error: its host was removed");
    assay_lab lab;
    char labdir[300];
    snprintf(labdir, sizeof labdir, "%s/lab", dir);
    cr_assert_eq(assay_lab_open(&lab, labdir), 0);
    assay_job_rec j;
    cr_assert_eq(assay_store_job_get(lab.store, 1, &j), 0);
    cr_assert_str_eq(j.state, "queued", "queued again for another host");
    cr_assert_eq(j.attempt, 2);
    assay_lab_close(&lab);
}

/* The stream parser alone: a RUN answer split at every byte offset parses
 * to the same events and logs; cut at every offset, it says where it
 * stopped (inside an event line, a header or a log), never "complete"
 * unless it was. */
struct tally {
    int events, logs;
    size_t bytes;
};

static int t_event(void *arg, const char *line, size_t len)
{
    struct tally *t = arg;
    t->events++;
    for (size_t i = 0; i + 7 <= len; i++)
        if (!memcmp(line + i, "job-end", 7))
            return 1;
    return 0;
}
static int t_open(void *arg, const char *path, uint64_t n)
{
    (void)arg, (void)path, (void)n;
    return 0;
}
static int t_data(void *arg, const char *d, size_t n)
{
    (void)d;
    ((struct tally *)arg)->bytes += n;
    return 0;
}
static int t_close(void *arg, uint64_t kept, uint64_t ann)
{
    (void)kept, (void)ann;
    ((struct tally *)arg)->logs++;
    return 0;
}

Test(jobrun, the_stream_parser_at_every_offset)
{
    const char *stream = "{\"type\":\"job-start\"}\n{\"type\":\"step-end\"}\n{\"type\":\"job-end\",\"x\":1}\n"
                         "5 logs/a.1.stdout\nhello3 logs/b.1.stderr\nabc0 logs/c\n";
    size_t len = strlen(stream);
    static const assay_remote_stream_ops ops = {t_event, t_open, t_data, t_close};
    for (size_t cut = 0; cut <= len; cut++) {
        struct tally t = {0};
        assay_remote_stream s = {0};
        assay_remote_stream_init(&s, &ops, &t, 1, 0);
        cr_assert_eq(assay_remote_stream_feed(&s, stream, cut), 0);
        cr_assert_eq(assay_remote_stream_feed(&s, stream + cut, len - cut), 0);
        cr_assert_eq(assay_remote_stream_end(&s), 0);
        cr_assert_eq(t.events, 3, "split at %zu", cut);
        cr_assert_eq(t.logs, 3, "split at %zu", cut);
        cr_assert_eq(t.bytes, 8, "split at %zu", cut);
        assay_remote_stream_free(&s);
        /* Cut there: complete only between frames. */
        struct tally u = {0};
        assay_remote_stream c = {0};
        assay_remote_stream_init(&c, &ops, &u, 1, 0);
        cr_assert_eq(assay_remote_stream_feed(&c, stream, cut), 0);
        const char *e3 = strstr(stream, "1}\n") + 3, *f1 = strstr(stream, "hello") + 5, *f2 = strstr(stream, "abc") + 3;
        const char *at = stream + cut;
        int between = cut == 0 || at == strchr(stream, '\n') + 1 || at == strchr(strchr(stream, '\n') + 1, '\n') + 1 ||
                      at == e3 || at == f1 || at == f2 || cut == len;
        cr_assert_eq(assay_remote_stream_end(&c) == 0, between, "cut at %zu: %s", cut, assay_error_last()->message);
        assay_remote_stream_free(&c);
    }
}

/* Hostile frames are refused with what was wrong. */
Test(jobrun, hostile_frames_are_refused)
{
    static const char *const bad[] = {"12 logs/..\n", "12 logs/.hidden\n", "12 state/job.json\n",
                                      "-1 logs/a\n", "99999999999999999999 logs/a\n", "12 logs/a/b\n",
                                      "12  logs/a\n", "x logs/a\n"};
    static const assay_remote_stream_ops ops = {t_event, t_open, t_data, t_close};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct tally t = {0};
        assay_remote_stream s = {0};
        assay_remote_stream_init(&s, &ops, &t, 0, 0);
        cr_assert_eq(assay_remote_stream_feed(&s, bad[i], strlen(bad[i])), ASSAY_EPROTO, "accepted: %s", bad[i]);
        cr_assert(strstr(assay_error_last()->message, "bad header"), "%s", assay_error_last()->message);
        assay_remote_stream_free(&s);
    }
    /* An event line with no end is cut at the protocol's limit. */
    struct tally t = {0};
    assay_remote_stream s = {0};
    assay_remote_stream_init(&s, &ops, &t, 1, 0);
    size_t n = ASSAY_EVENT_MAX + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    cr_assert_eq(assay_remote_stream_feed(&s, big, n), ASSAY_EPROTO);
    cr_assert(strstr(assay_error_last()->message, "an event line over"), "%s", assay_error_last()->message);
    free(big);
    assay_remote_stream_free(&s);
}

/* RESETTING: a host whose last job was of another package is reset first;
 * a reset that fails fails the attempt over, and the next one resets it. */
Test(jobrun, resetting_fails_over_then_resets)
{
    fh.has_agent = fh.has_art = 1;
    fh.fail_kind = ASSAY_REMOTE_RESET;
    fh.fail_status = 1;
    fh.fail_times = 1;
    cr_assert_eq(th_run(out, sizeof out,
                        "sqlite3 %s/lab/assay.db \"update hosts set reset = 'true', last_job = 99, "
                        "last_package = 'other', clean = 0 where name = 'fake-1'\"",
                        dir),
                 0, "%s", out);
    dispatch(5);
    has("job 1 on fake-1: done -> resetting: assigned");
    has("the reset of fake-1 failed (exit status 1)");
    has("resetting -> starting: the host is reset");
    cr_assert_eq(fh.resets, 2);
    job1("passed", EVENTS, LOGS);
}

/* ENDING, and any state: a job ended behind the dispatcher's back (by hand,
 * by another process) is dropped, and nothing more is stored for it. */
static void end_job(fake_host *h)
{
    (void)h;
    th_run(NULL, 0, "sqlite3 %s/lab/assay.db \"update jobs set state = 'ended', outcome = 'canceled' where id = 1\"",
           dir);
}

Test(jobrun, a_job_ended_elsewhere_is_dropped)
{
    fh.has_agent = fh.has_art = 1;
    fh.on_run = end_job;
    dispatch(5);
    has("job 1 on fake-1: dropped: ");
    job1("canceled", 0, 0);
}

/* ---- host care -------------------------------------------------------------- */

static void drain_on_run(fake_host *h)
{
    (void)h;
    cr_assert_eq(lab_cmd("host drain fake-1"), 0, "%s", out);
}

Test(jobrun, a_drained_host_finishes_its_job_and_takes_no_new_one)
{
    fh.has_agent = fh.has_art = 1;
    /* A second job for the same host. */
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s && A='%s --lab %s/lab'; p=$($A package add sub.tar.gz 2>/dev/null); "
                        "$A run submit \"$(echo $p | cut -c1-12)\" --profiles " PROFILE " >/dev/null",
                        dir, ASSAY, dir),
                 0, "%s", out);
    fh.on_run = drain_on_run; /* drained while job 1 runs */
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    cr_assert_eq(fh.runs + fh.upload_runs, 1, "the drained host took no second job\n%s", log_text);
    has("host fake-1: drained");
    has("job 2: no usable host has profile " PROFILE "; it stays queued (fake-1 drained)");
    cr_assert_eq(lab_cmd("host list"), 0);
    cr_assert(strstr(out, "DRAINED"), "%s", out);
    /* Resumed, it takes job 2. */
    fh.on_run = NULL;
    cr_assert_eq(lab_cmd("host resume fake-1"), 0, "%s", out);
    dispatch(5);
    cr_assert_eq(fh.runs + fh.upload_runs, 2, "%s", log_text);
    has("job 2 on fake-1: ending -> done");
}

Test(jobrun, failures_in_a_row_quarantine_the_host_and_resume_lifts_it)
{
    fh.has_agent = fh.has_art = 1;
    fh.connect_fail = 1000000;
    max_attempts = 5; /* the job outlives the quarantine, whatever the failures were */
    cr_assert_eq(lab_cmd("config set hosts.health_interval 1"), 0, "%s", out);
    dispatch_x(5, 1, 1);
    /* Failed-over attempts and failed health checks: three in a row. How
     * many of each depends on the machine's pace (a check runs when the
     * host is idle between attempts): only their sum is the rule. */
    has("job 1 on fake-1: infrastructure error: host fake-1 unreachable");
    has("-> quarantined: 3 infrastructure failures in a row, the last: ");
    has("(assay host resume fake-1)");
    has("job 1: no usable host has profile " PROFILE "; it stays queued (fake-1 quarantined: ");
    cr_assert_eq(lab_cmd("host list"), 0);
    cr_assert(strstr(out, "QUARANTINED after 3 failures in a row: "), "%s", out);
    cr_assert_eq(lab_cmd("host list --json"), 0);
    cr_assert(strstr(out, "\"failures\":\t3") || strstr(out, "\"failures\": 3") || strstr(out, "\"failures\":3"),
              "%s", out);
    /* A new dispatcher leaves it alone too. */
    int before = fh.connects;
    dispatch_x(5, 1, 1);
    cr_assert_eq(fh.connects, before, "a quarantined host is not connected to\n%s", log_text);
    /* Resumed (and reachable again): job 1's next attempt passes there. */
    fh.connect_fail = 0;
    cr_assert_eq(lab_cmd("host resume fake-1"), 0, "%s", out);
    cr_assert(strstr(out, "host fake-1 back in use"), "%s", out);
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    cr_assert_eq(lab_cmd("host list --json"), 0);
    cr_assert(strstr(out, "\"quarantined\":\t\"\"") || strstr(out, "\"quarantined\":\"\""), "%s", out);
}

/* Health checks hold no job back: a job whose only host is dead still ends
 * in error after its attempts (tests/test_controller.c's dead host, here
 * on the fake). */
Test(jobrun, a_job_whose_only_host_is_dead_still_ends_after_its_attempts)
{
    fh.connect_fail = 1000000;
    max_attempts = 2;
    dispatch_x(5, 1, 1);
    job1("error", -1, -1);
    has("attempt 2) -> fake-1");
}

static void stop_on_second_check(fake_host *h)
{
    if (h->versions >= 2)
        raise(SIGINT); /* the dispatcher's own handler: it stops as on Ctrl-C */
}

Test(jobrun, the_health_check_runs_on_schedule)
{
    fh.has_agent = fh.has_art = 1;
    cr_assert_eq(lab_cmd("config set hosts.health_interval 1"), 0, "%s", out);
    fh.on_version = stop_on_second_check;
    dispatch_x(5, 60, 0); /* not --once: it serves until the second check */
    job1("passed", EVENTS, LOGS);
    cr_assert_eq(fh.versions, 2, "%s", log_text);
    has("host fake-1: health check passed");
}

/* The lab's whole-number settings, as the dispatcher and package add read
 * them: a value out of range or not a whole number (a store edited by
 * hand) is the default, never a surprise. */
Test(jobrun, a_setting_that_is_not_a_whole_number_in_range_is_its_default)
{
    static const struct {
        const char *v;
        uint64_t want;
    } cases[] = {{"5", 5},   {"0", 0},   {"36500", 36500}, {"36501", 7}, {"-1", 7}, {"1.5", 7},
                 {"7x", 7},  {"", 7},    {" 5", 7},        {"+5", 7},    {"99999999999999999999", 7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(th_run(out, sizeof out, "sqlite3 %s/lab/assay.db \"insert or replace into meta values "
                                             "('hosts.job_retention_days', '%s')\"", dir, cases[i].v),
                     0, "%s", out);
        assay_lab lab;
        lab_open(&lab);
        uint64_t got = assay_lab_setting(&lab, "hosts.job_retention_days", 0, 36500, 7);
        assay_lab_close(&lab);
        cr_assert_eq(got, cases[i].want, "'%s': %llu", cases[i].v, (unsigned long long)got);
    }
    assay_lab lab;
    lab_open(&lab);
    cr_assert_eq(assay_lab_setting(&lab, "hosts.quarantine_after", 1, 999999, 3), 3, "unset");
    assay_lab_close(&lab);
}

/* What the store has of fake-1's health. */
static assay_host_rec fake1(void)
{
    assay_lab lab;
    assay_host_rec h;
    lab_open(&lab);
    cr_assert_eq(assay_store_host_get(lab.store, "fake-1", &h), 0);
    assay_lab_close(&lab);
    return h;
}

/* The check verifies the agent by its digest, as RUN does: one that is
 * gone or replaced goes up again, as a job's start would send it, and the
 * host is healthy once the agent it has answers as ours. */
Test(jobrun, the_health_check_pushes_a_missing_or_replaced_agent)
{
    fh.has_agent = fh.has_art = 1;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    fh.has_agent = 0; /* removed, or replaced by another binary */
    fh.uploads_agent = 0;
    cr_assert_eq(lab_cmd("config set hosts.health_interval 1"), 0, "%s", out);
    fh.on_version = stop_on_second_check;
    dispatch_x(5, 60, 0);
    has("host fake-1: health check: the agent is missing or not the one pushed: it goes up again");
    has("host fake-1: health check passed");
    cr_assert_eq(fh.version_pushes, 1, "%s", log_text);
    cr_assert_eq(fh.uploads_agent, 1, "%s", log_text);
    cr_assert(fh.has_agent);
    cr_assert_eq(fake1().failures, 0);
}

/* An agent whose answer is not our agent's version (a login banner on
 * stdout, another program at its path, another protocol) leaves the host
 * unhealthy, and its last error says what came. */
Test(jobrun, an_agent_that_answers_garbage_fails_the_health_check)
{
    fh.has_agent = fh.has_art = 1;
    fh.version_answer = "Welcome to the host\n";
    cr_assert_eq(lab_cmd("config set hosts.health_interval 1"), 0, "%s", out);
    fh.on_version = stop_on_second_check;
    dispatch_x(5, 60, 0);
    job1("passed", EVENTS, LOGS);
    has("host fake-1: health check failed: health check: the agent's answer to version --json is not a JSON object "
        "('Welcome to the host.')");
    assay_host_rec h = fake1();
    cr_assert_geq(h.failures, 1);
    cr_assert(strstr(h.last_error, "not a JSON object ('Welcome to the host.')"), "%s", h.last_error);
    cr_assert_eq(fh.version_pushes, 0, "the digest was right: nothing to push");
    /* Another protocol is not ours either (the row of failures forgotten
     * first: a third in a row would quarantine the host, and no check
     * would come). */
    cr_assert_eq(lab_cmd("host resume fake-1"), 0, "%s", out);
    fh.version_answer = "{\"name\":\"assay-agent\",\"version\":\"9\",\"protocol\":2}";
    fh.versions = 0;
    dispatch_x(5, 60, 0);
    has("host fake-1: health check failed: health check: the agent speaks protocol 2, not 1");
}

/* A host where the agent cannot go up (its digest does not match on the
 * host, a full disk) is not healthy, and says why. */
Test(jobrun, a_health_check_whose_push_fails_says_why)
{
    fh.has_agent = fh.has_art = 1;
    dispatch(5);
    fh.has_agent = 0;
    fh.fail_kind = ASSAY_REMOTE_UPLOAD_VERSION;
    fh.fail_status = ASSAY_REMOTE_NO_UPLOAD;
    fh.fail_times = 1000;
    cr_assert_eq(lab_cmd("config set hosts.health_interval 1"), 0, "%s", out);
    fh.on_version = stop_on_second_check;
    dispatch_x(5, 60, 0);
    has("host fake-1: health check failed: health check: the agent was missing or not ours, and its upload ended "
        "with 95: fake: agent upload and version failed");
    cr_assert(!fh.has_agent);
    assay_host_rec h = fake1();
    cr_assert_geq(h.failures, 1);
    cr_assert(strstr(h.last_error, "its upload ended with 95"), "%s", h.last_error);
}

/* A warm host on which the next command of this kind never ends, and a
 * dispatcher that gives a host's own commands 1 s. */
static void hang_once(int kind)
{
    fh.has_agent = fh.has_art = 1;
    fh.stall_kind = kind;
    fh.stall_times = 1;
    host_cmd_timeout = 1;
}

/* A check that hangs on the host (sshd answers keepalives, the command
 * never ends) is cut after the dispatcher's host command timeout and
 * counted as a failure: the host is not left checking, the loop goes on,
 * and the next check passes. */
Test(jobrun, a_hung_health_check_is_cut_and_counted)
{
    hang_once(ASSAY_REMOTE_VERSION);
    cr_assert_eq(lab_cmd("config set hosts.health_interval 1"), 0, "%s", out);
    fh.on_version = stop_on_second_check;
    dispatch_x(60, 60, 0); /* the connection is never silent for long: only the command hangs */
    job1("passed", EVENTS, LOGS);
    const char *cut = strstr(log_text, "host fake-1: health check failed: health check: the command did not end "
                                       "within 1s"),
               *passed = strstr(log_text, "host fake-1: health check passed");
    cr_assert(cut && passed && passed > cut, "%s", log_text);
    cr_assert_str_eq(fake1().last_error, "health check: the command did not end within 1s");
}

/* ---- ended jobs' directories on hosts (hosts.job_retention_days) ------------ */

/* `assay gc --hosts` on the fake host: a dispatcher that runs no job. */
static void gc_hosts(void)
{
    gc_only = 1;
    dispatch_x(5, 60, 1);
    gc_only = 0;
}

/* The job directory of job `id`'s attempt 1 on fake-1, quoted as the
 * command carries it ("'.assay/jobs/<lab>-r<run>-j<id>-a1'"). */
static void job_dir_quoted(char *q, size_t len, int64_t run, int64_t id)
{
    assay_lab lab;
    lab_open(&lab);
    snprintf(q, len, "'.assay/jobs/%s-r%lld-j%lld-a1'", lab.id, (long long)run, (long long)id);
    assay_lab_close(&lab);
}

/* What is left to remove on fake-1, whatever its age. */
static size_t dirs_left(void)
{
    assay_lab lab;
    assay_host_dir *d = NULL;
    size_t n = 0;
    lab_open(&lab);
    cr_assert_eq(assay_store_host_dirs_due(lab.store, "fake-1", "9999-12-31T00:00:00Z", 1000, &d, &n), 0);
    free(d);
    assay_lab_close(&lab);
    return n;
}

Test(jobrun, ended_jobs_directories_go_after_the_retention)
{
    char q[300];
    fh.has_agent = fh.has_art = 1;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    cr_assert_eq(dirs_left(), 1, "the ended job's directory is recorded\n%s", log_text);
    /* Within the retention (7 days by default): nothing goes. */
    gc_hosts();
    cr_assert_eq(fh.removes, 0, "%s", log_text);
    cr_assert_eq(gc_removed, 0);
    /* The setting: whole days, 0 allowed. */
    cr_assert_neq(lab_cmd("config set hosts.job_retention_days -1"), 0, "%s", out);
    cr_assert_neq(lab_cmd("config set hosts.job_retention_days 1.5"), 0, "%s", out);
    cr_assert(strstr(out, "hosts.job_retention_days is a whole number of days"), "%s", out);
    cr_assert_eq(lab_cmd("config set hosts.job_retention_days 0"), 0, "%s", out);
    gc_hosts();
    cr_assert_eq(fh.removes, 1, "%s", log_text);
    cr_assert_eq(gc_removed, 1);
    job_dir_quoted(q, sizeof q, 1, 1);
    char want[400];
    snprintf(want, sizeof want, "rm -rf -- %s", q);
    cr_assert_str_eq(fh.last_remove, want, "one command, the path quoted");
    has("host fake-1: 1 job directories removed");
    cr_assert_eq(dirs_left(), 0);
    /* Recorded: never sent again. */
    gc_hosts();
    cr_assert_eq(fh.removes, 1, "%s", log_text);
    /* The command takes the dispatcher's lock: refused while one serves. */
    cr_assert_neq(th_run(out, sizeof out, "cd %s && flock lab/dispatch.lock %s --lab lab gc --hosts", dir, ASSAY), 0,
                  "%s", out);
    cr_assert(strstr(out, "assay: gc: a dispatcher serves lab lab: it removes the job directories due itself"), "%s",
              out);
}

/* The dispatcher removes them itself, on an idle host, once the retention
 * is over: with 0 days, right after the job. */
Test(jobrun, the_dispatcher_removes_a_directory_when_the_host_is_idle)
{
    char q1[300], q2[300];
    fh.has_agent = fh.has_art = 1;
    cr_assert_eq(lab_cmd("config set hosts.job_retention_days 0"), 0, "%s", out);
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    cr_assert_eq(fh.removes, 1, "%s", log_text);
    job_dir_quoted(q1, sizeof q1, 1, 1);
    cr_assert(strstr(fh.last_remove, q1), "%s", fh.last_remove);
    submit_again();
    dispatch(5);
    cr_assert_eq(fh.removes, 2, "%s", log_text);
    job_dir_quoted(q2, sizeof q2, 2, 2);
    cr_assert(strstr(fh.last_remove, q2), "%s", fh.last_remove);
    cr_assert_null(strstr(fh.last_remove, q1), "job 1's directory went once: %s", fh.last_remove);
    /* The removal came after the job, never while it ran. */
    const char *end = strstr(log_text, "job 2 on fake-1: ending -> done"), *rm = strstr(log_text, "job directories removed");
    cr_assert(end && rm && rm > end, "%s", log_text);
}

/* A removal that fails is recorded and tried again, ASSAY_HOST_DIR_TRIES
 * times in all, then given up: never retried forever. */
Test(jobrun, a_failing_removal_is_given_up_after_its_tries)
{
    fh.has_agent = fh.has_art = 1;
    fh.fail_kind = ASSAY_REMOTE_REMOVE;
    fh.fail_status = 1;
    fh.fail_times = 1000;
    cr_assert_eq(lab_cmd("config set hosts.job_retention_days 0"), 0, "%s", out);
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    cr_assert_eq(fh.removes, 1, "%s", log_text);
    has("job directories not removed: the removal ended with 1: fake: remove failed");
    for (int i = 0; i < ASSAY_HOST_DIR_TRIES + 2; i++)
        gc_hosts();
    cr_assert_eq(fh.removes, ASSAY_HOST_DIR_TRIES, "%s", log_text);
    cr_assert_eq(dirs_left(), 0, "given up");
}

/* A removal of job directories that hangs, like a hung check: cut, recorded as a failed
 * try, and a pass of the dispatcher (`--once`, `gc --hosts`) ends. */
Test(jobrun, a_hung_removal_is_cut_and_recorded)
{
    hang_once(ASSAY_REMOTE_REMOVE);
    cr_assert_eq(lab_cmd("config set hosts.job_retention_days 0"), 0, "%s", out);
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    has("host fake-1: 1 job directories not removed: the removal did not end within 1s");
    cr_assert_eq(gc_failed, 1);
    cr_assert_eq(dirs_left(), 1, "tried once of %d", ASSAY_HOST_DIR_TRIES);
    gc_hosts();
    cr_assert_eq(fh.removes, 2, "%s", log_text);
    cr_assert_eq(dirs_left(), 0);
}

/* Only an attempt whose events and logs reached the store: a job whose
 * agent broke the protocol keeps its directory (the host's copy is the
 * only one of what it wrote). */
Test(jobrun, a_job_without_its_logs_in_the_store_keeps_its_directory)
{
    fh.has_agent = fh.has_art = 1;
    fh.bad_mac = 1;
    cr_assert_eq(lab_cmd("config set hosts.job_retention_days 0"), 0, "%s", out);
    dispatch(5);
    job1("error", 0, 0);
    gc_hosts();
    cr_assert_eq(fh.removes, 0, "%s", log_text);
    cr_assert_eq(dirs_left(), 0);
}

/* The removal's command, run by a real shell over paths made to break it:
 * only the job directories go, and nothing in a name is ever run. */
Test(jobrun, hostile_job_directories_are_quoted_or_refused)
{
    char root[600], cmd[8192], d1[800], d2[800];
    snprintf(root, sizeof root, "%s/r o'ot$(touch %s/PWNED1)`touch %s/PWNED2`;touch %s/PWNED3 \"x\\", dir, dir, dir,
             dir);
    snprintf(d1, sizeof d1, "%s/jobs/lab-r1-j1-a1", root);
    snprintf(d2, sizeof d2, "%s/jobs/-rf", root);
    const char *dirs[] = {d1, d2};
    cr_assert_eq(assay_remote_remove_dirs(cmd, sizeof cmd, dirs, 2), 0, "%s", assay_error_last()->message);
    /* The tree: both job directories with files in them, and one to keep. */
    char keep[800], mk[4000];
    snprintf(keep, sizeof keep, "%s/jobs/lab-r1-j2-a1", root);
    const char *paths[] = {d1, d2, keep};
    for (int i = 0; i < 3; i++) {
        char q[3300];
        cr_assert_eq(assay_shell_quote(q, sizeof q, paths[i]), 0);
        snprintf(mk, sizeof mk, "mkdir -p %s/logs && echo x > %s/logs/a", q, q);
        cr_assert_eq(th_run(out, sizeof out, "%s", mk), 0, "%s", out);
    }
    cr_assert_eq(th_run(out, sizeof out, "cd %s && %s", dir, cmd), 0, "%s\n%s", cmd, out);
    cr_assert_neq(access(d1, F_OK), 0, "removed");
    cr_assert_neq(access(d2, F_OK), 0, "removed");
    cr_assert_eq(access(keep, F_OK), 0, "another job's directory stays");
    cr_assert_eq(th_run(out, sizeof out, "ls %s/PWNED* 2>/dev/null | wc -l", dir), 0);
    cr_assert_str_eq(out, "0\n", "nothing in a name ran");
    /* Refused: not a job directory of ours. */
    static const char *const bad[] = {"/a/jobs/..",      "/a/jobs/.hidden", "/a/jobs/x;y",   "/a/jobs/x y",
                                      "/a/../jobs/x",    "/a/./jobs/x",     "/a/notjobs/x", "/a/jobs/",
                                      "jobs",            "/a/jobs/x\ny",    "/a/myjobs/x",  "/a/jobs/$(id)"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = {bad[i]};
        cr_assert_eq(assay_remote_remove_dirs(cmd, sizeof cmd, one, 1), ASSAY_EINVAL, "accepted: %s", bad[i]);
        cr_assert(strstr(assay_error_last()->message, "is not a job directory"), "%s", assay_error_last()->message);
    }
    const char *good[] = {"jobs/a", ".assay/jobs/0123abcd-r1-j1-a1", "/var/tmp/x/jobs/a.b_c-d"};
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(assay_remote_job_dir_check(good[i]), 0, "%s: %s", good[i], assay_error_last()->message);
}

/* The health check's commands, run by a real shell: the agent runs only
 * when its digest is the one pushed (as RUN checks it), and one pushed by
 * the check is put in place only once its bytes match that digest. */
Test(jobrun, the_health_check_runs_only_the_agent_that_was_pushed)
{
    char root[400], agent[400], other[400], marker[400], cmd[9000], sha[65];
    snprintf(root, sizeof root, "%s/r o'ot", dir);
    snprintf(agent, sizeof agent, "%s/agent.sh", dir);
    snprintf(other, sizeof other, "%s/other.sh", dir);
    snprintf(marker, sizeof marker, "%s/ran", dir);
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s && printf '#!/bin/sh\\ntouch ran\\necho \\047{\"name\":\"assay-agent\",\"version\":"
                        "\"1\",\"protocol\":1}\\047\\n' > agent.sh && printf '#!/bin/sh\\ntouch ran\\n' > other.sh && "
                        "chmod +x agent.sh other.sh && sha256sum < agent.sh | cut -c1-64",
                        dir),
                 0, "%s", out);
    cr_assert_eq(sscanf(out, "%64s", sha), 1, "%s", out);
    assay_remote_host rh = {root, "", sha, "h"};
    /* None there: "missing" before anything runs. */
    cr_assert_eq(assay_remote_version(cmd, sizeof cmd, &rh), 0, "%s", assay_error_last()->message);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && (%s)", dir, cmd), ASSAY_REMOTE_MISSING + 1, "%s", out);
    /* Pushed: checked on the host, then it answers as ours. */
    cr_assert_eq(assay_remote_upload_version(cmd, sizeof cmd, &rh), 0, "%s", assay_error_last()->message);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && (%s) < agent.sh 2>/dev/null", dir, cmd), 0, "%s", out);
    cr_assert_eq(assay_remote_version_answer(out, strlen(out)), 0, "%s: %s", out, assay_error_last()->message);
    cr_assert_eq(access(marker, F_OK), 0, "the agent ran");
    cr_assert_eq(unlink(marker), 0);
    /* Replaced by another program at the same path: never run. */
    cr_assert_eq(assay_remote_version(cmd, sizeof cmd, &rh), 0);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && cp other.sh \"$(ls -d r*)/agents/%s/assay-agent\" && (%s)", dir, sha,
                        cmd),
                 ASSAY_REMOTE_MISSING + 1, "%s", out);
    cr_assert_neq(access(marker, F_OK), 0, "a replaced agent does not run");
    /* Bytes that are not the agent's do not go in place. */
    cr_assert_eq(assay_remote_upload_version(cmd, sizeof cmd, &rh), 0);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && (%s) < other.sh", dir, cmd), ASSAY_REMOTE_NO_UPLOAD, "%s", out);
    cr_assert(strstr(out, "digest mismatch"), "%s", out);
    cr_assert_neq(access(marker, F_OK), 0);
    /* What an agent's answer must be. */
    static const char *const bad[] = {"", "Welcome\n", "{}", "[1]", "{\"name\":\"x\",\"version\":\"1\",\"protocol\":1}",
                                      "{\"name\":\"assay-agent\",\"version\":\"1\",\"protocol\":2}",
                                      "{\"name\":\"assay-agent\",\"protocol\":1}",
                                      "{\"name\":\"assay-agent\",\"version\":\"1\",\"protocol\":\"1\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(assay_remote_version_answer(bad[i], strlen(bad[i])), ASSAY_EPROTO, "accepted: %s", bad[i]);
    char big[ASSAY_REMOTE_VERSION_MAX + 2];
    memset(big, ' ', sizeof big);
    cr_assert_eq(assay_remote_version_answer(big, sizeof big), ASSAY_EPROTO, "over the cap");
}

/* ---- the live view, through a pseudo-terminal -------------------------------- */

struct capture {
    int fd;
    char *buf;
    size_t len, cap;
};

/* Reads the terminal's master side until the slave side is closed. */
static void *drain_pty(void *arg)
{
    struct capture *c = arg;
    char b[4096];
    ssize_t n;
    while ((n = read(c->fd, b, sizeof b)) > 0) {
        if (c->len + (size_t)n + 1 > c->cap) {
            c->cap = 2 * (c->len + (size_t)n + 1);
            c->buf = realloc(c->buf, c->cap);
        }
        memcpy(c->buf + c->len, b, (size_t)n);
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    }
    return NULL;
}

static char *tty_raw;           /* what the dispatcher wrote to the terminal */
static char screen[400][1024];  /* what the terminal shows, scrollback included, colour codes taken out */
static int screen_rows;

/* A terminal as far as the live view needs one: text, newlines, cursor up
 * (ESC [ A), erase line (ESC [ 2 K); SGR (ESC [ ... m) is taken out. */
static void emulate(const char *raw)
{
    int row = 0;
    memset(screen, 0, sizeof screen);
    for (const char *p = raw; *p; p++) {
        if (*p == '\033' && p[1] == '[') {
            const char *q = p + 2;
            int n = 0;
            while ((*q >= '0' && *q <= '9') || *q == ';')
                n = *q >= '0' && *q <= '9' ? n * 10 + (*q - '0') : 0, q++;
            if (*q == 'A')
                row -= n ? n : 1;
            else if (*q == 'K')
                screen[row][0] = '\0';
            cr_assert(row >= 0, "the cursor went above where the view began");
            p = q;
        } else if (*p == '\n') {
            row++;
            cr_assert(row < 400);
        } else if (*p != '\r') {
            size_t l = strlen(screen[row]);
            cr_assert(l + 1 < sizeof screen[row]);
            screen[row][l] = *p;
            screen[row][l + 1] = '\0';
        }
    }
    screen_rows = row;
}

/* How many lines of the screen begin with `prefix`. */
static int rows_with(const char *prefix)
{
    int n = 0;
    for (int i = 0; i < screen_rows; i++)
        n += strncmp(screen[i], prefix, strlen(prefix)) == 0;
    return n;
}

static int row_of(const char *prefix)
{
    for (int i = 0; i < screen_rows; i++)
        if (strncmp(screen[i], prefix, strlen(prefix)) == 0)
            return i;
    return -1;
}

static char *screen_text(void)
{
    static char all[400 * 1100];
    all[0] = '\0';
    for (int i = 0; i < screen_rows; i++) {
        strcat(all, screen[i]);
        strcat(all, "\n");
    }
    return all;
}

/* The raw output with colour codes taken out. */
static int raw_has(const char *text)
{
    char *plain = strdup(tty_raw), *w = plain;
    for (const char *p = tty_raw; *p; p++) {
        if (*p == '\033' && p[1] == '[') {
            const char *q = p + 2;
            while ((*q >= '0' && *q <= '9') || *q == ';')
                q++;
            if (*q == 'm') {
                p = q;
                continue;
            }
        }
        *w++ = *p;
    }
    *w = '\0';
    int found = strstr(plain, text) != NULL;
    free(plain);
    return found;
}

static int tty_cols; /* the terminal's width the dispatcher is told (0: its default) */

/* A dispatcher on the fake host whose output is a terminal. */
static int dispatch_tty(double silence_s, int color)
{
    assay_lab lab;
    int m, sl, stopped = -1;
    cr_assert_eq(openpty(&m, &sl, NULL, NULL, NULL), 0);
    struct capture c = {.fd = m};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, drain_pty, &c), 0);
    FILE *f = fdopen(sl, "w");
    lab_open(&lab);
    assay_transport tr = fake_transport(&fh);
    assay_dispatch_opts o = {.once = 1, .out = f, .tty = 1, .color = color, .transport = &tr,
                             .silence_s = silence_s, .unreachable_s = 60, .log_cap = 1000, .stopped_by = &stopped,
                             .cols = tty_cols};
    cr_assert_eq(assay_dispatch(&lab, &o), 0, "%s", assay_error_last()->message);
    assay_lab_close(&lab);
    fclose(f); /* the master reads EIO: the reader ends */
    pthread_join(t, NULL);
    close(m);
    free(tty_raw);
    tty_raw = c.buf ? c.buf : strdup("");
    emulate(tty_raw);
    free(log_text);
    log_text = strdup(screen_text());
    return stopped;
}

Test(jobrun, the_live_view_keeps_each_finished_job_and_ends_with_a_recap)
{
    fh.has_agent = fh.has_art = 1;
    fh.fail_step = 2;     /* t1 fails */
    fh.quiet_after = 4;   /* job-start, install's start and end, t1's start: then silence */
    fh.quiet_times = 1;
    int stopped = dispatch_tty(1, 1);
    cr_assert_eq(stopped, 0);
    job1("failed", EVENTS, LOGS);
    /* While t1 ran: its place among the spec's steps, and its time against its timeout. */
    cr_assert(raw_has("step 2/4"), "%s", tty_raw);
    cr_assert(raw_has("/1m00s"), "%s", tty_raw);
    /* Printed once, kept above the table, with the failing step. */
    cr_assert_eq(rows_with("job 1 on fake-1 (" PROFILE "): failed at t1 in "), 1, "%s", screen_text());
    int recap = row_of("RUN 1 RECAP");
    cr_assert_gt(recap, row_of("job 1 on fake-1 ("), "%s", screen_text());
    char want[300];
    snprintf(want, sizeof want, "  %-16s %-32s passed=0 failed=1 error=0  failed: job 1: t1", "fake-1", PROFILE);
    cr_assert_str_eq(screen[recap + 1], want, "%s", screen_text());
    cr_assert_eq(recap + 2, screen_rows, "the recap ends the output\n%s", screen_text());
    cr_assert_str_eq(screen[recap - 1], "  [##############################] 1 done, 0 running", "%s", screen_text());
    /* Colour: the verdict in red. */
    cr_assert(strstr(tty_raw, "\033[31m\033[1mfailed\033[0m"), "%s", tty_raw);
}

Test(jobrun, the_live_view_says_why_a_job_waits_and_colour_can_be_off)
{
    fh.has_agent = fh.has_art = 1;
    cr_assert_eq(lab_cmd("host drain fake-1"), 0, "%s", out);
    dispatch_tty(5, 0);
    cr_assert_eq(rows_with("  job 1     waits: no usable host has profile " PROFILE " (fake-1 drained)"), 1, "%s",
                 screen_text());
    cr_assert_null(strstr(tty_raw, "\033[3"), "no colour when it is off\n%s", tty_raw);
    cr_assert_null(strstr(tty_raw, "\033[0m"), "%s", tty_raw);
}

/* On a narrow terminal no line of the table is wider than it: a line the
 * terminal wraps takes two rows, and the redraw, which moves up one row a
 * line, would leave the top of the old table on the screen. */
Test(jobrun, the_live_view_fits_a_narrow_terminal)
{
    fh.has_agent = fh.has_art = 1;
    cr_assert_eq(lab_cmd("host drain fake-1"), 0, "%s", out);
    tty_cols = 60;
    dispatch_tty(5, 1);
    cr_assert_eq(rows_with("  job 1     waits: no usable host has profile zhaoxin-kx60~"), 1, "%s", screen_text());
    int lines = 0;
    for (const char *p = tty_raw; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p), width = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '\033' && i + 1 < len && p[i + 1] == '[') { /* CSI ... final byte: no width */
                i += 2;
                while (i < len && !(p[i] >= '@' && p[i] <= '~'))
                    i++;
                continue;
            }
            width += p[i] != '\r';
        }
        cr_assert_leq(width, 60, "a line %zu columns wide: %.*s", width, (int)len, p);
        lines++;
        p = nl ? nl + 1 : p + len;
    }
    cr_assert_gt(lines, 1, "%s", tty_raw);
}

static void interrupt_on_run(fake_host *h)
{
    h->on_run = NULL;
    raise(SIGINT);
}

Test(jobrun, ctrl_c_detaches_and_the_job_goes_on)
{
    fh.has_agent = fh.has_art = 1;
    fh.split = 1;  /* one byte a read, and "again" between: the loop sees the signal mid-stream */
    fh.eagain = 1;
    fh.on_run = interrupt_on_run;
    cr_assert_eq(dispatch_tty(5, 1), SIGINT);
    cr_assert_eq(rows_with("detached: 1 job keeps running on its host; assay dispatch re-attaches"), 1, "%s",
                 screen_text());
    assay_lab lab;
    lab_open(&lab);
    assay_job_rec j;
    cr_assert_eq(assay_store_job_get(lab.store, 1, &j), 0);
    cr_assert(!strcmp(j.state, "assigned") || !strcmp(j.state, "running"), "job 1 is %s", j.state);
    assay_lab_close(&lab);
    /* The next dispatcher takes it up where it is. */
    fh.split = 0;
    fh.eagain = 0;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
}

/* `run show --follow` (the built assay) says when no dispatcher holds the
 * lab, and when one comes. */
Test(jobrun, follow_says_when_no_dispatcher_serves_the_lab)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        char labdir[300];
        snprintf(labdir, sizeof labdir, "%s/lab", dir);
        dup2(p[1], 1);
        close(p[0]);
        execl(ASSAY, ASSAY, "--lab", labdir, "run", "show", "1", "--follow", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[1024];
    int said = 0, back = 0;
    while (!back && fgets(line, sizeof line, f)) {
        if (strstr(line, "no dispatcher serves lab ") && strstr(line, ": the run waits until `assay dispatch` runs")) {
            said++;
            /* Now one comes: this process takes the lab's lock. */
            assay_lab lab;
            lab_open(&lab);
            cr_assert_eq(assay_lab_dispatch_held(&lab), 0);
            cr_assert_eq(assay_lab_lock_dispatch(&lab, 0), 0);
            cr_assert_eq(assay_lab_dispatch_held(&lab), 1);
            assay_lab_close(&lab);
        }
        back += strstr(line, "a dispatcher serves the lab now") != NULL;
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    fclose(f);
    cr_assert_eq(said, 1);
    cr_assert_eq(back, 1);
}

/* The built assay on a terminal (script(1) gives it one): colour unless
 * NO_COLOR; TERM=dumb gets the plain lines. */
Test(jobrun, the_command_honours_no_color_and_term_dumb)
{
    cr_assert_eq(lab_cmd("host drain fake-1"), 0, "%s", out); /* the job waits: nothing connects */
#define ON_A_TERMINAL "cd %s && %s script -qec '%s --lab %s/lab dispatch --once' /dev/null"
    cr_assert_eq(th_run(out, sizeof out, ON_A_TERMINAL, dir, "TERM=xterm", ASSAY, dir), 0, "%s", out);
    cr_assert(strstr(out, "\033[33mwaits\033[0m: no usable host has profile " PROFILE " (fake-1 drained)"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, ON_A_TERMINAL, dir, "TERM=xterm NO_COLOR=1", ASSAY, dir), 0, "%s", out);
    cr_assert(strstr(out, "  job 1     waits: no usable host has profile " PROFILE " (fake-1 drained)"), "%s", out);
    cr_assert_null(strstr(out, "\033[3"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, ON_A_TERMINAL, dir, "TERM=dumb", ASSAY, dir), 0, "%s", out);
    cr_assert(strstr(out, "Z job 1: no usable host has profile " PROFILE "; it stays queued (fake-1 drained)"), "%s",
              out);
    cr_assert_null(strstr(out, "\033["), "%s", out);
}

/* A product of three files ("trio", a set), submitted: a job for it
 * queued; their digests in sums, the package's id in pkg. */
static void submit_set(char sums[3][65], char pkg[65])
{
    cr_assert_eq(th_run(out, sizeof out,
                        "set -e; cd %s; A='%s --lab %s/lab'; mkdir -p set/pkgs; for f in one two three; do "
                        "head -c 3000 /dev/urandom > set/pkgs/$f.bin; done; cat > set/manifest.json <<'EOF'\n"
                        "{\"manifest\": 1, \"product\": \"trio\", \"version\": \"1.0\", \"vendor\": \"Example Co.\","
                        " \"artifacts\": [{\"files\": [\"pkgs/one.bin\", \"pkgs/two.bin\", \"pkgs/three.bin\"],"
                        " \"arch\": \"x86_64\"}],"
                        " \"install\": {\"command\": \"true\", \"timeout\": 60},"
                        " \"tests\": [{\"id\": \"t1\", \"command\": \"true\", \"timeout\": 60},"
                        "             {\"id\": \"t2\", \"command\": \"true\", \"timeout\": 60}],"
                        " \"uninstall\": {\"command\": \"true\", \"timeout\": 60}}\n"
                        "EOF\n"
                        "tar -C set -czf set.tar.gz manifest.json pkgs; p=$($A package add set.tar.gz 2>/dev/null); "
                        "$A run submit \"$(echo $p | cut -c1-12)\" --profiles " PROFILE " >/dev/null; "
                        "sha256sum set/pkgs/one.bin set/pkgs/two.bin set/pkgs/three.bin | cut -c1-64; echo $p",
                        dir, ASSAY, dir),
                 0, "%s", out);
    cr_assert_eq(sscanf(out, "%64s %64s %64s %64s", sums[0], sums[1], sums[2], pkg), 4, "%s", out);
}

/* A product of several files: all of them go up (each checked by its own
 * digest), the spec names them in order, and an upload cut in the middle
 * of the second file resumes there: the first, whole in the host's cache,
 * is not sent again. */
Test(jobrun, a_set_goes_up_whole_and_a_cut_upload_resumes_at_its_second_file)
{
    dispatch(5); /* job 1: the agent is on the host now */
    job1("passed", EVENTS, LOGS);
    char sums[3][65];
    char pkg[65];
    submit_set(sums, pkg);
    fh.runs = fh.upload_runs = fh.uploads_agent = fh.uploads_art = 0;
    fh.drop_upload_file = 2;
    fh.drop_upload_times = 1;
    dispatch(5);
    has("job 2 on fake-1: starting -> uploading: the lab's records show no job of this agent or artifact on the host");
    has("job 2 on fake-1: uploading -> waiting for host: the host is down");
    has("job 2 on fake-1: starting -> uploading: the host lacks the artifact");
    cr_assert_str_eq(fh.last_missing, "missing artifact files: 1 2", "RUN names what the cut left missing");
    /* Each file came whole once: the first in the cut command, the other
     * two in the next one. */
    cr_assert_eq(fh.nuploaded, 3, "%d files came whole, %d uploads of one file", fh.nuploaded, fh.uploads_art);
    for (int i = 0; i < 3; i++)
        cr_assert_str_eq(fh.uploaded[i], sums[i], "upload %d: %s, not %s", i, fh.uploaded[i], sums[i]);
    cr_assert_eq(fh.uploads_agent, 0, "the agent was there");
    cr_assert_eq(fh.upload_runs, 2);
    /* The agent is told the set, in the manifest's order. */
    cr_assert(strstr(fh.spec, "\"artifacts\":[\"one.bin\",\"two.bin\",\"three.bin\"]"), "%s", fh.spec);
    assay_lab lab;
    assay_job_rec j;
    lab_open(&lab);
    cr_assert_eq(assay_store_job_get(lab.store, 2, &j), 0);
    cr_assert_str_eq(j.outcome, "passed", "job 2: %s (%s)\n%s", j.outcome, j.reason, log_text);
    assay_lab_close(&lab);
}

/* A host whose RUN names missing, in turn, whatever the last upload left
 * out (file 1, then files 0 and 2, then file 1 again): each upload round
 * sends what was named, and after the one extra round a first contact's
 * wrong guess may need, the attempt is failed over, never uploaded to for
 * ever. The next attempt finds everything there. */
Test(jobrun, a_host_that_names_in_turn_what_the_last_upload_left_out_is_failed_over)
{
    char sums[3][65], pkg[65];
    fh.has_agent = fh.has_art = 1;
    dispatch(5);
    job1("passed", EVENTS, LOGS);
    submit_set(sums, pkg); /* job 2: the set goes up whole */
    dispatch(5);
    cr_assert_eq(fh.ncache, 3, "%s", log_text);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "run submit %.12s --profiles " PROFILE, pkg);
    cr_assert_eq(lab_cmd(cmd), 0, "%s", out); /* job 3 */
    /* The host lost file 1, and lies twice about what an upload left out. */
    for (int i = 0; i < fh.ncache; i++)
        if (!strcmp(fh.cache[i], sums[1]))
            memcpy(fh.cache[i], fh.cache[--fh.ncache], 65);
    fh.lie_unsent = 2;
    fh.upload_runs = 0;
    dispatch(5);
    has("job 3 on fake-1: starting -> uploading: the host lacks the artifact");
    has("job 3 on fake-1: infrastructure error: fake-1 still lacks the artifact after 2 uploads");
    cr_assert_eq(fh.lies, 2, "%s", log_text);
    cr_assert_eq(fh.upload_runs, 2, "two rounds, no more\n%s", log_text);
    cr_assert_str_eq(fh.last_lie, "missing artifact files: 1", "the second lie named file 1 again");
    assay_lab lab;
    assay_job_rec j;
    lab_open(&lab);
    cr_assert_eq(assay_store_job_get(lab.store, 3, &j), 0);
    cr_assert_str_eq(j.outcome, "passed", "job 3: %s (%s)\n%s", j.outcome, j.reason, log_text);
    cr_assert_eq(j.attempt, 2);
    assay_lab_close(&lab);
}
