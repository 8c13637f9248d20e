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
#include "serve.h"
#include "store.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define A ASSAY_BINARY_DIR "/assay"
#define CORPUS ASSAY_BINARY_DIR "/corpus"

static char dir[512], labdir[600], url[64];
static pid_t server = -1;
static char out[1 << 16];

/* A fresh folder and lab for one test. */
static void fresh(const char *name)
{
    snprintf(dir, sizeof dir, "%s/serve-%s", ASSAY_BINARY_DIR, name);
    snprintf(labdir, sizeof labdir, "%s/lab", dir);
    cr_assert_eq(th_run(out, sizeof out, "rm -rf %s && mkdir -p %s", dir, dir), 0, "%s", out);
    cr_assert_eq(assay_lab_init(labdir, ASSAY_KEY_ED25519, "Test Centre 测试中心"), 0, "%s",
                 assay_error_last()->message);
}

/* Start `assay serve` on `listen` with extra arguments; url gets its
 * address. Waits for the line that says it listens (progress, not time). */
static void start_on(const char *listen, const char *extra)
{
    int p[2];
    pid_t parent = getpid();
    cr_assert_eq(pipe(p), 0);
    server = fork();
    cr_assert_neq(server, -1);
    if (server == 0) {
        /* Die with the test, even when the test is killed. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        char log[700], cmd[2048];
        snprintf(log, sizeof log, "%s/serve.log", dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(p[1], 1);
        dup2(fd, 2);
        close(p[0]);
        snprintf(cmd, sizeof cmd, "exec %s --lab %s serve --listen '%s' %s", A, labdir, listen, extra);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[256] = "";
    cr_assert(fgets(line, sizeof line, f), "the server said nothing: %s",
              (th_run(out, sizeof out, "cat %s/serve.log", dir), out));
    fclose(f);
    char host[64] = "";
    unsigned port = 0;
    cr_assert_eq(sscanf(line, "assay serve: listening on http://%63[^\n]", host), 1, "%s", line);
    char *colon = strrchr(host, ':');
    cr_assert_not_null(colon, "%s", line);
    *colon = 0;
    cr_assert_eq(sscanf(colon + 1, "%u", &port), 1, "%s", line);
    cr_assert(port > 0 && port < 65536);
    snprintf(url, sizeof url, "http://%s:%u", host, port);
}

/* On 127.0.0.1, a free port. */
static void start(const char *extra)
{
    start_on("127.0.0.1:0", extra);
    cr_assert(!strncmp(url, "http://127.0.0.1:", 17), "%s", url);
}

static void stop(void)
{
    int st;
    cr_assert_eq(kill(server, SIGTERM), 0);
    cr_assert_eq(waitpid(server, &st, 0), server);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "assay serve ended with status %d", st);
    server = -1;
    /* The server's stderr is its log: a sanitizer's report there fails the test. */
    cr_assert_eq(th_run(out, sizeof out, "grep -E 'Sanitizer|runtime error' %s/serve.log", dir), 1, "%s", out);
    /* No token ever reaches the log. */
    cr_assert_eq(th_run(out, sizeof out, "grep -c assay_ %s/serve.log", dir), 1, "a token in the log: %s", out);
}

/* A user with a token; the token goes to tok (72 bytes). */
static void account(char *tok, const char *name, const char *role, const char *org)
{
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user add %s --role %s %s%s", labdir, name, role,
                        org ? "--org " : "", org ? org : ""),
                 0, "%s", out);
    cr_assert_eq(th_run(tok, 72, A " --lab %s token create %s", labdir, name), 0, "%s", tok);
    tok[strcspn(tok, "\n")] = 0;
    cr_assert_eq(strlen(tok), 70, "%s", tok);
}

/*
 * One request with curl: `args` are curl arguments after the URL's path
 * (the path is appended to url). The body goes to body (capped), the
 * status is returned (0 if curl could not talk to the server at all).
 */
static char body[1 << 16];
static int http(const char *tok, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int http(const char *tok, const char *path, const char *fmt, ...)
{
    char args[4096], auth[128] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    if (tok)
        snprintf(auth, sizeof auth, "-H 'Authorization: Bearer %s'", tok);
    body[0] = 0;
    th_run(out, sizeof out, "curl -gsS --path-as-is -o %s/resp -w '%%{http_code}' %s %s '%s%s'", dir, auth, args, url,
           path);
    char rp[700];
    snprintf(rp, sizeof rp, "%s/resp", dir);
    char *b = th_slurp(rp, NULL);
    if (b) {
        snprintf(body, sizeof body, "%s", b);
        free(b);
        unlink(rp);
    }
    return (int)strtol(out, NULL, 10);
}

/* A JSON string member of body, copied into v. */
static const char *member(char *v, size_t len, const char *name)
{
    cJSON *o = cJSON_Parse(body);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsString(x))
        snprintf(v, len, "%s", x->valuestring);
    else if (cJSON_IsNumber(x))
        snprintf(v, len, "%.0f", x->valuedouble);
    else
        v[0] = 0;
    cJSON_Delete(o);
    return v;
}

/* Job j of run 1 goes to a host and starts (event 0), through the store
 * as the dispatcher would. */
static void job_start(int64_t j)
{
    assay_lab lab;
    char ev[512];
    cr_assert_eq(assay_lab_open(&lab, labdir), 0);
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
    cr_assert_eq(assay_lab_open(&lab, labdir), 0);
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
    cr_assert_eq(http(vendor, "/api/v1/packages?name=hello.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"), 201,
                 "%s", body);
    member(id, 80, "id");
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20\"}", id);
    cr_assert_eq(http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", body);
}

