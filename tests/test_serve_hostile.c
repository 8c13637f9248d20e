/*
 * assay serve against hostile clients (issue 16, "Bad input and load"):
 * malformed requests each answered with its status in bounded time while
 * others are served, slow clients cut off, the hostile submission corpora
 * refused over HTTP exactly as by the CLI, and a server killed during
 * uploads leaving nothing half-stored. A live server (tests/servectl.c);
 * every wait is on an event (a line, a closed socket, a staged file), with
 * a bound that fails the test.
 */
#include "helpers.h"
#include "lab.h"
#include "markup.h"
#include "servectl.h"
#include "store.h"

#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CORPUS ASSAY_BINARY_DIR "/corpus"
#define HOSTILE ASSAY_BINARY_DIR "/hostile"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* 1 if buf holds a whole answer: its head and as many bytes of body as
 * its Content-Length says. */
static int whole_answer(const char *buf, size_t used)
{
    const char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "\r\nContent-Length: ");
    unsigned long n = 0;
    if (!end || !cl || cl > end || sscanf(cl + 18, "%lu", &n) != 1)
        return 0;
    return (size_t)(end + 4 - buf) + n <= used;
}

/* What the server sends on fd until a whole answer is in or it closes the
 * connection, for at most `bound` seconds. The bytes into buf; returns the
 * seconds it took, or -1 if neither came within `bound`. */
static double answer_of(int fd, char *buf, size_t len, double bound, int until_answer)
{
    double t0 = now_s();
    size_t used = 0;
    for (;;) {
        int left = (int)((t0 + bound - now_s()) * 1000);
        if (left <= 0) {
            buf[used] = 0;
            return -1;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, left);
        if (n == 0)
            continue;
        ssize_t got = read(fd, buf + used, len - 1 - used);
        if (got < 0 && errno == ECONNRESET)
            break;
        cr_assert_geq(got, 0, "read: %s", strerror(errno));
        used += (size_t)got;
        buf[used] = 0;
        if (got == 0 || used >= len - 1 || (until_answer && whole_answer(buf, used)))
            break;
    }
    buf[used] = 0;
    return now_s() - t0;
}

/* The status of the first answer in buf (0 if none). */
static int status_in(const char *buf)
{
    int st = 0;
    return sscanf(buf, "HTTP/1.%*d %d", &st) == 1 ? st : 0;
}

/* How many answers (status lines) buf holds. */
static int answers_in(const char *buf)
{
    int n = 0;
    for (const char *p = buf; (p = strstr(p, "HTTP/1.1 ")); p++)
        n++;
    return n;
}

