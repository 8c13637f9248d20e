/*
 * assay serve, live: a real server on a free loopback port (bound to port
 * 0, the port read back from its first line), driven with curl(1). The
 * server dies with the test (PR_SET_PDEATHSIG), and each test stops it
 * with SIGTERM and expects a clean exit.
 */
#include "assay/error.h"
#include "assay/json.h"
#include "blob.h"
#include "helpers.h"
#include "lab.h"
#include "profile.h"
#include "serve.h"
#include "servectl.h"
#include "store.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CORPUS ASSAY_BINARY_DIR "/corpus"

/* Job j of run 1 goes to a host and starts (event 0), through the store
 * as the dispatcher would. */
static void job_start(int64_t j)
{
    assay_lab lab;
    char ev[512];
    cr_assert_eq(assay_lab_open(&lab, sv_lab), 0);
    int kp = j % 2 == 1; /* a run's jobs alternate: Kunpeng first, then Zhaoxin */
    cr_assert_eq(assay_store_job_assign(lab.store, j, kp ? "kunpeng-1" : "zhaoxin-1"), 0, "%s",
                 assay_error_last()->message);
    cr_assert_eq(assay_store_job_set_running(lab.store, j, "ab12"), 0);
    snprintf(ev, sizeof ev,
             "{\"v\":1,\"seq\":0,\"ts\":\"2026-11-30T10:00:00Z\",\"type\":\"job-start\",\"facts\":{\"arch\":"
             "\"%s\",\"emulation\":{\"emulated\":false}},\"agent\":{\"version\":\"0.1.0\",\"triple\":\"%s-linux-gnu\"}}",
             kp ? "aarch64" : "x86_64", kp ? "aarch64" : "x86_64");
    cr_assert_eq(assay_store_job_event(lab.store, j, 1, 0, "job-start", ev), 0, "%s", assay_error_last()->message);
    assay_lab_close(&lab);
}

/* Job j ends: its job-end event, a log, passed. */
static void job_finish(int64_t j)
{
    assay_lab lab;
    cr_assert_eq(assay_lab_open(&lab, sv_lab), 0);
    cr_assert_eq(assay_store_job_event(lab.store, j, 1, 1, "job-end",
                                       "{\"v\":1,\"seq\":1,\"ts\":\"2026-11-30T10:00:01Z\",\"type\":\"job-end\","
                                       "\"outcome\":\"passed\",\"reason\":null}"),
                 0, "%s", assay_error_last()->message);
    const char *text = "starting\nerror: <bad> input\n";
    char hex[65];
    cr_assert_eq(assay_blob_put_mem(lab.blobs, text, strlen(text), hex), 0);
    cr_assert_eq(assay_store_job_log(lab.store, j, 1, "logs/runs.1.stdout", hex, strlen(text)), 0);
    cr_assert_eq(assay_store_job_end(lab.store, j, "passed", ""), 0);
    assay_lab_close(&lab);
}

/* Both jobs of run `run` (of two targets, as every test submits) run and pass. */
static void finish_run_n(int64_t run)
{
    for (int64_t j = 2 * run - 1; j <= 2 * run; j++) {
        job_start(j);
        job_finish(j);
    }
}

static void finish_run(void)
{
    finish_run_n(1);
}

/* The vendor uploads the corpus' good submission (its id into id, 80
 * bytes) and the engineer queues a run of it on two targets. */
static void uploaded_and_queued(const char *vendor, const char *eng, char *id)
{
    char req[256];
    cr_assert_eq(sv_http(vendor, "/api/v1/packages?name=hello.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"), 201,
                 "%s", sv_body);
    sv_member(id, 80, "id");
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20\"}", id);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);
}

/* Wait until run `run` exists in the store (a script submitted it). */
static void wait_for_run(int64_t run)
{
    assay_lab lab;
    cJSON *r = NULL;
    cr_assert_eq(assay_lab_open(&lab, sv_lab), 0);
    for (int i = 0; i < 6000 && assay_store_run_get(lab.store, run, &r) < 0; i++)
        poll(NULL, 0, 50);
    assay_lab_close(&lab);
    cr_assert_not_null(r, "run %lld never came", (long long)run);
    cJSON_Delete(r);
}

/* Read lines from f until one equals `want` (without its newline); the
 * lines read go to log. 0 if found, -1 at the end of the stream. */
static int read_until(FILE *f, const char *want, char *log, size_t loglen)
{
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(log);
        snprintf(log + n, loglen - n, "%s", line);
        line[strcspn(line, "\n")] = 0;
        if (!strcmp(line, want))
            return 0;
    }
    return -1;
}


Test(serve, a_vendor_uploads_an_engineer_runs_the_report_verifies_and_another_vendor_sees_nothing, .timeout = 300)
{
    char acme[72], globex[72], eng[72], id[80], v[128], path[256];
    sv_fresh("e2e");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "");

    cr_assert_eq(sv_http(NULL, "/healthz", " "), 200, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/whoami", " "), 200);
    cr_assert_str_eq(sv_member(v, sizeof v, "org"), "acme");

    /* The vendor uploads a real submission; the same bytes again change nothing. */
    cr_assert_eq(sv_http(acme, "/api/v1/packages?name=hello-1.0.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"),
                 201, "%s", sv_body);
    sv_member(id, sizeof id, "id");
    cr_assert_eq(strlen(id), 64, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"added\":true"), "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/packages?name=hello-1.0.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"),
                 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"added\":false"), "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
    cr_assert(strstr(sv_body, id) && strstr(sv_body, "\"file_name\":\"hello-1.0.tar.gz\""), "%s", sv_body);
    snprintf(path, sizeof path, "/api/v1/packages/%.12s", id);
    cr_assert_eq(sv_http(acme, path, " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"preflight\":{"), "%s", sv_body);
    cr_assert_eq(sv_staged(), 0, "the staged upload is gone");

    /* The other vendor: nothing of it, the same 404 as for nothing at all. */
    cr_assert_eq(sv_http(globex, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    cr_assert_eq(sv_http(globex, path, " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/packages/0123456789abcdef", " "), 404);

    /* Vendors do not queue runs; engineers do. */
    char req[256];
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20\"}", id);
    cr_assert_eq(sv_http(acme, "/api/v1/runs", "-H 'Content-Type: application/json' -d '%s'", req), 403, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-H 'Content-Type: application/json' -d '%s'", req), 201, "%s", sv_body);
    cr_assert_str_eq(sv_member(v, sizeof v, "run"), "1");
    /* A target the package has nothing for is refused, as run submit does. */
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"loongson-3a5000-uos-20\"}", id);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 422, "%s", sv_body);
    cr_assert(strstr(sv_body, "can never run"), "%s", sv_body);

    cr_assert_eq(sv_http(acme, "/api/v1/runs/1", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"job_list\":[") && strstr(sv_body, "kunpeng-920-kylin-v10"), "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1/report", " "), 409, "a report of a run still queued: %s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/runs", " "), 200);
    cr_assert(strstr(sv_body, "\"id\":1"), "%s", sv_body);

    /* Every route that names run 1, for the other vendor: 404. */
    static const char *const other[] = {"/api/v1/runs/1", "/api/v1/runs/1/report", "/api/v1/runs/1/report?format=html"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        cr_assert_eq(sv_http(globex, other[i], " "), 404, "%s: %s", other[i], sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/runs/1/cancel", "-X POST"), 404, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/runs", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1/cancel", "-X POST"), 403, "its own run, but not its to stop: %s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/hosts", " "), 403);
    cr_assert_eq(sv_http(eng, "/api/v1/hosts", " "), 200, "%s", sv_body);

    /* The run's events, live over SSE: job 1 starts while the vendor
     * watches, then ends; the stream ends with it. */
    char cmd[1024], seen[16384] = "";
    snprintf(cmd, sizeof cmd, "curl -sSN -H 'Authorization: Bearer %s' '%s/api/v1/jobs/1/events'", acme, sv_url);
    FILE *sse = popen(cmd, "r");
    cr_assert_not_null(sse);
    cr_assert_eq(sv_http(globex, "/api/v1/jobs/1/events", " "), 404, "%s", sv_body);
    job_start(1);
    cr_assert_eq(read_until(sse, "event: job-start", seen, sizeof seen), 0, "%s", seen);
    cr_assert(strstr(seen, "id: 1.0\n"), "%s", seen);
    job_finish(1);
    cr_assert_eq(read_until(sse, "event: end", seen, sizeof seen), 0, "%s", seen);
    cr_assert(strstr(seen, "id: 1.1\nevent: job-end\n"), "%s", seen);
    cr_assert_eq(pclose(sse), 0, "the stream ends when the job does");
    /* Resumed after event 1.0: only what came after it. */
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/events", "-H 'Last-Event-ID: 1.0'"), 200, "%s", sv_body);
    cr_assert(!strstr(sv_body, "job-start") && strstr(sv_body, "id: 1.1\nevent: job-end\n") && strstr(sv_body, "event: end\n"),
              "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/events", "-H 'Last-Event-ID: x'"), 400, "%s", sv_body);
    job_start(2);
    job_finish(2);

    /* The run has ended; the vendor downloads the signed report, which
     * verifies with assay and with the API. */
    char rep[700];
    snprintf(rep, sizeof rep, "%s/report.json", sv_dir);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "curl -fsS -H 'Authorization: Bearer %s' -o %s '%s/api/v1/runs/1/report'",
                        acme, rep, sv_url),
                 0, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && " SV_ASSAY " --lab %s key export --public lab.pub.pem && " SV_ASSAY
                                         " verify report.json --pubkey lab.pub.pem",
                        sv_dir, sv_lab),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "valid: report"), "%s", sv_out);
    cr_assert_eq(sv_http(NULL, "/api/v1/verify", "--data-binary @%s", rep), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"valid\":true"), "%s", sv_body);
    /* One changed byte of the signature: refused. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && sed 's/\"sig\":\"\\(.\\)/\"sig\":\"A\\1/' report.json > bad.json && ! cmp -s bad.json report.json",
                        sv_dir),
                 0, "%s", sv_out);
    cr_assert_eq(sv_http(NULL, "/api/v1/verify", "--data-binary @%s/bad.json", sv_dir), 422, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1/report?format=html", " "), 200);
    cr_assert(strstr(sv_body, "<html"), "%.200s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1/report?format=md", " "), 200);
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1/report?format=docx", " "), 400); /* pdf is served too */
    cr_assert_eq(sv_http(globex, "/api/v1/runs/1/report", " "), 404);

    /* A job: its events and logs, whole or by range; for the vendor, not
     * for the other one. */
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"type\":\"job-end\"") && strstr(sv_body, "logs/runs.1.stdout"), "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1?from=1", " "), 200, "%s", sv_body);
    cr_assert(!strstr(sv_body, "\"type\":\"job-start\""), "from=1 leaves out event 0: %s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", " "), 200, "%s", sv_body);
    cr_assert_str_eq(sv_body, "starting\nerror: <bad> input\n");
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=9-'"), 206, "%s", sv_body);
    cr_assert_str_eq(sv_body, "error: <bad> input\n");
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=-6'"), 206, "%s", sv_body);
    cr_assert_str_eq(sv_body, "input\n");
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=0-7'"), 206, "%s", sv_body);
    cr_assert_str_eq(sv_body, "starting");
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=999-'"), 416, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/log?path=../../assay.db", " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/1/log", " "), 400, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/jobs/1", " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/jobs/99", " "), 404, "%s", sv_body);

    /* A stream still waiting when the server stops ends cleanly. */
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10\"}", id);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);
    snprintf(cmd, sizeof cmd, "curl -sSN -H 'Authorization: Bearer %s' '%s/api/v1/jobs/3/events'", eng, sv_url);
    FILE *waiting = popen(cmd, "r");
    seen[0] = 0;
    cr_assert_eq(read_until(waiting, ": job 3", seen, sizeof seen), 0, "%s", seen);

    /* A revoked token and a disabled account stop at once. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s token revoke globex", sv_lab), 0, "%s", sv_out);
    cr_assert_eq(sv_http(globex, "/api/v1/whoami", " "), 401);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user disable acme", sv_lab), 0, "%s", sv_out);
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1", " "), 401);
    cr_assert_eq(sv_http(eng, "/api/v1/runs/1/cancel", "-X POST"), 409, "an ended run: %s", sv_body);
    sv_stop();
    cr_assert_eq(read_until(waiting, "never", seen, sizeof seen), -1);
    cr_assert_eq(pclose(waiting), 0, "the waiting stream ended cleanly: %s", seen);
}

Test(serve, hostile_requests_get_a_clear_answer_and_lose_nothing, .timeout = 300)
{
    char eng[72], acme[72];
    sv_fresh("hostile");
    sv_account(eng, "alice", "engineer", NULL);
    sv_account(acme, "acme", "vendor", "acme");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s config set ingest.max_submission_bytes 100000", sv_lab), 0, "%s",
                 sv_out);
    sv_start("", "--timeout 2");

    /* No token, a made-up one, a malformed header. */
    cr_assert_eq(sv_http(NULL, "/api/v1/packages", " "), 401);
    cr_assert(strstr(sv_body, "\"status\":401"), "%s", sv_body);
    cr_assert_eq(sv_http("assay_0000000000000000000000000000000000000000000000000000000000000000", "/api/v1/packages", " "),
                 401);
    cr_assert_eq(sv_http(NULL, "/api/v1/packages", "-H 'Authorization: Basic YTpi'"), 401);

    /* Too big: refused from Content-Length before the body; chunked, when
     * it passes the cap. Nothing staged stays. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "head -c 200000 /dev/urandom > %s/big", sv_dir), 0);
    cr_assert_eq(sv_http(acme, "/api/v1/packages", "--data-binary @%s/big", sv_dir), 413, "%s", sv_body);
    cr_assert(strstr(sv_body, "ingest.max_submission_bytes"), "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/packages", "-H 'Transfer-Encoding: chunked' --data-binary @%s/big", sv_dir), 413,
                 "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-H 'Transfer-Encoding: chunked' --data-binary @%s/big", sv_dir), 413, "%s",
                 sv_body);
    cr_assert_eq(sv_staged(), 0);

    /* Bad JSON, a JSON bomb, the wrong types. */
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '{\"package\":'"), 400, "%s", sv_body);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && python3 -c \"print('['*30000 + ']'*30000)\" > bomb.json", sv_dir), 0);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "--data-binary @%s/bomb.json", sv_dir), 400, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '{\"package\":7,\"profiles\":[]}'"), 422, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '{\"package\":\"0123456789abcdef\",\"profiles\":\"all\",\"priority\":1e9}'"),
                 422, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '{\"package\":\"0123456789abcdef\",\"profiles\":\"all\"}'"), 404, "%s",
                 sv_body);

    /* Paths: traversal, encoded slashes, non-UTF-8, nonsense ids. */
    static const char *const paths[] = {
        "/api/v1/packages/..%2F..%2Fetc%2Fpasswd", "/api/v1/packages/../../../etc/passwd", "/../../etc/passwd",
        "/api/v1/runs/1%2F..%2F..%2Fhosts", "/api/v1/runs/%ff%fe", "/api/v1/runs/-1", "/api/v1/runs/99999999999999999999",
        "/api/v1/packages/%00%00%00%00%00%00%00%00", "/api/v2/packages", "/api/v1/runs/1/report/../../hosts",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int st = sv_http(eng, paths[i], " ");
        cr_assert(st == 404 || st == 400, "%s: %d %s", paths[i], st, sv_body);
    }
    cr_assert_eq(sv_http(eng, "/api/v1/packages?name=../../x", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"), 400, "%s",
                 sv_body);
    /* a dot file: not a name of the staging's own (its lock's .live) */
    cr_assert_eq(sv_http(eng, "/api/v1/packages?name=.live", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"), 400, "%s",
                 sv_body);
    cr_assert(strstr(sv_body, "not starting with '.'"), "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/packages", "-X DELETE"), 405);

    /* Oversized headers: refused, and the server goes on serving. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "(printf 'X-Big: '; head -c 100000 /dev/zero | tr '\\0' a) > %s/hdr", sv_dir), 0);
    int st = sv_http(eng, "/api/v1/packages", "-H @%s/hdr", sv_dir);
    cr_assert(st == 0 || st == 413 || st == 431 || st == 400, "%d", st);

    /* A body that ends early: the staged file goes when the connection does. */
    int fd = sv_raw("POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ");
    cr_assert_eq(write(fd, acme, strlen(acme)), (ssize_t)strlen(acme));
    const char *rest = "\r\nContent-Length: 5000\r\n\r\n0123456789";
    cr_assert_eq(write(fd, rest, strlen(rest)), (ssize_t)strlen(rest));
    close(fd);
    /* A slowloris: half a request line and silence; the server closes it
     * after --timeout while others are served. */
    fd = sv_raw("GET /api/v1/whoami HTTP/1.1\r\nHo");
    cr_assert_eq(sv_http(NULL, "/healthz", " "), 200);
    struct pollfd pfd = {fd, POLLIN, 0};
    cr_assert_eq(poll(&pfd, 1, 30000), 1, "the slow connection was never closed");
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    cr_assert(n >= 0, "read: %s", strerror(errno));
    close(fd);
    for (int i = 0; i < 300 && sv_staged(); i++)
        poll(NULL, 0, 100); /* the server notices the closed upload on its own time */
    cr_assert_eq(sv_staged(), 0, "a cut upload left its staging file");

    /* The hostile corpus over HTTP: the refusals and messages of package
     * add, nothing stored, nothing outside the store. */
    static const char *const files[] = {
        "symlink.tar", "symlink.zip", "hardlink.tar", "hardlink-escape.tar", "dotdot.tar", "dotdot.zip",
        "absolute.tar", "absolute.zip", "setuid.tar", "device.tar", "fifo.tar", "duplicate.tar", "long-name.tar",
        "many-entries.tar.gz", "bomb.tar.gz", "bomb.zip", "not-an-archive.tar.gz", "truncated.tar.gz",
        "truncated.zip", "no-manifest.tar.gz", "bad-json.tar.gz", "deep-json.tar.gz", "huge-product.tar.gz",
        "unknown-field.tar.gz", "missing-artifact.tar.gz", "bad-arch-name.tar.gz", "bad-deb-arch.tar.gz",
        "bad-rpm-arch.tar.gz", "bad-fake-rpm.tar.gz",
    };
    char cli_lab[700];
    snprintf(cli_lab, sizeof cli_lab, "%s/cli-lab", sv_dir);
    cr_assert_eq(assay_lab_init(cli_lab, ASSAY_KEY_ED25519, NULL), 0);
    /* Both labs with the same ingest limits, the entry cap low enough for
     * many-entries.tar.gz (as test_ingest sets it). */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s config set ingest.max_entries 15 && " SV_ASSAY
                                         " --lab %s config set ingest.max_entries 15", sv_lab, cli_lab), 0, "%s", sv_out);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char f[600], detail[600], want[1200];
        snprintf(f, sizeof f, CORPUS "/%s", files[i]);
        if (access(f, R_OK) != 0)
            cr_assert_fail("%s is not in the corpus", f);
        st = sv_http(acme, "/api/v1/packages?name=x.tar", "--data-binary @%s", f);
        cr_assert(st == 422 || st == 413, "%s: %d %s", files[i], st, sv_body);
        sv_member(detail, sizeof detail, "detail");
        cr_assert(detail[0], "%s: %s", files[i], sv_body);
        th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s package add %s 2>&1", cli_lab, f);
        snprintf(want, sizeof want, "assay: package add %s: %s\n", f, detail);
        cr_assert_str_eq(sv_out, want, "%s: the CLI and the API disagree", files[i]);
    }
    cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    cr_assert_eq(sv_http(eng, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    cr_assert_eq(access("/tmp/assay-escape", F_OK), -1, "something was written outside the store");
    cr_assert_eq(sv_staged(), 0);
    cr_assert_eq(sv_http(NULL, "/healthz", " "), 200, "still serving");
    sv_stop();
}

/* A server killed during an upload: nothing of it visible, and its staged
 * file removed when the server starts again. */
Test(serve, killed_during_an_upload_leaves_nothing, .timeout = 120)
{
    char acme[72];
    sv_fresh("kill");
    sv_account(acme, "acme", "vendor", "acme");
    sv_start("", "");
    int fd = sv_raw("POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ");
    cr_assert_eq(write(fd, acme, strlen(acme)), (ssize_t)strlen(acme));
    const char *rest = "\r\nContent-Length: 100000\r\n\r\n0123456789";
    cr_assert_eq(write(fd, rest, strlen(rest)), (ssize_t)strlen(rest));
    for (int i = 0; i < 300 && !sv_staged(); i++)
        poll(NULL, 0, 20); /* until the server has staged the first bytes */
    cr_assert_eq(sv_staged(), 1);
    kill(sv_pid, SIGKILL);
    waitpid(sv_pid, NULL, 0);
    close(fd);
    cr_assert_eq(sv_staged(), 1, "a killed server leaves its staging");
    /* and what a killed server of an older assay left in its own staging */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "mkdir -p %s/serve-staging/upload-x && echo x > %s/serve-staging/upload-x/s",
                        sv_lab, sv_lab), 0);
    sv_start("", "");
    cr_assert_eq(sv_staged(), 0, "a new server removes what the killed one staged");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "test -e %s/serve-staging", sv_lab), 1, "the old staging is left");
    cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    sv_stop();
}

