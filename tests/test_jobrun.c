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
#include "assay/error.h"
#include "assay/proto.h"

#include <criterion/criterion.h>
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

/* One dispatcher pass over the queue, on the fake host; its log in log_text. */
static void dispatch(double silence_s)
{
    assay_lab lab;
    char labdir[300], logp[300];
    snprintf(labdir, sizeof labdir, "%s/lab", dir);
    snprintf(logp, sizeof logp, "%s/dispatch.log", dir);
    cr_assert_eq(assay_lab_open(&lab, labdir), 0, "%s", assay_error_last()->message);
    FILE *f = fopen(logp, "w");
    assay_transport t = fake_transport(&fh);
    assay_dispatch_opts o = {.once = 1, .out = f, .transport = &t, .silence_s = silence_s, .unreachable_s = 60,
                             .log_cap = 1000};
    cr_assert_eq(assay_dispatch(&lab, &o), 0, "%s", assay_error_last()->message);
    fclose(f);
    assay_lab_close(&lab);
    free(log_text);
    log_text = th_slurp(logp, NULL);
    cr_assert_not_null(log_text);
}

/* Job 1's state, outcome, reason, and its attempt's event and log counts. */
static void job1(const char *outcome, int events, int logs)
{
    assay_lab lab;
    char labdir[300];
    snprintf(labdir, sizeof labdir, "%s/lab", dir);
    cr_assert_eq(assay_lab_open(&lab, labdir), 0);
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