Test(serve_hostile, malformed_requests_get_their_status_at_once_and_others_are_served,
     .timeout = 300)
{
    char eng[72], buf[1 << 16];
    sv_fresh("malformed");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "--timeout 15");
    /* Each request is sent whole and the write side shut: the answer must
     * come within 5 s (at once on an idle machine), long before the
     * connection's 15 s timeout could be what ended it. */
    static const struct {
        const char *what, *req;
        int status;
    } cases[] = {
        {"a chunk size that is not hex", "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
         400},
        {"a negative chunk size", "Transfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n", 400},
        {"a chunk size past 2^64",
         "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 413},
        {"a chunk longer than its size",
         "Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n0\r\n\r\n", 400},
        {"a trailer over the header cap", NULL, 431},
        {"Content-Length and chunked: a smuggled request",
         "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
         400},
        {"a transfer coding not known",
         "Transfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 501},
        {"a transfer coding not known, alone", "Transfer-Encoding: identity\r\n\r\nabc", 501},
        {"a Content-Length that is not a number", "Content-Length: abc\r\n\r\nabc", 400},
        {"a Content-Length past 2^64", "Content-Length: 18446744073709551616\r\n\r\nabc", 413},
        {"a JSON body over its cap", "Content-Length: 65537\r\n\r\n{}", 413},
        {"a header line with no colon", "nocolon\r\n\r\n", 400},
        {"a JSON bomb: nested 30000 deep", NULL, 400},
        {"non-UTF-8 JSON",
         "Content-Length: 33\r\n\r\n{\"package\":\"\xff\xfe\xfd\xfc\",\"profiles\":\"\xc0\"}", 422},
        {"a chunked JSON body with an extension",
         "Transfer-Encoding: chunked\r\n\r\n2;x=y\r\n{}\r\n0\r\n\r\n", 422},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        static char req[200000];
        int n =
            snprintf(req, sizeof req,
                     "POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n", eng);
        if (!cases[i].req && cases[i].status == 431) {
            n += snprintf(req + n, sizeof req - (size_t)n,
                          "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: ");
            memset(req + n, 'a', 100000);
            n += 100000;
            n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
        } else if (!cases[i].req) {
            char bomb[60001];
            memset(bomb, '[', 30000);
            memset(bomb + 30000, ']', 30000);
            bomb[60000] = 0;
            n += snprintf(req + n, sizeof req - (size_t)n, "Content-Length: 60000\r\n\r\n%s", bomb);
        } else {
            n += snprintf(req + n, sizeof req - (size_t)n, "%s", cases[i].req);
        }
        int fd = sv_raw_from(NULL, "");
        for (int off = 0; off < n;) {
            ssize_t w = write(fd, req + off, (size_t)(n - off));
            if (w < 0)
                break; /* the server may refuse and close before the rest */
            off += (int)w;
        }
        shutdown(fd, SHUT_WR);
        double took = answer_of(fd, buf, sizeof buf, 5.0, 1);
        close(fd);
        cr_assert_geq(took, 0, "%s: no answer within 5 s: %.300s", cases[i].what, buf);
        cr_assert_eq(status_in(buf), cases[i].status, "%s: %.300s", cases[i].what, buf);
        /* None is a request to serve: a 200 would be a request smuggled
         * in the body (libmicrohttpd repeats the head of some of its own
         * 400s: one answer still). */
        cr_assert(!strstr(buf, " 200 OK"), "%s: a second request came through: %s", cases[i].what,
                  buf);
    }

    /* Raw bytes that are not UTF-8 in the path, and in the file name an
     * upload gives: the path is not found; the name is stored as text,
     * and every answer stays valid JSON. */
    int fd = sv_raw_from(NULL, "GET /api/v1/runs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n");
    shutdown(fd, SHUT_WR);
    cr_assert_geq(answer_of(fd, buf, sizeof buf, 5.0, 1), 0, "%.300s", buf);
    close(fd);
    cr_assert_eq(status_in(buf), 404, "%.300s", buf);
    cr_assert_eq(sv_http(eng, "/api/v1/packages?name=%ff%fe%c0.tar.gz",
                         "--data-binary @" CORPUS "/ok.tar.gz"),
                 201, "%s", sv_body);
    cr_assert_eq(sv_http(eng, "/api/v1/packages", " "), 200, "%s", sv_body);
    cJSON *l = cJSON_Parse(sv_body);
    cr_assert(cJSON_IsArray(l) && cJSON_GetArraySize(l) == 1, "%s", sv_body);
    const char *name =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(l, 0), "file_name"));
    cr_assert(name && !strchr(name, '\xff') && strstr(name, ".tar.gz"), "%s", sv_body);
    cJSON_Delete(l);

    cr_assert_eq(sv_http(NULL, "/healthz", " "), 200, "still serving");
    sv_stop();
}

/*
 * Slowloris: clients that send their headers a byte at a time, each byte
 * well within the idle timeout, are cut off once a request's headers have
 * taken --timeout seconds; 128 of them (the per-address limit) at once
 * keep no one else out meanwhile, and the address is served again after.
 */