/* Wait until run `run` exists in the store (a script submitted it). */
static void wait_for_run(int64_t run)
{
    assay_lab lab;
    cJSON *r = NULL;
    cr_assert_eq(assay_lab_open(&lab, labdir), 0);
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

static int staged_files(void)
{
    char p[700];
    snprintf(p, sizeof p, "%s/serve-staging", labdir);
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

Test(serve, a_vendor_uploads_an_engineer_runs_the_report_verifies_and_another_vendor_sees_nothing, .timeout = 300)
{
    char acme[72], globex[72], eng[72], id[80], v[128], path[256];
    fresh("e2e");
    account(acme, "acme", "vendor", "acme");
    account(globex, "globex", "vendor", "globex");
    account(eng, "alice", "engineer", NULL);
    start("");

    cr_assert_eq(http(NULL, "/healthz", " "), 200, "%s", body);
    cr_assert_eq(http(acme, "/api/v1/whoami", " "), 200);
    cr_assert_str_eq(member(v, sizeof v, "org"), "acme");

    /* The vendor uploads a real submission; the same bytes again change nothing. */
    cr_assert_eq(http(acme, "/api/v1/packages?name=hello-1.0.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"),
                 201, "%s", body);
    member(id, sizeof id, "id");
    cr_assert_eq(strlen(id), 64, "%s", body);
    cr_assert(strstr(body, "\"added\":true"), "%s", body);
    cr_assert_eq(http(acme, "/api/v1/packages?name=hello-1.0.tar.gz", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"),
                 200, "%s", body);
    cr_assert(strstr(body, "\"added\":false"), "%s", body);
    cr_assert_eq(http(acme, "/api/v1/packages", " "), 200);
    cr_assert(strstr(body, id) && strstr(body, "\"file_name\":\"hello-1.0.tar.gz\""), "%s", body);
    snprintf(path, sizeof path, "/api/v1/packages/%.12s", id);
    cr_assert_eq(http(acme, path, " "), 200, "%s", body);
    cr_assert(strstr(body, "\"preflight\":{"), "%s", body);
    cr_assert_eq(staged_files(), 0, "the staged upload is gone");

    /* The other vendor: nothing of it, the same 404 as for nothing at all. */
    cr_assert_eq(http(globex, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(body, "[]");
    cr_assert_eq(http(globex, path, " "), 404, "%s", body);
    cr_assert_eq(http(globex, "/api/v1/packages/0123456789abcdef", " "), 404);

    /* Vendors do not queue runs; engineers do. */
    char req[256];
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20\"}", id);
    cr_assert_eq(http(acme, "/api/v1/runs", "-H 'Content-Type: application/json' -d '%s'", req), 403, "%s", body);
    cr_assert_eq(http(eng, "/api/v1/runs", "-H 'Content-Type: application/json' -d '%s'", req), 201, "%s", body);
    cr_assert_str_eq(member(v, sizeof v, "run"), "1");
    /* A target the package has nothing for is refused, as run submit does. */
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"loongson-3a5000-uos-20\"}", id);
    cr_assert_eq(http(eng, "/api/v1/runs", "-d '%s'", req), 422, "%s", body);
    cr_assert(strstr(body, "can never run"), "%s", body);

    cr_assert_eq(http(acme, "/api/v1/runs/1", " "), 200, "%s", body);
    cr_assert(strstr(body, "\"job_list\":[") && strstr(body, "kunpeng-920-kylin-v10"), "%s", body);
    cr_assert_eq(http(acme, "/api/v1/runs/1/report", " "), 409, "a report of a run still queued: %s", body);
    cr_assert_eq(http(acme, "/api/v1/runs", " "), 200);
    cr_assert(strstr(body, "\"id\":1"), "%s", body);

    /* Every route that names run 1, for the other vendor: 404. */
    static const char *const other[] = {"/api/v1/runs/1", "/api/v1/runs/1/report", "/api/v1/runs/1/report?format=html"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        cr_assert_eq(http(globex, other[i], " "), 404, "%s: %s", other[i], body);
    cr_assert_eq(http(globex, "/api/v1/runs/1/cancel", "-X POST"), 404, "%s", body);
    cr_assert_eq(http(globex, "/api/v1/runs", " "), 200);
    cr_assert_str_eq(body, "[]");
    cr_assert_eq(http(acme, "/api/v1/runs/1/cancel", "-X POST"), 403, "its own run, but not its to stop: %s", body);
    cr_assert_eq(http(acme, "/api/v1/hosts", " "), 403);
    cr_assert_eq(http(eng, "/api/v1/hosts", " "), 200, "%s", body);

    /* The run's events, live over SSE: job 1 starts while the vendor
     * watches, then ends; the stream ends with it. */
    char cmd[1024], seen[16384] = "";
    snprintf(cmd, sizeof cmd, "curl -sSN -H 'Authorization: Bearer %s' '%s/api/v1/jobs/1/events'", acme, url);
    FILE *sse = popen(cmd, "r");
    cr_assert_not_null(sse);
    cr_assert_eq(http(globex, "/api/v1/jobs/1/events", " "), 404, "%s", body);
    job_start(1);
    cr_assert_eq(read_until(sse, "event: job-start", seen, sizeof seen), 0, "%s", seen);
    cr_assert(strstr(seen, "id: 1.0\n"), "%s", seen);
    job_finish(1);
    cr_assert_eq(read_until(sse, "event: end", seen, sizeof seen), 0, "%s", seen);
    cr_assert(strstr(seen, "id: 1.1\nevent: job-end\n"), "%s", seen);
    cr_assert_eq(pclose(sse), 0, "the stream ends when the job does");
    /* Resumed after event 1.0: only what came after it. */
    cr_assert_eq(http(acme, "/api/v1/jobs/1/events", "-H 'Last-Event-ID: 1.0'"), 200, "%s", body);
    cr_assert(!strstr(body, "job-start") && strstr(body, "id: 1.1\nevent: job-end\n") && strstr(body, "event: end\n"),
              "%s", body);
    cr_assert_eq(http(acme, "/api/v1/jobs/1/events", "-H 'Last-Event-ID: x'"), 400, "%s", body);
    job_start(2);
    job_finish(2);

    /* The run has ended; the vendor downloads the signed report, which
     * verifies with assay and with the API. */
    char rep[700];
    snprintf(rep, sizeof rep, "%s/report.json", dir);
    cr_assert_eq(th_run(out, sizeof out, "curl -fsS -H 'Authorization: Bearer %s' -o %s '%s/api/v1/runs/1/report'",
                        acme, rep, url),
                 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && " A " --lab %s key export --public lab.pub.pem && " A
                                         " verify report.json --pubkey lab.pub.pem",
                        dir, labdir),
                 0, "%s", out);
    cr_assert(strstr(out, "valid: report"), "%s", out);
    cr_assert_eq(http(NULL, "/api/v1/verify", "--data-binary @%s", rep), 200, "%s", body);
    cr_assert(strstr(body, "\"valid\":true"), "%s", body);
    /* One changed byte of the signature: refused. */
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s && sed 's/\"sig\":\"\\(.\\)/\"sig\":\"A\\1/' report.json > bad.json && ! cmp -s bad.json report.json",
                        dir),
                 0, "%s", out);
    cr_assert_eq(http(NULL, "/api/v1/verify", "--data-binary @%s/bad.json", dir), 422, "%s", body);
    cr_assert_eq(http(acme, "/api/v1/runs/1/report?format=html", " "), 200);
    cr_assert(strstr(body, "<html"), "%.200s", body);
    cr_assert_eq(http(acme, "/api/v1/runs/1/report?format=md", " "), 200);
    cr_assert_eq(http(acme, "/api/v1/runs/1/report?format=pdf", " "), 400);
    cr_assert_eq(http(globex, "/api/v1/runs/1/report", " "), 404);

    /* A job: its events and logs, whole or by range; for the vendor, not
     * for the other one. */
    cr_assert_eq(http(acme, "/api/v1/jobs/1", " "), 200, "%s", body);
    cr_assert(strstr(body, "\"type\":\"job-end\"") && strstr(body, "logs/runs.1.stdout"), "%s", body);
    cr_assert_eq(http(acme, "/api/v1/jobs/1?from=1", " "), 200, "%s", body);
    cr_assert(!strstr(body, "\"type\":\"job-start\""), "from=1 leaves out event 0: %s", body);
    cr_assert_eq(http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", " "), 200, "%s", body);
    cr_assert_str_eq(body, "starting\nerror: <bad> input\n");
    cr_assert_eq(http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=9-'"), 206, "%s", body);
    cr_assert_str_eq(body, "error: <bad> input\n");
    cr_assert_eq(http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=-6'"), 206, "%s", body);
    cr_assert_str_eq(body, "input\n");
    cr_assert_eq(http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=0-7'"), 206, "%s", body);
    cr_assert_str_eq(body, "starting");
    cr_assert_eq(http(acme, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", "-H 'Range: bytes=999-'"), 416, "%s", body);
    cr_assert_eq(http(acme, "/api/v1/jobs/1/log?path=../../assay.db", " "), 404, "%s", body);
    cr_assert_eq(http(acme, "/api/v1/jobs/1/log", " "), 400, "%s", body);
    cr_assert_eq(http(globex, "/api/v1/jobs/1", " "), 404, "%s", body);
    cr_assert_eq(http(globex, "/api/v1/jobs/1/log?path=logs/runs.1.stdout", " "), 404, "%s", body);
    cr_assert_eq(http(acme, "/api/v1/jobs/99", " "), 404, "%s", body);

    /* A stream still waiting when the server stops ends cleanly. */
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10\"}", id);
    cr_assert_eq(http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", body);
    snprintf(cmd, sizeof cmd, "curl -sSN -H 'Authorization: Bearer %s' '%s/api/v1/jobs/3/events'", eng, url);
    FILE *waiting = popen(cmd, "r");
    seen[0] = 0;
    cr_assert_eq(read_until(waiting, ": job 3", seen, sizeof seen), 0, "%s", seen);

    /* A revoked token and a disabled account stop at once. */
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s token revoke globex", labdir), 0, "%s", out);
    cr_assert_eq(http(globex, "/api/v1/whoami", " "), 401);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user disable acme", labdir), 0, "%s", out);
    cr_assert_eq(http(acme, "/api/v1/runs/1", " "), 401);
    cr_assert_eq(http(eng, "/api/v1/runs/1/cancel", "-X POST"), 409, "an ended run: %s", body);
    stop();
    cr_assert_eq(read_until(waiting, "never", seen, sizeof seen), -1);
    cr_assert_eq(pclose(waiting), 0, "the waiting stream ended cleanly: %s", seen);
}

/* Connect to the server, send `head` and nothing more; the socket. */
static int raw(const char *head)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    unsigned port = 0;
    sscanf(url, "http://127.0.0.1:%u", &port);
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    return fd;
}

Test(serve, hostile_requests_get_a_clear_answer_and_lose_nothing, .timeout = 300)
{
    char eng[72], acme[72];
    fresh("hostile");
    account(eng, "alice", "engineer", NULL);
    account(acme, "acme", "vendor", "acme");
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s config set ingest.max_submission_bytes 100000", labdir), 0, "%s",
                 out);
    start("--timeout 2");

    /* No token, a made-up one, a malformed header. */
    cr_assert_eq(http(NULL, "/api/v1/packages", " "), 401);
    cr_assert(strstr(body, "\"status\":401"), "%s", body);
    cr_assert_eq(http("assay_0000000000000000000000000000000000000000000000000000000000000000", "/api/v1/packages", " "),
                 401);
    cr_assert_eq(http(NULL, "/api/v1/packages", "-H 'Authorization: Basic YTpi'"), 401);

    /* Too big: refused from Content-Length before the body; chunked, when
     * it passes the cap. Nothing staged stays. */
    cr_assert_eq(th_run(out, sizeof out, "head -c 200000 /dev/urandom > %s/big", dir), 0);
    cr_assert_eq(http(acme, "/api/v1/packages", "--data-binary @%s/big", dir), 413, "%s", body);
    cr_assert(strstr(body, "ingest.max_submission_bytes"), "%s", body);
    cr_assert_eq(http(acme, "/api/v1/packages", "-H 'Transfer-Encoding: chunked' --data-binary @%s/big", dir), 413,
                 "%s", body);
    cr_assert_eq(http(eng, "/api/v1/runs", "-H 'Transfer-Encoding: chunked' --data-binary @%s/big", dir), 413, "%s",
                 body);
    cr_assert_eq(staged_files(), 0);

    /* Bad JSON, a JSON bomb, the wrong types. */
    cr_assert_eq(http(eng, "/api/v1/runs", "-d '{\"package\":'"), 400, "%s", body);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && python3 -c \"print('['*30000 + ']'*30000)\" > bomb.json", dir), 0);
    cr_assert_eq(http(eng, "/api/v1/runs", "--data-binary @%s/bomb.json", dir), 400, "%s", body);
    cr_assert_eq(http(eng, "/api/v1/runs", "-d '{\"package\":7,\"profiles\":[]}'"), 422, "%s", body);
    cr_assert_eq(http(eng, "/api/v1/runs", "-d '{\"package\":\"0123456789abcdef\",\"profiles\":\"all\",\"priority\":1e9}'"),
                 422, "%s", body);
    cr_assert_eq(http(eng, "/api/v1/runs", "-d '{\"package\":\"0123456789abcdef\",\"profiles\":\"all\"}'"), 404, "%s",
                 body);

    /* Paths: traversal, encoded slashes, non-UTF-8, nonsense ids. */
    static const char *const paths[] = {
        "/api/v1/packages/..%2F..%2Fetc%2Fpasswd", "/api/v1/packages/../../../etc/passwd", "/../../etc/passwd",
        "/api/v1/runs/1%2F..%2F..%2Fhosts", "/api/v1/runs/%ff%fe", "/api/v1/runs/-1", "/api/v1/runs/99999999999999999999",
        "/api/v1/packages/%00%00%00%00%00%00%00%00", "/api/v2/packages", "/api/v1/runs/1/report/../../hosts",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int st = http(eng, paths[i], " ");
        cr_assert(st == 404 || st == 400, "%s: %d %s", paths[i], st, body);
    }
    cr_assert_eq(http(eng, "/api/v1/packages?name=../../x", "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"), 400, "%s",
                 body);
    cr_assert_eq(http(eng, "/api/v1/packages", "-X DELETE"), 405);

    /* Oversized headers: refused, and the server goes on serving. */
    cr_assert_eq(th_run(out, sizeof out, "(printf 'X-Big: '; head -c 100000 /dev/zero | tr '\\0' a) > %s/hdr", dir), 0);
    int st = http(eng, "/api/v1/packages", "-H @%s/hdr", dir);
    cr_assert(st == 0 || st == 413 || st == 431 || st == 400, "%d", st);

    /* A body that ends early: the staged file goes when the connection does. */
    int fd = raw("POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ");
    cr_assert_eq(write(fd, acme, strlen(acme)), (ssize_t)strlen(acme));
    const char *rest = "\r\nContent-Length: 5000\r\n\r\n0123456789";
    cr_assert_eq(write(fd, rest, strlen(rest)), (ssize_t)strlen(rest));
    close(fd);
    /* A slowloris: half a request line and silence; the server closes it
     * after --timeout while others are served. */
    fd = raw("GET /api/v1/whoami HTTP/1.1\r\nHo");
    cr_assert_eq(http(NULL, "/healthz", " "), 200);
    struct pollfd pfd = {fd, POLLIN, 0};
    cr_assert_eq(poll(&pfd, 1, 30000), 1, "the slow connection was never closed");
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf);
    cr_assert(n >= 0, "read: %s", strerror(errno));
    close(fd);
    for (int i = 0; i < 300 && staged_files(); i++)
        poll(NULL, 0, 100); /* the server notices the closed upload on its own time */
    cr_assert_eq(staged_files(), 0, "a cut upload left its staging file");

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
    snprintf(cli_lab, sizeof cli_lab, "%s/cli-lab", dir);
    cr_assert_eq(assay_lab_init(cli_lab, ASSAY_KEY_ED25519, NULL), 0);
    /* Both labs with the same ingest limits, the entry cap low enough for
     * many-entries.tar.gz (as test_ingest sets it). */
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s config set ingest.max_entries 15 && " A
                                         " --lab %s config set ingest.max_entries 15", labdir, cli_lab), 0, "%s", out);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char f[600], detail[600], want[1200];
        snprintf(f, sizeof f, CORPUS "/%s", files[i]);
        if (access(f, R_OK) != 0)
            cr_assert_fail("%s is not in the corpus", f);
        st = http(acme, "/api/v1/packages?name=x.tar", "--data-binary @%s", f);
        cr_assert(st == 422 || st == 413, "%s: %d %s", files[i], st, body);
        member(detail, sizeof detail, "detail");
        cr_assert(detail[0], "%s: %s", files[i], body);
        th_run(out, sizeof out, A " --lab %s package add %s 2>&1", cli_lab, f);
        snprintf(want, sizeof want, "assay: package add %s: %s\n", f, detail);
        cr_assert_str_eq(out, want, "%s: the CLI and the API disagree", files[i]);
    }
    cr_assert_eq(http(acme, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(body, "[]");
    cr_assert_eq(http(eng, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(body, "[]");
    cr_assert_eq(access("/tmp/assay-escape", F_OK), -1, "something was written outside the store");
    cr_assert_eq(staged_files(), 0);
    cr_assert_eq(http(NULL, "/healthz", " "), 200, "still serving");
    stop();
}

/* A server killed during an upload: nothing of it visible, and its staged
 * file removed when the server starts again. */
Test(serve, killed_during_an_upload_leaves_nothing, .timeout = 120)
{
    char acme[72];
    fresh("kill");
    account(acme, "acme", "vendor", "acme");
    start("");
    int fd = raw("POST /api/v1/packages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ");
    cr_assert_eq(write(fd, acme, strlen(acme)), (ssize_t)strlen(acme));
    const char *rest = "\r\nContent-Length: 100000\r\n\r\n0123456789";
    cr_assert_eq(write(fd, rest, strlen(rest)), (ssize_t)strlen(rest));
    for (int i = 0; i < 300 && !staged_files(); i++)
        poll(NULL, 0, 20); /* until the server has staged the first bytes */
    cr_assert_eq(staged_files(), 1);
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    close(fd);
    cr_assert_eq(staged_files(), 1, "a killed server leaves its staging");
    start("");
    cr_assert_eq(staged_files(), 0, "a new server removes what the killed one staged");
    cr_assert_eq(http(acme, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(body, "[]");
    stop();
}

Test(serve, https_with_tls_cert_and_key, .timeout = 120)
{
    char acme[72];
    fresh("tls");
    account(acme, "acme", "vendor", "acme");
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                        "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out cert.pem 2>&1",
                        dir),
                 0, "%s", out);
    char extra[1400];
    snprintf(extra, sizeof extra, "--tls-cert %s/cert.pem --tls-key %s/key.pem", dir, dir);
    /* start() expects http://; read the https line here. */
    pid_t parent = getpid();
    int pp[2];
    cr_assert_eq(pipe(pp), 0);
    server = fork();
    if (server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        char cmd[2048];
        dup2(pp[1], 1);
        snprintf(cmd, sizeof cmd, "exec %s --lab %s serve --listen 127.0.0.1:0 %s 2>>%s/serve.log", A, labdir, extra,
                 dir);
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
    cr_assert_eq(th_run(out, sizeof out, "curl -fsS --cacert %s/cert.pem -H 'Authorization: Bearer %s' "
                                         "https://127.0.0.1:%u/api/v1/whoami",
                        dir, acme, port),
                 0, "%s", out);
    cr_assert(strstr(out, "\"org\":\"acme\""), "%s", out);
    cr_assert_neq(th_run(out, sizeof out, "curl -sS http://127.0.0.1:%u/healthz", port), 0, "plain HTTP is not served");
    stop();
}

/* docs/api.md's commands, as written, against a live server: the part
 * before the run ends, then (the run ended through the store) the rest. */
Test(serve, the_commands_of_api_md_run_as_written, .timeout = 300)
{
    fresh("docs");
    start("");
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s && cp " CORPUS "/ok-deb-rpm.tar.gz hello-1.0.tar.gz && "
                        "awk '/<!-- run-ended -->/{exit} /^```sh/{on=1;next} /^```/{on=0;next} on' %s/docs/api.md > "
                        "part1.sh && awk '/<!-- run-ended -->/{go=1} go&&/^```sh/{on=1;next} /^```/{on=0;next} on' "
                        "%s/docs/api.md > part2.sh && grep -c . part1.sh part2.sh",
                        dir, ASSAY_SOURCE_DIR, ASSAY_SOURCE_DIR),
                 0, "%s", out);
    cr_assert(strstr(out, "part1.sh:") && strstr(out, "part2.sh:9"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && PATH=%s:$PATH ASSAY_LAB=%s ASSAY_URL=%s sh -e part1.sh 2>&1", dir,
                        ASSAY_BINARY_DIR, labdir, url),
                 0, "%s", out);
    cr_assert(strstr(out, "queued"), "%s", out);
    finish_run();
    cr_assert_eq(th_run(out, sizeof out, "cd %s && PATH=%s:$PATH ASSAY_LAB=%s ASSAY_URL=%s sh -e part2.sh 2>&1", dir,
                        ASSAY_BINARY_DIR, labdir, url),
                 0, "%s", out);
    cr_assert(strstr(out, "true\n") && strstr(out, "valid: report") && strstr(out, "event: end"), "%s", out);
    stop();
}

/* The CLI's account commands refuse what they must. */
Test(serve, accounts_on_the_cli)
{
    fresh("cli");
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user add v --role vendor 2>&1", labdir), 1, "%s", out);
    cr_assert(strstr(out, "needs --org"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user add e --role engineer --org acme 2>&1", labdir), 1, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user add 'a b' --role engineer 2>&1", labdir), 1, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user add e --role root 2>&1", labdir), 1, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user add e --role engineer 2>&1", labdir), 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user add e --role engineer 2>&1", labdir), 1, "%s", out);
    cr_assert(strstr(out, "exists"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s token create nobody 2>&1", labdir), 1, "%s", out);
    char t1[128], t2[128];
    cr_assert_eq(th_run(t1, sizeof t1, A " --lab %s token create e", labdir), 0);
    cr_assert_eq(th_run(t2, sizeof t2, A " --lab %s token create e", labdir), 0);
    cr_assert_str_neq(t1, t2);
    /* Only hashes are stored. */
    t1[strcspn(t1, "\n")] = 0;
    cr_assert_eq(th_run(out, sizeof out, "grep -q %s %s/assay.db*", t1 + 6, labdir), 1, "the token is in the store");
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s user list --json", labdir), 0);
    cr_assert(strstr(out, "\"tokens\":\t2") || strstr(out, "\"tokens\": 2"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s token revoke e", labdir), 0);
    cr_assert(strstr(out, "2 token(s) of e revoked"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s serve --listen nowhere 2>&1", labdir), 1, "%s", out);
    cr_assert(strstr(out, "assay: serve: --listen"), "%s", out);
}

/* The CLI as a CI client: upload, submit, wait (exit code from the
 * verdict, as with a lab), report, all through the server. */
Test(serve, the_cli_talks_to_a_server_as_a_ci_job_would, .timeout = 300)
{
    char acme[72], globex[72], eng[72], local[4096];
    fresh("client");
    account(acme, "acme", "vendor", "acme");
    account(globex, "globex", "vendor", "globex");
    account(eng, "alice", "engineer", NULL);
    start("");
    char tf[700];
    snprintf(tf, sizeof tf, "%s/alice.token", dir);
    FILE *f = fopen(tf, "w");
    fprintf(f, "%s\n", eng);
    fclose(f);

    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=%s " A " --server %s/ package add " CORPUS "/ok-deb-rpm.tar.gz",
                        acme, url),
                 0, "%s", out);
    char id[80];
    snprintf(id, sizeof id, "%.64s", out);
    cr_assert_eq(strlen(id), 64, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --server %s --token-file %s run submit %.12s --profiles "
                                         "kunpeng-920-kylin-v10,zhaoxin-kx6000-uos-20",
                        url, tf, id),
                 0, "%s", out);
    cr_assert_str_eq(out, "1\n");
    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=%s " A " --server %s run submit %.12s --profiles all 2>&1", acme,
                        url, id),
                 1, "%s", out);
    cr_assert(strstr(out, "assay: run submit: only engineers and admins may do this (HTTP 403)"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=%s " A " --server %s run show 1 2>&1", globex, url), 1, "%s", out);
    cr_assert(strstr(out, "no run 1 (HTTP 404)"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --server %s run show 1 2>&1", url), 1, "%s", out);
    cr_assert(strstr(out, "no token"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=%s " A " --server %s host list 2>&1", acme, url), 2, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=%s " A " --server %s run wait 1 --timeout 1 2>&1", acme, url), 3,
                 "%s", out);

    /* A waiting CI job: it ends when the run does, by its verdict. */
    char cmd[1024], seen[4096] = "";
    snprintf(cmd, sizeof cmd, "ASSAY_TOKEN=%s " A " --server %s run wait 1 --json", acme, url);
    FILE *w = popen(cmd, "r");
    cr_assert_not_null(w);
    finish_run();
    read_until(w, "never", seen, sizeof seen);
    int st = pclose(w);
    int lrc = th_run(local, sizeof local, A " --lab %s run wait 1 --json", labdir);
    cr_assert(WIFEXITED(st), "%d", st);
    cr_assert_eq(WEXITSTATUS(st), lrc, "the server's run wait exits as the lab's: %s / %s", seen, local);
    cJSON *a = cJSON_Parse(seen), *b = cJSON_Parse(local);
    cr_assert(cJSON_Compare(a, b, 1), "%s\n%s", seen, local);
    cJSON_Delete(a);
    cJSON_Delete(b);

    cr_assert_eq(th_run(out, sizeof out, "cd %s && ASSAY_TOKEN=%s " A " --server %s report 1 -o report.json && " A
                                         " --lab %s key export --public lab.pub.pem && " A
                                         " verify report.json --pubkey lab.pub.pem",
                        dir, acme, url, labdir),
                 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && ASSAY_TOKEN=%s " A " --server %s report 1 -o other.json 2>&1", dir,
                        globex, url),
                 1, "%s", out);
    stop();
}

/* docs/ci.md's GitLab job and Jenkins pipeline, their shell lines as
 * written, against a live server: each waits for its run, which ends
 * meanwhile; each exits as `run wait` on the lab does, and leaves the
 * signed report and its JUnit form. */
Test(serve, the_ci_examples_of_ci_md_run_as_written, .timeout = 300)
{
    char ci[72];
    fresh("ci");
    account(ci, "ci", "engineer", NULL);
    start("");
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
    snprintf(af, sizeof af, "%s/gitlab.awk", dir);
    FILE *g = fopen(af, "w");
    fputs(gitlab_awk, g);
    fclose(g);
    snprintf(af, sizeof af, "%s/jenkins.awk", dir);
    g = fopen(af, "w");
    fputs(jenkins_awk, g);
    fclose(g);
    cr_assert_eq(th_run(out, sizeof out,
                        "cd %s && cp " CORPUS "/ok-deb-rpm.tar.gz hello-1.0.tar.gz && awk -f gitlab.awk %s/docs/ci.md "
                        "> gitlab.sh && awk -f jenkins.awk %s/docs/ci.md && grep -c . gitlab.sh jenkins-steps.sh "
                        "jenkins-post.sh",
                        dir, ASSAY_SOURCE_DIR, ASSAY_SOURCE_DIR),
                 0, "%s", out);
    cr_assert(strstr(out, "gitlab.sh:6") && strstr(out, "jenkins-steps.sh:3") && strstr(out, "jenkins-post.sh:2"), "%s",
              out);
    char env[1024], cmd[2048], seen[4096] = "", local[4096];
    snprintf(env, sizeof env, "cd %s && PATH=%s:$PATH ASSAY_URL=%s ASSAY_TOKEN=%s", dir, ASSAY_BINARY_DIR, url, ci);

    /* GitLab: one shell for the script's lines, as GitLab runs them. */
    snprintf(cmd, sizeof cmd, "%s sh -e gitlab.sh 2>&1", env);
    FILE *w = popen(cmd, "r");
    wait_for_run(1);
    finish_run_n(1);
    read_until(w, "never", seen, sizeof seen);
    int st = pclose(w);
    int lrc = th_run(local, sizeof local, A " --lab %s run wait 1", labdir);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == lrc, "gitlab job %d, run wait %d: %s", st, lrc, seen);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && " A " --lab %s key export --public lab.pub.pem && " A
                                         " verify report.json --pubkey lab.pub.pem && xmllint --noout report.xml",
                        dir, labdir),
                 0, "%s", out);

    /* Jenkins: each sh step its own shell; the post steps run always. */
    cr_assert_eq(th_run(out, sizeof out, "cd %s && rm -f report.json report.xml", dir), 0);
    snprintf(cmd, sizeof cmd, "%s sh -c 'while read -r l; do sh -ec \"$l\" || exit $?; done < jenkins-steps.sh' 2>&1",
             env);
    w = popen(cmd, "r");
    wait_for_run(2);
    finish_run_n(2);
    seen[0] = 0;
    read_until(w, "never", seen, sizeof seen);
    st = pclose(w);
    lrc = th_run(local, sizeof local, A " --lab %s run wait 2", labdir);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == lrc, "jenkins steps %d, run wait %d: %s", st, lrc, seen);
    cr_assert_eq(th_run(out, sizeof out, "%s sh -c 'while read -r l; do sh -ec \"$l\" || exit $?; done < jenkins-post.sh' "
                                         "2>&1 && " A " verify report.json --pubkey lab.pub.pem && xmllint --noout report.xml",
                        env),
                 0, "%s", out);
    stop();
}

/* Web logins: Argon2id passwords, a session cookie with the right flags,
 * CSRF on state changes, logout, and failed logins limited per account
 * and per address. */
Test(serve, web_logins_sessions_csrf_and_rate_limits, .timeout = 300)
{
    char eng[72];
    fresh("login");
    account(eng, "alice", "engineer", NULL);
    account(eng, "bob", "vendor", "acme");
    cr_assert_eq(th_run(out, sizeof out, "echo 'correct horse battery' | " A " --lab %s user passwd alice", labdir), 0,
                 "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "echo short | " A " --lab %s user passwd bob 2>&1", labdir), 1, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "grep -c 'correct horse' %s/assay.db*", labdir), 1, "the password is stored");
    start("");
    char jar[700], hdrs[700];
    snprintf(jar, sizeof jar, "%s/jar", dir);
    snprintf(hdrs, sizeof hdrs, "%s/headers", dir);

    cr_assert_eq(http(NULL, "/api/v1/login", "-d '{\"name\":\"alice\",\"password\":\"wrong one here\"}'"), 401,
                 "%s", body);
    cr_assert_eq(http(NULL, "/api/v1/login", "-d '{\"name\":\"nobody\",\"password\":\"correct horse battery\"}'"),
                 401, "%s", body);
    cr_assert_eq(http(NULL, "/api/v1/login", "-d '{\"name\":\"bob\",\"password\":\"correct horse battery\"}'"), 401,
                 "no password set: %s", body);
    cr_assert_eq(http(NULL, "/api/v1/login", "-D %s -c %s -d '{\"name\":\"alice\",\"password\":\"correct horse battery\"}'",
                      hdrs, jar),
                 200, "%s", body);
    char csrf[80];
    member(csrf, sizeof csrf, "csrf");
    cr_assert_eq(strlen(csrf), 64, "%s", body);
    cr_assert_eq(th_run(out, sizeof out, "grep -i '^set-cookie: assay_session=assay_' %s", hdrs), 0, "%s", out);
    cr_assert(strstr(out, "HttpOnly") && strstr(out, "Secure") && strstr(out, "SameSite=Strict"), "%s", out);

    /* The cookie reads; a change needs the CSRF token as well. */
    cr_assert_eq(http(NULL, "/api/v1/whoami", "-b %s", jar), 200, "%s", body);
    cr_assert(strstr(body, "\"alice\""), "%s", body);
    cr_assert_eq(http(NULL, "/api/v1/runs", "-b %s -d '{}'", jar), 403, "%s", body);
    cr_assert(strstr(body, "X-CSRF-Token"), "%s", body);
    cr_assert_eq(http(NULL, "/api/v1/runs", "-b %s -H 'X-CSRF-Token: %.63sx' -d '{}'", jar, csrf), 403, "%s", body);
    cr_assert_eq(http(NULL, "/api/v1/runs", "-b %s -H 'X-CSRF-Token: %s' -d '{}'", jar, csrf), 422, "%s", body);
    cr_assert_eq(http(NULL, "/api/v1/logout", "-b %s -H 'X-CSRF-Token: %s' -X POST", jar, csrf), 204, "%s", body);
    cr_assert_eq(http(NULL, "/api/v1/whoami", "-b %s", jar), 401, "a session ended is gone: %s", body);

    /* Five failures stop the account, even with its password (one came
     * above). */
    for (int i = 0; i < 4; i++)
        cr_assert_eq(http(NULL, "/api/v1/login", "-d '{\"name\":\"alice\",\"password\":\"wrong %d\"}'", i), 401);
    cr_assert_eq(http(NULL, "/api/v1/login", "-d '{\"name\":\"alice\",\"password\":\"correct horse battery\"}'"),
                 429, "%s", body);
    /* Twenty from one address stop the address, whatever the name (seven
     * came above). */
    for (int i = 0; i < 13; i++)
        cr_assert_eq(http(NULL, "/api/v1/login", "-d '{\"name\":\"x%d\",\"password\":\"p\"}'", i), 401);
    cr_assert_eq(http(NULL, "/api/v1/login", "-d '{\"name\":\"y\",\"password\":\"p\"}'"), 429, "%s", body);
    /* Tokens are not logins: they still work. */
    cr_assert_eq(http(eng, "/api/v1/whoami", " "), 200);
    cr_assert_eq(th_run(out, sizeof out, "grep -c 'correct horse' %s/serve.log", dir), 1, "a password in the log");
    stop();
}

/* docs/api.yaml is the server's route table: every operation there is
 * served, and every route the server has is there; every operation that
 * is not public refuses no one with 401; every operation on an object
 * answers another organisation's vendor 404 (an IDOR test per route,
 * generated from the document) and the owner's vendor something else. */
Test(serve, every_route_of_api_yaml_is_served_and_guarded, .timeout = 300)
{
    char acme[72], globex[72], eng[72], root[72], id[80], hook[32];
    fresh("openapi");
    account(acme, "acme", "vendor", "acme");
    account(globex, "globex", "vendor", "globex");
    account(eng, "alice", "engineer", NULL);
    account(root, "root", "admin", NULL);
    start("");
    uploaded_and_queued(acme, eng, id);
    finish_run();
    cr_assert_eq(http(root, "/api/v1/orgs/acme/webhooks", "-d '{\"url\":\"http://127.0.0.1:9/a\"}'"), 201, "%s", body);
    member(hook, sizeof hook, "id");

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
            } else {
                path[n] = *p++;
                path[n + 1] = 0;
            }
        }
        if (!strcmp(opid, "job-log"))
            strcat(path, "?path=logs/runs.1.stdout");
        const char *m = !strcmp(method, "POST") ? "-X POST -d '{}'" : !strcmp(method, "DELETE") ? "-X DELETE" : " ";
        int st = http(NULL, path, "%s", m);
        if (!strcmp(sec, "auth"))
            cr_assert_eq(st, 401, "%s %s with no one: %d %s", method, path, st, body);
        else
            cr_assert(st != 401 && st != 404 && st != 405, "%s %s is public: %d %s", method, path, st, body);
        if (!object)
            continue;
        st = http(globex, path, "%s", m);
        cr_assert_eq(st, 404, "%s %s by another organisation: %d %s", method, path, st, body);
        if (!strcmp(opid, "run-cancel"))
            st = http(eng, path, "%s", m); /* vendors do not cancel; the run has ended: 409 */
        else if (!strcmp(opid, "webhook-add"))
            st = http(root, path, "-d '{\"url\":\"http://127.0.0.1:9/b\"}'"); /* admins add hooks */
        else if (!strcmp(opid, "webhook-remove"))
            st = http(root, path, "%s", m); /* and remove them */
        else
            st = http(acme, path, "%s", m);
        cr_assert(st >= 200 && st < 300 ? 1 : st == 409, "%s %s by its owner: %d %s", method, path, st, body);
    }
    cr_assert_eq(seen, nroutes, "the server has %zu routes, docs/api.yaml %zu", nroutes, seen);
    stop();
}