Test(serve, https_with_tls_cert_and_key, .timeout = 120)
{
    char acme[72];
    sv_fresh("tls");
    sv_account(acme, "acme", "vendor", "acme");
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                        "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>&1",
                        sv_dir),
                 0, "%s", sv_out);
    char extra[1400];
    snprintf(extra, sizeof extra, "--tls-cert %s/cert.pem --tls-key %s/key.pem", sv_dir, sv_dir);
    /* sv_start() expects http://; read the https line here. */
    pid_t parent = getpid();
    int pp[2];
    cr_assert_eq(pipe(pp), 0);
    sv_pid = fork();
    if (sv_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        char cmd[2048];
        dup2(pp[1], 1);
        snprintf(cmd, sizeof cmd, "exec %s --lab %s serve --listen 127.0.0.1:0 %s 2>>%s/serve.log", SV_ASSAY, sv_lab, extra,
                 sv_dir);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pp[1]);
    FILE *f = fdopen(pp[0], "r");
    char line[256] = "";
    cr_assert(fgets(line, sizeof line, f));
    fclose(f);
    unsigned port = 0;
    cr_assert_eq(sscanf(line, "assay serve: listening on https://127.0.0.1:%u", &port), 1, "%s", line);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "curl -fsS --cacert %s/cert.pem -H 'Authorization: Bearer %s' "
                                         "https://127.0.0.1:%u/api/v1/whoami",
                        sv_dir, acme, port),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "\"org\":\"acme\""), "%s", sv_out);
    cr_assert_neq(th_run(sv_out, sizeof sv_out, "curl -sS http://127.0.0.1:%u/healthz", port), 0, "plain HTTP is not served");
    sv_stop();
}

/* docs/api.md's commands, as written, against a live server: the part
 * before the run ends, then (the run ended through the store) the rest. */
Test(serve, the_commands_of_api_md_run_as_written, .timeout = 300)
{
    sv_fresh("docs");
    sv_start("", "");
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && cp " CORPUS "/ok-deb-rpm.tar.gz hello-1.0.tar.gz && "
                        "awk '/<!-- run-ended -->/{exit} /^```sh/{on=1;next} /^```/{on=0;next} on' %s/docs/api.md > "
                        "part1.sh && awk '/<!-- run-ended -->/{go=1} go&&/^```sh/{on=1;next} /^```/{on=0;next} on' "
                        "%s/docs/api.md > part2.sh && grep -c . part1.sh part2.sh",
                        sv_dir, ASSAY_SOURCE_DIR, ASSAY_SOURCE_DIR),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "part1.sh:") && strstr(sv_out, "part2.sh:9"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && PATH=%s:$PATH ASSAY_LAB=%s ASSAY_URL=%s sh -e part1.sh 2>&1", sv_dir,
                        ASSAY_BINARY_DIR, sv_lab, sv_url),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "queued"), "%s", sv_out);
    finish_run();
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && PATH=%s:$PATH ASSAY_LAB=%s ASSAY_URL=%s sh -e part2.sh 2>&1", sv_dir,
                        ASSAY_BINARY_DIR, sv_lab, sv_url),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "true\n") && strstr(sv_out, "valid: report") && strstr(sv_out, "event: end"), "%s", sv_out);
    sv_stop();
}

/* The CLI's account commands refuse what they must. */
Test(serve, accounts_on_the_cli)
{
    sv_fresh("cli");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user add v --role vendor 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "needs --org"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user add e --role engineer --org acme 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user add 'a b' --role engineer 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user add e --role root 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user add e --role engineer 2>&1", sv_lab), 0, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user add e --role engineer 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "exists"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s token create nobody 2>&1", sv_lab), 1, "%s", sv_out);
    char t1[128], t2[128];
    cr_assert_eq(th_run(t1, sizeof t1, SV_ASSAY " --lab %s token create e", sv_lab), 0);
    cr_assert_eq(th_run(t2, sizeof t2, SV_ASSAY " --lab %s token create e", sv_lab), 0);
    cr_assert_str_neq(t1, t2);
    /* Only hashes are stored. */
    t1[strcspn(t1, "\n")] = 0;
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -q %s %s/assay.db*", t1 + 6, sv_lab), 1, "the token is in the store");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s user list --json", sv_lab), 0);
    cr_assert(strstr(sv_out, "\"tokens\":\t2") || strstr(sv_out, "\"tokens\": 2"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s token revoke e", sv_lab), 0);
    cr_assert(strstr(sv_out, "2 token(s) of e revoked"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s serve --listen nowhere 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "assay: serve: --listen"), "%s", sv_out);
}

/* The CLI as a CI client: upload, submit, wait (exit code from the
 * verdict, as with a lab), report, all through the server. */
Test(serve, the_cli_talks_to_a_server_as_a_ci_job_would, .timeout = 300)
{
    char acme[72], globex[72], eng[72], local[4096];
    sv_fresh("client");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "");
    char tf[700];
    snprintf(tf, sizeof tf, "%s/alice.token", sv_dir);
    FILE *f = fopen(tf, "w");
    fprintf(f, "%s\n", eng);
    fclose(f);

    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=%s " SV_ASSAY " --server %s/ package add " CORPUS "/ok-deb-rpm.tar.gz",
                        acme, sv_url),
                 0, "%s", sv_out);
    char id[80];
    snprintf(id, sizeof id, "%.64s", sv_out);
    cr_assert_eq(strlen(id), 64, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --server %s --token-file %s run submit %.12s --profiles "
                                         "kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20",
                        sv_url, tf, id),
                 0, "%s", sv_out);
    cr_assert_str_eq(sv_out, "1\n");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=%s " SV_ASSAY " --server %s run submit %.12s --profiles all 2>&1", acme,
                        sv_url, id),
                 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "assay: run submit: only engineers and admins may do this (HTTP 403)"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=%s " SV_ASSAY " --server %s run show 1 2>&1", globex, sv_url), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "no run 1 (HTTP 404)"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --server %s run show 1 2>&1", sv_url), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "no token"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=%s " SV_ASSAY " --server %s host list 2>&1", acme, sv_url), 2, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=%s " SV_ASSAY " --server %s run wait 1 --timeout 1 2>&1", acme, sv_url), 3,
                 "%s", sv_out);

    /* A waiting CI job: it ends when the run does, by its verdict. */
    char cmd[1024], seen[4096] = "";
    snprintf(cmd, sizeof cmd, "ASSAY_TOKEN=%s " SV_ASSAY " --server %s run wait 1 --json", acme, sv_url);
    FILE *w = popen(cmd, "r");
    cr_assert_not_null(w);
    finish_run();
    read_until(w, "never", seen, sizeof seen);
    int st = pclose(w);
    int lrc = th_run(local, sizeof local, SV_ASSAY " --lab %s run wait 1 --json", sv_lab);
    cr_assert(WIFEXITED(st), "%d", st);
    cr_assert_eq(WEXITSTATUS(st), lrc, "the server's run wait exits as the lab's: %s / %s", seen, local);
    cJSON *a = cJSON_Parse(seen), *b = cJSON_Parse(local);
    cr_assert(cJSON_Compare(a, b, 1), "%s\n%s", seen, local);
    cJSON_Delete(a);
    cJSON_Delete(b);

    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && ASSAY_TOKEN=%s " SV_ASSAY " --server %s report 1 -o report.json && " SV_ASSAY
                                         " --lab %s key export --public lab.pub.pem && " SV_ASSAY
                                         " verify report.json --pubkey lab.pub.pem",
                        sv_dir, acme, sv_url, sv_lab),
                 0, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && ASSAY_TOKEN=%s " SV_ASSAY " --server %s report 1 -o other.json 2>&1", sv_dir,
                        globex, sv_url),
                 1, "%s", sv_out);
    sv_stop();
}