Test(serve_hostile, slow_clients_are_cut_off_and_others_are_served, .timeout = 300)
{
    char eng[72], buf[4096], head[1024];
    sv_fresh("slowloris");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "--timeout 2");

    /* One byte every 0.4 s: never idle for 2 s. */
    static const char req[] = "GET /api/v1/whoami HTTP/1.1\r\nHost: x\r\nX-Pad: "
                              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    int fd = sv_raw_from(NULL, "G");
    double t0 = now_s();
    size_t sent = 1;
    int closed = 0;
    while (!closed && sent < sizeof req - 1) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 400) == 1) {
            closed = read(fd, buf, sizeof buf) <= 0;
            continue;
        }
        if (write(fd, req + sent, 1) != 1)
            closed = 1;
        sent++;
    }
    double took = now_s() - t0;
    close(fd);
    cr_assert(closed, "a client dripping its headers kept its connection for %.1f s (%zu bytes)",
              took, sent);
    cr_assert_lt(took, 2 + 3.0,
                 "cut off after %.1f s, not within --timeout 2 (and 3 s of slack)", took);

    /* 128 slow connections from 127.0.0.1: 127.0.0.2 is served
     * meanwhile, and 127.0.0.1 too once they are cut off. */
    enum { NSLOW = 128 };
    int slow[NSLOW];
    for (int i = 0; i < NSLOW; i++)
        slow[i] = sv_raw_from("127.0.0.1", "GET /api/v1/whoami HTTP/1.1\r\nHo");
    t0 = now_s();
    cr_assert_eq(sv_http(eng, "/api/v1/whoami", "--interface 127.0.0.2"), 200, "%s %s", sv_out,
                 sv_body);
    cr_assert_lt(now_s() - t0, 3.0, "another client waited for the slow ones");
    for (int i = 0; i < NSLOW; i++) {
        cr_assert_geq(answer_of(slow[i], buf, sizeof buf, t0 + 2 + 4.0 - now_s(), 0), 0,
                      "slow connection %d still open %.1f s after they started", i, now_s() - t0);
        close(slow[i]);
    }
    cr_assert_eq(sv_http(eng, "/api/v1/whoami", " "), 200, "%s %s", sv_out, sv_body);

    /* A kept-alive connection that goes quiet after its first answer is
     * closed too (the deadline starts again after each request). */
    fd = sv_raw_from(NULL, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n");
    cr_assert_geq(answer_of(fd, buf, sizeof buf, 2 + 3.0, 0), 0,
                  "a quiet kept-alive connection stayed open: %s", buf);
    close(fd);
    cr_assert_eq(status_in(buf), 200, "%s", buf);
    cr_assert_eq(answers_in(buf), 1, "%s", buf);

    /* A JSON body that ends early (the client shuts its side): the
     * connection goes within --timeout (libmicrohttpd 0.9.75 does not
     * always notice the end of a half-closed stream before its timeout),
     * and nothing is run. */
    snprintf(head, sizeof head,
             "POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Length: 100\r\n\r\n{\"package\":",
             eng);
    fd = sv_raw_from(NULL, head);
    shutdown(fd, SHUT_WR);
    cr_assert_geq(answer_of(fd, buf, sizeof buf, 2 + 3.0, 0), 0,
                  "a body cut short: no close within --timeout 2 and 3 s: %.300s", buf);
    close(fd);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", " "), 200);
    cr_assert_str_eq(sv_body, "[]");
    sv_stop();
}

/* Every file of a corpus directory, sorted, into names (newline-separated). */
static void corpus_files(char *names, size_t len, const char *dir)
{
    cr_assert_eq(
        th_run(names, len, "cd %s && find . -maxdepth 1 -type f -printf '%%f\\n' | sort", dir), 0,
        "%s", names);
}

/*
 * The hostile submission corpora of tests/data (make-submissions.sh and
 * issue 19's make-hostile.sh), every file uploaded over HTTP and added with
 * the CLI to a second lab with the same settings: the same verdict and the
 * same message, and nothing of a refused one stored, staged or written
 * outside the store.
 */