/* cmake --install puts the systemd units of serve and dispatch in place,
 * and each names the assay it installs, with options assay knows. */
Test(serve, cmake_install_puts_the_systemd_units, .timeout = 300)
{
    fresh("install");
    cr_assert_eq(th_run(out, sizeof out, "DESTDIR=%s/root cmake --install %s > %s/install.log 2>&1", dir,
                        ASSAY_BINARY_DIR, dir),
                 0, "%s", (th_run(out, sizeof out, "tail -5 %s/install.log", dir), out));
    static const char *const units[] = {"assay-serve", "assay-dispatch"};
    for (size_t i = 0; i < 2; i++) {
        char exec[1024] = "", bin[600], args[400];
        cr_assert_eq(th_run(exec, sizeof exec, "cd %s/root && sed -n 's/^ExecStart=//p' $(find . -name %s.service)", dir,
                            units[i]),
                     0, "%s", exec);
        cr_assert_eq(sscanf(exec, "%599s %399[^\n]", bin, args), 2, "%s: %s", units[i], exec);
        cr_assert_eq(th_run(out, sizeof out, "test -x %s/root%s", dir, bin), 0, "%s: %s is not installed", units[i], bin);
        /* The options are the command table's: a typo would be refused. */
        char *sub = strchr(args, ' ');
        cr_assert_not_null(sub);
        *sub = 0;
        char optw[64];
        cr_assert_eq(sscanf(sub + 1, "%63s", optw), 1);
        cr_assert_eq(th_run(out, sizeof out, "%s/root%s help %s | grep -c -- '%s '", dir, bin, args, optw), 0, "%s: %s",
                     units[i], out);
    }
}