/* docs/ci.md's GitLab job and Jenkins pipeline, their shell lines as
 * written, against a live server: each waits for its run, which ends
 * meanwhile; each exits as `run wait` on the lab does, and leaves the
 * signed report and its JUnit form. */
Test(serve, the_ci_examples_of_ci_md_run_as_written, .timeout = 300)
{
    char ci[72];
    sv_fresh("ci");
    sv_account(ci, "ci", "engineer", NULL);
    sv_start("", "");
    /* The lines of GitLab's script: list, and the arguments of Jenkins'
     * sh steps, by stage part (steps, post). */
    static const char gitlab_awk[] =
        "/^```yaml/ {on = 1; next}\n/^```/ {on = 0}\n"
        "on && /^  script:/ {s = 1; next}\n"
        "on && s && /^    - / {sub(/^    - /, \"\"); print; next}\n"
        "{s = 0}\n";
    static const char jenkins_awk[] =
        "/^```groovy/ {on = 1; next}\n/^```/ {on = 0}\n"
        "on && /steps \\{/ {p = \"steps\"}\non && /always \\{/ {p = \"post\"}\n"
        "on && /^ *sh '/ {sub(/^ *sh '/, \"\"); sub(/'$/, \"\"); print > (\"jenkins-\" p \".sh\")}\n";
    char af[800];
    snprintf(af, sizeof af, "%s/gitlab.awk", sv_dir);
    FILE *g = fopen(af, "w");
    fputs(gitlab_awk, g);
    fclose(g);
    snprintf(af, sizeof af, "%s/jenkins.awk", sv_dir);
    g = fopen(af, "w");
    fputs(jenkins_awk, g);
    fclose(g);
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && cp " CORPUS "/ok-deb-rpm.tar.gz hello-1.0.tar.gz && awk -f gitlab.awk %s/docs/ci.md "
                        "> gitlab.sh && awk -f jenkins.awk %s/docs/ci.md && grep -c . gitlab.sh jenkins-steps.sh "
                        "jenkins-post.sh",
                        sv_dir, ASSAY_SOURCE_DIR, ASSAY_SOURCE_DIR),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "gitlab.sh:6") && strstr(sv_out, "jenkins-steps.sh:3") && strstr(sv_out, "jenkins-post.sh:2"), "%s",
              sv_out);
    char env[1024], cmd[2048], seen[4096] = "", local[4096];
    snprintf(env, sizeof env, "cd %s && PATH=%s:$PATH ASSAY_URL=%s ASSAY_TOKEN=%s", sv_dir, ASSAY_BINARY_DIR, sv_url, ci);

    /* GitLab: one shell for the script's lines, as GitLab runs them. */
    snprintf(cmd, sizeof cmd, "%s sh -e gitlab.sh 2>&1", env);
    FILE *w = popen(cmd, "r");
    wait_for_run(1);
    finish_run_n(1);
    read_until(w, "never", seen, sizeof seen);
    int st = pclose(w);
    int lrc = th_run(local, sizeof local, SV_ASSAY " --lab %s run wait 1", sv_lab);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == lrc, "gitlab job %d, run wait %d: %s", st, lrc, seen);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && " SV_ASSAY " --lab %s key export --public lab.pub.pem && " SV_ASSAY
                                         " verify report.json --pubkey lab.pub.pem && xmllint --noout report.xml",
                        sv_dir, sv_lab),
                 0, "%s", sv_out);

    /* Jenkins: each sh step its own shell; the post steps run always. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && rm -f report.json report.xml", sv_dir), 0);
    snprintf(cmd, sizeof cmd, "%s sh -c 'while read -r l; do sh -ec \"$l\" || exit $?; done < jenkins-steps.sh' 2>&1",
             env);
    w = popen(cmd, "r");
    wait_for_run(2);
    finish_run_n(2);
    seen[0] = 0;
    read_until(w, "never", seen, sizeof seen);
    st = pclose(w);
    lrc = th_run(local, sizeof local, SV_ASSAY " --lab %s run wait 2", sv_lab);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == lrc, "jenkins steps %d, run wait %d: %s", st, lrc, seen);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "%s sh -c 'while read -r l; do sh -ec \"$l\" || exit $?; done < jenkins-post.sh' "
                                         "2>&1 && " SV_ASSAY " verify report.json --pubkey lab.pub.pem && xmllint --noout report.xml",
                        env),
                 0, "%s", sv_out);
    sv_stop();
}

/* Web logins: Argon2id passwords, a session cookie with the right flags,
 * CSRF on state changes, logout, and failed logins limited per account
 * and per address. */
Test(serve, web_logins_sessions_csrf_and_rate_limits, .timeout = 300)
{
    char eng[72];
    sv_fresh("login");
    sv_account(eng, "alice", "engineer", NULL);
    sv_account(eng, "bob", "vendor", "acme");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "echo 'correct horse battery' | " SV_ASSAY " --lab %s user passwd alice", sv_lab), 0,
                 "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "echo short | " SV_ASSAY " --lab %s user passwd bob 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c 'correct horse' %s/assay.db*", sv_lab), 1, "the password is stored");
    sv_start("", "");
    char jar[700], hdrs[700];
    snprintf(jar, sizeof jar, "%s/jar", sv_dir);
    snprintf(hdrs, sizeof hdrs, "%s/headers", sv_dir);

    cr_assert_eq(sv_http(NULL, "/api/v1/login", "-d '{\"name\":\"alice\",\"password\":\"wrong one here\"}'"), 401,
                 "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/login", "-d '{\"name\":\"nobody\",\"password\":\"correct horse battery\"}'"),
                 401, "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/login", "-d '{\"name\":\"bob\",\"password\":\"correct horse battery\"}'"), 401,
                 "no password set: %s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/login", "-D %s -c %s -d '{\"name\":\"alice\",\"password\":\"correct horse battery\"}'",
                      hdrs, jar),
                 200, "%s", sv_body);
    char csrf[80];
    sv_member(csrf, sizeof csrf, "csrf");
    cr_assert_eq(strlen(csrf), 64, "%s", sv_body);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -i '^set-cookie: assay_session=assay_' %s", hdrs), 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "HttpOnly") && strstr(sv_out, "Secure") && strstr(sv_out, "SameSite=Strict"), "%s", sv_out);

    /* The cookie reads; a change needs the CSRF token as well. */
    cr_assert_eq(sv_http(NULL, "/api/v1/whoami", "-b %s", jar), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"alice\""), "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/runs", "-b %s -d '{}'", jar), 403, "%s", sv_body);
    cr_assert(strstr(sv_body, "X-CSRF-Token"), "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/runs", "-b %s -H 'X-CSRF-Token: %.63sx' -d '{}'", jar, csrf), 403, "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/runs", "-b %s -H 'X-CSRF-Token: %s' -d '{}'", jar, csrf), 422, "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/logout", "-b %s -H 'X-CSRF-Token: %s' -X POST", jar, csrf), 204, "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/whoami", "-b %s", jar), 401, "a session ended is gone: %s", sv_body);

    /* Five failures stop the account, even with its password (one came
     * above). */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(sv_http(NULL, "/api/v1/login", "-d '{\"name\":\"alice\",\"password\":\"wrong %d\"}'", i), 401);
    cr_assert_eq(sv_http(NULL, "/api/v1/login", "-d '{\"name\":\"alice\",\"password\":\"correct horse battery\"}'"),
                 429, "%s", sv_body);
    /* Twenty from one address stop the address, whatever the name (seven
     * came above). */
    for (int i = 0; i < 13; i++)
        cr_assert_eq(sv_http(NULL, "/api/v1/login", "-d '{\"name\":\"x%d\",\"password\":\"p\"}'", i), 401);
    cr_assert_eq(sv_http(NULL, "/api/v1/login", "-d '{\"name\":\"y\",\"password\":\"p\"}'"), 429, "%s", sv_body);
    /* Tokens are not logins: they still work. */
    cr_assert_eq(sv_http(eng, "/api/v1/whoami", " "), 200);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c 'correct horse' %s/serve.log", sv_dir), 1, "a password in the log");
    sv_stop();
}

/* docs/api.yaml is the server's route table: every operation there is
 * served, and every route the server has is there; every operation that
 * is not public refuses no one with 401; every operation on an object
 * answers another organisation's vendor 404 (an IDOR test per route,
 * generated from the document) and the owner's vendor something else. */
Test(serve, every_route_of_api_yaml_is_served_and_guarded, .timeout = 300)
{
    char acme[72], globex[72], eng[72], root[72], id[80], hook[32];
    sv_fresh("openapi");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    sv_account(root, "root", "admin", NULL);
    sv_start("", "");
    uploaded_and_queued(acme, eng, id);
    finish_run();
    cr_assert_eq(sv_http(root, "/api/v1/orgs/acme/webhooks", "-d '{\"url\":\"http://127.0.0.1:9/a\"}'"), 201, "%s", sv_body);
    sv_member(hook, sizeof hook, "id");
    /* The host the run's first job ran on, for hosts/{host}. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && ssh-keygen -q -t ed25519 -N '' -f k && " SV_ASSAY " --lab %s host add kunpeng-1 "
                        "--profile kunpeng-920-kylin-v10 --address 127.0.0.1:1 --user u --identity %s/k "
                        "--trust-on-first-use",
                        sv_dir, sv_lab, sv_dir),
                 0, "%s", sv_out);

    static char ops[8192];
    cr_assert_eq(th_run(ops, sizeof ops, "python3 %s/tests/openapi-ops.py %s/docs/api.yaml", ASSAY_SOURCE_DIR,
                        ASSAY_SOURCE_DIR),
                 0, "%s", ops);
    size_t nroutes, seen = 0;
    const char *const *routes = assay_serve_routes(&nroutes);
    char *save = NULL;
    for (char *line = strtok_r(ops, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char method[16], tmpl[256], opid[64], sec[16], path[512] = "";
        cr_assert_eq(sscanf(line, "%15s %255s %63s %15s", method, tmpl, opid, sec), 4, "%s", line);
        int known = 0;
        for (size_t i = 0; i < nroutes; i++)
            known |= !strcmp(routes[i], opid);
        cr_assert(known, "docs/api.yaml has %s, which the server does not serve", opid);
        seen++;
        /* The path with the test's objects, and what each needs. */
        int object = strchr(tmpl, '{') != NULL;
        for (const char *p = tmpl; *p;) {
            size_t n = strlen(path);
            if (!strncmp(p, "{package}", 9)) {
                snprintf(path + n, sizeof path - n, "%s", id);
                p += 9;
            } else if (!strncmp(p, "{run}", 5) || !strncmp(p, "{job}", 5)) {
                snprintf(path + n, sizeof path - n, "1");
                p += 5;
            } else if (!strncmp(p, "{org}", 5)) {
                snprintf(path + n, sizeof path - n, "acme");
                p += 5;
            } else if (!strncmp(p, "{hook}", 6)) {
                snprintf(path + n, sizeof path - n, "%s", hook);
                p += 6;
            } else if (!strncmp(p, "{host}", 6)) {
                snprintf(path + n, sizeof path - n, "kunpeng-1");
                p += 6;
            } else {
                path[n] = *p++;
                path[n + 1] = 0;
            }
        }
        if (!strcmp(opid, "job-log"))
            strcat(path, "?path=logs/runs.1.stdout");
        const char *m = !strcmp(method, "POST") ? "-X POST -d '{}'" : !strcmp(method, "DELETE") ? "-X DELETE" : " ";
        int st = sv_http(NULL, path, "%s", m);
        if (!strcmp(sec, "auth"))
            cr_assert_eq(st, 401, "%s %s with no one: %d %s", method, path, st, sv_body);
        else
            cr_assert(st != 401 && st != 404 && st != 405, "%s %s is public: %d %s", method, path, st, sv_body);
        /* A public object (a published certificate) is everyone's: that an
         * unpublished one is nobody's is the registry test's. */
        if (!object || strcmp(sec, "auth"))
            continue;
        st = sv_http(globex, path, "%s", m);
        cr_assert_eq(st, 404, "%s %s by another organisation: %d %s", method, path, st, sv_body);
        if (!strcmp(opid, "run-cancel") || !strcmp(opid, "run-publish"))
            st = sv_http(eng, path, "%s", m); /* vendors neither cancel (the run has ended: 409) nor publish */
        else if (!strcmp(opid, "webhook-add"))
            st = sv_http(root, path, "-d '{\"url\":\"http://127.0.0.1:9/b\"}'"); /* admins add hooks */
        else if (!strcmp(opid, "webhook-remove"))
            st = sv_http(root, path, "%s", m); /* and remove them */
        else if (!strcmp(opid, "host-show"))
            st = sv_http(eng, path, "%s", m); /* the lab's hosts are the centre's, no vendor's */
        else
            st = sv_http(acme, path, "%s", m);
        cr_assert(st >= 200 && st < 300 ? 1 : st == 409, "%s %s by its owner: %d %s", method, path, st, sv_body);
    }
    cr_assert_eq(seen, nroutes, "the server has %zu routes, docs/api.yaml %zu", nroutes, seen);
    sv_stop();
}