Test(serve_hostile, the_hostile_corpora_get_the_same_refusals_over_http_as_with_the_cli,
     .timeout = 900)
{
    char acme[72], cli_lab[700];
    static char names[1 << 14], cli[8192];
    sv_fresh("corpus");
    sv_account(acme, "acme", "vendor", "acme");
    snprintf(cli_lab, sizeof cli_lab, "%s/cli-lab", sv_dir);
    cr_assert_eq(assay_lab_init(cli_lab, ASSAY_KEY_ED25519, NULL), 0);
    /* The caps the corpora's messages are written for (tests/data/README.md). */
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "for l in %s %s; do " SV_ASSAY
                        " --lab $l config set ingest.max_entries 15 && " SV_ASSAY
                        " --lab $l config set ingest.max_ratio 100 || exit 1; done",
                        sv_lab, cli_lab),
                 0, "%s", sv_out);
    sv_start("", "");
    int refused = 0, accepted = 0;
    const char *dirs[] = {CORPUS, HOSTILE};
    for (size_t d = 0; d < 2; d++) {
        corpus_files(names, sizeof names, dirs[d]);
        char *save = NULL;
        for (char *f = strtok_r(names, "\n", &save); f; f = strtok_r(NULL, "\n", &save)) {
            char detail[4096] = "", want[8192], v[80];
            /* The API and the CLI see the same file name. */
            int st = sv_http(acme, "/api/v1/packages?name=x", "--data-binary @%s/%s", dirs[d], f);
            int crc =
                th_run(cli, sizeof cli,
                       "cd %s && cp %s/%s x && " SV_ASSAY " --lab %s package add x 2>&1; rc=$?; "
                       "rm -f x; exit $rc",
                       sv_dir, dirs[d], f, cli_lab);
            if (crc == 0) {
                cr_assert(st == 201 || st == 200, "%s/%s: the CLI took it, the API answered %d %s",
                          dirs[d], f, st, sv_body);
                cr_assert_eq(strlen(sv_member(v, sizeof v, "id")), 64, "%s: %s", f, sv_body);
                accepted++;
                continue;
            }
            cr_assert(st == 422 || st == 413,
                      "%s/%s: the CLI refused it (%s), the API answered %d %s", dirs[d], f, cli, st,
                      sv_body);
            sv_member(detail, sizeof detail, "detail");
            /* The CLI makes the text safe for a terminal; the API gives it
             * as it is, in JSON. */
            char term[4096];
            snprintf(want, sizeof want, "assay: package add x: %s\n",
                     assay_markup_term(term, sizeof term, detail, 0));
            cr_assert_str_eq(cli, want, "%s/%s: the CLI and the API disagree", dirs[d], f);
            refused++;
        }
    }
    cr_assert_geq(refused, 55, "only %d refusals: are the corpora built?", refused);
    cr_assert_gt(accepted, 4);
    /* Nothing of a refused upload stored, staged, or written outside. */
    cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
    cJSON *l = cJSON_Parse(sv_body);
    cr_assert_eq(cJSON_GetArraySize(l), accepted, "%s", sv_body);
    cJSON_Delete(l);
    cr_assert_eq(sv_staged(), 0);
    cr_assert_eq(sv_blob_staged(), 0);
    cr_assert_eq(access("/tmp/assay-escape", F_OK), -1, "something was written outside the store");
    cr_assert_eq(sv_http(NULL, "/healthz", " "), 200, "still serving");
    sv_stop();
}

/*
 * Uploads at once, each its own 2 MiB submission (one artifact of random
 * bytes, its own version): each is answered 201 with its file's SHA-256,
 * and its blob in the store is that file. (The copy into the blob store
 * once shared one static buffer between the server's threads: uploads at
 * once mixed their bytes, and were refused or stored wrong.)
 */
Test(serve_hostile, uploads_at_once_are_each_stored_whole, .timeout = 300)
{
    enum { N = 8 };
    char acme[72];
    sv_fresh("at-once");
    sv_account(acme, "acme", "vendor", "acme");
    /* Not a test of the budgets: a loaded machine under a sanitizer. */
    cr_assert_eq(th_run(sv_out, sizeof sv_out, SV_ASSAY " --lab %s config set ingest.wall_seconds 1200", sv_lab), 0,
                 "%s", sv_out);
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && mkdir -p p/d s/pkgs && head -c 2097152 /dev/urandom > p/d/data && "
                        "tar -C p -czf s/pkgs/a-1.0.tar.gz d && for i in $(seq %d); do "
                        "printf '{\"manifest\": 1, \"product\": \"a\", \"version\": \"1.%%s\", "
                        "\"vendor\": \"v\", \"artifacts\": [{\"file\": \"pkgs/a-1.0.tar.gz\", "
                        "\"arch\": \"noarch\"}], \"install\": {\"command\": \"true\", \"timeout\": 60}, "
                        "\"tests\": [{\"id\": \"t\", \"command\": \"true\", \"timeout\": 60}], "
                        "\"uninstall\": {\"command\": \"true\", \"timeout\": 60}}' $i > s/manifest.json && "
                        "tar -C s -cf up-$i.tar manifest.json pkgs || exit 1; done",
                        sv_dir, N),
                 0, "%s", sv_out);
    sv_start("", "");
    cr_assert_eq(th_run(sv_out, sizeof sv_out,
                        "cd %s && for i in $(seq %d); do curl -sS -o up-$i.json -w '%%{http_code}\n' "
                        "-H 'Authorization: Bearer %s' --data-binary @up-$i.tar '%s/api/v1/packages?name=up-$i.tar' "
                        "> up-$i.st & done; wait; for i in $(seq %d); do read -r st < up-$i.st; "
                        "want=$(sha256sum < up-$i.tar | cut -d' ' -f1); "
                        "[ \"$st\" = 201 ] && grep -q \"\\\"id\\\":\\\"$want\\\"\" up-$i.json && "
                        "[ \"$(sha256sum < %s/blobs/$(echo $want | cut -c1-2)/$(echo $want | cut -c3-) | cut -d' ' -f1)\" = \"$want\" ] "
                        "|| { echo \"upload $i: $st $(cat up-$i.json), want $want\"; exit 1; }; done",
                        sv_dir, N, acme, sv_url, N, sv_lab),
                 0, "%s", sv_out);
    cr_assert_eq(sv_blob_staged(), 0);
    sv_stop();
}