/* Wait until the server's log has a line holding `what`. */
static void wait_log(const char *what)
{
    for (int i = 0; i < 1200; i++) {
        if (th_run(out, sizeof out, "grep -qF '%s' %s/serve.log", what, dir) == 0)
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
    fresh("ipv6");
    account(acme, "acme", "vendor", "acme");
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s serve --listen '[::1:0' 2>&1", labdir), 1, "%s", out);
    cr_assert(strstr(out, "[ADDR]:PORT"), "%s", out);
    start_on("[::1]:0", "");
    cr_assert(!strncmp(url, "http://[::1]:", 13), "%s", url);
    cr_assert_eq(http(acme, "/api/v1/whoami", " "), 200, "%s", body);
    wait_log("\"client\":\"::1\",\"route\":\"whoami\""); /* written once the answer is sent */
    /* [::1] is IPv6 only: 127.0.0.1 on its port does not reach it (nothing
     * does, or some other program that took that IPv4 port). */
    char v4[64];
    snprintf(v4, sizeof v4, "http://127.0.0.1:%s", strrchr(url, ':') + 1);
    th_run(out, sizeof out, "curl -sS -m 5 -o /dev/null %s/healthz 2>&1", v4);
    stop();
    /* Once it has ended, its log is whole. */
    cr_assert_eq(th_run(out, sizeof out, "grep -c 127.0.0.1 %s/serve.log", dir), 1, "%s", out);

    cr_assert_eq(th_run(out, sizeof out, "rm %s/serve.log", dir), 0);
    start_on("[::]:0", "");
    cr_assert(!strncmp(url, "http://[::]:", 12), "%s", url);
    char port[8];
    snprintf(port, sizeof port, "%s", strrchr(url, ':') + 1);
    snprintf(url, sizeof url, "http://[::1]:%s", port);
    cr_assert_eq(http(acme, "/api/v1/whoami", " "), 200, "over IPv6: %s", body);
    snprintf(url, sizeof url, "http://127.0.0.1:%s", port);
    cr_assert_eq(http(acme, "/api/v1/whoami", " "), 200, "over IPv4, dual stack: %s", body);
    wait_log("\"client\":\"::1\",");
    wait_log("\"client\":\"::ffff:127.0.0.1\",");
    stop();
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
    snprintf(f, sizeof f, "%s/receiver.py", dir);
    FILE *o = fopen(f, "w");
    cr_assert_not_null(o);
    fputs(py, o);
    fclose(o);
    snprintf(cmd, sizeof cmd, "exec python3 %s %s %s", f, dir, codes);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_eq(fscanf(p, "%u", port), 1, "the receiver did not start");
    return p;
}

/* A header's value from a saved req-N.head, into v. */
static const char *saved_header(char *v, size_t len, int n, const char *name)
{
    cr_assert_eq(th_run(v, len, "sed -n 's/^%s: //p' %s/req-%d.head | tr -d '\\r\\n'", name, dir, n), 0);
    return v;
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
    fresh("webhooks");
    account(acme, "acme", "vendor", "acme");
    account(globex, "globex", "vendor", "globex");
    account(eng, "alice", "engineer", NULL);
    account(root, "root", "admin", NULL);
    FILE *rx = receiver("302,500,200", &port);
    start("--webhook-backoff 1");

    /* Who may add and see hooks. */
    char add[256];
    snprintf(add, sizeof add, "-d '{\"url\":\"http://127.0.0.1:%u/acme-hook?k=v\"}'", port);
    cr_assert_eq(http(globex, "/api/v1/orgs/acme/webhooks", "%s", add), 404, "another organisation: %s", body);
    cr_assert_eq(http(acme, "/api/v1/orgs/acme/webhooks", "%s", add), 403, "a vendor adds none: %s", body);
    cr_assert_eq(http(eng, "/api/v1/orgs/acme/webhooks", "%s", add), 403, "nor does an engineer: %s", body);
    cr_assert_eq(http(root, "/api/v1/orgs/acme/webhooks", "-d '{\"url\":\"ftp://127.0.0.1/x\"}'"), 422, "%s", body);
    cr_assert_eq(http(root, "/api/v1/orgs/acme/webhooks", "%s", add), 201, "%s", body);
    member(secret, sizeof secret, "secret");
    member(hook, sizeof hook, "id");
    cr_assert_eq(strlen(secret), 70, "%s", body);
    cr_assert(!strncmp(secret, "whsec_", 6), "%s", secret);
    cr_assert_eq(http(acme, "/api/v1/orgs/acme/webhooks", " "), 200, "%s", body);
    cr_assert(strstr(body, "acme-hook") && !strstr(body, secret) && !strstr(body, "secret"), "%s", body);
    cr_assert_eq(http(globex, "/api/v1/orgs/acme/webhooks", " "), 404, "%s", body);
    snprintf(path, sizeof path, "/api/v1/orgs/acme/webhooks/%s/deliveries", hook);
    cr_assert_eq(http(globex, path, " "), 404, "%s", body);
    cr_assert_eq(http(globex, "/api/v1/orgs/globex/webhooks/1/deliveries", " "), 404, "not globex's hook: %s", body);
    /* The CLI: a hook of globex, which must hear nothing of acme's run. */
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s webhook add globex http://127.0.0.1:%u/globex-hook", labdir,
                        port),
                 0, "%s", out);
    cr_assert(strstr(out, "webhook 2 of globex") && strstr(out, "whsec_"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s webhook add globex 'http://x y' 2>&1", labdir), 1, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s webhook list", labdir), 0, "%s", out);
    cr_assert(strstr(out, "acme-hook") && strstr(out, "globex-hook") && !strstr(out, "whsec_"), "%s", out);

    /* A run of acme's package ends. */
    uploaded_and_queued(acme, eng, id);
    finish_run();

    /* The receiver exits after its three requests: a redirect (not
     * followed: the next request is a retry to the hook itself), 500,
     * then 200. */
    cr_assert_eq(pclose(rx), 0);
    cr_assert_eq(th_run(out, sizeof out, "head -qn1 %s/req-1.head %s/req-2.head %s/req-3.head", dir, dir, dir), 0, "%s",
                 out);
    cr_assert_str_eq(out, "/acme-hook?k=v\n/acme-hook?k=v\n/acme-hook?k=v\n");
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
    snprintf(bp, sizeof bp, "%s/req-3.body", dir);
    char *pl = th_slurp(bp, NULL);
    cJSON *o = cJSON_Parse(pl);
    cr_assert_not_null(o, "%s", pl);
    cr_assert_str_eq(assay_json_str(o, "event"), "run.ended");
    cr_assert_str_eq(assay_json_str(o, "delivery"), d1);
    cr_assert_eq(assay_json_num(o, "run"), 1);
    cr_assert_str_eq(assay_json_str(o, "package"), id);
    cr_assert_str_eq(assay_json_str(o, "state"), "done");
    cr_assert(cJSON_IsBool(cJSON_GetObjectItem(o, "certified")), "%s", pl);
    snprintf(v, sizeof v, "%s/api/v1/runs/1/report", url);
    cr_assert_str_eq(assay_json_str(o, "report_url"), v);
    cJSON_Delete(o);
    /* The verdict and certified are those of the run as the server shows it. */
    cr_assert_eq(http(acme, "/api/v1/runs/1", " "), 200);
    o = cJSON_Parse(pl);
    cJSON *run = cJSON_Parse(body);
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
    snprintf(af, sizeof af, "%s/check.awk", dir);
    FILE *g = fopen(af, "w");
    fputs(awk, g);
    fclose(g);
    cr_assert_eq(th_run(out, sizeof out, "cd %s && awk -f check.awk %s/docs/api.md > check.sh && grep -c . check.sh", dir,
                        ASSAY_SOURCE_DIR),
                 0, "%s", out);
    cr_assert_str_eq(out, "2\n", "the check is two lines");
    cr_assert_eq(th_run(out, sizeof out, "cd %s && cp req-3.body body.json && TS=%s SIG=%s SECRET=%s sh check.sh", dir, ts,
                        sig, secret),
                 0, "%s", out);
    cr_assert_str_eq(out, "verified\n");
    cr_assert_neq(th_run(out, sizeof out, "cd %s && sed 's/\"run\":1/\"run\":2/' req-3.body > body.json && "
                                          "TS=%s SIG=%s SECRET=%s sh check.sh", dir, ts, sig, secret),
                  0, "a changed body verified: %s", out);
    cr_assert_neq(th_run(out, sizeof out, "cd %s && cp req-3.body body.json && TS=%s SIG=%s SECRET=whsec_other sh check.sh",
                         dir, ts, sig),
                  0, "another secret verified: %s", out);

    /* The record: delivered on the third try; the last failure's status
     * and a plain, capped excerpt of its answer kept. The receiver has
     * answered; wait until the server has recorded it. */
    int delivered = 0;
    for (int i = 0; i < 600 && !delivered; i++) {
        cr_assert_eq(http(acme, path, " "), 200, "%s", body);
        delivered = strstr(body, "\"status\":\"delivered\"") != NULL;
        if (!delivered)
            poll(NULL, 0, 50);
    }
    cr_assert(delivered, "%s", body);
    cJSON *l = cJSON_Parse(body);
    cr_assert_eq(cJSON_GetArraySize(l), 1, "%s", body);
    cJSON *d = cJSON_GetArrayItem(l, 0);
    cr_assert_str_eq(assay_json_str(d, "id"), d1);
    cr_assert_eq(assay_json_num(d, "run"), 1);
    cr_assert_eq(assay_json_num(d, "attempts"), 3, "%s", body);
    cr_assert_eq(assay_json_num(d, "last_status"), 200, "%s", body);
    const char *le = assay_json_str(d, "last_error");
    cr_assert(!strncmp(le, "HTTP 500: ?[2Jreceiver says no", 30), "%s", le);
    cr_assert(strlen(le) <= 300, "the excerpt is capped: %zu bytes", strlen(le));
    cJSON_Delete(l);
    /* The server's log: a line per try, no secret, no URL. */
    cr_assert_eq(th_run(out, sizeof out, "grep -c '\"webhook\":1,.*\"result\":\"retry\"' %s/serve.log", dir), 0, "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "grep -c '\"webhook\":1,.*\"result\":\"delivered\"' %s/serve.log", dir), 0, "%s",
                 out);
    /* globex's hook heard nothing: acme's run is not globex's. */
    cr_assert_eq(http(globex, "/api/v1/orgs/globex/webhooks/2/deliveries", " "), 200, "%s", body);
    cr_assert_str_eq(body, "[]");

    /* Removing: only an admin, only through the hook's own organisation. */
    snprintf(path, sizeof path, "/api/v1/orgs/acme/webhooks/%s", hook);
    cr_assert_eq(http(globex, path, "-X DELETE"), 404, "%s", body);
    cr_assert_eq(http(acme, path, "-X DELETE"), 403, "%s", body);
    cr_assert_eq(http(root, "/api/v1/orgs/globex/webhooks/1", "-X DELETE"), 404, "%s", body);
    cr_assert_eq(http(root, path, "-X DELETE"), 204, "%s", body);
    cr_assert_eq(http(acme, "/api/v1/orgs/acme/webhooks", " "), 200, "%s", body);
    cr_assert_str_eq(body, "[]");
    cr_assert_eq(th_run(out, sizeof out, A " --lab %s webhook remove 2 && " A " --lab %s webhook list --json", labdir,
                        labdir),
                 0, "%s", out);
    cr_assert_str_eq(out, "[]\n");
    stop();
    /* The whole log, the server ended: no secret, no hook URL. */
    cr_assert_eq(th_run(out, sizeof out, "grep -c -e whsec_ -e acme-hook %s/serve.log", dir), 1, "%s", out);
}