/* cmake --install puts the systemd units of serve and dispatch in place,
 * and each names the assay it installs, with options assay knows. */
Test(serve, cmake_install_puts_the_systemd_units, .timeout = 300)
{
    sv_fresh("install");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "DESTDIR=%s/root cmake --install %s > %s/install.log 2>&1", sv_dir,
                        ASSAY_BINARY_DIR, sv_dir),
                 0, "%s", (th_run(sv_out, sizeof sv_out, "tail -5 %s/install.log", sv_dir), sv_out));
    /* The portal's pages, found by the installed assay without being told. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s/root && test -s \"$(find . -path '*/share/assay/web/index.html')\" && "
                                         "test -s \"$(find . -path '*/share/assay/web/app.js')\"",
                        sv_dir),
                 0, "%s", sv_out);
    static const char *const units[] = {"assay-serve", "assay-dispatch"};
    for (size_t i = 0; i < 2; i++) {
        char exec[1024] = "", bin[600], args[400];
        cr_assert_eq(th_run(exec, sizeof exec, "cd %s/root && sed -n 's/^ExecStart=//p' $(find . -name %s.service)", sv_dir,
                            units[i]),
                     0, "%s", exec);
        cr_assert_eq(sscanf(exec, "%599s %399[^\n]", bin, args), 2, "%s: %s", units[i], exec);
        cr_assert_eq(th_run(sv_out, sizeof sv_out, "test -x %s/root%s", sv_dir, bin), 0, "%s: %s is not installed", units[i], bin);
        /* The options are the command table's: a typo would be refused. */
        char *sub = strchr(args, ' ');
        cr_assert_not_null(sub);
        *sub = 0;
        char optw[64];
        cr_assert_eq(sscanf(sub + 1, "%63s", optw), 1);
        cr_assert_eq(th_run(sv_out, sizeof sv_out, "%s/root%s help %s | grep -c -- '%s '", sv_dir, bin, args, optw), 0, "%s: %s",
                     units[i], sv_out);
    }
}

/* Wait until the server's log has a line holding `what`. */
static void wait_log(const char *what)
{
    for (int i = 0; i < 1200; i++) {
        if (th_run(sv_out, sizeof sv_out, "grep -qF '%s' %s/serve.log", what, sv_dir) == 0)
            return;
        poll(NULL, 0, 50);
    }
    cr_assert_fail("the server never logged \"%s\"", what);
}

/* 1 if this machine has an IPv6 loopback to bind to. */
static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* --listen [::1]:PORT serves IPv6 loopback; [::]:PORT serves IPv6 and
 * IPv4 clients; the access log names each client's address. */
Test(serve, ipv6_listen_and_access_log, .timeout = 120)
{
    char acme[72];
    if (!have_ipv6_loopback())
        cr_skip_test("this machine has no IPv6 loopback (::1): nothing to test");
    sv_fresh("ipv6");
    sv_account(acme, "acme", "vendor", "acme");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s serve --listen '[::1:0' 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "[ADDR]:PORT"), "%s", sv_out);
    sv_start_on("[::1]:0", "", "");
    cr_assert(!strncmp(sv_url, "http://[::1]:", 13), "%s", sv_url);
    cr_assert_eq(sv_http(acme, "/api/v1/whoami", " "), 200, "%s", sv_body);
    wait_log("\"client\":\"::1\",\"route\":\"whoami\""); /* written once the answer is sent */
    /* [::1] is IPv6 only: 127.0.0.1 on its port does not reach it (nothing
     * does, or some other program that took that IPv4 port). */
    char v4[64];
    snprintf(v4, sizeof v4, "http://127.0.0.1:%s", strrchr(sv_url, ':') + 1);
    th_run(sv_out, sizeof sv_out, "curl -sS -m 5 -o /dev/null %s/healthz 2>&1", v4);
    sv_stop();
    /* Once it has ended, its log is whole. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c 127.0.0.1 %s/serve.log", sv_dir), 1, "%s", sv_out);

    cr_assert_eq(th_run(sv_out, sizeof sv_out, "rm %s/serve.log", sv_dir), 0);
    sv_start_on("[::]:0", "", "");
    cr_assert(!strncmp(sv_url, "http://[::]:", 12), "%s", sv_url);
    char port[8];
    snprintf(port, sizeof port, "%s", strrchr(sv_url, ':') + 1);
    snprintf(sv_url, sizeof sv_url, "http://[::1]:%s", port);
    cr_assert_eq(sv_http(acme, "/api/v1/whoami", " "), 200, "over IPv6: %s", sv_body);
    snprintf(sv_url, sizeof sv_url, "http://127.0.0.1:%s", port);
    cr_assert_eq(sv_http(acme, "/api/v1/whoami", " "), 200, "over IPv4, dual stack: %s", sv_body);
    wait_log("\"client\":\"::1\",");
    wait_log("\"client\":\"::ffff:127.0.0.1\",");
    sv_stop();
}

/* A receiver of webhooks (python3's http.server on a free port): answers
 * the statuses of `codes` in turn ("500,200"; a 3xx points elsewhere), saves each request's path
 * and headers (req-N.head) and body (req-N.body) in dir, and exits after
 * as many requests. Its port into *port; the stream to pclose. */
static FILE *receiver(const char *codes, unsigned *port)
{
    static const char py[] =
        "import http.server, sys, time\n"
        "d, codes = sys.argv[1], [int(x) for x in sys.argv[2].split(',')]\n"
        "n = 0\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        global n\n"
        "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
        "        n += 1\n"
        "        open('%s/req-%d.body' % (d, n), 'wb').write(body)\n"
        "        open('%s/req-%d.head' % (d, n), 'w').write(self.path + '\\n' + str(self.headers))\n"
        "        code = codes[n - 1]\n"
        "        self.send_response(code)\n"
        "        if 300 <= code < 400:\n"
        "            self.send_header('Location', '/redirected')\n"
        "        self.end_headers()\n"
        "        self.wfile.write(b'ok' if code < 300 else b'\\x1b[2Jreceiver says no ' + b'x' * 4000)\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "s.timeout = 5\n"
        "print(s.server_address[1], flush=True)\n"
        "end = time.time() + 240  # a safety net only: it exits once it has its requests\n"
        "while n < len(codes) and time.time() < end:\n"
        "    s.handle_request()\n";
    char f[700], cmd[1600];
    snprintf(f, sizeof f, "%s/receiver.py", sv_dir);
    FILE *o = fopen(f, "w");
    cr_assert_not_null(o);
    fputs(py, o);
    fclose(o);
    snprintf(cmd, sizeof cmd, "exec python3 %s %s %s", f, sv_dir, codes);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%u", port), 1, "the receiver did not start");
    return p;
}

/* A header's value from a saved req-N.head, into v. */
static const char *saved_header(char *v, size_t len, int n, const char *name)
{
    cr_assert_eq(th_run(v, len, "sed -n 's/^%s: //p' %s/req-%d.head | tr -d '\\r\\n'", name, sv_dir, n), 0);
    return v;
}