/* A partial upload on a raw socket: the headers and the first bytes of a
 * body of `size` bytes. */
static int partial_upload(const char *tok, unsigned long size)
{
    char head[512];
    snprintf(
        head, sizeof head,
        "POST /api/v1/packages?name=part.tar.gz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        "Content-Length: %lu\r\n\r\n0123456789",
        tok, size);
    return sv_raw_from(NULL, head);
}

/*
 * SIGKILL of the server during uploads, at each point of an upload: while
 * bodies stream in (four at once), while one is being ingested (its child
 * at work), and inside package add just after an artifact is published
 * and just before the transaction (ASSAY_TEST_KILL). On restart: no
 * package visible, nothing in the server's staging nor in the blob
 * store's; then the same file goes in whole.
 */
Test(serve_hostile, a_server_killed_during_uploads_leaves_nothing_half_stored, .timeout = 300)
{
    char acme[72], v[80];
    sv_fresh("killed");
    sv_account(acme, "acme", "vendor", "acme");
    static const char *const points[] = {"streaming", "ingest", "publish", "commit"};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        char env[64] = "";
        if (!strcmp(points[i], "publish") || !strcmp(points[i], "commit"))
            snprintf(env, sizeof env, "ASSAY_TEST_KILL=%s", points[i]);
        sv_start(env, "");
        int fds[4];
        for (int k = 0; k < 4; k++)
            fds[k] = partial_upload(acme, 50000000);
        for (int k = 0; k < 600 && sv_staged() < 4; k++)
            poll(NULL, 0, 20); /* until the server has staged all four */
        cr_assert_eq(sv_staged(), 4, "%s", points[i]);
        FILE *whole = NULL;
        if (strcmp(points[i], "streaming")) {
            /* A whole upload that reaches ingest (a bomb, so the child
             * works for a while) or the kill point. */
            char cmd[1024];
            snprintf(cmd, sizeof cmd,
                     "curl -sS -H 'Authorization: Bearer %s' --data-binary @%s "
                     "'%s/api/v1/packages' 2>&1",
                     acme,
                     !strcmp(points[i], "ingest") ? HOSTILE "/elf-200m.tar.gz"
                                                  : CORPUS "/ok-deb-rpm.tar.gz",
                     sv_url);
            whole = popen(cmd, "r");
            cr_assert_not_null(whole);
        }
        if (!strcmp(points[i], "streaming") || !strcmp(points[i], "ingest")) {
            if (whole)
                for (int k = 0; k < 3000 && sv_blob_staged() == 0; k++)
                    poll(NULL, 0, 20); /* until ingest has staged the submission */
            sv_kill();
        } else {
            int st;
            cr_assert_eq(waitpid(sv_pid, &st, 0), sv_pid);
            cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
                      "%s: not killed there (status %#x)", points[i], st);
            sv_pid = -1;
        }
        if (whole)
            pclose(whole);
        for (int k = 0; k < 4; k++)
            close(fds[k]);
        cr_assert(sv_staged() > 0 || sv_blob_staged() > 0,
                  "%s: the kill left nothing to clean (was it a kill?)", points[i]);

        sv_start("", "");
        cr_assert_eq(sv_staged(), 0, "%s: a new server leaves the cut uploads staged", points[i]);
        cr_assert_eq(sv_blob_staged(), 0, "%s: a new server leaves the killed ingest's staging",
                     points[i]);
        cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
        cr_assert_str_eq(sv_body, "[]", "%s: a package after the kill", points[i]);
        sv_stop();
    }
    /* The same file goes in whole afterwards, with its preflight. */
    sv_start("", "");
    cr_assert_eq(sv_http(acme, "/api/v1/packages?name=hello.tar.gz",
                         "--data-binary @" CORPUS "/ok-deb-rpm.tar.gz"),
                 201, "%s", sv_body);
    cr_assert(strstr(sv_body, "\"preflight\":{"), "%s", sv_body);
    sv_member(v, sizeof v, "id");
    cr_assert_eq(sv_http(acme, "/api/v1/packages", " "), 200);
    cr_assert(strstr(sv_body, v), "%s", sv_body);
    sv_stop();
}