/* Job j ends with one step, "unit-1", whose stdout is `out_` (n bytes) and
 * stderr a short line. */
static void job_finish_with_logs(int64_t j, const char *out_, size_t n)
{
    assay_lab lab;
    char hex[65];
    const char *err = "warning: \x1b[31mred\x1b[0m on stderr\n";
    cr_assert_eq(assay_lab_open(&lab, labdir), 0);
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
    fresh("logs");
    account(acme, "acme", "vendor", "acme");
    account(globex, "globex", "vendor", "globex");
    account(eng, "alice", "engineer", NULL);
    start("");
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
        cr_assert_eq(th_run(local, sizeof local, "cd %s && " A " --lab %s run logs 1 %s > local.out", dir, labdir, args[i]),
                     0, "%s", local);
        cr_assert_eq(th_run(remote, sizeof remote, "cd %s && ASSAY_TOKEN=%s " A " --server %s run logs 1 %s > remote.out",
                            dir, acme, url, args[i]),
                     0, "%s", remote);
        cr_assert_eq(th_run(out, sizeof out, "cd %s && cmp local.out remote.out && wc -c < local.out", dir), 0,
                     "run logs 1 %s differs through the server: %s", args[i], out);
        cr_assert(strtol(out, NULL, 10) > least[i], "run logs 1 %s printed %s bytes", args[i], out);
    }
    cr_assert_eq(th_run(local, sizeof local, A " --lab %s run logs 1 --job 2", labdir), 0);
    cr_assert(strstr(local, "==> job 2 zhaoxin-kx6000-uos-20 step unit-1 run 1 stdout (6 bytes, sha256 ") &&
                  strstr(local, "short\n"),
              "%s", local);
    /* On a terminal: through the terminal writer, as on the lab. */
    cr_assert_eq(th_run(local, sizeof local, "script -qec '" A " --lab %s run logs 1 --stderr' /dev/null", labdir), 0,
                 "%s", local);
    cr_assert_eq(th_run(remote, sizeof remote,
                        "ASSAY_TOKEN=%s script -qec '" A " --server %s run logs 1 --stderr' /dev/null", acme, url),
                 0, "%s", remote);
    cr_assert_str_eq(remote, local);
    cr_assert(!strchr(remote, '\x1b') && strstr(remote, "warning: \xef\xbf\xbd[31mred"), "%s", remote);
    /* Another organisation's run is not there. */
    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=%s " A " --server %s run logs 1 2>&1", globex, url), 1, "%s", out);
    cr_assert(strstr(out, "assay: run logs: no run 1 (HTTP 404)"), "%s", out);
    stop();
    /* The 2.5 MiB log came in three ranges, each time (two of the calls
     * above fetch job 1's stdout); the server's log is whole once it
     * has ended. */
    cr_assert_eq(th_run(out, sizeof out, "grep -c '\"route\":\"job-log\",\"arg\":\"1\",\"status\":206' %s/serve.log",
                        dir),
                 0, "%s", out);
    cr_assert(strtol(out, NULL, 10) >= 3 * 2, "%s", out);
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
    fresh("hostile-server");
    char f[700], cmd[1600], v[128];
    snprintf(f, sizeof f, "%s/fake.py", dir);
    FILE *o = fopen(f, "w");
    fputs(py, o);
    fclose(o);
    snprintf(cmd, sizeof cmd, "exec python3 %s", f);
    FILE *p = popen(cmd, "r");
    unsigned port;
    int pid;
    cr_assert_eq(fscanf(p, "%u %d", &port, &pid), 2);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    snprintf(v, sizeof v, "ASSAY_TOKEN=assay_x " A " --server %s", url);
    /* A problem's detail, on stderr. */
    cr_assert_eq(th_run(out, sizeof out, "%s run show 7 2>&1", v), 1, "%s", out);
    cr_assert(strstr(out, "assay: run show: no run \xef\xbf\xbd]0;owned\xef\xbf\xbd\xef\xbf\xbd[2J here (HTTP 404)"),
              "%s", out);
    /* An id, on stdout and stderr. */
    cr_assert_eq(th_run(out, sizeof out, "%s package add " CORPUS "/ok-deb-rpm.tar.gz 2>&1", v), 0, "%s", out);
    cr_assert(strstr(out, "\xef\xbf\xbd]0;owned"), "%s", out);
    /* run logs: the header's profile, step and digest; the log itself on
     * a terminal. */
    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=assay_x script -qec '" A " --server %s run logs 2' /dev/null", url),
                 0, "%s", out);
    cr_assert(strstr(out, "step \xef\xbf\xbd]0;owned") && strstr(out, "log\xef\xbf\xbd]0;owned"), "%s", out);
    cr_assert_eq(th_run(out, sizeof out, "ASSAY_TOKEN=assay_x " A " --server %s run logs 2 | head -1", url), 0, "%s",
                 out);
    cr_assert(strstr(out, "==> job 5 \xef\xbf\xbd]0;owned"), "%s", out);
    /* Not one escape or BEL came through, whatever was asked. */
    cr_assert_eq(th_run(out, sizeof out,
                        "(%s run show 7; %s package add " CORPUS "/ok-deb-rpm.tar.gz; %s run logs 2 | head -1; "
                        "%s run wait 9; %s report 9) 2>&1 | od -An -c | grep -cE '033|\\\\a'",
                        v, v, v, v, v),
                 1, "%s", out);
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
    fresh("grace");
    account(acme, "acme", "vendor", "acme");
    start("");
    snprintf(head, sizeof head, "POST /api/v1/packages?name=hello.tar.gz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             acme, size);
    int fd = raw(head);
    cr_assert_eq(write(fd, file, half), (ssize_t)half);
    for (int i = 0; i < 300 && !staged_files(); i++)
        poll(NULL, 0, 20); /* until the server has staged it */
    cr_assert_eq(staged_files(), 1);
    cr_assert_eq(kill(server, SIGTERM), 0);
    wait_log("1 upload(s) in flight: waiting up to 30s");
    cr_assert_eq(th_run(out, sizeof out, "curl -sS -o /dev/null %s/healthz 2>&1", url), 7, "a new connection: %s", out);
    cr_assert_eq(write(fd, file + half, size - half), (ssize_t)(size - half));
    read_all(fd, resp, sizeof resp);
    close(fd);
    cr_assert(!strncmp(resp, "HTTP/1.1 201", 12), "%s", resp);
    stop();
    cr_assert_eq(staged_files(), 0);
    start("");
    cr_assert_eq(http(acme, "/api/v1/packages", " "), 200);
    cJSON *l = cJSON_Parse(body);
    cr_assert_eq(cJSON_GetArraySize(l), 1, "%s", body);
    cr_assert_eq(assay_json_num(cJSON_GetArrayItem(l, 0), "size"), (double)size, "the package is whole: %s", body);
    cJSON_Delete(l);
    stop();

    /* Not finished within the grace. */
    fresh("grace-over");
    account(acme, "acme", "vendor", "acme");
    start("--grace 1");
    snprintf(head, sizeof head, "POST /api/v1/packages?name=hello.tar.gz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                                "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             acme, size);
    fd = raw(head);
    cr_assert_eq(write(fd, file, half), (ssize_t)half);
    for (int i = 0; i < 300 && !staged_files(); i++)
        poll(NULL, 0, 20);
    cr_assert_eq(staged_files(), 1);
    cr_assert_eq(kill(server, SIGTERM), 0);
    wait_log("grace over: refusing 1 upload(s) still in flight");
    cr_assert_eq(write(fd, file + half, 100), 100);
    for (int i = 0; i < 300 && staged_files(); i++)
        poll(NULL, 0, 20); /* the staged part goes at the next chunk */
    cr_assert_eq(staged_files(), 0, "the refused upload's staged part is removed at once");
    cr_assert_eq(write(fd, file + half + 100, size - half - 100), (ssize_t)(size - half - 100));
    read_all(fd, resp, sizeof resp);
    close(fd);
    cr_assert(!strncmp(resp, "HTTP/1.1 503", 12), "%s", resp);
    cr_assert(strstr(resp, "not finished within the grace"), "%s", resp);
    stop();
    cr_assert_eq(staged_files(), 0, "nothing staged is left");
    start("");
    cr_assert_eq(http(acme, "/api/v1/packages", " "), 200);
    cr_assert_str_eq(body, "[]", "nothing is visible");
    stop();
    free(file);
}