/* sql on the lab's store, as another process would run it. */
static void store_exec(const char *sql)
{
    char path[700];
    sqlite3 *db;
    snprintf(path, sizeof path, "%s/assay.db", sv_lab);
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* A delivery whose record the store refuses (a trigger aborts every
 * update of it) is not posted again at once: its hook is held through a
 * pause that grows, 1 s then 2 s, so the third post comes at least 3 s
 * after the first (with no pause they would follow each other at once);
 * once the store takes records again, the next try is recorded. */
Test(serve, a_webhook_whose_record_is_refused_pauses, .timeout = 300)
{
    char acme[72], eng[72], id[80], v[256];
    unsigned port;
    sv_fresh("hookpause");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(eng, "alice", "engineer", NULL);
    FILE *rx = receiver("200,200,200,200,200,200,200,200", &port);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook add acme http://127.0.0.1:%u/h", sv_lab, port), 0,
                 "%s", sv_out);
    store_exec("CREATE TRIGGER refuse_records BEFORE UPDATE ON webhook_deliveries "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    sv_start("", "--webhook-backoff 1");
    uploaded_and_queued(acme, eng, id);
    finish_run();
    wait_log("refused by the test");
    for (int i = 0; i < 1200 && th_run(sv_out, sizeof sv_out, "test -e %s/req-3.head", sv_dir) != 0; i++)
        poll(NULL, 0, 50);
    char t1[32], t3[32];
    saved_header(t1, sizeof t1, 1, "X-Assay-Timestamp");
    saved_header(t3, sizeof t3, 3, "X-Assay-Timestamp");
    cr_assert(strtol(t3, NULL, 10) - strtol(t1, NULL, 10) >= 3, "paused 1 s, then 2 s: %s then %s", t1, t3);
    char d1[80];
    cr_assert_str_eq(saved_header(v, sizeof v, 3, "X-Assay-Delivery"), saved_header(d1, sizeof d1, 1, "X-Assay-Delivery"),
                     "the same delivery");
    /* The store takes records again: the next try is recorded, delivered. */
    store_exec("DROP TRIGGER refuse_records");
    int delivered = 0;
    for (int i = 0; i < 1200 && !delivered; i++) {
        cr_assert_eq(sv_http(acme, "/api/v1/orgs/acme/webhooks/1/deliveries", " "), 200, "%s", sv_body);
        delivered = strstr(sv_body, "\"delivered\"") != NULL;
        if (!delivered)
            poll(NULL, 0, 100);
    }
    cr_assert(delivered, "%s", sv_body);
    sv_stop();
    th_run(sv_out, sizeof sv_out, "pkill -f '%s/receiver.py'", sv_dir);
    pclose(rx);
}

/* Webhooks: an admin adds one for an organisation (the secret shown
 * once); a vendor sees only its own organisation's and adds none; a run of
 * the organisation's package ends and the hook hears of it, signed: the
 * receiver answers a redirect (not followed), then 500, then 200; the
 * delivery is retried with backoff, and its record shows the tries; docs/api.md's openssl check verifies the
 * signature and refuses a changed body; no secret reaches the log. */
Test(serve, webhooks_signed_retried_recorded_and_per_organisation, .timeout = 300)
{
    char acme[72], globex[72], eng[72], root[72], id[80], secret[80], hook[16], v[4096], path[256];
    unsigned port;
    sv_fresh("webhooks");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    sv_account(root, "root", "admin", NULL);
    FILE *rx = receiver("302,500,200", &port);
    sv_start("", "--webhook-backoff 1");

    /* Who may add and see hooks. */
    char add[256];
    snprintf(add, sizeof add, "-d '{\"url\":\"http://127.0.0.1:%u/acme-hook?k=v\"}'", port);
    cr_assert_eq(sv_http(globex, "/api/v1/orgs/acme/webhooks", "%s", add), 404, "another organisation: %s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/orgs/acme/webhooks", "%s", add), 403, "a vendor adds none: %s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/orgs/acme/webhooks", "%s", add), 403, "nor does an engineer: %s", sv_body);
    cr_assert_eq(sv_http(root, "/api/v1/orgs/acme/webhooks", "-d '{\"url\":\"ftp://127.0.0.1/x\"}'"), 422, "%s", sv_body);
    cr_assert_eq(sv_http(root, "/api/v1/orgs/acme/webhooks", "%s", add), 201, "%s", sv_body);
    sv_member(secret, sizeof secret, "secret");
    sv_member(hook, sizeof hook, "id");
    cr_assert_eq(strlen(secret), 70, "%s", sv_body);
    cr_assert(!strncmp(secret, "whsec_", 6), "%s", secret);
    cr_assert_eq(sv_http(acme, "/api/v1/orgs/acme/webhooks", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "acme-hook") && !strstr(sv_body, secret) && !strstr(sv_body, "secret"), "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/orgs/acme/webhooks", " "), 404, "%s", sv_body);
    snprintf(path, sizeof path, "/api/v1/orgs/acme/webhooks/%s/deliveries", hook);
    cr_assert_eq(sv_http(globex, path, " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/orgs/globex/webhooks/1/deliveries", " "), 404, "not globex's hook: %s", sv_body);
    /* The CLI: a hook of globex, which must hear nothing of acme's run. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook add globex http://127.0.0.1:%u/globex-hook", sv_lab,
                        port),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "webhook 2 of globex") && strstr(sv_out, "whsec_"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook add globex 'http://x y' 2>&1", sv_lab), 1, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook list", sv_lab), 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "acme-hook") && strstr(sv_out, "globex-hook") && !strstr(sv_out, "whsec_"), "%s", sv_out);

    /* A run of acme's package ends. */
    uploaded_and_queued(acme, eng, id);
    finish_run();

    /* The receiver exits after its three requests: a redirect (not
     * followed: the next request is a retry to the hook itself), 500,
     * then 200. */
    cr_assert_eq(pclose(rx), 0);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "head -qn1 %s/req-1.head %s/req-2.head %s/req-3.head", sv_dir, sv_dir, sv_dir), 0, "%s",
                 sv_out);
    cr_assert_str_eq(sv_out, "/acme-hook?k=v\n/acme-hook?k=v\n/acme-hook?k=v\n");
    char d1[80], d2[80], ts[32], ts1[32], sig[96];
    cr_assert_str_eq(saved_header(d1, sizeof d1, 1, "X-Assay-Delivery"), saved_header(d2, sizeof d2, 3, "X-Assay-Delivery"),
                     "a retry is the same delivery");
    cr_assert_eq(strlen(d1), 32, "%s", d1);
    saved_header(ts, sizeof ts, 3, "X-Assay-Timestamp");
    saved_header(ts1, sizeof ts1, 1, "X-Assay-Timestamp");
    cr_assert(strtol(ts, NULL, 10) - strtol(ts1, NULL, 10) >= 3, "backoff: 1 s, then 2 s: %s then %s", ts1, ts);
    saved_header(sig, sizeof sig, 3, "X-Assay-Signature");
    cr_assert(!strncmp(sig, "sha256=", 7) && strlen(sig) == 71, "%s", sig);

    /* The payload. */
    char bp[700];
    snprintf(bp, sizeof bp, "%s/req-3.body", sv_dir);
    char *pl = th_slurp(bp, NULL);
    cJSON *o = cJSON_Parse(pl);
    cr_assert_not_null(o, "%s", pl);
    cr_assert_str_eq(assay_json_str(o, "event"), "run.ended");
    cr_assert_str_eq(assay_json_str(o, "delivery"), d1);
    cr_assert_eq(assay_json_num(o, "run"), 1);
    cr_assert_str_eq(assay_json_str(o, "package"), id);
    cr_assert_str_eq(assay_json_str(o, "state"), "done");
    cr_assert(cJSON_IsBool(cJSON_GetObjectItem(o, "certified")), "%s", pl);
    snprintf(v, sizeof v, "%s/api/v1/runs/1/report", sv_url);
    cr_assert_str_eq(assay_json_str(o, "report_url"), v);
    cJSON_Delete(o);
    /* The verdict and certified are those of the run as the server shows it. */
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1", " "), 200);
    o = cJSON_Parse(pl);
    cJSON *run = cJSON_Parse(sv_body);
    cr_assert_str_eq(assay_json_str(o, "verdict"), assay_json_str(run, "verdict"));
    cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(o, "certified")),
                 cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(run, "conclusion"), "certified")));
    cJSON_Delete(run);
    cJSON_Delete(o);
    free(pl);

    /* docs/api.md's check, as written, verifies the signature; a changed
     * body or another secret does not. */
    static const char awk[] = "/^```bash/ {on = 1; next}\n/^```/ {on = 0}\non && /openssl dgst -sha256 -hmac/ {p = 1}\n"
                              "on && p {print}\n";
    char af[700];
    snprintf(af, sizeof af, "%s/check.awk", sv_dir);
    FILE *g = fopen(af, "w");
    fputs(awk, g);
    fclose(g);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && awk -f check.awk %s/docs/api.md > check.sh && grep -c . check.sh", sv_dir,
                        ASSAY_SOURCE_DIR),
                 0, "%s", sv_out);
    cr_assert_str_eq(sv_out, "2\n", "the check is two lines");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && cp req-3.body body.json && TS=%s SIG=%s SECRET=%s sh check.sh", sv_dir, ts,
                        sig, secret),
                 0, "%s", sv_out);
    cr_assert_str_eq(sv_out, "verified\n");
    cr_assert_neq(th_run(sv_out, sizeof sv_out, "cd %s && sed 's/\"run\":1/\"run\":2/' req-3.body > body.json && "
                                          "TS=%s SIG=%s SECRET=%s sh check.sh", sv_dir, ts, sig, secret),
                  0, "a changed body verified: %s", sv_out);
    cr_assert_neq(th_run(sv_out, sizeof sv_out, "cd %s && cp req-3.body body.json && TS=%s SIG=%s SECRET=whsec_other sh check.sh",
                         sv_dir, ts, sig),
                  0, "another secret verified: %s", sv_out);

    /* The record: delivered on the third try; the last failure's status
     * and a plain, capped excerpt of its answer kept. The receiver has
     * answered; wait until the server has recorded it. */
    int delivered = 0;
    for (int i = 0; i < 600 && !delivered; i++) {
        cr_assert_eq(sv_http(acme, path, " "), 200, "%s", sv_body);
        delivered = strstr(sv_body, "\"status\":\"delivered\"") != NULL;
        if (!delivered)
            poll(NULL, 0, 50);
    }
    cr_assert(delivered, "%s", sv_body);
    cJSON *l = cJSON_Parse(sv_body);
    cr_assert_eq(cJSON_GetArraySize(l), 1, "%s", sv_body);
    cJSON *d = cJSON_GetArrayItem(l, 0);
    cr_assert_str_eq(assay_json_str(d, "id"), d1);
    cr_assert_eq(assay_json_num(d, "run"), 1);
    cr_assert_eq(assay_json_num(d, "attempts"), 3, "%s", sv_body);
    cr_assert_eq(assay_json_num(d, "last_status"), 200, "%s", sv_body);
    const char *le = assay_json_str(d, "last_error");
    cr_assert(!strncmp(le, "HTTP 500: ?[2Jreceiver says no", 30), "%s", le);
    cr_assert(strlen(le) <= 300, "the excerpt is capped: %zu bytes", strlen(le));
    cJSON_Delete(l);
    /* The server's log: a line per try, no secret, no URL. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c '\"webhook\":1,.*\"result\":\"retry\"' %s/serve.log", sv_dir), 0, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c '\"webhook\":1,.*\"result\":\"delivered\"' %s/serve.log", sv_dir), 0, "%s",
                 sv_out);
    /* globex's hook heard nothing: acme's run is not globex's. */
    cr_assert_eq(sv_http(globex, "/api/v1/orgs/globex/webhooks/2/deliveries", " "), 200, "%s", sv_body);
    cr_assert_str_eq(sv_body, "[]");

    /* Removing: only an admin, only through the hook's own organisation. */
    snprintf(path, sizeof path, "/api/v1/orgs/acme/webhooks/%s", hook);
    cr_assert_eq(sv_http(globex, path, "-X DELETE"), 404, "%s", sv_body);
    cr_assert_eq(sv_http(acme, path, "-X DELETE"), 403, "%s", sv_body);
    cr_assert_eq(sv_http(root, "/api/v1/orgs/globex/webhooks/1", "-X DELETE"), 404, "%s", sv_body);
    cr_assert_eq(sv_http(root, path, "-X DELETE"), 204, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/orgs/acme/webhooks", " "), 200, "%s", sv_body);
    cr_assert_str_eq(sv_body, "[]");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook remove 2 && " SV_ASSAY " --lab %s webhook list --json", sv_lab,
                        sv_lab),
                 0, "%s", sv_out);
    cr_assert_str_eq(sv_out, "[]\n");
    sv_stop();
    /* The whole log, the server ended: no secret, no hook URL. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c -e whsec_ -e acme-hook %s/serve.log", sv_dir), 1, "%s", sv_out);
}

/* A receiver that accepts and never answers (python3, a free port): it
 * reads each request and holds the connection open. Prints its port, then
 * "accepted N" for each connection; keeps in dir/hang-count the
 * connections accepted and in dir/hang-most the most open at once. Its
 * port and pid into *port and *pid; the stream to read its lines from. */
static FILE *hanging_receiver(unsigned *port, pid_t *pid)
{
    static const char py[] =
        "import os, socket, sys, threading, time\n"
        "d = sys.argv[1]\n"
        "s = socket.socket()\n"
        "s.bind(('127.0.0.1', 0))\n"
        "s.listen(16)\n"
        "print(os.getpid(), s.getsockname()[1], flush=True)\n"
        "lock = threading.Lock()\n"
        "state = {'open': 0, 'most': 0, 'n': 0}\n"
        "def keep():\n"
        "    open(d + '/hang-count', 'w').write('%d' % state['n'])\n"
        "    open(d + '/hang-most', 'w').write('%d' % state['most'])\n"
        "def hold(c):\n"
        "    while c.recv(65536):\n"
        "        pass\n"
        "    with lock:\n"
        "        state['open'] -= 1\n"
        "        keep()\n"
        "def stop():\n"
        "    time.sleep(240)  # a safety net only: the test kills it\n"
        "    os._exit(0)\n"
        "threading.Thread(target=stop, daemon=True).start()\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    with lock:\n"
        "        state['open'] += 1\n"
        "        state['n'] += 1\n"
        "        state['most'] = max(state['most'], state['open'])\n"
        "        keep()\n"
        "        print('accepted', state['n'], flush=True)\n"
        "    threading.Thread(target=hold, args=(c,), daemon=True).start()\n";
    char f[700], cmd[1600];
    int p = 0;
    snprintf(f, sizeof f, "%s/hang.py", sv_dir);
    FILE *o = fopen(f, "w");
    cr_assert_not_null(o);
    fputs(py, o);
    fclose(o);
    snprintf(cmd, sizeof cmd, "exec python3 %s %s", f, sv_dir);
    FILE *rx = popen(cmd, "r");
    cr_assert_not_null(rx);
    char first[64] = "";
    cr_assert_not_null(fgets(first, sizeof first, rx), "the receiver did not start");
    cr_assert_eq(sscanf(first, "%d %u", &p, port), 2, "%s", first);
    *pid = (pid_t)p;
    return rx;
}

/* The deliveries of hook `hook` of org, from the API as tok sees them. */
static cJSON *deliveries_of(const char *tok, const char *org, int hook)
{
    char path[128];
    snprintf(path, sizeof path, "/api/v1/orgs/%s/webhooks/%d/deliveries", org, hook);
    cr_assert_eq(sv_http(tok, path, " "), 200, "%s", sv_body);
    cJSON *l = cJSON_Parse(sv_body);
    cr_assert_not_null(l, "%s", sv_body);
    return l;
}

/* The delivery of run `run` in l, or NULL. */
static const cJSON *delivery_of_run(const cJSON *l, int run)
{
    const cJSON *d;
    cJSON_ArrayForEach(d, l)
    if (assay_json_num(d, "run") == run)
        return d;
    return NULL;
}

/* Wait until the delivery of run `run` to hook `hook` of org is recorded
 * delivered (progress: the record), as tok sees it. */
static void wait_delivered(const char *tok, const char *org, int hook, int run)
{
    int delivered = 0;
    for (int i = 0; i < 600 && !delivered; i++) {
        cJSON *l = deliveries_of(tok, org, hook);
        const cJSON *d = delivery_of_run(l, run);
        delivered = d && !strcmp(assay_json_str(d, "status"), "delivered");
        cJSON_Delete(l);
        if (!delivered)
            poll(NULL, 0, 50);
    }
    cr_assert(delivered, "the delivery of run %d to %s's hook %d was never recorded: %s", run, org, hook, sv_body);
}

/* A receiver that accepts and never answers delays only its own hook:
 * while acme's delivery hangs (one try of it in flight, never two), a run
 * of globex's ends and globex's hook hears of it, acme's try still
 * unrecorded (it has not timed out: sequential tries would have recorded
 * it before trying globex's). Waits on progress: the hanging receiver's
 * accept, the other receiver's request, the records. */
Test(serve, a_receiver_that_never_answers_delays_only_its_own_hook, .timeout = 300)
{
    char acme[72], globex[72], eng[72], id[80], req[256];
    unsigned hport, gport;
    pid_t hpid;
    sv_fresh("slowhook");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    FILE *hang = hanging_receiver(&hport, &hpid);
    FILE *rx = receiver("200", &gport);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook add acme http://127.0.0.1:%u/acme-hook", sv_lab,
                        hport),
                 0, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook add globex http://127.0.0.1:%u/globex-hook",
                        sv_lab, gport),
                 0, "%s", sv_out);
    sv_start("", "");
    /* Runs 1 and 2 of acme's package, run 3 of globex's (another file). */
    uploaded_and_queued(acme, eng, id);
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20\"}", id);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/packages?name=ok.tar.gz", "--data-binary @" CORPUS "/ok.tar.gz"), 201, "%s",
                 sv_body);
    sv_member(id, sizeof id, "id");
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20\"}", id);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);

    /* acme's two runs end: one try reaches the receiver that hangs. */
    finish_run_n(1);
    finish_run_n(2);
    char line[64] = "";
    cr_assert_not_null(fgets(line, sizeof line, hang), "the hanging receiver was never called");
    cr_assert_str_eq(line, "accepted 1\n");
    /* globex's run ends and its receiver has it, while acme's try hangs. */
    finish_run_n(3);
    cr_assert_eq(pclose(rx), 0, "globex's receiver did not get its delivery");
    wait_delivered(globex, "globex", 2, 3);
    cJSON *a = deliveries_of(acme, "acme", 1);
    cr_assert_eq(cJSON_GetArraySize(a), 2, "%s", sv_body);
    for (int run = 1; run <= 2; run++) {
        const cJSON *d = delivery_of_run(a, run);
        cr_assert_not_null(d, "%s", sv_body);
        cr_assert_str_eq(assay_json_str(d, "status"), "pending", "%s", sv_body);
        cr_assert_eq(assay_json_num(d, "attempts"), 0, "acme's try was over before globex's: %s", sv_body);
    }
    cJSON_Delete(a);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cat %s/hang-count %s/hang-most", sv_dir, sv_dir), 0, "%s", sv_out);
    cr_assert_str_eq(sv_out, "11", "one try of acme's hook at a time (accepted, most at once)");
    /* Stopping aborts the hanging try: it stays pending for the next start. */
    sv_stop();
    cr_assert_eq(kill(hpid, SIGTERM), 0);
    pclose(hang);
}

/* A run that ends while no server runs is delivered once one starts: its
 * delivery was made with the run's end, in the store. */
Test(serve, a_run_that_ended_while_no_server_ran_is_delivered, .timeout = 300)
{
    char acme[72], eng[72], id[80];
    unsigned port;
    sv_fresh("hookdown");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(eng, "alice", "engineer", NULL);
    FILE *rx = receiver("200", &port);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook add acme http://127.0.0.1:%u/acme-hook", sv_lab,
                        port),
                 0, "%s", sv_out);
    sv_start("", "");
    uploaded_and_queued(acme, eng, id);
    sv_stop();
    finish_run();
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s webhook list --json | jq -e '.[0].pending == 1'", sv_lab),
                 0, "the delivery is made with the run's end: %s", sv_out);
    sv_start("", "");
    cr_assert_eq(pclose(rx), 0, "the receiver never heard of the run");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c '\"run\":1,' %s/req-1.body", sv_dir), 0, "%s", sv_out);
    wait_delivered(acme, "acme", 1, 1);
    sv_stop();
}