/* An event stream of `path` opened as tok on a raw socket from `from` (a
 * loopback address): its socket once the server's first comment came (the
 * stream is open and counted), or -1 with the answer's status in *status
 * and its bytes in buf. */
static int stream_open(const char *from, const char *tok, const char *path, int *status, char *buf, size_t len)
{
    char head[512];
    snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", path, tok);
    int fd = sv_raw_from(from, head);
    size_t used = 0;
    *status = 0;
    buf[0] = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        cr_assert_eq(poll(&p, 1, 60000), 1, "no answer to %s in 60 s: %s", path, buf);
        ssize_t n = read(fd, buf + used, len - 1 - used);
        cr_assert_gt(n, 0, "the server closed %s: %.*s", path, (int)used, buf);
        used += (size_t)n;
        buf[used] = 0;
        const char *eoh = strstr(buf, "\r\n\r\n");
        if (!eoh)
            continue;
        *status = status_in(buf);
        if (*status != 200 && whole_answer(buf, used)) {
            close(fd);
            return -1;
        }
        if (*status == 200 && (strstr(eoh, ": run ") || strstr(eoh, ": job ")))
            return fd;
        cr_assert_lt(used, len - 1, "%s", buf);
    }
}

/* A header's value in a raw answer, into v ("" if none). */
static const char *raw_header(char *v, size_t len, const char *buf, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *h = strcasestr(buf, key);
    v[0] = 0;
    if (h)
        snprintf(v, len, "%.*s", (int)strcspn(h + strlen(key), "\r\n"), h + strlen(key));
    return v;
}

/* The problem of a raw answer: its limit and max members. */
static void limit_of(const char *buf, char *limit, size_t len, double *max)
{
    const char *body = strstr(buf, "\r\n\r\n");
    cr_assert_not_null(body, "%s", buf);
    cJSON *o = cJSON_Parse(body + 4);
    cr_assert_not_null(o, "%s", buf);
    const cJSON *l = cJSON_GetObjectItem(o, "limit"), *m = cJSON_GetObjectItem(o, "max");
    cr_assert(cJSON_IsString(l) && cJSON_IsNumber(m), "%s", buf);
    snprintf(limit, len, "%s", l->valuestring);
    *max = m->valuedouble;
    cJSON_Delete(o);
}

/* tok uploads the corpus' ok.tar.gz and engineer eng queues run 1 of it,
 * on one target: a run that stays queued, whose streams stay open. */
static void a_queued_run(const char *tok, const char *eng)
{
    char id[80], req[256];
    cr_assert_eq(sv_http(tok, "/api/v1/packages?name=ok.tar.gz", "--data-binary @" CORPUS "/ok.tar.gz"), 201, "%s",
                 sv_body);
    sv_member(id, sizeof id, "id");
    snprintf(req, sizeof req, "{\"package\":\"%s\",\"profiles\":\"kunpeng-920-kylin-v10\"}", id);
    cr_assert_eq(sv_http(eng, "/api/v1/runs", "-d '%s'", req), 201, "%s", sv_body);
}

/* One account cannot hold every connection with event streams: past its
 * 8 streams it gets 429 with Retry-After and a problem naming the limit,
 * while another account (of the same organisation, too) still gets a
 * stream and plain requests are answered; a stream its client closes
 * frees its slot at the watcher's next look (waited for by asking again,
 * 50 ms apart, each try refused until then). */
