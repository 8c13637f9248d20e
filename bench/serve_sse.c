/*
 * bench/serve.sh's SSE probe: how long an event takes from the store to a
 * watcher of GET /api/v1/jobs/J/events.
 *
 *   bench_serve_sse LAB PORT TOKEN JOB N
 *
 * Job JOB (queued, of a run in lab LAB) is put on a host and started as
 * the dispatcher would; a stream of its events is opened on 127.0.0.1:PORT
 * with TOKEN; then N times: the next event is stored (its transaction
 * committed), and the time until the stream carries its id is taken. Prints
 * each latency in milliseconds, one a line.
 */
#include "assay/error.h"
#include "lab.h"
#include "store.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int die(const char *what)
{
    fprintf(stderr, "bench_serve_sse: %s: %s\n", what, assay_error_last()->message);
    return 1;
}

/* Read the stream until `want` is in what it sent since the last call, for
 * at most 10 s. 0, or -1. */
static int until(int fd, const char *want)
{
    static char buf[1 << 16];
    static size_t used;
    double end = now_ms() + 10000;
    for (;;) {
        buf[used] = 0;
        char *hit = strstr(buf, want);
        if (hit) {
            size_t keep = used - (size_t)(hit + strlen(want) - buf);
            memmove(buf, hit + strlen(want), keep);
            used = keep;
            return 0;
        }
        if (used > sizeof buf / 2) { /* keep the tail, where a split id may be */
            memmove(buf, buf + used - 256, 256);
            used = 256;
        }
        struct pollfd p = {fd, POLLIN, 0};
        int left = (int)(end - now_ms());
        if (left <= 0 || poll(&p, 1, left) != 1)
            return -1;
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n <= 0)
            return -1;
        used += (size_t)n;
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_serve_sse LAB PORT TOKEN JOB N\n");
        return 2;
    }
    int64_t job = strtoll(argv[4], NULL, 10);
    int n = atoi(argv[5]);
    assay_lab lab;
    char ev[512], req[512], want[64];
    if (assay_lab_open(&lab, argv[1]) < 0)
        return die("open the lab");
    if (assay_store_job_assign(lab.store, job, "bench-1") < 0 ||
        assay_store_job_set_running(lab.store, job, "ab12") < 0)
        return die("start the job");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror("bench_serve_sse: connect");
        return 1;
    }
    int len = snprintf(req, sizeof req,
                       "GET /api/v1/jobs/%" PRId64 "/events HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer %s\r\n\r\n",
                       job, argv[3]);
    if (write(fd, req, (size_t)len) != len || until(fd, "\n\n") < 0) {
        fprintf(stderr, "bench_serve_sse: the stream did not open\n");
        return 1;
    }
    for (int64_t seq = 0; seq < n; seq++) {
        snprintf(ev, sizeof ev,
                 "{\"v\":1,\"seq\":%" PRId64 ",\"ts\":\"2026-11-30T10:00:00Z\",\"type\":\"%s\"%s}",
                 seq, seq ? "step-start" : "job-start",
                 seq ? ",\"step\":\"tests\",\"id\":\"t\",\"run\":1" : "");
        snprintf(want, sizeof want, "id: 1.%" PRId64 "\n", seq);
        double t0 = now_ms();
        if (assay_store_job_event(lab.store, job, 1, seq, seq ? "step-start" : "job-start", ev) < 0)
            return die("store an event");
        if (until(fd, want) < 0) {
            fprintf(stderr, "bench_serve_sse: event %" PRId64 " never came\n", seq);
            return 1;
        }
        printf("%.1f\n", now_ms() - t0);
        fflush(stdout);
        /* Apart, as a dispatcher's events of one job are: each on its own. */
        poll(NULL, 0, 50 + (int)(seq * 37 % 150));
    }
    close(fd);
    assay_lab_close(&lab);
    return 0;
}