/* Job j ends with one step, "unit-1", whose stdout is `out_` (n bytes) and
 * stderr a short line. */
static void job_finish_with_logs(int64_t j, const char *out_, size_t n)
{
    assay_lab lab;
    char hex[65];
    const char *err = "warning: \x1b[31mred\x1b[0m on stderr\n";
    cr_assert_eq(assay_lab_open(&lab, sv_lab), 0);
    cr_assert_eq(assay_store_job_event(lab.store, j, 1, 1, "step-end",
                                       "{\"v\":1,\"seq\":1,\"ts\":\"2026-11-30T10:00:01Z\",\"type\":\"step-end\","
                                       "\"step\":\"unit-1\",\"kind\":\"test\",\"run\":1,\"verdict\":\"pass\","
                                       "\"reason\":null,\"exit_code\":0,\"logs\":{\"stdout\":\"logs/unit-1.1.stdout\","
                                       "\"stderr\":\"logs/unit-1.1.stderr\"}}"),
                 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_store_job_event(lab.store, j, 1, 2, "job-end",
                                       "{\"v\":1,\"seq\":2,\"ts\":\"2026-11-30T10:00:02Z\",\"type\":\"job-end\","
                                       "\"outcome\":\"passed\",\"reason\":null}"),
                 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_blob_put_mem(lab.blobs, out_, n, hex), 0);
    cr_assert_eq(assay_store_job_log(lab.store, j, 1, "logs/unit-1.1.stdout", hex, n), 0);
    cr_assert_eq(assay_blob_put_mem(lab.blobs, err, strlen(err), hex), 0);
    cr_assert_eq(assay_store_job_log(lab.store, j, 1, "logs/unit-1.1.stderr", hex, strlen(err)), 0);
    cr_assert_eq(assay_store_job_end(lab.store, j, "passed", ""), 0);
    assay_lab_close(&lab);
}

/* `assay --server URL run logs` prints what `run logs` on the lab prints,
 * piped and on a terminal, with --job, --step and --stderr; a log larger
 * than one range comes in several ranged requests, whole, with a
 * character that straddles two ranges intact. */
Test(serve, run_logs_through_a_server_as_on_the_lab, .timeout = 300)
{
    char acme[72], globex[72], eng[72], id[80];
    sv_fresh("logs");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "");
    uploaded_and_queued(acme, eng, id);
    /* 2.5 MiB of lines, a 3-byte character across the 1 MiB mark, an
     * escape sequence for the terminal writer. */
    size_t n = 5u << 19;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
    memcpy(big + (1u << 20) - 1, "测", 3);
    memcpy(big + 100, "\x1b[2J", 4);
    job_start(1);
    job_finish_with_logs(1, big, n);
    job_start(2);
    job_finish_with_logs(2, "short\n", 6);
    free(big);

    static char local[8 << 20], remote[8 << 20];
    static const char *const args[] = {"", "--job 2", "--stderr", "--step unit-1 --stdout --job 1"};
    static const long least[] = {5 << 19, 6, 2 * 40, 5 << 19}; /* bytes each prints, at least */
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++) {
        cr_assert_eq(th_run(local, sizeof local, "cd %s && " SV_ASSAY " --lab %s run logs 1 %s > local.out", sv_dir, sv_lab, args[i]),
                     0, "%s", local);
        cr_assert_eq(th_run(remote, sizeof remote, "cd %s && ASSAY_TOKEN=%s " SV_ASSAY " --server %s run logs 1 %s > remote.out",
                            sv_dir, acme, sv_url, args[i]),
                     0, "%s", remote);
        cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && cmp local.out remote.out && wc -c < local.out", sv_dir), 0,
                     "run logs 1 %s differs through the server: %s", args[i], sv_out);
        cr_assert(strtol(sv_out, NULL, 10) > least[i], "run logs 1 %s printed %s bytes", args[i], sv_out);
    }
    cr_assert_eq(th_run(local, sizeof local, SV_ASSAY " --lab %s run logs 1 --job 2", sv_lab), 0);
    cr_assert(strstr(local, "==> job 2 zhaoxin-kx6000-uos-20 step unit-1 run 1 stdout (6 bytes, sha256 ") &&
                  strstr(local, "short\n"),
              "%s", local);
    /* On a terminal: through the terminal writer, as on the lab. */
    cr_assert_eq(th_run(local, sizeof local, "script -qec '" SV_ASSAY " --lab %s run logs 1 --stderr' /dev/null", sv_lab), 0,
                 "%s", local);
    cr_assert_eq(th_run(remote, sizeof remote,
                        "ASSAY_TOKEN=%s script -qec '" SV_ASSAY " --server %s run logs 1 --stderr' /dev/null", acme, sv_url),
                 0, "%s", remote);
    cr_assert_str_eq(remote, local);
    cr_assert(!strchr(remote, '\x1b') && strstr(remote, "warning: \xef\xbf\xbd[31mred"), "%s", remote);
    /* Another organisation's run is not there. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=%s " SV_ASSAY " --server %s run logs 1 2>&1", globex, sv_url), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "assay: run logs: no run 1 (HTTP 404)"), "%s", sv_out);
    sv_stop();
    /* The 2.5 MiB log came in three ranges, each time (two of the calls
     * above fetch job 1's stdout); the server's log is whole once it
     * has ended. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c '\"route\":\"job-log\",\"arg\":\"1\",\"status\":206' %s/serve.log",
                        sv_dir),
                 0, "%s", sv_out);
    cr_assert(strtol(sv_out, NULL, 10) >= 3 * 2, "%s", sv_out);
}

/* What a server says reaches the terminal made safe: a problem's detail,
 * an id, a profile, a step name holding escape sequences and a BEL, from
 * a server that is not assay's (python3's http.server). */
Test(serve, the_client_prints_what_a_server_says_made_safe, .timeout = 120)
{
    static const char py[] =
        "import http.server, json, os\n"
        "E = '\\x1b]0;owned\\x07\\x1b[2J'\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def send(self, code, o, kind='application/json'):\n"
        "        b = o if isinstance(o, bytes) else json.dumps(o).encode()\n"
        "        self.send_response(code)\n"
        "        self.send_header('Content-Type', kind)\n"
        "        self.send_header('Content-Length', str(len(b)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(b)\n"
        "    def do_GET(self):\n"
        "        if self.path == '/api/v1/runs/2':\n"
        "            return self.send(200, {'id': 2, 'state': 'done', 'job_list': [{'id': 5}]})\n"
        "        if self.path == '/api/v1/jobs/5':\n"
        "            step = json.dumps({'type': 'step-end', 'step': E + 'step', 'run': 1,\n"
        "                               'logs': {'stdout': 'logs/x.1.stdout'}})\n"
        "            return self.send(200, {'id': 5, 'profile': E + 'profile', 'events': [\n"
        "                {'seq': 1, 'type': 'step-end', 'body': step}],\n"
        "                'logs': [{'path': 'logs/x.1.stdout', 'sha256': E + 'digest', 'size': 9}]})\n"
        "        if self.path.startswith('/api/v1/jobs/5/log'):\n"
        "            return self.send(206, b'log' + E.encode(), 'text/plain')\n"
        "        self.send(404, {'type': 'about:blank', 'status': 404, 'detail': 'no run ' + E + ' here'},\n"
        "                  'application/problem+json')\n"
        "    def do_POST(self):\n"
        "        self.rfile.read(int(self.headers['Content-Length']))\n"
        "        self.send(201, {'id': E + 'abc', 'added': True})\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        "s = http.server.HTTPServer(('127.0.0.1', 0), H)\n"
        "print(s.server_address[1], os.getpid(), flush=True)\n"
        "s.serve_forever()\n";
    sv_fresh("hostile-server");
    char f[700], cmd[1600], v[128];
    snprintf(f, sizeof f, "%s/fake.py", sv_dir);
    FILE *o = fopen(f, "w");
    fputs(py, o);
    fclose(o);
    snprintf(cmd, sizeof cmd, "exec python3 %s", f);
    FILE *p = popen(cmd, "r");
    unsigned port;
    int pid;
    cr_assert_eq(fscanf(p, "%u %d", &port, &pid), 2);
    snprintf(sv_url, sizeof sv_url, "http://127.0.0.1:%u", port);
    snprintf(v, sizeof v, "ASSAY_TOKEN=assay_x " SV_ASSAY " --server %s", sv_url);
    /* A problem's detail, on stderr. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "%s run show 7 2>&1", v), 1, "%s", sv_out);
    cr_assert(strstr(sv_out, "assay: run show: no run \xef\xbf\xbd]0;owned\xef\xbf\xbd\xef\xbf\xbd[2J here (HTTP 404)"),
              "%s", sv_out);
    /* An id, on stdout and stderr. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "%s package add " CORPUS "/ok-deb-rpm.tar.gz 2>&1", v), 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "\xef\xbf\xbd]0;owned"), "%s", sv_out);
    /* run logs: the header's profile, step and digest; the log itself on
     * a terminal. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=assay_x script -qec '" SV_ASSAY " --server %s run logs 2' /dev/null", sv_url),
                 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "step \xef\xbf\xbd]0;owned") && strstr(sv_out, "log\xef\xbf\xbd]0;owned"), "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "ASSAY_TOKEN=assay_x " SV_ASSAY " --server %s run logs 2 | head -1", sv_url), 0, "%s",
                 sv_out);
    cr_assert(strstr(sv_out, "==> job 5 \xef\xbf\xbd]0;owned"), "%s", sv_out);
    /* Not one escape or BEL came through, whatever was asked. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "(%s run show 7; %s package add " CORPUS "/ok-deb-rpm.tar.gz; %s run logs 2 | head -1; "
                        "%s run wait 9; %s report 9) 2>&1 | od -An -c | grep -cE '033|\\\\a'",
                        v, v, v, v, v),
                 1, "%s", sv_out);
    kill(pid, SIGTERM);
    pclose(p);
}

/* All a socket gives until the peer closes it, into buf. */
static void read_all(int fd, char *buf, size_t len)
{
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < len && poll(&p, 1, 60000) == 1) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = 0;
}

/* An upload under way when SIGTERM comes: sent whole within the grace,
 * it is stored (whole); not finished within the grace, it is refused with
 * 503 and nothing of it stays. New connections are refused at once, and
 * the server exits 0 either way. */
Test(serve, sigterm_during_an_upload_finishes_it_or_refuses_it_cleanly, .timeout = 300)
{
    char acme[72], head[512], resp[4096];
    size_t size;
    char *file = th_slurp(CORPUS "/ok-deb-rpm.tar.gz", &size);
    cr_assert_not_null(file);
    cr_assert(size > 1000);
    size_t half = size / 2;

    /* Finished within the grace. */
    sv_fresh("grace");
    sv_account(acme, "acme", "vendor", "acme");
    sv_start("", "");
    snprintf(head, sizeof head, "POST /api/v1/packages?name=hello.tar.gz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             acme, size);
    int fd = sv_raw(head);
    cr_assert_eq(write(fd, file, half), (ssize_t)half);
    for (int i = 0; i < 300 && !sv_staged(); i++)
        poll(NULL, 0, 20); /* until the server has staged it */
    cr_assert_eq(sv_staged(), 1);
    cr_assert_eq(kill(sv_pid, SIGTERM), 0);
    wait_log("1 upload(s) in flight: waiting up to 30s");
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "curl -sS -o /dev/null %s/healthz 2>&1", sv_url), 7, "a new connection: %s", sv_out);
    cr_assert_eq(write(fd, file + half, size - half), (ssize_t)(size - half));
    read_all(fd, resp, sizeof resp);
    close(fd);
    cr_assert(!strncmp(resp, "HTTP/1.1 201", 12), "%s", resp);
    sv_stop();
    cr_assert_eq(sv_staged(), 0);
    sv_start("", "");
    cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
    cJSON *l = cJSON_Parse(sv_body);
    cr_assert_eq(cJSON_GetArraySize(l), 1, "%s", sv_body);
    cr_assert_eq(assay_json_num(cJSON_GetArrayItem(l, 0), "size"), (double)size, "the package is whole: %s", sv_body);
    cJSON_Delete(l);
    sv_stop();

    /* Not finished within the grace. */
    sv_fresh("grace-over");
    sv_account(acme, "acme", "vendor", "acme");
    sv_start("", "--grace 1");
    snprintf(head, sizeof head, "POST /api/v1/packages?name=hello.tar.gz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             acme, size);
    fd = sv_raw(head);
    cr_assert_eq(write(fd, file, half), (ssize_t)half);
    for (int i = 0; i < 300 && !sv_staged(); i++)
        poll(NULL, 0, 20);
    cr_assert_eq(sv_staged(), 1);
    cr_assert_eq(kill(sv_pid, SIGTERM), 0);
    wait_log("grace over: refusing 1 upload(s) still in flight");
    cr_assert_eq(write(fd, file + half, 100), 100);
    for (int i = 0; i < 300 && sv_staged(); i++)
        poll(NULL, 0, 20); /* the staged part goes at the next chunk */
    cr_assert_eq(sv_staged(), 0, "the refused upload's staged part is removed at once");
    cr_assert_eq(write(fd, file + half + 100, size - half - 100), (ssize_t)(size - half - 100));
    read_all(fd, resp, sizeof resp);
    close(fd);
    cr_assert(!strncmp(resp, "HTTP/1.1 503", 12), "%s", resp);
    cr_assert(strstr(resp, "not finished within the grace"), "%s", resp);
    sv_stop();
    cr_assert_eq(sv_staged(), 0, "nothing staged is left");
    sv_start("", "");
    cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(sv_body, "[]", "nothing is visible");
    sv_stop();
    free(file);
}

/* The header `name` of the last answer (curl -D), into v; "" if absent. */
static const char *header(char *v, size_t len, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "grep -i '^%s:' %s/headers | head -1 | cut -d: -f2- | sed 's/^ //' | tr -d '\\r\\n'", name,
             sv_dir);
    th_run(v, len, "%s", cmd);
    return v;
}