Test(serve_hostile, one_account_cannot_hold_every_connection_with_event_streams, .timeout = 300)
{
    char acme[72], acme2[72], eng[72], buf[8192], v[64], limit[64];
    double max;
    int st, fd[8];
    sv_fresh("streams");
    sv_account(acme, "acme", "vendor", "acme");
    sv_account(acme2, "acme2", "vendor", "acme");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "");
    a_queued_run(acme, eng);

    for (int i = 0; i < 8; i++) {
        fd[i] = stream_open(NULL, acme, i % 2 ? "/api/v1/runs/1/events" : "/api/v1/jobs/1/events", &st, buf, sizeof buf);
        cr_assert_geq(fd[i], 0, "stream %d: %s", i + 1, buf);
    }
    /* The ninth, of either kind. */
    const char *const kinds[] = {"/api/v1/runs/1/events", "/api/v1/jobs/1/events"};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(stream_open(NULL, acme, kinds[k], &st, buf, sizeof buf), -1, "a ninth stream of one account");
        cr_assert_eq(st, 429, "%s", buf);
        cr_assert_str_eq(raw_header(v, sizeof v, buf, "Retry-After"), "10", "%s", buf);
        cr_assert_str_eq(raw_header(v, sizeof v, buf, "Content-Type"), "application/problem+json", "%s", buf);
        limit_of(buf, limit, sizeof limit, &max);
        cr_assert_str_eq(limit, "streams-per-account");
        cr_assert_eq(max, 8);
    }
    int other = stream_open(NULL, eng, "/api/v1/runs/1/events", &st, buf, sizeof buf);
    cr_assert_geq(other, 0, "another account: %s", buf);
    int same_org = stream_open(NULL, acme2, "/api/v1/runs/1/events", &st, buf, sizeof buf);
    cr_assert_geq(same_org, 0, "another account of the same organisation: %s", buf);
    cr_assert_eq(sv_http(acme, "/api/v1/runs/1", " "), 200, "a plain request of the same account: %s", sv_body);

    /* The client of one stream goes: the account may open one again. */
    close(fd[3]);
    int again = -1, refused = 0;
    while (again < 0) {
        again = stream_open(NULL, acme, "/api/v1/runs/1/events", &st, buf, sizeof buf);
        cr_assert(again >= 0 || st == 429, "%s", buf);
        refused += again < 0;
        /* The watcher looks every 100 ms; a keepalive (every 15 s) would
         * find the socket dead only later. */
        cr_assert_lt(refused, 100, "the slot of a closed stream did not come free within 100 tries");
        if (again < 0)
            poll(NULL, 0, 50);
    }
    fd[3] = again;
    cr_assert_eq(stream_open(NULL, acme, "/api/v1/runs/1/events", &st, buf, sizeof buf), -1);
    cr_assert_eq(st, 429, "one freed slot is one stream: %s", buf);
    for (int i = 0; i < 8; i++)
        close(fd[i]);
    close(other);
    close(same_org);
    sv_stop();
    cr_assert_eq(th_run(sv_out, sizeof sv_out, "grep -c '\"route\":\"run-events\".*\"status\":429' %s/serve.log", sv_dir),
                 0, "the refusals are in the access log: %s", sv_out);
}

/* All the accounts' streams together stay below the connection limit
 * (256): past 224 a stream is refused with 503, Retry-After and the
 * limit named, and a plain request is still answered. */
Test(serve_hostile, event_streams_leave_connections_for_plain_requests, .timeout = 300)
{
    enum { SSE_MAX = 224 };
    char eng[72], buf[8192], v[64], limit[64];
    double max;
    int st, fd[SSE_MAX];
    sv_fresh("allstreams");
    sv_account(eng, "alice", "engineer", NULL);
    sv_start("", "--streams-per-account 224");
    a_queued_run(eng, eng);
    /* From two addresses: 128 connections per address at most. */
    for (int i = 0; i < SSE_MAX; i++) {
        fd[i] = stream_open(i % 2 ? "127.0.0.2" : "127.0.0.1", eng, "/api/v1/runs/1/events", &st, buf, sizeof buf);
        cr_assert_geq(fd[i], 0, "stream %d: %s", i + 1, buf);
    }
    cr_assert_eq(stream_open("127.0.0.3", eng, "/api/v1/runs/1/events", &st, buf, sizeof buf), -1);
    cr_assert_eq(st, 503, "%s", buf);
    cr_assert_str_eq(raw_header(v, sizeof v, buf, "Retry-After"), "10", "%s", buf);
    limit_of(buf, limit, sizeof limit, &max);
    cr_assert_str_eq(limit, "streams");
    cr_assert_eq(max, SSE_MAX);
    cr_assert_eq(sv_http(eng, "/api/v1/runs/1", "--interface 127.0.0.3"), 200, "%s %s", sv_out, sv_body);
    for (int i = 0; i < SSE_MAX; i++)
        close(fd[i]);
    sv_stop();
}