/* The portal's folder is served as files and nothing else: no way out of
 * it by dots, encoded dots, links or hidden files; types by name, ETags,
 * and the headers that keep a page to its own scripts. */
Test(serve, the_portal_serves_its_files_and_nothing_else, .timeout = 120)
{
    char v[512], web[700], cmd[2048];
    sv_fresh("web");
    snprintf(web, sizeof web, "%s/web", sv_dir);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s/sub %s/.hidden && cd %s && printf '<!doctype html><title>t</title>' > index.html && "
             "echo 'x=1' > app.js && echo 'body{}' > sub/s.css && echo secret > .env && echo s > .hidden/a.js && "
             "echo bak > app.js.bak && ln -s /etc/passwd passwd.txt && ln -s sub linked && ln -s %s/lab/signing.key k.txt "
             "&& mkfifo pipe.txt && echo '<svg/>' > sub/index.html",
             web, web, web, sv_dir);
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "%s", cmd), 0, "%s", sv_out);
    char opt[800];
    snprintf(opt, sizeof opt, "--web %s", web);
    sv_start("", opt);

    cr_assert_eq(sv_http(NULL, "/", "-D %s/headers", sv_dir), 200, "%s", sv_body);
    cr_assert_str_eq(sv_body, "<!doctype html><title>t</title>");
    cr_assert_str_eq(header(v, sizeof v, "Content-Type"), "text/html; charset=utf-8");
    cr_assert(strstr(header(v, sizeof v, "Content-Security-Policy"), "default-src 'self'"), "%s", v);
    cr_assert(strstr(v, "frame-ancestors 'none'") && !strstr(v, "unsafe-inline"), "%s", v);
    cr_assert_str_eq(header(v, sizeof v, "X-Content-Type-Options"), "nosniff");
    char etag[128];
    header(etag, sizeof etag, "ETag");
    cr_assert(etag[0] == '"', "%s", etag);
    cr_assert_eq(sv_http(NULL, "/", "-H 'If-None-Match: %s'", etag), 304, "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/", "-H 'If-None-Match: \"other\"'"), 200);
    cr_assert_eq(sv_http(NULL, "/app.js", "-D %s/headers", sv_dir), 200);
    cr_assert_str_eq(header(v, sizeof v, "Content-Type"), "text/javascript; charset=utf-8");
    cr_assert_eq(sv_http(NULL, "/sub/s.css", "-D %s/headers", sv_dir), 200);
    cr_assert_str_eq(header(v, sizeof v, "Content-Type"), "text/css; charset=utf-8");
    cr_assert_eq(sv_http(NULL, "/sub/", " "), 200, "a folder's index");
    cr_assert_str_eq(sv_body, "<svg/>\n");
    /* The file changes: its ETag does too. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "printf '<!doctype html><title>u</title>' > %s/index.html", web), 0);
    cr_assert_eq(sv_http(NULL, "/", "-H 'If-None-Match: %s'", etag), 200, "a stale ETag");

    static const char *const refused[] = {
        "/.env", "/.hidden/a.js", "/app.js.bak", "/passwd.txt", "/linked/s.css", "/k.txt", "/pipe.txt",
        "/../lab/signing.key", "/sub/../../lab/signing.key", "/%2e%2e/lab/signing.key", "/sub/..%2f..%2flab/signing.key",
        "/sub//s.css", "/nothing.html", "/app.js/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int st = sv_http(NULL, refused[i], " ");
        cr_assert_eq(st, 404, "%s: %d %s", refused[i], st, sv_body);
        cr_assert(!strstr(sv_body, "PRIVATE") && !strstr(sv_body, "root:"), "%s: %s", refused[i], sv_body);
    }
    /* libmicrohttpd decodes %00 to a NUL, where the path ends: "/" here. */
    cr_assert_eq(sv_http(NULL, "/%00.html", " "), 200);
    cr_assert_str_eq(sv_body, "<!doctype html><title>u</title>");
    cr_assert_eq(sv_http(NULL, "/", "-X POST -d x"), 405);
    /* The API is not a file: an unknown API path is the API's 404. */
    cr_assert_eq(sv_http(NULL, "/api/v2/runs", " "), 404);
    sv_stop();
}

/* The portal's own pages keep to the policy they are served with: no
 * inline script, no inline style, no handler attributes, nothing fetched
 * from elsewhere; and the server finds them without being told. */
Test(serve, the_shipped_portal_needs_nothing_the_policy_forbids, .timeout = 120)
{
    sv_fresh("shipped");
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s/web && grep -nEi '<script[^>]*>[^<]|<script>|[[:space:]]on[a-z]+=|style=|https?://' "
                        "*.html",
                        ASSAY_SOURCE_DIR),
                 1, "%s", sv_out);
    /* (The one address is SVG's namespace name, which is never fetched.) */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s/web && grep -nE 'https?://|innerHTML|outerHTML|insertAdjacentHTML|document.write|eval\\(' "
                        "*.js *.css | grep -v 'const SVG = \"http://www.w3.org/2000/svg\";'",
                        ASSAY_SOURCE_DIR),
                 1, "%s", sv_out);
    sv_start("", "");
    cr_assert_eq(sv_http(NULL, "/", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "<script src=\"app.js\""), "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/app.js", " "), 200);
    cr_assert_eq(sv_http(NULL, "/style.css", " "), 200);
    sv_stop();
}

/* A page of runs: numbered first down to last, each once. */
static void page_is(const char *tok, const char *path, int first, int last)
{
    cr_assert_eq(sv_http(tok, path, " "), 200, "%s: %s", path, sv_body);
    cJSON *o = cJSON_Parse(sv_body);
    cr_assert_eq(cJSON_GetArraySize(o), first - last + 1, "%s: %s", path, sv_body);
    for (int i = 0; i <= first - last; i++)
        cr_assert_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(o, i), "id")->valueint, first - i, "%s: %s", path, sv_body);
    cJSON_Delete(o);
}

/* The picker's profiles, grouped; the manifest checker with package add's
 * own messages; a long run history paged from the newest. */
Test(serve, profiles_manifest_check_and_pages_of_runs, .timeout = 300)
{
    char acme[72], globex[72], eng[72], id[80], v[256];
    sv_fresh("pages");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "");
    cr_assert_eq(sv_http(acme, "/api/v1/profiles", " "), 200, "%s", sv_body);
    cJSON *o = cJSON_Parse(sv_body), *f, *os;
    int kunpeng_kylin = 0;
    cJSON_ArrayForEach(f, cJSON_GetObjectItem(o, "families"))
        cJSON_ArrayForEach(os, cJSON_GetObjectItem(f, "oses"))
            if (!strcmp(cJSON_GetObjectItem(f, "name_zh")->valuestring, "鲲鹏") &&
                !strcmp(cJSON_GetObjectItem(os, "name_zh")->valuestring, "麒麟"))
                kunpeng_kylin = cJSON_GetArraySize(cJSON_GetObjectItem(os, "profiles"));
    cJSON_Delete(o);
    cr_assert(kunpeng_kylin >= 1, "no 鲲鹏 × 麒麟 group: %s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/profiles", " "), 401);

    /* Hosts with their health, as the hosts page shows it. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && ssh-keygen -q -t ed25519 -N '' -f k && " SV_ASSAY " --lab %s host add kp1 --profile "
                        "kunpeng-920-kylin-v10 --address 127.0.0.1:1 --user u --identity %s/k --trust-on-first-use && "
                        SV_ASSAY " --lab %s host drain kp1",
                        sv_dir, sv_lab, sv_dir, sv_lab),
                 0, "%s", sv_out);
    cr_assert_eq(sv_http(eng, "/api/v1/hosts", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"name\":\"kp1\"") && strstr(sv_body, "\"drained\":true") &&
                  strstr(sv_body, "\"failures\":0") && strstr(sv_body, "\"quarantined\":\"\""),
              "%s", sv_body);

    /* A good manifest; then one that package add refuses, with the same words. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "cd %s && tar -xzf " CORPUS "/ok.tar.gz && cp manifest.json good.json && "
                                         "sed 's/\"manifest\": 1/\"manifest\": 7/' good.json > manifest.json && "
                                         "tar -czf bad.tar.gz manifest.json pkgs",
                        sv_dir),
                 0, "%s", sv_out);
    cr_assert_eq(sv_http(acme, "/api/v1/manifest/check", "--data-binary @%s/good.json", sv_dir), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"valid\":true") && strstr(sv_body, "\"product\":\"hello\""), "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/manifest/check", "--data-binary @%s/manifest.json", sv_dir), 422, "%s", sv_body);
    sv_member(v, sizeof v, "detail");
    cr_assert(strstr(v, "manifest.json: "), "%s", v);
    th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s package add %s/bad.tar.gz 2>&1", sv_lab, sv_dir);
    cr_assert(strstr(sv_out, v), "package add says %s; the checker %s", sv_out, v);
    cr_assert_eq(sv_http(acme, "/api/v1/manifest/check", "-d 'not json'"), 422, "%s", sv_body);

    /* 25 runs; the newest 10, then the 10 before run 16. */
    cr_assert_eq(sv_http(acme, "/api/v1/packages?name=hello.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"), 201,
                 "%s", sv_body);
    sv_member(id, sizeof id, "id");
    char req[256];
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"zhaoxin-kx6000-uos-20\"}", id);
    for (int i = 0; i < 25; i++)
        cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);
    page_is(acme, "/api/v1/runs?limit=10", 25, 16);
    page_is(acme, "/api/v1/runs?limit=10&before=16", 15, 6);
    page_is(acme, "/api/v1/runs?before=3", 2, 1);
    cr_assert_eq(sv_http(globex, "/api/v1/runs?limit=10", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    cr_assert_eq(sv_http(acme, "/api/v1/runs?limit=0", " "), 400, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/runs?limit=1001", " "), 400, "%s", sv_body);
    cr_assert_eq(sv_http(acme, "/api/v1/runs?limit=5&before=x", " "), 400, "%s", sv_body);
    sv_stop();
}

/* Run 1, published: the registry serves the signed report publish kept,
 * byte for byte (its signed JSON, on every request, and inside the
 * certificate), whatever happens to the store's rows or the lab's key
 * after; openssl verifies it as docs/verify.md says; the entry names who
 * submitted it (the uploading organisation) beside the manifest's vendor;
 * the server verified what the run page shows. */
static void registry_keeps_what_was_published(const char *acme, const char *keyid)
{
    char v[256];
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && sqlite3 %s/assay.db \"SELECT writefile('stored.json', envelope) FROM published "
                        "WHERE run_id = 1\" >/dev/null && test -s stored.json && "
                        "curl -fsS -o a.json %s/api/v1/registry/1/report && curl -fsS -o b.json %s/api/v1/registry/1/report && "
                        "cmp stored.json a.json && cmp stored.json b.json && "
                        "curl -fsS -o cert.json %s/api/v1/registry/1 && grep -qF \"\\\"envelope\\\":$(cat stored.json)\" cert.json && "
                        SV_ASSAY " --lab %s key export --public old.pub.pem && "
                        "sh %s/docs/verify-openssl.sh a.json old.pub.pem payload.json 2>&1",
                        sv_dir, sv_lab, sv_url, sv_url, sv_url, sv_lab, ASSAY_SOURCE_DIR),
                 0, "%s", sv_out);
    cr_assert_eq(sv_http(NULL, "/api/v1/registry/1", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"submitted_by\":[\"acme\"]"), "%s", sv_body);
    cr_assert(strstr(sv_body, "\"vendor\":\"Example Co.\""), "%.600s", sv_body);
    cr_assert(strstr(sv_body, "\"summary\":{\"report_number\":"), "%.600s", sv_body);

    /* The store's rows change (the product renamed, the run's end moved):
     * a report made now would say so; the published one does not. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "sqlite3 %s/assay.db \"UPDATE packages SET product = 'renamed'; "
                        "UPDATE runs SET finished_at = '2031-01-01T00:00:00Z'\" 2>&1",
                        sv_lab),
                 0, "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && curl -fsS -H 'Authorization: Bearer %s' -o fresh.json %s/api/v1/runs/1/report && "
                        "! cmp -s stored.json fresh.json && curl -fsS -o c.json %s/api/v1/registry/1/report && "
                        "cmp stored.json c.json && curl -fsS %s/api/v1/registry/1 | jq -e '.valid and "
                        ".summary.product.name == \"hello\" and .statement.predicate.product.name == \"hello\"' 2>&1",
                        sv_dir, acme, sv_url, sv_url, sv_url),
                 0, "%s", sv_out);

    /* The run page's verification is the server's, in the run itself. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "curl -fsS -H 'Authorization: Bearer %s' %s/api/v1/runs/1 | jq -e '.verification.valid and "
                        ".verification.keyid == \"%s\" and .verification.summary.status == .conclusion.status and "
                        "(.verification.comparison | type == \"array\")' 2>&1",
                        acme, sv_url, keyid),
                 0, "%s", sv_out);

    /* The lab's key rotated: the same bytes still, now shown not to verify
     * with the lab's key (never re-signed), and still valid under the key
     * that signed them. */
    sv_stop();
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && openssl genpkey -algorithm ed25519 -out new.key 2>&1 && chmod 600 new.key && "
                        "mv new.key signing.key",
                        sv_lab),
                 0, "%s", sv_out);
    sv_start("", "");
    cr_assert_eq(sv_http(NULL, "/api/v1/registry/1", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"valid\":false,\"error\":"), "%.800s", sv_body);
    cr_assert(!strstr(sv_body, "\"summary\""), "%.800s", sv_body);
    cr_assert_neq(strcmp(sv_member(v, sizeof v, "keyid"), keyid), 0, "%s", sv_body);
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && curl -fsS -o d.json %s/api/v1/registry/1/report && cmp stored.json d.json && "
                        "sh %s/docs/verify-openssl.sh d.json old.pub.pem payload.json 2>&1",
                        sv_dir, sv_url, ASSAY_SOURCE_DIR),
                 0, "%s", sv_out);
    /* An entry an older assay published, which kept no envelope: none is
     * made up; it says to publish again. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "sqlite3 %s/assay.db \"UPDATE published SET envelope = ''\" 2>&1", sv_lab), 0,
                 "%s", sv_out);
    cr_assert_eq(sv_http(NULL, "/api/v1/registry/1/report", " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/registry/1", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"envelope\":null,\"valid\":false,\"error\":") && strstr(sv_body, "publish it again"), "%s",
              sv_body);
}

/* A whole run as one event stream, resumable; its report published by an
 * engineer, found and re-verified by anyone; unpublished, it is nobody's. */
Test(serve, run_events_publish_and_the_public_registry, .timeout = 300)
{
    char acme[72], globex[72], eng[72], id[80], v[256], keyid[128];
    sv_fresh("registry");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(globex, "globex", "vendor", "globex");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "");
    uploaded_and_queued(acme, eng, id);

    /* Unpublished and unfinished: nobody's certificate; not publishable. */
    cr_assert_eq(sv_http(NULL, "/api/v1/registry/1", " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs/1/publish", "-X POST"), 409, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/runs/1/events", " "), 404, "%s", sv_body);

    /* The stream follows the run live: open it, then the run happens. */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "curl -sN -H 'Authorization: Bearer %s' %s/api/v1/runs/1/events", acme, sv_url);
    FILE *sse = popen(cmd, "r");
    cr_assert_not_null(sse);
    char log[16384] = "";
    cr_assert_eq(read_until(sse, ": run 1", log, sizeof log), 0, "%s", log);
    finish_run();
    cr_assert_eq(read_until(sse, "event: end", log, sizeof log), 0, "%s", log);
    pclose(sse);
    cr_assert(strstr(log, "event: job-start\ndata: {\"job\":1,\"attempt\":1,\"event\":{"), "%s", log);
    cr_assert(strstr(log, "event: job-end\ndata: {\"job\":2,"), "%s", log);
    cr_assert(strstr(log, "event: jobs\ndata: [{\"id\":1,"), "%s", log);
    /* Resumed after the first event: the rest, not the first again. */
    int first = 0;
    cr_assert_eq(sscanf(strstr(log, "id: "), "id: %d", &first), 1, "%s", log);
    snprintf(cmd, sizeof cmd, "curl -sN -H 'Authorization: Bearer %s' -H 'Last-Event-ID: %d' %s/api/v1/runs/1/events",
             acme, first, sv_url);
    sse = popen(cmd, "r");
    char again[16384] = "";
    cr_assert_eq(read_until(sse, "event: end", again, sizeof again), 0, "%s", again);
    pclose(sse);
    char firstid[32];
    snprintf(firstid, sizeof firstid, "id: %d\n", first);
    cr_assert(!strstr(again, firstid) && strstr(again, "event: job-end"), "%s", again);

    /* The report in every form, PDF too. */
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1/report?format=pdf", "-D %s/headers", sv_dir), 200, "%s", sv_body);
    cr_assert(!strncmp(sv_body, "%PDF-", 5), "%.20s", sv_body);
    cr_assert_str_eq(header(v, sizeof v, "Content-Type"), "application/pdf");
    cr_assert_eq(sv_http(globex, "/api/v1/runs/1/report?format=pdf", " "), 404, "%s", sv_body);

    /* Vendors do not publish; an engineer does; anyone finds and checks it. */
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1/publish", "-X POST"), 403, "%s", sv_body);
    cr_assert_eq(sv_http(globex, "/api/v1/runs/1/publish", "-X POST"), 404, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs/1/publish", "-X POST"), 200, "%s", sv_body);
    cr_assert_str_eq(sv_member(v, sizeof v, "product"), "hello");
    char concl[64];
    sv_member(concl, sizeof concl, "conclusion");
    cr_assert(!strcmp(concl, "certified") || !strcmp(concl, "not-certified"), "%s", sv_body);
    char q[256];
    snprintf(q, sizeof q, "/api/v1/registry?q=HELL&cpu=kunpeng&os=kylin&verdict=%s", concl);
    cr_assert_eq(sv_http(NULL, q, " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"run\":1,"), "%s", sv_body);
    /* The families and OSes as lists, not the store's ",a,b," form. */
    cr_assert(strstr(sv_body, "\"cpus\":[\"kunpeng\",\"zhaoxin\"]") && strstr(sv_body, "\"oses\":[\"kylin\",\"uos\"]"), "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/registry?cpu=loongson", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    snprintf(q, sizeof q, "/api/v1/registry?verdict=%s", strcmp(concl, "certified") ? "certified" : "not-certified");
    cr_assert_eq(sv_http(NULL, q, " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    cr_assert_eq(sv_http(NULL, "/api/v1/registry/1", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"valid\":true") && strstr(sv_body, "\"envelope\":{\"payloadType\""), "%s", sv_body);
    cr_assert_eq(th_run(keyid, sizeof keyid, SV_ASSAY " --lab %s key show --json | jq -r .keyid", sv_lab), 0, "%s", keyid);
    keyid[strcspn(keyid, "\n")] = 0;
    cr_assert_str_eq(sv_member(v, sizeof v, "keyid"), keyid);
    registry_keeps_what_was_published(acme, keyid);
    /* The CLI publishes too, and the same run again replaces its entry. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s run publish 1", sv_lab), 0, "%s", sv_out);
    cr_assert(strstr(sv_out, "published"), "%s", sv_out);
    cr_assert_eq(sv_http(NULL, "/api/v1/registry", " "), 200);
    cJSON *l = cJSON_Parse(sv_body);
    cr_assert_eq(cJSON_GetArraySize(l), 1, "%s", sv_body);
    cJSON_Delete(l);
    cr_assert_eq(sv_http(NULL, "/api/v1/registry/2", " "), 404);
    sv_stop();
}

/* Job j goes to host `host` and starts, its job-start event carrying
 * `facts` (JSON), through the store as the dispatcher would. */
static void job_start_with_facts(int64_t j, const char *host, const char *facts)
{
    assay_lab lab;
    char ev[2048];
    cr_assert_eq(assay_lab_open(&lab, sv_lab), 0);
    cr_assert_eq(assay_store_job_assign(lab.store, j, host), 0, "%s", assay_error_last()->message);
    cr_assert_eq(assay_store_job_set_running(lab.store, j, "ab12"), 0);
    snprintf(ev, sizeof ev,
             "{\"v\":1,\"seq\":0,\"ts\":\"2026-11-30T10:0%d:00Z\",\"type\":\"job-start\",\"facts\":%s,"
             "\"agent\":{\"version\":\"0.1.0\",\"triple\":\"aarch64-linux-gnu\"}}",
             (int)j, facts);
    cr_assert_eq(assay_store_job_event(lab.store, j, 1, 0, "job-start", ev), 0, "%s", assay_error_last()->message);
    assay_lab_close(&lab);
}

/* The comparison entry of field `f` in the last answer's "comparison". */
static const cJSON *compared_field(const cJSON *o, const char *f)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "comparison"))
        if (!strcmp(assay_json_str(c, "field"), f))
            return c;
    return NULL;
}

/* A host's facts against its profile: what the newest job that started on
 * it measured, compared by the rules of `assay host check` (the mismatches
 * are exactly check_facts' differences), for engineers and admins only. */
Test(serve, a_host_shows_its_last_facts_against_its_profile, .timeout = 300)
{
    char acme[72], eng[72], root[72], id[80], req[256];
    sv_fresh("hostfacts");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(eng, "alice", "engineer", NULL);
    sv_account(root, "root", "admin", NULL);
    sv_start("", "");
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && ssh-keygen -q -t ed25519 -N '' -f k && for h in kp1 kp2; do " SV_ASSAY
                        " --lab %s host add $h --profile kunpeng-920-kylin-v10 --address 127.0.0.1:1 --user u "
                        "--identity %s/k --trust-on-first-use || exit 1; done",
                        sv_dir, sv_lab, sv_dir),
                 0, "%s", sv_out);
    cr_assert_eq(sv_http(acme, "/api/v1/packages?name=hello.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"), 201,
                 "%s", sv_body);
    sv_member(id, sizeof id, "id");
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10\"}", id);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);

    /* No job has started on either host: no facts yet. */
    cr_assert_eq(sv_http(eng, "/api/v1/hosts/kp1", " "), 200, "%s", sv_body);
    cJSON *o = cJSON_Parse(sv_body);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "facts")) && cJSON_IsNull(cJSON_GetObjectItem(o, "comparison")),
              "%s", sv_body);
    cr_assert_str_eq(assay_json_str(o, "profile"), "kunpeng-920-kylin-v10");
    cJSON_Delete(o);

    /* Job 1 starts on kp1: the CPU, OS and kernel series are the profile's;
     * glibc, the page size and real hardware are not. */
    const char *facts1 = "{\"arch\":\"aarch64\",\"cpu\":{\"family\":\"kunpeng\",\"model\":\"HiSilicon Kunpeng 920 "
                         "<b>\"},\"os\":{\"id\":\"kylin\",\"version_id\":\"V10\"},\"kernel\":{\"release\":"
                         "\"4.19.90-24.4.v2101.ky10.aarch64\"},\"glibc\":\"2.31\",\"page_size\":4096,"
                         "\"emulation\":{\"emulated\":true}}";
    job_start_with_facts(1, "kp1", facts1);
    cr_assert_eq(sv_http(eng, "/api/v1/hosts/kp1", " "), 200, "%s", sv_body);
    o = cJSON_Parse(sv_body);
    cr_assert_not_null(o, "%s", sv_body);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "facts_from"), "job")), 1, "%s",
                 sv_body);
    static const struct {
        const char *field, *profile, *host;
        int match;
    } want[] = {
        {"arch", "aarch64", "aarch64", 1},          {"cpu.family", "kunpeng", "kunpeng", 1},
        {"cpu.model", "Kunpeng 920", "HiSilicon Kunpeng 920 <b>", 1},
        {"os.id", "kylin", "kylin", 1},             {"os.version", "V10", "V10", 1},
        {"kernel", "4.19", "4.19", 1},              {"glibc", "2.28", "2.31", 0},
        {"page_size", "65536", "4096", 0},          {"emulation", "real hardware", "emulated", 0},
    };
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "comparison")), sizeof want / sizeof want[0], "%s",
                 sv_body);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const cJSON *c = compared_field(o, want[i].field);
        cr_assert_not_null(c, "no %s in %s", want[i].field, sv_body);
        cr_assert_str_eq(assay_json_str(c, "profile"), want[i].profile, "%s", want[i].field);
        cr_assert_str_eq(assay_json_str(c, "host"), want[i].host, "%s", want[i].field);
        cr_assert_eq(cJSON_IsTrue(cJSON_GetObjectItem(c, "match")), want[i].match, "%s", want[i].field);
    }
    /* The mismatches are `assay host check`'s differences for the same facts. */
    assay_lab lab;
    assay_profile *p = NULL;
    cJSON *f = cJSON_Parse(facts1), *diffs = NULL, *d;
    cr_assert_eq(assay_lab_open(&lab, sv_lab), 0);
    cr_assert_eq(assay_profile_load(&p, lab.profiles, "kunpeng-920-kylin-v10"), 0);
    cr_assert_eq(assay_profile_check_facts(&diffs, p, f), 0);
    size_t mismatches = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "comparison")) mismatches += !cJSON_IsTrue(cJSON_GetObjectItem(c, "match"));
    cr_assert_eq((size_t)cJSON_GetArraySize(diffs), mismatches);
    cJSON_ArrayForEach(d, diffs)
    {
        c = compared_field(o, assay_json_str(d, "field"));
        cr_assert(c && !cJSON_IsTrue(cJSON_GetObjectItem(c, "match")), "%s differs for host check",
                  assay_json_str(d, "field"));
        cr_assert_str_eq(assay_json_str(c, "severity"), assay_json_str(d, "severity"));
    }
    cJSON_Delete(diffs);
    cJSON_Delete(f);
    assay_profile_free(p);
    cJSON_Delete(o);

    /* Job 1 ends there; job 2 starts on kp1 with the profile's glibc: the
     * newest job's facts are the host's. kp2 still has none. */
    cr_assert_eq(assay_store_job_end(lab.store, 1, "passed", ""), 0, "%s", assay_error_last()->message);
    assay_lab_close(&lab);
    job_start_with_facts(2, "kp1",
                         "{\"arch\":\"aarch64\",\"cpu\":{\"family\":\"kunpeng\",\"model\":\"Kunpeng 920\"},"
                         "\"os\":{\"id\":\"kylin\",\"version_id\":\"V10\"},\"kernel\":{\"release\":\"4.19.90\"},"
                         "\"glibc\":\"2.28\",\"page_size\":65536,\"emulation\":{\"emulated\":false}}");
    cr_assert_eq(sv_http(root, "/api/v1/hosts/kp1", " "), 200, "%s", sv_body);
    o = cJSON_Parse(sv_body);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "facts_from"), "job")), 2, "%s",
                 sv_body);
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(o, "comparison"))
        cr_assert(cJSON_IsTrue(cJSON_GetObjectItem(c, "match")), "%s: %s", assay_json_str(c, "field"), sv_body);
    cJSON_Delete(o);
    cr_assert_eq(sv_http(eng, "/api/v1/hosts/kp2", " "), 200, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"facts\":null"), "%s", sv_body);

    /* Only the centre's staff: a vendor gets the 404 of no host at all. */
    cr_assert_eq(sv_http(acme, "/api/v1/hosts/kp1", " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/hosts/nosuch", " "), 404, "%s", sv_body);
    cr_assert_eq(sv_http(NULL, "/api/v1/hosts/kp1", " "), 401, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/hosts/kp1", "-X POST -d '{}'"), 405, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/hosts/kp1/x", " "), 404, "%s", sv_body);
    sv_stop();
}
